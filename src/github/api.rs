//! GitHub's REST API at `GITHUB_API_URL` (GitHub Enterprise Server's `https://HOST/api/v3`
//! too), for the features that talk to GitHub: repository metadata, the pull-request comment,
//! deployment records.
//!
//! octocrab carries the requests (base URI with its path, the token, TLS, timeouts); we use
//! its raw calls because a retry must read the response's `Retry-After` and rate-limit headers,
//! which its typed calls drop, and we read only the fields we use into small types of our own,
//! so that a field an older GitHub Enterprise Server leaves out never fails a run.
//!
//! Like every client, this one never prints; retries are told to the caller.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, Method};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{with_causes, NetworkFault};
use crate::retry::{retry, Attempt, Backoff};

/// GitHub.com's API, when `GITHUB_API_URL` is not set (outside the runner).
pub const PUBLIC_API: &str = "https://api.github.com";

/// Who the workflow's `GITHUB_TOKEN` (an installation's token) writes as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// The time all of a run's API calls may take, retries included: GitHub is a courtesy to the
/// push, never a reason to keep a runner busy.
const TOTAL_BUDGET: Duration = Duration::from_secs(90);

/// One call's retries: a few tries inside half a minute, less when the run's budget is low.
const PER_CALL: Backoff = Backoff {
    max_attempts: 5,
    base: Duration::from_millis(500),
    cap: Duration::from_secs(8),
    budget: Duration::from_secs(30),
};

/// Comments read at most when looking for ours (10 pages of 100): a pull request with more is
/// rare, and a second comment is better than an unbounded walk.
const MOST_COMMENT_PAGES: usize = 10;

/// What can go wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// GitHub answered with an error status; `message` is GitHub's own words.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
        /// A rate limit (primary or secondary), as opposed to a missing permission.
        rate_limited: bool,
    },
    /// No answer: unreachable, refused certificate, or interrupted.
    #[error("{method} {path}: {detail}")]
    Network {
        method: Method,
        path: String,
        detail: String,
        fault: NetworkFault,
    },
    /// An answer that is not what the API documents.
    #[error("{path}: unexpected answer: {detail}")]
    Unexpected { path: String, detail: String },
    /// `GITHUB_API_URL` or the token cannot make a client.
    #[error("{0}")]
    Setup(String),
}

impl ApiError {
    /// The status GitHub answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            ApiError::Status {
                rate_limited: true,
                ..
            }
        )
    }
}

/// A repository as its metadata names it (the API's and the event payload's `repository`
/// object have the same shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RepositoryInfo {
    pub name: Option<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub html_url: Option<String>,
    pub license: Option<License>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct License {
    /// `MIT`, `Apache-2.0`; `NOASSERTION` when GitHub cannot tell.
    pub spdx_id: Option<String>,
}

impl RepositoryInfo {
    /// The payload's `repository` object, when it carries the metadata: push and pull-request
    /// payloads do; a trimmed one (only `full_name`) does not, and the API is asked instead.
    pub fn from_payload(repository: &Value) -> Option<Self> {
        let object = repository.as_object()?;
        let complete = ["name", "description", "license", "homepage"]
            .iter()
            .all(|key| object.contains_key(*key));
        complete
            .then(|| serde_json::from_value(repository.clone()).ok())
            .flatten()
    }
}

/// A deployment to create: the commit, the environment, what was deployed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewDeployment {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    pub description: String,
    pub payload: Value,
    /// Never merge the default branch into the ref (the API's default for a branch).
    pub auto_merge: bool,
    /// No commit-status checks: the run that records the deployment is itself a check, and
    /// GitHub refuses (409) while any check is pending.
    pub required_contexts: Vec<String>,
    pub production_environment: bool,
}

/// One status of a deployment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeploymentStatus {
    /// `in_progress`, `success`, `failure`.
    pub state: &'static str,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
    pub description: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

/// A comment that holds a marker, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    pub id: u64,
    /// The author's login; empty when GitHub did not say (a deleted account).
    pub author: String,
}

