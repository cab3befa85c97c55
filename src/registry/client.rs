//! A small OCI distribution client: ping, manifests (read, write), blobs (exists, read as a
//! stream, monolithic upload, cross-repository mount). Credentials travel with each request and
//! nothing is stored: Basic on every request for ECR; for other registries whatever their
//! challenge asks (anonymous or credential Bearer tokens, Basic). Retried on 429, 5xx, resets
//! and timeouts. Every answer read whole is bounded in size, and every request but a blob's in
//! time (`bounded`); an upload goes only to the registry's own origin.

use std::sync::Mutex;

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};

use super::bounded;
pub use super::error::RegistryError;
use super::renewal::{AfterRefusal, BasicCredentials, Renewals};
use crate::http::{read_bounded, Unread};
use crate::oci::media_type::MANIFEST_ACCEPT;
use crate::oci::{Descriptor, Digest, Manifest, MediaType};
/// The one rule for what to retry, where the registry's callers look for it.
pub use crate::retry::classify;
use crate::retry::{self, Backoff};

mod sending;

/// How requests are authenticated.
enum Auth {
    /// Basic credentials on every request (ECR's registry login), renewable once.
    Basic(BasicCredentials),
    /// Whatever the registry's challenge asks for, with these credentials if any.
    Challenged(Option<(String, String)>),
}

/// One request to send.
struct Call<'a> {
    method: Method,
    path: &'a str,
    /// What it is, for messages (`GET manifest team/app:1`).
    what: &'a str,
    headers: &'a [(HeaderName, &'a str)],
    body: Option<Vec<u8>>,
    /// The whole request's time, answer included; `None` for a blob streamed, which may take
    /// minutes and is bounded by silence instead (`http.rs`).
    time: Option<Duration>,
}

impl<'a> Call<'a> {
    /// A request that is not a blob transfer: bounded in time.
    fn small(method: Method, path: &'a str, what: &'a str) -> Self {
        Call {
            method,
            path,
            what,
            headers: &[],
            body: None,
            time: Some(bounded::SMALL_REQUEST_TIME),
        }
    }

    fn headers(self, headers: &'a [(HeaderName, &'a str)]) -> Self {
        Call { headers, ..self }
    }

    fn body(self, body: Vec<u8>) -> Self {
        Call {
            body: Some(body),
            ..self
        }
    }
}

pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    /// Whose credentials these are, for messages ("the ECR credentials").
    who: String,
    /// The `Authorization` value a challenge led to (a Bearer token, or Basic).
    answer: Mutex<Option<HeaderValue>>,
    /// The run's shared retry budget; `None`: each request has its own (`Backoff::STANDARD`).
    outage: Option<retry::Outage>,
}

impl RegistryClient {
    /// The same client, its retries bounded by the run's shared `outage` budget.
    pub fn through(mut self, outage: retry::Outage) -> Self {
        self.outage = Some(outage);
        self
    }

