//! The fake driven through the project's own client and copy, as the tests built on it will.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;

use super::*;
use crate::oci::{Digest, Manifest, MediaType, Platform};
use crate::registry::client::RegistryError;
use crate::registry::copy::{copy_blobs, Endpoint};
use crate::registry::resolve;

fn no_retry(e: &RegistryError, _: Duration) {
    panic!("nothing here should be retried: {e}");
}

fn manifest_of(image: &SeededImage) -> Manifest {
    let manifest = Manifest::new(MediaType::parse(&image.media_type), image.manifest.clone());
    assert_eq!(manifest.digest, image.digest);
    manifest
}

fn endpoint<'a>(registry: &'a RegistryClient, repository: &'a str) -> Endpoint<'a> {
    Endpoint {
        registry,
        repository,
    }
}

/// The HTTP status of a registry error, with its detail.
fn status_of(error: &RegistryError) -> (StatusCode, String) {
    match error {
        RegistryError::Unexpected { status, detail, .. } => (*status, detail.clone()),
        other => panic!("not an HTTP answer: {other}"),
    }
}

fn statuses(fake: &FakeRegistry, method: &str, path_contains: &str) -> Vec<u16> {
    fake.requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_contains))
        .map(|r| r.status)
        .collect()
}

#[tokio::test]
async fn basic_credentials_are_checked_on_every_request_like_ecr() {
    let fake = FakeRegistry::basic("AWS", "ecr-pw").await;
    fake.client().check_login(no_retry).await.unwrap();
    let wrong = RegistryClient::new(fake.http(), fake.url(), "AWS", "nope");
    let error = wrong.check_login(no_retry).await.unwrap_err();
    assert!(matches!(error, RegistryError::Refused { .. }), "{error}");
    let bare = reqwest::get(fake.url().join("v2/").unwrap()).await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.headers()["www-authenticate"],
        r#"Basic realm="fake-registry""#
    );
    let open = FakeRegistry::anonymous().await;
    let answer = reqwest::get(open.url().join("v2/").unwrap()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_blob_round_trips_through_an_upload_location_carrying_its_own_query() {
    let fake = FakeRegistry::basic("AWS", "ecr-pw").await;
    let client = fake.client();
    let bytes = b"the bytes of a layer".to_vec();
    let digest = Digest::of(&bytes);
    assert!(!client.has_blob("team/app", &digest).await.unwrap());
    let size = bytes.len() as u64;
    client
        .upload_blob("team/app", &digest, size, bytes.clone().into())
        .await
        .unwrap();
    assert!(client.has_blob("team/app", &digest).await.unwrap());
    let read = client.get_small_blob("team/app", &digest, no_retry).await;
    assert_eq!(read.unwrap(), bytes);
    let streamed = client.blob_stream("team/app", &digest).await.unwrap();
    assert_eq!(streamed.content_length(), Some(size));
    assert_eq!(streamed.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(fake.blob("team/app", &digest), Some(bytes));
    assert_eq!(fake.blob("team/other", &digest), None);
    assert_eq!((fake.uploads(), fake.mounts()), (1, 0));
    let put = fake.requests().into_iter().find(|r| r.method == "PUT");
    let put = put.expect("an upload PUT");
    assert!(
        put.path.starts_with("/v2/team/app/blobs/uploads/"),
        "{put:?}"
    );
    let query = put.query.unwrap_or_default();
    assert!(query.starts_with("_state=") && query.contains("&digest=sha256%3A"));
}

#[tokio::test]
async fn an_upload_is_refused_when_its_bytes_or_its_location_are_wrong() {
    let fake = FakeRegistry::basic("AWS", "ecr-pw").await;
    let client = fake.client();
    let claimed = Digest::of(b"what the manifest says");
    let sent = b"something else".to_vec();
    let error = client
        .upload_blob("team/app", &claimed, sent.len() as u64, sent.clone().into())
        .await
        .unwrap_err();
    let (status, detail) = status_of(&error);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail.contains("DIGEST_INVALID"), "{detail}");
    assert_eq!(fake.blob("team/app", &claimed), None);
    assert_eq!(fake.blob("team/app", Digest::of(&sent)), None);
    assert_eq!(fake.uploads(), 0);
    // A client that drops the Location's own query loses the upload.
    let http = fake.http();
    let auth = ("AWS", Some("ecr-pw"));
    let started = http
        .post(fake.url().join("v2/team/app/blobs/uploads/").unwrap())
        .basic_auth(auth.0, auth.1)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = started.headers()["location"].to_str().unwrap();
    let mut url = fake.url().join(location).unwrap();
    url.set_query(Some(&format!("digest={}", Digest::of(&sent))));
    let put = http.put(url).basic_auth(auth.0, auth.1).body(sent.clone());
    assert_eq!(put.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(fake.blob("team/app", Digest::of(&sent)), None);
}

#[tokio::test]
async fn a_manifest_is_refused_until_its_blobs_are_in_the_repository() {
    let fake = FakeRegistry::anonymous().await;
    let image = fake.seed_image("library/base", "1", ImageFormat::Oci, "amd64");
    let client = fake.client();
    let manifest = manifest_of(&image);
    let error = client
        .put_manifest("team/app", "v1", &manifest, no_retry)
        .await
        .unwrap_err();
    let (status, detail) = status_of(&error);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail.contains("MANIFEST_BLOB_UNKNOWN"), "{detail}");
    assert_eq!(fake.manifest("team/app", "v1"), None);
    assert!(fake.tags("team/app").is_empty());
    let source = fake.client();
    let from = endpoint(&source, "library/base");
    let to = endpoint(&client, "team/app");
    let report = copy_blobs(from, to, &image.blobs(), &no_retry).await;
    assert_eq!(report.unwrap().mounted, 3);
    assert_eq!(fake.mounts(), 3);
    client
        .put_manifest("team/app", "v1", &manifest, no_retry)
        .await
        .unwrap();
    let read = client.get_manifest("team/app", "v1", no_retry).await;
    assert_eq!(read.unwrap(), Some(manifest.clone()));
    let stored = Some((image.media_type.clone(), image.manifest.clone()));
    assert_eq!(fake.manifest("team/app", "v1"), stored);
    assert_eq!(fake.manifest("team/app", &image.digest), stored);
    assert_eq!(fake.tags("team/app"), ["v1"]);
    let missing = client.get_manifest("team/app", "v2", no_retry).await;
    assert_eq!(missing.unwrap(), None);
    assert_eq!(statuses(&fake, "GET", "/manifests/v2"), [404]);
}

#[tokio::test]
async fn an_index_is_refused_until_its_manifests_are_in_the_repository() {
    let fake = FakeRegistry::anonymous().await;
    let seeded = fake.seed_index("library/base", "multi", ImageFormat::Oci);
    let client = fake.client();
    let index = Manifest::new(MediaType::parse(&seeded.media_type), seeded.index.clone());
    let error = client
        .put_manifest("team/app", "v1", &index, no_retry)
        .await
        .unwrap_err();
    let (status, detail) = status_of(&error);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail.contains("MANIFEST_BLOB_UNKNOWN"), "{detail}");
    let source = fake.client();
    for child in [&seeded.amd64, &seeded.arm64, &seeded.attestation] {
        let (from, to) = (
            endpoint(&source, "library/base"),
            endpoint(&client, "team/app"),
        );
        copy_blobs(from, to, &child.blobs(), &no_retry)
            .await
            .unwrap();
        let manifest = manifest_of(child);
        client
            .put_manifest("team/app", &child.digest, &manifest, no_retry)
            .await
            .unwrap();
    }
    assert!(fake.tags("team/app").is_empty(), "children have no tag");
    client
        .put_manifest("team/app", "v1", &index, no_retry)
        .await
        .unwrap();
    let wanted = [Platform::parse("linux/arm64").unwrap()];
    let walk = resolve::walk(&client, "team/app", "v1", &wanted, false, &no_retry).await;
    let walk = walk.unwrap();
    let arm = &walk.kept[0];
    assert_eq!(walk.kept.len(), 1);
    assert_eq!(arm.image.config.digest, seeded.arm64.config_digest);
    let config = resolve::config(&client, "team/app", &arm.image, &no_retry).await;
    assert_eq!(config.unwrap(), seeded.arm64.config);
    assert_eq!(walk.top.digest, seeded.digest);
    let platforms: Vec<Option<String>> = walk
        .index
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.platform.map(|p| p.to_string()))
        .collect();
    let expected = [Some("linux/amd64"), Some("linux/arm64/v8"), None];
    assert_eq!(platforms, expected.map(|p| p.map(str::to_string)));
}

