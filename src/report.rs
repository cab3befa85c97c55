//! The job summary: what the run did, in one table a person can read at a glance.

use std::time::Duration;

use crate::aws::ecr::{LifecycleChange, RepositoryState};
use crate::push::PushReport;

/// Everything the summary shows.
pub struct Summary<'a> {
    pub principal: &'a str,
    pub account: &'a str,
    pub repository_name: &'a str,
    /// `None`: the repository does not exist and was not created (push: false).
    pub repository: Option<&'a RepositoryState>,
    pub lifecycle: LifecycleChange,
    pub registry: &'a str,
    pub image: Option<ImageSummary<'a>>,
    pub elapsed: Duration,
}

pub struct ImageSummary<'a> {
    pub name: &'a str,
    pub tags: &'a [String],
    pub size: i64,
    pub layers: usize,
    /// Patch mode: the base, pinned by digest.
    pub base: Option<String>,
    /// `None`: push was false.
    pub push: Option<&'a PushReport>,
}

pub fn markdown(s: &Summary<'_>) -> String {
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
        ("Role", format!("`{}`", s.principal)),
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
                r.scan_on_push, r.tag_mutability, r.encryption
            ),
        ));
    }
    rows.push(("Lifecycle policy", lifecycle.to_string()));
    rows.push(("Registry", format!("`{}`", s.registry)));
    if let Some(image) = &s.image {
        rows.push(("Image", format!("`{}`", image.name)));
        rows.push((
            "Tags",
            image
                .tags
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        if let Some(base) = &image.base {
            rows.push(("Base", format!("`{base}`")));
        }
        rows.push((
            "Size",
            format!("{} ({} layers)", human_size(image.size), image.layers),
        ));
        match image.push {
            None => rows.push(("Pushed", "no (push: false)".to_string())),
            Some(push) => {
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
            }
        }
    }
    rows.push(("Time", format!("{:.1} s", s.elapsed.as_secs_f64())));

    let mut text = String::from("### ship-to-ecr\n\n| | |\n| --- | --- |\n");
    for (name, value) in rows {
        text.push_str(&format!("| {name} | {value} |\n"));
    }
    text.push('\n');
    text
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
