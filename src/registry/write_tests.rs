//! `write` against the in-memory registry, with an image shaped like a patch of an index: base
//! layers to copy, a new layer (from a file) and new configs to upload, two image manifests and
//! an index on top.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::*;
use crate::oci::{index, manifest, Digest, Manifest, MediaType};
use crate::registry::fake::{FakeRegistry, ImageFormat, LoggedRequest, SeededImage, SeededIndex};
use crate::registry::prepared::{Source, Upload};

const REPOSITORY: &str = "team/app";

fn no_retry(e: &RegistryError, _: Duration) {
    panic!("nothing here should be retried: {e}");
}

/// `seeded`'s two platforms with a new config each and one new layer, under a new index;
/// the layer's file lives in `scratch`.
fn patched_index(
    source: &FakeRegistry,
    seeded: &SeededIndex,
    scratch: &tempfile::TempDir,
) -> PreparedImage {
    let layer_bytes = b"the compressed bytes of the added layer".repeat(100);
    let layer_path = scratch.path().join("layer.tar.gz");
    std::fs::write(&layer_path, &layer_bytes).unwrap();
    let layer = Descriptor::of(&layer_bytes);
    let mut uploads = vec![Upload {
        blob: layer.clone(),
        body: UploadBody::File(layer_path),
    }];
    let mut source_blobs = Vec::new();
    let mut children = Vec::new();
    for base in [&seeded.amd64, &seeded.arm64] {
        let mut config: Value = serde_json::from_slice(&base.config).unwrap();
        config["config"]["Env"] = serde_json::json!(["PATCHED=1"]);
        let config = serde_json::to_vec(&config).unwrap();
        let base_manifest =
            Manifest::new(MediaType::parse(&base.media_type), base.manifest.clone());
        let child = manifest::patched(&base_manifest, &Descriptor::of(&config), Some(&layer));
        children.push(child.unwrap());
        uploads.push(Upload {
            blob: Descriptor::of(&config),
            body: UploadBody::Bytes(config),
        });
        source_blobs.extend(layer_descriptors(base));
    }
    let top = Manifest::new(MediaType::parse(&seeded.media_type), seeded.index.clone());
    let platforms = top.json().unwrap()["manifests"].clone();
    let entries = children
        .iter()
        .zip(platforms.as_array().unwrap())
        .map(|(child, old)| index::entry_for(child, old.get("platform")))
        .collect();
    PreparedImage {
        source: Some(Source {
            registry: source.client(),
            repository: "library/base".into(),
        }),
        source_blobs,
        uploads,
        children,
        manifest: index::rebuild(&top, entries).unwrap(),
        size: 0,
        layers: 0,
        scratch: None,
    }
}

fn layer_descriptors(image: &SeededImage) -> Vec<Descriptor> {
    image.blobs().into_iter().skip(1).collect()
}

fn is_blob_write(r: &LoggedRequest) -> bool {
    let mounted = r.method == "POST"
        && r.status == 201
        && r.query.as_deref().is_some_and(|q| q.contains("mount="));
    let uploaded = r.method == "PUT" && r.path.contains("/blobs/uploads/");
    mounted || uploaded
}

fn is_child_put(r: &LoggedRequest) -> bool {
    r.method == "PUT" && r.path.contains("/manifests/sha256:")
}

fn is_tag_put(r: &LoggedRequest, tag: &str) -> bool {
    r.method == "PUT" && r.path == format!("/v2/{REPOSITORY}/manifests/{tag}")
}

fn positions(log: &[LoggedRequest], matches: impl Fn(&LoggedRequest) -> bool) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, r)| matches(r))
        .map(|(i, _)| i)
        .collect()
}

/// Upload PUTs answered so far: (the digest in the query, status).
fn upload_puts(fake: &FakeRegistry) -> Vec<(String, u16)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .map(|r| {
            let query = r.query.unwrap_or_default();
            let digest = query.split("digest=").nth(1).unwrap_or_default();
            (digest.replace("%3A", ":"), r.status)
        })
        .collect()
}

