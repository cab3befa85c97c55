//! ECS: the service, its task definitions, a new revision and the deployment that rolls it out,
//! read into plain data for the deploy step. Task definitions travel as JSON (see `raw_json`).

use aws_sdk_ecs::types::{DesiredStatus, TaskDefinitionField};
use aws_sdk_ecs::Client;
use aws_smithy_types::date_time::Format;
use serde_json::Value;

use super::errors::AwsError;
use super::raw_json::RawJson;
use crate::ecs::TaskDefinition;

use super::errors::failed;
/// An ECS call that failed, with the IAM action it needed.
pub use super::errors::CallFailure as EcsFailure;

/// What a failure says when the call itself worked but its answer holds no result.
fn answered(action: &'static str, code: &str, message: String) -> EcsFailure {
    EcsFailure {
        action,
        error: AwsError {
            code: Some(code.to_string()),
            message,
            retryable: false,
            no_credentials: false,
        },
    }
}

/// A service as a deploy watches it.
#[derive(Debug, Clone, Default)]
pub struct Service {
    pub arn: String,
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
    /// Newest first, as ECS lists them.
    pub events: Vec<ServiceEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    /// `PRIMARY` (the one the service converges to), `ACTIVE` (draining) or `INACTIVE`.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`; `None` when the service's deployment controller
    /// reports none.
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceEvent {
    /// ISO 8601.
    pub at: String,
    pub message: String,
}

/// A task that stopped, with why, for the diagnosis of a failed rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedTask {
    pub arn: String,
    pub task_definition: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<StoppedContainer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoppedContainer {
    pub name: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

fn service_of(service: &aws_sdk_ecs::types::Service) -> Service {
    let text = |v: Option<&str>| v.unwrap_or_default().to_string();
    Service {
        arn: text(service.service_arn()),
        task_definition: text(service.task_definition()),
        deployments: service
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: text(d.id()),
                status: text(d.status()),
                task_definition: text(d.task_definition()),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
                rollout_reason: d.rollout_state_reason().map(str::to_string),
            })
            .collect(),
        events: service
            .events()
            .iter()
            .map(|e| ServiceEvent {
                at: e
                    .created_at()
                    .and_then(|t| t.fmt(Format::DateTime).ok())
                    .unwrap_or_default(),
                message: text(e.message()),
            })
            .collect(),
    }
}

pub async fn describe_service(
    client: &Client,
    cluster: &str,
    service: &str,
) -> Result<Service, EcsFailure> {
    const ACTION: &str = "ecs:DescribeServices";
    let answer = client
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(failed(ACTION))?;
    if let Some(found) = answer.services().first() {
        if found.status() != Some("INACTIVE") {
            return Ok(service_of(found));
        }
    }
    let reason = answer
        .failures()
        .first()
        .and_then(|f| f.reason())
        .unwrap_or("INACTIVE");
    Err(answered(
        ACTION,
        "ServiceNotFound",
        format!("the cluster '{cluster}' has no active service '{service}' ({reason})"),
    ))
}

/// A task definition (family, `family:revision` or ARN) and its tags, as JSON.
pub async fn describe_task_definition(
    client: &Client,
    name: &str,
) -> Result<TaskDefinition, EcsFailure> {
    const ACTION: &str = "ecs:DescribeTaskDefinition";
    let raw = RawJson::reading();
    client
        .describe_task_definition()
        .task_definition(name)
        .include(TaskDefinitionField::Tags)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(failed(ACTION))?;
    let bad = |why: String| answered(ACTION, "UnreadableAnswer", why);
    let body = raw
        .answer()
        .ok_or_else(|| bad("the answer had no body".to_string()))?;
    let mut answer: Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("the answer is not JSON: {e}")))?;
    let definition = answer["taskDefinition"].take();
    let tags = answer.get_mut("tags").map(Value::take);
    TaskDefinition::described(definition, tags)
        .map_err(|why| bad(format!("the task definition '{name}' {why}")))
}

/// Registers `definition` (read-only keys already dropped) as a new revision; its ARN.
pub async fn register(client: &Client, definition: &TaskDefinition) -> Result<String, EcsFailure> {
    const ACTION: &str = "ecs:RegisterTaskDefinition";
    let answer = client
        .register_task_definition()
        .family(definition.family())
        .customize()
        .interceptor(RawJson::sending(definition.to_json()))
        .send()
        .await
        .map_err(failed(ACTION))?;
    answer
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| answered(ACTION, "UnreadableAnswer", "no ARN in the answer".into()))
}

/// Points the service at `task_definition`; the service as the update left it.
pub async fn update_service(
    client: &Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Service, EcsFailure> {
    const ACTION: &str = "ecs:UpdateService";
    let answer = client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map_err(failed(ACTION))?;
    answer.service().map(service_of).ok_or_else(|| {
        answered(
            ACTION,
            "UnreadableAnswer",
            "no service in the answer".into(),
        )
    })
}

/// Up to `limit` of the service's stopped tasks, with why they stopped.
pub async fn stopped_tasks(
    client: &Client,
    cluster: &str,
    service: &str,
    limit: i32,
) -> Result<Vec<StoppedTask>, EcsFailure> {
    let listed = client
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Stopped)
        .max_results(limit)
        .send()
        .await
        .map_err(failed("ecs:ListTasks"))?;
    if listed.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let described = client
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .map_err(failed("ecs:DescribeTasks"))?;
    let text = |v: Option<&str>| v.unwrap_or_default().to_string();
    Ok(described
        .tasks()
        .iter()
        .map(|t| StoppedTask {
            arn: text(t.task_arn()),
            task_definition: text(t.task_definition_arn()),
            stop_code: t.stop_code().map(|c| c.as_str().to_string()),
            stopped_reason: t.stopped_reason().map(str::to_string),
            containers: t
                .containers()
                .iter()
                .map(|c| StoppedContainer {
                    name: text(c.name()),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(str::to_string),
                })
                .collect(),
        })
        .collect())
}
