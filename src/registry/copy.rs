//! Copying blobs from one registry to another without a disk or a whole layer in memory: skip
//! what the destination has, mount within one registry, else stream the source's response
//! straight into a monolithic upload, checking the digest on the way. A few blobs at a time;
//! each blob is retried on its own, so one failure does not resend the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::client::{classify, RegistryClient, RegistryError};
use crate::retry::{self, Backoff};

/// Blobs in flight at once (docker pushes 5 at a time, crane 4).
pub const PARALLEL_BLOBS: usize = 4;

/// A blob as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

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
    blobs: &[Blob],
    on_retry: &(dyn Fn(&RegistryError, Duration) + Sync),
) -> Result<CopyReport, RegistryError> {
    let outcomes: Vec<Outcome> = futures_util::stream::iter(blobs)
        .map(|blob| {
            retry::retry(
                Backoff::STANDARD,
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
    blob: &Blob,
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
                digest: blob.digest.clone(),
                why: format!(
                    "the source sends {length} bytes, its manifest says {}",
                    blob.size
                ),
            });
        }
    }
    let mismatch = Arc::new(AtomicBool::new(false));
    let body = verified(response, blob.digest.clone(), mismatch.clone());
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
            digest: blob.digest.clone(),
            why: "the bytes the source sent have another digest".into(),
        });
    }
    uploaded.map(|_| Outcome::Uploaded(blob.size))
}

/// The response's bytes, hashed as they pass; at the end, an error instead of the end of the
/// stream when the digest differs, so the upload never completes.
fn verified(
    response: reqwest::Response,
    digest: String,
    mismatch: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let hasher = Sha256::new();
    let chunks = response
        .bytes_stream()
        .map(|c| c.map_err(std::io::Error::other));
    futures_util::stream::unfold(
        (chunks.boxed(), Some(hasher)),
        move |(mut chunks, hasher)| {
            let digest = digest.clone();
            let mismatch = mismatch.clone();
            async move {
                let mut hasher = hasher?;
                match chunks.next().await {
                    Some(Ok(chunk)) => {
                        hasher.update(&chunk);
                        Some((Ok(chunk), (chunks, Some(hasher))))
                    }
                    Some(Err(e)) => Some((Err(e), (chunks, None))),
                    None => {
                        let actual = format!("sha256:{:x}", hasher.finalize());
                        if actual == digest {
                            None
                        } else {
                            mismatch.store(true, Ordering::SeqCst);
                            Some((
                                Err(std::io::Error::other(format!(
                                    "digest mismatch: expected {digest}, got {actual}"
                                ))),
                                (chunks, None),
                            ))
                        }
                    }
                }
            }
        },
    )
}
