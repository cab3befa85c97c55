//! The push step, doing only the work that is missing.
//!
//! 1. Look every tag up first ([`lookup`]). A tag whose manifest is this image already holds it.
//!    In an immutable repository, a tag that holds another image stops the run before anything
//!    is uploaded.
//! 2. If no tag holds the image yet, write it once under the first missing tag: a prepared
//!    image blob by blob ([`crate::registry::write`]), a daemon image by the daemon's push.
//! 3. Every other missing tag is written by putting the same manifest bytes under it: no blob
//!    is sent again, and each tag is written only after everything it points to exists. Tags
//!    naming the commit go first, moving tags last; a moving tag that holds a newer commit's
//!    image is left where it is ([`newer`]), and the run says it was superseded.

mod daemon;
pub mod dry_run;
mod export;
mod lookup;
mod newer;
pub mod platforms;
#[cfg(test)]
mod tests;

use std::time::Instant;

use crate::artifact::{Artifact, PushReport};
use crate::aws::ecr::RepositoryState;
use crate::engine::docker::DockerEngine;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::oci::Manifest;
use crate::registry::client::RegistryError;
use crate::registry::copy::CopyReport;
use crate::registry::destination::Destination;
use crate::registry::prepared::PreparedImage;
use crate::registry::write::{WriteError, WriteReport};

pub use newer::Commit;

/// What the run asks of the push.
pub struct Asked<'a> {
    pub tags: &'a [String],
    /// `false`: only say what a push would do.
    pub push: bool,
    /// The commit the image is of, when the image is stamped with it (a build or a patch):
    /// then no moving tag is taken back to an older commit.
    pub commit: Option<Commit>,
}

/// Names the image in the daemon (when it is there) as the registry will, as `docker build -t`
/// would have; then pushes it, or with `push: false` says what a push would do.
pub async fn run(
    artifact: &Artifact,
    daemon: Option<&DockerEngine>,
    to: &Destination,
    asked: &Asked<'_>,
    repository: Option<&RepositoryState>,
    workflow: &Workflow,
) -> anyhow::Result<Option<PushReport>> {
    let tags = asked.tags;
    let repository_uri = to.repository_uri();
    if let (Some(engine), Some(local)) = (daemon, artifact.in_daemon()) {
        engine
            .tag(&local.id, &repository_uri, &tags[0])
            .await
            .map_err(Failure::from)?;
    }
    let is_immutable = |tag: &str| repository.is_some_and(|r| r.is_tag_immutable(tag));
    let request = PushRequest {
        artifact,
        daemon,
        to,
        tags,
        is_immutable: &is_immutable,
        commit: asked.commit.as_ref(),
    };
    if !asked.push {
        dry_run::report(&request, repository.is_some(), workflow).await;
        return Ok(None);
    }
    let _group = workflow.group(&format!("Push {repository_uri}:{}", tags[0]));
    let started = Instant::now();
    let report = self::push(&request, workflow).await?;
    workflow.info(&if report.pushed() {
        format!(
            "Pushed {} as {} ({} layers uploaded, {} already present) in {:.1} s.",
            report.digest,
            report.written.join(", "),
            report.layers_uploaded,
            report.layers_present,
            started.elapsed().as_secs_f64()
        )
    } else {
        format!(
            "Nothing to push: every tag already points to {}.",
            report.digest
        )
    });
    Ok(Some(report))
}

pub struct PushRequest<'a> {
    pub artifact: &'a Artifact,
    /// The daemon, for an image only it has.
    pub daemon: Option<&'a DockerEngine>,
    pub to: &'a Destination,
    pub tags: &'a [String],
    /// Whether ECR will refuse to move a tag (immutability, with its exclusions).
    pub is_immutable: &'a dyn Fn(&str) -> bool,
    /// This run's commit, when the image is stamped with it.
    pub commit: Option<&'a Commit>,
}

fn registry_failure(e: RegistryError) -> Failure {
    Failure::new("Registry request failed", e.to_string())
}

async fn push(request: &PushRequest<'_>, workflow: &Workflow) -> anyhow::Result<PushReport> {
    let lookup = lookup::look_up(request, workflow).await?;
    let superseded = say_superseded(&lookup.superseded, workflow);
    let mut written = Vec::new();
    let (manifest, moved) = match lookup.source {
        Some(m) => (m, Moved::default()),
        None if lookup.missing.is_empty() => return Err(nowhere_to_write(&superseded).into()),
        None => {
            let first = &lookup.missing[0];
            let once = write_once(request, first, workflow).await?;
            written.push(first.clone());
            once
        }
    };
    let rest: Vec<&String> = lookup
        .missing
        .iter()
        .filter(|t| !written.contains(*t))
        .collect();
    for tag in rest {
        put_tag(request, tag, &manifest, workflow).await?;
        written.push(tag.clone());
    }
    Ok(PushReport {
        digest: manifest.digest,
        written,
        unchanged: lookup.unchanged,
        layers_uploaded: moved.layers_uploaded,
        layers_present: moved.layers_present,
        base_blobs: moved.base_blobs,
        superseded,
    })
}

