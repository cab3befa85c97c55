//! The sticky pull-request comment: one per pull request and ECR repository, found again by a
//! hidden marker and edited in place on every later run. It shows the image this run pushed and
//! what changed against the default branch's image (its `latest` tag), read from the two
//! configs through the registry client.

use serde_json::Value;

use crate::github::api::GitHubApi;
use crate::github::commands::{Level, Workflow};
use crate::github::event::Event;
use crate::github::markdown::{cut, literal};
use crate::oci::diff::{human_delta, human_size, Change, ImageDiff, ImageSide};
use crate::oci::manifest::Parsed;
use crate::oci::{Digest, Platform};
use crate::registry::destination::Destination;

/// The permission the comment needs, as the `permissions:` line.
const PERMISSION: &str = "pull-requests: write";

/// The tag the default branch's image has: a push to the default branch adds it by default.
pub const COMPARED_WITH: &str = "latest";

/// Layers listed at most under each of "added" and "removed"; the counts are always whole.
const MOST_LAYERS_LISTED: usize = 10;

/// Names (env, ports) listed at most under each of "added", "removed" and "changed".
const MOST_NAMES_LISTED: usize = 20;

/// The pull request to comment on, or `None` (told why, when the user may wonder): the
/// comment is on by default for a pull request's run, and never for one from a fork, whose
/// token is read-only by design.
pub fn target(setting: Option<bool>, event: &Event, workflow: &Workflow) -> Option<u64> {
    if setting == Some(false) {
        return None;
    }
    let Some(number) = event.pull_request else {
        if setting == Some(true) {
            workflow
                .info("pr-comment is true, but this run is not for a pull request: no comment.");
        }
        return None;
    };
    if event.from_fork {
        workflow.annotate(
            Level::Notice,
            "No pull-request comment",
            "This pull request comes from a fork: its token is read-only by design, so the \
             image is not commented on.",
        );
        return None;
    }
    Some(number)
}

/// The image a comment is about.
pub struct Pushed<'a> {
    pub pull_request: u64,
    pub digest: &'a Digest,
    pub tags: &'a [String],
    /// This run's page, linked from the comment.
    pub log_url: Option<String>,
    /// The commit built, shown shortened.
    pub commit: Option<&'a str>,
}

/// Writes the comment: edits ours when the pull request has it, else creates it. Failures are
/// one warning each; nothing here fails the run.
pub async fn post(api: &GitHubApi, to: &Destination, pushed: &Pushed<'_>, workflow: &Workflow) {
    let after = read_side(to, pushed.digest.as_str(), None).await;
    let before = match &after {
        Some(after) => read_side(to, COMPARED_WITH, after.platform.as_ref()).await,
        None => None,
    };
    let marker = marker(&to.repository_uri());
    let body = render(
        &marker,
        &to.repository_uri(),
        pushed,
        after.as_ref(),
        before.as_ref(),
    );
    let found = ours(api, pushed.pull_request, &marker, workflow).await;
    let written = match found {
        Ok(Some(id)) => api
            .update_comment(id, &body, super::retry_line(workflow))
            .await
            .map(|()| {
                format!(
                    "Updated the comment on pull request #{}.",
                    pushed.pull_request
                )
            }),
        Ok(None) => api
            .create_comment(pushed.pull_request, &body, super::retry_line(workflow))
            .await
            .map(|_| format!("Commented on pull request #{}.", pushed.pull_request)),
        Err(e) => Err(e),
    };
    match written {
        Ok(line) => workflow.info(&line),
        Err(e) => super::warn(workflow, "The pull-request comment", PERMISSION, &e),
    }
}

/// Our comment on the pull request, if it has one: the first holding `marker` that this token's
/// identity wrote. A comment by anyone else is never edited, marker or not: it is theirs.
async fn ours(
    api: &GitHubApi,
    pull_request: u64,
    marker: &str,
    workflow: &Workflow,
) -> Result<Option<u64>, crate::github::api::ApiError> {
    let marked = api
        .marked_comments(pull_request, marker, super::retry_line(workflow))
        .await?;
    if marked.is_empty() {
        return Ok(None);
    }
    let author = api.author(super::retry_line(workflow)).await?;
    Ok(marked
        .into_iter()
        .find(|c| c.author == author)
        .map(|c| c.id))
}

/// The hidden line that finds our comment again: one per ECR repository, so that a workflow
/// pushing two images keeps two comments.
fn marker(repository_uri: &str) -> String {
    format!("<!-- ship-to-ecr: {repository_uri} -->")
}

/// One image as read back from the registry: for an index, the image of one platform.
pub struct Side {
    pub digest: Digest,
    pub platform: Option<Platform>,
    pub layers: Vec<(String, u64)>,
    /// The config as the image holds it: every string in it chosen by whoever pushed it.
    pub config: Value,
}

