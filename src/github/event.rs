//! What triggered the run, from `GITHUB_*` variables and the event payload at
//! `GITHUB_EVENT_PATH`: the ref, the commit, the pull request, the default branch. Image tags
//! and labels are derived from it.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::api::RepositoryInfo;

/// The kind of ref the run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    Branch(String),
    Tag(String),
    PullRequest(u64),
    Other,
}

/// The facts about the triggering event that image tags and labels use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    /// For a pull request, the branch it comes from (`GITHUB_HEAD_REF`).
    pub head_branch: Option<String>,
    pub run_number: Option<String>,
    pub default_branch: Option<String>,
    pub pull_request: Option<u64>,
    pub server_url: Option<String>,
    pub repository: Option<String>,
    /// A push event's `head_commit.timestamp`, the only commit time a payload carries (see
    /// [`super::commit_time`] for the time an image is stamped with).
    pub pushed_commit_time: Option<DateTime<Utc>>,
    /// The payload's `repository` metadata, when the payload carries it whole.
    pub repository_info: Option<RepositoryInfo>,
    /// A pull request whose branch lives in another repository (a fork, or one deleted): its
    /// token is read-only by design.
    pub from_fork: bool,
}

impl Event {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let payload = var("GITHUB_EVENT_PATH")
            .and_then(|p| read_payload(Path::new(&p)))
            .unwrap_or(Value::Null);
        Self::from_parts(var, &payload)
    }

    /// Builds the event from a variable lookup and the parsed payload (testable without env).
    pub fn from_parts(var: impl Fn(&str) -> Option<String>, payload: &Value) -> Self {
        let pull_request = payload
            .pointer("/pull_request/number")
            .and_then(Value::as_u64)
            .or_else(|| {
                // refs/pull/N/merge also names the pull request when the payload is missing.
                var("GITHUB_REF")?
                    .strip_prefix("refs/pull/")?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()
            });
        Event {
            name: var("GITHUB_EVENT_NAME"),
            sha: var("GITHUB_SHA"),
            git_ref: var("GITHUB_REF"),
            head_branch: var("GITHUB_HEAD_REF"),
            run_number: var("GITHUB_RUN_NUMBER"),
            default_branch: payload
                .pointer("/repository/default_branch")
                .and_then(Value::as_str)
                .map(str::to_string),
            pull_request,
            server_url: var("GITHUB_SERVER_URL"),
            repository: var("GITHUB_REPOSITORY"),
            pushed_commit_time: payload
                .pointer("/head_commit/timestamp")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            repository_info: payload
                .get("repository")
                .and_then(RepositoryInfo::from_payload),
            from_fork: from_fork(payload),
        }
    }

    pub fn ref_kind(&self) -> RefKind {
        if let Some(pr) = self.pull_request {
            return RefKind::PullRequest(pr);
        }
        match self.git_ref.as_deref() {
            Some(r) if r.starts_with("refs/heads/") => {
                RefKind::Branch(r["refs/heads/".len()..].into())
            }
            Some(r) if r.starts_with("refs/tags/") => RefKind::Tag(r["refs/tags/".len()..].into()),
            _ => RefKind::Other,
        }
    }

    /// The branch this run builds: the pushed branch, or a pull request's source branch.
    pub fn branch(&self) -> Option<String> {
        match self.ref_kind() {
            RefKind::Branch(b) => Some(b),
            RefKind::PullRequest(_) => self.head_branch.clone(),
            _ => None,
        }
    }

    /// The short name of the ref: the branch or tag name.
    pub fn ref_name(&self) -> Option<String> {
        match self.ref_kind() {
            RefKind::Branch(n) | RefKind::Tag(n) => Some(n),
            RefKind::PullRequest(n) => Some(format!("{n}/merge")),
            RefKind::Other => None,
        }
    }

    pub fn on_default_branch(&self) -> bool {
        matches!((self.ref_kind(), &self.default_branch), (RefKind::Branch(b), Some(d)) if &b == d)
    }

    /// `https://github.com/OWNER/REPO`, when known.
    pub fn repository_url(&self) -> Option<String> {
        let server = self.server_url.as_deref().unwrap_or("https://github.com");
        Some(format!(
            "{}/{}",
            server.trim_end_matches('/'),
            self.repository.as_deref()?
        ))
    }
}

