//! Waiting for this deployment, and the outcome: success on COMPLETED; otherwise what the
//! service's events and its stopped tasks say, and the likely fix.

use std::time::{Duration, Instant};

use aws_sdk_ecs::Client;

use super::rollout::{self, Verdict};
use super::{diagnosis, Deployed, Seen};
use crate::aws::ecs::{self, EcsFailure, Service};
use crate::error::Failure;
use crate::github::commands::{untrusted, Workflow};
use crate::inputs::EcsPlan;
use crate::outputs::{self, Output};

/// Looks at the service every `plan.poll` until the rollout is decided or `wait` has passed;
/// prints the counts each time they change.
pub(super) async fn watch(
    client: &Client,
    plan: &EcsPlan,
    deployment_id: &str,
    wait: Duration,
    workflow: &Workflow,
) -> Result<(Verdict, Service), EcsFailure> {
    let started = Instant::now();
    let mut last_line = String::new();
    loop {
        let service = ecs::describe_service(client, &plan.cluster, &plan.service).await?;
        let verdict = rollout::judge(&service, deployment_id);
        let Verdict::Rolling(ours) = &verdict else {
            return Ok((verdict, service));
        };
        let line = rollout::progress(ours);
        if line != last_line {
            workflow.info(&format!("[{:>4} s] {line}", started.elapsed().as_secs()));
            last_line = line;
        }
        if started.elapsed() + plan.poll > wait {
            return Ok((verdict, service));
        }
        tokio::time::sleep(plan.poll).await;
    }
}

/// The outcome: success on COMPLETED; otherwise the service's events and the stopped tasks
/// are printed and the failure says what most likely went wrong.
pub(super) async fn conclude(
    client: &Client,
    plan: &EcsPlan,
    wait: Duration,
    (verdict, service): (Verdict, Service),
    seen: &mut Seen,
    workflow: &Workflow,
) -> anyhow::Result<Deployed> {
    let arn = seen.task_definition_arn.clone().unwrap_or_default();
    let deployment_id = seen.deployment_id.clone().unwrap_or_default();
    let deployed = |state: &str| Deployed {
        task_definition_arn: arn.clone(),
        deployment_id: deployment_id.clone(),
        rollout_state: state.to_string(),
    };
    let (state, title, what) = match verdict {
        Verdict::Completed(_) => {
            outputs::set(workflow, Output::EcsRolloutState, "COMPLETED")?;
            seen.rollout_state = Some("COMPLETED".into());
            return Ok(deployed("COMPLETED"));
        }
        Verdict::Rolling(ours) => (
            ours.rollout_state
                .clone()
                .unwrap_or_else(|| "IN_PROGRESS".into()),
            "Deployment not finished in time",
            format!(
                "The deployment {deployment_id} was still rolling out after wait-minutes ({} \
                 min): {}. ECS goes on with it; raise wait-minutes to wait longer.",
                wait.as_secs() / 60,
                rollout::progress(&ours)
            ),
        ),
        Verdict::Failed(ours) => (
            "FAILED".to_string(),
            "Deployment failed",
            format!(
                "ECS marked the deployment {deployment_id} FAILED: {}.",
                ours.rollout_reason.as_deref().unwrap_or("no reason given")
            ),
        ),
        Verdict::Replaced { primary, ours } => (
            ours.and_then(|d| d.rollout_state)
                .unwrap_or_else(|| "FAILED".into()),
            "Deployment rolled back",
            format!(
                "The deployment {deployment_id} is no longer the service's primary one: {} now \
                 runs {} (the deployment circuit breaker rolls back to the previous revision \
                 when tasks keep failing, or another deploy replaced this one). The new revision \
                 {arn} is not running.",
                primary.id, primary.task_definition
            ),
        ),
        Verdict::Gone => (
            "FAILED".to_string(),
            "Deployment gone",
            format!("The service no longer lists the deployment {deployment_id}."),
        ),
    };
    outputs::set(workflow, Output::EcsRolloutState, &state)?;
    seen.rollout_state = Some(state);
    let events: Vec<_> = service.events.iter().take(10).cloned().collect();
    let tasks = match ecs::stopped_tasks(client, &plan.cluster, &plan.service, 5).await {
        Ok(tasks) => tasks,
        Err(e) => {
            workflow.info(&format!(
                "Stopped tasks not read: {}.",
                untrusted(&e.to_string())
            ));
            Vec::new()
        }
    };
    workflow.info("The service's recent events, newest first:");
    for event in &events {
        // ECS's words, which may quote names and reasons from the containers: one line each.
        workflow.info(&format!("  {} {}", event.at, untrusted(&event.message)));
    }
    let task_lines = diagnosis::task_lines(&tasks);
    if !task_lines.is_empty() {
        workflow.info("Stopped tasks:");
        for line in &task_lines {
            workflow.info(&format!("  {}", untrusted(line)));
        }
    }
    let mut message = what;
    if let Some(latest) = events.first() {
        message.push_str(&format!(
            " Latest event: {}.",
            latest.message.trim_end_matches('.')
        ));
    }
    for line in task_lines.iter().take(3) {
        message.push_str(&format!(" {}{}", capitalised(line), "."));
    }
    message.push_str(&format!(
        " Likely fix: {}",
        diagnosis::likely_fix(&events, &tasks)
    ));
    Err(Failure::new(title, message).into())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
