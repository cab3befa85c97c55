//! ECR failures explained: which permission to add to the role, or what else to check.

use super::ecr::EcrFailure;
use super::ecs::EcsFailure;
use crate::error::Failure;

/// `principal` (the role assumed) failed an ECR call on `repository`.
pub fn ecr_failure(e: EcrFailure, principal: &str, repository: &str) -> Failure {
    let action = e.action;
    if e.error.is_access_denied() {
        let mut message = format!(
            "{} may not call {action} on the repository '{}' ({}). Add \"{action}\" to the \
             role's permissions policy",
            principal, repository, e.error
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
        format!("{action} for '{repository}' failed: {}.{hint}", e.error),
    )
}

/// `principal` failed an ECS call while deploying to `target` (`cluster/service`). A denial
/// names the action the message names (ECS checks `iam:PassRole` for the task's roles inside
/// its own calls) and the statement to add.
pub fn ecs_failure(e: EcsFailure, principal: &str, target: &str) -> Failure {
    if e.error.is_access_denied() || e.error.message.contains("not authorized to perform") {
        let denied = after(&e.error.message, "perform: ").unwrap_or(e.action);
        let resource = after(&e.error.message, "on resource: ").unwrap_or("*");
        let statement = if denied == "iam:PassRole" {
            format!(
                r#"{{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "{resource}", "Condition": {{"StringEquals": {{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}}}}"#
            )
        } else {
            format!(r#"{{"Effect": "Allow", "Action": "{denied}", "Resource": "{resource}"}}"#)
        };
        let why = if denied == "iam:PassRole" {
            " A deploy hands the task definition's roles (taskRoleArn, executionRoleArn) to ECS, \
             which needs iam:PassRole on exactly those roles."
        } else {
            ""
        };
        return Failure::new(
            format!("Not allowed: {denied}"),
            format!(
                "{principal} may not call {denied} while deploying to {target} ({}).{why} Add \
                 this statement to the role's permissions policy: {statement}. A deploy needs \
                 ecs:DescribeServices, ecs:DescribeTaskDefinition, ecs:RegisterTaskDefinition, \
                 ecs:UpdateService, and iam:PassRole on the task's roles.",
                e.error
            ),
        );
    }
    if e.error.is("ServiceNotFound") || e.error.is("ClusterNotFoundException") {
        return Failure::new(
            "ECS service not found",
            format!(
                "{}. Check ecs-cluster and ecs-service (names or ARNs) and aws-region.",
                e.error.message
            ),
        );
    }
    Failure::new(
        format!("{} failed", e.action),
        format!("{} while deploying to {target}: {}.", e.action, e.error),
    )
}

/// The word after `marker` in `text`, without trailing punctuation.
fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let word = rest.split_whitespace().next()?;
    Some(word.trim_end_matches(['.', ',', ';', ')']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::errors::AwsError;

    fn denied(action: &'static str, code: &str, message: &str) -> EcsFailure {
        EcsFailure {
            action,
            error: AwsError {
                code: Some(code.into()),
                message: message.into(),
                retryable: false,
                no_credentials: false,
            },
        }
    }

    #[test]
    fn a_pass_role_denial_names_the_role_and_the_statement() {
        let failure = ecs_failure(
            denied(
                "ecs:RegisterTaskDefinition",
                "AccessDeniedException",
                "User: arn:aws:sts::1:assumed-role/deploy/x is not authorized to perform: \
                 iam:PassRole on resource: arn:aws:iam::1:role/web-exec because no \
                 identity-based policy allows the iam:PassRole action",
            ),
            "arn:aws:iam::1:role/deploy",
            "prod/web",
        );
        assert_eq!(failure.title, "Not allowed: iam:PassRole");
        assert!(failure
            .message
            .contains(r#""Resource": "arn:aws:iam::1:role/web-exec""#));
        assert!(failure.message.contains("ecs-tasks.amazonaws.com"));
        assert!(failure.message.contains("taskRoleArn"));
    }

    #[test]
    fn an_ecs_denial_without_details_names_the_call() {
        let failure = ecs_failure(
            denied(
                "ecs:UpdateService",
                "AccessDeniedException",
                "Access denied",
            ),
            "arn:aws:iam::1:role/deploy",
            "prod/web",
        );
        assert_eq!(failure.title, "Not allowed: ecs:UpdateService");
        assert!(failure
            .message
            .contains(r#""Action": "ecs:UpdateService", "Resource": "*""#));
    }
}
