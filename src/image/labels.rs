//! The OCI annotations a built image gets by default; the user's `labels` win over them.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::github::event::Event;

/// The labels of a build: the OCI ones, then the user's, then `recorded` (the build key and
/// the building run, which reuse depends on and no user label may replace).
pub fn build_labels(
    event: &Event,
    first_tag: &str,
    created: DateTime<Utc>,
    user: &[(String, String)],
    recorded: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut set = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            labels.insert(format!("org.opencontainers.image.{key}"), value);
        }
    };
    set("source", event.repository_url());
    set("url", event.repository_url());
    set("revision", event.sha.clone());
    set(
        "created",
        Some(created.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    set("version", Some(first_tag.to_string()));
    for (key, value) in user.iter().chain(recorded) {
        labels.insert(key.clone(), value.clone());
    }
    labels
}

/// A Dockerfile that adds all `labels` to `base` in one `LABEL` instruction. The classic
/// builder turns each label of its `labels` option into a step of its own, each committing a
/// container; one instruction costs one step.
pub fn label_dockerfile(base: &str, labels: &BTreeMap<String, String>) -> String {
    let quote = |text: &str| {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
            .replace('\n', " ");
        format!("\"{escaped}\"")
    };
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    format!("FROM {base}\nLABEL {}\n", pairs.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn one_label_instruction_with_dockerfile_quoting() {
        let labels = BTreeMap::from([
            ("a.b".to_string(), "x y".to_string()),
            ("c".to_string(), "q\"uote $HOME \\".to_string()),
        ]);
        assert_eq!(
            label_dockerfile("sha256:abc", &labels),
            "FROM sha256:abc\nLABEL \"a.b\"=\"x y\" \"c\"=\"q\\\"uote \\$HOME \\\\\"\n"
        );
    }

    #[test]
    fn oci_labels_with_user_labels_winning() {
        let event = Event {
            sha: Some("abc123".into()),
            repository: Some("octo/app".into()),
            ..Event::default()
        };
        let created = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let labels = build_labels(
            &event,
            "sha-abc123",
            created,
            &[("org.opencontainers.image.version".into(), "1.0".into())],
            &[],
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/octo/app"
        );
        assert_eq!(labels["org.opencontainers.image.revision"], "abc123");
        assert_eq!(
            labels["org.opencontainers.image.created"],
            "2026-11-22T10:00:00Z"
        );
        assert_eq!(labels["org.opencontainers.image.version"], "1.0");
    }
}
