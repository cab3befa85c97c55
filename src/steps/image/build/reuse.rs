//! Build once: the key of a build (see [`crate::image::build_key`]), and the image this
//! repository already holds for it, if any. Such an image is not built again: the run writes
//! its tags to that image's manifest, and no blob moves. A fresh runner re-running a commit, a
//! dispatch of a commit already built and the push that merges a pull request's tree all find
//! the image they would have built.
//!
//! The key travels in the image's config as a label, so the image itself says what it was
//! built from, and no extra tag clutters the repository. Every input of the key is public and
//! the label is written by whoever pushes, so an image is only as trusted as where it was found:
//! by default ([`Reuse::OwnTags`]) only under the tags this run writes (a re-run finds its image
//! at once); with [`Reuse::Repository`] also, newest first and at most [`MOST_READ`] images, the
//! images ECR's `DescribeImages` says were pushed last, then the registry's tag list. Each
//! candidate costs a manifest and a config read; any read that fails is a miss, never the run's
//! failure.

use futures_util::{stream, StreamExt};
use serde_json::Value;

use super::cache::BuildHome;
use crate::engine::docker::DockerEngine;
use crate::github::commands::{untrusted, Level, Workflow};
use crate::github::commit_time;
use crate::github::context::RunContext;
use crate::image::build_key::{BuildInputs, KEY_LABEL};
use crate::image::reference::ImageReference;
use crate::image::{context, dockerfile};
use crate::inputs::{BuildPlan, ImagePlan, Reuse};
use crate::oci::facts::BUILT_BY_LABEL;
use crate::oci::{Digest, Manifest, Platform};
use crate::registry::destination::Destination;
use crate::steps::image::source::{self, SourceInput};

/// How many candidate images are read at most, beyond this run's own tags.
const MOST_READ: usize = 30;
/// How many are read at once.
const AT_ONCE: usize = 6;

/// An image of this repository built from the same inputs.
pub struct Reused {
    pub manifest: Manifest,
    /// The run that built it, as its label names it.
    pub built_by: Option<String>,
}

