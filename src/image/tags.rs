//! Image tags: the defaults for each kind of run, the `{{placeholder}}` templates of the `tags`
//! input, and the OCI tag grammar every final tag must meet.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::InputError;
use crate::github::event::{Event, RefKind};

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("valid pattern"));
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([^}]*?)\s*\}\}").expect("valid pattern"));

const PLACEHOLDERS: &[&str] = &[
    "sha",
    "short-sha",
    "branch",
    "ref-name",
    "pr",
    "run-number",
    "date",
];

/// The values placeholders take in this run; `None` where the run has none (no PR on a push).
#[derive(Debug, Clone, Default)]
pub struct TagValues {
    pub sha: Option<String>,
    pub branch: Option<String>,
    pub ref_name: Option<String>,
    pub pr: Option<u64>,
    pub run_number: Option<String>,
    /// UTC `YYYYMMDD`.
    pub date: String,
}

impl TagValues {
    pub fn from_event(event: &Event, date: String) -> Self {
        TagValues {
            sha: event.sha.clone(),
            branch: event.branch(),
            ref_name: event.ref_name(),
            pr: event.pull_request,
            run_number: event.run_number.clone(),
            date,
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        match name {
            "sha" => self.sha.clone(),
            "short-sha" => self.sha.as_ref().map(|s| s.chars().take(7).collect()),
            "branch" => self.branch.as_deref().map(sanitise),
            "ref-name" => self.ref_name.as_deref().map(sanitise),
            "pr" => self.pr.map(|n| n.to_string()),
            "run-number" => self.run_number.clone(),
            "date" => Some(self.date.clone()),
            _ => None,
        }
    }
}

/// Characters a tag cannot hold (`/` in `feature/x`, among others) become `-`, except first,
/// where a tag allows only letters, digits and `_` (`-rc` and `=main` are branch names git
/// takes): there they become `_`. The result is cut to the 128 characters a tag may have.
pub fn sanitise(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 && !(c.is_ascii_alphanumeric() || c == '_') {
                '_'
            } else if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect()
}

/// The tags of a run that names none: `sha-<7>` always, plus the branch (and `latest` on the
/// default branch), `pr-<n>` for a pull request, or the tag name for a tag push.
pub fn default_tags(event: &Event) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(sha) = &event.sha {
        tags.push(format!("sha-{}", sha.chars().take(7).collect::<String>()));
    }
    match event.ref_kind() {
        RefKind::Branch(branch) => {
            tags.push(sanitise(&branch));
            if event.on_default_branch() {
                tags.push("latest".into());
            }
        }
        RefKind::PullRequest(n) => tags.push(format!("pr-{n}")),
        RefKind::Tag(tag) => tags.push(sanitise(&tag)),
        RefKind::Other => {}
    }
    // An empty ref name (`refs/heads/`) makes no tag.
    tags.retain(|tag| !tag.is_empty());
    dedup(tags)
}

/// Whether `tag` meets the OCI tag grammar.
pub fn is_valid(tag: &str) -> bool {
    TAG.is_match(tag)
}

/// Expands the `tags` input: one tag per line, placeholders filled in; a line whose
/// placeholder has no value in this run is dropped. Every result must be a valid tag.
pub fn expand(input: &str, values: &TagValues) -> Result<Vec<String>, InputError> {
    let mut tags = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut missing = false;
        let mut unknown = None;
        let tag = PLACEHOLDER.replace_all(line, |caps: &regex::Captures| {
            let name = &caps[1];
            if !PLACEHOLDERS.contains(&name) {
                unknown = Some(name.to_string());
                return String::new();
            }
            values.get(name).unwrap_or_else(|| {
                missing = true;
                String::new()
            })
        });
        if let Some(name) = unknown {
            return Err(InputError::new(
                "tags",
                format!(
                    "line {} uses {{{{{name}}}}}, which is not a placeholder; use one of {}",
                    index + 1,
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{{{p}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "sha-{{short-sha}}",
            ));
        }
        if missing {
            continue;
        }
        if !TAG.is_match(&tag) {
            return Err(InputError::new(
                "tags",
                format!(
                    "line {} gives the tag '{tag}', which is not a valid tag: up to 128 letters, \
                     digits, '.', '_' and '-', not starting with '.' or '-'",
                    index + 1
                ),
                "v1.2.3",
            ));
        }
        tags.push(tag.into_owned());
    }
    Ok(dedup(tags))
}

fn dedup(tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tags.into_iter()
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(git_ref: &str, default_branch: &str) -> Event {
        Event {
            sha: Some("4f3c2b1a0e9d8c7b".into()),
            git_ref: Some(git_ref.into()),
            default_branch: Some(default_branch.into()),
            ..Event::default()
        }
    }

    #[test]
    fn defaults_for_each_kind_of_run() {
        assert_eq!(
            default_tags(&push("refs/heads/main", "main")),
            ["sha-4f3c2b1", "main", "latest"]
        );
        assert_eq!(
            default_tags(&push("refs/heads/feature/login", "main")),
            ["sha-4f3c2b1", "feature-login"]
        );
        assert_eq!(
            default_tags(&push("refs/tags/v1.0.0", "main")),
            ["sha-4f3c2b1", "v1.0.0"]
        );
        let mut pr = push("refs/pull/42/merge", "main");
        pr.pull_request = Some(42);
        assert_eq!(default_tags(&pr), ["sha-4f3c2b1", "pr-42"]);
    }

    fn values() -> TagValues {
        TagValues {
            sha: Some("4f3c2b1a0e9d8c7b".into()),
            branch: Some("feature/login".into()),
            ref_name: Some("feature/login".into()),
            pr: None,
            run_number: Some("12".into()),
            date: "20261122".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_lines_without_a_value_dropped() {
        let tags = expand(
            "{{branch}}-{{run-number}}\n\n{{ short-sha }}\npr-{{pr}}\n{{date}}\nfixed",
            &values(),
        )
        .unwrap();
        assert_eq!(tags, ["feature-login-12", "4f3c2b1", "20261122", "fixed"]);
    }

    #[test]
    fn long_and_odd_branch_names_still_make_tags() {
        let long = format!("dependabot/npm_and_yarn/{}", "x".repeat(200));
        let tags = default_tags(&push(&format!("refs/heads/{long}"), "main"));
        assert_eq!(tags[1].len(), 128);
        assert!(tags.iter().all(|t| TAG.is_match(t)), "{tags:?}");
        assert_eq!(sanitise("-rc/1"), "_rc-1");
        assert_eq!(sanitise("=main"), "_main");
        assert_eq!(sanitise("é/x"), "_-x");
        assert!(is_valid(&sanitise("=main")));
    }

    #[test]
    fn invalid_results_and_unknown_placeholders_are_errors() {
        let err = expand("ok\n-{{sha}}", &values()).unwrap_err();
        assert!(err.rule.contains("line 2"), "{}", err.rule);
        for unknown in ["{{commit}}", "{{ref_name}}", "{{SHA}}"] {
            let err = expand(unknown, &values()).unwrap_err();
            assert!(err.rule.contains("not a placeholder"), "{}", err.rule);
        }
        assert!(expand(&"a".repeat(129), &values()).is_err());
    }
}
