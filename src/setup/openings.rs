//! The other question asked of a trust policy: besides "is this run admitted", would it admit
//! runs it must not? A token of an unrelated owner and repository, or one minted for another
//! audience, must be refused (else `check` fails); and a role that admits this repository's
//! pull requests beside a protected ref lets a pull request push where that ref's runs push
//! (a warning from `check` and from `setup`).

use serde_json::Value;

use super::args::GitHubRepo;
use super::check::Check;
use crate::iam::condition;
use crate::iam::trust::{self, GITHUB_ISSUER};

/// An owner and repository no trust policy of this repository has any reason to admit.
const STRANGER_OWNER: &str = "unrelated-owner-7f3a";
const STRANGER_REPO: &str = "unrelated-repository";
const STRANGER_IDS: (u64, u64) = (987_654_321_001, 987_654_321_002);
/// An audience nobody configures: a policy that admits it checks no audience.
const OTHER_AUDIENCE: &str = "another-audience.invalid";

/// A statement that admits exactly the checked run, for the run's audience.
pub fn admitting(check: &Check, provider: &str) -> Value {
    trust::policy(provider, &check.audience, &[check.subject()])["Statement"][0].clone()
}

/// What the policy admits that it must not, each naming the missing condition and a statement
/// that fixes it. Empty when both strangers are refused.
pub fn problems(check: &Check, policy: &Value, provider: &str) -> Vec<String> {
    let admitted = |run: &Check| trust::evaluate(policy, provider, &run.token()).admitted();
    let fix = admitting(check, provider);
    let mut found = Vec::new();
    let stranger = stranger(check);
    if admitted(&stranger) {
        found.push(format!(
            "The trust policy admits runs of any repository on GitHub: a token of {} on {} is \
             admitted. It needs the condition {GITHUB_ISSUER}:sub restricted to this repository \
             (StringEquals, or StringLike on {}:...). A statement that admits only this run: {fix}",
            stranger.repo.full_name(),
            check.git_ref,
            check.repo.subject_prefix(),
        ));
    }
    let mut other_audience = check.clone();
    other_audience.audience = OTHER_AUDIENCE.to_string();
    if admitted(&other_audience) {
        found.push(format!(
            "The trust policy admits a token minted for any audience ({OTHER_AUDIENCE} is \
             admitted). It needs the condition StringEquals {GITHUB_ISSUER}:aud: {}. A statement \
             that admits only this run: {fix}",
            check.audience
        ));
    }
    found
}

/// The same run, of an unrelated owner and repository: a customised `sub` and a reusable
/// workflow's ref get the stranger's names where they had this repository's.
fn stranger(check: &Check) -> Check {
    let mut other = check.clone();
    other.repo = GitHubRepo {
        owner: STRANGER_OWNER.to_string(),
        name: STRANGER_REPO.to_string(),
        ids: check.repo.ids.map(|_| STRANGER_IDS),
    };
    let ours = [
        check.repo.subject_prefix(),
        check.repo.full_name(),
        check.repo.owner.clone(),
    ];
    let theirs = [
        other.repo.subject_prefix(),
        other.repo.full_name(),
        other.repo.owner.clone(),
    ];
    let renamed = |text: &String| {
        ours.iter()
            .zip(&theirs)
            .fold(text.clone(), |text, (ours, theirs)| {
                text.replace(ours, theirs)
            })
    };
    other.sub = check.sub.as_ref().map(renamed);
    // A reusable workflow of another repository is the same for the stranger's run.
    other.workflow_ref = check.workflow_ref.as_ref().map(|w| {
        if w.starts_with(&format!("{}/", check.repo.full_name())) {
            renamed(w)
        } else {
            w.clone()
        }
    });
    other
}

/// A warning when the role admits this repository's pull requests and a protected ref's runs
/// (the checked run, or a push to `main`): with one role, a pull request may push any image
/// under any tag to the repositories those runs push to, reuse and deploy from.
pub fn pull_requests_beside_protected_refs(
    check: &Check,
    policy: &Value,
    provider: &str,
) -> Option<String> {
    let admitted = |run: &Check| trust::evaluate(policy, provider, &run.token()).admitted();
    let as_event = |event: &str, git_ref: &str| {
        let mut run = check.clone();
        run.sub = None;
        run.environment = None;
        run.event = event.to_string();
        run.git_ref = git_ref.to_string();
        run
    };
    if check.sub.is_some() || !admitted(&as_event("pull_request", "refs/pull/1/merge")) {
        return None;
    }
    let mut protected = vec![as_event("push", "refs/heads/main")];
    if !is_pull_request(&check.event) {
        protected.insert(0, check.clone());
    }
    let shared: Vec<String> = protected
        .iter()
        .filter(|run| admitted(run))
        .map(Check::subject)
        .collect();
    let first = shared.first()?;
    Some(shared_role_warning(
        &check.role.arn,
        &format!("the runs of {first}"),
    ))
}

