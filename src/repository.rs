//! The ECR repository step: find the repository, create it when allowed and asked (only when
//! pushing), keep its lifecycle policy as asked, and say what was done.

use reqwest::Url;

use crate::aws::ecr::{self, EcrFailure, LifecycleChange, RepositoryState};
use crate::credentials::AwsSession;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::inputs::{Plan, RepositoryPlan};

/// The repository as this run leaves it.
pub struct RepositoryOutcome {
    /// `None` when it does not exist and this run writes nothing (push: false).
    pub state: Option<RepositoryState>,
    pub lifecycle: LifecycleChange,
}

pub async fn prepare(
    client: &aws_sdk_ecr::Client,
    plan: &Plan,
    account: &str,
    workflow: &Workflow,
    session: &AwsSession,
) -> anyhow::Result<RepositoryOutcome> {
    let _group = workflow.group("ECR repository");
    let wanted = &plan.repository;
    let fail = |e| ecr_failure(e, session, wanted);
    let existing = ecr::describe_repository(client, wanted)
        .await
        .map_err(fail)?;
    if !plan.image.push {
        match &existing {
            Some(repo) => workflow.info(&format!(
                "Repository {} exists. push is false: nothing is created or changed in ECR.",
                repo.uri
            )),
            None => workflow.info(&format!(
                "Repository '{}' does not exist; push is false, so it is not created.",
                wanted.name
            )),
        }
        return Ok(RepositoryOutcome {
            state: existing,
            lifecycle: LifecycleChange::NotAsked,
        });
    }
    let repo = match existing {
        Some(repo) => repo,
        None => create(client, plan, account, workflow, session).await?,
    };
    let lifecycle = ecr::apply_lifecycle_policy(client, &repo, wanted.lifecycle_policy.as_ref())
        .await
        .map_err(fail)?;
    report_repository(workflow, &repo, lifecycle);
    warn_if_not_immutable(workflow, wanted, &repo);
    Ok(RepositoryOutcome {
        state: Some(repo),
        lifecycle,
    })
}

async fn create(
    client: &aws_sdk_ecr::Client,
    plan: &Plan,
    account: &str,
    workflow: &Workflow,
    session: &AwsSession,
) -> anyhow::Result<RepositoryState> {
    let wanted = &plan.repository;
    let owner = wanted.registry_id.as_deref().unwrap_or(account);
    if !wanted.create {
        return Err(Failure::new(
            "Repository not found",
            format!(
                "The ECR repository '{}' does not exist in account {owner}, region {}, and \
                 create-repository is false. Create it first, or set create-repository: true \
                 (the role then needs ecr:CreateRepository).",
                wanted.name, plan.region
            ),
        )
        .into());
    }
    workflow.info(&format!(
        "Repository '{}' does not exist in account {owner}: creating it.",
        wanted.name
    ));
    Ok(ecr::create_repository(client, wanted)
        .await
        .map_err(|e| ecr_failure(e, session, wanted))?)
}

fn report_repository(workflow: &Workflow, repo: &RepositoryState, lifecycle: LifecycleChange) {
    if repo.created {
        workflow.info(&format!(
            "Created {} (scan on push {}, tags {}, encryption {}).",
            repo.uri, repo.scan_on_push, repo.tag_mutability, repo.encryption
        ));
    } else {
        workflow.info(&format!(
            "Repository {} exists (scan on push {}, tags {}, encryption {}); its settings are kept.",
            repo.uri, repo.scan_on_push, repo.tag_mutability, repo.encryption
        ));
    }
    match lifecycle {
        LifecycleChange::NotAsked => {}
        LifecycleChange::Unchanged => workflow.info("Lifecycle policy: already as asked."),
        LifecycleChange::Applied => workflow.info("Lifecycle policy: applied."),
    }
    if !repo.created && lifecycle != LifecycleChange::Applied {
        workflow.info("Nothing was created or changed in ECR.");
    }
}

/// Settings apply only on creation; but a user who asks for immutable tags relies on them, so
/// a repository that does not have them is worth a warning (the default asks for nothing).
fn warn_if_not_immutable(workflow: &Workflow, wanted: &RepositoryPlan, repo: &RepositoryState) {
    if !repo.created
        && wanted.settings.tag_mutability == "IMMUTABLE"
        && !repo.tag_mutability.starts_with("IMMUTABLE")
    {
        workflow.annotate(
            Level::Warning,
            "Tags are not immutable",
            &format!(
                "tag-mutability is IMMUTABLE, but the existing repository '{}' has {} tags. \
                 Settings apply only when the action creates a repository; change this one with \
                 `aws ecr put-image-tag-mutability --repository-name {} --image-tag-mutability IMMUTABLE`.",
                repo.name, repo.tag_mutability, repo.name
            ),
        );
    }
}

/// The registry's host[:port] for image names, and its base URL for requests.
pub fn registry_address(
    plan: &Plan,
    repo: Option<&RepositoryState>,
    proxy_endpoint: &str,
) -> anyhow::Result<(String, Url)> {
    if let Some(url) = &plan.registry_url {
        let host = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        return Ok((host, url.clone()));
    }
    let host = match repo {
        Some(repo) => repo.uri.split('/').next().unwrap_or_default().to_string(),
        // No repository yet: ECR's endpoint for the caller, moved to the owning account.
        None => {
            let host = proxy_endpoint
                .trim_start_matches("https://")
                .trim_end_matches('/');
            match (&plan.repository.registry_id, host.split_once('.')) {
                (Some(owner), Some((_, rest))) => format!("{owner}.{rest}"),
                _ => host.to_string(),
            }
        }
    };
    let base = Url::parse(&format!("https://{host}")).map_err(|_| {
        Failure::new(
            "Unexpected registry address",
            format!("ECR reported the registry '{host}', which is not a host name"),
        )
    })?;
    Ok((host, base))
}

pub fn ecr_failure(e: EcrFailure, session: &AwsSession, repo: &RepositoryPlan) -> Failure {
    let action = e.action;
    if e.error.is_access_denied() {
        let mut message = format!(
            "{} may not call {action} on the repository '{}' ({}). Add \"{action}\" to the \
             role's permissions policy",
            session.principal, repo.name, e.error
        );
        message.push_str(match action {
            "ecr:CreateRepository" => {
                ", or create the repository beforehand: a role that only pushes to an existing \
                 repository needs no ecr:CreateRepository."
            }
            "ecr:GetLifecyclePolicy" | "ecr:PutLifecyclePolicy" => {
                ", or leave lifecycle-policy and keep-images empty to keep the repository's \
                 policy as it is."
            }
            _ => ".",
        });
        return Failure::new(format!("Not allowed: {action}"), message);
    }
    let hint = if e.error.is("KmsException") {
        " Check that the KMS key exists in this region and that its key policy lets the role use it."
    } else {
        ""
    };
    Failure::new(
        format!("{action} failed"),
        format!("{action} for '{}' failed: {}.{hint}", repo.name, e.error),
    )
}
