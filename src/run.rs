//! The pipeline, top to bottom, in the order of the action's log: inputs (no network) ->
//! repository labels from GitHub -> image -> credentials -> repository -> registry login ->
//! push -> deployment record -> outputs and summary -> deploy to ECS -> pull-request comment
//! -> the deployment record's outcome.
//! Each step writes its outputs as soon as they are known. A build signs in during the image
//! step, read-only (an image built from the same inputs, the cache); the rest of the run reuses
//! that sign-in.

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use futures_util::FutureExt;

use tokio::sync::OnceCell;

use crate::artifact::{Artifact, PushReport};
use crate::aws::ecr::{EcrFailure, RegistryCredentials};
use crate::aws::session::{ends_within, AwsSession};
use crate::error::Failure;
use crate::github::api::GitHubApi;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::github::oidc::TokenService;
use crate::http::HttpClients;
use crate::inputs::{ImageSource, Plan, RawInputs, Reuse};
use crate::outputs::{self, Output};
use crate::registry::destination::Destination;
use crate::registry::renewal::{self, Renewals};
use crate::steps::github::{comment, deployment, labels};
use crate::steps::image::build::BuildHome;
use crate::steps::image::Made;
use crate::steps::{
    credentials, deploy, github, image, login, outputs as report, push, repository,
};

/// Runs with `vars`: the environment, with any command-line flags as `INPUT_*` over it.
pub async fn run(workflow: &Workflow, vars: Vec<(String, String)>) -> anyhow::Result<()> {
    let started = Instant::now();
    // 1. Everything that can be checked without the network; secrets masked on arrival.
    let ctx = RunContext::from_env();
    let mut plan = read_plan(vars, &ctx, workflow)?;
    let token_service = credentials::token_service(&plan.identity, workflow)?;
    let http = HttpClients::new()?;

    // GitHub's API (off without a token); a built or patched image gets the repository's
    // labels, under the user's.
    let api = github::connect(&plan.github, &ctx, workflow);
    let comment_on = comment::target(plan.github.pr_comment, &ctx.event, workflow);
    if matches!(
        plan.image.source,
        ImageSource::Build(_) | ImageSource::Patch(_)
    ) {
        let found = labels::read(&ctx.event, api.as_ref(), workflow).await;
        plan.image.labels = labels::under_user_labels(found, &plan.image.labels);
    }
    let github = GitHub {
        api: api.as_ref(),
        comment_on,
        ctx: &ctx,
        open_record: Mutex::new(None),
    };

    // 2. The image, before any AWS call but a build's reads (see above).
    let signed_in = OnceCell::new();
    let sign_in_early = async || {
        let signed = signed_in
            .get_or_try_init(|| sign_in(&plan, token_service.as_ref(), &http, workflow))
            .await?;
        build_home(signed, &plan, &http, workflow).await
    };
    let made = image::make(&plan.image, &ctx, &http.registry, &sign_in_early, workflow).await?;
    if let Some(base) = &made.base {
        outputs::set(workflow, Output::BaseDigest, base.digest.as_str())?;
    }

    // 3. Sign in, push, report and deploy; whatever their outcome, the image's temporary name
    // in the daemon goes afterwards.
    let outcome = async {
        let early = signed_in.into_inner();
        let mut signed =
            signed_for_push(early, &plan, token_service.as_ref(), &http, workflow).await?;
        // A registry that refuses the credentials mid-push gets fresh ones once, from here:
        // renewing may mean signing in again, which the push's client cannot do.
        let (renewals, renewer) = renewal::channel();
        signed.renewals = Some(renewals);
        let (ecr, expiration) = (signed.ecr.clone(), signed.session.expiration());
        let renew = || {
            login::renewed(
                &ecr,
                ends_within(expiration, RENEW_MARGIN),
                || async {
                    let again = sign_in(&plan, token_service.as_ref(), &http, workflow).await?;
                    again.login.map_err(|e| anyhow::anyhow!("{e}"))
                },
                workflow,
            )
        };
        let published = publish(&plan, &made, signed, &http, &github, workflow, started);
        let published = AssertUnwindSafe(published).catch_unwind();
        match tokio::join!(published, renewer.serve(renew)).0 {
            Ok(outcome) => outcome,
            // A panic (a bug) still marks the deployment record failed before it goes on up
            // to `main`, so that GitHub never shows it in progress for ever.
            Err(panic) => {
                github.stopped_on_a_bug(workflow).await;
                std::panic::resume_unwind(panic)
            }
        }
    }
    .await;
    made.release(workflow).await;
    outcome
}

