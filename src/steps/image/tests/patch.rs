//! The patch by the registry engine: every platform of an index patched on the base's layers as
//! they are, the changes in each new config, the base's format kept, the same inputs giving the
//! same digest, and platforms a single-image base does not have refused.

use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::inputs::PatchPlan;
use crate::oci::layer::{EntryKind, LayerEntry};
use crate::oci::{Descriptor, Manifest};
use crate::registry::fake::{ImageFormat, SeededImage};

const FILE_CONTENT: &str = "mode=prod\n";

/// A folder with the one file the patch adds, kept for the test's length.
fn files() -> (tempfile::TempDir, Vec<LayerEntry>) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("config.txt");
    std::fs::write(&source, FILE_CONTENT).unwrap();
    let entry = LayerEntry {
        path: PathBuf::from("app/config.txt"),
        kind: EntryKind::File {
            source,
            size: FILE_CONTENT.len() as u64,
        },
        mode: 0o644,
        uid: 0,
        gid: 0,
        line: 1,
    };
    (dir, vec![entry])
}

fn patch_plan(
    source: &FakeRegistry,
    path: &str,
    files: &[LayerEntry],
    mode: &str,
    platforms: &[&str],
) -> ImagePlan {
    let patch = PatchPlan {
        base: testing::reference(source, path),
        files: files.to_vec(),
        env: vec![("MODE".into(), mode.into())],
        workdir: Some("/srv".into()),
        user: None,
        entrypoint: None,
        cmd: None,
    };
    let mut plan = testing::image_plan(ImageSource::Patch(patch), platforms);
    plan.labels = vec![("team".into(), "platform".into())];
    plan
}

fn base_reference(plan: &ImagePlan) -> String {
    match &plan.source {
        ImageSource::Patch(patch) => patch.base.to_string(),
        _ => unreachable!("a patch plan"),
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The files of a gzipped tar layer: (path, content).
fn layer_files(gzipped: &[u8]) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    let entries = archive.entries().unwrap();
    entries
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            (path, content)
        })
        .collect()
}

#[tokio::test]
async fn every_platform_of_an_index_is_patched_on_the_base_layers_as_they_are() {
    let source = FakeRegistry::anonymous().await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Oci);
    let (_dir, files) = files();
    let plan = patch_plan(&source, "library/base:multi", &files, "prod", &[]);
    let (made, log) = make_logged(&source, &plan).await;
    let made = made.unwrap();
    let base = made.base.as_ref().expect("the base, pinned");
    let reference = base_reference(&plan);
    let pinned = format!("{}/library/base@{}", source.host(), seeded.digest);
    assert_eq!(
        (&base.name, &base.digest),
        (&pinned, &Digest::parse(&seeded.digest).unwrap())
    );
    let image = prepared(&made);
    let index = image.manifest.json().unwrap();
    let source_index = json(&seeded.index);
    assert_eq!(image.manifest.media_type.as_str(), seeded.media_type);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "every platform, no attestation: {index}");
    let bases = [&seeded.amd64, &seeded.arm64];
    let new_layer = &image.uploads[0].blob;
    for (i, (child, base)) in image.children.iter().zip(bases).enumerate() {
        assert_eq!(entries[i]["digest"], child.digest.as_str());
        assert_eq!(
            entries[i]["platform"],
            source_index["manifests"][i]["platform"]
        );
        let (patched, original) = (child.json().unwrap(), json(&base.manifest));
        let layers = patched["layers"].as_array().unwrap();
        assert_eq!(layers[..2], original["layers"].as_array().unwrap()[..]);
        assert_eq!(layers[2]["digest"], new_layer.digest.as_str());
        assert_eq!(layers.len(), 3);
    }
    let copied: Vec<String> = image
        .source_blobs
        .iter()
        .map(|b| b.digest.to_string())
        .collect();
    let base_layers: Vec<String> = bases
        .iter()
        .flat_map(|b| b.layers.iter().map(|l| l.0.clone()))
        .collect();
    assert_eq!(copied, base_layers, "base layers copied, base configs not");
    let patched_line = format!("Patched {pinned} (linux/amd64, linux/arm64/v8) in ");
    assert!(log.text().contains(&patched_line), "{}", log.text());

    let destination = written(image).await;
    let stored = destination.manifest(DESTINATION_REPOSITORY, "v1").unwrap();
    assert_eq!(stored.1, image.manifest.bytes);
    for (child, base) in image.children.iter().zip(bases) {
        check_config(&destination, child, base, &reference);
    }
    let layer = destination.blob(DESTINATION_REPOSITORY, &new_layer.digest);
    let files = layer_files(&layer.unwrap());
    assert_eq!(
        files,
        [("app/config.txt".to_string(), FILE_CONTENT.to_string())]
    );
}

