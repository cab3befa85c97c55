//! The patch step with the docker engine: the daemon's platform (or the one `platforms`
//! names) of the base, pulled by digest, patched as in the registry engine, and loaded into the
//! daemon under a name of this run's own, so later steps of the job can run it. The push still
//! writes it blob by blob (see `patch`), never through the daemon.

use bollard::auth::DockerCredentials;

use super::files_layer;
use super::patch::{self, BaseImage};
use super::source::{self, SourceInput};
use super::{Base, Made};
use crate::artifact::Artifact;
use crate::engine::archive::{write_archive, Loadable, NewLayer};
use crate::engine::docker::DockerEngine;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::reference::ImageReference;
use crate::inputs::{ImagePlan, PatchPlan};
use crate::oci::Digest;
use crate::registry::client::RegistryClient;
use crate::registry::prepared::Source;

pub async fn with_daemon(
    engine: &DockerEngine,
    plan: &PatchPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let started = std::time::Instant::now();
    let (scratch, layer) = files_layer::pack(&plan.files).await?;
    let reference = &plan.base;
    let (registry, base) = read_base(engine, image, reference, http, workflow).await?;
    let base = &base;
    pull(engine, reference, &base.manifest.digest, image, workflow).await?;
    let patched = patch::patch_image(base, reference, plan, image, ctx, layer.as_ref())?;
    let name = format!("{local_name}:{}", image.tags[0]);
    let archive = scratch.path().join("image.tar");
    let containerd_store = engine
        .describe()
        .await
        .map_err(Failure::from)?
        .containerd_store;
    let loadable = Loadable {
        name: name.clone(),
        config: patched.config.clone(),
        manifest: patched.manifest.clone(),
        base_layers: base.layers.len(),
        layer: layer.as_ref().map(|l| NewLayer {
            tar: l.tar.clone(),
            compressed: l.compressed.clone(),
            gz: l.gz.clone(),
        }),
    };
    load(engine, &archive, loadable, containerd_store).await?;
    // The classic store names an image by its config, the containerd store by its manifest.
    let daemon_id = if containerd_store {
        patched.manifest.digest.clone()
    } else {
        Digest::of(&patched.config)
    };
    workflow.info(&format!(
        "Patched {} into {name} ({daemon_id}) in {:.1} s.",
        reference.pinned(base.manifest.digest.as_str()),
        started.elapsed().as_secs_f64()
    ));
    let loaded = super::inspect(engine, daemon_id.as_str()).await?;
    let base_pin = Base::pinned(reference, &base.manifest);
    let source = Source {
        registry,
        repository: reference.repository.clone(),
    };
    let prepared = patch::prepare(
        source,
        std::slice::from_ref(base),
        vec![patched],
        None,
        layer.as_ref(),
        scratch,
    )?;
    let mut made = Made::new(
        Artifact::Prepared {
            image: Box::new(prepared),
            loaded: Some(loaded),
        },
        Some(base_pin),
    );
    crate::engine::scratch::hold(&name);
    made.temporary_name = Some(name);
    Ok(made)
}

/// The base's image for the daemon's platform (or the first of `platforms`): one image, even
/// from an index whose entries of that platform differ only by variant.
async fn read_base(
    engine: &DockerEngine,
    image: &ImagePlan,
    reference: &ImageReference,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<(RegistryClient, BaseImage)> {
    let platform = match image.platforms.first().cloned() {
        Some(p) => p,
        None => engine.platform().await.map_err(Failure::from)?,
    };
    let (registry, mut walk) = source::walk(
        reference,
        image.source_credentials.clone(),
        SourceInput::BaseImage,
        http,
        std::slice::from_ref(&platform),
        false,
        workflow,
    )
    .await?;
    walk.kept.truncate(1);
    let base = source::read_configs(
        &registry,
        reference,
        &walk,
        image.source_credentials.is_some(),
        workflow,
    )
    .await?
    .remove(0);
    workflow.info(&format!(
        "Base {reference} is {}{} ({} layers).",
        base.manifest.digest,
        walk.index
            .as_ref()
            .map(|_| format!(" for {platform} in index {}", walk.top.digest))
            .unwrap_or_default(),
        base.layers.len()
    ));
    Ok((registry, base))
}

/// Pulls the base by digest, so the daemon has the layers the loaded archive leaves out.
async fn pull(
    engine: &DockerEngine,
    reference: &ImageReference,
    digest: &Digest,
    image: &ImagePlan,
    workflow: &Workflow,
) -> Result<(), Failure> {
    let _group = workflow.group(&format!("Pull {}", reference.pinned(digest.as_str())));
    let auth = image
        .source_credentials
        .as_ref()
        .map(|(user, password)| DockerCredentials {
            username: Some(user.clone()),
            password: Some(password.clone()),
            serveraddress: Some(reference.registry.clone()),
            ..Default::default()
        });
    let out = workflow.verbatim();
    engine
        .pull(&reference.name(), digest.as_str(), auth, |line| {
            out.line(line)
        })
        .await
        .map_err(|e| {
            Failure::new(
                "Cannot pull the base image",
                format!(
                    "The Docker daemon could not pull {}: {e}",
                    reference.pinned(digest.as_str())
                ),
            )
        })
}

/// Loads the patched image into the daemon: an archive of the new config and layer only.
async fn load(
    engine: &DockerEngine,
    archive: &std::path::Path,
    image: Loadable,
    containerd_store: bool,
) -> anyhow::Result<()> {
    {
        let archive = archive.to_path_buf();
        tokio::task::spawn_blocking(move || write_archive(&archive, &image, containerd_store))
            .await?
            .map_err(|e| Failure::new("Cannot write the image archive", e.to_string()))?;
    }
    let file = tokio::fs::File::open(archive).await?;
    engine
        .load(tokio_util::io::ReaderStream::new(file))
        .await
        .map_err(|e| Failure::new("Cannot load the patched image", e.to_string()))?;
    Ok(())
}
