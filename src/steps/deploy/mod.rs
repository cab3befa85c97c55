//! The deploy step: a new revision of the service's task definition with the image by digest,
//! the service updated to it, and this deployment (by its id) watched until ECS says it
//! completed, failed or was rolled back, or until `wait-minutes` pass.
//!
//! Nothing is written to ECS before the revision is complete: the containers, `ecs-env` and the
//! image's platforms are checked against the definition first. A rollback is a failure even when the previous
//! revision runs fine: what was asked for is not running.

mod architecture;
mod diagnosis;
mod rollout;
mod wait;

use aws_sdk_ecs::Client;

use crate::aws::ecs::{self, Deployment, EcsFailure, Service};
use crate::ecs::task_definition::repository_of;
use crate::ecs::TaskDefinition;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::inputs::{EcsPlan, TaskDefinitionSource};
use crate::oci::Platform;
use crate::outputs::{self, Output};

/// The image to deploy, as plain data.
pub struct Image {
    /// `host/repository@sha256:...`, what the containers will run.
    pub by_digest: String,
    /// The names a container's image may give this repository by (the registry's address in
    /// use, and ECR's own), without tag or digest.
    pub repositories: Vec<String>,
    /// The platforms it runs on, as the registry holds it; empty when unknown.
    pub platforms: Vec<Platform>,
}

/// What the deploy ended with.
pub struct Deployed {
    pub task_definition_arn: String,
    pub deployment_id: String,
    /// ECS's last word on the rollout: `COMPLETED`, or `IN_PROGRESS` when not waited for.
    pub rollout_state: String,
}

/// Deploys; every failure is explained, with what was already changed. The job summary gets
/// what was done either way.
pub async fn run(
    client: &Client,
    plan: &EcsPlan,
    image: &Image,
    principal: &str,
    workflow: &Workflow,
) -> anyhow::Result<Deployed> {
    let mut seen = Seen::default();
    let outcome = deploy(client, plan, image, principal, &mut seen, workflow).await;
    let row = |name: &str, value: &Option<String>| {
        format!(
            "| {name} | {} |\n",
            value
                .as_deref()
                .map_or("none".to_string(), |v| format!("`{v}`"))
        )
    };
    let rollout = match (&outcome, &seen.rollout_state) {
        (Ok(_), Some(state)) => state.clone(),
        (Err(e), state) => format!(
            "{}: {}",
            state.as_deref().unwrap_or("not started"),
            e.downcast_ref::<Failure>()
                .map_or("failed", |f| f.title.as_str())
        ),
        (Ok(_), None) => "not waited for".to_string(),
    };
    let markdown = format!(
        "\n#### Deploy to ECS\n\n| | |\n| --- | --- |\n| Service | `{}/{}` |\n| Image | `{}` |\n{}{}| Rollout | {rollout} |\n",
        plan.cluster,
        plan.service,
        image.by_digest,
        row("Task definition", &seen.task_definition_arn),
        row("Deployment", &seen.deployment_id),
    );
    if let Err(e) = workflow.summary(&markdown) {
        workflow.info(&format!("The job summary could not be written: {e}."));
    }
    outcome
}

/// What the deploy got to, for the summary.
#[derive(Default)]
struct Seen {
    pub(super) task_definition_arn: Option<String>,
    pub(super) deployment_id: Option<String>,
    pub(super) rollout_state: Option<String>,
}

