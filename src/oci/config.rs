//! A patched image's config: the base's config JSON with the asked changes, every other field
//! kept as the base had it (unknown ones too).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::digest::Digest;

/// What a patch changes in the base's config.
#[derive(Debug, Clone, Default)]
pub struct ConfigChanges {
    /// Added to the environment; a key the base sets is replaced in place.
    pub env: Vec<(String, String)>,
    /// Merged over the base's labels.
    pub labels: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// As in a Dockerfile, a new entrypoint clears the base's `Cmd` unless `cmd` is given too.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub created: Option<DateTime<Utc>>,
    /// The added layer's diff id, when files are added.
    pub layer: Option<Digest>,
    /// The history entry's `created_by`.
    pub created_by: String,
}

/// The base config's `created`, if it has a readable one.
pub fn created(base: &[u8]) -> Option<DateTime<Utc>> {
    let value: Value = serde_json::from_slice(base).ok()?;
    DateTime::parse_from_rfc3339(value.get("created")?.as_str()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Applies `changes` to the base config's JSON; returns the new config's bytes.
pub fn patch(base: &[u8], changes: &ConfigChanges) -> Result<Vec<u8>, String> {
    let mut root: Value =
        serde_json::from_slice(base).map_err(|e| format!("the base config is not JSON: {e}"))?;
    let object = root
        .as_object_mut()
        .ok_or("the base config is not a JSON object")?;
    let created = changes
        .created
        .map(|c| c.to_rfc3339_opts(SecondsFormat::Secs, true));
    if let Some(created) = &created {
        object.insert("created".into(), json!(created));
    }

    let config = object
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("the base config's 'config' is not an object")?;
    apply_run_settings(config, changes);

    if let Some(diff_id) = &changes.layer {
        let rootfs = object
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        rootfs
            .get_mut("diff_ids")
            .and_then(Value::as_array_mut)
            .ok_or("the base config has no rootfs.diff_ids list")?
            .push(json!(diff_id.as_str()));
    }
    let mut entry = Map::new();
    if let Some(created) = &created {
        entry.insert("created".into(), json!(created));
    }
    entry.insert("created_by".into(), json!(changes.created_by));
    entry.insert("comment".into(), json!("ship-to-ecr patch"));
    if changes.layer.is_none() {
        entry.insert("empty_layer".into(), json!(true));
    }
    match object.get_mut("history").and_then(Value::as_array_mut) {
        Some(history) => history.push(Value::Object(entry)),
        None => {
            object.insert("history".into(), json!([entry]));
        }
    }
    serde_json::to_vec(&root).map_err(|e| e.to_string())
}

/// The runtime settings (`config` in the JSON): env, labels, working folder, user, entry point
/// and command.
fn apply_run_settings(config: &mut Map<String, Value>, changes: &ConfigChanges) {
    if !changes.env.is_empty() {
        let mut env = strings(config.get("Env"));
        for (key, value) in &changes.env {
            let line = format!("{key}={value}");
            match env
                .iter_mut()
                .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
            {
                Some(existing) => *existing = line,
                None => env.push(line),
            }
        }
        config.insert("Env".into(), json!(env));
    }
    if !changes.labels.is_empty() {
        let mut labels: Map<String, Value> = config
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in &changes.labels {
            labels.insert(key.clone(), json!(value));
        }
        config.insert("Labels".into(), Value::Object(labels));
    }
    if let Some(workdir) = &changes.workdir {
        config.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(user) = &changes.user {
        config.insert("User".into(), json!(user));
    }
    if let Some(entrypoint) = &changes.entrypoint {
        config.insert("Entrypoint".into(), json!(entrypoint));
        if changes.cmd.is_none() {
            config.insert("Cmd".into(), Value::Null);
        }
    }
    if let Some(cmd) = &changes.cmd {
        config.insert("Cmd".into(), json!(cmd));
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BASE: &str = r#"{"architecture":"amd64","os":"linux","created":"2024-05-01T10:00:00Z",
        "config":{"Env":["PATH=/bin","MODE=base"],"Cmd":["/bin/sh"],"Labels":{"a":"1"},"ExposedPorts":{"80/tcp":{}}},
        "rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},
        "history":[{"created_by":"one"},{"created_by":"two"}],"x-unknown":1}"#;

    fn patched(changes: &ConfigChanges) -> Value {
        serde_json::from_slice(&patch(BASE.as_bytes(), changes).unwrap()).unwrap()
    }

    #[test]
    fn applies_changes_and_keeps_the_rest() {
        let created = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let config = patched(&ConfigChanges {
            env: vec![
                ("MODE".into(), "patched".into()),
                ("NEW".into(), "x=y".into()),
            ],
            labels: [("b".to_string(), "2".to_string())].into(),
            workdir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            cmd: Some(vec!["serve".into()]),
            created: Some(created),
            layer: Some(Digest::of(b"cc")),
            created_by: "files".into(),
            ..Default::default()
        });
        assert_eq!(
            config["config"]["Env"],
            json!(["PATH=/bin", "MODE=patched", "NEW=x=y"])
        );
        assert_eq!(config["config"]["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(config["config"]["WorkingDir"], "/srv");
        assert_eq!(config["config"]["User"], "1000:1000");
        assert_eq!(config["config"]["Cmd"], json!(["serve"]));
        assert_eq!(config["config"]["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(config["created"], "2025-01-02T03:04:05Z");
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!(["sha256:aa", "sha256:bb", Digest::of(b"cc").as_str()])
        );
        assert_eq!(config["history"][2]["created_by"], "files");
        assert_eq!(config["history"][2].get("empty_layer"), None);
        assert_eq!(config["x-unknown"], 1);
    }

    #[test]
    fn an_entrypoint_clears_the_base_cmd_like_a_dockerfile() {
        let config = patched(&ConfigChanges {
            entrypoint: Some(vec!["/app".into()]),
            ..Default::default()
        });
        assert_eq!(config["config"]["Entrypoint"], json!(["/app"]));
        assert_eq!(config["config"]["Cmd"], Value::Null);
        assert_eq!(config["history"][2]["empty_layer"], true);
        assert_eq!(config["created"], "2024-05-01T10:00:00Z");
    }

    #[test]
    fn the_same_changes_give_the_same_bytes() {
        let changes = ConfigChanges {
            env: vec![("A".into(), "1".into())],
            ..Default::default()
        };
        assert_eq!(
            patch(BASE.as_bytes(), &changes).unwrap(),
            patch(BASE.as_bytes(), &changes).unwrap()
        );
        assert_eq!(
            created(BASE.as_bytes()),
            Some(Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap())
        );
    }
}
