//! The patch step through the Docker daemon: a base image from a registry, plus one layer of
//! `files` and config changes, becomes an image in the daemon.
//!
//! 1. The layer is packed first (no network): a deterministic tar of the `files` lines.
//! 2. The base is resolved in its registry (index -> this daemon's platform), so its exact
//!    digest, config and layer blobs are known, and the daemon pulls it by that digest.
//! 3. The new config is the base's, with the changes, the OCI labels and the new layer's diff id;
//!    `created` is the commit's time (else the base's), so the same inputs give the same image.
//! 4. The daemon loads an archive holding only the new config and the new layer (a `docker
//!    load` needs no file for layers it has). Unlike `docker commit`, nothing in the result
//!    depends on the clock or on a container, so a re-run is the same image and pushes nothing.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bollard::auth::DockerCredentials;
use reqwest::Url;
use serde_json::json;

use crate::engine::docker::DockerEngine;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::image::config::{self, ConfigChanges};
use crate::image::labels::build_labels;
use crate::image::layer::{self, LayerDigest};
use crate::image::manifest::{self, Descriptor};
use crate::image::reference::ImageReference;
use crate::inputs::{ImagePlan, PatchPlan};
use crate::registry::client::{sha256_digest, Manifest, RegistryClient, RegistryError};
use crate::registry::copy::Blob;
use crate::registry::resolve::{self, RemoteImage, ResolveError};

/// The base a patched image was made from, and how to reach its registry again.
pub struct Base {
    pub reference: ImageReference,
    pub registry: RegistryClient,
    pub image: RemoteImage,
}

impl Base {
    /// The digest of the exact image patched (one platform's manifest).
    pub fn digest(&self) -> &str {
        &self.image.manifest.digest
    }
}

pub struct Patched {
    /// The image id (the new config's digest).
    pub id: String,
    pub base: Base,
    /// What the push writes: the new config, the compressed new layer, the manifest.
    pub config: Vec<u8>,
    pub layer: Option<(PathBuf, Blob)>,
    pub manifest: Manifest,
    /// Holds the compressed layer until the push.
    _scratch: tempfile::TempDir,
}

/// Timestamps in the added layer: fixed, so the same files give the same layer whatever the
/// checkout's times.
const LAYER_MTIME: u64 = 0;

