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