#[tokio::test]
async fn a_mount_from_a_repository_without_the_blob_is_an_ordinary_upload() {
    let fake = FakeRegistry::anonymous().await;
    let client = fake.client();
    let digest = Digest::of(b"shared layer");
    assert!(!client.mount_blob("b", &digest, "a").await.unwrap());
    assert_eq!(statuses(&fake, "POST", "/v2/b/blobs/uploads/"), [202]);
    assert_eq!(fake.put_blob("a", b"shared layer"), digest);
    assert!(client.mount_blob("b", &digest, "a").await.unwrap());
    assert_eq!(
        fake.blob("b", &digest).as_deref(),
        Some(&b"shared layer"[..])
    );
    assert_eq!((fake.mounts(), fake.uploads()), (1, 0));
}

#[tokio::test]
async fn a_fault_is_answered_as_many_times_as_asked_then_cleared() {
    let fake = FakeRegistry::basic("AWS", "ecr-pw").await;
    let image = fake.seed_image("team/app", "v1", ImageFormat::Docker, "amd64");
    let client = fake.client();
    fake.fail_next("PUT", ".*/manifests/.*", 503, 1);
    let retries = AtomicUsize::new(0);
    let count = |_: &RegistryError, _: Duration| {
        retries.fetch_add(1, Ordering::SeqCst);
    };
    let manifest = manifest_of(&image);
    let put = client
        .put_manifest("team/app", "v2", &manifest, count)
        .await;
    put.unwrap();
    assert_eq!(retries.load(Ordering::SeqCst), 1);
    assert_eq!(statuses(&fake, "PUT", "/manifests/"), [503, 201]);
    assert_eq!(fake.tags("team/app"), ["v1", "v2"]);
    fake.fail_next("GET", "/v2/.*", 500, 5);
    fake.clear_faults();
    let read = client.get_manifest("team/app", "v2", no_retry).await;
    assert_eq!(read.unwrap(), Some(manifest));
}

