//! STS: exchange an OIDC token for temporary credentials, chain into another role, and find out
//! which account the credentials belong to. Each call here is a single attempt; retrying (with a
//! fresh token) is the caller's decision.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_sts::Client;

use super::errors::AwsError;

/// Credentials returned by STS. `Debug` never shows the secret parts.
#[derive(Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: Option<SystemTime>,
    /// The ARN of the assumed-role session (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`).
    pub assumed_role_arn: Option<String>,
}

impl std::fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("assumed_role_arn", &self.assumed_role_arn)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl TemporaryCredentials {
    pub fn to_sdk(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.session_token.clone()),
            self.expiration,
            "ship-to-ecr",
        )
    }

    /// The secret values, for masking.
    pub fn secrets(&self) -> [&str; 3] {
        [
            &self.access_key_id,
            &self.secret_access_key,
            &self.session_token,
        ]
    }
}

fn convert(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    assumed_role_arn: Option<&str>,
) -> Result<TemporaryCredentials, AwsError> {
    let c = credentials.ok_or_else(|| AwsError {
        code: None,
        message: "STS answered without credentials".into(),
        retryable: false,
        no_credentials: false,
    })?;
    Ok(TemporaryCredentials {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: c.session_token().to_string(),
        expiration: SystemTime::try_from(*c.expiration()).ok(),
        assumed_role_arn: assumed_role_arn.map(str::to_string),
    })
}

/// What a role assumption asks for.
#[derive(Debug, Clone, Copy)]
pub struct AssumeRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration_seconds: i32,
}

/// `AssumeRoleWithWebIdentity`, unsigned (the client must be built without credentials).
pub async fn assume_role_with_web_identity(
    client: &Client,
    request: AssumeRequest<'_>,
    token: &str,
) -> Result<TemporaryCredentials, AwsError> {
    let out = client
        .assume_role_with_web_identity()
        .role_arn(request.role_arn)
        .role_session_name(request.session_name)
        .duration_seconds(request.duration_seconds)
        .web_identity_token(token)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(&e))?;
    convert(out.credentials(), out.assumed_role_user().map(|u| u.arn()))
}

/// `AssumeRole` with the client's credentials (role chaining).
pub async fn assume_role(
    client: &Client,
    request: AssumeRequest<'_>,
) -> Result<TemporaryCredentials, AwsError> {
    let out = client
        .assume_role()
        .role_arn(request.role_arn)
        .role_session_name(request.session_name)
        .duration_seconds(request.duration_seconds)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(&e))?;
    convert(out.credentials(), out.assumed_role_user().map(|u| u.arn()))
}

/// The caller's account and ARN (`GetCallerIdentity`).
pub async fn caller_identity(client: &Client) -> Result<(String, String), AwsError> {
    let out = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(&e))?;
    Ok((
        out.account().unwrap_or_default().to_string(),
        out.arn().unwrap_or_default().to_string(),
    ))
}
