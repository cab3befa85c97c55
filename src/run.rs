//! The pipeline, top to bottom: inputs -> credentials -> ECR repository -> registry login ->
//! outputs and summary. Each step writes its outputs as soon as they are known.

use std::time::Duration;

use reqwest::Url;

use crate::aws::ecr::{self, EcrFailure, LifecycleChange, RepositoryState};
use crate::aws::errors::AwsError;
use crate::aws::sts;
use crate::credentials::{self, AwsSession};
use crate::error::{Failure, InputErrors};
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::github::oidc::{TokenService, TokenServiceError};
use crate::inputs::{Plan, RawInputs, RepositoryPlan};
use crate::registry::login::check_login;

pub async fn run(workflow: &Workflow) -> anyhow::Result<()> {
    // 1. Everything that can be checked without the network.
    let ctx = RunContext::from_env();
    let raw = RawInputs::from_env()
        .map_err(|e| Failure::new("Cannot read inputs", format!("INPUT_* variables: {e}")))?;
    let plan = Plan::from_raw(&raw, &ctx)?;
    let token_service = match &plan.identity.web_identity {
        Some(_) => Some(TokenService::from_env().map_err(no_token_service)?),
        None => None,
    };
    if let Some(service) = &token_service {
        workflow.mask(service.request_token());
    }
    let http = http_client()?;

    // 2. Credentials.
    let session = credentials::obtain(
        &plan.identity,
        &plan.region,
        token_service.as_ref(),
        &http,
        workflow,
    )
    .await?;
    let (account, caller_arn) = sts::caller_identity(&aws_sdk_sts::Client::new(&session.config))
        .await
        .map_err(|e| caller_identity_failure(&e, &session))?;
    workflow.info(&format!("Account {account}, acting as {caller_arn}."));
    workflow.set_output("aws-account-id", &account)?;

    // 3. The repository.
    let ecr_client = aws_sdk_ecr::Client::new(&session.config);
    let (repo, lifecycle) = {
        let _group = workflow.group("ECR repository");
        let repo = ensure_repository(&ecr_client, &plan, &account, workflow, &session).await?;
        let lifecycle = ecr::apply_lifecycle_policy(
            &ecr_client,
            &repo,
            plan.repository.lifecycle_policy.as_ref(),
        )
        .await
        .map_err(|e| ecr_failure(e, &session, &plan.repository))?;
        report_repository(workflow, &repo, lifecycle);
        warn_if_not_immutable(workflow, &plan.repository, &repo);
        (repo, lifecycle)
    };
    let (registry_host, registry_base) = registry_address(&plan, &repo)?;
    workflow.set_output("registry", &registry_host)?;
    workflow.set_output("repository-uri", &format!("{registry_host}/{}", repo.name))?;

    // 4. Registry credentials, checked against the registry.
    let login = ecr::registry_credentials(&ecr_client)
        .await
        .map_err(|e| ecr_failure(e, &session, &plan.repository))?;
    workflow.mask(&login.encoded);
    workflow.mask(&login.password);
    check_login(
        &http,
        &registry_base,
        &login.username,
        &login.password,
        |e, wait| {
            workflow.annotate(
                Level::Warning,
                "Retrying",
                &format!("{e}; trying again in {wait:.1?}"),
            )
        },
    )
    .await
    .map_err(|e| {
        Failure::new(
            "Registry login failed",
            format!(
                "{e}. {}",
                if plan.registry_url.is_some() {
                    "Check the registry-url input: it must point at the ECR registry (or a proxy of it) that these credentials belong to."
                } else {
                    "The registry is the one ECR reported for this repository."
                }
            ),
        )
    })?;
    workflow.info(&format!(
        "Logged in to {registry_host} as {}.",
        login.username
    ));

    // 5. Credentials for later steps, only when asked.
    if plan.export_credentials {
        export_credentials(workflow, &session, &plan.region)?;
    }

    workflow.summary(&summary(
        &session,
        &account,
        &repo,
        lifecycle,
        &registry_host,
    ))?;
    Ok(())
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("ship-to-ecr/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?)
}

fn no_token_service(e: TokenServiceError) -> Failure {
    match e {
        TokenServiceError::Missing(which) => Failure::new(
            "No OIDC token for this job",
            format!(
            "role-to-assume is set, but the job cannot request an OIDC token: \
             {which} not set. \
             Give the job (or the workflow) this permission:\n\n\
             permissions:\n  id-token: write   # to request the OIDC token\n  contents: read    # to check out the code\n\n\
             Pull requests from forks never get an OIDC token, whatever the permissions; run \
             those without pushing, or from a workflow that runs in the base repository."
            ),
        ),
        TokenServiceError::BadUrl(_) => Failure::new("No OIDC token for this job", e.to_string()),
    }
}

fn caller_identity_failure(e: &AwsError, session: &AwsSession) -> Failure {
    // Only a failure to load credentials, not a network error with valid keys.
    if session.credentials.is_none()
        && e.code.is_none()
        && e.message.to_lowercase().contains("credentials")
    {
        return Failure::new(
            "No AWS credentials",
            format!(
                "role-to-assume is empty, so the default AWS credential chain was used, and it \
                 gave no working credentials ({e}). Set role-to-assume to the ARN of a role that \
                 trusts GitHub's OIDC provider (no stored keys needed), or configure credentials \
                 in an earlier step."
            ),
        );
    }
    Failure::new(
        "GetCallerIdentity failed",
        format!(
            "Could not identify the AWS account of {}: {e}",
            session.principal
        ),
    )
}

async fn ensure_repository(
    client: &aws_sdk_ecr::Client,
    plan: &Plan,
    account: &str,
    workflow: &Workflow,
    session: &AwsSession,
) -> anyhow::Result<RepositoryState> {
    let wanted = &plan.repository;
    let fail = |e| ecr_failure(e, session, wanted);
    if let Some(existing) = ecr::describe_repository(client, wanted)
        .await
        .map_err(fail)?
    {
        return Ok(existing);
    }
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
    Ok(ecr::create_repository(client, wanted).await.map_err(fail)?)
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
fn registry_address(plan: &Plan, repo: &RepositoryState) -> anyhow::Result<(String, Url)> {
    if let Some(url) = &plan.registry_url {
        let host = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        return Ok((host, url.clone()));
    }
    let host = repo.uri.split('/').next().unwrap_or_default().to_string();
    let base = Url::parse(&format!("https://{host}")).map_err(|_| {
        Failure::new(
            "Unexpected repository URI",
            format!(
                "ECR reported the repository URI '{}', which has no registry host",
                repo.uri
            ),
        )
    })?;
    Ok((host, base))
}

fn ecr_failure(e: EcrFailure, session: &AwsSession, repo: &RepositoryPlan) -> Failure {
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

fn export_credentials(
    workflow: &Workflow,
    session: &AwsSession,
    region: &str,
) -> anyhow::Result<()> {
    let Some(c) = &session.credentials else {
        workflow.annotate(
            Level::Notice,
            "Nothing to export",
            "export-credentials is true, but no role was assumed: later steps already see the \
             default credential chain.",
        );
        return Ok(());
    };
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", c.session_token.as_str()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
    ] {
        workflow.export_env(name, value).map_err(|e| {
            Failure::new(
                "Cannot export credentials",
                format!("export-credentials is true, but {e}"),
            )
        })?;
    }
    workflow.info("Exported the temporary credentials to later steps of this job (masked).");
    Ok(())
}

fn summary(
    session: &AwsSession,
    account: &str,
    repo: &RepositoryState,
    lifecycle: LifecycleChange,
    registry: &str,
) -> String {
    let repo_state = match (repo.created, lifecycle) {
        (true, _) => "created",
        (false, LifecycleChange::Applied) => "existing, lifecycle policy updated",
        (false, _) => "existing, unchanged",
    };
    let lifecycle = match lifecycle {
        LifecycleChange::NotAsked => "not managed",
        LifecycleChange::Unchanged => "unchanged",
        LifecycleChange::Applied => "applied",
    };
    format!(
        "### ship-to-ecr\n\n\
         | | |\n| --- | --- |\n\
         | Role | `{}` |\n\
         | Account | `{account}` |\n\
         | Repository | `{}` ({repo_state}) |\n\
         | Settings | scan on push {}, tags {}, encryption {} |\n\
         | Lifecycle policy | {lifecycle} |\n\
         | Registry | `{registry}` |\n\n",
        session.principal, repo.name, repo.scan_on_push, repo.tag_mutability, repo.encryption,
    )
}

/// How `main` shows an error: one annotation per bad input, else one for the failure.
pub fn report_error(workflow: &Workflow, error: &anyhow::Error) {
    if let Some(InputErrors(errors)) = error.downcast_ref::<InputErrors>() {
        for e in errors {
            workflow.annotate(Level::Error, &e.title(), &e.to_string());
        }
    } else if let Some(failure) = error.downcast_ref::<Failure>() {
        workflow.annotate(Level::Error, &failure.title, &failure.message);
    } else {
        workflow.annotate(
            Level::Error,
            "ship-to-ecr failed",
            &crate::error::with_causes(error.as_ref()),
        );
    }
}
