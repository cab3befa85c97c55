//! Who the credentials belong to: the account (an output, and the owner of a new repository)
//! and the caller's ARN, for the log.

use crate::aws::errors::AwsError;
use crate::aws::session::AwsSession;
use crate::aws::sts;
use crate::error::Failure;
use crate::github::commands::Workflow;

/// The account id of the session's credentials.
pub async fn account(session: &AwsSession, workflow: &Workflow) -> Result<String, Failure> {
    let client = aws_sdk_sts::Client::new(&session.config);
    let (account, caller_arn) = sts::caller_identity(&client)
        .await
        .map_err(|e| caller_identity_failure(&e, session))?;
    workflow.info(&format!("Account {account}, acting as {caller_arn}."));
    Ok(account)
}

fn caller_identity_failure(e: &AwsError, session: &AwsSession) -> Failure {
    // Only a failure to load credentials, not a network error with valid keys.
    if session.credentials.is_none() && e.no_credentials {
        return Failure::new(
            "No AWS credentials",
            format!(
                "role-to-assume is empty, so the default AWS credential chain was used, and it \
                 gave no working credentials ({e}). Set role-to-assume to the ARN of a role that \
                 trusts GitHub's OIDC provider (no stored keys needed), or configure credentials \
                 in an earlier step."
            ),
        );
    }
    Failure::new(
        "GetCallerIdentity failed",
        format!(
            "Could not identify the AWS account of {}: {e}",
            session.principal
        ),
    )
}
