//! Pushing an image from the daemon: once, under the first missing tag, with the ECR
//! credentials in the request (never `docker login`); then reading back what the tag holds.
//! The daemon cannot renew credentials mid-push, so a push the registry refuses is made again,
//! once, with the credentials the registry client renews (as its own requests are): the
//! daemon skips the blobs the first push uploaded.

use super::{registry_failure, PushRequest};
use crate::engine::docker::{DaemonPush, DockerEngine, DockerError, LocalImage};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::Manifest;
use crate::registry::renewal::AfterRefusal;

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
    let pushed = push_renewing(engine, &name, tag, request).await?;
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

/// The daemon's push of `name:tag` with the destination's login; once more with a renewed login
/// when the registry refused it and a renewal is possible.
async fn push_renewing(
    engine: &DockerEngine,
    name: &str,
    tag: &str,
    request: &PushRequest<'_>,
) -> Result<DaemonPush, Failure> {
    let to = request.to;
    let login = || {
        to.client
            .basic_login()
            .unwrap_or_else(|| (0, (to.username.clone(), to.password.clone())))
    };
    let (sent, (username, password)) = login();
    match engine.push(name, tag, &username, &password, &to.host).await {
        Err(DockerError::CredentialsRefused(why)) => match to.client.login_refused(sent).await {
            Ok(AfterRefusal::SendAgain) => {
                let (_, (username, password)) = login();
                match engine.push(name, tag, &username, &password, &to.host).await {
                    Err(DockerError::CredentialsRefused(again)) => {
                        Err(DockerError::CredentialsRefused(format!(
                            "the ECR credentials, fetched afresh after an earlier refusal, \
                             were refused too: {again}"
                        ))
                        .into())
                    }
                    pushed => Ok(pushed?),
                }
            }
            Ok(AfterRefusal::Final) => Err(DockerError::CredentialsRefused(why).into()),
            Err(renewal) => Err(DockerError::CredentialsRefused(format!(
                "{why}; fresh credentials could not be had: {renewal}"
            ))
            .into()),
        },
        pushed => Ok(pushed?),
    }
}