#[tokio::test]
async fn copies_an_image_between_registries_and_retries_a_failed_upload() {
    let source = FakeRegistry::bearer(Some(("reader", "pw"))).await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let image = source.seed_image("library/base", "1", ImageFormat::Oci, "arm64");
    destination.fail_next("PUT", "/v2/team/app/blobs/uploads/.*", 500, 1);
    let (from, to) = (source.client(), destination.client());
    let retries = AtomicUsize::new(0);
    let count = |_: &RegistryError, _: Duration| {
        retries.fetch_add(1, Ordering::SeqCst);
    };
    let (src, dst) = (endpoint(&from, "library/base"), endpoint(&to, "team/app"));
    let report = copy_blobs(src, dst, &image.blobs(), &count).await.unwrap();
    assert_eq!((report.uploaded, report.mounted), (3, 0));
    assert_eq!(retries.load(Ordering::SeqCst), 1);
    assert_eq!(destination.uploads(), 3);
    for blob in image.blobs() {
        let copied = destination.blob("team/app", &blob.digest);
        assert_eq!(copied, source.blob("library/base", &blob.digest));
    }
    let again = copy_blobs(src, dst, &image.blobs(), &no_retry)
        .await
        .unwrap();
    assert_eq!((again.present, again.uploaded), (3, 0));
}

