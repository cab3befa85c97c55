//! Pushing an image from the daemon under several tags, doing only the work that is missing.
//!
//! 1. Look every tag up in the registry first. A tag whose manifest has this image's config
//!    (the image id) already holds this image. In an immutable repository, a tag that holds
//!    another image stops the run before anything is uploaded.
//! 2. If no tag holds the image yet, the daemon pushes it once, under the first missing tag.
//! 3. Every other missing tag is written by putting the same manifest bytes under it: no blob
//!    is sent again, and each tag is written only after everything it points to exists.

use std::time::Duration;

use crate::engine::docker::{DockerEngine, LocalImage};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::registry::client::{classify, Manifest, RegistryClient, RegistryError};
use crate::registry::copy::{self, Blob, CopyReport, Endpoint};
use crate::registry::prepared::{PreparedImage, UploadBody};

pub struct PushRequest<'a> {
    pub image: &'a LocalImage,
    pub repository: &'a str,
    pub registry_host: &'a str,
    pub tags: &'a [String],
    /// Whether ECR will refuse to move a tag (immutability, with its exclusions).
    pub is_immutable: &'a dyn Fn(&str) -> bool,
    pub username: &'a str,
    pub password: &'a str,
    /// A patched or mirrored image, written blob by blob instead of by the daemon (see
    /// [`DirectUpload`]).
    pub direct: Option<DirectUpload<'a>>,
}

/// Why a patched or mirrored image is written blob by blob ([`PreparedImage`]) and never by
/// the daemon: the daemon compresses layers anew for each registry, and for a layer it knows
/// several digests of it checks only one in the destination before re-compressing, so a base's
/// layers would not keep their digests. Instead the source's blobs are copied as they are, the
/// new ones uploaded as made, and the manifests written last.
pub type DirectUpload<'a> = &'a PreparedImage;

#[derive(Debug, Clone, Default)]
pub struct PushReport {
    /// The digest of the manifest the tags point to, as the registry holds it.
    pub digest: String,
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub layers_uploaded: usize,
    pub layers_present: usize,
    /// The base's layers, copied registry to registry (patch mode).
    pub base_blobs: Option<CopyReport>,
}

impl PushReport {
    pub fn pushed(&self) -> bool {
        !self.written.is_empty()
    }
}

fn registry_failure(e: RegistryError) -> Failure {
    Failure::new("Registry request failed", e.to_string())
}

/// What the registry holds for the tags, before anything is written.
pub struct Lookup {
    /// A manifest of this image already in the registry, under some tag.
    pub source: Option<Manifest>,
    pub unchanged: Vec<String>,
    pub missing: Vec<String>,
}

/// Looks every tag up (reads only). A tag that holds another image where ECR will not move it
/// is an error: nothing has been written yet.
pub async fn look_up(
    registry: &RegistryClient,
    request: &PushRequest<'_>,
    workflow: &Workflow,
) -> anyhow::Result<Lookup> {
    let local = format!("{}/{}", request.registry_host, request.repository);
    let mut lookup = Lookup {
        source: None,
        unchanged: Vec::new(),
        missing: Vec::new(),
    };
    for tag in request.tags {
        let current = registry
            .get_manifest(request.repository, tag, workflow.retry_notice())
            .await
            .map_err(registry_failure)?;
        match current {
            Some(m)
                if request
                    .image
                    .is(&local, &m.digest, m.config_digest().as_deref()) =>
            {
                lookup.unchanged.push(tag.clone());
                lookup.source.get_or_insert(m);
            }
            Some(m) if (request.is_immutable)(tag) => {
                return Err(immutable_conflict(request, tag, &m).into());
            }
            _ => lookup.missing.push(tag.clone()),
        }
    }
    Ok(lookup)
}

pub async fn push(
    engine: Option<&DockerEngine>,
    registry: &RegistryClient,
    request: &PushRequest<'_>,
    workflow: &Workflow,
) -> anyhow::Result<PushReport> {
    let local = format!("{}/{}", request.registry_host, request.repository);
    let is_this_image = |m: &Manifest| {
        request
            .image
            .is(&local, &m.digest, m.config_digest().as_deref())
    };
    let Lookup {
        source,
        unchanged,
        missing,
    } = look_up(registry, request, workflow).await?;
    let mut report = PushReport {
        unchanged,
        ..PushReport::default()
    };

    let manifest = match source {
        Some(m) => m,
        None => {
            let first = &missing[0];
            if let Some(direct) = request.direct {
                upload_directly(registry, request, direct, &mut report, workflow).await?;
                registry
                    .put_manifest(
                        request.repository,
                        first,
                        &direct.manifest,
                        workflow.retry_notice(),
                    )
                    .await
                    .map_err(registry_failure)?;
                report.written.push(first.clone());
                return finish(
                    registry,
                    request,
                    direct.manifest.clone(),
                    missing,
                    report,
                    workflow,
                )
                .await;
            }
            let engine = engine.ok_or_else(|| {
                Failure::new(
                    "Docker daemon needed",
                    "this image can only be pushed by the daemon",
                )
            })?;
            engine
                .tag(&request.image.id, &local, first)
                .await
                .map_err(Failure::from)?;
            let pushed = engine
                .push(
                    &local,
                    first,
                    request.username,
                    request.password,
                    request.registry_host,
                )
                .await
                .map_err(Failure::from)?;
            report.layers_uploaded = pushed.layers_uploaded;
            report.layers_present = pushed.layers_present;
            report.written.push(first.clone());
            // Read back what the tag now holds: it must be this image (another job on the
            // same daemon could have moved the local name in between).
            let stored = registry
                .get_manifest(request.repository, first, workflow.retry_notice())
                .await
                .map_err(registry_failure)?
                .ok_or_else(|| {
                    Failure::new(
                        "Push not found",
                        format!(
                            "the daemon pushed {local}:{first}, but the registry does not have it"
                        ),
                    )
                })?;
            if !is_this_image(&stored) {
                return Err(Failure::new(
                    "Pushed the wrong image",
                    format!(
                        "{local}:{first} in the registry is not image {} (another job may have \
                         re-tagged it on this daemon at the same time). Re-run the job.",
                        request.image.id
                    ),
                )
                .into());
            }
            stored
        }
    };
    finish(registry, request, manifest, missing, report, workflow).await
}

