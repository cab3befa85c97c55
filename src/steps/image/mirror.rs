//! The mirror step: an image in another registry, copied to ECR unchanged (registry to
//! registry, no daemon). Every manifest keeps its bytes, so the digest is the source's; with
//! `platforms`, an index keeps only those platforms (a new index, so a new digest).

use super::source::{self, SourceInput};
use super::Made;
use crate::artifact::Artifact;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::image::reference::ImageReference;
use crate::inputs::ImagePlan;
use crate::oci::{index, Descriptor};
use crate::registry::prepared::{PreparedImage, Source};
use crate::registry::resolve::Walk;

pub async fn prepare(
    reference: &ImageReference,
    image: &ImagePlan,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let wanted = &image.platforms;
    // Attestations and other platform-less entries go with a whole mirror only.
    let (registry, walk) = source::walk(
        reference,
        image.source_credentials.clone(),
        SourceInput::Image,
        http,
        wanted,
        wanted.is_empty(),
        workflow,
    )
    .await?;
    let mut blobs: Vec<Descriptor> = Vec::new();
    for kept in &walk.kept {
        for blob in kept.image.blobs() {
            if !blobs.contains(blob) {
                blobs.push(blob.clone());
            }
        }
    }
    let manifest = if walk.filtered() {
        filtered(reference, &walk, workflow)?
    } else {
        if walk.index.is_none() && !wanted.is_empty() {
            workflow.annotate(
                Level::Warning,
                "One platform only",
                &format!("{reference} is a single image; platforms does not apply to it."),
            );
        }
        walk.top.clone()
    };
    let first = walk.first_image().map(|k| &k.image);
    let children = children_of(&walk);
    workflow.info(&format!(
        "Source {reference} is {} ({} manifests, {} blobs).",
        walk.top.digest,
        children.len() + 1,
        blobs.len()
    ));
    let prepared = PreparedImage {
        source: Some(Source {
            registry,
            repository: reference.repository.clone(),
        }),
        source_blobs: blobs,
        uploads: Vec::new(),
        children,
        manifest,
        size: first.map_or(0, |i| i.layers_size()),
        layers: first.map_or(0, |i| i.layers.len()),
        scratch: None,
    };
    Ok(Made::new(
        Artifact::Prepared {
            image: Box::new(prepared),
            loaded: None,
        },
        None,
    ))
}

/// The manifests an index names, written by digest before it (none for a single image).
fn children_of(walk: &Walk) -> Vec<crate::oci::Manifest> {
    match walk.index {
        Some(_) => walk.kept.iter().map(|k| k.manifest.clone()).collect(),
        None => Vec::new(),
    }
}

/// A new index of the kept entries, their descriptors as the source wrote them.
fn filtered(
    reference: &ImageReference,
    walk: &Walk,
    workflow: &Workflow,
) -> Result<crate::oci::Manifest, Failure> {
    let entries = walk
        .kept
        .iter()
        .filter_map(|k| k.entry.as_ref().map(|e| e.descriptor.clone()))
        .collect();
    let filtered = index::rebuild(&walk.top, entries)
        .map_err(|e| Failure::new("Cannot copy the image", e.0))?;
    let total = walk.index.as_ref().map_or(0, |i| i.entries.len());
    workflow.annotate(
        Level::Notice,
        "Platforms filtered",
        &format!(
            "Kept {} of the {total} entries of {reference}: the index pushed is new, its digest {} is not the source's {}.",
            walk.kept.len(),
            filtered.digest,
            walk.top.digest
        ),
    );
    Ok(filtered)
}
