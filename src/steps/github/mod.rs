//! The steps that talk to GitHub's API: the repository's labels, the pull-request comment, the
//! deployment record. Each is a courtesy to the push: a failed call becomes one warning that
//! names the permission or the outage, never a failed run.

pub mod comment;
pub mod deployment;
pub mod labels;

use std::time::Duration;

use crate::github::api::{ApiError, GitHubApi, PUBLIC_API};
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::inputs::GitHubPlan;

/// A client for this run's repository, or `None` (told once) when the API is off.
pub fn connect(plan: &GitHubPlan, ctx: &RunContext, workflow: &Workflow) -> Option<GitHubApi> {
    let Some(token) = plan.token.as_deref() else {
        workflow.annotate(
            Level::Notice,
            "GitHub API off",
            "github-token is empty, so nothing is asked of GitHub's API: repository labels come \
             only from the event's payload, and there is no pull-request comment and no \
             deployment record. Leave github-token unset to use the job's token.",
        );
        return None;
    };
    let Some(repository) = ctx.repository.as_deref() else {
        workflow
            .info("GITHUB_REPOSITORY is not set (not a workflow run): GitHub's API is not used.");
        return None;
    };
    let base = ctx.api_url.as_deref().unwrap_or(PUBLIC_API);
    match GitHubApi::new(base, token, repository) {
        Ok(api) => Some(api),
        Err(e) => {
            workflow.annotate(
                Level::Warning,
                "GitHub API off",
                &format!("{e}; repository labels, the comment and the deployment are skipped."),
            );
            None
        }
    }
}

/// A retry told as a log line: a call that passes on another try is no failure.
pub fn retry_line(workflow: &Workflow) -> impl FnMut(&ApiError, Duration) + '_ {
    // GitHub's message is the server's text: shown on one line, escaped.
    move |e, wait| {
        workflow.info(&format!(
            "GitHub API: {}; trying again in {wait:.1?}",
            crate::github::commands::untrusted(&e.to_string())
        ))
    }
}

/// The one warning for a call that failed: what was skipped, GitHub's answer, and what would
/// fix it. `permission` is the `permissions:` line the feature needs (`pull-requests: write`).
pub fn warn(workflow: &Workflow, skipped: &str, permission: &str, error: &ApiError) {
    workflow.annotate(
        Level::Warning,
        &format!("GitHub API: {skipped} skipped"),
        &format!(
            "{skipped} skipped ({error}); {}. The image was pushed all the same.",
            what_to_fix(permission, error)
        ),
    );
}

/// What a failed call asks of the user.
fn what_to_fix(permission: &str, error: &ApiError) -> String {
    if error.is_rate_limit() {
        return "GitHub's API rate limit was reached for this token; a later run will try \
                again"
            .into();
    }
    match error {
        ApiError::Status { status: 401, .. } => {
            "the token was refused: leave github-token unset to use the job's token, or give \
             a token that is still valid"
                .into()
        }
        ApiError::Status {
            status: 403 | 404, ..
        } => format!(
            "the job's token lacks a permission. Give the job (or the workflow) these \
             permissions:\n\npermissions:\n  id-token: write\n  contents: read\n  \
             {permission}\n\nA pull request from a fork always gets a read-only token; a 404 \
             can also mean GITHUB_API_URL points to another server"
        ),
        ApiError::Status { status, .. } if *status >= 500 => {
            "GitHub's API is failing (an outage: see https://www.githubstatus.com)".into()
        }
        ApiError::Network { .. } => {
            "GitHub's API could not be reached (an outage, or GITHUB_API_URL is wrong)".into()
        }
        _ => "GitHub's API answered what this action does not understand".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn status(status: u16, rate_limited: bool) -> ApiError {
        ApiError::Status {
            method: Method::POST,
            path: "/repos/o/r/issues/1/comments".into(),
            status,
            message: "Resource not accessible by integration".into(),
            rate_limited,
        }
    }

    #[test]
    fn a_refusal_names_the_permission_as_yaml() {
        let fix = what_to_fix("pull-requests: write", &status(403, false));
        assert!(
            fix.contains(
                "permissions:\n  id-token: write\n  contents: read\n  pull-requests: write\n"
            ),
            "{fix}"
        );
    }

    #[test]
    fn a_limit_an_outage_and_a_bad_token_are_told_apart() {
        assert!(what_to_fix("x", &status(403, true)).contains("rate limit"));
        assert!(what_to_fix("x", &status(502, false)).contains("outage"));
        assert!(what_to_fix("x", &status(401, false)).contains("token was refused"));
    }
}
