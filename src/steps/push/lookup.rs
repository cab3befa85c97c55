//! Looking every tag up before anything is written: which tags already hold this image, which
//! are missing (those naming the commit first, moving tags last), which hold a newer commit's
//! image and stay where they are, and whether ECR would refuse to move one.

use super::newer::{self, Newer};
use super::{registry_failure, PushRequest};
use crate::artifact::Artifact;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::{Facts, Manifest};

/// What the registry holds for the tags, before anything is written.
pub struct Lookup {
    /// A manifest of this image already in the registry, under some tag.
    pub source: Option<Manifest>,
    pub unchanged: Vec<String>,
    /// In the order to write them: the tags naming this run's commit first, moving tags last,
    /// so that a run stopped half-way has moved nothing another commit's runs rely on.
    pub missing: Vec<String>,
    /// Moving tags left where they are: they hold the image of a newer commit.
    pub superseded: Vec<(String, Newer)>,
}

/// Looks every tag up (reads only). A tag that holds another image where ECR will not move it
/// is an error: nothing has been written yet.
pub async fn look_up(request: &PushRequest<'_>, workflow: &Workflow) -> anyhow::Result<Lookup> {
    let mut lookup = Lookup {
        source: None,
        unchanged: Vec::new(),
        missing: Vec::new(),
        superseded: Vec::new(),
    };
    for tag in request.tags {
        let current = request
            .to
            .client
            .get_manifest(&request.to.repository, tag, workflow.retry_notice())
            .await
            .map_err(registry_failure)?;
        let is_this_image = match &current {
            Some(m) => {
                request.artifact.is(&request.to.repository_uri(), m)
                    || runs_the_same(request, tag, m, workflow).await
            }
            None => false,
        };
        match current {
            Some(m) if is_this_image => {
                lookup.unchanged.push(tag.clone());
                lookup.source.get_or_insert(m);
            }
            Some(m) if (request.is_immutable)(tag) => {
                return Err(immutable_conflict(request, tag, &m).into());
            }
            Some(m) => match held_newer(request, tag, &m).await {
                Some(newer) => lookup.superseded.push((tag.clone(), newer)),
                None => lookup.missing.push(tag.clone()),
            },
            None => lookup.missing.push(tag.clone()),
        }
    }
    if let Some(commit) = request.commit {
        // A stable sort: each group keeps the order the user gave.
        lookup.missing.sort_by_key(|tag| !commit.is_named_by(tag));
    }
    Ok(lookup)
}

/// The newer commit's image a moving tag holds; `None` for a tag naming this run's commit,
/// when the run's commit is unknown, or when the held image is not newer.
async fn held_newer(request: &PushRequest<'_>, tag: &str, held: &Manifest) -> Option<Newer> {
    let commit = request.commit.filter(|c| !c.is_named_by(tag))?;
    newer::newer_than(request.to, held, commit).await
}

/// Whether the daemon image is, to whoever runs it, the image `manifest` (see [`Facts`]): the
/// same layers, run settings, time and platform, under another config digest. A build of a
/// commit whose every step came from the cache in ECR is such an image: only the cache record
/// BuildKit writes into the config differs. Pushing it again would move every tag to a new
/// digest (and fail on an immutable one) for nothing. Any doubt (a read that fails, an index)
/// is a no.
async fn runs_the_same(
    request: &PushRequest<'_>,
    tag: &str,
    manifest: &Manifest,
    workflow: &Workflow,
) -> bool {
    let Artifact::Daemon(local) = request.artifact else {
        return false;
    };
    let Some(config) = manifest.config_digest() else {
        return false;
    };
    let Ok(bytes) = request
        .to
        .client
        .get_small_blob(&request.to.repository, &config, |_, _| {})
        .await
    else {
        return false;
    };
    let same = serde_json::from_slice(&bytes)
        .ok()
        .and_then(|config| Facts::of_config(&config))
        .is_some_and(|facts| facts == local.facts);
    if same {
        workflow.info(&format!(
            "{tag} holds {}: the same layers, settings and time as this build (only the build's \
             history or BuildKit's cache record differ), so it is kept, not pushed again.",
            manifest.digest
        ));
    }
    same
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
