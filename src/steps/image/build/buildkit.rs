//! A build by the daemon's BuildKit: labels and `SOURCE_DATE_EPOCH` passed to it (no extra
//! `LABEL` build), the context (file sync, as the docker CLI sends it), secrets and the
//! registry's credentials served by the build's session, the cache imported from ECR and
//! exported to it (a registry cache on the containerd image store, inline elsewhere).

use std::collections::HashMap;

use super::cache::{self, BuildHome, CacheReport};
use super::Built;
use crate::engine::buildkit::filesync::SyncedDirs;
use crate::engine::buildkit::session::Provided;
use crate::engine::buildkit::transport::Endpoint;
use crate::engine::buildkit::{self as engine, BuildContext, BuildKitRequest};
use crate::engine::docker::{DaemonInfo, DockerError};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::context;
use crate::image::labels::build_labels;
use crate::inputs::{BuildPlan, CachePlan, ImagePlan};
use crate::oci::Platform;

/// Where the build runs and what it is named and labelled.
pub struct Target<'a> {
    pub endpoint: &'a Endpoint,
    pub daemon: &'a DaemonInfo,
    /// The image's name in the daemon, without the tag.
    pub local_name: &'a str,
    /// The labels that record the build key.
    pub recorded: &'a [(String, String)],
}

pub async fn build(
    target: Target<'_>,
    build: &BuildPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    home: &BuildHome,
    workflow: &Workflow,
) -> anyhow::Result<Built> {
    let first_tag = &image.tags[0];
    let (labels, build_args) = stamped(build, image, ctx, target.recorded);
    // The cache of earlier runs is in ECR, read with the credentials the run signed in with.
    let cache_home = matches!(build.cache, CachePlan::Auto).then_some(home);
    let registry_cache = target.daemon.containerd_store;
    let cache = cache::sources(&build.cache, ctx, cache_home, registry_cache, workflow).await;
    let (cache_from, inline) = cache.as_ref().map(CacheReport::inline).unwrap_or_default();
    if let Some(cache) = &cache {
        workflow.info(&format!("Build cache: {}.", cache.plan()));
    }
    let (synced, dockerfile_name, files) = synced_context(build).await?;
    let sent = synced.clone();
    let tag = format!("{}:{first_tag}", target.local_name);
    let platform = build.platform.as_ref().map(Platform::to_string);
    let _group = workflow.group(&format!("Build {tag} with BuildKit"));
    let started = std::time::Instant::now();
    let out = workflow.verbatim();
    let api = &target.daemon.api_version;
    let built = engine::build(
        target.endpoint,
        BuildKitRequest {
            api_version: api,
            context: BuildContext::Session(synced),
            dockerfile: &dockerfile_name,
            tag: &tag,
            build_args: &build_args,
            labels: &labels,
            target: build.target.as_deref(),
            platform: platform.as_deref(),
            cache_from: &cache_from,
            inline_cache: inline,
            registry_cache: cache.as_ref().and_then(CacheReport::registry),
            provided: provided(build, home),
            silence_limit: engine::SILENCE_LIMIT,
        },
        |line| out.line(line),
    )
    .await;
    drop(out);
    let built = match built {
        Ok(built) => built,
        Err(e) => {
            let failed = failure(e, &build.dockerfile);
            let platform = build.platform.as_ref();
            return Err(
                super::platform::explain(failed, platform, target.endpoint, api)
                    .await
                    .into(),
            );
        }
    };
    let (sent_files, sent_bytes) = sent.sent();
    workflow.info(&format!(
        "Built {tag} ({}) from {files} files in {:.1} s; the daemon read {sent_files} files \
         ({:.1} MB) through the session, and kept the rest from earlier builds of this checkout.",
        built.id,
        started.elapsed().as_secs_f64(),
        sent_bytes as f64 / 1e6
    ));
    Ok(Built {
        id: built.id,
        builder: "BuildKit",
        cache: cache.map(|c| CacheReport {
            used: built.cache,
            ..c
        }),
    })
}

type Pairs = Vec<(String, String)>;

