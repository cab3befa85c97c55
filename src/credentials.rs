//! From the job's identity to AWS credentials: OIDC token -> `AssumeRoleWithWebIdentity` ->
//! optional chained `AssumeRole`, or the default credential chain when no role is given.
//! Every secret is masked the moment it arrives, before anything else is printed.

use std::cell::RefCell;

use aws_config::SdkConfig;

use crate::aws::config::{sdk_config, CredentialSource};
use crate::aws::errors::AwsError;
use crate::aws::sts::{self, AssumeRequest, TemporaryCredentials};
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::github::oidc::{Claims, TokenService};
use crate::inputs::{Identity, RoleArn};
use crate::retry::{retry, Attempt, Backoff};
use crate::trust_diagnosis::explain_refusal;

/// AWS refuses a chained session longer than an hour.
const CHAINED_MAX_SECONDS: i32 = 3600;

/// Credentials ready for the SDK, and who they belong to.
pub struct AwsSession {
    pub config: SdkConfig,
    /// `None` when the default chain is used as is.
    pub credentials: Option<TemporaryCredentials>,
    /// The role assumed last, or a description of the default chain.
    pub principal: String,
}

/// Why web identity did not give credentials.
enum WebIdentityError {
    Token(String),
    Sts(AwsError),
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
            let token = service.fetch(http, audience).await.map_err(|e| match e {
                Attempt::Retry(m) => Attempt::Retry(WebIdentityError::Token(m)),
                Attempt::Fail(m) => Attempt::Fail(WebIdentityError::Token(m)),
            })?;
            workflow.mask(&token);
            last_token.replace(Some(token.clone()));
            sts::assume_role_with_web_identity(&client, request, &token)
                .await
                .map_err(|e| {
                    // An expired token is replaced by a fresh one on the next try.
                    if e.retryable || e.is("ExpiredTokenException") || e.is("ExpiredToken") {
                        Attempt::Retry(WebIdentityError::Sts(e))
                    } else {
                        Attempt::Fail(WebIdentityError::Sts(e))
                    }
                })
        },
        |e, wait| {
            let what = match e {
                WebIdentityError::Token(m) => m.clone(),
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
        Err(WebIdentityError::Token(message)) => Err(Failure::new(
            "Cannot get the OIDC token",
            format!(
                "{message}. The job's OIDC token comes from GitHub's token service; if this \
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