/// The image at `reference`; for an index, the image for `platform`, else `linux/amd64`, else
/// the first. `None` when it is not there or cannot be read (the comment then says so).
async fn read_side(to: &Destination, reference: &str, platform: Option<&Platform>) -> Option<Side> {
    let quiet = |_: &_, _| {};
    let top = to
        .client
        .get_manifest(&to.repository, reference, quiet)
        .await
        .ok()??;
    let (image, platform) = match top.parse().ok()? {
        Parsed::Image(_) => (top.clone(), None),
        Parsed::Index(index) => {
            let amd64 = Platform::new("linux", "amd64", None);
            let wanted = platform.unwrap_or(&amd64);
            let entry = index
                .entries
                .iter()
                .find(|e| e.platform.as_ref() == Some(wanted))
                .or_else(|| index.entries.iter().find(|e| e.platform.is_some()))?;
            let child = to
                .client
                .get_manifest(&to.repository, entry.digest.as_str(), quiet)
                .await
                .ok()??;
            (child, entry.platform.clone())
        }
    };
    let manifest = image.image().ok()?;
    let config = to
        .client
        .get_small_blob(&to.repository, &manifest.config.digest, quiet)
        .await
        .ok()?;
    Some(Side {
        digest: top.digest,
        platform,
        layers: manifest
            .layers
            .iter()
            .map(|l| (l.digest.to_string(), l.size))
            .collect(),
        config: serde_json::from_slice(&config).ok()?,
    })
}

/// The comment's Markdown. It may be public: environment variables are named, never valued.
fn render(
    marker: &str,
    repository_uri: &str,
    pushed: &Pushed<'_>,
    after: Option<&Side>,
    before: Option<&Side>,
) -> String {
    let mut out = vec![
        marker.to_string(),
        format!("### Image `{repository_uri}`"),
        String::new(),
    ];
    out.push("| | |".into());
    out.push("| --- | --- |".into());
    out.push(format!(
        "| Image | `{repository_uri}:{}` |",
        pushed.tags.first().map_or("", String::as_str)
    ));
    out.push(format!("| Digest | `{}` |", pushed.digest));
    let tags: Vec<String> = pushed.tags.iter().map(|t| format!("`{t}`")).collect();
    out.push(format!("| Tags | {} |", tags.join(", ")));
    if let Some(after) = after {
        let size: u64 = after.layers.iter().map(|(_, s)| s).sum();
        let platform = after
            .platform
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        out.push(format!(
            "| Size | {} compressed, {} layers{platform} |",
            human_size(size),
            after.layers.len()
        ));
    }
    out.push(String::new());
    out.extend(comparison(after, before));
    out.push(String::new());
    let run = match &pushed.log_url {
        Some(url) => format!("[this run]({url})"),
        None => "this run".into(),
    };
    let commit = pushed
        .commit
        .map(|c| format!(" for commit {}", cut(c, 7).trim_end_matches('…')))
        .unwrap_or_default();
    out.push(format!(
        "<sub>Pushed by ship-to-ecr in {run}{commit}; this comment is updated by each run.</sub>"
    ));
    out.join("\n")
}

/// What changed against `latest`, as Markdown lines; every value read from an image is shown
/// as a literal (see [`literal`]).
pub fn comparison(after: Option<&Side>, before: Option<&Side>) -> Vec<String> {
    let Some(after) = after else {
        return vec!["The pushed image could not be read back to compare it.".into()];
    };
    let Some(before) = before else {
        return vec![format!(
            "No `{COMPARED_WITH}` image in this repository yet: nothing to compare with."
        )];
    };
    if before.digest == after.digest {
        return vec![format!("The same image as `{COMPARED_WITH}`.")];
    }
    let diff = ImageDiff::between(
        ImageSide {
            layers: &before.layers,
            config: &before.config,
        },
        ImageSide {
            layers: &after.layers,
            config: &after.config,
        },
    );
    let mut out = vec![format!(
        "#### Against `{COMPARED_WITH}` (`{}`)",
        short(before.digest.as_str())
    )];
    out.push(String::new());
    out.push(format!(
        "- **Size**: {} ({} → {})",
        human_delta(diff.size_delta()),
        human_size(diff.size_before),
        human_size(diff.size_after)
    ));
    if diff.is_empty() {
        out.push(
            "- The same layers, base and run settings (only labels or history differ).".into(),
        );
        return out;
    }
    out.push(format!(
        "- **Layers**: {} added, {} removed, {} kept",
        diff.layers_added.len(),
        diff.layers_removed.len(),
        diff.layers_kept
    ));
    for (sign, layers) in [("+", &diff.layers_added), ("−", &diff.layers_removed)] {
        for (digest, size) in layers.iter().take(MOST_LAYERS_LISTED) {
            out.push(format!(
                "  - {sign} `{}` {}",
                short(digest),
                human_size(*size)
            ));
        }
        if layers.len() > MOST_LAYERS_LISTED {
            out.push(format!(
                "  - {sign} {} more",
                layers.len() - MOST_LAYERS_LISTED
            ));
        }
    }
    if let Some((old, new)) = &diff.base {
        let shown = |d: &Option<String>| d.as_deref().map_or("none".into(), |d| literal(&short(d)));
        out.push(format!("- **Base image**: {} → {}", shown(old), shown(new)));
    }
    for change in &diff.changes {
        out.push(format!(
            "- **{}**: {}",
            change.field,
            described(&change.change)
        ));
    }
    out
}

