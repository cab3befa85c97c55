//! The patch step: a base image from a registry, plus one layer of `files` and config changes.
//!
//! 1. The layer is packed first (no network), see [`super::files_layer`].
//! 2. The base is walked in its registry, so its exact digest, configs and layer blobs are known.
//! 3. Each patched image's config is the base's with the changes, the OCI labels and the new
//!    layer's diff id; `created` is the commit's time (else the base's), so the same inputs give
//!    the same image. Its manifest keeps the base's format and lists the base's layer blobs as
//!    they are, then the new layer.
//! 4. The result is a prepared image: the push copies the base's blobs from its registry,
//!    uploads the new ones and writes the manifests. Never the daemon's push: the daemon
//!    compresses layers anew for each registry, and for a layer it knows several digests of it
//!    checks only one in the destination before re-compressing, so a base's layers would not
//!    keep their digests.
//!
//! Two engines: [`in_registry`] never needs a daemon and patches every platform of an index;
//! `patch_daemon` patches the daemon's platform and also loads the result into the daemon.

use std::collections::BTreeMap;

use super::files_layer::{self, PackedLayer};
use super::source::{self, SourceInput};
use super::{Base, Made};
use crate::artifact::Artifact;
use crate::error::Failure;
use crate::github::commands::{untrusted, Workflow};
use crate::github::context::RunContext;
use crate::image::labels::build_labels;
use crate::image::reference::ImageReference;
use crate::inputs::{ImagePlan, PatchPlan};
use crate::oci::config::{self, ConfigChanges};
use crate::oci::{index, manifest, Descriptor, Manifest, Platform};
use crate::registry::prepared::{PreparedImage, Source, Upload, UploadBody};
use crate::registry::resolve::Walk;

/// One base image, read: its manifest, its layers, its config's bytes.
pub struct BaseImage {
    pub manifest: Manifest,
    pub layers: Vec<Descriptor>,
    pub config: Vec<u8>,
}

/// One patched image: its config and manifest.
pub struct ImagePatch {
    pub config: Vec<u8>,
    pub manifest: Manifest,
}

