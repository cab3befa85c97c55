//! ECR failures explained: which permission to add to the role, or what else to check.

use super::ecr::EcrFailure;
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
