//! Reading AWS SDK errors: is it worth retrying, and what did the service say.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{is_unreachable, with_causes};

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
    pub retryable: bool,
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
                let retryable =
                    status >= 500 || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
                let message = ctx
                    .err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                Self {
                    code,
                    message,
                    retryable,
                }
            }
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => Self {
                code: None,
                message: with_causes(err),
                retryable: !is_unreachable(err),
            },
            _ => Self {
                code: None,
                message: with_causes(err),
                retryable: false,
            },
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn is_access_denied(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.starts_with("AccessDenied") || c == "UnauthorizedOperation")
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