#[tokio::test]
async fn every_blob_and_child_manifest_is_written_before_the_tag() {
    let source = FakeRegistry::bearer(Some(("reader", "pw"))).await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Oci);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&source, &seeded, &scratch);
    let to = destination.client();
    let report = write(&to, REPOSITORY, &image, "v1", &no_retry)
        .await
        .unwrap();
    assert_eq!((report.copied.uploaded, report.copied.mounted), (4, 0));
    assert_eq!((report.uploaded, report.present), (3, 0));

    let log = destination.requests();
    let blobs = positions(&log, is_blob_write);
    let children = positions(&log, is_child_put);
    let tag = positions(&log, |r| is_tag_put(r, "v1"));
    assert_eq!(
        (blobs.len(), children.len(), tag.len()),
        (7, 2, 1),
        "{log:#?}"
    );
    assert!(blobs.last() < children.first(), "{log:#?}");
    assert!(children.last() < tag.first(), "{log:#?}");
    let writes = positions(&log, |r| r.method == "PUT" || r.method == "POST");
    assert_eq!(writes.last(), tag.last(), "the tag is the last write");

    let stored = destination.manifest(REPOSITORY, "v1").unwrap();
    assert_eq!(stored.1, image.manifest.bytes);
    assert_eq!(destination.tags(REPOSITORY), ["v1"], "children have no tag");
    for blob in &image.source_blobs {
        let copied = destination.blob(REPOSITORY, &blob.digest);
        assert_eq!(copied, source.blob("library/base", &blob.digest));
    }
    for upload in &image.uploads {
        let stored = destination.blob(REPOSITORY, &upload.blob.digest).unwrap();
        assert_eq!(Digest::of(&stored), upload.blob.digest);
    }
}

#[tokio::test]
async fn a_second_write_sends_no_blob() {
    let source = FakeRegistry::anonymous().await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Docker);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&source, &seeded, &scratch);
    let to = destination.client();
    write(&to, REPOSITORY, &image, "v1", &no_retry)
        .await
        .unwrap();
    let (sent, read) = (destination.requests().len(), source.requests().len());
    let again = write(&to, REPOSITORY, &image, "v2", &no_retry)
        .await
        .unwrap();
    assert_eq!((again.copied.present, again.copied.uploaded), (4, 0));
    assert_eq!((again.present, again.uploaded), (3, 0));
    let second = &destination.requests()[sent..];
    let blob_writes: Vec<&LoggedRequest> = second.iter().filter(|r| is_blob_write(r)).collect();
    assert!(blob_writes.is_empty(), "{blob_writes:#?}");
    let posts = second.iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 0, "no upload was even started: {second:#?}");
    assert_eq!(
        source.requests().len(),
        read,
        "the source was not read again"
    );
    assert_eq!(destination.tags(REPOSITORY), ["v1", "v2"]);
    assert_eq!(destination.uploads(), 7);
}

#[tokio::test]
async fn a_corrupt_source_blob_fails_the_write_with_nothing_tagged() {
    let source = FakeRegistry::anonymous().await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Oci);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&source, &seeded, &scratch);
    let corrupt = seeded.arm64.layers[1].0.clone();
    source.set_corrupt(&corrupt, true);
    let to = destination.client();
    let error = write(&to, REPOSITORY, &image, "v1", &no_retry)
        .await
        .unwrap_err();
    assert!(
        matches!(error, WriteError::Copy(RegistryError::Mismatch { .. })),
        "{error}"
    );
    let expected = format!("cannot copy the image's blobs: the blob {corrupt} is corrupt");
    assert!(error.to_string().starts_with(&expected), "{error}");
    assert_eq!(destination.blob(REPOSITORY, &corrupt), None);
    assert!(destination.tags(REPOSITORY).is_empty());
    let manifests: Vec<LoggedRequest> = destination
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect();
    assert!(manifests.is_empty(), "{manifests:#?}");
}

