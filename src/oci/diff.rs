//! What changed between two images, for a pull-request comment: the image the pull request just
//! pushed against the default branch's (`latest`). The inputs are plain data (layers as pushed,
//! config JSON) so that the caller can read them from any registry.
//!
//! The comment may be public, so the diff carries only what is safe to show there: environment
//! variables by name, never by value (see [`env_change`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// The label that records the digest of the image an image was built on. It is the OCI
/// annotation key; ship-to-ecr records it as a config label, where a registry keeps it.
pub const BASE_DIGEST_LABEL: &str = "org.opencontainers.image.base.digest";

/// One image as the comparison needs it: its layers as pushed (digest, compressed size), and its
/// config JSON (the image config file: `{"config": {"Env": [...], "Cmd": [...], ...}, ...}`).
#[derive(Debug, Clone, Copy)]
pub struct ImageSide<'a> {
    pub layers: &'a [(String, u64)],
    pub config: &'a Value,
}

/// What changed from one image to the other.
///
/// Layers are compared as a multiset of digests: a layer moved to another place in the stack is
/// kept, not added and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDiff {
    /// In the new image, not in the old, in the new image's order.
    pub layers_added: Vec<(String, u64)>,
    /// In the old image, not in the new, in the old image's order.
    pub layers_removed: Vec<(String, u64)>,
    pub layers_kept: usize,
    /// The sums of the layers' compressed sizes.
    pub size_before: u64,
    pub size_after: u64,
    /// The base image's digest (from [`BASE_DIGEST_LABEL`]), as (before, after), when it changed;
    /// `None` when it is the same or neither image records one.
    pub base: Option<(Option<String>, Option<String>)>,
    /// The run settings that differ, in the order of [`SETTINGS`].
    pub changes: Vec<ConfigChange>,
}

/// One run setting that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// The config's own key: `Entrypoint`, `Cmd`, `User`, `WorkingDir`, `ExposedPorts` or `Env`.
    pub field: &'static str,
    pub change: Change,
}

/// How a run setting differs, in the shape a renderer prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A value replaced. `Entrypoint` and `Cmd` as compact JSON (`["/bin/sh","-c"]`), `User` and
    /// `WorkingDir` as their text; `"none"` for a side that sets nothing.
    Replaced { before: String, after: String },
    /// `ExposedPorts`: the ports (`80/tcp`) each side has that the other does not, sorted.
    Ports {
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// `Env`, by variable name only, each list sorted: no value is ever kept here.
    Env {
        added: Vec<String>,
        removed: Vec<String>,
        changed: Vec<String>,
    },
}

/// The run settings compared, in the order they are listed: what starts, as whom, where, then
/// what it listens on and its environment. Labels are provenance, not behaviour (only the base
/// image's is reported); the rest rarely changes in an application image.
pub const SETTINGS: [&str; 6] = [
    "Entrypoint",
    "Cmd",
    "User",
    "WorkingDir",
    "ExposedPorts",
    "Env",
];

/// Printed for a setting an image does not set (missing, `null` or empty).
const NONE: &str = "none";

impl ImageDiff {
    /// What changed from `before` (the default branch's image) to `after` (the new one).
    pub fn between(before: ImageSide<'_>, after: ImageSide<'_>) -> Self {
        let layers_added = missing_from(after.layers, before.layers);
        let layers_removed = missing_from(before.layers, after.layers);
        let (base_before, base_after) = (base_digest(before.config), base_digest(after.config));
        let (old, new) = (settings(before.config), settings(after.config));
        let changes = SETTINGS
            .into_iter()
            .filter_map(|field| {
                let change = match field {
                    "ExposedPorts" => ports_change(old, new),
                    "Env" => env_change(old, new),
                    _ => replaced(field, old, new),
                }?;
                Some(ConfigChange { field, change })
            })
            .collect();
        Self {
            layers_kept: after.layers.len() - layers_added.len(),
            layers_added,
            layers_removed,
            size_before: total_size(before.layers),
            size_after: total_size(after.layers),
            base: (base_before != base_after).then_some((base_before, base_after)),
            changes,
        }
    }

    /// The new image's size less the old one's, in bytes.
    pub fn size_delta(&self) -> i64 {
        let delta = i128::from(self.size_after) - i128::from(self.size_before);
        i64::try_from(delta).unwrap_or(if delta < 0 { i64::MIN } else { i64::MAX })
    }

    /// Nothing to report: the same layers, base and run settings.
    pub fn is_empty(&self) -> bool {
        self.layers_added.is_empty()
            && self.layers_removed.is_empty()
            && self.base.is_none()
            && self.changes.is_empty()
    }
}

