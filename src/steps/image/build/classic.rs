//! The classic builder: the context as a tar stream, then the OCI labels and the user's labels
//! in one generated `FROM <id>` + `LABEL` build (its `labels` option commits one container each).

use crate::engine::docker::{BuildRequest, ContextBody, DockerEngine};
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::context;
use crate::image::labels::{build_labels, label_dockerfile};
use crate::inputs::{BuildPlan, ImagePlan};

/// Builds the image, named `local_name:first tag` in the daemon; returns its id.
pub async fn build(
    engine: &DockerEngine,
    build: &BuildPlan,
    image: &ImagePlan,
    local_name: &str,
    ctx: &RunContext,
    recorded: &[(String, String)],
    workflow: &Workflow,
) -> anyhow::Result<String> {
    let first_tag = &image.tags[0];
    // The commit's time keeps a re-run of the same commit the same image; the clock is the
    // fallback when the event carries none.
    let created = ctx.commit_time.time;
    let labels = build_labels(&ctx.event, first_tag, created, &image.labels, recorded);
    let streamed =
        context::stream(&build.context, &build.dockerfile).map_err(super::context_failure)?;
    let _group = workflow.group(&format!("Build {local_name}:{first_tag}"));
    let tag = format!("{local_name}:{first_tag}");
    let started = std::time::Instant::now();
    let out = workflow.verbatim();
    let built = engine
        .build(
            BuildRequest {
                context: ContextBody::Stream(Box::pin(streamed.body)),
                dockerfile: &streamed.dockerfile,
                tag: None,
                build_args: &build.build_args,
                target: build.target.as_deref(),
            },
            |line| out.line(line),
        )
        .await;
    let files = super::packed_files(streamed.packed, built.is_ok()).await?;
    let built = built.map_err(Failure::from)?;
    // The labels, all in one step on top of what the user's Dockerfile built.
    let label_file = label_dockerfile(&built, &labels);
    let id = engine
        .build(
            BuildRequest {
                context: ContextBody::Bytes(context::single_file("Dockerfile", &label_file)),
                dockerfile: "Dockerfile",
                tag: Some(&tag),
                build_args: &[],
                target: None,
            },
            |line| out.line(line),
        )
        .await
        .map_err(Failure::from)?;
    drop(out);
    workflow.info(&format!(
        "Built {tag} ({id}) from {files} files in {:.1} s.",
        started.elapsed().as_secs_f64()
    ));
    Ok(id)
}