/// What the steps after the push need of GitHub.
struct GitHub<'a> {
    api: Option<&'a GitHubApi>,
    /// The pull request to comment on.
    comment_on: Option<u64>,
    ctx: &'a RunContext,
    /// The deployment record while its outcome is not reported yet.
    open_record: Mutex<Option<deployment::Record>>,
}

/// How much of the session must be left for the steps after the image.
const RENEW_MARGIN: std::time::Duration = std::time::Duration::from_secs(300);

/// Who we are to AWS, and ECR's registry credentials.
impl GitHub<'_> {
    /// Marks the open deployment record failed, so that GitHub never shows it in progress for
    /// ever after a panic.
    async fn stopped_on_a_bug(&self, workflow: &Workflow) {
        let open = self
            .open_record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let (Some(api), Some(record)) = (self.api, open) {
            let stopped = "The run stopped on an internal error";
            deployment::report(api, &record, deployment::State::Failure, stopped, workflow).await;
        }
    }
}

/// This repository in ECR as a build sees it, read-only: the registry signed in, whether its
/// tags are immutable, and (only when the user trusts every pusher) the images pushed last.
async fn build_home(
    signed: &SignedIn,
    plan: &Plan,
    http: &HttpClients,
    workflow: &Workflow,
) -> anyhow::Result<BuildHome> {
    let login = signed.login.clone().map_err(|e| {
        crate::aws::explain::ecr_failure(e, &signed.session.principal, &plan.repository.name)
    })?;
    let ecr = login::check(
        Ok(login),
        plan,
        None,
        &http.registry,
        &signed.session,
        None,
        workflow,
    )
    .await?;
    let view = repository::build_view(&signed.ecr, plan, &signed.session).await?;
    let recent = match &plan.image.source {
        ImageSource::Build(b) if b.reuse == Reuse::Repository => {
            repository::recent_images(&signed.ecr, plan, workflow).await
        }
        _ => Vec::new(),
    };
    Ok(BuildHome {
        ecr,
        immutable: view.tags_immutable,
        exists: view.exists,
        cache_tag_immutable: view.cache_tag_immutable,
        recent,
    })
}

struct SignedIn {
    session: AwsSession,
    ecr: aws_sdk_ecr::Client,
    account: String,
    login: Result<RegistryCredentials, EcrFailure>,
    /// Asked for fresh registry credentials when the registry refuses these mid-push.
    renewals: Option<Renewals>,
}

/// The sign-in the push uses: a build's own, unless the build took most of the session (then
/// a fresh one, rather than fail half-way through the push), else a first one.
async fn signed_for_push(
    early: Option<SignedIn>,
    plan: &Plan,
    token_service: Option<&TokenService>,
    http: &HttpClients,
    workflow: &Workflow,
) -> anyhow::Result<SignedIn> {
    match early {
        Some(signed) if !signed.session.ends_within(RENEW_MARGIN) => Ok(signed),
        Some(_) => {
            workflow.info(
                "The AWS session ends in less than 5 minutes (the build took most of it): \
                 signing in again.",
            );
            sign_in(plan, token_service, http, workflow).await
        }
        None => sign_in(plan, token_service, http, workflow).await,
    }
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
        renewals: None,
    })
}

