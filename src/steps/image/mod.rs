//! The image step: a build, an image in the daemon, a patch or a mirror, made before any AWS
//! call (a failed build leaves nothing in ECR, and a long build does not eat into the role
//! session's lifetime) -> one [`Artifact`] for the push.
//!
//! `engine: auto` picks the registry engine for patches and registry images, the daemon for
//! builds and local images. The daemon is reached only when the engine needs it: a patch or a
//! mirror by the registry engine runs without one.

pub mod build;
mod files_layer;
mod mirror;
mod patch;
mod patch_daemon;
mod source;
#[cfg(test)]
mod tests;

use crate::artifact::Artifact;
use crate::engine::docker::{DockerEngine, LocalImage};
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::image::reference::ImageReference;
use crate::inputs::{Engine, ImagePlan, ImageSource};
use crate::oci::{Digest, Manifest};
use crate::registry::destination::Destination;
use bollard::auth::DockerCredentials;

/// What the image step made.
pub struct Made {
    pub artifact: Artifact,
    /// The base a patch started from.
    pub base: Option<Base>,
    /// The daemon, when this run reached one: the push names the image in it.
    pub daemon: Option<DockerEngine>,
    /// A name of this run's own in the daemon, removed by [`Made::release`].
    temporary_name: Option<String>,
    /// How a build was made, for the summary.
    pub build: Option<BuildSummary>,
}

/// Which builder built the image and what its cache did (or which image was reused).
pub struct BuildSummary {
    pub builder: String,
    /// What the cache did, in words.
    pub cache: String,
}

/// A patch's base, pinned by the digest of what was patched (an index, or one image).
pub struct Base {
    /// `name@digest`.
    pub name: String,
    pub digest: Digest,
}

impl Base {
    fn pinned(reference: &ImageReference, manifest: &Manifest) -> Self {
        Self {
            name: reference.pinned(manifest.digest.as_str()),
            digest: manifest.digest.clone(),
        }
    }
}

impl Made {
    fn new(artifact: Artifact, base: Option<Base>) -> Self {
        Self {
            artifact,
            base,
            daemon: None,
            temporary_name: None,
            build: None,
        }
    }

    /// With `load: false`: removes the names the push gave the built image in the daemon
    /// (`names`, of which only those the push used exist), so that with the temporary name
    /// gone the daemon keeps nothing of this run. Names another job gave it stay.
    pub async fn unload(&self, names: &[String], workflow: &Workflow) {
        let Some(engine) = &self.daemon else { return };
        let mut removed = 0;
        for name in names {
            // A name the push never used is not there: nothing to say about it.
            if engine.untag(name).await.is_ok() {
                removed += 1;
            }
        }
        workflow.info(&format!(
            "load is false: {removed} name(s) of the built image removed from the Docker daemon."
        ));
    }

    /// With `load: true`, puts a reused image (which no build left in the daemon) into the
    /// daemon under its registry names, as a build would have: pulled by digest with ECR's
    /// credentials in the request. A failure is a warning: the image is pushed by then.
    pub async fn load_reused(
        &self,
        to: &Destination,
        digest: &Digest,
        tags: &[String],
        workflow: &Workflow,
    ) {
        let (Some(engine), Artifact::Stored(_)) = (&self.daemon, &self.artifact) else {
            return;
        };
        let uri = to.repository_uri();
        let credentials = DockerCredentials {
            username: Some(to.username.clone()),
            password: Some(to.password.clone()),
            serveraddress: Some(to.host.clone()),
            ..Default::default()
        };
        let _group = workflow.group(&format!("Load {uri}@{digest} into the Docker daemon"));
        let loaded = async {
            let out = workflow.verbatim();
            engine
                .pull(&uri, digest.as_str(), Some(credentials), |line| {
                    out.line(line)
                })
                .await?;
            for tag in tags {
                engine.tag(&format!("{uri}@{digest}"), &uri, tag).await?;
            }
            Ok::<_, crate::engine::docker::DockerError>(())
        };
        match loaded.await {
            Ok(()) => workflow.info(&format!(
                "load is true: the reused image is in the daemon as {uri}:{}.",
                tags.join(", ")
            )),
            Err(e) => workflow.annotate(
                Level::Warning,
                "Reused image not loaded",
                &format!(
                    "The image was pushed, but it could not be put into the Docker daemon for \
                     later steps ({e}). Set rebuild: true to build it here instead."
                ),
            ),
        }
    }

    /// Removes the run's temporary name from the daemon, so that no run, failed or not, leaves
    /// one behind; a failure to do so is a warning, never the run's failure.
    pub async fn release(&self, workflow: &Workflow) {
        if let (Some(temporary), Some(engine)) = (&self.temporary_name, &self.daemon) {
            let removed = engine.untag(temporary).await;
            crate::engine::scratch::release(temporary);
            if let Err(e) = removed {
                workflow.annotate(
                    Level::Warning,
                    "Temporary image name left",
                    &format!("Could not remove {temporary} from the daemon: {e}"),
                );
            }
        }
    }
}

