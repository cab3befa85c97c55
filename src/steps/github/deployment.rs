//! The deployment record: a GitHub deployment of the pushed digest to the environment the user
//! named, then its outcome, linking to the image in the ECR console. GitHub's deployments page
//! then says which digest went where, and when.

use serde_json::json;

use crate::github::api::{DeploymentStatus, GitHubApi, NewDeployment};
use crate::github::commands::Workflow;

/// The permission the deployment calls need, as the `permissions:` line.
const PERMISSION: &str = "deployments: write";

/// The image a deployment records.
pub struct DeployedImage<'a> {
    pub environment: &'a str,
    /// The commit deployed (`GITHUB_SHA`).
    pub commit: &'a str,
    /// `host/repository@sha256:...`.
    pub image_by_digest: &'a str,
    pub digest: &'a str,
    /// The image's page in the ECR console (see [`console_url`]).
    pub console_url: String,
    /// This run's page, when the run is known.
    pub log_url: Option<String>,
}

/// A deployment created, to report on.
#[derive(Clone)]
pub struct Record {
    pub id: u64,
    environment_url: String,
    log_url: Option<String>,
}

/// Creates the deployment; `None` (with one warning) when GitHub refused it.
pub async fn create(
    api: &GitHubApi,
    image: &DeployedImage<'_>,
    workflow: &Workflow,
) -> Option<Record> {
    let deployment = NewDeployment {
        git_ref: image.commit.to_string(),
        environment: image.environment.to_string(),
        description: format!("ship-to-ecr pushed {}", image.digest),
        payload: json!({
            "image": image.image_by_digest,
            "digest": image.digest,
        }),
        auto_merge: false,
        required_contexts: Vec::new(),
        production_environment: image.environment.eq_ignore_ascii_case("production"),
    };
    match api
        .create_deployment(&deployment, super::retry_line(workflow))
        .await
    {
        Ok(id) => {
            workflow.info(&format!(
                "GitHub deployment {id} to {} records {}.",
                image.environment, image.digest
            ));
            Some(Record {
                id,
                environment_url: image.console_url.clone(),
                log_url: image.log_url.clone(),
            })
        }
        Err(e) => {
            super::warn(workflow, "The deployment record", PERMISSION, &e);
            None
        }
    }
}

/// The state a deployment is in: `in_progress` while a later step works on it, then `success`
/// or `failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    InProgress,
    Success,
    Failure,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::InProgress => "in_progress",
            State::Success => "success",
            State::Failure => "failure",
        }
    }
}

/// Records the deployment's state; a refusal is one warning.
pub async fn report(
    api: &GitHubApi,
    record: &Record,
    state: State,
    description: &str,
    workflow: &Workflow,
) {
    let status = DeploymentStatus {
        state: state.as_str(),
        environment_url: Some(record.environment_url.clone()),
        log_url: record.log_url.clone(),
        description: description.chars().take(140).collect(),
    };
    if let Err(e) = api
        .set_deployment_status(record.id, &status, super::retry_line(workflow))
        .await
    {
        super::warn(workflow, "The deployment's status", PERMISSION, &e);
    }
}

/// The image's page in the ECR console.
pub fn console_url(region: &str, registry_id: &str, repository: &str, digest: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/ecr/repositories/private/{registry_id}/\
         {repository}/_/image/{digest}/details?region={region}"
    )
}

/// The run's page: `{server}/{owner}/{repo}/actions/runs/{id}`.
pub fn log_url(
    server: Option<&str>,
    repository: Option<&str>,
    run_id: Option<&str>,
) -> Option<String> {
    let server = server.unwrap_or("https://github.com").trim_end_matches('/');
    Some(format!("{server}/{}/actions/runs/{}", repository?, run_id?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_link_names_the_image_by_digest() {
        assert_eq!(
            console_url("eu-west-1", "123456789012", "octo-org/web-app", "sha256:ab"),
            "https://eu-west-1.console.aws.amazon.com/ecr/repositories/private/123456789012/\
             octo-org/web-app/_/image/sha256:ab/details?region=eu-west-1"
        );
        assert_eq!(
            log_url(Some("https://ghe.example.com/"), Some("o/r"), Some("7")).as_deref(),
            Some("https://ghe.example.com/o/r/actions/runs/7")
        );
        assert_eq!(log_url(None, Some("o/r"), None), None);
    }
}
