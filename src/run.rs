//! The pipeline, top to bottom: inputs -> daemon -> credentials -> ECR repository -> registry
//! login -> image (build or local) -> push -> outputs and summary. Each step writes its outputs
//! as soon as they are known.

use std::time::{Duration, Instant};

use crate::aws::ecr;
use crate::aws::errors::AwsError;
use crate::aws::sts;
use crate::build;
use crate::credentials::{self, AwsSession};
use crate::engine::docker::{DockerEngine, LocalImage};
use crate::error::{Failure, InputErrors};
use crate::github::commands::{Level, Workflow};
use crate::github::context::RunContext;
use crate::github::oidc::{TokenService, TokenServiceError};
use crate::inputs::{Engine, ImageSource, Plan, RawInputs};
use crate::mirror;
use crate::patch;
use crate::push::{self, PushReport};
use crate::registry::client::{RegistryClient, RegistryError};
use crate::registry::prepared::PreparedImage;
use crate::report::{self, ImageSummary, Summary};
use crate::repository;

/// Runs with `vars`: the environment, with any command-line flags as `INPUT_*` over it.
pub async fn run(workflow: &Workflow, vars: Vec<(String, String)>) -> anyhow::Result<()> {
    let started = Instant::now();

    // 1. Everything that can be checked without the network.
    let ctx = RunContext::from_env();
    let raw = RawInputs::from_vars(vars)
        .map_err(|e| Failure::new("Cannot read inputs", format!("INPUT_* variables: {e}")))?;
    // Masked before anything else, even before a bad input is reported.
    if let Some(password) = raw
        .base_image_password
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        workflow.mask(password);
        workflow.mask(password.trim());
    }
    let plan = Plan::from_raw(&raw, &ctx)?;
    let mut base_name: Option<String> = None;
    let token_service = match &plan.identity.web_identity {
        Some(_) => Some(TokenService::from_env().map_err(no_token_service)?),
        None => None,
    };
    if let Some(service) = &token_service {
        workflow.mask(service.request_token());
    }
    let http = http_client()?;
    let registry_http = registry_http_client()?;

    // 2. The image, before any AWS call: a failed build leaves nothing behind in ECR, and a
    //    long build does not eat into the role session's lifetime. The daemon is reached
    //    only when the engine needs it: the registry engine runs without one.
    let tags = &plan.image.tags;
    // A name of this run's own until the registry's address is known.
    let local_name = format!("ship-to-ecr-build/{:016x}", rand::random::<u64>());
    let engine_choice = plan.image.engine;
    let needs_daemon = match &plan.image.source {
        ImageSource::Build(_) | ImageSource::Local(_) => true,
        ImageSource::Patch(_) => engine_choice == Engine::Docker,
        ImageSource::Remote(_) | ImageSource::LocalOrRemote(..) => false,
    };
    let engine = if needs_daemon {
        Some(DockerEngine::connect().await.map_err(Failure::from)?)
    } else if matches!(plan.image.source, ImageSource::LocalOrRemote(..)) {
        // Asked only whether it has the image; no daemon means a registry image.
        DockerEngine::connect().await.ok()
    } else {
        None
    };
    let daemon = || engine.as_ref().expect("connected above");
    let mut build_name = None;
    let mut daemon_image: Option<LocalImage> = None;
    let mut prepared: Option<PreparedImage> = None;
    match &plan.image.source {
        ImageSource::Local(name) => daemon_image = Some(inspect(daemon(), name).await?),
        ImageSource::LocalOrRemote(name, reference) => {
            let local = match &engine {
                Some(engine) => engine.inspect(name).await.map_err(Failure::from)?,
                None => None,
            };
            match local {
                Some(image) => {
                    workflow.info(&format!("Pushing {name} from the Docker daemon."));
                    daemon_image = Some(image);
                }
                None => {
                    workflow.info(&format!(
                        "The Docker daemon has no image {name}: copying it from its registry."
                    ));
                    prepared = Some(
                        mirror::prepare(reference, &plan.image, &registry_http, workflow).await?,
                    );
                }
            }
        }
        ImageSource::Remote(reference) => {
            prepared =
                Some(mirror::prepare(reference, &plan.image, &registry_http, workflow).await?)
        }
        ImageSource::Build(b) => {
            let id = build::build(daemon(), b, &plan.image, &local_name, &ctx, workflow).await?;
            build_name = Some(format!("{local_name}:{}", tags[0]));
            daemon_image = Some(inspect(daemon(), &id).await?);
        }
        ImageSource::Patch(p) => {
            let patched = if engine_choice == Engine::Docker {
                patch::with_daemon(
                    daemon(),
                    p,
                    &plan.image,
                    &local_name,
                    &ctx,
                    &registry_http,
                    workflow,
                )
                .await?
            } else {
                patch::in_registry(p, &plan.image, &ctx, &registry_http, workflow).await?
            };
            workflow.set_output("base-digest", &patched.base_digest)?;
            if let Some(id) = &patched.daemon_id {
                build_name = Some(format!("{local_name}:{}", tags[0]));
                daemon_image = Some(inspect(daemon(), id).await?);
            }
            base_name = Some(patched.base_name.clone());
            prepared = Some(patched.prepared);
        }
    }
    // What the tags must end up naming: for an image written blob by blob, its manifest
    // (whose digest is known before anything is written); else the daemon's image.
    let image = match &prepared {
        Some(p) => LocalImage {
            id: p.manifest.digest.clone(),
            repo_digests: Vec::new(),
            size: p.size as i64,
            layers: p.layers,
        },
        None => daemon_image
            .clone()
            .expect("a daemon image when nothing is prepared"),
    };

    // Steps 3 to 8; whatever their outcome, the build's temporary name goes afterwards, so a
    // failed run leaves no name of ours in the daemon.
    let outcome: anyhow::Result<()> = async {
        // 3. Credentials.
        let session = credentials::obtain(
            &plan.identity,
            &plan.region,
            token_service.as_ref(),
            &http,
            workflow,
        )
        .await?;
        // Who we are, and the registry's credentials: independent, so asked at once (one
        // round trip less). Nothing prints the token before it is masked below.
        let ecr_client = aws_sdk_ecr::Client::new(&session.config);
        let sts_client = aws_sdk_sts::Client::new(&session.config);
        let (identity, login) = tokio::join!(
            sts::caller_identity(&sts_client),
            ecr::registry_credentials(&ecr_client)
        );
        if let Ok(login) = &login {
            workflow.mask(&login.encoded);
            workflow.mask(&login.password);
        }
        let (account, caller_arn) = identity.map_err(|e| caller_identity_failure(&e, &session))?;
        workflow.info(&format!("Account {account}, acting as {caller_arn}."));
        workflow.set_output("aws-account-id", &account)?;

        // 4. The repository, and the registry it lives in.
        let repo = repository::prepare(&ecr_client, &plan, &account, workflow, &session).await?;
        let login = login.map_err(|e| repository::ecr_failure(e, &session, &plan.repository))?;
        let (registry_host, registry_base) =
            repository::registry_address(&plan, repo.state.as_ref(), &login.proxy_endpoint)?;
        let repository_uri = format!("{registry_host}/{}", plan.repository.name);
        workflow.set_output("registry", &registry_host)?;
        workflow.set_output("repository-uri", &repository_uri)?;

        // 5. Registry credentials, checked against the registry.
        let registry = RegistryClient::new(
            registry_http.clone(),
            registry_base,
            &login.username,
            &login.password,
        );
        registry
            .check_login(workflow.retry_notice())
            .await
            .map_err(|e| login_failure(e, &plan))?;
        workflow.info(&format!(
            "Logged in to {registry_host} as {}.",
            login.username
        ));

        // 6. The image takes its registry name, as `docker build -t` would have named it.
        let image_name = format!("{repository_uri}:{}", tags[0]);
        if let (Some(engine), Some(local)) = (&engine, &daemon_image) {
            engine
                .tag(&local.id, &repository_uri, &tags[0])
                .await
                .map_err(Failure::from)?;
        }

        // 7. Push, doing only what is missing.
        let is_immutable = |tag: &str| repo.state.as_ref().is_some_and(|r| r.is_tag_immutable(tag));
        let request = push::PushRequest {
            image: &image,
            repository: &plan.repository.name,
            registry_host: &registry_host,
            tags,
            is_immutable: &is_immutable,
            username: &login.username,
            password: &login.password,
            direct: prepared.as_ref(),
        };
        let report = if plan.image.push {
            let _group = workflow.group(&format!("Push {image_name}"));
            let push_started = Instant::now();
            let report = push::push(engine.as_ref(), &registry, &request, workflow).await?;
            workflow.info(&if report.pushed() {
                format!(
                    "Pushed {} as {} ({} layers uploaded, {} already present) in {:.1} s.",
                    report.digest,
                    report.written.join(", "),
                    report.layers_uploaded,
                    report.layers_present,
                    push_started.elapsed().as_secs_f64()
                )
            } else {
                format!(
                    "Nothing to push: every tag already points to {}.",
                    report.digest
                )
            });
            Some(report)
        } else {
            report_dry_run(&registry, &request, repo.state.is_some(), workflow).await;
            None
        };

        // 8. Outputs of the image once it is where they say; credentials for later steps, only
        //    when asked; the summary.
        workflow.set_output("image", &image_name)?;
        workflow.set_output("tags", &tags.join("\n"))?;
        if let Some(report) = &report {
            workflow.set_output("digest", &report.digest)?;
            workflow.set_output(
                "image-by-digest",
                &format!("{repository_uri}@{}", report.digest),
            )?;
        }
        workflow.set_output(
            "pushed",
            if report.as_ref().is_some_and(PushReport::pushed) {
                "true"
            } else {
                "false"
            },
        )?;
        if plan.export_credentials {
            export_credentials(workflow, &session, &plan.region)?;
        }
        workflow.summary(&report::markdown(&Summary {
            principal: &session.principal,
            account: &account,
            repository_name: &plan.repository.name,
            repository: repo.state.as_ref(),
            lifecycle: repo.lifecycle,
            registry: &registry_host,
            image: Some(ImageSummary {
                name: &image_name,
                tags,
                size: image.size,
                layers: image.layers,
                base: base_name.clone(),
                push: report.as_ref(),
            }),
            elapsed: started.elapsed(),
        }))?;
        Ok(())
    }
    .await;
    if let (Some(temporary), Some(engine)) = (&build_name, &engine) {
        if let Err(e) = engine.untag(temporary).await {
            workflow.annotate(
                Level::Warning,
                "Temporary image name left",
                &format!("Could not remove {temporary} from the daemon: {e}"),
            );
        }
    }
    outcome
}

