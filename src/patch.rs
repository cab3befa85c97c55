//! The patch step: a base image from a registry, plus one layer of `files` and config changes.
//!
//! 1. The layer is packed first (no network): a deterministic tar of the `files` lines, and the
//!    same tar gzipped the same way every time (the blob the registry gets).
//! 2. The base is resolved in its registry, so its exact digest, config and layer blobs are
//!    known.
//! 3. Each patched image's config is the base's with the changes, the OCI labels and the new
//!    layer's diff id; `created` is the commit's time (else the base's), so the same inputs give
//!    the same image. Its manifest keeps the base's format and lists the base's layer blobs as
//!    they are, then the new layer.
//! 4. The result is a [`PreparedImage`]: the push copies the base's blobs from its registry,
//!    uploads the new ones and writes the manifests (see `push::DirectUpload` for why not the
//!    daemon's push).
//!
//! Two engines: [`in_registry`] never needs a daemon and patches every platform of an index;
//! [`with_daemon`] patches the daemon's platform and also loads the image into the daemon (a
//! `docker load` of just the new config and layer: the daemon needs no file for layers it has),
//! so later steps can run it.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bollard::auth::DockerCredentials;
use serde_json::{json, Value};

use crate::engine::docker::DockerEngine;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::config::{self, ConfigChanges};
use crate::image::labels::build_labels;
use crate::image::layer::{self, LayerDigest};
use crate::image::manifest::{self, Descriptor};
use crate::image::reference::ImageReference;
use crate::inputs::{ImagePlan, PatchPlan};
use crate::registry::client::{sha256_digest, Manifest, RegistryClient};
use crate::registry::copy::Blob;
use crate::registry::prepared::{PreparedImage, Upload, UploadBody};
use crate::registry::resolve::{self, RemoteImage};
use crate::source;

/// Timestamps in the added layer: fixed, so the same files give the same layer whatever the
/// checkout's times.
const LAYER_MTIME: u64 = 0;

pub struct Patched {
    /// The image id in the daemon (the docker engine only).
    pub daemon_id: Option<String>,
    /// The base patched, pinned by the digest of what was patched (an index, or one image).
    pub base_digest: String,
    pub base_name: String,
    pub prepared: PreparedImage,
}

/// The files layer, on disk.
struct PackedLayer {
    diff_id: String,
    tar: PathBuf,
    compressed: Blob,
    gz: PathBuf,
}

