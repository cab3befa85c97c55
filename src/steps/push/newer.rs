//! Tags never move back. Two runs of one branch may finish out of order (the older commit's
//! build was slower); the later push must not take `latest`, the branch's tag or the service
//! back to the older commit. Before a moving tag (one that does not name this run's commit) is
//! written, the image it holds is read: when it is of a newer commit (its time is later and its
//! revision label differs) the tag is left where it is. An image's time is its
//! `org.opencontainers.image.created` label, the commit's time this action stamps on every
//! build and patch (older BuildKit stamps the config's `created` with the clock instead);
//! without the label, the config's `created`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::oci::manifest::Parsed;
use crate::oci::Manifest;
use crate::registry::destination::Destination;

const REVISION_LABEL: &str = "org.opencontainers.image.revision";
const CREATED_LABEL: &str = "org.opencontainers.image.created";

/// This run's commit, as the images it builds or patches are stamped with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    /// The commit's time, which is the image's `created`.
    pub time: DateTime<Utc>,
}

impl Commit {
    /// Whether `tag` names this commit (holds its short sha, as `sha-4f3c2b1` does): such a tag
    /// is written for this commit only, never moved from a newer one.
    pub fn is_named_by(&self, tag: &str) -> bool {
        let short: String = self.sha.chars().take(7).collect();
        short.len() == 7
            && tag
                .to_ascii_lowercase()
                .contains(&short.to_ascii_lowercase())
    }
}

/// The image a moving tag holds, when it is of a newer commit than this run's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newer {
    pub revision: Option<String>,
    pub created: DateTime<Utc>,
}

/// Whether `held`, the image a moving tag holds, is of a newer commit than `ours`. An image
/// that cannot be read is not known to be newer: the tag moves as it always did.
pub async fn newer_than(to: &Destination, held: &Manifest, ours: &Commit) -> Option<Newer> {
    let config = read_config(to, held).await?;
    let found = of_config(&config)?;
    is_newer(&found, ours).then_some(found)
}

/// The revision and time of an image config; `None` without a readable time.
fn of_config(config: &Value) -> Option<Newer> {
    let label = |name: &str| {
        config
            .pointer("/config/Labels")
            .and_then(|labels| labels.get(name))
            .and_then(Value::as_str)
    };
    let created = label(CREATED_LABEL).or_else(|| config.get("created")?.as_str())?;
    Some(Newer {
        revision: label(REVISION_LABEL).map(str::to_string),
        created: DateTime::parse_from_rfc3339(created)
            .ok()?
            .with_timezone(&Utc),
    })
}

/// Later, and of another commit: a rebuild of this same commit may move the tag.
fn is_newer(held: &Newer, ours: &Commit) -> bool {
    held.created > ours.time && held.revision.as_deref() != Some(ours.sha.as_str())
}

/// The config of the image `manifest` names; of an index, its first image's.
async fn read_config(to: &Destination, manifest: &Manifest) -> Option<Value> {
    let image = match manifest.parse().ok()? {
        Parsed::Image(image) => image,
        Parsed::Index(index) => {
            let first = index.entries.first()?;
            to.client
                .get_manifest(&to.repository, first.digest.as_str(), |_, _| {})
                .await
                .ok()??
                .image()
                .ok()?
        }
    };
    let bytes = to
        .client
        .get_small_blob(&to.repository, &image.config.digest, |_, _| {})
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ours() -> Commit {
        Commit {
            sha: "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into(),
            time: at("2026-11-20T09:30:00Z"),
        }
    }

    #[test]
    fn a_tag_names_the_commit_by_its_short_sha() {
        let commit = ours();
        assert!(commit.is_named_by("sha-4f3c2b1"));
        assert!(commit.is_named_by("4F3C2B1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"));
        assert!(!commit.is_named_by("main"));
        assert!(!commit.is_named_by("latest"));
        let short = Commit {
            sha: "abc".into(),
            ..ours()
        };
        assert!(!short.is_named_by("abc"), "too short to name a commit");
    }

    #[test]
    fn the_commit_time_label_wins_over_the_configs_clock_time() {
        let config = serde_json::json!({
            "created": "2026-12-07T21:00:00Z",
            "config": {"Labels": {
                "org.opencontainers.image.created": "2026-11-20T10:00:00Z",
                "org.opencontainers.image.revision": "9e8d"
            }}
        });
        assert_eq!(
            of_config(&config),
            Some(Newer {
                revision: Some("9e8d".into()),
                created: at("2026-11-20T10:00:00Z"),
            })
        );
        let unlabelled = serde_json::json!({"created": "2026-12-07T21:00:00Z"});
        assert_eq!(
            of_config(&unlabelled).map(|n| (n.revision, n.created)),
            Some((None, at("2026-12-07T21:00:00Z")))
        );
        assert_eq!(of_config(&serde_json::json!({"config": {}})), None);
    }

    #[test]
    fn only_a_later_image_of_another_commit_is_newer() {
        let held = |revision: Option<&str>, created: &str| Newer {
            revision: revision.map(str::to_string),
            created: at(created),
        };
        let commit = ours();
        assert!(is_newer(
            &held(Some("9e8d"), "2026-11-20T10:00:00Z"),
            &commit
        ));
        assert!(is_newer(&held(None, "2026-11-20T10:00:00Z"), &commit));
        assert!(!is_newer(
            &held(Some("9e8d"), "2026-11-20T09:00:00Z"),
            &commit
        ));
        assert!(!is_newer(
            &held(Some("9e8d"), "2026-11-20T09:30:00Z"),
            &commit
        ));
        assert!(!is_newer(
            &held(Some(&commit.sha), "2026-11-20T10:00:00Z"),
            &commit
        ));
    }
}
