//! Writing a [`PreparedImage`] to a repository, like go-containerregistry's `remote.Write`:
//! every blob first (the source's copied registry to registry, the new ones uploaded), each only
//! when missing; then an index's manifests by digest; then the top manifest under one tag. A tag
//! is written only after everything it points to exists.

use std::time::Duration;

use super::client::{classify, RegistryClient, RegistryError};
use super::copy::{self, CopyReport, Endpoint};
use super::prepared::{PreparedImage, UploadBody};
use futures_util::{stream, StreamExt};

use crate::oci::{Descriptor, Digest};
use crate::retry::Attempt;

pub type OnRetry<'a> = &'a (dyn Fn(&RegistryError, Duration) + Sync);

/// What writing an image did.
#[derive(Debug, Clone, Default)]
pub struct WriteReport {
    /// The source's blobs: present, mounted or copied.
    pub copied: CopyReport,
    /// Blobs made here: sent, or already there.
    pub uploaded: usize,
    pub present: usize,
    /// The digests of the blobs made here that were sent.
    pub sent: Vec<Digest>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot copy the image's blobs: {0}")]
    Copy(RegistryError),
    #[error("cannot upload {digest}: {error}")]
    Upload {
        digest: String,
        error: RegistryError,
    },
    #[error(transparent)]
    Manifest(RegistryError),
}

/// Writes `image` into `repository` and names it `tag`.
pub async fn write(
    registry: &RegistryClient,
    repository: &str,
    image: &PreparedImage,
    tag: &str,
    on_retry: OnRetry<'_>,
) -> Result<WriteReport, WriteError> {
    let destination = Endpoint {
        registry,
        repository,
    };
    let copied = match &image.source {
        Some(from) => {
            let source = Endpoint {
                registry: &from.registry,
                repository: &from.repository,
            };
            copy::copy_blobs(source, destination, &image.source_blobs, on_retry)
                .await
                .map_err(WriteError::Copy)?
        }
        None => CopyReport::default(),
    };
    let mut report = WriteReport {
        copied,
        ..WriteReport::default()
    };
    // Uploads go side by side, as copies do: a registry takes several streams faster than one.
    let mut uploads = stream::iter(&image.uploads)
        .map(|upload| async move {
            upload_missing(registry, repository, &upload.blob, &upload.body, on_retry)
                .await
                .map(|sent| (upload, sent))
                .map_err(|error| WriteError::Upload {
                    digest: upload.blob.digest.to_string(),
                    error,
                })
        })
        .buffer_unordered(copy::PARALLEL_BLOBS);
    while let Some(done) = uploads.next().await {
        let (upload, sent) = done?;
        if sent {
            report.uploaded += 1;
            report.sent.push(upload.blob.digest.clone());
        } else {
            report.present += 1;
        }
    }
    drop(uploads);
    // An index's manifests by digest, before the index names them.
    for child in &image.children {
        registry
            .put_manifest(repository, child.digest.as_str(), child, on_retry)
            .await
            .map_err(WriteError::Manifest)?;
    }
    registry
        .put_manifest(repository, tag, &image.manifest, on_retry)
        .await
        .map_err(WriteError::Manifest)?;
    Ok(report)
}

/// Uploads a blob unless the repository has it, retrying what may pass on another try; `true`
/// when it was sent.
pub async fn upload_missing(
    registry: &RegistryClient,
    repository: &str,
    blob: &Descriptor,
    body: &UploadBody,
    on_retry: OnRetry<'_>,
) -> Result<bool, RegistryError> {
    registry
        .retrying(
            || async {
                if registry
                    .has_blob(repository, &blob.digest)
                    .await
                    .map_err(classify)?
                {
                    return Ok(false);
                }
                let body = request_body(body).await.map_err(Attempt::Fail)?;
                registry
                    .upload_blob(repository, &blob.digest, blob.size, body)
                    .await
                    .map_err(classify)?;
                Ok(true)
            },
            on_retry,
        )
        .await
}

/// A fresh body for each try: a streamed file is opened again.
async fn request_body(body: &UploadBody) -> Result<reqwest::Body, RegistryError> {
    match body {
        UploadBody::Bytes(bytes) => Ok(reqwest::Body::from(bytes.clone())),
        UploadBody::File(path) => {
            let file =
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| RegistryError::Unexpected {
                        url: String::new(),
                        status: reqwest::StatusCode::OK,
                        what: format!("read {}", path.display()),
                        detail: format!(": {e}"),
                    })?;
            Ok(reqwest::Body::wrap_stream(
                tokio_util::io::ReaderStream::new(file),
            ))
        }
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