/// With `push: false`, what a push would do, from reads only. A conflict is a warning here:
/// this run writes nothing, but the push after it would fail.
async fn report_dry_run(
    registry: &RegistryClient,
    request: &push::PushRequest<'_>,
    repository_exists: bool,
    workflow: &Workflow,
) {
    let image = &request.image.id;
    if !repository_exists {
        workflow.info(&format!(
            "push is false: a push would create the repository and write {image} as {}.",
            request.tags.join(", ")
        ));
        return;
    }
    match push::look_up(registry, request, workflow).await {
        Ok(lookup) if lookup.missing.is_empty() => workflow.info(&format!(
            "push is false: every tag already points to {image}; a push would send nothing."
        )),
        Ok(lookup) => workflow.info(&format!(
            "push is false: a push would write {image} as {}{}.",
            lookup.missing.join(", "),
            if lookup.unchanged.is_empty() {
                String::new()
            } else {
                format!(" (unchanged: {})", lookup.unchanged.join(", "))
            }
        )),
        Err(e) => {
            let (title, message) = match e.downcast_ref::<Failure>() {
                Some(f) => (f.title.clone(), f.message.clone()),
                None => ("Registry lookup failed".to_string(), e.to_string()),
            };
            workflow.annotate(
                Level::Warning,
                &format!("A push would fail: {title}"),
                &message,
            );
        }
    }
}

