//! One place that decides how the SDK retries, times out and finds its credentials.
//!
//! Endpoints come from the standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_STS`, ...),
//! which the SDK reads itself; nothing here special-cases emulators.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// Where the SDK gets its credentials from.
pub enum CredentialSource {
    /// Unsigned calls: `AssumeRoleWithWebIdentity` needs no credentials, and must not pick up
    /// stale keys from the environment.
    None,
    /// The default chain: keys left in the environment by an earlier step, profiles, IMDS.
    DefaultChain,
    /// Temporary credentials obtained earlier in this run.
    Static(Credentials),
}

pub async fn sdk_config(region: &str, credentials: CredentialSource) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        );
    match credentials {
        // Unsigned calls are retried by the caller, which needs a fresh token for each try.
        CredentialSource::None => loader
            .no_credentials()
            .retry_config(RetryConfig::disabled()),
        // The SDK's standard mode retries throttling, 5xx and transient network errors with
        // jittered exponential backoff; the operation timeout bounds the total.
        CredentialSource::DefaultChain => loader.retry_config(standard_retries()),
        CredentialSource::Static(c) => loader
            .credentials_provider(c)
            .retry_config(standard_retries()),
    }
    .load()
    .await
}

fn standard_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}
