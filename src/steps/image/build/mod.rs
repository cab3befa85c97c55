//! The build step: first the build key, and the image this repository already holds for it
//! (then nothing is built: see [`reuse`]); else built by the daemon's BuildKit, the context
//! served through the build's session by file sync as the docker CLI serves it, or by its
//! classic builder when asked or when the daemon has no BuildKit, the context then a tar
//! stream (its only way), the output folded into a log group, into an image in the daemon
//! named `local_name:first tag`.
//!
//! Finding an earlier image needs this repository's credentials, so a build signs in first;
//! those calls only read, and nothing is written to ECR before the build has succeeded.

mod buildkit;
mod cache;
mod classic;
mod platform;
mod reuse;

use crate::engine::buildkit::transport::Endpoint;
use crate::engine::docker::{DaemonInfo, DockerEngine};
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::image::context::ContextError;
use crate::inputs::{BuildPlan, Builder, ImagePlan, Reuse};

pub use cache::{BuildHome, CacheReport};
pub use reuse::Reused;

/// What the build step ends with.
pub enum Outcome {
    Built(Built),
    /// Nothing was built: this repository holds an image built from the same inputs.
    Reused(Reused),
}

/// What the build made, and how, for the log and the summary.
pub struct Built {
    pub id: String,
    /// `BuildKit` or `classic`.
    pub builder: &'static str,
    /// `None` when the cache was off or the builder has none to import.
    pub cache: Option<CacheReport>,
}

impl Built {
    /// What the cache did, in words for the summary.
    pub fn cache_row(&self) -> String {
        match (&self.cache, self.builder) {
            (Some(cache), _) => cache.describe(),
            (None, "classic") => "none (classic builder)".to_string(),
            (None, _) => "off".to_string(),
        }
    }
}

/// Reuses or builds `build` with the builder the plan and the daemon allow; `sign_in` reaches
/// this repository in ECR (read-only), where earlier builds and the cache are.
#[allow(clippy::too_many_arguments)]
pub async fn build(
    engine: &DockerEngine,
    build: &BuildPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    http: &reqwest::Client,
    sign_in: &impl AsyncFn() -> anyhow::Result<BuildHome>,
    workflow: &Workflow,
) -> anyhow::Result<Outcome> {
    let daemon = engine.describe().await.map_err(Failure::from)?;
    stamp_notice(ctx, workflow);
    let endpoint = choose(build, &daemon, Endpoint::from_env(), workflow)?;
    let builder = if endpoint.is_some() {
        "BuildKit"
    } else {
        "classic"
    };
    let home = sign_in().await?;
    let key = reuse::key(engine, build, image, builder, &home, http, workflow).await;
    if let Some(key) = &key {
        if build.rebuild {
            workflow.info("rebuild is true: building even if an image of these inputs exists.");
        } else if build.reuse == Reuse::Off {
            workflow.info("reuse is off: building even if an image of these inputs exists.");
        } else if let Some(reused) =
            reuse::find(&home, key, &image.tags, build.reuse, workflow).await
        {
            return Ok(Outcome::Reused(reused));
        }
    }
    let recorded = reuse::recorded_labels(key.as_ref(), ctx);
    let built = match endpoint {
        Some(endpoint) => {
            workflow.info(&format!("Builder: BuildKit ({}).", daemon.describe()));
            let target = buildkit::Target {
                endpoint: &endpoint,
                daemon: &daemon,
                local_name,
                recorded: &recorded,
            };
            buildkit::build(target, build, image, ctx, &home, workflow).await?
        }
        None => {
            workflow.info(&format!("Builder: classic ({}).", daemon.describe()));
            let id =
                classic::build(engine, build, image, local_name, ctx, &recorded, workflow).await?;
            Built {
                id,
                builder: "classic",
                cache: None,
            }
        }
    };
    Ok(Outcome::Built(built))
}

/// BuildKit's endpoint when it builds, `None` for the classic builder; refuses what the
/// classic builder cannot do when the daemon leaves no other.
fn choose(
    build: &BuildPlan,
    daemon: &DaemonInfo,
    endpoint: Option<Endpoint>,
    workflow: &Workflow,
) -> Result<Option<Endpoint>, Failure> {
    let missing = if !daemon.has_buildkit() {
        Some(format!(
            "the Docker daemon ({}, {}) has no BuildKit (Linux daemons from Docker 18.09, Engine API 1.39)",
            daemon.describe(),
            daemon.os
        ))
    } else if endpoint.is_none() {
        Some(
            "DOCKER_HOST names a daemon this action reaches only through the Docker API \
             (TLS or ssh), not for BuildKit's session"
                .to_string(),
        )
    } else {
        None
    };
    // What only BuildKit does; with `builder: classic` the inputs already refused it.
    let needs_buildkit = [
        (!build.secrets.is_empty(), "build-secrets"),
        (build.platform.is_some(), "platform"),
    ];
    match (build.builder, missing) {
        (Builder::Classic, _) => Ok(None),
        (_, None) => Ok(endpoint),
        (Builder::BuildKit, Some(why)) => Err(Failure::new(
            "BuildKit not available",
            format!("'builder' is buildkit, but {why}. Use builder: auto to fall back to the classic builder."),
        )),
        (Builder::Auto, Some(why)) => {
            if let Some((_, input)) = needs_buildkit.iter().find(|(set, _)| *set) {
                return Err(Failure::new(
                    "BuildKit not available",
                    format!("'{input}' needs BuildKit, but {why}."),
                ));
            }
            workflow.annotate(
                Level::Notice,
                "Classic builder",
                &format!(
                    "Building with the classic builder: {why}. It cannot do RUN --mount, build \
                     secrets or a cache imported from ECR."
                ),
            );
            Ok(None)
        }
    }
}

/// Says which time the image is stamped with, and how to give it one when none was found.
fn stamp_notice(ctx: &RunContext, workflow: &Workflow) {
    use crate::github::commit_time::TimeSource;
    let source = match ctx.commit_time.source {
        TimeSource::SourceDateEpoch => "SOURCE_DATE_EPOCH",
        TimeSource::Checkout => "the commit in the checkout",
        TimeSource::PushEvent => "the push event's head commit",
        TimeSource::Fixed => "none found",
    };
    workflow.info(&format!(
        "Image time: {} ({source}).",
        ctx.commit_time.time.to_rfc3339()
    ));
    if let Some(notice) = ctx.commit_time.fixed_notice() {
        workflow.annotate(Level::Notice, "No commit time", notice);
    }
}

fn context_failure(e: ContextError) -> Failure {
    Failure::new("Cannot read the build context", e.to_string())
}

/// How many files the context held. A context that could not be read explains a failed build
/// better than the daemon does; but packing that stopped because the build stopped (a broken
/// pipe) is the build's failure, reported by the caller.
async fn packed_files(
    packed: tokio::task::JoinHandle<Result<usize, ContextError>>,
    built: bool,
) -> Result<usize, Failure> {
    let packed = packed
        .await
        .map_err(|e| Failure::new("Cannot read the build context", e.to_string()))?;
    match packed {
        Ok(files) => Ok(files),
        Err(e) if !e.is_broken_pipe() || built => Err(context_failure(e)),
        Err(_) => Ok(0),
    }
}
