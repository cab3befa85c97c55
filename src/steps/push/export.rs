//! Pushing a daemon image by reading it out through the export API and writing it with the
//! registry writer, where that beats the daemon's own push.
//!
//! On the classic image store the daemon's push compresses one layer after another, each
//! stream behind the one before. Here the export streams in, each layer is compressed on a core
//! of its own as soon as it has arrived, and uploaded as soon as it is compressed, while the
//! next ones still stream in (`bench/push_route.rs`). The compression is deterministic, so the
//! same image gives the same manifest on every run. On the containerd store the daemon already
//! holds each layer compressed and pushes it as it is, under the manifest whose digest is the
//! image's id: that push is kept there.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;

use super::{write_failure, Moved, PushRequest};
use crate::engine::docker::{DockerEngine, LocalImage};
use crate::engine::export::{self, Exported, ExportedLayer};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::oci::{manifest, Descriptor, Digest, Manifest};
use crate::registry::copy::PARALLEL_BLOBS;
use crate::registry::prepared::{PreparedImage, Upload, UploadBody};
use crate::registry::write::{self, WriteError};

/// Whether this daemon's images leave faster through the export than through its push: a
/// Linux daemon with the classic image store.
pub async fn is_the_faster_route(engine: &DockerEngine) -> Result<bool, Failure> {
    let daemon = engine.describe().await?;
    Ok(daemon.os == "linux" && !daemon.containerd_store)
}

/// Reads `local` out of the daemon, uploads its layers as they are compressed, then its config
/// and the manifest under `tag`; returns the manifest.
pub async fn push(
    engine: &DockerEngine,
    local: &LocalImage,
    request: &PushRequest<'_>,
    tag: &str,
    workflow: &Workflow,
) -> anyhow::Result<(Manifest, Moved)> {
    let started = Instant::now();
    let scratch = tempfile::tempdir().map_err(|e| {
        Failure::new(
            "Cannot export the image",
            format!("cannot make a temporary folder: {e}"),
        )
    })?;
    let (exported, sent) =
        export_and_upload(engine, local, request, scratch.path(), workflow).await?;
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
        )
        .into());
    }
    let layers: Vec<Descriptor> = exported.layers.iter().map(|l| l.blob.clone()).collect();
    let mut counted = HashMap::new();
    for layer in &layers {
        let was_sent = *sent.get(&layer.digest).ok_or_else(|| {
            Failure::new(
                "Cannot export the image",
                format!("the layer {} was not uploaded", layer.digest),
            )
        })?;
        counted.insert(&layer.digest, was_sent);
    }
    let size: u64 = layers.iter().map(|l| l.size).sum();
    workflow.info(&format!(
        "Read {} layer(s) out of the daemon, compressed ({} MB -> {} MB) and uploaded them in {:.1} s.",
        layers.len(),
        exported.uncompressed >> 20,
        size >> 20,
        started.elapsed().as_secs_f64()
    ));
    // Every layer is there: the config, then the manifest under the tag.
    let image = PreparedImage {
        source: None,
        source_blobs: Vec::new(),
        uploads: vec![Upload {
            blob: config.clone(),
            body: UploadBody::Bytes(exported.config),
        }],
        children: Vec::new(),
        manifest: manifest::docker_image(&config, &layers),
        size,
        layers: layers.len(),
        scratch: None,
    };
    write::write(
        &request.to.client,
        &request.to.repository,
        &image,
        tag,
        &workflow.retry_notice(),
    )
    .await
    .map_err(write_failure)?;
    let uploaded = counted.values().filter(|sent| **sent).count();
    Ok((
        image.manifest,
        Moved {
            layers_uploaded: uploaded,
            layers_present: counted.len() - uploaded,
            base_blobs: None,
        },
    ))
}

/// Runs the export and, side by side, the uploads of the layers it has compressed, a few at a
/// time; returns the export and, by digest, whether each blob was sent (or was there).
async fn export_and_upload(
    engine: &DockerEngine,
    local: &LocalImage,
    request: &PushRequest<'_>,
    scratch: &std::path::Path,
    workflow: &Workflow,
) -> anyhow::Result<(Exported, HashMap<Digest, bool>)> {
    let (ready, mut compressed) = tokio::sync::mpsc::unbounded_channel();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let export = export::read(engine.save(&local.id), scratch, workers, ready);
    tokio::pin!(export);
    let on_retry = workflow.retry_notice();
    let upload = |layer: ExportedLayer| {
        let on_retry = &on_retry;
        async move {
            write::upload_missing(
                &request.to.client,
                &request.to.repository,
                &layer.blob,
                &UploadBody::File(layer.path),
                on_retry,
            )
            .await
            .map(|sent| (layer.blob.digest.clone(), sent))
            .map_err(|error| WriteError::Upload {
                digest: layer.blob.digest.to_string(),
                error,
            })
        }
    };
    let mut exported = None;
    let mut waiting = VecDeque::new();
    let mut uploads = FuturesUnordered::new();
    let mut sent = HashMap::new();
    loop {
        while uploads.len() < PARALLEL_BLOBS {
            let Some(layer) = waiting.pop_front() else {
                break;
            };
            uploads.push(upload(layer));
        }
        tokio::select! {
            result = &mut export, if exported.is_none() => {
                exported = Some(result.map_err(|e| Failure::new("Cannot export the image", e.to_string()))?);
            }
            Some(layer) = compressed.recv() => {
                let layer: ExportedLayer = layer;
                // An image may hold the same layer twice; it is one blob, taken once (its entry
                // is made when it is queued and settled when its upload ends).
                if !sent.contains_key(&layer.blob.digest) {
                    sent.insert(layer.blob.digest.clone(), false);
                    waiting.push_back(layer);
                }
            }
            Some(done) = uploads.next(), if !uploads.is_empty() => {
                let (digest, was_sent) = done.map_err(write_failure)?;
                sent.insert(digest, was_sent);
            }
            else => break,
        }
    }
    let exported = exported.expect("the loop ends only once the export is done");
    Ok((exported, sent))
}