/// The layers of `these` that `others` lacks, counted by digest: a digest `these` has twice and
/// `others` once is missing once (its later occurrence).
fn missing_from(these: &[(String, u64)], others: &[(String, u64)]) -> Vec<(String, u64)> {
    let mut available: HashMap<&str, usize> = HashMap::new();
    for (digest, _) in others {
        *available.entry(digest).or_default() += 1;
    }
    these
        .iter()
        .filter(|(digest, _)| match available.get_mut(digest.as_str()) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .cloned()
        .collect()
}

fn total_size(layers: &[(String, u64)]) -> u64 {
    layers
        .iter()
        .fold(0, |sum, (_, size)| sum.saturating_add(*size))
}

/// The image's run settings (the config file's `config` object).
fn settings(config: &Value) -> Option<&Value> {
    config.get("config")
}

fn base_digest(config: &Value) -> Option<String> {
    settings(config)?
        .get("Labels")?
        .get(BASE_DIGEST_LABEL)?
        .as_str()
        .filter(|digest| !digest.is_empty())
        .map(str::to_string)
}

/// A setting as printed, or `None` when the image does not set it: missing, `null`, empty.
fn shown(settings: Option<&Value>, field: &str) -> Option<String> {
    match settings?.get(field)? {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        Value::Array(items) if items.is_empty() => None,
        value => Some(value.to_string()),
    }
}

fn replaced(field: &str, old: Option<&Value>, new: Option<&Value>) -> Option<Change> {
    let (before, after) = (shown(old, field), shown(new, field));
    (before != after).then(|| Change::Replaced {
        before: before.unwrap_or_else(|| NONE.into()),
        after: after.unwrap_or_else(|| NONE.into()),
    })
}

fn ports_change(old: Option<&Value>, new: Option<&Value>) -> Option<Change> {
    let ports = |settings: Option<&Value>| -> BTreeSet<String> {
        settings
            .and_then(|s| s.get("ExposedPorts"))
            .and_then(Value::as_object)
            .map(|ports| ports.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (before, after) = (ports(old), ports(new));
    let added: Vec<String> = after.difference(&before).cloned().collect();
    let removed: Vec<String> = before.difference(&after).cloned().collect();
    (!added.is_empty() || !removed.is_empty()).then_some(Change::Ports { added, removed })
}

/// The environment compared by variable name. Values are compared but never kept: the comment
/// that shows this diff may be public, and an environment value may be a secret (a token baked
/// into an image by mistake must not be published a second time by the comment about it).
fn env_change(old: Option<&Value>, new: Option<&Value>) -> Option<Change> {
    let (before, after) = (env(old), env(new));
    let added: Vec<String> = after
        .keys()
        .filter(|name| !before.contains_key(*name))
        .map(|name| name.to_string())
        .collect();
    let removed: Vec<String> = before
        .keys()
        .filter(|name| !after.contains_key(*name))
        .map(|name| name.to_string())
        .collect();
    let changed: Vec<String> = after
        .iter()
        .filter(|(name, value)| before.get(*name).is_some_and(|old| old != *value))
        .map(|(name, _)| name.to_string())
        .collect();
    (!added.is_empty() || !removed.is_empty() || !changed.is_empty()).then_some(Change::Env {
        added,
        removed,
        changed,
    })
}

/// `NAME=value` entries by name; a name set twice has its last value, as Docker reads it.
fn env(settings: Option<&Value>) -> BTreeMap<&str, Option<&str>> {
    settings
        .and_then(|s| s.get("Env"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|entry| match entry.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (entry, None),
        })
        .collect()
}

/// A size in decimal units (1 KB = 1000 B, as the docker CLI and the ECR console count) to three
/// significant digits, trailing zeros dropped: `512 B`, `1.5 KB`, `12.3 MB`, `1.02 GB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
    // Integer arithmetic, so that a size rounds the same way whatever its binary float would be.
    let mut digits = bytes.checked_ilog10().map_or(1, |log| log + 1);
    if digits <= 3 {
        return format!("{bytes} B");
    }
    let scale = 10u128.pow(digits - 3);
    let mut kept = (u128::from(bytes) + scale / 2) / scale;
    if kept == 1000 {
        // Rounded up to the next power of ten: 999,999 B is 1 MB, not 1000 KB.
        kept = 100;
        digits += 1;
    }
    let unit = ((digits - 1) / 3) as usize;
    let whole = (digits - 3 * unit as u32) as usize;
    let kept = kept.to_string();
    let (whole, fraction) = kept.split_at(whole);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{whole} {}", UNITS[unit])
    } else {
        format!("{whole}.{fraction} {}", UNITS[unit])
    }
}

/// A size change with its sign: `+1.5 MB`, `-512 B`, `±0 B`.
pub fn human_delta(delta: i64) -> String {
    let sign = match delta.signum() {
        1 => "+",
        -1 => "-",
        _ => "±",
    };
    format!("{sign}{}", human_size(delta.unsigned_abs()))
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
