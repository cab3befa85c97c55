//! A build by the daemon's BuildKit: labels and `SOURCE_DATE_EPOCH` passed to it (no extra
//! `LABEL` build), secrets and the registry's credentials served by the build's session, the
//! cache imported from ECR and embedded inline in the image.

use std::collections::HashMap;

use super::cache::{self, BuildHome, CacheReport};
use super::Built;
use crate::engine::buildkit::session::Provided;
use crate::engine::buildkit::transport::Endpoint;
use crate::engine::buildkit::{self as engine, BuildKitRequest};
use crate::engine::docker::{DaemonInfo, DockerError};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::context;
use crate::image::labels::build_labels;
use crate::inputs::{BuildPlan, CachePlan, ImagePlan};
use crate::oci::Platform;

#[allow(clippy::too_many_arguments)]
pub async fn build(
    endpoint: &Endpoint,
    daemon: &DaemonInfo,
    build: &BuildPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    home: &BuildHome,
    recorded: &[(String, String)],
    workflow: &Workflow,
) -> anyhow::Result<Built> {
    let first_tag = &image.tags[0];
    // The commit's time keeps a re-run of the same commit the same image.
    let created = ctx.commit_time.time;
    let labels: Vec<(String, String)> =
        build_labels(&ctx.event, first_tag, created, &image.labels, recorded)
            .into_iter()
            .collect();
    let mut build_args = build.build_args.clone();
    if !build_args.iter().any(|(k, _)| k == "SOURCE_DATE_EPOCH") {
        // BuildKit 0.11 and newer stamp this time instead of the clock.
        build_args.push(("SOURCE_DATE_EPOCH".into(), created.timestamp().to_string()));
    }
    // The cache of earlier runs is in ECR, read with the credentials the run signed in with.
    let home = matches!(build.cache, CachePlan::Auto).then_some(home);
    let cache = cache::sources(&build.cache, ctx, home, workflow).await;
    let (cache_from, inline) = cache
        .as_ref()
        .map(|c| (c.imported.clone(), c.inline))
        .unwrap_or_default();
    let mut credentials = HashMap::new();
    if let Some(BuildHome { ecr, .. }) = home {
        credentials.insert(
            ecr.host.clone(),
            (ecr.username.clone(), ecr.password.clone()),
        );
    }
    let provided = Provided {
        secrets: build
            .secrets
            .iter()
            .map(|s| (s.id.clone(), s.value.clone()))
            .collect(),
        credentials,
    };

    let streamed =
        context::stream(&build.context, &build.dockerfile).map_err(super::context_failure)?;
    let tag = format!("{local_name}:{first_tag}");
    let platform = build.platform.as_ref().map(Platform::to_string);
    let _group = workflow.group(&format!("Build {tag} with BuildKit"));
    let started = std::time::Instant::now();
    let out = workflow.verbatim();
    let built = engine::build(
        endpoint,
        BuildKitRequest {
            api_version: &daemon.api_version,
            context: Box::pin(streamed.body),
            dockerfile: &streamed.dockerfile,
            tag: &tag,
            build_args: &build_args,
            labels: &labels,
            target: build.target.as_deref(),
            platform: platform.as_deref(),
            cache_from: &cache_from,
            inline_cache: inline,
            provided,
            silence_limit: engine::SILENCE_LIMIT,
        },
        |line| out.line(line),
    )
    .await;
    drop(out);
    let files = super::packed_files(streamed.packed, built.is_ok()).await?;
    let built = built.map_err(|e| failure(e, &build.dockerfile))?;
    workflow.info(&format!(
        "Built {tag} ({}) from {files} files in {:.1} s.",
        built.id,
        started.elapsed().as_secs_f64()
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

/// Refuses a platform the daemon can neither run natively nor through a registered emulator:
/// every `RUN` would fail with "exec format error" after the earlier steps had run.
pub(super) fn can_run(platform: &Platform, daemon: &DaemonInfo) -> Result<(), Failure> {
    let native = [daemon.arch.as_str()];
    let also = match daemon.arch.as_str() {
        "amd64" | "x86_64" => &["amd64", "386"][..],
        "arm64" | "aarch64" => &["arm64", "arm"][..],
        _ => &native[..],
    };
    if platform.os != daemon.os {
        return Err(Failure::new(
            "Platform not supported",
            format!(
                "'platform' is {platform}, but the Docker daemon runs {} containers.",
                daemon.os
            ),
        ));
    }
    if also.contains(&platform.architecture.as_str()) {
        return Ok(());
    }
    let qemu = match platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        other => other,
    };
    let emulator = std::path::Path::new("/proc/sys/fs/binfmt_misc").join(format!("qemu-{qemu}"));
    if emulator.exists() {
        return Ok(());
    }
    Err(Failure::new(
        "Platform not supported",
        format!(
            "'platform' is {platform}, but the Docker daemon runs {}/{} and no emulator for {} is \
             registered ({} is missing). Add `- uses: docker/setup-qemu-action@v3` before this \
             step, or build on a runner of that architecture.",
            daemon.os,
            daemon.arch,
            platform.architecture,
            emulator.display()
        ),
    ))
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

    #[test]
    fn platforms_the_daemon_cannot_run_are_refused() {
        let daemon = DaemonInfo {
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            containerd_store: false,
        };
        let p = |s: &str| Platform::parse(s).unwrap();
        assert!(can_run(&p("linux/amd64"), &daemon).is_ok());
        assert!(can_run(&p("linux/386"), &daemon).is_ok());
        assert!(can_run(&p("windows/amd64"), &daemon).is_err());
        if !std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-s390x").exists() {
            let e = can_run(&p("linux/s390x"), &daemon).unwrap_err();
            assert!(e.to_string().contains("setup-qemu-action"), "{e}");
        }
    }
}
