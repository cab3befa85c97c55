//! The pipeline, top to bottom, in the order of the action's log: inputs (no network) ->
//! image -> credentials -> repository -> registry login -> push -> outputs and summary.
//! Each step writes its outputs as soon as they are known.

use std::time::Instant;

use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::github::oidc::TokenService;
use crate::http::HttpClients;
use crate::inputs::{Plan, RawInputs};
use crate::outputs::{self, Output};
use crate::steps::image::Made;
use crate::steps::{credentials, image, login, outputs as report, push, repository};

/// Runs with `vars`: the environment, with any command-line flags as `INPUT_*` over it.
pub async fn run(workflow: &Workflow, vars: Vec<(String, String)>) -> anyhow::Result<()> {
    let started = Instant::now();
    // 1. Everything that can be checked without the network; secrets masked on arrival.
    let ctx = RunContext::from_env();
    let plan = read_plan(vars, &ctx, workflow)?;
    let token_service = credentials::token_service(&plan.identity, workflow)?;
    let http = HttpClients::new()?;

    // 2. The image, before any AWS call.
    let made = image::make(&plan.image, &ctx, &http.registry, workflow).await?;
    if let Some(base) = &made.base {
        outputs::set(workflow, Output::BaseDigest, base.digest.as_str())?;
    }

    // 3 to 7; whatever their outcome, the image's temporary name in the daemon goes afterwards.
    let outcome = publish(
        &plan,
        &made,
        token_service.as_ref(),
        &http,
        workflow,
        started,
    )
    .await;
    made.release(workflow).await;
    outcome
}

async fn publish(
    plan: &Plan,
    made: &Made,
    token_service: Option<&TokenService>,
    http: &HttpClients,
    workflow: &Workflow,
    started: Instant,
) -> anyhow::Result<()> {
    // 3. Credentials; then who we are and the registry's credentials, asked at once.
    let session = credentials::obtain(
        &plan.identity,
        &plan.region,
        token_service,
        &http.api,
        workflow,
    )
    .await?;
    let ecr = aws_sdk_ecr::Client::new(&session.config);
    let (account, login) = tokio::join!(
        credentials::account(&session, workflow),
        login::credentials(&ecr, workflow)
    );
    let account = account?;
    outputs::set(workflow, Output::AwsAccountId, &account)?;

    // 4. The repository.
    let repo = repository::prepare(&ecr, plan, &account, workflow, &session).await?;
    let state = repo.state.as_ref();

    // 5. The registry, its credentials checked.
    let to = login::check(login, plan, state, &http.registry, &session, workflow).await?;

    // 6. Push, doing only what is missing (with push: false, what a push would do).
    let daemon = made.daemon.as_ref();
    let tags = &plan.image.tags;
    let report = push::run(
        &made.artifact,
        daemon,
        &to,
        tags,
        plan.image.push,
        state,
        workflow,
    )
    .await?;

    // 7. Outputs, exported credentials when asked, the summary.
    report::write(
        &report::Published {
            session: &session,
            region: &plan.region,
            account: &account,
            repository_name: &plan.repository.name,
            repository: state,
            lifecycle: repo.lifecycle,
            registry_host: &to.host,
            repository_uri: &to.repository_uri(),
            tags,
            artifact: &made.artifact,
            base: made.base.as_ref().map(|b| b.name.as_str()),
            report: report.as_ref(),
            export_credentials: plan.export_credentials,
            started,
        },
        workflow,
    )
}

/// The inputs, validated; the base image's password is masked first, even before a bad input
/// is reported.
fn read_plan(
    vars: Vec<(String, String)>,
    ctx: &RunContext,
    workflow: &Workflow,
) -> anyhow::Result<Plan> {
    let raw = RawInputs::from_vars(vars)
        .map_err(|e| Failure::new("Cannot read inputs", format!("INPUT_* variables: {e}")))?;
    if let Some(password) = raw
        .base_image_password
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        workflow.mask(password);
        workflow.mask(password.trim());
    }
    Ok(Plan::from_raw(&raw, ctx, workflow)?)
}
