//! Pushing an image from the daemon: once, under the first missing tag, with the ECR
//! credentials in the request (never `docker login`); then reading back what the tag holds.

use super::{registry_failure, PushRequest};
use crate::engine::docker::{DaemonPush, DockerEngine, LocalImage};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::Manifest;

pub async fn push(
    engine: &DockerEngine,
    local: &LocalImage,
    request: &PushRequest<'_>,
    tag: &str,
    workflow: &Workflow,
) -> anyhow::Result<(Manifest, DaemonPush)> {
    let name = request.to.repository_uri();
    engine
        .tag(&local.id, &name, tag)
        .await
        .map_err(Failure::from)?;
    let pushed = engine
        .push(
            &name,
            tag,
            &request.to.username,
            &request.to.password,
            &request.to.host,
        )
        .await
        .map_err(Failure::from)?;
    // Read back what the tag now holds: it must be this image (another job on the same daemon
    // could have moved the local name in between).
    let stored = request
        .to
        .client
        .get_manifest(&request.to.repository, tag, workflow.retry_notice())
        .await
        .map_err(registry_failure)?
        .ok_or_else(|| {
            Failure::new(
                "Push not found",
                format!("the daemon pushed {name}:{tag}, but the registry does not have it"),
            )
        })?;
    if !request.artifact.is(&name, &stored) {
        return Err(Failure::new(
            "Pushed the wrong image",
            format!(
                "{name}:{tag} in the registry is not image {} (another job may have re-tagged it \
                 on this daemon at the same time). Re-run the job.",
                local.id
            ),
        )
        .into());
    }
    Ok((stored, pushed))
}