pub async fn patch(
    engine: &DockerEngine,
    plan: &PatchPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Patched> {
    let started = std::time::Instant::now();
    let temp = scratch_dir()?;
    let layer_path = temp.path().join("layer.tar");
    let compressed_path = temp.path().join("layer.tar.gz");
    // (uncompressed: the diff id; compressed: the blob ECR gets)
    let layer = if plan.files.is_empty() {
        None
    } else {
        let entries = plan.files.clone();
        let (path, gz) = (layer_path.clone(), compressed_path.clone());
        let written =
            tokio::task::spawn_blocking(move || -> std::io::Result<(LayerDigest, LayerDigest)> {
                let mut out = BufWriter::new(std::fs::File::create(&path)?);
                let digest = layer::write(&entries, LAYER_MTIME, &mut out)?;
                out.flush()?;
                drop(out);
                Ok((digest, layer::compress(&path, &gz)?))
            })
            .await?
            .map_err(|e| Failure::new("Cannot pack the files", format!("files: {e}")))?;
        Some(written)
    };

    let base = resolve_base(engine, plan, http, workflow).await?;
    {
        let _group = workflow.group(&format!("Pull {}@{}", base.reference.name(), base.digest()));
        let credentials =
            plan.base_credentials
                .as_ref()
                .map(|(user, password)| DockerCredentials {
                    username: Some(user.clone()),
                    password: Some(password.clone()),
                    serveraddress: Some(base.reference.registry.clone()),
                    ..Default::default()
                });
        engine
            .pull(&base.reference.name(), base.digest(), credentials, |line| {
                workflow.info(line)
            })
            .await
            .map_err(|e| {
                Failure::new(
                    "Cannot pull the base image",
                    format!(
                        "The Docker daemon could not pull {}: {e}",
                        base.reference.pinned(base.digest())
                    ),
                )
            })?;
    }

    let created = ctx
        .event
        .commit_time
        .or_else(|| config::created(&base.image.config))
        .unwrap_or(ctx.started_at);
    let mut labels = build_labels(&ctx.event, &image.tags[0], created, &[]);
    labels.insert(
        "org.opencontainers.image.base.name".into(),
        base.reference.to_string(),
    );
    labels.insert(
        "org.opencontainers.image.base.digest".into(),
        base.digest().to_string(),
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
        layer: layer.as_ref().map(|(l, _)| l.diff_id.clone()),
        created_by: describe(plan),
    };
    let new_config = config::patch(&base.image.config, &changes)
        .map_err(|e| Failure::new("Cannot patch the base image", e))?;
    let id = sha256_digest(&new_config);
    let compressed = layer.as_ref().map(|(_, gz)| Descriptor {
        digest: gz.diff_id.clone(),
        size: gz.size,
    });
    let (manifest_bytes, media_type) = manifest::patched(
        &base.image.manifest.bytes,
        &base.image.manifest.media_type,
        &Descriptor {
            digest: id.clone(),
            size: new_config.len() as u64,
        },
        compressed.as_ref(),
    )
    .map_err(|e| Failure::new("Cannot patch the base image", e))?;

    let name = format!("{local_name}:{}", image.tags[0]);
    let archive = temp.path().join("image.tar");
    let layer_count = base.image.layers.len();
    let has_layer = layer.is_some();
    {
        let (archive, name, config) = (archive.clone(), name.clone(), new_config.clone());
        let layer_path = layer_path.clone();
        tokio::task::spawn_blocking(move || {
            write_archive(
                &archive,
                &name,
                &config,
                layer_count,
                has_layer.then_some(&layer_path),
            )
        })
        .await?
        .map_err(|e| Failure::new("Cannot write the image archive", e.to_string()))?;
    }
    let file = tokio::fs::File::open(&archive).await?;
    engine
        .load(tokio_util::io::ReaderStream::new(file))
        .await
        .map_err(|e| Failure::new("Cannot load the patched image", e.to_string()))?;
    workflow.info(&format!(
        "Patched {} with {} ({} files, {} bytes) into {name} ({id}) in {:.1} s.",
        base.reference.pinned(base.digest()),
        if has_layer { "one layer" } else { "no layer" },
        plan.files.len(),
        layer.as_ref().map_or(0, |(l, _)| l.size),
        started.elapsed().as_secs_f64()
    ));
    Ok(Patched {
        id,
        base,
        config: new_config,
        layer: compressed.map(|d| {
            (
                compressed_path,
                Blob {
                    digest: d.digest,
                    size: d.size,
                },
            )
        }),
        manifest: Manifest {
            digest: sha256_digest(&manifest_bytes),
            media_type,
            bytes: manifest_bytes,
        },
        _scratch: temp,
    })
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

/// Finds the base in its registry: its exact manifest for this daemon's platform, its config
/// and layers.
async fn resolve_base(
    engine: &DockerEngine,
    plan: &PatchPlan,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Base> {
    let reference = &plan.base;
    let registry = connect(reference, plan.base_credentials.clone(), http)
        .await
        .map_err(|e| base_failure(reference, plan, e.into()))?;
    let platform = engine.platform().await.map_err(Failure::from)?;
    let on_retry = |e: &RegistryError, wait: std::time::Duration| {
        workflow.annotate(
            Level::Warning,
            "Retrying",
            &format!("{e}; trying again in {wait:.1?}"),
        )
    };
    let image = resolve::resolve(
        &registry,
        &reference.repository,
        reference.reference(),
        (&platform.0, &platform.1),
        &on_retry,
    )
    .await
    .map_err(|e| base_failure(reference, plan, e))?;
    workflow.info(&format!(
        "Base {reference} is {}{} ({} layers).",
        image.manifest.digest,
        image
            .index
            .as_ref()
            .map(|i| format!(" for {}/{} in index {}", platform.0, platform.1, i.digest))
            .unwrap_or_default(),
        image.layers.len()
    ));
    Ok(Base {
        reference: reference.clone(),
        registry,
        image,
    })
}

/// A client for the base's registry: HTTPS, or plain HTTP for a registry on this machine when
/// it does not speak TLS (as the Docker daemon allows for 127.0.0.0/8).
async fn connect(
    reference: &ImageReference,
    credentials: Option<(String, String)>,
    http: &reqwest::Client,
) -> Result<RegistryClient, RegistryError> {
    let who = if credentials.is_some() {
        "the base-image credentials"
    } else {
        "anonymous access"
    };
    let client = |scheme: &str| {
        let base = Url::parse(&format!("{scheme}://{}/", reference.api_host()))
            .expect("a parsed reference's host makes a URL");
        RegistryClient::challenged(http.clone(), base, credentials.clone(), who)
    };
    let secure = client("https");
    match secure.ping().await {
        Err(RegistryError::Unreachable { .. }) if reference.is_loopback() => {
            let plain = client("http");
            plain.ping().await?;
            Ok(plain)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(secure),
    }
}

fn base_failure(reference: &ImageReference, plan: &PatchPlan, e: ResolveError) -> Failure {
    let credentials_hint = if plan.base_credentials.is_some() {
        "Check base-image-username and base-image-password (for Docker Hub, an access token \
         with read access)."
    } else {
        "If the image is private, set base-image-username and base-image-password (with a \
         token from secrets)."
    };
    match e {
        ResolveError::Registry(RegistryError::Refused { .. })
        | ResolveError::Registry(RegistryError::Token(_)) => Failure::new(
            "Base image access denied",
            format!("Cannot read {reference}: {e}. {credentials_hint}"),
        ),
        ResolveError::NotFound(_) => Failure::new(
            "Base image not found",
            format!(
                "Cannot find {reference}: {e}. Check the name and tag in base-image (a private \
                 repository may also answer 'not found'). {credentials_hint}"
            ),
        ),
        e => Failure::new("Cannot read the base image", format!("{reference}: {e}")),
    }
}

/// An image archive as `docker load` reads it, holding only the new config and layer: the
/// base's layers are already in the daemon, so their entries name files that are not needed.
fn write_archive(
    path: &Path,
    name: &str,
    config: &[u8],
    base_layers: usize,
    layer: Option<&std::path::PathBuf>,
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