/// The patched config, as the destination holds it: the base's with the changes and labels.
fn check_config(destination: &FakeRegistry, child: &Manifest, base: &SeededImage, reference: &str) {
    let digest = child.config_digest().unwrap();
    let config = json(&destination.blob(DESTINATION_REPOSITORY, &digest).unwrap());
    let original = json(&base.config);
    assert_eq!(config["architecture"], original["architecture"]);
    assert_eq!(config["created"], "2025-03-01T12:00:00Z");
    let settings = &config["config"];
    assert_eq!(
        settings["Env"],
        serde_json::json!(["PATH=/usr/bin:/bin", "MODE=prod"])
    );
    assert_eq!(settings["WorkingDir"], "/srv");
    assert_eq!(settings["Cmd"], original["config"]["Cmd"]);
    let labels = &settings["Labels"];
    assert_eq!(labels["team"], "platform");
    assert_eq!(labels["org.opencontainers.image.base.name"], reference);
    assert_eq!(
        labels["org.opencontainers.image.base.digest"],
        base.digest.as_str()
    );
    assert_eq!(labels["org.opencontainers.image.version"], "v1");
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
    );
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(
        diff_ids[..2],
        original["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
    assert_eq!(diff_ids.len(), 3);
}

#[tokio::test]
async fn the_manifests_keep_the_base_format() {
    let source = FakeRegistry::anonymous().await;
    let (_dir, files) = files();
    for (format, config_type, layer_type) in [
        (
            ImageFormat::Docker,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            ImageFormat::Oci,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    ] {
        let seeded = source.seed_index("library/base", "multi", format);
        source.seed_image("library/base", "single", format, "amd64");
        let plan = patch_plan(&source, "library/base:multi", &files, "prod", &[]);
        let (made, _) = make_logged(&source, &plan).await;
        let made = made.unwrap();
        let image = prepared(&made);
        assert_eq!(image.manifest.media_type.as_str(), format.index_type());
        assert_eq!(json(&image.manifest.bytes)["mediaType"], seeded.media_type);
        let plan = patch_plan(&source, "library/base:single", &files, "prod", &[]);
        let (single, _) = make_logged(&source, &plan).await;
        let single = single.unwrap();
        let single = prepared(&single);
        assert!(single.children.is_empty());
        for child in image.children.iter().chain([&single.manifest]) {
            assert_eq!(child.media_type.as_str(), format.manifest_type());
            let value = child.json().unwrap();
            assert_eq!(value["mediaType"], format.manifest_type());
            assert_eq!(value["config"]["mediaType"], config_type);
            assert_eq!(value["layers"][2]["mediaType"], layer_type);
        }
    }
}

#[tokio::test]
async fn the_same_inputs_give_the_same_digest() {
    let source = FakeRegistry::anonymous().await;
    source.seed_index("library/base", "multi", ImageFormat::Oci);
    let (_dir, files) = files();
    let plan = patch_plan(&source, "library/base:multi", &files, "prod", &[]);
    // Each run has its own context (its own start time) and its own packed layer.
    let (first, _) = make_logged(&source, &plan).await;
    let (second, _) = make_logged(&source, &plan).await;
    let (first, second) = (first.unwrap(), second.unwrap());
    let (first, second) = (prepared(&first), prepared(&second));
    assert_eq!(first.manifest, second.manifest);
    assert_eq!(first.children, second.children);
    let uploads = |image: &PreparedImage| -> Vec<Descriptor> {
        image.uploads.iter().map(|u| u.blob.clone()).collect()
    };
    assert_eq!(uploads(first), uploads(second));
    // And other inputs, another image.
    let other = patch_plan(&source, "library/base:multi", &files, "staging", &[]);
    let (third, _) = make_logged(&source, &other).await;
    let third = third.unwrap();
    assert_ne!(prepared(&third).manifest.digest, first.manifest.digest);
}

#[tokio::test]
async fn platforms_the_base_does_not_have_are_refused() {
    let source = FakeRegistry::anonymous().await;
    let single = source.seed_image("library/base", "single", ImageFormat::Docker, "amd64");
    source.seed_index("library/base", "multi", ImageFormat::Oci);
    let (_dir, files) = files();
    let plan = patch_plan(
        &source,
        "library/base:single",
        &files,
        "prod",
        &["linux/arm64"],
    );
    let refused = failure(make_logged(&source, &plan).await.0);
    assert_eq!(refused.title, "No such platform");
    let expected = format!(
        "{} is a single linux/amd64 image, not linux/arm64. Change platforms.",
        base_reference(&plan)
    );
    assert_eq!(refused.message, expected);
    // Its own platform is patched.
    let plan = patch_plan(
        &source,
        "library/base:single",
        &files,
        "prod",
        &["linux/amd64"],
    );
    let made = make_logged(&source, &plan).await.0.unwrap();
    assert_eq!(made.base.as_ref().unwrap().digest, single.digest);
    assert!(prepared(&made).children.is_empty());
    // An index says which platforms it has.
    let plan = patch_plan(
        &source,
        "library/base:multi",
        &files,
        "prod",
        &["linux/s390x"],
    );
    let refused = failure(make_logged(&source, &plan).await.0);
    assert_eq!(refused.title, "No such platform");
    let expected = format!(
        "{} has no image for linux/s390x; it has linux/amd64, linux/arm64/v8. Change platforms.",
        base_reference(&plan)
    );
    assert_eq!(refused.message, expected);
}