async fn deploy(
    client: &Client,
    plan: &EcsPlan,
    image: &Image,
    principal: &str,
    seen: &mut Seen,
    workflow: &Workflow,
) -> anyhow::Result<Deployed> {
    let target = format!("{}/{}", plan.cluster, plan.service);
    let _group = workflow.group(&format!("Deploy to ECS service {target}"));
    let explain = |e: EcsFailure| crate::aws::explain::ecs_failure(e, principal, &target);
    let service = ecs::describe_service(client, &plan.cluster, &plan.service)
        .await
        .map_err(explain)?;
    let (definition, from) = match &plan.task_definition {
        TaskDefinitionSource::Service => (
            ecs::describe_task_definition(client, &service.task_definition)
                .await
                .map_err(explain)?,
            format!(
                "the service's current task definition {}",
                service.task_definition
            ),
        ),
        TaskDefinitionSource::Named(name) => (
            ecs::describe_task_definition(client, name)
                .await
                .map_err(explain)?,
            format!("the task definition {name}"),
        ),
        TaskDefinitionSource::File { path, definition } => {
            (definition.clone(), format!("the file {path}"))
        }
    };
    let dropped = definition.read_only_keys();
    if !dropped.is_empty() {
        workflow.info(&format!(
            "From {from}; read-only keys left out of the new revision: {}.",
            dropped.join(", ")
        ));
    }
    let (revision, containers) = new_revision(definition.without_read_only_keys(), plan, image)?;
    workflow.info(&format!(
        "Container(s) {} of {} now run {}.",
        containers.join(", "),
        revision.family(),
        image.by_digest
    ));

    let arn = ecs::register(client, &revision).await.map_err(explain)?;
    outputs::set(workflow, Output::TaskDefinitionArn, &arn)?;
    seen.task_definition_arn = Some(arn.clone());
    workflow.info(&format!("Registered {arn}."));
    let updated = ecs::update_service(client, &plan.cluster, &plan.service, &arn)
        .await
        .map_err(|e| {
            let mut failure = explain(e);
            failure.message.push_str(&format!(
                " The new revision {arn} is registered; the service still runs its previous one."
            ));
            failure
        })?;
    let ours = started_deployment(client, plan, &updated, &arn)
        .await
        .map_err(explain)?;
    outputs::set(workflow, Output::EcsDeploymentId, &ours.id)?;
    seen.deployment_id = Some(ours.id.clone());
    workflow.info(&format!(
        "Service {target} updated to {arn}: deployment {}.",
        ours.id
    ));

    let Some(wait) = plan.wait else {
        let state = ours.rollout_state.unwrap_or_else(|| "IN_PROGRESS".into());
        outputs::set(workflow, Output::EcsRolloutState, &state)?;
        seen.rollout_state = Some(state.clone());
        workflow.info("wait is false: not waiting for the rollout.");
        return Ok(Deployed {
            task_definition_arn: arn,
            deployment_id: ours.id,
            rollout_state: state,
        });
    };
    let watched = wait::watch(client, plan, &ours.id, wait, workflow)
        .await
        .map_err(explain)?;
    let outcome = wait::conclude(client, plan, wait, watched, seen, workflow).await;
    if let Ok(deployed) = &outcome {
        workflow.info(&format!(
            "Deployment {} completed: {target} runs {}.",
            deployed.deployment_id, image.by_digest
        ));
    }
    outcome
}

/// The revision to register: the chosen containers on the image, `ecs-env` set; and the names
/// of the containers changed. An image for another CPU architecture than the definition's
/// makes none.
fn new_revision(
    mut revision: TaskDefinition,
    plan: &EcsPlan,
    image: &Image,
) -> Result<(TaskDefinition, Vec<String>), Failure> {
    architecture::check(&revision, &image.platforms, &image.by_digest)?;
    let containers = revision.containers();
    let listed = || {
        containers
            .iter()
            .map(|(name, image)| format!("{name} ({image})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<String> = if plan.containers.is_empty() {
        let ours: Vec<String> = containers
            .iter()
            .filter(|(_, current)| {
                image
                    .repositories
                    .iter()
                    .any(|r| r == repository_of(current))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if ours.is_empty() {
            return Err(Failure::new(
                "No container runs this repository",
                format!(
                    "No container of the task definition {} runs an image of {}: its containers \
                     are {}. Name the container(s) to deploy to with ecs-container (one per \
                     line), for example ecs-container: {}",
                    revision.family(),
                    image.repositories[0],
                    listed(),
                    containers[0].0
                ),
            ));
        }
        ours
    } else {
        plan.containers.clone()
    };
    let unknown: Vec<&str> = chosen
        .iter()
        .map(String::as_str)
        .chain(plan.env.iter().map(|e| e.container.as_str()))
        .filter(|name| !revision.has_container(name))
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::new(
            "Unknown container",
            format!(
                "The task definition {} has no container {}: ecs-container and ecs-env must \
                 name its containers, which are {}.",
                revision.family(),
                unknown.join(", "),
                listed()
            ),
        ));
    }
    for name in &chosen {
        revision.set_image(name, &image.by_digest);
    }
    for edit in &plan.env {
        revision.set_env(&edit.container, &edit.key, &edit.value);
    }
    Ok((revision, chosen))
}

/// The deployment the update started: the PRIMARY one on the new revision, from the update's
/// answer or, if ECS had not listed it yet, from one more look.
async fn started_deployment(
    client: &Client,
    plan: &EcsPlan,
    updated: &Service,
    arn: &str,
) -> Result<Deployment, EcsFailure> {
    let find = |service: &Service| {
        service
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY" && d.task_definition == arn)
            .cloned()
    };
    if let Some(found) = find(updated) {
        return Ok(found);
    }
    let service = ecs::describe_service(client, &plan.cluster, &plan.service).await?;
    find(&service).ok_or_else(|| EcsFailure {
        action: "ecs:UpdateService",
        error: crate::aws::errors::AwsError {
            code: Some("NoDeployment".into()),
            message: format!(
                "the service lists no PRIMARY deployment of {arn} after the update (a service \
                 with the CODE_DEPLOY or EXTERNAL deployment controller is deployed by that \
                 controller, not by UpdateService)"
            ),
            retryable: false,
            no_credentials: false,
        },
    })
}
