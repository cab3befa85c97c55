//! From the job's identity to AWS credentials: OIDC token -> `AssumeRoleWithWebIdentity` ->
//! optional chained `AssumeRole`, or the default credential chain when no role is given.
//! Every secret is masked the moment it arrives, before anything else is printed.

use std::cell::RefCell;

use crate::aws::config::{sdk_config, CredentialSource};
use crate::aws::errors::AwsError;
use crate::aws::session::AwsSession;
use crate::aws::sts::{self, AssumeRequest, TemporaryCredentials};
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::github::oidc::{Claims, TokenRequestError, TokenService};
use crate::inputs::{Identity, RoleArn};
use crate::retry::{classify, retry, Backoff, Transient};

mod account;
mod token;
mod trust_diagnosis;

pub use account::account;
pub use token::token_service;
use trust_diagnosis::explain_refusal;

/// AWS refuses a chained session longer than an hour.
const CHAINED_MAX_SECONDS: i32 = 3600;

/// Why web identity did not give credentials.
enum WebIdentityError {
    Token(TokenRequestError),
    Sts(AwsError),
}

impl Transient for WebIdentityError {
    fn is_transient(&self) -> bool {
        match self {
            WebIdentityError::Token(e) => e.is_transient(),
            // An expired token is replaced by a fresh one on the next try.
            WebIdentityError::Sts(e) => {
                e.is_transient() || e.is("ExpiredTokenException") || e.is("ExpiredToken")
            }
        }
    }
}