/// Whether a pull request's head is in another repository than its base. `head.repo.fork`
/// alone would also flag a pull request between two branches of a repository that is itself a
/// fork; a head whose repository is gone (`null`) was a fork that was deleted.
fn from_fork(payload: &Value) -> bool {
    let Some(pull_request) = payload.get("pull_request") else {
        return false;
    };
    let name = |pointer: &str| pull_request.pointer(pointer).and_then(Value::as_str);
    match pull_request.pointer("/head/repo") {
        Some(Value::Null) => true,
        Some(_) => match (name("/head/repo/full_name"), name("/base/repo/full_name")) {
            (Some(head), Some(base)) => !head.eq_ignore_ascii_case(base),
            _ => pull_request.pointer("/head/repo/fork") == Some(&Value::Bool(true)),
        },
        None => false,
    }
}

fn read_payload(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(vars: &[(&str, &str)], payload: Value) -> Event {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Event::from_parts(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            &payload,
        )
    }

    #[test]
    fn a_push_to_the_default_branch() {
        let e = event(
            &[("GITHUB_REF", "refs/heads/main")],
            json!({"repository": {"default_branch": "main"}}),
        );
        assert_eq!(e.ref_kind(), RefKind::Branch("main".into()));
        assert!(e.on_default_branch());
        assert_eq!(e.ref_name().as_deref(), Some("main"));
        assert_eq!(e.pushed_commit_time, None);
        let e = event(
            &[("GITHUB_REF", "refs/heads/main")],
            json!({"head_commit": {"timestamp": "2026-11-20T09:30:00+01:00"}}),
        );
        assert_eq!(
            e.pushed_commit_time.unwrap().to_rfc3339(),
            "2026-11-20T08:30:00+00:00"
        );
    }

    #[test]
    fn a_pull_request_from_the_payload_or_the_ref() {
        let e = event(
            &[
                ("GITHUB_REF", "refs/pull/42/merge"),
                ("GITHUB_HEAD_REF", "feature/x"),
            ],
            json!({"pull_request": {"number": 42}, "repository": {"default_branch": "main"}}),
        );
        assert_eq!(e.ref_kind(), RefKind::PullRequest(42));
        assert_eq!(e.branch().as_deref(), Some("feature/x"));
        assert!(!e.on_default_branch());
        let e = event(&[("GITHUB_REF", "refs/pull/7/merge")], Value::Null);
        assert_eq!(e.pull_request, Some(7));
    }

    #[test]
    fn a_pull_request_from_another_repository_is_from_a_fork() {
        let pr = |head: Value| {
            let payload = json!({"pull_request": {"number": 3, "head": {"repo": head},
                "base": {"repo": {"full_name": "octo-org/web-app"}}}});
            event(&[], payload).from_fork
        };
        assert!(pr(json!({"full_name": "someone/web-app", "fork": true})));
        assert!(!pr(json!({"full_name": "octo-org/web-app", "fork": true})));
        assert!(pr(Value::Null), "a deleted fork");
        let push = json!({"repository": {"full_name": "octo-org/web-app"}});
        assert!(!event(&[], push).from_fork);
    }

    #[test]
    fn repository_metadata_is_read_from_a_whole_payload() {
        let payload = json!({"repository": {"name": "web-app", "description": "Shop",
            "homepage": null, "license": {"spdx_id": "MIT"}}});
        let info = event(&[], payload).repository_info.unwrap();
        assert_eq!(info.description.as_deref(), Some("Shop"));
        let trimmed = json!({"repository": {"full_name": "octo-org/web-app"}});
        assert_eq!(event(&[], trimmed).repository_info, None);
    }

    #[test]
    fn a_tag_push() {
        let e = event(&[("GITHUB_REF", "refs/tags/v1.2.3")], Value::Null);
        assert_eq!(e.ref_kind(), RefKind::Tag("v1.2.3".into()));
        assert_eq!(e.branch(), None);
        assert_eq!(e.ref_name().as_deref(), Some("v1.2.3"));
    }

    #[test]
    fn repository_url_uses_the_server() {
        let e = event(
            &[
                ("GITHUB_SERVER_URL", "https://ghe.example.com/"),
                ("GITHUB_REPOSITORY", "o/r"),
            ],
            Value::Null,
        );
        assert_eq!(
            e.repository_url().as_deref(),
            Some("https://ghe.example.com/o/r")
        );
    }
}
