//! Waiting for this deployment, and the outcome: success on COMPLETED; otherwise what the
//! service's events and its stopped tasks say, and the likely fix.

use std::ops::ControlFlow;
use std::time::Duration;

use aws_sdk_ecs::Client;
use tokio::time::Instant;

use super::rollout::{self, Verdict};
use super::{diagnosis, Deployed, Seen};
use crate::aws::ecs::{self, EcsFailure, Service, ServiceEvent, StoppedTask};
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
    let mut last_line = String::new();
    until_decided(wait, plan.poll, async |elapsed| {
        let service = ecs::describe_service(client, &plan.cluster, &plan.service).await?;
        let verdict = rollout::judge(&service, deployment_id);
        let Verdict::Rolling(ours) = &verdict else {
            return Ok(ControlFlow::Break((verdict, service)));
        };
        let line = rollout::progress(ours);
        if line != last_line {
            workflow.info(&format!("[{:>4} s] {line}", elapsed.as_secs()));
            last_line = line;
        }
        Ok(ControlFlow::Continue((verdict, service)))
    })
    .await
}

/// Calls `look` (with the time since the first look) every `poll` until it breaks, or until
/// `wait` has passed: then the last answer is returned. A look takes time of its own, so the
/// sleep before the last one is cut short to land on the deadline: a rollout that completes
/// within `wait` is seen completed.
async fn until_decided<T, E>(
    wait: Duration,
    poll: Duration,
    mut look: impl AsyncFnMut(Duration) -> Result<ControlFlow<T, T>, E>,
) -> Result<T, E> {
    let started = Instant::now();
    let deadline = started + wait;
    loop {
        let undecided = match look(started.elapsed()).await? {
            ControlFlow::Break(decided) => return Ok(decided),
            ControlFlow::Continue(undecided) => undecided,
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(undecided);
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
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
    let (events, tasks, task_lines) = what_ecs_says(client, plan, &service, workflow).await;
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

/// The service's recent events and its stopped tasks, printed as ECS's words (one line each);
/// returned for the failure's message.
async fn what_ecs_says(
    client: &Client,
    plan: &EcsPlan,
    service: &Service,
    workflow: &Workflow,
) -> (Vec<ServiceEvent>, Vec<StoppedTask>, Vec<String>) {
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
    (events, tasks, task_lines)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each look takes `latency`; the rollout completes `done_at` after the first look.
    /// Returns whether it was seen completed, and when the last look started.
    async fn watched(done_at: Duration, latency: Duration) -> (bool, Duration) {
        let mut last = Duration::ZERO;
        let outcome = until_decided(
            Duration::from_secs(60),
            Duration::from_secs(10),
            async |elapsed| {
                last = elapsed;
                tokio::time::sleep(latency).await;
                Ok::<_, ()>(match elapsed >= done_at {
                    true => ControlFlow::Break(true),
                    false => ControlFlow::Continue(false),
                })
            },
        )
        .await;
        (outcome.unwrap(), last)
    }

    #[tokio::test(start_paused = true)]
    async fn a_rollout_completing_before_the_deadline_is_seen_completed() {
        let latency = Duration::from_millis(300);
        let (completed, last) = watched(Duration::from_secs(55), latency).await;
        assert!(completed, "last look at {last:?}");
        assert_eq!(
            last,
            Duration::from_secs(60),
            "the last look is at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_rollout_still_going_at_the_deadline_is_given_up_then_and_not_later() {
        let started = Instant::now();
        let latency = Duration::from_millis(300);
        let (completed, last) = watched(Duration::from_secs(3600), latency).await;
        assert!(!completed);
        assert_eq!(last, Duration::from_secs(60));
        assert_eq!(started.elapsed(), Duration::from_secs(60) + latency);
    }

    #[tokio::test(start_paused = true)]
    async fn a_decided_rollout_ends_the_wait_at_once() {
        let started = Instant::now();
        let (completed, last) = watched(Duration::ZERO, Duration::ZERO).await;
        assert!(completed);
        assert_eq!((last, started.elapsed()), (Duration::ZERO, Duration::ZERO));
    }
}
