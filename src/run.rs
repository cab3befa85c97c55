//! The pipeline, top to bottom, in the order of the action's log: inputs (no network) ->
//! image -> credentials -> repository -> registry login -> push -> outputs and summary.
//! Each step writes its outputs as soon as they are known. A build signs in during the image
//! step, read-only (an image built from the same inputs, the cache); the rest of the run reuses
//! that sign-in.

use std::time::Instant;

use tokio::sync::OnceCell;

use crate::artifact::Artifact;
use crate::aws::ecr::{EcrFailure, RegistryCredentials};
use crate::aws::session::AwsSession;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::github::oidc::TokenService;
use crate::http::HttpClients;
use crate::inputs::{ImageSource, Plan, RawInputs};
use crate::outputs::{self, Output};
use crate::steps::image::build::BuildHome;
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

    // 2. The image, before any AWS call but a build's reads (see above).
    let signed_in = OnceCell::new();
    let sign_in_early = async || {
        let signed = signed_in
            .get_or_try_init(|| sign_in(&plan, token_service.as_ref(), &http, workflow))
            .await?;
        let login = signed.login.clone().map_err(|e| {
            crate::aws::explain::ecr_failure(e, &signed.session.principal, &plan.repository.name)
        })?;
        let ecr = login::check(
            Ok(login),
            &plan,
            None,
            &http.registry,
            &signed.session,
            workflow,
        )
        .await?;
        let immutable = repository::tags_immutable(&signed.ecr, &plan, &signed.session).await?;
        let recent = repository::recent_images(&signed.ecr, &plan, workflow).await;
        Ok(BuildHome {
            ecr,
            immutable,
            recent,
        })
    };
    let made = image::make(&plan.image, &ctx, &http.registry, &sign_in_early, workflow).await?;
    if let Some(base) = &made.base {
        outputs::set(workflow, Output::BaseDigest, base.digest.as_str())?;
    }

    // 3 to 7; whatever their outcome, the image's temporary name in the daemon goes afterwards.
    let outcome = async {
        // A build signed in before it ran: if it took most of the session, sign in again
        // rather than fail half-way through the push.
        let signed = match signed_in.into_inner() {
            Some(signed) if !signed.session.ends_within(RENEW_MARGIN) => signed,
            Some(_) => {
                workflow.info(
                    "The AWS session ends in less than 5 minutes (the build took most of it): \
                     signing in again.",
                );
                sign_in(&plan, token_service.as_ref(), &http, workflow).await?
            }
            None => sign_in(&plan, token_service.as_ref(), &http, workflow).await?,
        };
        publish(&plan, &made, signed, &http, workflow, started).await
    }
    .await;
    made.release(workflow).await;
    outcome
}

/// How much of the session must be left for the steps after the image.
const RENEW_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

/// Who we are to AWS, and ECR's registry credentials.
struct SignedIn {
    session: AwsSession,
    ecr: aws_sdk_ecr::Client,
    account: String,
    login: Result<RegistryCredentials, EcrFailure>,
}

/// 3. Credentials; then who we are and the registry's credentials, asked at once.
async fn sign_in(
    plan: &Plan,
    token_service: Option<&TokenService>,
    http: &HttpClients,
    workflow: &Workflow,
) -> anyhow::Result<SignedIn> {
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
    Ok(SignedIn {
        session,
        ecr,
        account,
        login,
    })
}

async fn publish(
    plan: &Plan,
    made: &Made,
    signed: SignedIn,
    http: &HttpClients,
    workflow: &Workflow,
    started: Instant,
) -> anyhow::Result<()> {
    let SignedIn {
        session,
        ecr,
        account,
        login,
    } = signed;

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

    if let ImageSource::Build(build) = &plan.image.source {
        match &made.artifact {
            // Also with push: false: a later step of the job may run the image.
            Artifact::Stored(manifest) if build.load => {
                made.load_reused(&to, &manifest.digest, tags, workflow)
                    .await;
            }
            Artifact::Daemon(_) if !build.load => {
                let names: Vec<String> = tags
                    .iter()
                    .map(|t| format!("{}:{t}", to.repository_uri()))
                    .collect();
                made.unload(&names, workflow).await;
            }
            _ => {}
        }
    }

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
            builder: made.build.as_ref().map(|b| b.builder.as_str()),
            build_cache: made.build.as_ref().map(|b| b.cache.as_str()),
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
