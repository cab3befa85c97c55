//! `ship-to-ecr setup` and `ship-to-ecr check`: the AWS side of the action, set up once by an
//! administrator with their own credentials (the default chain), and checked before any
//! workflow runs. Everything is read first; `setup` then changes only what differs from what
//! was asked, and says so (a second run changes nothing).

pub mod args;
mod blueprint;
mod changes;
pub mod check;
mod documents;
mod openings;
mod templates;

use serde_json::Value;

use crate::aws::config::{sdk_config, CredentialSource};
use crate::aws::ecr;
use crate::aws::errors::CallFailure;
use crate::aws::{ecs, iam, sts};
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::iam::permissions::{self, Deploy, Needs};
use crate::iam::trust;
use crate::inputs::lifecycle;
pub use blueprint::{Format, RepositorySpec, RoleSpec, Setup};
use changes::{apply, describe, describe_done, Change};

/// The name of the inline policy `setup` writes on each role.
pub const POLICY_NAME: &str = "ship-to-ecr";

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
    warn_of_shared_roles(setup, workflow);
    if let Some(format) = setup.format {
        workflow.info(&templates::render(setup, format));
        return Ok(());
    }
    let config = sdk_config(&setup.region, CredentialSource::DefaultChain).await;
    let (account, caller) = sts::caller_identity(&aws_sdk_sts::Client::new(&config))
        .await
        .map_err(|e| Failure::new("No AWS credentials", format!("setup runs with your own credentials (the default chain: AWS_PROFILE, keys in the environment, SSO): {e}")))?;
    let partition = caller.split(':').nth(1).unwrap_or("aws").to_string();
    workflow.info(&format!(
        "Account {account} ({caller}), region {}.",
        setup.region
    ));
    let clients = Clients {
        iam: aws_sdk_iam::Client::new(&config),
        ecr: aws_sdk_ecr::Client::new(&config),
    };
    let at = Account {
        partition: &partition,
        account: &account,
        region: &setup.region,
    };

    // Everything is read first, and compared with what is wanted.
    let provider = iam::github_provider(&clients.iam)
        .await
        .map_err(call_failed)?;
    let provider_arn = provider.as_ref().map_or_else(
        || trust::provider_arn(&partition, &account),
        |p| p.arn.clone(),
    );
    let mut changes = Vec::new();
    match &provider {
        None => changes.push(Change::CreateProvider),
        Some(p) if !p.client_ids.contains(&setup.audience) => {
            changes.push(Change::AddAudience(p.arn.clone()))
        }
        Some(_) => {}
    }
    let deploys = deploys(&config, setup, &partition, &account).await?;
    let mut role_arns = Vec::new();
    for spec in &setup.roles {
        let role = iam::role(&clients.iam, &spec.name)
            .await
            .map_err(call_failed)?;
        let policy = match &role {
            Some(_) => iam::inline_policy(&clients.iam, &spec.name, POLICY_NAME)
                .await
                .map_err(call_failed)?,
            None => None,
        };
        let trust_policy = trust::policy(&provider_arn, &setup.audience, &spec.subjects);
        let permissions_policy = permissions::policy(&needs(setup, spec, &at, &deploys));
        show(
            &format!("Trust policy of {}", spec.name),
            role.as_ref().map(|r| &r.trust_policy),
            &trust_policy,
            workflow,
        );
        show(
            &format!("Inline policy {POLICY_NAME} of {}", spec.name),
            policy.as_ref(),
            &permissions_policy,
            workflow,
        );
        match &role {
            None => changes.push(Change::CreateRole {
                role: spec.name.clone(),
                trust: trust_policy,
            }),
            Some(r) if !documents::same(&r.trust_policy, &trust_policy) => {
                changes.push(Change::UpdateTrustPolicy {
                    role: spec.name.clone(),
                    trust: trust_policy,
                })
            }
            Some(_) => {}
        }
        if !policy
            .as_ref()
            .is_some_and(|p| documents::same(p, &permissions_policy))
        {
            changes.push(Change::PutPolicy {
                role: spec.name.clone(),
                policy: permissions_policy,
            });
        }
        role_arns.push((
            spec.stage,
            role.map_or_else(|| at.role_arn(&spec.name), |r| r.arn),
        ));
    }
    for spec in &setup.repositories {
        let exists = ecr::describe_repository(&clients.ecr, &spec.name, None)
            .await
            .map_err(call_failed)?
            .is_some();
        if !exists {
            changes.push(Change::CreateRepository(spec.clone()));
        }
        if !spec.pull_principals.is_empty() {
            let wanted = permissions::pull_policy(&spec.pull_principals);
            let current = match exists {
                true => ecr::repository_policy(&clients.ecr, &spec.name)
                    .await
                    .map_err(call_failed)?,
                false => None,
            };
            show(
                &format!("Repository policy of {}", spec.name),
                current.as_ref(),
                &wanted,
                workflow,
            );
            if !current.is_some_and(|c| documents::same(&c, &wanted)) {
                changes.push(Change::SetRepositoryPolicy {
                    repository: spec.name.clone(),
                    policy: wanted,
                });
            }
        }
    }

    if changes.is_empty() {
        workflow.info("Nothing to change: the provider, the roles, their policies and the repositories are as asked.");
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
            apply(change, setup, &clients).await?;
            workflow.info(&format!("{}.", capitalised(&describe_done(change, setup))));
        }
    }
    if let (Some(keep), false) = (setup.keep_images, setup.dry_run) {
        keep_newest(&clients.ecr, setup, keep, workflow).await?;
    }
    workflow.info(&documents::workflow_step(&role_arns, setup));
    Ok(())
}

