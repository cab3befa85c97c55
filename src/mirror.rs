//! The mirror step: an image in another registry, copied to ECR unchanged (registry to
//! registry, no daemon). Every manifest keeps its bytes, so the digest is the source's; with
//! `platforms`, an index keeps only those platforms (a new index, so a new digest).

use serde_json::{json, Value};

use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::image::reference::ImageReference;
use crate::inputs::ImagePlan;
use crate::registry::client::{sha256_digest, Manifest};
use crate::registry::copy::Blob;
use crate::registry::prepared::PreparedImage;
use crate::registry::resolve;
use crate::source;

pub async fn prepare(
    reference: &ImageReference,
    image: &ImagePlan,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<PreparedImage> {
    let credentials = image.source_credentials.clone();
    let fail = |e| source::failure(reference, credentials.is_some(), "image", e);
    let registry = source::connect(reference, credentials.clone(), http, "image").await?;
    let notice = workflow.retry_notice();
    let repository = &reference.repository;
    let top = resolve::manifest(&registry, repository, reference.reference(), &notice)
        .await
        .map_err(fail)?;
    let value = resolve::json(&top).map_err(fail)?;
    let mut blobs: Vec<Blob> = Vec::new();
    let mut children = Vec::new();
    let mut first_layers: Option<Vec<Blob>> = None;
    let add_blobs = |value: &Value, blobs: &mut Vec<Blob>| -> Result<Vec<Blob>, Failure> {
        let mut own = Vec::new();
        if let Some(config) = value.get("config").and_then(resolve::descriptor) {
            own.push(config);
        }
        let layers = resolve::layers_of(value).map_err(fail)?;
        own.extend(layers.iter().cloned());
        for blob in own {
            if !blobs.contains(&blob) {
                blobs.push(blob);
            }
        }
        Ok(layers)
    };
    let manifest = if resolve::is_index(&top.media_type, &value) {
        let entries = resolve::index_entries(&value);
        let filtering = !image.platforms.is_empty();
        let mut kept = Vec::new();
        for entry in &entries {
            let wanted = match &entry.platform {
                Some(p) => !filtering || resolve::platform_wanted(p, &image.platforms),
                // Attestations and other platform-less entries go with a whole mirror only.
                None => !filtering,
            };
            if !wanted {
                continue;
            }
            let child = resolve::manifest(&registry, repository, &entry.digest, &notice)
                .await
                .map_err(fail)?;
            let child_value = resolve::json(&child).map_err(fail)?;
            if resolve::is_index(&child.media_type, &child_value) {
                return Err(Failure::new(
                    "Cannot copy the image",
                    format!("{reference}: an index inside an index is not supported"),
                )
                .into());
            }
            let layers = add_blobs(&child_value, &mut blobs)?;
            if entry.platform.is_some() && first_layers.is_none() {
                first_layers = Some(layers);
            }
            kept.push(entry.descriptor.clone());
            children.push(child);
        }
        if kept.iter().all(|d| d.get("platform").is_none()) {
            let have: Vec<&str> = entries
                .iter()
                .filter_map(|e| e.platform.as_deref())
                .collect();
            return Err(source::no_platform(reference, &image.platforms, &have).into());
        }
        if filtering && kept.len() < entries.len() {
            let filtered = filtered_index(&value, kept, &top.media_type)?;
            workflow.annotate(
                Level::Notice,
                "Platforms filtered",
                &format!(
                    "Kept {} of the {} entries of {reference}: the index pushed is new, its digest {} is not the source's {}.",
                    children.len(),
                    entries.len(),
                    filtered.digest,
                    top.digest
                ),
            );
            filtered
        } else {
            top.clone()
        }
    } else {
        if !image.platforms.is_empty() {
            workflow.annotate(
                Level::Warning,
                "One platform only",
                &format!("{reference} is a single image; platforms does not apply to it."),
            );
        }
        first_layers = Some(add_blobs(&value, &mut blobs)?);
        top.clone()
    };
    let layers = first_layers.unwrap_or_default();
    workflow.info(&format!(
        "Source {reference} is {} ({} manifests, {} blobs).",
        top.digest,
        children.len() + 1,
        blobs.len()
    ));
    Ok(PreparedImage {
        source: registry,
        source_repository: repository.clone(),
        source_blobs: blobs,
        uploads: Vec::new(),
        children,
        manifest,
        size: layers.iter().map(|b| b.size).sum(),
        layers: layers.len(),
        scratch: None,
    })
}

fn filtered_index(index: &Value, kept: Vec<Value>, media_type: &str) -> Result<Manifest, Failure> {
    let mut value = index.clone();
    value["manifests"] = json!(kept);
    if let Some(object) = value.as_object_mut() {
        object.remove("annotations");
    }
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| Failure::new("Cannot copy the image", e.to_string()))?;
    Ok(Manifest {
        digest: sha256_digest(&bytes),
        media_type: value
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(media_type)
            .to_string(),
        bytes,
    })
}