/// A client for one repository's API.
pub struct GitHubApi {
    octocrab: Octocrab,
    /// `owner/repo`.
    repository: String,
    /// Time spent in calls so far, against [`TOTAL_BUDGET`].
    spent: Mutex<Duration>,
}

impl GitHubApi {
    /// A client for `repository` (`owner/repo`) at `base_url`, sending `token`.
    pub fn new(base_url: &str, token: &str, repository: &str) -> Result<Self, ApiError> {
        let octocrab = Octocrab::builder()
            .base_uri(base_url.trim_end_matches('/'))
            .map_err(|e| ApiError::Setup(format!("GITHUB_API_URL `{base_url}` is not a URL: {e}")))?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(20)))
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                "2022-11-28".to_string(),
            )
            .build()
            .map_err(|e| ApiError::Setup(format!("cannot make a GitHub client: {e}")))?;
        Ok(Self {
            octocrab,
            repository: repository.to_string(),
            spent: Mutex::new(Duration::ZERO),
        })
    }

    /// `GET /repos/{owner}/{repo}`.
    pub async fn repository(
        &self,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<RepositoryInfo, ApiError> {
        let path = format!("/repos/{}", self.repository);
        let body = self.call(Method::GET, &path, None, on_retry).await?;
        decode(&path, body.1)
    }

    /// The comments on `issue` whose body holds `marker`, oldest first, with their authors,
    /// reading at most [`MOST_COMMENT_PAGES`] pages. Anyone can write a marker: the caller
    /// keeps only those by [`GitHubApi::author`].
    pub async fn marked_comments(
        &self,
        issue: u64,
        marker: &str,
        mut on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<Vec<Marked>, ApiError> {
        let mut path = format!(
            "/repos/{}/issues/{issue}/comments?per_page=100",
            self.repository
        );
        let mut found = Vec::new();
        for _ in 0..MOST_COMMENT_PAGES {
            let (headers, body) = self.call(Method::GET, &path, None, &mut on_retry).await?;
            let comments: Vec<Comment> = decode(&path, body)?;
            found.extend(
                comments
                    .into_iter()
                    .filter(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
                    .map(|c| Marked {
                        id: c.id,
                        author: c.user.map(|u| u.login).unwrap_or_default(),
                    }),
            );
            match next_page(&headers) {
                Some(next) => path = next,
                None => break,
            }
        }
        Ok(found)
    }

    /// The login this token writes comments as: a person's token reads it at `GET /user`;
    /// an installation's token (the workflow's `GITHUB_TOKEN`) is refused there, and writes as
    /// [`ACTIONS_BOT`].
    pub async fn author(
        &self,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<String, ApiError> {
        match self.call(Method::GET, "/user", None, on_retry).await {
            Ok((_, body)) => Ok(decode::<Account>("/user", body)?.login),
            Err(ApiError::Status {
                status: 401 | 403 | 404,
                rate_limited: false,
                ..
            }) => Ok(ACTIONS_BOT.to_string()),
            Err(e) => Err(e),
        }
    }

    /// `POST /repos/{owner}/{repo}/issues/{issue}/comments`; the new comment's id.
    pub async fn create_comment(
        &self,
        issue: u64,
        body: &str,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<u64, ApiError> {
        let path = format!("/repos/{}/issues/{issue}/comments", self.repository);
        let request = serde_json::json!({ "body": body });
        let (_, answer) = self
            .call(Method::POST, &path, Some(request), on_retry)
            .await?;
        Ok(decode::<Created>(&path, answer)?.id)
    }

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`.
    pub async fn update_comment(
        &self,
        id: u64,
        body: &str,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<(), ApiError> {
        let path = format!("/repos/{}/issues/comments/{id}", self.repository);
        let request = serde_json::json!({ "body": body });
        self.call(Method::PATCH, &path, Some(request), on_retry)
            .await
            .map(drop)
    }

    /// `POST /repos/{owner}/{repo}/deployments`; the deployment's id.
    pub async fn create_deployment(
        &self,
        deployment: &NewDeployment,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<u64, ApiError> {
        let path = format!("/repos/{}/deployments", self.repository);
        let request = serde_json::to_value(deployment).expect("a deployment serialises");
        let (_, answer) = self
            .call(Method::POST, &path, Some(request), on_retry)
            .await?;
        Ok(decode::<Created>(&path, answer)?.id)
    }

    /// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`.
    pub async fn set_deployment_status(
        &self,
        id: u64,
        status: &DeploymentStatus,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<(), ApiError> {
        let path = format!("/repos/{}/deployments/{id}/statuses", self.repository);
        let request = serde_json::to_value(status).expect("a status serialises");
        self.call(Method::POST, &path, Some(request), on_retry)
            .await
            .map(drop)
    }

    /// One call with retries inside what is left of the run's budget; the headers and the
    /// JSON body of a success.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        on_retry: impl FnMut(&ApiError, Duration),
    ) -> Result<(HeaderMap, Value), ApiError> {
        let left = TOTAL_BUDGET.saturating_sub(*self.spent());
        let policy = Backoff {
            budget: PER_CALL.budget.min(left),
            ..PER_CALL
        };
        let started = Instant::now();
        let result = retry(
            policy,
            || self.once(method.clone(), path, body.as_ref()),
            on_retry,
        )
        .await;
        *self.spent() += started.elapsed();
        result
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Duration> {
        self.spent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Value), Attempt<ApiError>> {
        let network = |e: octocrab::Error| {
            let fault = NetworkFault::of(&e);
            let error = ApiError::Network {
                method: method.clone(),
                path: path.to_string(),
                detail: with_causes(&e),
                fault,
            };
            if fault.is_transient() {
                Attempt::Retry(error)
            } else {
                Attempt::Fail(error)
            }
        };
        let response = match method {
            Method::GET => self.octocrab._get(path).await,
            Method::POST => self.octocrab._post(path, body).await,
            Method::PATCH => self.octocrab._patch(path, body).await,
            _ => unreachable!("only the methods above are used"),
        }
        .map_err(network)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = self
            .octocrab
            .body_to_string(response)
            .await
            .map_err(network)?;
        if (200..300).contains(&status) {
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    Attempt::Fail(ApiError::Unexpected {
                        path: path.to_string(),
                        detail: e.to_string(),
                    })
                })?
            };
            return Ok((headers, value));
        }
        let wait = rate_limit_wait(status, &headers, SystemTime::now());
        let error = ApiError::Status {
            method: method.clone(),
            path: path.to_string(),
            status,
            message: github_message(&text),
            rate_limited: wait.is_some() || status == 429,
        };
        Err(match wait {
            Some(wait) => Attempt::RetryAfter(error, wait),
            None if status == 429 || (500..600).contains(&status) => Attempt::Retry(error),
            None => Attempt::Fail(error),
        })
    }
}

fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::Unexpected {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// GitHub's `message` from an error body, else the body's start.
fn github_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// How long GitHub asks us to wait before another try, for the answers that say so:
/// `Retry-After` (seconds or an HTTP date) on a 429, a 403 secondary rate limit or a 5xx; and
/// a primary rate limit (403 or 429 with `x-ratelimit-remaining: 0`) until
/// `x-ratelimit-reset` (epoch seconds). `None` for every other answer. The wait is at most
/// [`crate::retry::MOST_ASKED`], whatever the server says.
pub fn rate_limit_wait(status: u16, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let may_wait = status == 403 || status == 429 || (500..600).contains(&status);
    if !may_wait {
        return None;
    }
    if let Some(wait) = header("retry-after").and_then(|v| crate::retry::retry_after_header(v, now))
    {
        return Some(wait);
    }
    if (status == 403 || status == 429) && header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset")?.parse::<u64>().ok()?;
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let wait = Duration::from_secs(reset).saturating_sub(since_epoch);
        return Some(wait.min(crate::retry::MOST_ASKED));
    }
    None
}

/// The `rel="next"` link of a page, as a path the client accepts (absolute URLs keep their
/// host; octocrab leaves a path that already starts with the base path alone).
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
