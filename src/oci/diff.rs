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
mod tests {
    use serde_json::json;

    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn layers(spec: &[(char, u64)]) -> Vec<(String, u64)> {
        spec.iter().map(|(c, size)| (digest(*c), *size)).collect()
    }

    fn config(settings: Value) -> Value {
        json!({
            "architecture": "amd64",
            "os": "linux",
            "config": settings,
            "rootfs": {"type": "layers", "diff_ids": []},
        })
    }

    fn diff(old: (&[(String, u64)], &Value), new: (&[(String, u64)], &Value)) -> ImageDiff {
        ImageDiff::between(
            ImageSide {
                layers: old.0,
                config: old.1,
            },
            ImageSide {
                layers: new.0,
                config: new.1,
            },
        )
    }

    /// The diff of two images with the same layers whose run settings are `old` and `new`.
    fn settings_diff(old: Value, new: Value) -> ImageDiff {
        let same = layers(&[('a', 10)]);
        diff((&same, &config(old)), (&same, &config(new)))
    }

    fn typical() -> Value {
        config(json!({
            "Env": ["PATH=/usr/bin", "PORT=8080"],
            "Entrypoint": ["/app"],
            "Cmd": ["serve"],
            "User": "app",
            "WorkingDir": "/srv",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {BASE_DIGEST_LABEL: digest('0')},
        }))
    }

    #[test]
    fn identical_images_differ_in_nothing() {
        let stack = layers(&[('a', 100), ('b', 20)]);
        let same = diff((&stack, &typical()), (&stack, &typical()));
        assert!(same.is_empty(), "{same:?}");
        assert_eq!(same.layers_kept, 2);
        assert_eq!((same.size_before, same.size_after), (120, 120));
        assert_eq!(same.size_delta(), 0);
        let empty = diff((&[], &json!({})), (&[], &json!({"config": null})));
        assert!(empty.is_empty(), "{empty:?}");
    }

    #[test]
    fn a_replaced_layer_is_one_added_and_one_removed() {
        let old = layers(&[('a', 100), ('b', 20), ('c', 5)]);
        let new = layers(&[('a', 100), ('d', 30), ('c', 5)]);
        let d = diff((&old, &typical()), (&new, &typical()));
        assert_eq!(d.layers_added, layers(&[('d', 30)]));
        assert_eq!(d.layers_removed, layers(&[('b', 20)]));
        assert_eq!(d.layers_kept, 2);
        assert_eq!((d.size_before, d.size_after), (125, 135));
        assert_eq!(d.size_delta(), 10);
        assert!(d.base.is_none() && d.changes.is_empty());
        assert!(!d.is_empty());
    }

    #[test]
    fn layers_only_added_keep_the_new_images_order() {
        let old = layers(&[('a', 100)]);
        let new = layers(&[('a', 100), ('c', 7), ('b', 3)]);
        let d = diff((&old, &typical()), (&new, &typical()));
        assert_eq!(d.layers_added, layers(&[('c', 7), ('b', 3)]));
        assert!(d.layers_removed.is_empty());
        assert_eq!(d.layers_kept, 1);
        assert_eq!(d.size_delta(), 10);
        let back = diff((&new, &typical()), (&old, &typical()));
        assert_eq!(back.layers_removed, layers(&[('c', 7), ('b', 3)]));
        assert_eq!(back.size_delta(), -10);
    }

    #[test]
    fn a_layer_twice_counts_twice() {
        let once = layers(&[('a', 100), ('x', 1)]);
        let twice = layers(&[('x', 1), ('a', 100), ('x', 1)]);
        let d = diff((&once, &typical()), (&twice, &typical()));
        assert_eq!(d.layers_added, layers(&[('x', 1)]));
        assert!(d.layers_removed.is_empty());
        assert_eq!(d.layers_kept, 2);
        let back = diff((&twice, &typical()), (&once, &typical()));
        assert_eq!(back.layers_removed, layers(&[('x', 1)]));
        assert!(back.layers_added.is_empty());
        // A reordered stack of the same layers is not a layer change.
        let swapped = layers(&[('x', 1), ('a', 100)]);
        assert!(diff((&once, &typical()), (&swapped, &typical())).is_empty());
    }

    #[test]
    fn env_is_compared_by_name_and_no_value_is_kept() {
        let secret = "s3cr3t-t0ken-value";
        let old = json!({"Env": [
            "PATH=/usr/bin",
            "TOKEN=old-token-value",
            "GONE=gone-value",
            "SAME=kept-value",
            "DUP=first",
            "DUP=dup-value",
        ]});
        let new = json!({"Env": [
            "PATH=/usr/bin",
            format!("TOKEN={secret}"),
            "SAME=kept-value",
            format!("NEW={secret}"),
            "DUP=dup-value",
        ]});
        let d = settings_diff(old, new);
        assert_eq!(
            d.changes,
            vec![ConfigChange {
                field: "Env",
                change: Change::Env {
                    added: vec!["NEW".into()],
                    removed: vec!["GONE".into()],
                    changed: vec!["TOKEN".into()],
                },
            }]
        );
        let shown = format!("{d:?} {d:#?}");
        for value in [
            secret,
            "old-token-value",
            "gone-value",
            "kept-value",
            "/usr/bin",
        ] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }

    #[test]
    fn the_last_of_a_duplicated_env_name_wins() {
        let d = settings_diff(json!({"Env": ["A=1", "A=2"]}), json!({"Env": ["A=2"]}));
        assert!(d.is_empty(), "{d:?}");
        let d = settings_diff(json!({"Env": ["A=2"]}), json!({"Env": ["A=2", "A=3"]}));
        assert_eq!(
            d.changes[0].change,
            Change::Env {
                added: vec![],
                removed: vec![],
                changed: vec!["A".into()]
            }
        );
        let d = settings_diff(json!({"Env": []}), json!({"Env": null}));
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn ports_added_and_removed_sorted() {
        let d = settings_diff(
            json!({"ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "53/udp": {}}}),
            json!({"ExposedPorts": {"9090/tcp": {}, "80/tcp": {}, "8080/tcp": {}}}),
        );
        assert_eq!(
            d.changes,
            vec![ConfigChange {
                field: "ExposedPorts",
                change: Change::Ports {
                    added: vec!["8080/tcp".into(), "9090/tcp".into()],
                    removed: vec!["443/tcp".into(), "53/udp".into()],
                },
            }]
        );
        assert!(settings_diff(json!({"ExposedPorts": {}}), json!({})).is_empty());
    }

    #[test]
    fn an_entrypoint_set_where_there_was_none() {
        let d = settings_diff(
            json!({"Cmd": ["serve"]}),
            json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["serve"]}),
        );
        assert_eq!(
            d.changes,
            vec![ConfigChange {
                field: "Entrypoint",
                change: Change::Replaced {
                    before: "none".into(),
                    after: r#"["/bin/sh","-c"]"#.into(),
                },
            }]
        );
        for unset in [json!(null), json!([])] {
            assert!(settings_diff(json!({}), json!({"Entrypoint": unset})).is_empty());
        }
    }

    #[test]
    fn settings_are_listed_in_their_order() {
        let d = settings_diff(
            json!({"Env": ["A=1"], "Cmd": ["a"], "User": "root", "WorkingDir": "/"}),
            json!({"Env": ["B=1"], "Cmd": ["b"], "User": "", "WorkingDir": "/srv",
                   "ExposedPorts": {"80/tcp": {}}}),
        );
        let fields: Vec<&str> = d.changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["Cmd", "User", "WorkingDir", "ExposedPorts", "Env"]);
        assert_eq!(
            d.changes[1].change,
            Change::Replaced {
                before: "root".into(),
                after: "none".into()
            }
        );
        assert_eq!(
            d.changes[2].change,
            Change::Replaced {
                before: "/".into(),
                after: "/srv".into()
            }
        );
        assert!(settings_diff(json!({"User": ""}), json!({"User": null})).is_empty());
    }

    #[test]
    fn the_base_digest_only_when_it_changed() {
        let stack = layers(&[('a', 1)]);
        let on = |base: Option<String>| match base {
            Some(base) => config(json!({"Labels": {BASE_DIGEST_LABEL: base, "x": "y"}})),
            None => config(json!({"Labels": {"x": "y"}})),
        };
        let base_diff = |old: Option<String>, new: Option<String>| {
            diff((&stack, &on(old)), (&stack, &on(new))).base
        };
        assert_eq!(
            base_diff(Some(digest('0')), Some(digest('1'))),
            Some((Some(digest('0')), Some(digest('1'))))
        );
        assert_eq!(base_diff(Some(digest('0')), Some(digest('0'))), None);
        assert_eq!(base_diff(None, None), None);
        assert_eq!(
            base_diff(None, Some(digest('1'))),
            Some((None, Some(digest('1'))))
        );
        assert_eq!(
            base_diff(Some(digest('0')), None),
            Some((Some(digest('0')), None))
        );
        let changed = diff(
            (&stack, &on(Some(digest('0')))),
            (&stack, &on(Some(digest('1')))),
        );
        assert!(!changed.is_empty() && changed.changes.is_empty());
    }

    #[test]
    fn sizes_in_decimal_units_to_three_digits() {
        for (bytes, shown) in [
            (0, "0 B"),
            (1, "1 B"),
            (512, "512 B"),
            (999, "999 B"),
            (1000, "1 KB"),
            (1001, "1 KB"),
            (1005, "1.01 KB"),
            (1500, "1.5 KB"),
            (99_949, "99.9 KB"),
            (99_950, "100 KB"),
            (999_499, "999 KB"),
            (999_500, "1 MB"),
            (1_000_000, "1 MB"),
            (12_345_678, "12.3 MB"),
            (999_999_999, "1 GB"),
            (1_024_000_000, "1.02 GB"),
            (1_000_000_000_000, "1 TB"),
            (u64::MAX, "18.4 EB"),
        ] {
            assert_eq!(human_size(bytes), shown, "{bytes}");
        }
    }

    #[test]
    fn deltas_carry_their_sign() {
        assert_eq!(human_delta(1_500_000), "+1.5 MB");
        assert_eq!(human_delta(-512), "-512 B");
        assert_eq!(human_delta(0), "±0 B");
        assert_eq!(human_delta(i64::MIN), "-9.22 EB");
        let d = ImageDiff {
            layers_added: vec![],
            layers_removed: vec![],
            layers_kept: 0,
            size_before: u64::MAX,
            size_after: 0,
            base: None,
            changes: vec![],
        };
        assert_eq!(d.size_delta(), i64::MIN);
    }
}