/// A role of its own (not a stage's) that admits pull requests lets them push where the
/// protected refs it also admits push, or where other roles' runs push to the same repository.
fn warn_of_shared_roles(setup: &Setup, workflow: &Workflow) {
    for role in setup.roles.iter().filter(|r| r.stage.is_none()) {
        if !openings::admits_pull_requests(&role.subjects, &setup.repo) {
            continue;
        }
        let warning = openings::shared_role_warning(
            &role.name,
            "the protected refs whose runs push to the same repositories",
        );
        // A template goes to stdout to be saved as a file: the warning must not land in it.
        match setup.format {
            Some(_) => eprintln!("Warning: pull requests share the role. {warning}"),
            None => workflow.annotate(Level::Warning, "Pull requests share the role", &warning),
        }
    }
}

/// The clients `setup` writes with.
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub ecr: aws_sdk_ecr::Client,
}

/// Where ARNs are made.
struct Account<'a> {
    partition: &'a str,
    account: &'a str,
    region: &'a str,
}

impl Account<'_> {
    fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition, self.account)
    }
}

/// What one role must be allowed: its repositories, and the deploys (a single role only).
fn needs(setup: &Setup, spec: &RoleSpec, at: &Account<'_>, deploys: &[Deploy]) -> Needs {
    Needs {
        repositories: spec
            .repositories
            .iter()
            .map(|r| permissions::repository_arn(at.partition, at.region, at.account, r))
            .collect(),
        allow_create: setup.allow_create,
        lifecycle: setup.keep_images.is_some(),
        deploys: deploys.to_vec(),
    }
}

/// The lifecycle policy on each repository, written only where it differs.
async fn keep_newest(
    client: &aws_sdk_ecr::Client,
    setup: &Setup,
    keep: i64,
    workflow: &Workflow,
) -> Result<(), Failure> {
    let policy = lifecycle::keep_newest(keep);
    for spec in &setup.repositories {
        let Some(state) = ecr::describe_repository(client, &spec.name, None)
            .await
            .map_err(call_failed)?
        else {
            continue;
        };
        let change = ecr::apply_lifecycle_policy(client, &state, Some(&policy.text))
            .await
            .map_err(call_failed)?;
        if matches!(change, ecr::LifecycleChange::Applied) {
            workflow.info(&format!(
                "Lifecycle policy of {}: keep the newest {keep} images.",
                spec.name
            ));
        }
    }
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
