//! `walk` against the in-memory registry: what it keeps of an image and of an index, and the
//! manifests it refuses.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::registry::fake::{FakeRegistry, ImageFormat, SeededImage};

fn no_retry(e: &RegistryError, _: Duration) {
    panic!("nothing here should be retried: {e}");
}

fn platforms(list: &[&str]) -> Vec<Platform> {
    list.iter().map(|p| Platform::parse(p).unwrap()).collect()
}

/// The digests of the manifests a walk kept, in order.
fn kept_digests(walk: &Walk) -> Vec<String> {
    walk.kept
        .iter()
        .map(|k| k.manifest.digest.to_string())
        .collect()
}

/// The manifests the registry was asked for, by reference, in order.
fn manifests_read(fake: &FakeRegistry) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .filter_map(|r| {
            r.path
                .rsplit_once("/manifests/")
                .map(|(_, m)| m.to_string())
        })
        .collect()
}

fn config_of(image: &SeededImage) -> Digest {
    Digest::parse(&image.config_digest).unwrap()
}

#[tokio::test]
async fn an_image_is_kept_alone_whatever_the_platforms_asked() {
    let fake = FakeRegistry::anonymous().await;
    let image = fake.seed_image("library/base", "1", ImageFormat::Docker, "amd64");
    let client = fake.client();
    // A single image has no platform list to filter: the caller decides what that means.
    let wanted = platforms(&["linux/arm64"]);
    let walk = walk(&client, "library/base", "1", &wanted, false, &no_retry);
    let walk = walk.await.unwrap();
    assert_eq!(walk.top.digest, image.digest);
    assert_eq!(walk.top.bytes, image.manifest);
    assert!(walk.index.is_none());
    assert!(!walk.filtered());
    assert_eq!(kept_digests(&walk), [image.digest.as_str()]);
    let kept = &walk.kept[0];
    assert!(kept.entry.is_none());
    assert_eq!(kept.image.config.digest, config_of(&image));
    let layers: Vec<String> = kept
        .image
        .layers
        .iter()
        .map(|l| l.digest.to_string())
        .collect();
    let seeded: Vec<String> = image.layers.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(layers, seeded);
    assert_eq!(walk.first_image().unwrap().manifest.digest, image.digest);
}

