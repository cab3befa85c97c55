//! The job's OIDC token service, found (and its request token masked) before any network call,
//! so a job without `id-token: write` is told what to add before anything else happens.

use crate::error::Failure;
use crate::github::commands::Workflow;
use crate::github::oidc::{TokenService, TokenServiceError};
use crate::inputs::Identity;

/// The token service, when a role is to be assumed with the job's identity.
pub fn token_service(
    identity: &Identity,
    workflow: &Workflow,
) -> Result<Option<TokenService>, Failure> {
    if identity.web_identity.is_none() {
        return Ok(None);
    }
    let service = TokenService::from_env().map_err(no_token_service)?;
    workflow.mask(service.request_token());
    Ok(Some(service))
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
