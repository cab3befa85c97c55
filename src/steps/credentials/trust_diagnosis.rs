//! Turns STS's "Not authorized to perform sts:AssumeRoleWithWebIdentity" into what to change.
//!
//! STS never says which condition failed. What we can show is the token this run presented
//! (its claims carry no secret) and a trust policy statement that would admit exactly this run,
//! so the user can compare it with the role's trust policy line by line.

use serde_json::json;

use crate::aws::errors::AwsError;
use crate::error::Failure;
use crate::github::oidc::Claims;
use crate::inputs::RoleArn;

const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";

/// The failure shown when STS refuses the token for `role`.
pub fn explain_refusal(
    error: &AwsError,
    role: &RoleArn,
    audience: &str,
    claims: Option<&Claims>,
) -> Failure {
    let mut text = format!(
        "AWS refused to let this workflow assume {} ({error}).\n",
        role.arn
    );
    let Some(claims) = claims else {
        text.push_str(
            "The OIDC token could not be decoded to show its claims. Check that the role's trust \
             policy trusts the GitHub OIDC provider and this repository.\n",
        );
        return Failure::new("Role assumption refused", text);
    };

    let issuer = claims
        .iss
        .strip_prefix("https://")
        .filter(|i| !i.is_empty())
        .unwrap_or(GITHUB_ISSUER)
        .trim_end_matches('/');
    let partition = role.arn.split(':').nth(1).unwrap_or("aws");
    let token_aud = claims.aud.first().map(String::as_str).unwrap_or(audience);

    text.push_str("\nThe token this run presented:\n");
    let rows = [
        ("sub", Some(claims.sub.as_str())),
        ("aud", Some(token_aud)),
        ("repository", claims.repository.as_deref()),
        ("ref", claims.git_ref.as_deref()),
        ("environment", claims.environment.as_deref()),
        ("job_workflow_ref", claims.job_workflow_ref.as_deref()),
    ];
    for (name, value) in rows {
        text.push_str(&format!(
            "  {name:<17} {}\n",
            value.unwrap_or("(not set in this run)")
        ));
    }

    let statement = json!({
        "Effect": "Allow",
        "Principal": {
            "Federated": format!("arn:{partition}:iam::{}:oidc-provider/{issuer}", role.account)
        },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                format!("{issuer}:aud"): token_aud,
                format!("{issuer}:sub"): claims.sub,
            }
        }
    });
    text.push_str(&format!(
        "\nA trust policy statement that admits exactly this run (compare it with the role's \
         trust relationships in IAM):\n{}\n",
        serde_json::to_string_pretty(&statement).expect("JSON value serialises")
    ));
    text.push_str(&format!(
        "\nAlso check that account {} has an IAM OIDC identity provider for https://{issuer} \
         whose audiences include \"{token_aud}\".\n",
        role.account
    ));

    let hints = hints(claims, token_aud);
    if !hints.is_empty() {
        text.push_str("\nHints:\n");
        for hint in hints {
            text.push_str(&format!("- {hint}\n"));
        }
    }
    Failure::new("Role assumption refused", text)
}

fn hints(claims: &Claims, token_aud: &str) -> Vec<String> {
    let mut hints = Vec::new();
    let repo = claims.repository.as_deref().unwrap_or("OWNER/REPO");
    if let Some(env) = &claims.environment {
        hints.push(format!(
            "This job runs in the environment '{env}', so GitHub sets sub to \
             'repo:{repo}:environment:{env}' instead of one naming the branch or tag. A condition \
             on 'repo:{repo}:ref:...' does not match; allow the environment's sub (or \
             'repo:{repo}:environment:*' with StringLike)."
        ));
    }
    if claims.sub.starts_with("repo:")
        && claims
            .sub
            .split(':')
            .nth(1)
            .is_some_and(|r| r.contains('@'))
    {
        hints.push(
            "sub uses the immutable form 'repo:OWNER@OWNER_ID/REPO@REPO_ID:...', which this \
             repository or organisation has turned on. A trust policy written for \
             'repo:OWNER/REPO:...' does not match it; use the form above."
                .to_string(),
        );
    } else if !claims.sub.starts_with("repo:") {
        hints.push(
            "sub has a customised format (set through GitHub's OIDC subject claim API); the \
             trust policy must match this customised sub, not the default 'repo:...' form."
                .to_string(),
        );
    }
    if let Some(workflow) = &claims.job_workflow_ref {
        let calling_repo = format!("{repo}/");
        if !workflow.starts_with(&calling_repo) {
            hints.push(format!(
                "This job runs a reusable workflow ({workflow}) from another repository. sub \
                 names the calling repository ({repo}); to trust the reusable workflow itself, \
                 customise sub to include job_workflow_ref and add a condition on it."
            ));
        }
    }
    if token_aud != "sts.amazonaws.com" {
        hints.push(format!(
            "The audience is '{token_aud}', not the usual 'sts.amazonaws.com': the identity \
             provider's audience list must contain it (or leave the audience input empty)."
        ));
    }
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> AwsError {
        AwsError {
            code: Some("AccessDenied".into()),
            message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
            retryable: false,
            no_credentials: false,
        }
    }

    fn role() -> RoleArn {
        RoleArn {
            arn: "arn:aws:iam::111122223333:role/push".into(),
            account: "111122223333".into(),
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: "https://token.actions.githubusercontent.com".into(),
            sub: "repo:octo/app:ref:refs/heads/main".into(),
            aud: vec!["sts.amazonaws.com".into()],
            repository: Some("octo/app".into()),
            git_ref: Some("refs/heads/main".into()),
            job_workflow_ref: Some("octo/app/.github/workflows/ship.yml@refs/heads/main".into()),
            ..Default::default()
        }
    }

    #[test]
    fn shows_claims_and_a_statement_that_admits_this_run() {
        let failure = explain_refusal(&denied(), &role(), "sts.amazonaws.com", Some(&claims()));
        let text = failure.message;
        assert!(text.contains("AccessDenied: Not authorized"));
        assert!(text.contains("repo:octo/app:ref:refs/heads/main"));
        assert!(text.contains(
            "\"Federated\": \"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com\""
        ));
        assert!(text.contains(
            "\"token.actions.githubusercontent.com:sub\": \"repo:octo/app:ref:refs/heads/main\""
        ));
        assert!(!text.contains("Hints:"), "{text}");
    }

    #[test]
    fn hints_at_environment_and_immutable_subjects() {
        let mut c = claims();
        c.environment = Some("prod".into());
        c.sub = "repo:octo@1/app@2:environment:prod".into();
        let text = explain_refusal(&denied(), &role(), "sts.amazonaws.com", Some(&c)).message;
        assert!(text.contains("environment 'prod'"), "{text}");
        assert!(text.contains("immutable form"), "{text}");
    }

    #[test]
    fn hints_at_reusable_workflows_and_audiences() {
        let mut c = claims();
        c.job_workflow_ref = Some("platform/shared/.github/workflows/ship.yml@v1".into());
        c.aud = vec!["my-audience".into()];
        let text = explain_refusal(&denied(), &role(), "my-audience", Some(&c)).message;
        assert!(text.contains("reusable workflow"), "{text}");
        assert!(text.contains("'my-audience'"), "{text}");
    }
}