#[tokio::test]
async fn an_index_without_platforms_keeps_every_platform_and_drops_attestations() {
    let fake = FakeRegistry::anonymous().await;
    let index = fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let client = fake.client();
    let walk = walk(&client, "library/base", "multi", &[], false, &no_retry);
    let walk = walk.await.unwrap();
    assert_eq!(walk.top.digest, index.digest);
    assert_eq!(walk.index.as_ref().unwrap().entries.len(), 3);
    assert_eq!(
        kept_digests(&walk),
        [index.amd64.digest.clone(), index.arm64.digest.clone()]
    );
    assert!(walk.filtered(), "the attestation was left out");
    let kept_platforms: Vec<String> = walk
        .kept
        .iter()
        .map(|k| k.platform().unwrap().to_string())
        .collect();
    assert_eq!(kept_platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(walk.kept[1].image.config.digest, config_of(&index.arm64));
    // Only what is kept is fetched.
    assert_eq!(
        manifests_read(&fake),
        ["multi", &index.amd64.digest, &index.arm64.digest]
    );
}

#[tokio::test]
async fn attestations_are_kept_only_when_asked_and_only_with_every_platform() {
    let fake = FakeRegistry::anonymous().await;
    let index = fake.seed_index("library/base", "multi", ImageFormat::Docker);
    let client = fake.client();
    let whole = walk(&client, "library/base", "multi", &[], true, &no_retry);
    let whole = whole.await.unwrap();
    let all = [
        index.amd64.digest.clone(),
        index.arm64.digest.clone(),
        index.attestation.digest.clone(),
    ];
    assert_eq!(kept_digests(&whole), all);
    assert!(!whole.filtered());
    assert!(whole.kept[2].platform().is_none());
    // The first image is the first with a platform, never the attestation.
    assert_eq!(
        whole.first_image().unwrap().manifest.digest,
        index.amd64.digest
    );
    // With platforms, an attestation has no platform to match.
    let wanted = platforms(&["linux/amd64"]);
    let some = walk(&client, "library/base", "multi", &wanted, true, &no_retry);
    assert_eq!(kept_digests(&some.await.unwrap()), [index.amd64.digest]);
}

#[tokio::test]
async fn a_platform_filter_keeps_its_entries_and_any_variant_of_them() {
    let fake = FakeRegistry::anonymous().await;
    let index = fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let client = fake.client();
    let wanted = platforms(&["linux/arm64"]);
    let walk = walk(&client, "library/base", "multi", &wanted, false, &no_retry);
    let walk = walk.await.unwrap();
    assert_eq!(kept_digests(&walk), [index.arm64.digest.as_str()]);
    assert!(walk.filtered());
    let entry = walk.kept[0].entry.as_ref().unwrap();
    assert_eq!(entry.descriptor["platform"]["variant"], "v8");
    assert_eq!(manifests_read(&fake), ["multi", &index.arm64.digest]);
}

#[tokio::test]
async fn an_index_without_the_platforms_wanted_says_which_it_has() {
    let fake = FakeRegistry::anonymous().await;
    fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let client = fake.client();
    let wanted = platforms(&["linux/s390x", "windows/amd64"]);
    let error = walk(&client, "library/base", "multi", &wanted, true, &no_retry)
        .await
        .unwrap_err();
    let ResolveError::NoPlatform {
        wanted: asked,
        have,
    } = &error
    else {
        panic!("not NoPlatform: {error}");
    };
    assert_eq!(asked, &wanted);
    assert_eq!(have, &platforms(&["linux/amd64", "linux/arm64/v8"]));
    assert_eq!(
        error.to_string(),
        "the index has no image for linux/s390x, windows/amd64; it has: linux/amd64, linux/arm64/v8"
    );
    assert_eq!(manifests_read(&fake), ["multi"], "no child was fetched");
}

#[tokio::test]
async fn a_manifest_pinned_by_digest_must_have_those_bytes() {
    let fake = FakeRegistry::anonymous().await;
    let index = fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let client = fake.client();
    // Pinned at the top.
    let pinned = walk(
        &client,
        "library/base",
        &index.digest,
        &[],
        false,
        &no_retry,
    );
    assert_eq!(pinned.await.unwrap().top.digest, index.digest);
    fake.set_corrupt(&index.digest, true);
    let error = walk(
        &client,
        "library/base",
        &index.digest,
        &[],
        false,
        &no_retry,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ResolveError::Unusable(_)), "{error}");
    let expected = format!("asked for {}, the registry sent sha256:", index.digest);
    assert!(error.to_string().contains(&expected), "{error}");
    fake.set_corrupt(&index.digest, false);
    // An index's entries are pinned too, even when the index itself is read by tag.
    fake.set_corrupt(&index.arm64.digest, true);
    let error = walk(&client, "library/base", "multi", &[], false, &no_retry)
        .await
        .unwrap_err();
    let expected = format!("asked for {}", index.arm64.digest);
    assert!(error.to_string().contains(&expected), "{error}");
}

#[tokio::test]
async fn an_index_inside_an_index_is_refused() {
    let fake = FakeRegistry::anonymous().await;
    let inner = fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let outer = json!({
        "schemaVersion": 2,
        "mediaType": inner.media_type,
        "manifests": [{
            "mediaType": inner.media_type, "digest": inner.digest, "size": inner.index.len(),
            "platform": {"os": "linux", "architecture": "amd64"}
        }]
    });
    let outer = serde_json::to_vec(&outer).unwrap();
    fake.put_manifest("library/base", "nested", &inner.media_type, &outer);
    let client = fake.client();
    let error = walk(&client, "library/base", "nested", &[], false, &no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::Unusable(_)), "{error}");
    assert!(
        error.to_string().contains("an index inside an index"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_reference_is_not_found() {
    let fake = FakeRegistry::anonymous().await;
    let client = fake.client();
    let error = walk(&client, "library/base", "nope", &[], false, &no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::NotFound(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "the registry has no manifest library/base:nope"
    );
}

#[tokio::test]
async fn an_index_of_more_entries_to_read_than_any_image_has_is_refused_before_any_is_read() {
    let fake = FakeRegistry::anonymous().await;
    let entries: Vec<_> = (0..=INDEX_ENTRIES_LIMIT)
        .map(|i| {
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{i:064x}"),
                "size": 500,
                "platform": {"os": "linux", "architecture": "amd64"}
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let media_type = "application/vnd.oci.image.index.v1+json";
    fake.put_manifest("library/many", "1", media_type, &bytes);
    let client = fake.client();
    let error = walk(&client, "library/many", "1", &[], true, &no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, ResolveError::Unusable(_)), "{error}");
    assert!(error.to_string().contains("at most 64"), "{error}");
    assert_eq!(manifests_read(&fake), ["1"]);
}