/// Says which moving tags are left on a newer commit's image (a notice); returns them.
fn say_superseded(superseded: &[(String, newer::Newer)], workflow: &Workflow) -> Vec<String> {
    let Some((_, newest)) = superseded.iter().max_by_key(|(_, n)| n.created) else {
        return Vec::new();
    };
    let tags: Vec<String> = superseded.iter().map(|(tag, _)| tag.clone()).collect();
    let revision = newest.revision.as_deref().unwrap_or("(no revision label)");
    workflow.annotate(
        Level::Notice,
        "Superseded by a newer commit",
        &format!(
            "{} already hold{} the image of a newer commit ({revision}, {}): left where {}, and \
             no deploy of this older commit follows. Another run of a later commit finished \
             first; a `concurrency:` group on the workflow keeps runs in order.",
            tags.join(", "),
            if tags.len() == 1 { "s" } else { "" },
            newest.created.to_rfc3339(),
            if tags.len() == 1 { "it is" } else { "they are" },
        ),
    );
    tags
}

/// Every tag of the run is a moving one on a newer commit's image: the image has no tag to go
/// under, and moving one back is what must not happen.
fn nowhere_to_write(superseded: &[String]) -> Failure {
    Failure::new(
        "Superseded by a newer commit",
        format!(
            "Every tag this run writes ({}) holds the image of a newer commit, so none is moved \
             back and this commit's image was not pushed. Add a tag that names the commit, for \
             example `sha-{{{{short-sha}}}}` in the tags input, to keep every commit's image.",
            superseded.join(", ")
        ),
    )
}

/// Writes `manifest`, whose blobs the repository holds, under `tag`.
async fn put_tag(
    request: &PushRequest<'_>,
    tag: &str,
    manifest: &Manifest,
    workflow: &Workflow,
) -> Result<(), Failure> {
    request
        .to
        .client
        .put_manifest(
            &request.to.repository,
            tag,
            manifest,
            workflow.retry_notice(),
        )
        .await
        .map_err(registry_failure)
}

/// What writing the image moved.
#[derive(Default)]
struct Moved {
    layers_uploaded: usize,
    layers_present: usize,
    base_blobs: Option<CopyReport>,
}

/// Writes the image under `tag`, the first missing one; returns the manifest the tag holds.
async fn write_once(
    request: &PushRequest<'_>,
    tag: &str,
    workflow: &Workflow,
) -> anyhow::Result<(Manifest, Moved)> {
    match request.artifact {
        Artifact::Prepared { image, .. } => {
            let started = Instant::now();
            let written = write_prepared(request, image, tag, workflow).await?;
            let copied = written.copied;
            if let Some(source) = &image.source {
                workflow.info(&format!(
                    "Blobs from {}: {} already in ECR, {} mounted, {} copied ({} bytes) in {:.2} s.",
                    source.repository,
                    copied.present,
                    copied.mounted,
                    copied.uploaded,
                    copied.bytes_uploaded,
                    started.elapsed().as_secs_f64()
                ));
            }
            let moved = Moved {
                layers_uploaded: copied.uploaded + written.uploaded,
                layers_present: copied.present + copied.mounted + written.present,
                base_blobs: image.source.as_ref().map(|_| copied),
            };
            Ok((image.manifest.clone(), moved))
        }
        Artifact::Stored(manifest) => {
            // Everything it points to is in this repository already: one manifest PUT.
            put_tag(request, tag, manifest, workflow).await?;
            let moved = Moved {
                layers_present: request.artifact.layers(),
                ..Moved::default()
            };
            Ok((manifest.clone(), moved))
        }
        Artifact::Daemon(local) => {
            let engine = request.daemon.ok_or_else(|| {
                Failure::new(
                    "Docker daemon needed",
                    "this image can only be pushed by the daemon",
                )
            })?;
            if export::is_the_faster_route(engine).await? {
                return export::push(engine, local, request, tag, workflow).await;
            }
            let (stored, pushed) = daemon::push(engine, local, request, tag, workflow).await?;
            let moved = Moved {
                layers_uploaded: pushed.layers_uploaded,
                layers_present: pushed.layers_present,
                base_blobs: None,
            };
            Ok((stored, moved))
        }
    }
}

/// Writes a prepared image blob by blob under `tag`.
async fn write_prepared(
    request: &PushRequest<'_>,
    image: &PreparedImage,
    tag: &str,
    workflow: &Workflow,
) -> Result<WriteReport, Failure> {
    crate::registry::write(
        &request.to.client,
        &request.to.repository,
        image,
        tag,
        &workflow.retry_notice(),
    )
    .await
    .map_err(write_failure)
}

fn write_failure(e: WriteError) -> Failure {
    match e {
        WriteError::Copy(e) => Failure::new(
            "Cannot copy the image's blobs",
            format!("{e}. Nothing was tagged."),
        ),
        WriteError::Upload { digest, error } => Failure::new(
            "Upload failed",
            format!("Cannot upload {digest}: {error}. Nothing was tagged."),
        ),
        WriteError::Manifest(e) => registry_failure(e),
    }
}
