//! Why a rollout failed, in the words of the service's events and its stopped tasks, and the
//! fix those words most often call for. Pure, so that each rule is tested.

use crate::aws::ecs::{ServiceEvent, StoppedTask};

/// The fix the evidence points to, first rule that matches.
pub fn likely_fix(events: &[ServiceEvent], tasks: &[StoppedTask]) -> &'static str {
    let mut evidence: Vec<String> = events.iter().map(|e| e.message.clone()).collect();
    for task in tasks {
        evidence.extend(task.stopped_reason.clone());
        evidence.extend(task.containers.iter().filter_map(|c| c.reason.clone()));
    }
    let evidence = evidence.join("\n").to_lowercase();
    let exit_codes: Vec<i32> = tasks
        .iter()
        .flat_map(|t| t.containers.iter().filter_map(|c| c.exit_code))
        .collect();
    if evidence.contains("cannotpullcontainer")
        || evidence.contains("pull image")
        || evidence.contains("resourceinitializationerror")
    {
        "The tasks could not pull the image. Give the task's execution role (executionRoleArn) \
         ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on this \
         repository (the managed policy AmazonECSTaskExecutionRolePolicy has them), and check \
         that the tasks' subnets reach ECR (a NAT gateway, or VPC endpoints for ecr.api, \
         ecr.dkr and S3)."
    } else if evidence.contains("health check") {
        "The tasks started but failed their health checks. Check that the container listens on \
         the containerPort the load balancer's target group probes (on 0.0.0.0, not \
         127.0.0.1), that the health check path answers 200, and that the grace period \
         (healthCheckGracePeriodSeconds) covers the start-up time."
    } else if exit_codes.contains(&137) || evidence.contains("outofmemory") {
        "A container was killed for memory (exit code 137): raise the task's or the container's \
         memory, or lower what the application uses."
    } else if evidence.contains("essential container") || exit_codes.iter().any(|c| *c != 0) {
        "An essential container exited. Its exit code is above; its logs (the awslogs group of \
         the container definition) say why, often a missing environment variable or secret."
    } else if evidence.contains("unable to place") || evidence.contains("insufficient") {
        "ECS could not place the tasks: the cluster lacks CPU, memory or free ports for them \
         (add capacity, or lower the task's cpu and memory)."
    } else {
        "The service's events above say what ECS saw; the console's Deployments tab of the \
         service shows the same."
    }
}

/// One line per stopped task: why, and each container's exit code and reason.
pub fn task_lines(tasks: &[StoppedTask]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| {
            let id = t.arn.rsplit('/').next().unwrap_or(&t.arn);
            let containers: Vec<String> = t
                .containers
                .iter()
                .map(|c| {
                    let code = c
                        .exit_code
                        .map_or("no exit code".to_string(), |c| format!("exit code {c}"));
                    match &c.reason {
                        Some(reason) => format!("{} {code}: {reason}", c.name),
                        None => format!("{} {code}", c.name),
                    }
                })
                .collect();
            format!(
                "task {id} stopped: {}{}",
                t.stopped_reason.as_deref().unwrap_or("no reason given"),
                if containers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", containers.join("; "))
                }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs::StoppedContainer;

    fn task(reason: &str, container_reason: Option<&str>, exit: Option<i32>) -> StoppedTask {
        StoppedTask {
            arn: "arn:aws:ecs:eu-west-1:1:task/prod/0123abcd".into(),
            stopped_reason: Some(reason.into()),
            containers: vec![StoppedContainer {
                name: "app".into(),
                exit_code: exit,
                reason: container_reason.map(str::to_string),
            }],
            ..StoppedTask::default()
        }
    }

    fn event(message: &str) -> ServiceEvent {
        ServiceEvent {
            at: "2026-12-04T10:00:00Z".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_pull_error_points_at_the_execution_role() {
        let tasks = [task(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
            None,
            None,
        )];
        assert!(likely_fix(&[], &tasks).contains("execution role"));
    }

    #[test]
    fn a_health_check_points_at_the_port() {
        let events = [event(
            "(service web) (task 0123) failed ELB health checks in (target-group tg)",
        )];
        assert!(likely_fix(&events, &[]).contains("containerPort"));
    }

    #[test]
    fn exit_codes_memory_placement_and_the_rest() {
        let killed = [task("Essential container in task exited", None, Some(137))];
        assert!(likely_fix(&[], &killed).contains("memory"));
        let exited = [task("Essential container in task exited", None, Some(1))];
        assert!(likely_fix(&[], &exited).contains("exit code"));
        let unplaced = [event("(service web) was unable to place a task")];
        assert!(likely_fix(&unplaced, &[]).contains("capacity"));
        assert!(likely_fix(&[], &[]).contains("events above"));
    }

    #[test]
    fn task_lines_name_the_task_its_reason_and_each_exit_code() {
        let lines = task_lines(&[task(
            "Essential container in task exited",
            Some("OutOfMemoryError"),
            Some(137),
        )]);
        assert_eq!(
            lines,
            ["task 0123abcd stopped: Essential container in task exited (app exit code 137: OutOfMemoryError)"]
        );
    }
}
