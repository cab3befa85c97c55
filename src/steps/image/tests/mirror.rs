//! The mirror: an index copied whole keeps its digest; with `platforms`, a new index of the
//! source's own entries; a single image with `platforms` is copied with a warning.

use serde_json::Value;

use super::*;
use crate::oci::Manifest;
use crate::registry::fake::{ImageFormat, SeededImage};

fn mirror_plan(source: &FakeRegistry, path: &str, platforms: &[&str]) -> ImagePlan {
    let reference = testing::reference(source, path);
    testing::image_plan(ImageSource::Remote(reference), platforms)
}

fn digests(manifests: &[Manifest]) -> Vec<String> {
    manifests.iter().map(|m| m.digest.to_string()).collect()
}

fn blobs_of(images: &[&SeededImage]) -> Vec<String> {
    images
        .iter()
        .flat_map(|i| i.blobs())
        .map(|b| b.digest.to_string())
        .collect()
}

#[tokio::test]
async fn a_whole_index_keeps_the_source_digest_and_its_attestation() {
    let source = FakeRegistry::anonymous().await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Oci);
    let plan = mirror_plan(&source, "library/base:multi", &[]);
    let (made, log) = make_logged(&source, &plan).await;
    let made = made.unwrap();
    assert!(made.base.is_none() && made.daemon.is_none());
    assert_eq!(made.artifact.id(), seeded.digest);
    let image = prepared(&made);
    assert_eq!(image.manifest.bytes, seeded.index);
    assert_eq!(
        digests(&image.children),
        [
            seeded.amd64.digest.clone(),
            seeded.arm64.digest.clone(),
            seeded.attestation.digest.clone()
        ]
    );
    let copied: Vec<String> = image
        .source_blobs
        .iter()
        .map(|b| b.digest.to_string())
        .collect();
    let all = blobs_of(&[&seeded.amd64, &seeded.arm64, &seeded.attestation]);
    assert_eq!(copied, all);
    assert!(image.uploads.is_empty(), "a mirror makes no blob");
    let text = log.text();
    let summary = format!(
        "Source {} is {} (4 manifests, 8 blobs).",
        plan_reference(&plan),
        seeded.digest
    );
    assert!(text.contains(&summary), "{text}");
    assert!(
        !text.contains("::warning") && !text.contains("::notice"),
        "{text}"
    );
    let destination = written(image).await;
    let stored = destination.manifest(DESTINATION_REPOSITORY, "v1").unwrap();
    assert_eq!(stored, (seeded.media_type.clone(), seeded.index.clone()));
    let attestation = destination.manifest(DESTINATION_REPOSITORY, &seeded.attestation.digest);
    assert_eq!(attestation.unwrap().1, seeded.attestation.manifest);
}

#[tokio::test]
async fn platforms_make_a_new_index_of_the_source_entries_without_attestations() {
    let source = FakeRegistry::anonymous().await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Docker);
    let plan = mirror_plan(&source, "library/base:multi", &["linux/arm64"]);
    let (made, log) = make_logged(&source, &plan).await;
    let made = made.unwrap();
    let image = prepared(&made);
    assert_ne!(image.manifest.digest, seeded.digest);
    assert_eq!(image.manifest.media_type.as_str(), seeded.media_type);
    let source_index: Value = serde_json::from_slice(&seeded.index).unwrap();
    let filtered = image.manifest.json().unwrap();
    assert_eq!(filtered["mediaType"], source_index["mediaType"]);
    // The arm64 entry exactly as the source wrote it, and nothing else.
    assert_eq!(
        filtered["manifests"],
        Value::Array(vec![source_index["manifests"][1].clone()])
    );
    assert_eq!(digests(&image.children), [seeded.arm64.digest.as_str()]);
    let copied: Vec<String> = image
        .source_blobs
        .iter()
        .map(|b| b.digest.to_string())
        .collect();
    assert_eq!(copied, blobs_of(&[&seeded.arm64]));
    let notices = log.lines_starting("::notice title=Platforms filtered::");
    let expected = format!(
        "::notice title=Platforms filtered::Kept 1 of the 3 entries of {}: the index pushed is \
         new, its digest {} is not the source's {}.",
        plan_reference(&plan),
        image.manifest.digest,
        seeded.digest
    );
    assert_eq!(notices, [expected]);
    let destination = written(image).await;
    let stored = destination.manifest(DESTINATION_REPOSITORY, "v1").unwrap();
    assert_eq!(stored.1, image.manifest.bytes);
    assert!(destination
        .manifest(DESTINATION_REPOSITORY, &seeded.amd64.digest)
        .is_none());
}

#[tokio::test]
async fn a_single_image_with_platforms_is_copied_with_a_warning() {
    let source = FakeRegistry::anonymous().await;
    let seeded = source.seed_image("library/base", "1", ImageFormat::Oci, "amd64");
    let plan = mirror_plan(&source, "library/base:1", &["linux/arm64"]);
    let (made, log) = make_logged(&source, &plan).await;
    let made = made.unwrap();
    let image = prepared(&made);
    assert_eq!(image.manifest.digest, seeded.digest);
    assert!(image.children.is_empty());
    assert_eq!(
        (image.layers, image.size),
        (2, seeded.layers.iter().map(|l| l.1).sum())
    );
    let warnings = log.lines_starting("::warning");
    let expected = format!(
        "::warning title=One platform only::{} is a single image; platforms does not apply to it.",
        plan_reference(&plan)
    );
    assert_eq!(warnings, [expected]);
    // Without platforms there is nothing to warn about.
    let plan = mirror_plan(&source, "library/base:1", &[]);
    let (made, log) = make_logged(&source, &plan).await;
    assert_eq!(made.unwrap().artifact.id(), seeded.digest);
    assert!(log.lines_starting("::warning").is_empty(), "{}", log.text());
}

fn plan_reference(plan: &ImagePlan) -> String {
    match &plan.source {
        ImageSource::Remote(reference) => reference.to_string(),
        _ => unreachable!("a mirror plan"),
    }
}
