//! Checks that the registry accepts our credentials (`GET /v2/` with Basic auth), so a wrong
//! `registry-url` or a refused login fails early and clearly instead of in the middle of a push.

use reqwest::{StatusCode, Url};

use crate::error::{is_unreachable, with_causes};
use crate::retry::{self, Attempt, Backoff};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the registry at {url} refused the ECR credentials (HTTP {status})")]
    Refused { url: String, status: StatusCode },
    #[error("the registry at {url} answered HTTP {status} to GET /v2/")]
    Unexpected { url: String, status: StatusCode },
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// `GET {base}/v2/` with the credentials; retried on 429, 5xx, resets and timeouts.
pub async fn check_login(
    http: &reqwest::Client,
    base: &Url,
    username: &str,
    password: &str,
    on_retry: impl FnMut(&LoginError, std::time::Duration),
) -> Result<(), LoginError> {
    let url = base.join("v2/").expect("a base URL joins a relative path");
    let shown = base.as_str().trim_end_matches('/').to_string();
    retry::retry(
        Backoff::STANDARD,
        || async {
            let response = http
                .get(url.clone())
                .basic_auth(username, Some(password))
                .send()
                .await
                .map_err(|e| {
                    let error = LoginError::Unreachable {
                        url: shown.clone(),
                        reason: with_causes(&e),
                    };
                    if is_unreachable(&e) {
                        Attempt::Fail(error)
                    } else {
                        Attempt::Retry(error)
                    }
                })?;
            let status = response.status();
            match status {
                s if s.is_success() => Ok(()),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(Attempt::Fail(LoginError::Refused {
                        url: shown.clone(),
                        status,
                    }))
                }
                s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                    Err(Attempt::Retry(LoginError::Unexpected {
                        url: shown.clone(),
                        status,
                    }))
                }
                _ => Err(Attempt::Fail(LoginError::Unexpected {
                    url: shown.clone(),
                    status,
                })),
            }
        },
        on_retry,
    )
    .await
}