async fn publish(
    plan: &Plan,
    made: &Made,
    signed: SignedIn,
    http: &HttpClients,
    github: &GitHub<'_>,
    workflow: &Workflow,
    started: Instant,
) -> anyhow::Result<()> {
    let SignedIn {
        session,
        ecr,
        account,
        login,
        renewals,
    } = signed;

    // 4. The repository.
    let repo = repository::prepare(&ecr, plan, &account, workflow, &session).await?;
    let state = repo.state.as_ref();

    // 5. The registry, its credentials checked.
    let to = login::check(
        login,
        plan,
        state,
        &http.registry,
        &session,
        renewals,
        workflow,
    )
    .await?;

    // 6. Push, doing only what is missing (with push: false, what a push would do).
    let daemon = made.daemon.as_ref();
    let tags = &plan.image.tags;
    let report = match &made.artifact {
        // An image of this repository named by digest, with no tags asked for: nothing to write.
        Artifact::Stored(manifest) if tags.is_empty() => Some(PushReport {
            digest: manifest.digest.clone(),
            written: Vec::new(),
            unchanged: Vec::new(),
            layers_uploaded: 0,
            layers_present: made.artifact.layers(),
            base_blobs: None,
            superseded: Vec::new(),
        }),
        _ => {
            let asked = push::Asked {
                tags,
                push: plan.image.push,
                commit: stamped_commit(plan, github.ctx),
            };
            push::run(&made.artifact, daemon, &to, &asked, state, workflow).await?
        }
    };

    leave_in_daemon(plan, made, &to, workflow).await;

    // 7. The deployment record, once the image is in ECR.
    let ctx = github.ctx;
    let log_url = run_log_url(ctx);
    let pushed = report.as_ref().map(|r| &r.digest);
    // A newer commit's image holds the moving tags: this older one is not deployed anywhere.
    let superseded = report.as_ref().is_some_and(|r| !r.superseded.is_empty());
    let record = record_deployment(github, plan, &account, &to, report.as_ref(), workflow).await;
    *github
        .open_record
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = record.clone();
    if let (Some(api), Some(record), Some(ecs)) = (github.api, &record, &plan.deploy) {
        let description = format!("Deploying to ECS {}/{}", ecs.cluster, ecs.service);
        deployment::report(
            api,
            record,
            deployment::State::InProgress,
            &description,
            workflow,
        )
        .await;
    }

    // 8. Outputs, exported credentials when asked, the summary.
    let written = report::write(
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
    );

    // 9. The deploy to ECS, once the image's outputs are written.
    let deployed = match (&written, &plan.deploy, pushed) {
        (Ok(()), Some(ecs), Some(_)) if superseded => {
            workflow.info(&format!(
                "The deploy to ECS {}/{} is skipped: a newer commit's image is out already.",
                ecs.cluster, ecs.service
            ));
            None
        }
        (Ok(()), Some(ecs), Some(digest)) => {
            let image = deploy::Image {
                by_digest: format!("{}@{digest}", to.repository_uri()),
                repositories: repository_names(plan, &to, &account),
            };
            let client = aws_sdk_ecs::Client::new(&session.config);
            Some(deploy::run(&client, ecs, &image, &session.principal, workflow).await)
        }
        _ => None,
    };

    // 10. The pull-request comment, then the deployment's outcome.
    if let (Some(api), Some(pull_request), Some(digest), Ok(())) =
        (github.api, github.comment_on, pushed, &written)
    {
        let pushed = comment::Pushed {
            pull_request,
            digest,
            tags,
            log_url: log_url.clone(),
            commit: ctx.event.sha.as_deref(),
        };
        comment::post(api, &to, &pushed, workflow).await;
    }
    if let (Some(api), Some(record)) = (github.api, &record) {
        let (state, description) = match (&written, &deployed) {
            (Err(_), _) => (deployment::State::Failure, "A later step of the run failed"),
            (_, Some(Err(_))) => (deployment::State::Failure, "The deploy to ECS failed"),
            (_, Some(Ok(_))) => (deployment::State::Success, "Running on ECS"),
            (_, None) => (deployment::State::Success, "The image is in ECR"),
        };
        deployment::report(api, record, state, description, workflow).await;
    }
    github
        .open_record
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    written?;
    deployed.transpose().map(|_| ())
}