/// Writes every tag still missing by putting the same manifest under it; no blob moves again.
async fn finish(
    registry: &RegistryClient,
    request: &PushRequest<'_>,
    manifest: Manifest,
    missing: Vec<String>,
    mut report: PushReport,
    workflow: &Workflow,
) -> anyhow::Result<PushReport> {
    let rest: Vec<String> = missing
        .into_iter()
        .filter(|t| !report.written.contains(t))
        .collect();
    for tag in &rest {
        registry
            .put_manifest(request.repository, tag, &manifest, workflow.retry_notice())
            .await
            .map_err(registry_failure)?;
        report.written.push(tag.clone());
    }
    report.digest = manifest.digest;
    Ok(report)
}

/// Every blob of a patched image into the repository: the base's copied from its registry, the
/// new layer and the config uploaded, each only when missing. Tags come after, from the caller.
async fn upload_directly(
    registry: &RegistryClient,
    request: &PushRequest<'_>,
    direct: &PreparedImage,
    report: &mut PushReport,
    workflow: &Workflow,
) -> anyhow::Result<()> {
    let notice = workflow.retry_notice();
    let destination = Endpoint {
        registry,
        repository: request.repository,
    };
    let source = Endpoint {
        registry: &direct.source,
        repository: &direct.source_repository,
    };
    let started = std::time::Instant::now();
    let copied = copy::copy_blobs(source, destination, &direct.source_blobs, &notice)
        .await
        .map_err(|e| {
            Failure::new(
                "Cannot copy the image's blobs",
                format!("{e}. Nothing was tagged."),
            )
        })?;
    workflow.info(&format!(
        "Blobs from {}: {} already in ECR, {} mounted, {} copied ({} bytes) in {:.2} s.",
        direct.source_repository,
        copied.present,
        copied.mounted,
        copied.uploaded,
        copied.bytes_uploaded,
        started.elapsed().as_secs_f64()
    ));
    report.layers_uploaded += copied.uploaded;
    report.layers_present += copied.present + copied.mounted;
    report.base_blobs = Some(copied);

    for upload in &direct.uploads {
        let sent = upload_once(
            registry,
            request.repository,
            &upload.blob,
            &notice,
            || async {
                match &upload.body {
                    UploadBody::Bytes(bytes) => Ok(reqwest::Body::from(bytes.clone())),
                    UploadBody::File(path) => {
                        let file = tokio::fs::File::open(path).await.map_err(|e| {
                            RegistryError::Unexpected {
                                url: String::new(),
                                status: reqwest::StatusCode::OK,
                                what: format!("read {}", path.display()),
                                detail: format!(": {e}"),
                            }
                        })?;
                        Ok(reqwest::Body::wrap_stream(
                            tokio_util::io::ReaderStream::new(file),
                        ))
                    }
                }
            },
        )
        .await
        .map_err(|e| {
            Failure::new(
                "Upload failed",
                format!(
                    "Cannot upload {}: {e}. Nothing was tagged.",
                    upload.blob.digest
                ),
            )
        })?;
        if sent {
            report.layers_uploaded += 1;
        } else {
            report.layers_present += 1;
        }
    }
    // An index's manifests by digest, before the index names them.
    for child in &direct.children {
        registry
            .put_manifest(
                request.repository,
                &child.digest,
                child,
                workflow.retry_notice(),
            )
            .await
            .map_err(registry_failure)?;
    }
    Ok(())
}

/// Uploads a blob unless the repository has it, retrying what may pass on another try; `true`
/// when it was sent.
async fn upload_once<F, Fut>(
    registry: &RegistryClient,
    repository: &str,
    blob: &Blob,
    notice: &(dyn Fn(&RegistryError, Duration) + Sync),
    body: F,
) -> Result<bool, RegistryError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Body, RegistryError>>,
{
    crate::retry::retry(
        crate::retry::Backoff::STANDARD,
        || async {
            if registry
                .has_blob(repository, &blob.digest)
                .await
                .map_err(classify)?
            {
                return Ok(false);
            }
            let body = body().await.map_err(crate::retry::Attempt::Fail)?;
            registry
                .upload_blob(repository, &blob.digest, blob.size, body)
                .await
                .map_err(classify)?;
            Ok(true)
        },
        notice,
    )
    .await
}

fn immutable_conflict(request: &PushRequest<'_>, tag: &str, existing: &Manifest) -> Failure {
    let existing_image = existing
        .config_digest()
        .map(|c| format!(" (image {c})"))
        .unwrap_or_default();
    Failure::new(
        "Tag already exists",
        format!(
            "The repository '{}' has immutable tags, and the tag '{tag}' already points to \
             another image: {}{existing_image} in the registry, while this run has image {}. \
             Nothing was pushed. Give each build its own tag, for example `sha-{{{{short-sha}}}}` \
             or `{{{{run-number}}}}` in the tags input, or use a mutable repository.",
            request.repository, existing.digest, request.image.id
        ),
    )
}