#[tokio::test]
async fn a_5xx_on_an_upload_is_retried_with_the_file_read_again() {
    let registry = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = registry.seed_index("library/base", "multi", ImageFormat::Oci);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&registry, &seeded, &scratch);
    // The base's blobs are mounted (no PUT); the new layer's upload (a file) fails once.
    let layer = image.uploads[0].blob.digest.to_string();
    let hex = layer.trim_start_matches("sha256:");
    registry.fail_next(
        "PUT",
        &format!("/v2/team/app/blobs/uploads/.*digest=sha256%3A{hex}.*"),
        503,
        1,
    );
    let retries = AtomicUsize::new(0);
    let count = |_: &RegistryError, _: Duration| {
        retries.fetch_add(1, Ordering::SeqCst);
    };
    let to = registry.client();
    let report = write(&to, REPOSITORY, &image, "v1", &count).await.unwrap();
    assert_eq!(retries.load(Ordering::SeqCst), 1);
    assert_eq!((report.uploaded, report.copied.mounted), (3, 4));
    let puts = upload_puts(&registry);
    let of_layer: Vec<u16> = puts
        .iter()
        .filter(|(digest, _)| digest == &layer)
        .map(|(_, status)| *status)
        .collect();
    assert_eq!(of_layer, [503, 201]);
    assert_eq!(puts.len(), 4, "the other uploads were sent once: {puts:?}");
    let stored = registry.blob(REPOSITORY, &layer).unwrap();
    assert_eq!(Digest::of(&stored), layer);
    assert_eq!(registry.tags(REPOSITORY), ["v1"]);
}

#[tokio::test]
async fn the_source_blobs_are_mounted_when_source_and_destination_are_one_registry() {
    let registry = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = registry.seed_index("library/base", "multi", ImageFormat::Oci);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&registry, &seeded, &scratch);
    let to = registry.client();
    let report = write(&to, REPOSITORY, &image, "v1", &no_retry)
        .await
        .unwrap();
    assert_eq!(
        report.copied,
        CopyReport {
            present: 0,
            mounted: 4,
            uploaded: 0,
            bytes_uploaded: 0
        }
    );
    assert_eq!((registry.mounts(), registry.uploads()), (4, 3));
    let reads: Vec<LoggedRequest> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .collect();
    assert!(reads.is_empty(), "nothing streamed: {reads:#?}");
    for blob in &image.source_blobs {
        assert!(registry.blob(REPOSITORY, &blob.digest).is_some());
    }
    assert_eq!(registry.tags(REPOSITORY), ["v1"]);
}

/// A push whose registry password runs out after `requests` requests, renewed with what
/// `renew` answers; returns the write's outcome and how many renewals were asked for.
async fn push_through_expiry(
    requests: usize,
    renewed_password: &'static str,
) -> (
    Result<WriteReport, WriteError>,
    usize,
    FakeRegistry,
    PreparedImage,
) {
    let source = FakeRegistry::anonymous().await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let seeded = source.seed_index("library/base", "multi", ImageFormat::Oci);
    let scratch = tempfile::tempdir().unwrap();
    let image = patched_index(&source, &seeded, &scratch);
    destination.change_password_after(requests, "renewed");
    let (renewals, renewer) = crate::registry::renewal::channel();
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let serving = tokio::spawn({
        let asked = asked.clone();
        renewer.serve(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            async move { Ok(("AWS".to_string(), renewed_password.to_string())) }
        })
    });
    let to = destination.client().renewed_by(renewals);
    let outcome = write(&to, REPOSITORY, &image, "v1", &|_: &RegistryError, _| {}).await;
    drop(to);
    serving.await.unwrap();
    (outcome, asked.load(Ordering::SeqCst), destination, image)
}

#[tokio::test]
async fn a_password_that_runs_out_mid_push_is_renewed_once_and_the_push_completes() {
    for requests in [0, 3, 9, 14] {
        let (outcome, asked, destination, image) = push_through_expiry(requests, "renewed").await;
        outcome.unwrap_or_else(|e| panic!("after {requests} requests: {e}"));
        assert_eq!(asked, 1, "after {requests} requests");
        let stored = destination.manifest(REPOSITORY, "v1").unwrap();
        assert_eq!(stored.1, image.manifest.bytes);
        for blob in image
            .source_blobs
            .iter()
            .chain(image.uploads.iter().map(|u| &u.blob))
        {
            assert!(destination.blob(REPOSITORY, &blob.digest).is_some());
        }
        let refused = destination
            .requests()
            .iter()
            .filter(|r| r.status == 401)
            .count();
        assert!(
            refused >= 1,
            "after {requests} requests the old password was refused"
        );
    }
}

#[tokio::test]
async fn renewed_credentials_refused_again_end_the_push_with_no_tag() {
    let (outcome, asked, destination, _) = push_through_expiry(3, "still-wrong").await;
    let error = outcome.unwrap_err().to_string();
    assert!(
        error.contains("fetched afresh after an earlier refusal"),
        "{error}"
    );
    assert_eq!(asked, 1, "one renewal, however many requests were refused");
    assert!(destination.tags(REPOSITORY).is_empty());
}