#[tokio::test]
async fn a_corrupt_blob_is_caught_by_the_copy_and_nothing_is_stored() {
    let source = FakeRegistry::anonymous().await;
    let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
    let image = source.seed_image("library/base", "1", ImageFormat::Docker, "amd64");
    let layer = image.layers[0].0.clone();
    source.set_corrupt(&layer, true);
    let (from, to) = (source.client(), destination.client());
    let (src, dst) = (endpoint(&from, "library/base"), endpoint(&to, "team/app"));
    let error = copy_blobs(src, dst, &image.blobs()[1..2], &no_retry).await;
    let error = error.unwrap_err();
    assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
    assert_eq!(destination.blob("team/app", &layer), None);
    source.set_corrupt(&layer, false);
    let report = copy_blobs(src, dst, &image.blobs()[1..2], &no_retry).await;
    assert_eq!(report.unwrap().uploaded, 1);
}

#[tokio::test]
async fn bearer_tokens_come_from_the_same_server_for_one_repository_and_its_actions() {
    let fake = FakeRegistry::bearer(Some(("reader", "pw"))).await;
    let image = fake.seed_image("team/app", "v1", ImageFormat::Oci, "amd64");
    let bare = reqwest::get(fake.url().join("v2/team/app/manifests/v1").unwrap()).await;
    let bare = bare.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let expected = format!(
        r#"Bearer realm="http://{}/token",service="fake-registry",scope="repository:team/app:pull""#,
        fake.host()
    );
    assert_eq!(bare.headers()["www-authenticate"], expected.as_str());
    let client = fake.client();
    let read = client.get_manifest("team/app", "v1", no_retry).await;
    assert_eq!(read.unwrap(), Some(manifest_of(&image)));
    // Writing needs a token for push, which the client asks for when challenged again.
    let manifest = manifest_of(&image);
    let put = client.put_manifest("team/app", "v2", &manifest, no_retry);
    put.await.unwrap();
    let scopes: Vec<String> = fake.token_queries();
    assert_eq!(
        scopes,
        [
            "scope=repository%3Ateam%2Fapp%3Apull&service=fake-registry",
            "scope=repository%3Ateam%2Fapp%3Apull%2Cpush&service=fake-registry"
        ]
    );
    let wrong = Some(("reader".to_string(), "wrong".to_string()));
    let wrong = RegistryClient::challenged(fake.http(), fake.url(), wrong, "them");
    let config = Digest::parse(&image.config_digest).unwrap();
    let error = wrong.has_blob("team/app", &config).await;
    let error = error.unwrap_err();
    assert!(matches!(error, RegistryError::Token(_)), "{error}");
}

#[tokio::test]
async fn manifests_are_served_only_to_requests_that_accept_their_type() {
    let fake = FakeRegistry::anonymous().await;
    let seeded = fake.seed_index("library/base", "multi", ImageFormat::Docker);
    let client = fake.client();
    let read = client.get_manifest("library/base", "multi", no_retry);
    let read = read.await.unwrap().expect("the index");
    assert_eq!(
        (read.digest.to_string(), read.media_type.to_string()),
        (seeded.digest.clone(), seeded.media_type)
    );
    let url = fake.url().join("v2/library/base/manifests/multi").unwrap();
    let http = fake.http();
    let narrow = http.get(url.clone()).header("accept", images::OCI_MANIFEST);
    assert_eq!(narrow.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let head = http.head(url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["docker-content-digest"],
        seeded.digest.as_str()
    );
    let length = seeded.index.len().to_string();
    assert_eq!(head.headers()["content-length"], length.as_str());
}

#[tokio::test]
async fn stops_serving_when_shut_down() {
    let fake = FakeRegistry::anonymous().await;
    let client = fake.client();
    client.ping().await.unwrap();
    fake.shutdown().await;
    let error = client.ping().await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_retry_after_is_waited_out_before_the_next_try() {
    let fake = FakeRegistry::basic("AWS", "ecr-pw").await;
    fake.seed_image("team/app", "v1", ImageFormat::Docker, "amd64");
    let client = fake.client();
    fake.busy_next("GET", ".*/manifests/v1", 429, 1, 1);
    let waits = std::sync::Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let read = client
        .get_manifest("team/app", "v1", |e: &RegistryError, wait| {
            assert!(e.to_string().contains("try again in 1 s"), "{e}");
            waits.lock().unwrap().push(wait);
        })
        .await;
    assert!(read.unwrap().is_some());
    let waits = waits.into_inner().unwrap();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= Duration::from_secs(1), "{waits:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}
