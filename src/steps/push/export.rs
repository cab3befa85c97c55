//! Pushing a daemon image by reading it out through the export API and writing it with the
//! registry writer, where that beats the daemon's own push.
//!
//! On the classic image store the daemon's push compresses one layer after another, each
//! stream behind the one before; the export, compressed here on every core as it streams in
//! and uploaded several blobs at a time, is faster (`bench/push_route.rs`). The compression is
//! deterministic, so the same image gives the same manifest on every run. On the containerd
//! store the daemon already holds each layer compressed and pushes it as it is, under the
//! manifest whose digest is the image's id: that push is kept there.

use std::time::Instant;

use crate::engine::docker::{DockerEngine, LocalImage};
use crate::engine::export::{self, ExportError};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::{manifest, Descriptor, Digest};
use crate::registry::prepared::{PreparedImage, Upload, UploadBody};

/// Whether this daemon's images leave faster through the export than through its push: a
/// Linux daemon with the classic image store.
pub async fn is_the_faster_route(engine: &DockerEngine) -> Result<bool, Failure> {
    let daemon = engine.describe().await?;
    Ok(daemon.os == "linux" && !daemon.containerd_store)
}

/// Reads `local` out of the daemon into a temporary folder, its layers compressed, as an image
/// the registry writer can write.
pub async fn prepare(
    engine: &DockerEngine,
    local: &LocalImage,
    workflow: &Workflow,
) -> Result<PreparedImage, Failure> {
    let started = Instant::now();
    let scratch = tempfile::tempdir().map_err(|e| {
        Failure::new(
            "Cannot export the image",
            format!("cannot make a temporary folder: {e}"),
        )
    })?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let exported = export::read(engine.save(&local.id), scratch.path(), workers)
        .await
        .map_err(export_failure)?;
    let config = Descriptor::of(&exported.config);
    // On the classic store the image's id is its config's digest: anything else is not the
    // image that was asked for (the name moved, or the export is not of this store).
    if Digest::parse(&local.id).ok().as_ref() != Some(&config.digest) {
        return Err(Failure::new(
            "Cannot export the image",
            format!(
                "the daemon's export of {} holds config {}, not that image",
                local.id, config.digest
            ),
        ));
    }
    let layers: Vec<Descriptor> = exported.layers.iter().map(|l| l.blob.clone()).collect();
    let size = layers.iter().map(|l| l.size).sum();
    workflow.info(&format!(
        "Read {} layer(s) out of the daemon and compressed them ({} MB -> {} MB) in {:.1} s.",
        layers.len(),
        exported.uncompressed >> 20,
        size >> 20,
        started.elapsed().as_secs_f64()
    ));
    let mut uploads: Vec<Upload> = Vec::new();
    for layer in &exported.layers {
        // An image may hold the same layer twice; it is one blob.
        if !uploads.iter().any(|u| u.blob == layer.blob) {
            uploads.push(Upload {
                blob: layer.blob.clone(),
                body: UploadBody::File(layer.path.clone()),
            });
        }
    }
    uploads.push(Upload {
        blob: config.clone(),
        body: UploadBody::Bytes(exported.config),
    });
    Ok(PreparedImage {
        source: None,
        source_blobs: Vec::new(),
        uploads,
        children: Vec::new(),
        manifest: manifest::docker_image(&config, &layers),
        size,
        layers: layers.len(),
        scratch: Some(scratch),
    })
}

fn export_failure(e: ExportError) -> Failure {
    Failure::new("Cannot export the image", e.to_string())
}
