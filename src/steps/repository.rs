//! The ECR repository step: find the repository, create it when allowed and asked (only when
//! pushing), keep its lifecycle policy as asked, and say what was done.

use aws_sdk_ecr::types::ImageTagMutability;

use crate::aws::ecr::{self, LifecycleChange, NewRepository, RepositoryState};
use crate::aws::explain::ecr_failure;
use crate::aws::session::AwsSession;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::inputs::cache::CACHE_TAG;
use crate::inputs::{Plan, RepositoryPlan};

/// The repository as this run leaves it.
pub struct RepositoryOutcome {
    /// `None` when it does not exist and this run writes nothing (push: false).
    pub state: Option<RepositoryState>,
    pub lifecycle: LifecycleChange,
}

/// The repository, if it exists; a refusal explained.
async fn find(
    client: &aws_sdk_ecr::Client,
    wanted: &RepositoryPlan,
    session: &AwsSession,
) -> Result<Option<RepositoryState>, Failure> {
    ecr::describe_repository(client, &wanted.name, wanted.registry_id.as_deref())
        .await
        .map_err(|e| ecr_failure(e, &session.principal, &wanted.name))
}

/// The repository as a build sees it, read only.
pub struct BuildView {
    pub exists: bool,
    /// Some tag of the image cannot be moved once written.
    pub tags_immutable: bool,
    /// The registry cache's tag (`buildcache`) cannot be rewritten.
    pub cache_tag_immutable: bool,
}

/// Whether the repository exists and which of the tags a build writes are immutable; a
/// repository still to be created gets the settings the plan asks for.
pub async fn build_view(
    client: &aws_sdk_ecr::Client,
    plan: &Plan,
    session: &AwsSession,
) -> anyhow::Result<BuildView> {
    let wanted = &plan.repository;
    Ok(match find(client, wanted, session).await? {
        Some(repo) => BuildView {
            exists: true,
            tags_immutable: plan.image.tags.iter().any(|t| repo.is_tag_immutable(t)),
            cache_tag_immutable: repo.is_tag_immutable(CACHE_TAG),
        },
        None => {
            let immutable = matches!(
                wanted.settings.tag_mutability,
                ImageTagMutability::Immutable | ImageTagMutability::ImmutableWithExclusion
            );
            BuildView {
                exists: false,
                tags_immutable: immutable,
                cache_tag_immutable: immutable,
            }
        }
    })
}

/// The digests of the images pushed last to the repository, newest first (a read only). A role
/// without `ecr:DescribeImages` still works: earlier builds are then looked for by tag only.
pub async fn recent_images(
    client: &aws_sdk_ecr::Client,
    plan: &Plan,
    workflow: &Workflow,
) -> Vec<String> {
    let wanted = &plan.repository;
    match ecr::recent_images(client, &wanted.name, wanted.registry_id.as_deref(), 20).await {
        Ok(recent) => recent,
        Err(e) => {
            workflow.info(&format!(
                "The images pushed last cannot be listed ({}: {}); an earlier build of the same \
                 inputs is looked for by tag only.",
                e.action, e.error
            ));
            Vec::new()
        }
    }
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
    let fail = |e| ecr_failure(e, &session.principal, &wanted.name);
    let existing = find(client, wanted, session).await?;
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
    let policy = wanted.lifecycle_policy.as_ref().map(|p| p.text.as_str());
    let lifecycle = ecr::apply_lifecycle_policy(client, &repo, policy)
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
    Ok(ecr::create_repository(client, &new_repository(wanted))
        .await
        .map_err(|e| ecr_failure(e, &session.principal, &wanted.name))?)
}

/// The repository the plan asks for, as ECR creates it.
fn new_repository(wanted: &RepositoryPlan) -> NewRepository {
    let settings = &wanted.settings;
    NewRepository {
        name: wanted.name.clone(),
        registry_id: wanted.registry_id.clone(),
        scan_on_push: settings.scan_on_push,
        tag_mutability: settings.tag_mutability.clone(),
        encryption: settings.encryption.clone(),
        kms_key: settings.kms_key.clone(),
    }
}

fn report_repository(workflow: &Workflow, repo: &RepositoryState, lifecycle: LifecycleChange) {
    if repo.created {
        workflow.info(&format!(
            "Created {} (scan on push {}, tags {}, encryption {}).",
            repo.uri,
            repo.scan_on_push,
            repo.tag_mutability.as_str(),
            repo.encryption.as_str()
        ));
    } else {
        workflow.info(&format!(
            "Repository {} exists (scan on push {}, tags {}, encryption {}); its settings are kept.",
            repo.uri,
            repo.scan_on_push,
            repo.tag_mutability.as_str(),
            repo.encryption.as_str()
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
        && wanted.settings.tag_mutability == ImageTagMutability::Immutable
        && !matches!(
            repo.tag_mutability,
            ImageTagMutability::Immutable | ImageTagMutability::ImmutableWithExclusion
        )
    {
        workflow.annotate(
            Level::Warning,
            "Tags are not immutable",
            &format!(
                "tag-mutability is IMMUTABLE, but the existing repository '{}' has {} tags. \
                 Settings apply only when the action creates a repository; change this one with \
                 `aws ecr put-image-tag-mutability --repository-name {} --image-tag-mutability IMMUTABLE`.",
                repo.name,
                repo.tag_mutability.as_str(),
                repo.name
            ),
        );
    }
}
