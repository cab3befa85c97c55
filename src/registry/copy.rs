//! Copying blobs from one registry to another without a disk or a whole layer in memory: skip
//! what the destination has, mount within one registry, else stream the source's response
//! straight into a monolithic upload, checking the digest on the way. A few blobs at a time;
//! each blob is retried on its own, so one failure does not resend the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};

use super::client::{classify, RegistryClient, RegistryError};
use crate::oci::{Descriptor, Digest};

/// Blobs in flight at once (docker pushes 5 at a time, crane 4, skopeo 6).
pub const PARALLEL_BLOBS: usize = 6;

/// What happened to each blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub present: usize,
    pub mounted: usize,
    pub uploaded: usize,
    pub bytes_uploaded: u64,
}

enum Outcome {
    Present,
    Mounted,
    Uploaded(u64),
}

/// One end of a copy: a registry and a repository in it.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub registry: &'a RegistryClient,
    pub repository: &'a str,
}

/// Makes sure `to` holds every blob of `blobs`, taking the missing ones from `from`.
pub async fn copy_blobs(
    from: Endpoint<'_>,
    to: Endpoint<'_>,
    blobs: &[Descriptor],
    on_retry: &(dyn Fn(&RegistryError, Duration) + Sync),
) -> Result<CopyReport, RegistryError> {
    let outcomes: Vec<Outcome> = futures_util::stream::iter(blobs)
        .map(|blob| {
            to.registry.retrying(
                move || async move { copy_one(from, to, blob).await.map_err(classify) },
                on_retry,
            )
        })
        .buffer_unordered(PARALLEL_BLOBS)
        .try_collect()
        .await?;
    let mut report = CopyReport::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Present => report.present += 1,
            Outcome::Mounted => report.mounted += 1,
            Outcome::Uploaded(bytes) => {
                report.uploaded += 1;
                report.bytes_uploaded += bytes;
            }
        }
    }
    Ok(report)
}

async fn copy_one(
    from: Endpoint<'_>,
    to: Endpoint<'_>,
    blob: &Descriptor,
) -> Result<Outcome, RegistryError> {
    if to.registry.has_blob(to.repository, &blob.digest).await? {
        return Ok(Outcome::Present);
    }
    if from.registry.base() == to.registry.base()
        && to
            .registry
            .mount_blob(to.repository, &blob.digest, from.repository)
            .await?
    {
        return Ok(Outcome::Mounted);
    }
    let response = from
        .registry
        .blob_stream(from.repository, &blob.digest)
        .await?;
    if let Some(length) = response.content_length() {
        if length != blob.size {
            return Err(RegistryError::Mismatch {
                digest: blob.digest.to_string(),
                why: format!(
                    "the source sends {length} bytes, its manifest says {}",
                    blob.size
                ),
            });
        }
    }
    let mismatch = Arc::new(AtomicBool::new(false));
    let body = verified(response, blob.digest.clone(), blob.size, mismatch.clone());
    let uploaded = to
        .registry
        .upload_blob(
            to.repository,
            &blob.digest,
            blob.size,
            reqwest::Body::wrap_stream(body),
        )
        .await;
    if mismatch.load(Ordering::SeqCst) {
        return Err(RegistryError::Mismatch {
            digest: blob.digest.to_string(),
            why: "the bytes the source sent have another digest or length".into(),
        });
    }
    uploaded.map(|_| Outcome::Uploaded(blob.size))
}

