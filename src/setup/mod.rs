//! `ship-to-ecr setup` and `ship-to-ecr check`: the AWS side of the action, set up once by an
//! administrator with their own credentials (the default chain), and checked before any
//! workflow runs. Everything is read first; `setup` then changes only what differs from what
//! was asked, and says so (a second run changes nothing).

pub mod args;
mod changes;
pub mod check;
mod documents;

use aws_sdk_ecr::types::ImageTagMutability;
use clap::ArgMatches;
use serde_json::Value;

use crate::aws::config::{sdk_config, CredentialSource};
use crate::aws::ecr;
use crate::aws::errors::CallFailure;
use crate::aws::{ecs, iam, sts};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::iam::permissions::{self, Deploy, Needs};
use crate::iam::trust;
use crate::inputs::lifecycle;
use args::{refused, value, values, GitHubRepo};
use changes::{apply, describe, describe_done, Change};

/// The name of the inline policy `setup` writes on the role.
pub const POLICY_NAME: &str = "ship-to-ecr";

/// What `setup` was asked for, checked.
#[derive(Debug, Clone)]
pub struct Setup {
    pub repo: GitHubRepo,
    pub region: String,
    pub audience: String,
    pub repositories: Vec<String>,
    /// The `sub` values the role admits.
    pub subjects: Vec<String>,
    pub role_name: String,
    pub allow_create: bool,
    /// `(cluster, service)`.
    pub ecs_services: Vec<(String, String)>,
    pub scan_on_push: bool,
    pub tag_mutability: ImageTagMutability,
    pub keep_images: Option<i64>,
    pub dry_run: bool,
}

