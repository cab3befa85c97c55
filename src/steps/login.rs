//! The registry login: ECR's registry credentials (asked alongside the caller identity, masked
//! on arrival), the registry's address, and the credentials checked against the registry.
//! Nothing is written to a Docker config: the credentials travel with each request.

use reqwest::Url;

use crate::aws::ecr::{self, EcrFailure, RegistryCredentials, RepositoryState};
use crate::aws::explain::ecr_failure;
use crate::aws::session::AwsSession;
use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::inputs::Plan;
use crate::outputs::{self, Output};
use crate::registry::client::{RegistryClient, RegistryError};
use crate::registry::destination::Destination;
use crate::registry::renewal::Renewals;

/// ECR's registry credentials; the password and the encoded token are masked before anything
/// could print them.
pub async fn credentials(
    client: &aws_sdk_ecr::Client,
    workflow: &Workflow,
) -> Result<RegistryCredentials, EcrFailure> {
    let login = ecr::registry_credentials(client).await?;
    workflow.mask(&login.encoded);
    workflow.mask(&login.password);
    Ok(login)
}

/// The registry's address and a client with ECR's credentials, checked with one request;
/// `renewals` (when given) is asked once for fresh credentials if the registry refuses them
/// later in the run.
/// Fresh registry credentials for a registry that refused the run's: ECR asked again with
/// `ecr`, or, when the session's own credentials have run out (`session_over`, or ECR says
/// so), from a new session (`sign_in_again`). Masked on arrival like the first.
pub async fn renewed<F, Fut>(
    ecr: &aws_sdk_ecr::Client,
    session_over: bool,
    sign_in_again: F,
    workflow: &Workflow,
) -> Result<(String, String), String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<RegistryCredentials>>,
{
    workflow.info("The registry refused the ECR credentials: asking ECR for fresh ones.");
    let asked = if session_over {
        None
    } else {
        Some(credentials(ecr, workflow).await)
    };
    let login = match asked {
        Some(Ok(login)) => login,
        Some(Err(e)) if !e.error.is_expired_credentials() => return Err(e.to_string()),
        _ => {
            workflow.info(
                "The AWS session has run out: assuming the role again with a fresh OIDC token.",
            );
            sign_in_again().await.map_err(|e| format!("{e:#}"))?
        }
    };
    Ok((login.username, login.password))
}

pub async fn check(
    login: Result<RegistryCredentials, EcrFailure>,
    plan: &Plan,
    repository: Option<&RepositoryState>,
    http: &reqwest::Client,
    session: &AwsSession,
    renewals: Option<Renewals>,
    workflow: &Workflow,
) -> anyhow::Result<Destination> {
    let login = login.map_err(|e| ecr_failure(e, &session.principal, &plan.repository.name))?;
    let (host, base) = address(plan, repository, &login.proxy_endpoint)?;
    let repository_uri = format!("{host}/{}", plan.repository.name);
    outputs::set(workflow, Output::Registry, &host)?;
    outputs::set(workflow, Output::RepositoryUri, &repository_uri)?;
    let mut client = RegistryClient::new(http.clone(), base, &login.username, &login.password)
        .through(crate::retry::Outage::new(plan.retry_budget));
    if let Some(renewals) = renewals {
        client = client.renewed_by(renewals);
    }
    client
        .check_login(workflow.retry_notice())
        .await
        .map_err(|e| login_failure(e, plan))?;
    workflow.info(&format!("Logged in to {host} as {}.", login.username));
    Ok(Destination {
        client,
        host,
        repository: plan.repository.name.clone(),
        username: login.username,
        password: login.password,
    })
}

/// The registry's host[:port] for image names, and its base URL for requests.
fn address(
    plan: &Plan,
    repo: Option<&RepositoryState>,
    proxy_endpoint: &str,
) -> anyhow::Result<(String, Url)> {
    if let Some(url) = &plan.registry_url {
        let host = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        return Ok((host, url.clone()));
    }
    let host = match repo {
        Some(repo) => repo.uri.split('/').next().unwrap_or_default().to_string(),
        // No repository yet: ECR's endpoint for the caller, moved to the owning account.
        None => {
            let host = proxy_endpoint
                .trim_start_matches("https://")
                .trim_end_matches('/');
            match (&plan.repository.registry_id, host.split_once('.')) {
                (Some(owner), Some((_, rest))) => format!("{owner}.{rest}"),
                _ => host.to_string(),
            }
        }
    };
    let base = Url::parse(&format!("https://{host}")).map_err(|_| {
        Failure::new(
            "Unexpected registry address",
            format!("ECR reported the registry '{host}', which is not a host name"),
        )
    })?;
    Ok((host, base))
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