/// Whether one role of `setup` admits this repository's pull requests.
pub fn admits_pull_requests(subjects: &[String], repo: &GitHubRepo) -> bool {
    let pull_request = format!("{}:pull_request", repo.subject_prefix());
    subjects
        .iter()
        .any(|s| condition::wildcard(s, &pull_request))
}

/// What a role shared by pull requests and protected refs lets a pull request do, and the fix.
pub fn shared_role_warning(role: &str, protected: &str) -> String {
    format!(
        "The role {role} admits this repository's pull requests and {protected}: a pull \
         request's workflow, which its author can change, may push any image under any tag to \
         every repository the role writes, which those runs push to, reuse images from \
         (reuse: repository) and deploy. Give each stage its own role and repository: \
         `ship-to-ecr setup --stages dev,main,release` (pull requests push only to the dev \
         repository)."
    )
}

fn is_pull_request(event: &str) -> bool {
    matches!(event, "pull_request" | "pull_request_target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::rules::aws;

    const PROVIDER: &str =
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

    fn check() -> Check {
        Check {
            repo: GitHubRepo {
                owner: "octo".into(),
                name: "web".into(),
                ids: None,
            },
            region: "eu-west-1".into(),
            audience: "sts.amazonaws.com".into(),
            role: aws::role_arn("r", "arn:aws:iam::123456789012:role/ci").unwrap(),
            git_ref: "refs/heads/main".into(),
            event: "push".into(),
            environment: None,
            workflow_ref: None,
            sub: None,
            repositories: Vec::new(),
            duration_seconds: 3600,
        }
    }

    fn statement(conditions: Value) -> Value {
        serde_json::json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": conditions
        }]})
    }

    #[test]
    fn a_policy_open_to_any_repository_or_audience_is_named() {
        let aud = format!("{GITHUB_ISSUER}:aud");
        let sub = format!("{GITHUB_ISSUER}:sub");
        let only_aud = statement(serde_json::json!({"StringEquals": {&aud: "sts.amazonaws.com"}}));
        let found = problems(&check(), &only_aud, PROVIDER);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains(&format!("{sub} restricted")), "{found:?}");
        let any_repo = statement(serde_json::json!({"StringLike": {&sub: "repo:*"}}));
        let found = problems(&check(), &any_repo, PROVIDER);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[1].contains(&format!("StringEquals {aud}: sts.amazonaws.com")));
        let written = trust::policy(
            PROVIDER,
            "sts.amazonaws.com",
            &["repo:octo/web:ref:refs/heads/main".to_string()],
        );
        assert!(problems(&check(), &written, PROVIDER).is_empty());
        // A customised sub keeps its shape, with the stranger's names.
        let mut custom = check();
        custom.sub = Some("repository_owner:octo:repo:octo/web:ref:refs/heads/main".into());
        let owner_only = statement(serde_json::json!({
            "StringEquals": {&aud: "sts.amazonaws.com"},
            "StringLike": {&sub: "repository_owner:octo:*"}
        }));
        assert!(problems(&custom, &owner_only, PROVIDER).is_empty());
    }

    #[test]
    fn pull_requests_beside_a_branch_are_warned_of() {
        let subjects = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let shared = trust::policy(
            PROVIDER,
            "sts.amazonaws.com",
            &subjects(&[
                "repo:octo/web:ref:refs/heads/main",
                "repo:octo/web:pull_request",
            ]),
        );
        let warning = pull_requests_beside_protected_refs(&check(), &shared, PROVIDER);
        assert!(warning.is_some_and(|w| w.contains("--stages")));
        let alone = trust::policy(
            PROVIDER,
            "sts.amazonaws.com",
            &subjects(&["repo:octo/web:ref:refs/heads/main"]),
        );
        assert!(pull_requests_beside_protected_refs(&check(), &alone, PROVIDER).is_none());
        let repo = check().repo;
        assert!(admits_pull_requests(&subjects(&["repo:octo/web:*"]), &repo));
        assert!(!admits_pull_requests(
            &subjects(&["repo:octo/web:ref:refs/heads/*"]),
            &repo
        ));
    }
}