impl Setup {
    pub fn parse(matches: &ArgMatches, env: &[(String, String)]) -> Result<Self, Failure> {
        let repo = args::github_repo(matches)?;
        let repositories = args::repositories(matches)?;
        if repositories.is_empty() {
            return Err(refused(
                "repository",
                "is required: name the repositories the role pushes to",
                "team/web-app",
            ));
        }
        let subjects = subjects(matches, &repo)?;
        let role_name = match value(matches, "role-name") {
            Some(name) => role_name(&name)?,
            None => default_role_name(&repo),
        };
        let ecs_services = values(matches, "ecs-service")
            .iter()
            .map(|s| {
                s.split_once('/')
                    .filter(|(c, v)| !c.is_empty() && !v.is_empty() && !v.contains('/'))
                    .map(|(c, v)| (c.to_string(), v.to_string()))
                    .ok_or_else(|| {
                        refused(
                            "ecs-service",
                            format!("'{s}' is not CLUSTER/SERVICE"),
                            "production/web",
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let tag_mutability = match value(matches, "tag-mutability").as_deref() {
            None | Some("MUTABLE") => ImageTagMutability::Mutable,
            Some("IMMUTABLE") => ImageTagMutability::Immutable,
            Some(other) => {
                return Err(refused(
                    "tag-mutability",
                    format!("'{other}' must be MUTABLE or IMMUTABLE"),
                    "IMMUTABLE",
                ))
            }
        };
        let keep_images = value(matches, "keep-images")
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (1..=10000).contains(&n) => Ok(n),
                _ => Err(refused(
                    "keep-images",
                    format!("'{v}' must be a whole number from 1 to 10000"),
                    "30",
                )),
            })
            .transpose()?;
        Ok(Setup {
            region: args::region(matches, env)?,
            audience: args::audience(matches)?,
            repo,
            repositories,
            subjects,
            role_name,
            allow_create: matches.get_flag("allow-create"),
            ecs_services,
            scan_on_push: args::boolean(matches, "scan-on-push", true)?,
            tag_mutability,
            keep_images,
            dry_run: matches.get_flag("dry-run"),
        })
    }
}

/// The subjects of the allowed refs; at least one, and no open role unless `--any-ref`.
fn subjects(matches: &ArgMatches, repo: &GitHubRepo) -> Result<Vec<String>, Failure> {
    let prefix = repo.subject_prefix();
    let mut subjects: Vec<String> = Vec::new();
    for branch in values(matches, "branch") {
        subjects.push(format!("{prefix}:ref:refs/heads/{branch}"));
    }
    for environment in values(matches, "environment") {
        subjects.push(format!("{prefix}:environment:{environment}"));
    }
    for tag in values(matches, "tag") {
        subjects.push(format!("{prefix}:ref:refs/tags/{tag}"));
    }
    if matches.get_flag("pull-requests") {
        subjects.push(format!("{prefix}:pull_request"));
    }
    let any_ref = matches.get_flag("any-ref");
    match (any_ref, subjects.is_empty()) {
        (true, true) => Ok(vec![format!("{prefix}:*")]),
        (true, false) => Err(refused(
            "any-ref",
            "admits every ref already; leave out --branch, --environment, --tag and --pull-requests, or --any-ref",
            "(no value: a switch)",
        )),
        (false, true) => Err(refused(
            "branch",
            "or --environment, --tag, --pull-requests is required: say who may push (a role open to every ref of the repository needs --any-ref)",
            "main",
        )),
        (false, false) => Ok(subjects),
    }
}

/// IAM's rule for role names: 1-64 of `[A-Za-z0-9+=,.@_-]`.
fn role_name(name: &str) -> Result<String, Failure> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(name.to_string())
    } else {
        Err(refused(
            "role-name",
            format!("'{name}' must be 1 to 64 of letters, digits and + = , . @ _ -"),
            "github-octo-web-ecr",
        ))
    }
}

/// `github-OWNER-REPO-ecr`, kept within IAM's rule.
fn default_role_name(repo: &GitHubRepo) -> String {
    let raw = format!("github-{}-{}", repo.owner, repo.name);
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    name.push_str("-ecr");
    name
}

/// An IAM, ECR or ECS call of `setup` or `check` that failed, for the person running it.
fn call_failed(e: CallFailure) -> Failure {
    if e.error.is_access_denied() {
        return Failure::new(
            format!("Not allowed: {}", e.action),
            format!("Your AWS credentials may not call {} ({}). Run this with an administrator's credentials, or add the action to your own.", e.action, e.error),
        );
    }
    Failure::new(format!("{} failed", e.action), e.error.to_string())
}

pub async fn setup(setup: &Setup, workflow: &Workflow) -> anyhow::Result<()> {
    let config = sdk_config(&setup.region, CredentialSource::DefaultChain).await;
    let (account, caller) = sts::caller_identity(&aws_sdk_sts::Client::new(&config))
        .await
        .map_err(|e| Failure::new("No AWS credentials", format!("setup runs with your own credentials (the default chain: AWS_PROFILE, keys in the environment, SSO): {e}")))?;
    let partition = caller.split(':').nth(1).unwrap_or("aws").to_string();
    workflow.info(&format!(
        "Account {account} ({caller}), region {}.",
        setup.region
    ));
    let iam_client = aws_sdk_iam::Client::new(&config);
    let ecr_client = aws_sdk_ecr::Client::new(&config);

    // Everything is read first.
    let provider = iam::github_provider(&iam_client)
        .await
        .map_err(call_failed)?;
    let role = iam::role(&iam_client, &setup.role_name)
        .await
        .map_err(call_failed)?;
    let policy = match &role {
        Some(_) => iam::inline_policy(&iam_client, &setup.role_name, POLICY_NAME)
            .await
            .map_err(call_failed)?,
        None => None,
    };
    let mut missing_repositories = Vec::new();
    for name in &setup.repositories {
        if ecr::describe_repository(&ecr_client, name, None)
            .await
            .map_err(call_failed)?
            .is_none()
        {
            missing_repositories.push(name.clone());
        }
    }
    let deploys = deploys(&config, setup, &partition, &account).await?;

    // What is wanted, and what differs.
    let provider_arn = provider.as_ref().map_or_else(
        || trust::provider_arn(&partition, &account),
        |p| p.arn.clone(),
    );
    let trust_policy = trust::policy(&provider_arn, &setup.audience, &setup.subjects);
    let needs = Needs {
        repositories: setup
            .repositories
            .iter()
            .map(|r| permissions::repository_arn(&partition, &setup.region, &account, r))
            .collect(),
        allow_create: setup.allow_create,
        lifecycle: setup.keep_images.is_some(),
        deploys,
    };
    let permissions_policy = permissions::policy(&needs);
    let mut changes = Vec::new();
    match &provider {
        None => changes.push(Change::CreateProvider),
        Some(p) if !p.client_ids.contains(&setup.audience) => {
            changes.push(Change::AddAudience(p.arn.clone()))
        }
        Some(_) => {}
    }
    match &role {
        None => changes.push(Change::CreateRole),
        Some(r) if !documents::same(&r.trust_policy, &trust_policy) => {
            changes.push(Change::UpdateTrustPolicy)
        }
        Some(_) => {}
    }
    if !policy
        .as_ref()
        .is_some_and(|p| documents::same(p, &permissions_policy))
    {
        changes.push(Change::PutPolicy);
    }
    changes.extend(
        missing_repositories
            .iter()
            .cloned()
            .map(Change::CreateRepository),
    );

    show(
        "Trust policy",
        role.as_ref().map(|r| &r.trust_policy),
        &trust_policy,
        workflow,
    );
    show(
        &format!("Inline policy {POLICY_NAME}"),
        policy.as_ref(),
        &permissions_policy,
        workflow,
    );
    if changes.is_empty() {
        workflow.info("Nothing to change: the provider, the role, its policies and the repositories are as asked.");
    } else if setup.dry_run {
        workflow.info(&format!(
            "Dry run: {} change(s) would be made; nothing was changed:",
            changes.len()
        ));
        for change in &changes {
            workflow.info(&format!("  would {}", describe(change, setup)));
        }
    } else {
        for change in &changes {
            apply(
                change,
                setup,
                &iam_client,
                &ecr_client,
                &trust_policy,
                &permissions_policy,
            )
            .await?;
            workflow.info(&format!("{}.", capitalised(&describe_done(change, setup))));
        }
    }
    if let (Some(keep), false) = (setup.keep_images, setup.dry_run) {
        let policy = lifecycle::keep_newest(keep);
        for name in &setup.repositories {
            if let Some(state) = ecr::describe_repository(&ecr_client, name, None)
                .await
                .map_err(call_failed)?
            {
                let change = ecr::apply_lifecycle_policy(&ecr_client, &state, Some(&policy.text))
                    .await
                    .map_err(call_failed)?;
                if matches!(change, ecr::LifecycleChange::Applied) {
                    workflow.info(&format!(
                        "Lifecycle policy of {name}: keep the newest {keep} images."
                    ));
                }
            }
        }
    }
    let role_arn = role.map_or_else(
        || format!("arn:{partition}:iam::{account}:role/{}", setup.role_name),
        |r| r.arn,
    );
    workflow.info(&documents::workflow_step(&role_arn, setup));
    Ok(())
}

/// For each `--ecs-service`, the service's ARN and the roles its task definition passes.
async fn deploys(
    config: &aws_config::SdkConfig,
    setup: &Setup,
    partition: &str,
    account: &str,
) -> Result<Vec<Deploy>, Failure> {
    let client = aws_sdk_ecs::Client::new(config);
    let mut found = Vec::new();
    for (cluster, service) in &setup.ecs_services {
        let described = ecs::describe_service(&client, cluster, service)
            .await
            .map_err(call_failed)?;
        let definition = ecs::describe_task_definition(&client, &described.task_definition)
            .await
            .map_err(call_failed)?;
        let json: Value = serde_json::from_str(&definition.to_json()).unwrap_or_default();
        let pass_roles = ["taskRoleArn", "executionRoleArn"]
            .iter()
            .filter_map(|k| json[*k].as_str().map(str::to_string))
            .collect();
        let service_arn = if described.arn.is_empty() {
            format!(
                "arn:{partition}:ecs:{}:{account}:service/{cluster}/{service}",
                setup.region
            )
        } else {
            described.arn
        };
        found.push(Deploy {
            service_arn,
            pass_roles,
        });
    }
    Ok(found)
}

/// A document as it will be, and how it differs from what IAM holds.
fn show(title: &str, current: Option<&Value>, wanted: &Value, workflow: &Workflow) {
    let _group = workflow.group(title);
    workflow.info(&serde_json::to_string_pretty(wanted).expect("JSON serialises"));
    match current {
        None => workflow.info("(does not exist yet)"),
        Some(current) if documents::same(current, wanted) => workflow.info("(unchanged)"),
        Some(current) => {
            workflow.info("Changes against what IAM holds (- there now, + wanted):");
            for line in documents::diff(current, wanted) {
                workflow.info(&line);
            }
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