pub async fn obtain(
    identity: &Identity,
    region: &str,
    token_service: Option<&TokenService>,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<AwsSession> {
    let _group = workflow.group("Get AWS credentials");
    let mut session = match (&identity.web_identity, token_service) {
        (Some(web), Some(service)) => {
            let credentials = web_identity(
                identity,
                &web.role,
                &web.audience,
                region,
                service,
                http,
                workflow,
            )
            .await?;
            workflow.info(&format!(
                "Assumed {} with the job's OIDC token (session {}).",
                web.role.arn, identity.session_name
            ));
            AwsSession {
                config: sdk_config(region, CredentialSource::Static(credentials.to_sdk())).await,
                credentials: Some(credentials),
                principal: web.role.arn.clone(),
            }
        }
        _ => {
            workflow.info("No role-to-assume: using the default AWS credential chain.");
            AwsSession {
                config: sdk_config(region, CredentialSource::DefaultChain).await,
                credentials: None,
                principal: "the default AWS credential chain".into(),
            }
        }
    };

    if let Some(chain) = &identity.chain_role {
        let duration = identity.duration_seconds.min(CHAINED_MAX_SECONDS);
        if duration < identity.duration_seconds {
            workflow.info(&format!(
                "AWS limits chained role sessions to one hour: {} is assumed for {duration} s.",
                chain.arn
            ));
        }
        let client = aws_sdk_sts::Client::new(&session.config);
        let request = AssumeRequest {
            role_arn: &chain.arn,
            session_name: &identity.session_name,
            duration_seconds: duration,
        };
        let credentials = sts::assume_role(&client, request)
            .await
            .map_err(|e| chain_failure(&e, chain, &session.principal))?;
        mask_credentials(workflow, &credentials);
        workflow.info(&format!(
            "Assumed {} from {}.",
            chain.arn, session.principal
        ));
        session = AwsSession {
            config: sdk_config(region, CredentialSource::Static(credentials.to_sdk())).await,
            credentials: Some(credentials),
            principal: chain.arn.clone(),
        };
    }
    Ok(session)
}

async fn web_identity(
    identity: &Identity,
    role: &RoleArn,
    audience: &str,
    region: &str,
    service: &TokenService,
    http: &reqwest::Client,
    workflow: &Workflow,
) -> anyhow::Result<TemporaryCredentials> {
    let client = aws_sdk_sts::Client::new(&sdk_config(region, CredentialSource::None).await);
    let request = AssumeRequest {
        role_arn: &role.arn,
        session_name: &identity.session_name,
        duration_seconds: identity.duration_seconds,
    };
    // The token of the last attempt, to explain a refusal.
    let last_token = RefCell::new(None::<String>);
    let outcome = retry(
        Backoff::STANDARD,
        || async {
            let token = service
                .fetch(http, audience)
                .await
                .map_err(|e| classify(WebIdentityError::Token(e)))?;
            workflow.mask(&token);
            last_token.replace(Some(token.clone()));
            sts::assume_role_with_web_identity(&client, request, &token)
                .await
                .map_err(|e| classify(WebIdentityError::Sts(e)))
        },
        |e, wait| {
            let what = match e {
                WebIdentityError::Token(e) => e.to_string(),
                WebIdentityError::Sts(e) => format!("STS: {e}"),
            };
            workflow.annotate(
                Level::Warning,
                "Retrying",
                &format!("{what}; trying again with a fresh token in {wait:.1?}"),
            );
        },
    )
    .await;
    match outcome {
        Ok(credentials) => {
            mask_credentials(workflow, &credentials);
            Ok(credentials)
        }
        Err(WebIdentityError::Token(e)) => Err(Failure::new(
            "Cannot get the OIDC token",
            format!(
                "{e}. The job's OIDC token comes from GitHub's token service; if this \
                 persists, re-run the job."
            ),
        )
        .into()),
        Err(WebIdentityError::Sts(e)) if is_refusal(&e) => {
            let claims = last_token
                .borrow()
                .as_deref()
                .and_then(Claims::decode_unverified);
            Err(explain_refusal(&e, role, audience, claims.as_ref()).into())
        }
        Err(WebIdentityError::Sts(e)) => Err(Failure::new(
            "AssumeRoleWithWebIdentity failed",
            format!("STS could not give credentials for {}: {e}", role.arn),
        )
        .into()),
    }
}

fn is_refusal(e: &AwsError) -> bool {
    e.is_access_denied()
        || e.code.as_deref().is_some_and(|c| {
            c.starts_with("InvalidIdentityToken") || c.starts_with("IDPRejectedClaim")
        })
}

fn chain_failure(e: &AwsError, chain: &RoleArn, from: &str) -> Failure {
    let mut message = format!("Could not assume {} from {from}: {e}.", chain.arn);
    if e.is_access_denied() {
        message.push_str(&format!(
            "\nFor role chaining, two policies must agree: the trust policy of {} must allow \
             sts:AssumeRole (and sts:TagSession if session tags are used) for {from}, and the \
             permissions of {from} must allow sts:AssumeRole on {}.",
            chain.arn, chain.arn
        ));
    }
    Failure::new("Chained role assumption failed", message)
}

pub fn mask_credentials(workflow: &Workflow, credentials: &TemporaryCredentials) {
    for secret in credentials.secrets() {
        workflow.mask(secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NetworkFault;

    fn sts(code: &str, retryable: bool) -> WebIdentityError {
        WebIdentityError::Sts(AwsError {
            code: Some(code.into()),
            message: "m".into(),
            retryable,
            no_credentials: false,
        })
    }

    #[test]
    fn an_expired_token_is_retried_with_a_fresh_one() {
        assert!(sts("ExpiredTokenException", false).is_transient());
        assert!(sts("ExpiredToken", false).is_transient());
        assert!(sts("Throttling", true).is_transient());
    }

    #[test]
    fn a_refusal_or_an_unreachable_token_service_is_final() {
        assert!(!sts("AccessDenied", false).is_transient());
        assert!(!sts("InvalidIdentityToken", false).is_transient());
        let unreachable = TokenRequestError::Unreachable {
            reason: "r".into(),
            fault: NetworkFault::Unreachable,
        };
        assert!(!WebIdentityError::Token(unreachable).is_transient());
        let unavailable = TokenRequestError::Status(reqwest::StatusCode::SERVICE_UNAVAILABLE);
        assert!(WebIdentityError::Token(unavailable).is_transient());
    }
}