/// Makes the image. `sign_in` signs in to this repository in ECR; only a BuildKit build that
/// imports its cache from there calls it, so every other image is made before any AWS call.
pub async fn make(
    plan: &ImagePlan,
    ctx: &RunContext,
    http: &reqwest::Client,
    sign_in: &impl AsyncFn() -> anyhow::Result<build::BuildHome>,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let daemon = connect(plan).await?;
    // A name of this run's own until the registry's address is known.
    let local_name = format!("ship-to-ecr-build/{:016x}", rand::random::<u64>());
    let needs = || {
        daemon.as_ref().ok_or_else(|| {
            Failure::new(
                "Docker daemon needed",
                "this image can only be made by the daemon",
            )
        })
    };
    let mut made = match &plan.source {
        ImageSource::Local(name) => {
            Made::new(Artifact::Daemon(inspect(needs()?, name).await?), None)
        }
        ImageSource::LocalOrRemote(name, reference) => {
            local_or_remote(daemon.as_ref(), name, reference, plan, http, workflow).await?
        }
        ImageSource::Remote(reference) => mirror::prepare(reference, plan, http, workflow).await?,
        ImageSource::Build(b) => {
            let engine = needs()?;
            match build::build(engine, b, plan, &local_name, ctx, http, sign_in, workflow).await? {
                build::Outcome::Built(built) => {
                    let local = inspect(engine, &built.id).await?;
                    let mut made = Made::new(Artifact::Daemon(local), None);
                    let temporary = format!("{local_name}:{}", plan.tags[0]);
                    crate::engine::scratch::hold(&temporary);
                    made.temporary_name = Some(temporary);
                    made.build = Some(BuildSummary {
                        builder: built.builder.to_string(),
                        cache: built.cache_row(),
                    });
                    made
                }
                build::Outcome::Reused(reused) => {
                    let by = reused.built_by.as_deref().unwrap_or("(not recorded)");
                    let summary = BuildSummary {
                        builder: format!(
                            "none: reused `{}`, built from identical inputs by run {by}",
                            reused.manifest.digest
                        ),
                        cache: "not used (nothing built)".to_string(),
                    };
                    let mut made = Made::new(Artifact::Stored(reused.manifest), None);
                    made.build = Some(summary);
                    made
                }
            }
        }
        ImageSource::Patch(p) if plan.engine == Engine::Docker => {
            patch_daemon::with_daemon(needs()?, p, plan, &local_name, ctx, http, workflow).await?
        }
        ImageSource::Patch(p) => patch::in_registry(p, plan, ctx, http, workflow).await?,
        ImageSource::InRepository(reference) => in_repository(reference, sign_in, workflow).await?,
    };
    made.daemon = daemon;
    Ok(made)
}

/// The daemon, when this source needs it: a build, a local image, a patch by the docker
/// engine. An `image` that may be local or remote only asks a daemon that is there.
async fn connect(plan: &ImagePlan) -> Result<Option<DockerEngine>, Failure> {
    match &plan.source {
        ImageSource::Build(_) | ImageSource::Local(_) => Ok(Some(DockerEngine::connect().await?)),
        ImageSource::Patch(_) if plan.engine == Engine::Docker => {
            Ok(Some(DockerEngine::connect().await?))
        }
        ImageSource::LocalOrRemote(..) => Ok(DockerEngine::connect().await.ok()),
        ImageSource::Patch(_) | ImageSource::Remote(_) | ImageSource::InRepository(_) => Ok(None),
    }
}

/// The daemon's image of that name if it has one, else the registry image.
async fn local_or_remote(
    daemon: Option<&DockerEngine>,
    name: &str,
    reference: &ImageReference,
    plan: &ImagePlan,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let local = match daemon {
        Some(engine) => engine.inspect(name).await.map_err(Failure::from)?,
        None => None,
    };
    match local {
        Some(image) => {
            workflow.info(&format!("Pushing {name} from the Docker daemon."));
            Ok(Made::new(Artifact::Daemon(image), None))
        }
        None => {
            workflow.info(&format!(
                "The Docker daemon has no image {name}: copying it from its registry."
            ));
            mirror::prepare(reference, plan, http, workflow).await
        }
    }
}

/// An image the repository already holds, read by tag or digest after signing in (read-only).
async fn in_repository(
    reference: &str,
    sign_in: &impl AsyncFn() -> anyhow::Result<build::BuildHome>,
    workflow: &Workflow,
) -> anyhow::Result<Made> {
    let home = sign_in().await?;
    let ecr = &home.ecr;
    let found = ecr
        .client
        .get_manifest(&ecr.repository, reference, workflow.retry_notice())
        .await
        .map_err(|e| Failure::new("Registry request failed", e.to_string()))?;
    let Some(manifest) = found else {
        return Err(Failure::new(
            "Image not in the repository",
            format!(
                "{} has no image '{reference}', so there is nothing to deploy. With a deploy to \
                 ECS, 'image' set to a tag (sha-4f3c2b1) or a digest (sha256:...) names an image \
                 this repository already holds; to push an image of the Docker daemon, give its \
                 name with its tag (web-app:latest).",
                ecr.repository_uri()
            ),
        )
        .into());
    };
    workflow.info(&format!(
        "Deploying {}@{}, already in the repository: nothing to build or push.",
        ecr.repository_uri(),
        manifest.digest
    ));
    Ok(Made::new(Artifact::Stored(manifest), None))
}

async fn inspect(engine: &DockerEngine, name: &str) -> Result<LocalImage, Failure> {
    engine
        .inspect(name)
        .await?
        .ok_or_else(|| image_not_found(name))
}

fn image_not_found(name: &str) -> Failure {
    Failure::new(
        "Image not found",
        format!(
            "The Docker daemon has no image '{name}'. With 'image', name an image built by an \
             earlier step of this job (as `docker build -t {name}` named it), or leave 'image' \
             empty to build from 'context'."
        ),
    )
}
