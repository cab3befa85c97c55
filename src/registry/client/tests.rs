//! The bounds and the origin rules against the in-memory registry: answers too large for what
//! they are, and a registry that names another server for an upload or a token.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::registry::bounded::{CONFIG_LIMIT, MANIFEST_LIMIT};
use crate::registry::fake::FakeRegistry;
use crate::retry::Transient;

const OCI: &str = "application/vnd.oci.image.manifest.v1+json";

fn no_retry(e: &RegistryError, _: Duration) {
    panic!("nothing here should be retried: {e}");
}

/// A manifest-shaped JSON document of about `size` bytes.
fn padded_manifest(size: usize) -> Vec<u8> {
    let padding = "x".repeat(size);
    serde_json::to_vec(&json!({"schemaVersion": 2, "annotations": {"pad": padding}})).unwrap()
}

#[tokio::test]
async fn a_manifest_over_ecr_s_limit_is_refused_not_read_and_not_retried() {
    let fake = FakeRegistry::anonymous().await;
    let huge = padded_manifest(MANIFEST_LIMIT as usize + 1);
    fake.put_manifest("team/app", "big", OCI, &huge);
    let fits = padded_manifest(MANIFEST_LIMIT as usize - 100);
    fake.put_manifest("team/app", "fits", OCI, &fits);
    let client = fake.client();
    let error = client
        .get_manifest("team/app", "big", no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("more than 4 MiB"), "{error}");
    let read = client.get_manifest("team/app", "fits", no_retry).await;
    assert_eq!(read.unwrap().unwrap().bytes, fits);
}

#[tokio::test]
async fn a_config_is_read_to_its_descriptor_s_size_and_checked_against_it() {
    let fake = FakeRegistry::anonymous().await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    fake.put_blob("team/app", &config);
    let client = fake.client();
    let right = Descriptor::of(&config);
    let read = client.get_config("team/app", &right, no_retry).await;
    assert_eq!(read.unwrap(), config);
    // A descriptor that says less than the blob holds: refused at its size.
    let smaller = Descriptor {
        size: right.size - 1,
        ..right.clone()
    };
    let error = client
        .get_config("team/app", &smaller, no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
    // One that says more: the blob is not what it describes.
    let larger = Descriptor {
        size: right.size + 1,
        ..right
    };
    let error = client
        .get_config("team/app", &larger, no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
    // Read without a descriptor, a config is still bounded.
    let huge = vec![b' '; CONFIG_LIMIT as usize + 1];
    let digest = Digest::parse(&fake.put_blob("team/app", &huge)).unwrap();
    let error = client
        .get_small_blob("team/app", &digest, no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
}

#[tokio::test]
async fn an_upload_location_on_another_origin_is_refused_and_nothing_goes_there() {
    let registry = FakeRegistry::basic("AWS", "ecr-pw").await;
    let elsewhere = FakeRegistry::anonymous().await;
    // Same host, another port: another origin.
    registry.send_elsewhere(elsewhere.url().as_str().trim_end_matches('/'));
    let content = b"a layer".to_vec();
    let blob = Descriptor::of(&content);
    let error = registry
        .client()
        .upload_blob(
            "team/app",
            &blob.digest,
            blob.size,
            reqwest::Body::from(content),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::OtherOrigin { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("another origin"), "{error}");
    assert!(!error.is_transient());
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[tokio::test]
async fn a_token_realm_on_another_origin_gets_no_credentials() {
    let registry = FakeRegistry::bearer(Some(("reader", "pw"))).await;
    let elsewhere = FakeRegistry::bearer(Some(("reader", "pw"))).await;
    registry.send_elsewhere(elsewhere.url().as_str().trim_end_matches('/'));
    let client = RegistryClient::challenged(
        registry.http(),
        registry.url(),
        Some(("reader".into(), "pw".into())),
        "the base-image credentials",
    );
    let error = client
        .get_manifest("team/app", "1", no_retry)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Token(_)), "{error}");
    assert!(
        error.to_string().contains("credentials are not sent there"),
        "{error}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(elsewhere.token_queries().is_empty());
}