/// Patches in the registry, with no daemon: every platform of an index (or those `platforms`
/// names), or the one image the base is.
pub async fn in_registry(
    plan: &PatchPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let started = std::time::Instant::now();
    let (scratch, layer) = files_layer::pack(&plan.files).await?;
    let reference = &plan.base;
    let wanted = &image.platforms;
    let (registry, walk) = source::walk(
        reference,
        image.source_credentials.clone(),
        SourceInput::BaseImage,
        http,
        wanted,
        false,
        workflow,
    )
    .await?;
    let bases = source::read_configs(
        &registry,
        reference,
        &walk,
        image.source_credentials.is_some(),
        workflow,
    )
    .await?;
    if walk.index.is_none() && !wanted.is_empty() {
        let platform = Platform::of_config(&bases[0].config);
        if !platform.is_wanted(wanted) {
            return Err(Failure::new(
                "No such platform",
                format!(
                    "{reference} is a single {platform} image, not {}. Change platforms.",
                    crate::oci::platform::list(wanted)
                ),
            )
            .into());
        }
    }
    let mut patched = Vec::new();
    for base in &bases {
        patched.push(patch_image(
            base,
            reference,
            plan,
            image,
            ctx,
            layer.as_ref(),
        )?);
    }
    workflow.info(&format!(
        "Patched {} ({}) in {:.1} s.",
        reference.pinned(walk.top.digest.as_str()),
        bases
            .iter()
            // The platform as the base's config names it: its pusher's text.
            .map(|b| untrusted(&Platform::of_config(&b.config).to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    ));
    let source = Source {
        registry,
        repository: reference.repository.clone(),
    };
    let as_index = Some(&walk).filter(|w| w.index.is_some());
    let prepared = prepare(source, &bases, patched, as_index, layer.as_ref(), scratch)?;
    Ok(Made::new(
        Artifact::Prepared {
            image: Box::new(prepared),
            loaded: None,
        },
        Some(Base::pinned(reference, &walk.top)),
    ))
}

/// The config and manifest of `base` patched.
pub fn patch_image(
    base: &BaseImage,
    reference: &ImageReference,
    plan: &PatchPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    layer: Option<&PackedLayer>,
) -> Result<ImagePatch, Failure> {
    // Without a commit time, the base's own time: still the same on every run.
    let created = ctx
        .commit_time
        .known()
        .or_else(|| config::created(&base.config))
        .unwrap_or(ctx.commit_time.time);
    let mut labels: BTreeMap<String, String> =
        build_labels(&ctx.event, &image.tags[0], created, &[], &[]);
    labels.insert(
        "org.opencontainers.image.base.name".into(),
        reference.to_string(),
    );
    labels.insert(
        "org.opencontainers.image.base.digest".into(),
        base.manifest.digest.to_string(),
    );
    for (key, value) in &image.labels {
        labels.insert(key.clone(), value.clone());
    }
    let changes = ConfigChanges {
        env: plan.env.clone(),
        labels,
        workdir: plan.workdir.clone(),
        user: plan.user.clone(),
        entrypoint: plan.entrypoint.clone(),
        cmd: plan.cmd.clone(),
        created: Some(created),
        layer: layer.map(|l| l.diff_id.clone()),
        created_by: describe(plan),
    };
    let unusable = |e: String| Failure::new("Cannot patch the base image", e);
    let config = config::patch(&base.config, &changes).map_err(unusable)?;
    let manifest = manifest::patched(
        &base.manifest,
        &Descriptor::of(&config),
        layer.map(|l| &l.compressed),
    )
    .map_err(|e| unusable(e.0))?;
    Ok(ImagePatch { config, manifest })
}

/// What the push writes: the base blobs to copy, the new blobs, and the manifests. With
/// `as_index`, the walk of an index whose kept entries are `bases`: the patched images' manifests
/// go first and a new index, made from the base's, on top.
pub fn prepare(
    source: Source,
    bases: &[BaseImage],
    patched: Vec<ImagePatch>,
    as_index: Option<&Walk>,
    layer: Option<&PackedLayer>,
    scratch: tempfile::TempDir,
) -> Result<PreparedImage, Failure> {
    let mut source_blobs: Vec<Descriptor> = Vec::new();
    let mut uploads: Vec<Upload> = Vec::new();
    if let Some(layer) = layer {
        uploads.push(Upload {
            blob: layer.compressed.clone(),
            body: UploadBody::File(layer.gz.clone()),
        });
    }
    for (base, image) in bases.iter().zip(&patched) {
        for blob in &base.layers {
            if !source_blobs.contains(blob) {
                source_blobs.push(blob.clone());
            }
        }
        let config = Descriptor::of(&image.config);
        if !uploads.iter().any(|u| u.blob == config) {
            uploads.push(Upload {
                blob: config,
                body: UploadBody::Bytes(image.config.clone()),
            });
        }
    }
    let first = &bases[0];
    let size =
        first.layers.iter().map(|b| b.size).sum::<u64>() + layer.map_or(0, |l| l.compressed.size);
    let layers = first.layers.len() + usize::from(layer.is_some());
    let children: Vec<Manifest> = patched.into_iter().map(|p| p.manifest).collect();
    let (manifest, children) = match as_index {
        None => (children[0].clone(), Vec::new()),
        Some(walk) => {
            let entries = walk
                .kept
                .iter()
                .zip(&children)
                .map(|(kept, child)| {
                    let platform = kept
                        .entry
                        .as_ref()
                        .and_then(|e| e.descriptor.get("platform"));
                    index::entry_for(child, platform)
                })
                .collect();
            let index = index::rebuild(&walk.top, entries)
                .map_err(|e| Failure::new("Cannot patch the base image", e.0))?;
            (index, children)
        }
    };
    Ok(PreparedImage {
        source: Some(source),
        source_blobs,
        uploads,
        children,
        manifest,
        size,
        layers,
        scratch: Some(scratch),
    })
}

/// The history line of the patch: what was changed, never values (env values may be secret).
fn describe(plan: &PatchPlan) -> String {
    let mut parts = Vec::new();
    if !plan.files.is_empty() {
        parts.push(format!("{} files", plan.files.len()));
    }
    if !plan.env.is_empty() {
        let keys: Vec<&str> = plan.env.iter().map(|(k, _)| k.as_str()).collect();
        parts.push(format!("env {}", keys.join(" ")));
    }
    for (name, set) in [
        ("workdir", plan.workdir.is_some()),
        ("user", plan.user.is_some()),
        ("entrypoint", plan.entrypoint.is_some()),
        ("cmd", plan.cmd.is_some()),
    ] {
        if set {
            parts.push(name.to_string());
        }
    }
    if parts.is_empty() {
        parts.push("labels".into());
    }
    format!("ship-to-ecr patch: {}", parts.join(", "))
}