/// The labels and build args the image is stamped with: the commit's time (not the clock)
/// keeps a re-run of the same commit the same image.
fn stamped(
    build: &BuildPlan,
    image: &ImagePlan,
    ctx: &RunContext,
    recorded: &[(String, String)],
) -> (Pairs, Pairs) {
    let created = ctx.commit_time.time;
    let labels = build_labels(&ctx.event, &image.tags[0], created, &image.labels, recorded)
        .into_iter()
        .collect();
    let mut build_args = build.build_args.clone();
    if !build_args.iter().any(|(k, _)| k == "SOURCE_DATE_EPOCH") {
        // BuildKit 0.11 and newer stamp this time instead of the clock.
        build_args.push(("SOURCE_DATE_EPOCH".into(), created.timestamp().to_string()));
    }
    (labels, build_args)
}

/// What the session serves besides the files: the build's secrets, and this registry's
/// credentials. Whatever the cache, a `FROM` or a cache line may name an image of this
/// registry: BuildKit gets its credentials for this registry's host, and no other host gets them.
fn provided(build: &BuildPlan, home: &BuildHome) -> Provided {
    let credentials = HashMap::from([(
        home.ecr.host.clone(),
        (home.ecr.username.clone(), home.ecr.password.clone()),
    )]);
    Provided {
        secrets: build
            .secrets
            .iter()
            .map(|s| (s.id.clone(), s.value.clone()))
            .collect(),
        credentials,
    }
}

/// The context and Dockerfile folders the session serves, the Dockerfile's name there and how
/// many files the context holds. Served through the session on every daemon with BuildKit: the
/// containerd image store's builder reads no tar from the request's body before Docker 27.5,
/// and BuildKit keys synced files by content, so an unchanged file is not sent again to the
/// same daemon.
async fn synced_context(build: &BuildPlan) -> Result<(SyncedDirs, String, usize), Failure> {
    let (context_dir, dockerfile) = (build.context.clone(), build.dockerfile.clone());
    let listing = tokio::task::spawn_blocking(move || context::listing(&context_dir, &dockerfile))
        .await
        .map_err(|e| Failure::new("Cannot read the build context", e.to_string()))?
        .map_err(super::context_failure)?;
    let synced = SyncedDirs::default()
        .with("context", listing.context)
        .with("dockerfile", listing.dockerfile)
        .shared_as(&listing.shared_key);
    Ok((synced, listing.dockerfile_name, listing.files))
}

/// The failure, with the Dockerfile line of the failing step when it can be found.
fn failure(e: DockerError, dockerfile: &std::path::Path) -> Failure {
    let DockerError::Build(mut f) = e else {
        return e.into_failure();
    };
    let text = std::fs::read_to_string(dockerfile).unwrap_or_default();
    if let Some(step) = &f.step {
        if let Some(line) = step_line(&text, step) {
            let name = dockerfile
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Dockerfile".into());
            f.step = Some(format!("{step} ({name}:{line})"));
        }
    }
    DockerError::Build(f).into_failure()
}

/// The line where the step's instruction starts: BuildKit names a step `[stage 2/3] RUN ...`
/// with the instruction as written, continuation lines joined.
fn step_line(dockerfile: &str, step: &str) -> Option<usize> {
    let instruction = step.split_once("] ")?.1.trim();
    let lines: Vec<&str> = dockerfile.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let start = index;
        let mut joined = lines[index].trim().to_string();
        while joined.ends_with('\\') && index + 1 < lines.len() {
            joined.pop();
            index += 1;
            joined.push_str(lines[index].trim());
        }
        index += 1;
        let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        if squeeze(&joined).eq_ignore_ascii_case(&squeeze(instruction))
            || squeeze(&joined).starts_with(&squeeze(instruction))
        {
            return Some(start + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_step_is_found_in_the_dockerfile() {
        let dockerfile = "FROM base AS build\nARG X\nRUN make \\\n    all\nRUN   echo done\n";
        assert_eq!(step_line(dockerfile, "[build 3/4] RUN make all"), Some(3));
        assert_eq!(
            step_line(dockerfile, "[stage-0 4/4] RUN echo done"),
            Some(5)
        );
        assert_eq!(step_line(dockerfile, "[2/2] COPY x /"), None);
    }
}