async fn inspect(engine: &DockerEngine, name: &str) -> anyhow::Result<LocalImage> {
    Ok(engine
        .inspect(name)
        .await
        .map_err(Failure::from)?
        .ok_or_else(|| image_not_found(name))?)
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

fn login_failure(e: RegistryError, plan: &Plan) -> Failure {
    Failure::new(
        "Registry login failed",
        format!(
            "{e}. {}",
            if plan.registry_url.is_some() {
                "Check the registry-url input: it must point at the ECR registry (or a proxy of it) that these credentials belong to."
            } else {
                "The registry is the one ECR reported for this repository."
            }
        ),
    )
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("ship-to-ecr/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(extra_roots()?)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// For registries: a layer may take minutes to stream, so no bound on a whole request, only on
/// silence.
fn registry_http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .user_agent(concat!("ship-to-ecr/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(extra_roots()?)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()?)
}

/// CAs to trust besides the system's: the PEM file `SSL_CERT_FILE` names (a registry with a
/// private CA), as OpenSSL-based tools read it.
fn extra_roots() -> anyhow::Result<Vec<reqwest::Certificate>> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let unusable = |why: String| {
        Failure::new(
            "Cannot read SSL_CERT_FILE",
            format!(
                "SSL_CERT_FILE is {}, which {why}. Point it at a PEM file of the CA \
                 certificates to trust, or unset it.",
                std::path::Path::new(&path).display()
            ),
        )
    };
    let pem = std::fs::read(&path).map_err(|e| unusable(format!("cannot be read ({e})")))?;
    Ok(reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| unusable(format!("holds no PEM certificates ({e})")))?)
}

fn no_token_service(e: TokenServiceError) -> Failure {
    match e {
        TokenServiceError::Missing(which) => Failure::new(
            "No OIDC token for this job",
            format!(
            "role-to-assume is set, but the job cannot request an OIDC token: \
             {which} not set. \
             Give the job (or the workflow) this permission:\n\n\
             permissions:\n  id-token: write   # to request the OIDC token\n  contents: read    # to check out the code\n\n\
             Pull requests from forks never get an OIDC token, whatever the permissions: skip \
             this step for them, e.g. with \
             `if: github.event.pull_request.head.repo.full_name == github.repository`."
            ),
        ),
        TokenServiceError::BadUrl(_) => Failure::new("No OIDC token for this job", e.to_string()),
    }
}

fn caller_identity_failure(e: &AwsError, session: &AwsSession) -> Failure {
    // Only a failure to load credentials, not a network error with valid keys.
    if session.credentials.is_none()
        && e.code.is_none()
        && e.message.to_lowercase().contains("credentials")
    {
        return Failure::new(
            "No AWS credentials",
            format!(
                "role-to-assume is empty, so the default AWS credential chain was used, and it \
                 gave no working credentials ({e}). Set role-to-assume to the ARN of a role that \
                 trusts GitHub's OIDC provider (no stored keys needed), or configure credentials \
                 in an earlier step."
            ),
        );
    }
    Failure::new(
        "GetCallerIdentity failed",
        format!(
            "Could not identify the AWS account of {}: {e}",
            session.principal
        ),
    )
}

fn export_credentials(
    workflow: &Workflow,
    session: &AwsSession,
    region: &str,
) -> anyhow::Result<()> {
    let Some(c) = &session.credentials else {
        workflow.annotate(
            Level::Notice,
            "Nothing to export",
            "export-credentials is true, but no role was assumed: later steps already see the \
             default credential chain.",
        );
        return Ok(());
    };
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", c.session_token.as_str()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
    ] {
        workflow.export_env(name, value).map_err(|e| {
            Failure::new(
                "Cannot export credentials",
                format!("export-credentials is true, but {e}"),
            )
        })?;
    }
    workflow.info("Exported the temporary credentials to later steps of this job (masked).");
    Ok(())
}

/// How `main` shows an error: one annotation per bad input, else one for the failure.
pub fn report_error(workflow: &Workflow, error: &anyhow::Error) {
    if let Some(InputErrors(errors)) = error.downcast_ref::<InputErrors>() {
        for e in errors {
            workflow.annotate(Level::Error, &e.title(), &e.to_string());
        }
    } else if let Some(failure) = error.downcast_ref::<Failure>() {
        workflow.annotate(Level::Error, &failure.title, &failure.message);
    } else {
        workflow.annotate(
            Level::Error,
            "ship-to-ecr failed",
            &crate::error::with_causes(error.as_ref()),
        );
    }
}