/// One setting's change in words.
fn described(change: &Change) -> String {
    let names = |label: &str, items: &[String]| {
        (!items.is_empty()).then(|| {
            let mut quoted: Vec<String> = items
                .iter()
                .take(MOST_NAMES_LISTED)
                .map(|i| literal(i))
                .collect();
            if items.len() > MOST_NAMES_LISTED {
                quoted.push(format!("{} more", items.len() - MOST_NAMES_LISTED));
            }
            format!("{label} {}", quoted.join(", "))
        })
    };
    match change {
        Change::Replaced { before, after } => format!("{} → {}", literal(before), literal(after)),
        Change::Ports { added, removed } => [names("added", added), names("removed", removed)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
        Change::Env {
            added,
            removed,
            changed,
        } => {
            let parts: Vec<String> = [
                names("added", added),
                names("removed", removed),
                names("changed", changed),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!("{} (values not shown)", parts.join("; "))
        }
    }
}

/// `sha256:` and the first 12 hex digits: enough to tell layers apart in a comment. A label
/// may hold any text: cut at a character boundary.
fn short(digest: &str) -> String {
    cut(digest, "sha256:".len() + 12)
        .trim_end_matches('…')
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn side(digest: char, layers: &[(char, u64)], env: &[&str]) -> Side {
        Side {
            digest: Digest::parse(&format!("sha256:{}", digest.to_string().repeat(64))).unwrap(),
            platform: None,
            layers: layers
                .iter()
                .map(|(c, s)| (format!("sha256:{}", c.to_string().repeat(64)), *s))
                .collect(),
            config: json!({"config": {"Env": env}}),
        }
    }

    fn pushed(digest: &Digest) -> Pushed<'_> {
        Pushed {
            pull_request: 42,
            digest,
            tags: &[],
            log_url: Some("https://github.com/o/r/actions/runs/7".into()),
            commit: Some("4f3c2b1a0e9d"),
        }
    }

    #[test]
    fn the_comment_shows_the_size_delta_layers_and_env_names_only() {
        let before = side('a', &[('1', 1_000_000)], &["MODE=dev"]);
        let after = side(
            'b',
            &[('1', 1_000_000), ('2', 2_500)],
            &["MODE=prod", "NEW=x"],
        );
        let tags = ["pr-42".to_string()];
        let digest = after.digest.clone();
        let pushed = Pushed {
            tags: &tags,
            ..pushed(&digest)
        };
        let body = render("<!-- m -->", "h/r", &pushed, Some(&after), Some(&before));
        assert!(body.starts_with("<!-- m -->\n"), "{body}");
        assert!(body.contains(&format!("| Digest | `{digest}` |")), "{body}");
        assert!(body.contains("| Image | `h/r:pr-42` |"), "{body}");
        assert!(body.contains("- **Size**: +2.5 KB (1 MB → 1 MB)"), "{body}");
        assert!(
            body.contains("- **Layers**: 1 added, 0 removed, 1 kept"),
            "{body}"
        );
        assert!(
            body.contains("  - + `sha256:222222222222` 2.5 KB"),
            "{body}"
        );
        assert!(
            body.contains("- **Env**: added `NEW`; changed `MODE` (values not shown)"),
            "{body}"
        );
        assert!(!body.contains("prod") && !body.contains("=x"), "{body}");
        assert!(
            body.contains("[this run](https://github.com/o/r/actions/runs/7) for commit 4f3c2b1")
        );
    }

    #[test]
    fn nothing_to_compare_with_or_the_same_image() {
        let after = side('b', &[('1', 10)], &[]);
        let digest = after.digest.clone();
        let body = render("<!-- m -->", "h/r", &pushed(&digest), Some(&after), None);
        assert!(
            body.contains("No `latest` image in this repository yet"),
            "{body}"
        );
        let body = render(
            "<!-- m -->",
            "h/r",
            &pushed(&digest),
            Some(&after),
            Some(&after),
        );
        assert!(body.contains("The same image as `latest`."), "{body}");
    }

    #[test]
    fn a_fork_or_a_run_without_a_pull_request_gets_no_comment() {
        let (workflow, log) = crate::steps::testing::workflow();
        let pr = Event {
            pull_request: Some(5),
            ..Event::default()
        };
        assert_eq!(target(None, &pr, &workflow), Some(5));
        assert_eq!(target(Some(false), &pr, &workflow), None);
        let fork = Event {
            from_fork: true,
            ..pr.clone()
        };
        assert_eq!(target(Some(true), &fork, &workflow), None);
        assert!(log
            .text()
            .contains("::notice title=No pull-request comment::"));
        assert_eq!(target(Some(true), &Event::default(), &workflow), None);
    }
}
