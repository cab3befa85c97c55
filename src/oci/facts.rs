//! What an image is to whoever runs it: its layers (`rootfs.diff_ids`), its run settings
//! (`config`), its time and its platform. Two images with the same facts run the same; their
//! configs may still differ in what does not run: the build history, the classic builder's
//! container id, and BuildKit's inline cache record, which names the cache keys of the build
//! that made it and so differs from one build of the same commit to the next.
//!
//! The push uses this to recognise, under a tag, the image it was about to push again: a build
//! whose every step came from the cache in ECR has the facts of the image it came from.
//!
//! The daemon describes an image (`/images/{id}/json`) in another shape than its config file;
//! both are reduced here to one: the run settings that matter, empty ones dropped, ports and
//! volumes as sorted lists, times to one format.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::Platform;

/// The run settings compared; the others (`Hostname`, `Image`, ...) do not change what runs.
const RUN_SETTINGS: [&str; 13] = [
    "User",
    "ExposedPorts",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Shell",
];

/// The label that names the run that built an image: provenance, not something that runs. Two
/// builds of the same inputs by two runs (`rebuild: true`) differ in it and still run the same.
pub const BUILT_BY_LABEL: &str = "ship-to-ecr.built-by";

/// The label that carries an image's build key (see `image::build_key`): what it was built
/// from, not what it runs. Two builds of one commit whose keys differ (one sent `.git`, or the
/// base was read from another place) can still make images that run the same.
pub const BUILD_KEY_LABEL: &str = "ship-to-ecr.build-key";

/// An image's facts as a value to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts(Value);

impl Facts {
    /// The facts of an image config file's JSON; `None` when it has no layers list.
    pub fn of_config(config: &Value) -> Option<Self> {
        let diff_ids: Vec<String> = config
            .pointer("/rootfs/diff_ids")?
            .as_array()?
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<_>>()?;
        let text = |key: &str| config.get(key).and_then(Value::as_str);
        Some(Self::of_parts(
            text("architecture"),
            text("os"),
            text("variant"),
            text("created"),
            config.get("config"),
            &diff_ids,
        ))
    }

    /// The facts from their parts, as the daemon's description of an image gives them.
    pub fn of_parts(
        architecture: Option<&str>,
        os: Option<&str>,
        variant: Option<&str>,
        created: Option<&str>,
        settings: Option<&Value>,
        diff_ids: &[String],
    ) -> Self {
        let created = created
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| {
                c.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true)
            });
        Self(json!({
            "architecture": architecture.unwrap_or_default(),
            "os": os.unwrap_or_default(),
            "variant": variant.unwrap_or_default(),
            "created": created,
            "config": settings.map(run_settings).unwrap_or_default(),
            "diff_ids": diff_ids,
        }))
    }
}

impl Facts {
    /// The platform the image runs on.
    pub fn platform(&self) -> Platform {
        let text = |key: &str| self.0[key].as_str().unwrap_or_default().to_string();
        let variant = text("variant");
        Platform {
            os: text("os"),
            architecture: text("architecture"),
            variant: (!variant.is_empty()).then_some(variant),
        }
    }
}

/// The run settings that matter, in one shape.
fn run_settings(settings: &Value) -> Value {
    let mut kept = Map::new();
    for key in RUN_SETTINGS {
        let Some(value) = settings.get(key) else {
            continue;
        };
        let value = match (key, value) {
            // The config file maps each to `{}`; the daemon lists them.
            ("ExposedPorts" | "Volumes", Value::Object(map)) => sorted(map.keys().cloned()),
            ("ExposedPorts" | "Volumes", Value::Array(list)) => {
                sorted(list.iter().filter_map(|v| v.as_str().map(str::to_string)))
            }
            ("Labels", Value::Object(labels)) => {
                let mut labels = labels.clone();
                labels.remove(BUILT_BY_LABEL);
                labels.remove(BUILD_KEY_LABEL);
                Value::Object(labels)
            }
            _ => value.clone(),
        };
        let empty = match &value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Number(_) => false,
        };
        if !empty {
            kept.insert(key.to_string(), value);
        }
    }
    Value::Object(kept)
}

fn sorted(items: impl Iterator<Item = String>) -> Value {
    let mut items: Vec<String> = items.collect();
    items.sort();
    json!(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_file() -> Value {
        json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-11-20T09:30:00Z",
            "config": {
                "Env": ["PATH=/bin"],
                "Cmd": ["/app"],
                "ExposedPorts": {"8080/tcp": {}, "80/tcp": {}},
                "Labels": {"a": "1", "b": "2"},
                "ArgsEscaped": true,
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
            "history": [{"created_by": "RUN x"}],
            "moby.buildkit.cache.v0": "W10=",
        })
    }

    /// The same image as the daemon describes it.
    fn daemon_view() -> Facts {
        let settings = json!({
            "Hostname": "", "User": "", "AttachStdin": false,
            "Env": ["PATH=/bin"], "Cmd": ["/app"],
            "ExposedPorts": ["80/tcp", "8080/tcp"],
            "Labels": {"b": "2", "a": "1"},
            "ArgsEscaped": true, "Image": "", "Volumes": null, "OnBuild": [],
        });
        Facts::of_parts(
            Some("amd64"),
            Some("linux"),
            None,
            Some("2026-11-20T09:30:00.000000000Z"),
            Some(&settings),
            &["sha256:aa".to_string(), "sha256:bb".to_string()],
        )
    }

    #[test]
    fn the_config_file_and_the_daemons_description_agree() {
        assert_eq!(Facts::of_config(&config_file()).unwrap(), daemon_view());
    }

    #[test]
    fn history_the_build_cache_record_and_the_building_run_are_not_facts() {
        let mut other = config_file();
        other["config"]["Labels"][BUILT_BY_LABEL] = json!("https://github.com/o/r/actions/runs/2");
        other["config"]["Labels"][BUILD_KEY_LABEL] = json!("sha256:0123");
        other["history"] = json!([{"created_by": "RUN y", "created": "2027-01-01T00:00:00Z"}]);
        other["moby.buildkit.cache.v0"] = json!("W3t9XQ==");
        other["container"] = json!("0123abcd");
        assert_eq!(Facts::of_config(&other), Facts::of_config(&config_file()));
    }

    #[test]
    fn what_runs_is() {
        let base = Facts::of_config(&config_file()).unwrap();
        for change in [
            json!({"rootfs": {"diff_ids": ["sha256:aa"]}}),
            json!({"created": "2026-11-20T09:30:01Z"}),
            json!({"architecture": "arm64"}),
            json!({"config": {"Env": ["PATH=/usr/bin"]}}),
            json!({"config": {"ExposedPorts": {"80/tcp": {}}}}),
            json!({"config": {"Labels": {"a": "1", "b": "3"}}}),
        ] {
            let mut other = config_file();
            for (key, value) in change.as_object().unwrap() {
                match (other.get_mut(key), value) {
                    (Some(Value::Object(target)), Value::Object(fields)) => {
                        for (k, v) in fields {
                            target.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {
                        other[key] = value.clone();
                    }
                }
            }
            assert_ne!(Facts::of_config(&other).unwrap(), base, "{change}");
        }
        assert_eq!(Facts::of_config(&json!({"config": {}})), None);
    }
}