/// Patches with the Docker daemon: the daemon's platform (or the one `platforms` names),
/// pulled, patched, loaded into the daemon under `local_name:first tag`.
pub async fn with_daemon(
    engine: &DockerEngine,
    plan: &PatchPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Patched> {
    let started = std::time::Instant::now();
    let (scratch, layer) = pack(plan).await?;
    let reference = &plan.base;
    let credentials = image.source_credentials.clone();
    let registry = source::connect(reference, credentials.clone(), http, "base-image").await?;
    let platform = match image.platforms.first() {
        Some(p) => {
            let mut parts = p.split('/');
            (
                parts.next().unwrap_or("linux").to_string(),
                parts.next().unwrap_or("amd64").to_string(),
            )
        }
        None => engine.platform().await.map_err(Failure::from)?,
    };
    let notice = workflow.retry_notice();
    let base = resolve::resolve(
        &registry,
        &reference.repository,
        reference.reference(),
        (&platform.0, &platform.1),
        &notice,
    )
    .await
    .map_err(|e| source::failure(reference, credentials.is_some(), "base-image", e))?;
    workflow.info(&format!(
        "Base {reference} is {}{} ({} layers).",
        base.manifest.digest,
        base.index
            .as_ref()
            .map(|i| format!(" for {}/{} in index {}", platform.0, platform.1, i.digest))
            .unwrap_or_default(),
        base.layers.len()
    ));
    {
        let _group = workflow.group(&format!("Pull {}", reference.pinned(&base.manifest.digest)));
        let auth = credentials
            .as_ref()
            .map(|(user, password)| DockerCredentials {
                username: Some(user.clone()),
                password: Some(password.clone()),
                serveraddress: Some(reference.registry.clone()),
                ..Default::default()
            });
        engine
            .pull(&reference.name(), &base.manifest.digest, auth, |line| {
                workflow.info(line)
            })
            .await
            .map_err(|e| {
                Failure::new(
                    "Cannot pull the base image",
                    format!(
                        "The Docker daemon could not pull {}: {e}",
                        reference.pinned(&base.manifest.digest)
                    ),
                )
            })?;
    }
    let patched = patch_image(&base, reference, plan, image, ctx, layer.as_ref())?;

    // Into the daemon: an archive of the new config and layer only.
    let name = format!("{local_name}:{}", image.tags[0]);
    let archive = scratch.path().join("image.tar");
    {
        let (archive, name, config) = (archive.clone(), name.clone(), patched.config.clone());
        let base_layers = base.layers.len();
        let layer_tar = layer.as_ref().map(|l| l.tar.clone());
        tokio::task::spawn_blocking(move || {
            write_archive(&archive, &name, &config, base_layers, layer_tar.as_deref())
        })
        .await?
        .map_err(|e| Failure::new("Cannot write the image archive", e.to_string()))?;
    }
    let file = tokio::fs::File::open(&archive).await?;
    engine
        .load(tokio_util::io::ReaderStream::new(file))
        .await
        .map_err(|e| Failure::new("Cannot load the patched image", e.to_string()))?;
    let daemon_id = sha256_digest(&patched.config);
    workflow.info(&format!(
        "Patched {} into {name} ({daemon_id}) in {:.1} s.",
        reference.pinned(&base.manifest.digest),
        started.elapsed().as_secs_f64()
    ));
    let base_digest = base.manifest.digest.clone();
    let prepared = prepare(
        registry,
        reference,
        vec![(base, patched)],
        None,
        layer.as_ref(),
        scratch,
    )?;
    Ok(Patched {
        daemon_id: Some(daemon_id),
        base_name: reference.pinned(&base_digest),
        base_digest,
        prepared,
    })
}

/// Patches in the registry, with no daemon: every platform of an index (or those `platforms`
/// names), or the one image the base is.
pub async fn in_registry(
    plan: &PatchPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Patched> {
    let started = std::time::Instant::now();
    let (scratch, layer) = pack(plan).await?;
    let reference = &plan.base;
    let credentials = image.source_credentials.clone();
    let fail = |e| source::failure(reference, credentials.is_some(), "base-image", e);
    let registry = source::connect(reference, credentials.clone(), http, "base-image").await?;
    let notice = workflow.retry_notice();
    let repository = &reference.repository;
    let top = resolve::manifest(&registry, repository, reference.reference(), &notice)
        .await
        .map_err(fail)?;
    let top_value = resolve::json(&top).map_err(fail)?;
    let mut bases = Vec::new();
    let index = if resolve::is_index(&top.media_type, &top_value) {
        let entries = resolve::index_entries(&top_value);
        let kept: Vec<_> = entries
            .iter()
            .filter(|e| {
                e.platform.as_ref().is_some_and(|p| {
                    image.platforms.is_empty() || resolve::platform_wanted(p, &image.platforms)
                })
            })
            .collect();
        if kept.is_empty() {
            let have: Vec<&str> = entries
                .iter()
                .filter_map(|e| e.platform.as_deref())
                .collect();
            return Err(source::no_platform(reference, &image.platforms, &have).into());
        }
        for entry in &kept {
            let child = resolve::manifest(&registry, repository, &entry.digest, &notice)
                .await
                .map_err(fail)?;
            bases.push(
                resolve::image(&registry, repository, child, Some(top.clone()), &notice)
                    .await
                    .map_err(fail)?,
            );
        }
        Some((
            top.clone(),
            kept.iter()
                .map(|e| e.descriptor.clone())
                .collect::<Vec<_>>(),
        ))
    } else {
        let base = resolve::image(&registry, repository, top.clone(), None, &notice)
            .await
            .map_err(fail)?;
        if !image.platforms.is_empty() {
            let platform = platform_of(&base.config);
            if !resolve::platform_wanted(&platform, &image.platforms) {
                return Err(Failure::new(
                    "No such platform",
                    format!(
                        "{reference} is a single {platform} image, not {}. Change platforms.",
                        image.platforms.join(", ")
                    ),
                )
                .into());
            }
        }
        bases.push(base);
        None
    };
    let mut patched = Vec::new();
    for base in bases {
        let image_patch = patch_image(&base, reference, plan, image, ctx, layer.as_ref())?;
        patched.push((base, image_patch));
    }
    workflow.info(&format!(
        "Patched {} ({}) in {:.1} s.",
        reference.pinned(&top.digest),
        patched
            .iter()
            .map(|(b, _)| platform_of(&b.config))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    ));
    let prepared = prepare(registry, reference, patched, index, layer.as_ref(), scratch)?;
    Ok(Patched {
        daemon_id: None,
        base_name: reference.pinned(&top.digest),
        base_digest: top.digest,
        prepared,
    })
}

/// One patched image: its config and manifest.
struct ImagePatch {
    config: Vec<u8>,
    manifest: Manifest,
}

fn patch_image(
    base: &RemoteImage,
    reference: &ImageReference,
    plan: &PatchPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    layer: Option<&PackedLayer>,
) -> Result<ImagePatch, Failure> {
    let created = ctx
        .event
        .commit_time
        .or_else(|| config::created(&base.config))
        .unwrap_or(ctx.started_at);
    let mut labels: BTreeMap<String, String> =
        build_labels(&ctx.event, &image.tags[0], created, &[]);
    labels.insert(
        "org.opencontainers.image.base.name".into(),
        reference.to_string(),
    );
    labels.insert(
        "org.opencontainers.image.base.digest".into(),
        base.manifest.digest.clone(),
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
    let (bytes, media_type) = manifest::patched(
        &base.manifest.bytes,
        &base.manifest.media_type,
        &Descriptor {
            digest: sha256_digest(&config),
            size: config.len() as u64,
        },
        layer
            .map(|l| Descriptor {
                digest: l.compressed.digest.clone(),
                size: l.compressed.size,
            })
            .as_ref(),
    )
    .map_err(unusable)?;
    Ok(ImagePatch {
        config,
        manifest: Manifest {
            digest: sha256_digest(&bytes),
            media_type,
            bytes,
        },
    })
}

/// What the push writes: the base blobs to copy, the new blobs, and the manifests (for an
/// index, the patched images' manifests first and a new index on top).
fn prepare(
    registry: RegistryClient,
    reference: &ImageReference,
    patched: Vec<(RemoteImage, ImagePatch)>,
    index: Option<(Manifest, Vec<Value>)>,
    layer: Option<&PackedLayer>,
    scratch: tempfile::TempDir,
) -> Result<PreparedImage, Failure> {
    let mut source_blobs: Vec<Blob> = Vec::new();
    let mut uploads: Vec<Upload> = Vec::new();
    if let Some(layer) = layer {
        uploads.push(Upload {
            blob: layer.compressed.clone(),
            body: UploadBody::File(layer.gz.clone()),
        });
    }
    for (base, image) in &patched {
        for blob in &base.layers {
            if !source_blobs.contains(blob) {
                source_blobs.push(blob.clone());
            }
        }
        let digest = sha256_digest(&image.config);
        if !uploads.iter().any(|u| u.blob.digest == digest) {
            uploads.push(Upload {
                blob: Blob {
                    digest,
                    size: image.config.len() as u64,
                },
                body: UploadBody::Bytes(image.config.clone()),
            });
        }
    }
    let first = &patched[0].0;
    let size =
        first.layers.iter().map(|b| b.size).sum::<u64>() + layer.map_or(0, |l| l.compressed.size);
    let layers = first.layers.len() + usize::from(layer.is_some());
    let (manifest, children) = match index {
        None => (patched[0].1.manifest.clone(), Vec::new()),
        Some((base_index, descriptors)) => {
            let children: Vec<Manifest> = patched.iter().map(|(_, p)| p.manifest.clone()).collect();
            (new_index(&base_index, &descriptors, &children)?, children)
        }
    };
    Ok(PreparedImage {
        source: registry,
        source_repository: reference.repository.clone(),
        source_blobs,
        uploads,
        children,
        manifest,
        size,
        layers,
        scratch: Some(scratch),
    })
}

/// The base's index with only the patched images, each entry keeping its platform.
fn new_index(base: &Manifest, kept: &[Value], children: &[Manifest]) -> Result<Manifest, Failure> {
    let mut value: Value = serde_json::from_slice(&base.bytes)
        .map_err(|e| Failure::new("Cannot patch the base image", e.to_string()))?;
    let entries: Vec<Value> = kept
        .iter()
        .zip(children)
        .map(|(descriptor, child)| {
            let mut entry = json!({
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.bytes.len(),
            });
            if let Some(platform) = descriptor.get("platform") {
                entry["platform"] = platform.clone();
            }
            entry
        })
        .collect();
    if let Some(object) = value.as_object_mut() {
        object.remove("annotations");
        object.remove("subject");
        object.insert("manifests".into(), Value::Array(entries));
    }
    let bytes =
        serde_json::to_vec(&value).map_err(|e| Failure::new("Cannot patch", e.to_string()))?;
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(&base.media_type)
        .to_string();
    Ok(Manifest {
        digest: sha256_digest(&bytes),
        media_type,
        bytes,
    })
}

/// `os/arch[/variant]` of an image config.
fn platform_of(config: &[u8]) -> String {
    let value: Value = serde_json::from_slice(config).unwrap_or_default();
    let get = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    };
    match value.get("variant").and_then(Value::as_str) {
        Some(variant) => format!("{}/{}/{variant}", get("os"), get("architecture")),
        None => format!("{}/{}", get("os"), get("architecture")),
    }
}

/// Packs the files layer (when there are files) into a temporary folder.
async fn pack(plan: &PatchPlan) -> anyhow::Result<(tempfile::TempDir, Option<PackedLayer>)> {
    let scratch = scratch_dir()?;
    if plan.files.is_empty() {
        return Ok((scratch, None));
    }
    let entries = plan.files.clone();
    let tar = scratch.path().join("layer.tar");
    let gz = scratch.path().join("layer.tar.gz");
    let (tar_path, gz_path) = (tar.clone(), gz.clone());
    let (plain, compressed) =
        tokio::task::spawn_blocking(move || -> std::io::Result<(LayerDigest, LayerDigest)> {
            let mut out = BufWriter::new(std::fs::File::create(&tar_path)?);
            let digest = layer::write(&entries, LAYER_MTIME, &mut out)?;
            out.flush()?;
            drop(out);
            Ok((digest, layer::compress(&tar_path, &gz_path)?))
        })
        .await?
        .map_err(|e| Failure::new("Cannot pack the files", format!("files: {e}")))?;
    Ok((
        scratch,
        Some(PackedLayer {
            diff_id: plain.diff_id,
            tar,
            compressed: Blob {
                digest: compressed.diff_id,
                size: compressed.size,
            },
            gz,
        }),
    ))
}

/// Where the layer and the archive are written: the runner's temp folder when this process can
/// see it (a container action gets the host's path in RUNNER_TEMP, which it cannot), else the
/// system's; removed afterwards.
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("ship-to-ecr-");
        b
    };
    let runner_temp = std::env::var_os("RUNNER_TEMP")
        .map(PathBuf::from)
        .filter(|p| p.is_dir());
    let dir = match runner_temp {
        Some(root) => builder().tempdir_in(root),
        None => builder().tempdir(),
    };
    dir.map_err(|e| Failure::new("Cannot create a temporary folder", e.to_string()).into())
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

/// An image archive as `docker load` reads it, holding only the new config and layer: the
/// base's layers are already in the daemon, so their entries name files that are not needed.
fn write_archive(
    path: &Path,
    name: &str,
    config: &[u8],
    base_layers: usize,
    layer: Option<&Path>,
) -> std::io::Result<()> {
    let mut layers: Vec<String> = (0..base_layers).map(|i| format!("base/{i}.tar")).collect();
    if layer.is_some() {
        layers.push("layer.tar".into());
    }
    let manifest = json!([{ "Config": "config.json", "RepoTags": [name], "Layers": layers }]);
    let mut builder = tar::Builder::new(BufWriter::new(std::fs::File::create(path)?));
    let add = |builder: &mut tar::Builder<_>, entry: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, entry, bytes)
    };
    add(
        &mut builder,
        "manifest.json",
        &serde_json::to_vec(&manifest)?,
    )?;
    add(&mut builder, "config.json", config)?;
    if let Some(layer) = layer {
        builder.append_path_with_name(layer, "layer.tar")?;
    }
    builder.into_inner()?.flush()
}