/// The build key, or `None` with a notice when some input cannot be known before the build (a
/// base that cannot be resolved, a context that cannot be read, a remote `ADD`): then the
/// build runs and records no key.
#[allow(clippy::too_many_arguments)]
pub async fn key(
    engine: &DockerEngine,
    build: &BuildPlan,
    image: &ImagePlan,
    builder: &str,
    home: &BuildHome,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> Option<Digest> {
    let (context_dir, dockerfile_path) = (build.context.clone(), build.dockerfile.clone());
    let fingerprint = tokio::task::spawn_blocking(move || {
        let fingerprint =
            context::fingerprint(&context_dir, &dockerfile_path).map_err(|e| e.to_string())?;
        // A build that is sent git's folder may read the commit out of it.
        let checkout = match fingerprint.sends_git {
            false => None,
            true => Some(commit_time::head_commit(&context_dir).map_err(|e| {
                format!("the context sends .git, whose checked-out commit cannot be read ({e})")
            })?),
        };
        Ok::<_, String>((fingerprint.digest, checkout))
    });
    let inputs = async {
        let text = std::fs::read(&build.dockerfile).map_err(|e| {
            format!(
                "the Dockerfile {} cannot be read: {e}",
                build.dockerfile.display()
            )
        })?;
        let daemon = engine.platform().await.map_err(|e| e.to_string())?;
        let target = build.platform.clone().unwrap_or_else(|| daemon.clone());
        let names = dockerfile::bases(
            &String::from_utf8_lossy(&text),
            &build.build_args,
            &dockerfile::platform_args(&target, &daemon),
        )?;
        let mut bases = Vec::new();
        for name in names {
            let digest = resolve(&name, &target, engine, &home.ecr, http, workflow).await?;
            bases.push((name, digest));
        }
        Ok::<_, String>((text, bases, target.to_string()))
    };
    let (fingerprint, inputs) = tokio::join!(fingerprint, inputs);
    let fingerprint = fingerprint.map_err(|e| e.to_string()).and_then(|f| f);
    match (fingerprint, inputs) {
        (Ok((context, checkout)), Ok((dockerfile, bases, platform))) => Some(
            BuildInputs {
                context: &context,
                dockerfile: &dockerfile,
                build_args: &build.build_args,
                target: build.target.as_deref(),
                platform: &platform,
                secret_ids: build.secrets.iter().map(|s| s.id.as_str()).collect(),
                labels: &image.labels,
                builder,
                bases: &bases,
                checkout: checkout.as_deref(),
            }
            .key(),
        ),
        (Err(why), _) | (_, Err(why)) => {
            workflow.annotate(
                Level::Notice,
                "Build not reusable",
                &format!(
                    "This build cannot be matched with an earlier one, so it is built: {why}."
                ),
            );
            None
        }
    }
}

/// What a base image is, as the build would take it: a pinned digest as written; else the
/// daemon's own image of that name when it is for the platform built (BuildKit and the
/// classic builder both prefer it), by the digest it was pulled by when the daemon knows it
/// (so that a runner holding the base and a fresh one agree), else by its id; else the digest
/// its registry gives for the tag (ECR's with the run's credentials, any other anonymously).
async fn resolve(
    name: &str,
    platform: &Platform,
    engine: &DockerEngine,
    ecr: &Destination,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> Result<String, String> {
    let reference =
        ImageReference::parse(name).map_err(|e| format!("the base '{name}' is not valid: {e}"))?;
    if let Some(digest) = &reference.digest {
        return Ok(digest.clone());
    }
    let unknown = |why: String| format!("the base image {name} cannot be resolved: {why}");
    let local = engine
        .inspect(name)
        .await
        .map_err(|e| unknown(e.to_string()))?;
    if let Some(local) = local.filter(|l| l.facts.platform() == *platform) {
        let pulled_as = local.repo_digests.iter().find_map(|d| {
            let (repository, digest) = d.split_once('@')?;
            let same = ImageReference::parse(repository).ok()?.name() == reference.name();
            same.then(|| digest.to_string())
        });
        return Ok(pulled_as.unwrap_or(local.id));
    }
    let connected;
    let client = if reference.registry == ecr.host {
        &ecr.client
    } else {
        connected = source::connect(&reference, None, http, SourceInput::BaseImage)
            .await
            .map_err(|e| unknown(e.to_string()))?;
        &connected
    };
    match client
        .get_manifest(
            &reference.repository,
            reference.reference(),
            workflow.retry_notice(),
        )
        .await
    {
        Ok(Some(manifest)) => Ok(manifest.digest.to_string()),
        Ok(None) => Err(unknown("its registry has no such tag".into())),
        Err(e) => Err(unknown(e.to_string())),
    }
}

/// The labels a build records: its key, and the run that built it. Both are always written,
/// empty when unknown, so that neither is inherited from a base image (an image of this
/// repository built `FROM` another one) or taken from the user's `labels`: an empty key never
/// matches.
pub fn recorded_labels(key: Option<&Digest>, ctx: &RunContext) -> Vec<(String, String)> {
    let built_by = match (ctx.event.repository_url(), &ctx.run_id) {
        (Some(repository), Some(run)) => format!("{repository}/actions/runs/{run}"),
        _ => String::new(),
    };
    vec![
        (
            KEY_LABEL.to_string(),
            key.map(Digest::to_string).unwrap_or_default(),
        ),
        (BUILT_BY_LABEL.to_string(), built_by),
    ]
}

/// The image of this repository built with `key`, looked for where it is likeliest first, as
/// far as `reuse` allows.
pub async fn find(
    home: &BuildHome,
    key: &Digest,
    tags: &[String],
    reuse: Reuse,
    workflow: &Workflow,
) -> Option<Reused> {
    let ecr = &home.ecr;
    // This run's own tags first, alone: a re-run finds its image there without listing any.
    let mut found = first_with_key(ecr, key, tags.to_vec()).await;
    if found.is_none() && reuse == Reuse::Repository {
        let listed = ecr
            .client
            .list_tags(&ecr.repository, 1000, |_, _| {})
            .await
            .unwrap_or_default();
        let others = candidates(tags, &home.recent, &listed).split_off(tags.len());
        found = first_with_key(ecr, key, others).await;
    }
    match found {
        Some((reference, manifest, labels)) => {
            workflow.info(&found_where(&reference, tags));
            Some(reused(manifest, &labels, workflow))
        }
        None => {
            let searched = match reuse {
                Reuse::Repository => "",
                _ => " under this run's tags (reuse: own-tags)",
            };
            workflow.info(&format!(
                "No image of {} was built from these inputs{searched} (build key {key}): building.",
                ecr.repository
            ));
            None
        }
    }
}

/// Where the reused image was found, for the log: under one of this run's tags, or (with
/// `reuse: repository`) among the images pushed last or in the tag list.
fn found_where(reference: &str, tags: &[String]) -> String {
    if tags.iter().any(|t| t == reference) {
        format!("Found under this run's tag {reference}.")
    } else if reference.starts_with("sha256:") {
        format!(
            "Found among the images pushed last, as {reference} (reuse: repository: every \
             pusher to this repository is trusted)."
        )
    } else {
        format!(
            "Found in the repository's tag list, under {reference} (reuse: repository: every \
             pusher to this repository is trusted)."
        )
    }
}

type Labels = serde_json::Map<String, Value>;

/// The first of `references`, in their order, whose image carries `key` (read a few at once);
/// with the reference it was found under.
async fn first_with_key(
    ecr: &Destination,
    key: &Digest,
    references: Vec<String>,
) -> Option<(String, Manifest, Labels)> {
    let mut reads = stream::iter(references)
        .map(|reference| async move { (reference.clone(), read(ecr, reference).await) })
        .buffered(AT_ONCE);
    while let Some((reference, read)) = reads.next().await {
        match read {
            Some((manifest, labels))
                if labels.get(KEY_LABEL).and_then(Value::as_str) == Some(key.as_str()) =>
            {
                return Some((reference, manifest, labels));
            }
            _ => continue,
        }
    }
    None
}

/// Says which image is reused, by which run, and which of its labels it keeps.
fn reused(manifest: Manifest, labels: &Labels, workflow: &Workflow) -> Reused {
    let label = |name: &str| {
        labels
            .get(&format!("org.opencontainers.image.{name}"))
            .and_then(Value::as_str)
            .map(|v| format!("{name} {}", untrusted(v)))
    };
    let kept: Vec<String> = ["revision", "created", "version"]
        .into_iter()
        .filter_map(label)
        .collect();
    let built_by = labels
        .get(BUILT_BY_LABEL)
        .and_then(Value::as_str)
        .filter(|run| !run.is_empty())
        .map(str::to_string);
    workflow.info(&format!(
        "Reused {} built from identical inputs by run {}: nothing is built, and this run's \
             tags are written to it. It keeps the labels of the run that built it ({}).",
        manifest.digest,
        built_by
            .as_deref()
            .map_or("(not recorded)".into(), untrusted),
        kept.join(", ")
    ));
    Reused { manifest, built_by }
}

/// The references to read, each once: this run's tags, then the images pushed last, then the
/// other listed tags, at most [`MOST_READ`] beyond this run's own tags.
fn candidates(tags: &[String], recent: &[String], listed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for reference in recent.iter().chain(listed) {
        if out.len() == MOST_READ {
            break;
        }
        if !tags.contains(reference) && !out.contains(reference) {
            out.push(reference.clone());
        }
    }
    tags.iter().cloned().chain(out).collect()
}

/// The manifest at `reference` and its config's labels, when it is one image.
async fn read(ecr: &Destination, reference: String) -> Option<(Manifest, Labels)> {
    let manifest = ecr
        .client
        .get_manifest(&ecr.repository, &reference, |_, _| {})
        .await
        .ok()??;
    let config = manifest.config_digest()?;
    let bytes = ecr
        .client
        .get_small_blob(&ecr.repository, &config, |_, _| {})
        .await
        .ok()?;
    let config: Value = serde_json::from_slice(&bytes).ok()?;
    let labels = config.pointer("/config/Labels")?.as_object()?.clone();
    Some((manifest, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn where_an_image_was_found_is_said() {
        let tags = strings(&["sha-1", "main"]);
        assert_eq!(
            found_where("main", &tags),
            "Found under this run's tag main."
        );
        assert!(found_where("sha256:ab", &tags).contains("images pushed last"));
        assert!(found_where("pr-9", &tags).contains("tag list, under pr-9"));
    }

    #[test]
    fn own_tags_first_then_the_newest_then_the_list_each_once_and_bounded() {
        let tags = strings(&["sha-1", "main"]);
        let recent = strings(&["sha256:b", "sha256:a"]);
        let listed = strings(&["main", "pr-42", "sha-0"]);
        assert_eq!(
            candidates(&tags, &recent, &listed),
            ["sha-1", "main", "sha256:b", "sha256:a", "pr-42", "sha-0"]
        );
        let many: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        let bounded = candidates(&tags, &[], &many);
        assert_eq!(bounded.len(), tags.len() + MOST_READ);
        assert_eq!(bounded.last().unwrap(), &format!("t{}", MOST_READ - 1));
    }
}