/// What the build leaves in the daemon once pushed: a reused image loaded when asked (also with
/// push: false, since a later step of the job may run it), a built one's names removed when
/// `load` is false.
async fn leave_in_daemon(plan: &Plan, made: &Made, to: &Destination, workflow: &Workflow) {
    let tags = &plan.image.tags;
    if let ImageSource::Build(build) = &plan.image.source {
        match &made.artifact {
            Artifact::Stored(manifest) if build.load => {
                made.load_reused(to, &manifest.digest, tags, workflow).await;
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
}

/// The GitHub deployment record of the pushed digest, when one is asked for; none for an
/// image a newer commit's image has superseded, which is deployed nowhere.
async fn record_deployment(
    github: &GitHub<'_>,
    plan: &Plan,
    account: &str,
    to: &Destination,
    report: Option<&PushReport>,
    workflow: &Workflow,
) -> Option<deployment::Record> {
    let ctx = github.ctx;
    let log_url = run_log_url(ctx);
    let pushed = report.map(|r| &r.digest);
    let superseded = report.is_some_and(|r| !r.superseded.is_empty());
    match (github.api, &plan.github.deployment_environment, pushed) {
        (Some(_), Some(_), Some(_)) if superseded => None,
        (Some(api), Some(environment), Some(digest)) => match ctx.event.sha.as_deref() {
            Some(commit) => {
                let registry_id = plan.repository.registry_id.as_deref().unwrap_or(account);
                let image = deployment::DeployedImage {
                    environment,
                    commit,
                    image_by_digest: &format!("{}@{digest}", to.repository_uri()),
                    digest: digest.as_str(),
                    console_url: deployment::console_url(
                        &plan.region,
                        registry_id,
                        &plan.repository.name,
                        digest.as_str(),
                    ),
                    log_url: log_url.clone(),
                };
                deployment::create(api, &image, workflow).await
            }
            None => {
                workflow.info("GITHUB_SHA is not set: no deployment is recorded.");
                None
            }
        },
        (Some(_), Some(_), None) => {
            workflow.info("push is false: no deployment is recorded.");
            None
        }
        _ => None,
    }
}

/// The link to this run's log, when the runner says where it is.
fn run_log_url(ctx: &RunContext) -> Option<String> {
    deployment::log_url(
        ctx.event.server_url.as_deref(),
        ctx.repository.as_deref(),
        ctx.run_id.as_deref(),
    )
}

/// The commit a built or patched image is stamped with (its revision and time), when both are
/// known: moving tags are then never taken back to an older commit. Other images (an image
/// pushed as it is, a mirror, one already in the repository) carry no time of this commit.
fn stamped_commit(plan: &Plan, ctx: &RunContext) -> Option<push::Commit> {
    match plan.image.source {
        ImageSource::Build(_) | ImageSource::Patch(_) => Some(push::Commit {
            sha: ctx.event.sha.clone()?,
            time: ctx.commit_time.known()?,
        }),
        _ => None,
    }
}

/// The names a task definition may give this repository by: the registry's address in use,
/// and ECR's own address for it.
fn repository_names(plan: &Plan, to: &Destination, account: &str) -> Vec<String> {
    let registry_id = plan.repository.registry_id.as_deref().unwrap_or(account);
    let suffix = if plan.region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let ecr = format!(
        "{registry_id}.dkr.ecr.{}.{suffix}/{}",
        plan.region, plan.repository.name
    );
    let mut names = vec![to.repository_uri()];
    if names[0] != ecr {
        names.push(ecr);
    }
    names
}

/// The inputs, validated; the base image's password and the GitHub token are masked first,
/// even before a bad input is reported.
fn read_plan(
    vars: Vec<(String, String)>,
    ctx: &RunContext,
    workflow: &Workflow,
) -> anyhow::Result<Plan> {
    let raw = RawInputs::from_vars(vars)
        .map_err(|e| Failure::new("Cannot read inputs", format!("INPUT_* variables: {e}")))?;
    for secret in [&raw.base_image_password, &raw.github_token] {
        if let Some(secret) = secret.as_deref().filter(|p| !p.trim().is_empty()) {
            workflow.mask(secret);
            workflow.mask(secret.trim());
        }
    }
    Ok(Plan::from_raw(&raw, ctx, workflow)?)
}
