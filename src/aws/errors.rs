//! Reading AWS SDK errors: is it worth retrying, and what did the service say.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{with_causes, NetworkFault};
use crate::retry::{is_transient_status, Transient};

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "IDPCommunicationError",
];

/// An AWS error reduced to what the caller decides on.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// The service's error code (`AccessDenied`, `RepositoryNotFoundException`), when it sent one.
    pub code: Option<String>,
    pub message: String,
    /// Throttling, a 5xx, or an interrupted exchange: another try may pass ([`Transient`]).
    pub retryable: bool,
    /// No credentials could be loaded (the default chain found none): the request never left.
    pub no_credentials: bool,
}

impl AwsError {
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let code = ctx.err().code().map(str::to_string);
                let status = ctx.raw().status().as_u16();
                let retryable = is_transient_status(status)
                    || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
                let message = ctx
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                Self {
                    code,
                    message,
                    retryable,
                    no_credentials: false,
                }
            }
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => Self {
                code: None,
                message: with_causes(err),
                retryable: NetworkFault::of(err).is_transient(),
                no_credentials: credentials_missing(err),
            },
            _ => Self {
                code: None,
                message: with_causes(err),
                retryable: false,
                no_credentials: credentials_missing(err),
            },
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The session's own credentials ran out (STS's and the services' codes for it).
    pub fn is_expired_credentials(&self) -> bool {
        self.code.as_deref().is_some_and(|c| {
            matches!(
                c,
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired"
            )
        })
    }

    pub fn is_access_denied(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.starts_with("AccessDenied") || c == "UnauthorizedOperation")
    }
}

/// An AWS call that failed, with the IAM action it needed (`ecr:PutImage`), so that a denial
/// can name the permission to add.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub action: &'static str,
    pub error: AwsError,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.action, self.error)
    }
}

/// `map_err` for an SDK call that needs `action`.
pub fn failed<E>(action: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| CallFailure {
        action,
        error: AwsError::from_sdk(&e),
    }
}

/// Whether a credentials provider's error is in the chain: the SDK could not sign the request.
fn credentials_missing(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        current = e.source();
    }
    false
}

impl Transient for AwsError {
    fn is_transient(&self) -> bool {
        self.retryable
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answered(status: u16, code: &str) -> AwsError {
        let error = ErrorMetadata::builder().code(code).message("m").build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        AwsError::from_sdk(&SdkError::service_error(error, raw))
    }

    fn not_answered(io: std::io::ErrorKind) -> AwsError {
        let failure = ConnectorError::io(Box::new(std::io::Error::from(io)));
        AwsError::from_sdk(&SdkError::<ErrorMetadata, HttpResponse>::dispatch_failure(
            failure,
        ))
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        assert!(answered(400, "ThrottlingException").is_transient());
        assert!(answered(400, "IDPCommunicationError").is_transient());
        assert!(answered(429, "TooManyRequests").is_transient());
        assert!(answered(500, "InternalFailure").is_transient());
        assert!(answered(503, "ServiceUnavailable").is_transient());
    }

    #[test]
    fn other_client_errors_are_final() {
        assert!(!answered(403, "AccessDenied").is_transient());
        assert!(!answered(400, "InvalidIdentityToken").is_transient());
        assert!(!answered(400, "ExpiredTokenException").is_transient());
        assert!(!answered(404, "RepositoryNotFoundException").is_transient());
    }

    #[test]
    fn a_reset_or_timeout_is_transient_but_a_wrong_endpoint_is_not() {
        assert!(not_answered(std::io::ErrorKind::ConnectionReset).is_transient());
        assert!(not_answered(std::io::ErrorKind::TimedOut).is_transient());
        assert!(!not_answered(std::io::ErrorKind::ConnectionRefused).is_transient());
        let timeout = SdkError::<ErrorMetadata, HttpResponse>::timeout_error("took too long");
        assert!(AwsError::from_sdk(&timeout).is_transient());
    }

    /// The SDK's own HTTP client, sent to `endpoint` once (its retries off).
    async fn sdk_call_to(endpoint: &str) -> AwsError {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build();
        let err = aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await
            .expect_err("nothing answers there");
        AwsError::from_sdk(&err)
    }

    #[tokio::test]
    async fn the_sdk_refused_or_unknown_host_is_not_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        drop(listener);
        let refused = sdk_call_to(&closed).await;
        assert!(!refused.is_transient(), "{refused}");
        let unknown = sdk_call_to("http://sts.example.invalid").await;
        assert!(!unknown.is_transient(), "{unknown}");
    }
}
