//! Judging a rollout from what `DescribeServices` shows: this deployment, found by its id, and
//! whichever deployment is PRIMARY. Pure, so that every case is tested without a service.

use crate::aws::ecs::{Deployment, Service};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still rolling out; this deployment's counts.
    Rolling(Deployment),
    Completed(Deployment),
    /// ECS marked this deployment FAILED (the circuit breaker, or a failed CloudFormation-style
    /// rollout); the reason it gave.
    Failed(Deployment),
    /// Another deployment is PRIMARY: the circuit breaker rolled back to the previous revision,
    /// or someone deployed over this one. `primary` is what runs now; `ours` is this deployment
    /// when ECS still lists it.
    Replaced {
        primary: Deployment,
        ours: Option<Deployment>,
    },
    /// Neither this deployment nor any PRIMARY one is listed.
    Gone,
}

pub fn judge(service: &Service, deployment_id: &str) -> Verdict {
    let ours = service
        .deployments
        .iter()
        .find(|d| d.id == deployment_id)
        .cloned();
    let primary = service
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .cloned();
    if let Some(ours) = &ours {
        if ours.rollout_state.as_deref() == Some("FAILED") {
            return Verdict::Failed(ours.clone());
        }
    }
    match (ours, primary) {
        (_, Some(primary)) if primary.id != deployment_id => Verdict::Replaced {
            primary,
            ours: service
                .deployments
                .iter()
                .find(|d| d.id == deployment_id)
                .cloned(),
        },
        (Some(ours), _) => match ours.rollout_state.as_deref() {
            Some("COMPLETED") => Verdict::Completed(ours),
            Some(_) => Verdict::Rolling(ours),
            // A deployment controller that reports no rollout state: done when this is the only
            // deployment and all its tasks run.
            None if service.deployments.len() == 1
                && ours.running == ours.desired
                && ours.pending == 0 =>
            {
                Verdict::Completed(ours)
            }
            None => Verdict::Rolling(ours),
        },
        (None, _) => Verdict::Gone,
    }
}

/// One line of progress: `running 1/2, pending 1, failed 0 (IN_PROGRESS)`.
pub fn progress(deployment: &Deployment) -> String {
    format!(
        "running {}/{}, pending {}, failed {} ({})",
        deployment.running,
        deployment.desired,
        deployment.pending,
        deployment.failed,
        deployment
            .rollout_state
            .as_deref()
            .unwrap_or("no rollout state")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(id: &str, status: &str, state: Option<&str>) -> Deployment {
        Deployment {
            id: id.into(),
            status: status.into(),
            task_definition: format!("td-of-{id}"),
            desired: 2,
            running: 1,
            pending: 1,
            rollout_state: state.map(str::to_string),
            ..Deployment::default()
        }
    }

    fn service(deployments: Vec<Deployment>) -> Service {
        Service {
            deployments,
            ..Service::default()
        }
    }

    #[test]
    fn this_deployment_rolling_completed_or_failed() {
        let ours = deployment("new", "PRIMARY", Some("IN_PROGRESS"));
        let old = deployment("old", "ACTIVE", Some("COMPLETED"));
        assert_eq!(
            judge(&service(vec![ours.clone(), old.clone()]), "new"),
            Verdict::Rolling(ours)
        );
        let done = deployment("new", "PRIMARY", Some("COMPLETED"));
        assert_eq!(
            judge(&service(vec![done.clone()]), "new"),
            Verdict::Completed(done)
        );
        let failed = deployment("new", "PRIMARY", Some("FAILED"));
        assert_eq!(
            judge(&service(vec![failed.clone(), old]), "new"),
            Verdict::Failed(failed)
        );
    }

    #[test]
    fn a_rollback_is_never_success_even_when_the_old_revision_completes() {
        let back = deployment("old", "PRIMARY", Some("COMPLETED"));
        let ours = deployment("new", "ACTIVE", Some("IN_PROGRESS"));
        assert_eq!(
            judge(&service(vec![back.clone(), ours.clone()]), "new"),
            Verdict::Replaced {
                primary: back.clone(),
                ours: Some(ours)
            }
        );
        assert_eq!(
            judge(&service(vec![back.clone()]), "new"),
            Verdict::Replaced {
                primary: back,
                ours: None
            }
        );
        assert_eq!(judge(&service(vec![]), "new"), Verdict::Gone);
    }

    #[test]
    fn without_a_rollout_state_the_counts_decide() {
        let mut ours = deployment("new", "PRIMARY", None);
        assert!(matches!(
            judge(&service(vec![ours.clone()]), "new"),
            Verdict::Rolling(_)
        ));
        ours.running = 2;
        ours.pending = 0;
        assert!(matches!(
            judge(&service(vec![ours.clone()]), "new"),
            Verdict::Completed(_)
        ));
        let draining = deployment("old", "ACTIVE", None);
        assert!(matches!(
            judge(&service(vec![ours, draining]), "new"),
            Verdict::Rolling(_)
        ));
    }

    #[test]
    fn progress_reads_like_the_console() {
        let d = deployment("new", "PRIMARY", Some("IN_PROGRESS"));
        assert_eq!(
            progress(&d),
            "running 1/2, pending 1, failed 0 (IN_PROGRESS)"
        );
    }
}
