//! The job summary: what the run did, in one table a person can read at a glance.

use super::Published;
use crate::artifact::PushReport;
use crate::aws::ecr::LifecycleChange;

/// The summary of what `p` says the run did; `image_name` is the image's name with its first
/// tag.
pub fn markdown(s: &Published<'_>, image_name: &str) -> String {
    let repo_state = match (s.repository, s.lifecycle) {
        (None, _) => "does not exist; would be created by a push".to_string(),
        (Some(r), _) if r.created => "created".to_string(),
        (Some(_), LifecycleChange::Applied) => "existing, lifecycle policy updated".to_string(),
        (Some(_), _) => "existing, unchanged".to_string(),
    };
    let lifecycle = match s.lifecycle {
        LifecycleChange::NotAsked => "not managed",
        LifecycleChange::Unchanged => "unchanged",
        LifecycleChange::Applied => "applied",
    };
    let mut rows = vec![
        ("Role", format!("`{}`", s.session.principal)),
        ("Account", format!("`{}`", s.account)),
        (
            "Repository",
            format!("`{}` ({repo_state})", s.repository_name),
        ),
    ];
    if let Some(r) = s.repository {
        rows.push((
            "Settings",
            format!(
                "scan on push {}, tags {}, encryption {}",
                r.scan_on_push,
                r.tag_mutability.as_str(),
                r.encryption.as_str()
            ),
        ));
    }
    rows.push(("Lifecycle policy", lifecycle.to_string()));
    rows.push(("Registry", format!("`{}`", s.registry_host)));
    rows.push(("Image", format!("`{image_name}`")));
    rows.push((
        "Tags",
        s.tags
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    if let Some(base) = s.base {
        rows.push(("Base", format!("`{base}`")));
    }
    if let Some(builder) = s.builder {
        rows.push(("Builder", builder.to_string()));
    }
    if let Some(cache) = s.build_cache {
        rows.push(("Build cache", cache.to_string()));
    }
    let size = i64::try_from(s.artifact.size()).unwrap_or(i64::MAX);
    rows.push((
        "Size",
        format!("{} ({} layers)", human_size(size), s.artifact.layers()),
    ));
    match s.report {
        None => rows.push(("Pushed", "no (push: false)".to_string())),
        Some(push) => push_rows(push, &mut rows),
    }
    rows.push((
        "Time",
        format!("{:.1} s", s.started.elapsed().as_secs_f64()),
    ));

    let mut text = String::from("### ship-to-ecr\n\n| | |\n| --- | --- |\n");
    for (name, value) in rows {
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    text.push('\n');
    text
}

/// The rows of what a push did.
fn push_rows(push: &PushReport, rows: &mut Vec<(&'static str, String)>) {
    rows.push(("Digest", format!("`{}`", push.digest)));
    let layers = if push.layers_uploaded + push.layers_present > 0 {
        format!(
            "{} uploaded, {} already present",
            push.layers_uploaded, push.layers_present
        )
    } else {
        "none sent: the registry already had the image".to_string()
    };
    rows.push(("Layers", layers));
    if let Some(base) = &push.base_blobs {
        rows.push((
            "Source blobs",
            format!(
                "{} copied registry to registry ({}), {} mounted, {} already in ECR",
                base.uploaded,
                human_size(base.bytes_uploaded as i64),
                base.mounted,
                base.present
            ),
        ));
    }
    let tags = if push.written.is_empty() {
        "no: every tag already pointed to this image".to_string()
    } else {
        format!(
            "wrote {}{}",
            push.written.join(", "),
            if push.unchanged.is_empty() {
                String::new()
            } else {
                format!("; unchanged {}", push.unchanged.join(", "))
            }
        )
    };
    rows.push(("Pushed", tags));
    if !push.superseded.is_empty() {
        rows.push((
            "Superseded",
            format!(
                "{} left on a newer commit's image; no deploy",
                push.superseded.join(", ")
            ),
        ));
    }
}

fn human_size(bytes: i64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(2 * 1024 * 1024 + 512 * 1024), "2.5 MiB");
        assert_eq!(human_size(2048), "2.0 KiB");
    }
}