    /// Runs `op` with this client's retry rule: the shared outage budget, or each request's.
    pub async fn retrying<T, F, Fut>(
        &self,
        op: F,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, retry::Attempt<RegistryError>>>,
    {
        match &self.outage {
            Some(outage) => retry::retry_through(outage, Backoff::STANDARD, op, on_retry).await,
            None => retry::retry(Backoff::STANDARD, op, on_retry).await,
        }
    }

    /// A client that sends Basic credentials with every request (ECR).
    pub fn new(http: reqwest::Client, base: Url, username: &str, password: &str) -> Self {
        Self {
            http,
            base,
            auth: Auth::Basic(BasicCredentials::new(username, password, None)),
            who: "the ECR credentials".into(),
            answer: Mutex::new(None),
            outage: None,
        }
    }

    /// The same client, asking `renewals` once for fresh Basic credentials when the registry
    /// refuses the ones it has (an ECR token that ran out mid-push).
    pub fn renewed_by(mut self, renewals: Renewals) -> Self {
        if let Auth::Basic(credentials) = self.auth {
            self.auth = Auth::Basic(credentials.renewed_by(renewals));
        }
        self
    }

    /// The Basic login this client sends (ECR's), with its generation; `None` for a challenged
    /// client. For a push the daemon makes: it cannot renew credentials mid-push itself.
    pub fn basic_login(&self) -> Option<(u64, (String, String))> {
        match &self.auth {
            Auth::Basic(credentials) => Some(credentials.login()),
            _ => None,
        }
    }

    /// The registry refused the Basic login of generation `sent`: whether a fresher one can be
    /// tried (renewed once per run, as for the client's own requests).
    pub async fn login_refused(&self, sent: u64) -> Result<AfterRefusal, String> {
        match &self.auth {
            Auth::Basic(credentials) => credentials.refused(sent).await,
            _ => Ok(AfterRefusal::Final),
        }
    }

    /// A client that answers the registry's challenges, anonymously or with `credentials`.
    pub fn challenged(
        http: reqwest::Client,
        base: Url,
        credentials: Option<(String, String)>,
        who: &str,
    ) -> Self {
        Self {
            http,
            base,
            auth: Auth::Challenged(credentials),
            who: who.to_string(),
            answer: Mutex::new(None),
            outage: None,
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn shown(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// Whether the registry answers `GET /v2/` (a challenge counts as an answer).
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let url = self.base.join("v2/").expect("joins");
        let response = self
            .http
            .get(url)
            .timeout(bounded::SMALL_REQUEST_TIME)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        self.check(response, "GET /v2/").await.map(|_| ())
    }

    /// `GET /v2/` with the credentials.
    pub async fn check_login(
        &self,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<(), RegistryError> {
        let call = Call::small(Method::GET, "v2/", "GET /v2/");
        self.send(call, bounded::ERROR_BODY_LIMIT, on_retry)
            .await
            .map(|_| ())
    }

    /// The manifest at `reference` (tag or digest), or `None` when there is none.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<Option<Manifest>, RegistryError> {
        let path = format!("v2/{repository}/manifests/{reference}");
        let what = format!("GET manifest {repository}:{reference}");
        let call = Call::small(Method::GET, &path, &what).headers(&[(ACCEPT, MANIFEST_ACCEPT)]);
        let answer = self.send(call, bounded::MANIFEST_LIMIT, on_retry).await;
        match answer {
            Ok((media_type, bytes)) => {
                Ok(Some(Manifest::new(MediaType::parse(&media_type), bytes)))
            }
            Err(RegistryError::Unexpected { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Up to `limit` of the repository's tags, from the first page of the tag list (the
    /// registry's order; ECR's `ListImages`). A repository that does not exist has none.
    pub async fn list_tags(
        &self,
        repository: &str,
        limit: usize,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let path = format!("v2/{repository}/tags/list?n={limit}");
        let what = format!("GET tags of {repository}");
        let call = Call::small(Method::GET, &path, &what);
        match self.send(call, bounded::TAG_LIST_LIMIT, on_retry).await {
            Ok((_, bytes)) => {
                let list: TagList =
                    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Unexpected {
                        url: self.shown(),
                        status: StatusCode::OK,
                        what,
                        detail: format!(": not a tag list ({e})"),
                    })?;
                let mut tags = list.tags.unwrap_or_default();
                tags.truncate(limit);
                Ok(tags)
            }
            Err(RegistryError::Unexpected { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `manifest` under `tag`; the registry checks that everything it points to exists.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &Manifest,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<(), RegistryError> {
        let path = format!("v2/{repository}/manifests/{tag}");
        let what = format!("PUT manifest {repository}:{tag}");
        let content_type = [(CONTENT_TYPE, manifest.media_type.as_str())];
        let call = Call::small(Method::PUT, &path, &what)
            .headers(&content_type)
            .body(manifest.bytes.clone());
        self.send(call, bounded::ERROR_BODY_LIMIT, on_retry)
            .await
            .map(|_| ())
    }

    /// A small blob (an image config) read whole, its digest checked; at most
    /// [`bounded::CONFIG_LIMIT`] bytes.
    pub async fn get_small_blob(
        &self,
        repository: &str,
        digest: &Digest,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<Vec<u8>, RegistryError> {
        self.get_blob_of_size(repository, digest, bounded::CONFIG_LIMIT, on_retry)
            .await
    }

    /// The config `descriptor` names, read whole: at most the size the descriptor gives,
    /// which must match, and the digest checked.
    pub async fn get_config(
        &self,
        repository: &str,
        descriptor: &Descriptor,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<Vec<u8>, RegistryError> {
        let limit = descriptor.size.min(bounded::CONFIG_LIMIT);
        let bytes = self
            .get_blob_of_size(repository, &descriptor.digest, limit, on_retry)
            .await?;
        if bytes.len() as u64 != descriptor.size {
            return Err(RegistryError::Mismatch {
                digest: descriptor.digest.to_string(),
                why: format!(
                    "the registry sent {} bytes, its descriptor says {}",
                    bytes.len(),
                    descriptor.size
                ),
            });
        }
        Ok(bytes)
    }

    async fn get_blob_of_size(
        &self,
        repository: &str,
        digest: &Digest,
        limit: u64,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<Vec<u8>, RegistryError> {
        let path = format!("v2/{repository}/blobs/{digest}");
        let what = format!("GET blob {repository}@{digest}");
        let call = Call::small(Method::GET, &path, &what);
        let (_, bytes) = self.send(call, limit, on_retry).await?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(RegistryError::Unexpected {
                url: self.shown(),
                status: StatusCode::OK,
                what,
                detail: format!(": the content's digest is {actual}"),
            });
        }
        Ok(bytes)
    }

    /// Whether the repository holds the blob (one `HEAD`, no retries: the caller retries).
    pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let path = format!("v2/{repository}/blobs/{digest}");
        let what = format!("HEAD blob {repository}@{digest}");
        match self.attempt(&Call::small(Method::HEAD, &path, &what)).await {
            Ok(_) => Ok(true),
            Err(RegistryError::Unexpected { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The blob's response, to be read as a stream.
    pub async fn blob_stream(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Response, RegistryError> {
        let path = format!("v2/{repository}/blobs/{digest}");
        let what = format!("GET blob {repository}@{digest}");
        let call = Call {
            time: None,
            ..Call::small(Method::GET, &path, &what)
        };
        self.attempt(&call).await
    }

    /// Asks the registry to mount `digest` from `from` (same registry); `true` when mounted.
    pub async fn mount_blob(
        &self,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let path = format!("v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
        let what = format!("mount {digest} from {from} into {repository}");
        let call = Call::small(Method::POST, &path, &what).body(Vec::new());
        let response = self.attempt(&call).await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Uploads a blob in one request (`POST`, then `PUT ?digest=` with the whole body), as ECR
    /// requires. The body is streamed; the registry checks the digest.
    pub async fn upload_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let path = format!("v2/{repository}/blobs/uploads/");
        let what = format!("start upload of {digest} to {repository}");
        let call = Call::small(Method::POST, &path, &what).body(Vec::new());
        let started = self.attempt(&call).await?;
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| RegistryError::Unexpected {
                url: self.shown(),
                status: started.status(),
                what: what.clone(),
                detail: ": no Location header".into(),
            })?;
        // `Location` may be relative, and may carry its own query (the upload's state).
        let mut url = self
            .base
            .join(location)
            .map_err(|e| RegistryError::Unexpected {
                url: self.shown(),
                status: started.status(),
                what: what.clone(),
                detail: format!(": bad Location '{location}': {e}"),
            })?;
        // The upload carries the credentials and the image's bytes: it goes only to the
        // registry's own origin (scheme, host and port), never where a Location points.
        if url.origin() != self.base.origin() {
            return Err(RegistryError::OtherOrigin {
                url: self.shown(),
                what: format!("upload of {digest}"),
                to: url.origin().ascii_serialization(),
            });
        }
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let what = format!("upload of {digest} to {repository}");
        let request = self
            .http
            .put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        let (request, generation) = self.authorized(request);
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        // The body was streamed and is gone: the caller sends the whole upload again.
        if self.send_again_after(&response, generation).await? {
            return Err(RegistryError::Renewed { what });
        }
        self.check(response, &what).await.map(|_| ())
    }

    /// A request with retries; returns the content type and the body, at most `limit` bytes.
    async fn send(
        &self,
        call: Call<'_>,
        limit: u64,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<(String, Vec<u8>), RegistryError> {
        self.retrying(
            || async {
                let response = self.attempt(&call).await.map_err(classify)?;
                let media_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let bytes = read_bounded(response, limit).await.map_err(|e| {
                    classify(match e {
                        Unread::TooLarge { limit } => RegistryError::TooLarge {
                            url: self.shown(),
                            what: call.what.to_string(),
                            limit,
                        },
                        Unread::Failed(e) => self.failed(&e, &call),
                    })
                })?;
                Ok((media_type, bytes))
            },
            on_retry,
        )
        .await
    }
}

#[cfg(test)]
mod tests;
