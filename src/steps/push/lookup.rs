//! Looking every tag up before anything is written: which tags already hold this image, which
//! are missing, and whether ECR would refuse to move one.

use super::{registry_failure, PushRequest};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::Manifest;

/// What the registry holds for the tags, before anything is written.
pub struct Lookup {
    /// A manifest of this image already in the registry, under some tag.
    pub source: Option<Manifest>,
    pub unchanged: Vec<String>,
    pub missing: Vec<String>,
}

/// Looks every tag up (reads only). A tag that holds another image where ECR will not move it
/// is an error: nothing has been written yet.
pub async fn look_up(request: &PushRequest<'_>, workflow: &Workflow) -> anyhow::Result<Lookup> {
    let mut lookup = Lookup {
        source: None,
        unchanged: Vec::new(),
        missing: Vec::new(),
    };
    for tag in request.tags {
        let current = request
            .to
            .client
            .get_manifest(&request.to.repository, tag, workflow.retry_notice())
            .await
            .map_err(registry_failure)?;
        match current {
            Some(m) if request.artifact.is(&request.to.repository_uri(), &m) => {
                lookup.unchanged.push(tag.clone());
                lookup.source.get_or_insert(m);
            }
            Some(m) if (request.is_immutable)(tag) => {
                return Err(immutable_conflict(request, tag, &m).into());
            }
            _ => lookup.missing.push(tag.clone()),
        }
    }
    Ok(lookup)
}

fn immutable_conflict(request: &PushRequest<'_>, tag: &str, existing: &Manifest) -> Failure {
    let existing_image = existing
        .config_digest()
        .map(|c| format!(" (image {c})"))
        .unwrap_or_default();
    Failure::new(
        "Tag already exists",
        format!(
            "The repository '{}' has immutable tags, and the tag '{tag}' already points to \
             another image: {}{existing_image} in the registry, while this run has image {}. \
             Nothing was pushed. Give each build its own tag, for example `sha-{{{{short-sha}}}}` \
             or `{{{{run-number}}}}` in the tags input, or use a mutable repository.",
            request.to.repository,
            existing.digest,
            request.artifact.id()
        ),
    )
}