/// The response's bytes, hashed as they pass. The chunk that completes the blob is held to
/// the digest first: a client that sent `Content-Length` stops reading at that byte, so a check
/// after the last chunk might never run. A mismatch (or a wrong length) ends the stream with
/// an error instead, so the upload never completes.
fn verified(
    response: reqwest::Response,
    digest: Digest,
    size: u64,
    mismatch: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    struct Check {
        hasher: Sha256,
        seen: u64,
        done: bool,
    }
    let chunks = response
        .bytes_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let check = Check {
        hasher: Sha256::new(),
        seen: 0,
        done: false,
    };
    futures_util::stream::unfold((chunks.boxed(), check), move |(mut chunks, mut check)| {
        let digest = digest.clone();
        let mismatch = mismatch.clone();
        async move {
            if check.done {
                return None;
            }
            let fail = |why: String, check: Check, chunks| {
                mismatch.store(true, Ordering::SeqCst);
                let check = Check {
                    done: true,
                    ..check
                };
                Some((Err(std::io::Error::other(why)), (chunks, check)))
            };
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    check.hasher.update(&chunk);
                    check.seen += chunk.len() as u64;
                    if check.seen > size {
                        return fail(
                            format!("more than the {size} bytes expected"),
                            check,
                            chunks,
                        );
                    }
                    if check.seen == size {
                        let actual = Digest::finish(check.hasher.clone());
                        if actual != digest {
                            return fail(format!("expected {digest}, got {actual}"), check, chunks);
                        }
                    }
                    Some((Ok(chunk), (chunks, check)))
                }
                Some(Err(e)) => {
                    check.done = true;
                    Some((Err(e), (chunks, check)))
                }
                None if check.seen < size => {
                    let why = format!("only {} of {size} bytes", check.seen);
                    fail(why, check, chunks)
                }
                None => None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    //! Against the in-memory registry: a source behind a Bearer token service (as Docker Hub),
    //! a destination with Basic auth (as ECR) whose upload `Location` is relative and carries
    //! its own query.

    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::registry::fake::{FakeRegistry, LoggedRequest};

    const SOURCE: &str = "src";
    const DESTINATION: &str = "dst";

    /// A source that wants `reader`/`pw` for a token, holding `content`; an empty destination.
    async fn stand_ins(content: &[u8]) -> (FakeRegistry, FakeRegistry) {
        let source = FakeRegistry::bearer(Some(("reader", "pw"))).await;
        source.put_blob(SOURCE, content);
        let destination = FakeRegistry::basic("AWS", "ecr-pw").await;
        (source, destination)
    }

    async fn copy(
        from: &RegistryClient,
        to: &RegistryClient,
        blobs: &[Descriptor],
        on_retry: &(dyn Fn(&RegistryError, Duration) + Sync),
    ) -> Result<CopyReport, RegistryError> {
        let from = Endpoint {
            registry: from,
            repository: SOURCE,
        };
        let to = Endpoint {
            registry: to,
            repository: DESTINATION,
        };
        copy_blobs(from, to, blobs, on_retry).await
    }

    fn upload_puts(destination: &FakeRegistry) -> Vec<LoggedRequest> {
        destination
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
            .collect()
    }

    #[tokio::test]
    async fn streams_a_blob_through_a_bearer_challenge_into_a_relative_upload() {
        let content = vec![7u8; 300_000];
        let (source, destination) = stand_ins(&content).await;
        let blob = Descriptor::of(&content);
        let (from, to) = (source.client(), destination.client());
        let report = copy(&from, &to, std::slice::from_ref(&blob), &|_, _| {})
            .await
            .unwrap();
        assert_eq!(report.uploaded, 1);
        assert_eq!(report.bytes_uploaded, 300_000);
        let queries: Vec<String> = source.token_queries();
        assert_eq!(
            queries,
            ["scope=repository%3Asrc%3Apull&service=fake-registry"]
        );
        let uploads = upload_puts(&destination);
        assert_eq!(uploads.len(), 1);
        let put = &uploads[0];
        assert!(put.path.starts_with("/v2/dst/blobs/uploads/"), "{put:?}");
        let query = put.query.as_deref().unwrap_or_default();
        assert!(
            query.starts_with("_state=") && query.contains("&digest=sha256%3A"),
            "the Location's own query is kept: {query}"
        );
        assert_eq!(put.status, 201);
        assert_eq!(destination.blob(DESTINATION, &blob.digest), Some(content));
    }

    #[tokio::test]
    async fn a_source_sending_other_bytes_fails_without_retrying_and_stores_nothing() {
        let content = b"the real layer".to_vec();
        let (source, destination) = stand_ins(&content).await;
        let blob = Descriptor::of(&content);
        source.set_corrupt(blob.digest.as_str(), true);
        let (from, to) = (source.client(), destination.client());
        let error = copy(&from, &to, std::slice::from_ref(&blob), &|e, _| {
            panic!("a corrupt blob is not retried: {e}")
        })
        .await
        .unwrap_err();
        assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
        assert!(error.to_string().contains("another digest"), "{error}");
        // A body shorter than the manifest says is caught the same way.
        let short = b"the real".to_vec();
        source.put_blob(SOURCE, &short);
        let claimed = Descriptor {
            digest: Digest::of(&short),
            size: content.len() as u64,
        };
        let error = copy(&from, &to, std::slice::from_ref(&claimed), &|e, _| {
            panic!("not retried: {e}")
        })
        .await
        .unwrap_err();
        assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
        let stored: Vec<u16> = upload_puts(&destination).iter().map(|r| r.status).collect();
        assert!(!stored.contains(&201), "{stored:?}");
        assert_eq!(destination.uploads(), 0);
        assert_eq!(destination.blob(DESTINATION, &blob.digest), None);
        assert_eq!(destination.blob(DESTINATION, &claimed.digest), None);
    }

    #[tokio::test]
    async fn a_5xx_is_retried_for_that_blob_only() {
        let first = vec![3u8; 50_000];
        let second = vec![4u8; 50_000];
        let (source, destination) = stand_ins(&first).await;
        source.put_blob(SOURCE, &second);
        destination.fail_next("PUT", "/v2/dst/blobs/uploads/.*", 503, 1);
        let retries = AtomicUsize::new(0);
        let (from, to) = (source.client(), destination.client());
        let blobs = [Descriptor::of(&first), Descriptor::of(&second)];
        let report = copy(&from, &to, &blobs, &|_, _| {
            retries.fetch_add(1, Ordering::SeqCst);
        })
        .await
        .unwrap();
        assert_eq!(report.uploaded, 2);
        assert_eq!(retries.load(Ordering::SeqCst), 1);
        // One blob was sent twice (503, then 201), the other once.
        let mut per_blob: Vec<Vec<u16>> = blobs
            .iter()
            .map(|blob| {
                let digest = blob.digest.as_str().replace(':', "%3A");
                upload_puts(&destination)
                    .iter()
                    .filter(|r| r.query.as_deref().unwrap_or_default().contains(&digest))
                    .map(|r| r.status)
                    .collect()
            })
            .collect();
        per_blob.sort();
        assert_eq!(per_blob, [vec![201], vec![503, 201]]);
        assert_eq!(destination.uploads(), 2);
        assert_eq!(destination.blob(DESTINATION, &blobs[0].digest), Some(first));
        assert_eq!(
            destination.blob(DESTINATION, &blobs[1].digest),
            Some(second)
        );
    }

    #[tokio::test]
    async fn wrong_source_credentials_are_refused_and_not_retried() {
        let content = b"x".to_vec();
        let blob = Descriptor::of(&content);
        let (bearer, destination) = stand_ins(&content).await;
        let basic = FakeRegistry::basic("reader", "pw").await;
        basic.put_blob(SOURCE, &content);
        let to = destination.client();
        let wrong = Some(("reader".to_string(), "wrong".to_string()));
        // Behind a token service, the token service refuses them.
        let from = RegistryClient::challenged(
            bearer.http(),
            bearer.url(),
            wrong.clone(),
            "the base-image credentials",
        );
        let error = copy(&from, &to, std::slice::from_ref(&blob), &|e, _| {
            panic!("not retried: {e}")
        })
        .await
        .unwrap_err();
        assert!(matches!(error, RegistryError::Token(_)), "{error}");
        assert!(
            error.to_string().contains("refused the credentials"),
            "{error}"
        );
        // Asked for Basic, the registry itself refuses them.
        let from = RegistryClient::challenged(
            basic.http(),
            basic.url(),
            wrong,
            "the base-image credentials",
        );
        let error = copy(&from, &to, &[blob], &|e, _| panic!("not retried: {e}"))
            .await
            .unwrap_err();
        assert!(matches!(error, RegistryError::Refused { .. }), "{error}");
        assert!(
            error.to_string().contains("the base-image credentials"),
            "{error}"
        );
        assert!(upload_puts(&destination).is_empty());
    }
}
