//! A small OCI distribution client with Basic auth (ECR's registry login): check the login,
//! read a manifest by tag or digest, write a manifest under a tag. Each request carries the
//! credentials; nothing is stored. Retried on 429, 5xx, resets and timeouts.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use crate::error::{is_unreachable, with_causes};
use crate::retry::{self, Attempt, Backoff};

/// Every manifest type a registry may hold; a registry answers 404 for a type not asked for.
pub const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry at {url} refused the ECR credentials (HTTP {status})")]
    Refused { url: String, status: StatusCode },
    #[error("the registry at {url} answered HTTP {status} to {what}{detail}")]
    Unexpected {
        url: String,
        status: StatusCode,
        what: String,
        detail: String,
    },
    #[error("cannot reach the registry at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// A manifest's bytes as stored, with its type and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// The config blob's digest (an image manifest's; an index has none).
    pub fn config_digest(&self) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(&self.bytes).ok()?;
        value
            .pointer("/config/digest")
            .and_then(|d| d.as_str())
            .map(str::to_string)
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    username: String,
    password: String,
}

impl RegistryClient {
    pub fn new(http: reqwest::Client, base: Url, username: &str, password: &str) -> Self {
        Self {
            http,
            base,
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    fn shown(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// `GET /v2/` with the credentials.
    pub async fn check_login(
        &self,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<(), RegistryError> {
        self.send(Method::GET, "v2/", "GET /v2/", &[], None, on_retry)
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
        let answer = self
            .send(
                Method::GET,
                &path,
                &what,
                &[(ACCEPT, MANIFEST_TYPES)],
                None,
                on_retry,
            )
            .await;
        match answer {
            Ok((_, media_type, bytes)) => Ok(Some(Manifest {
                digest: sha256_digest(&bytes),
                media_type,
                bytes,
            })),
            Err(RegistryError::Unexpected { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(None)
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
        self.send(
            Method::PUT,
            &path,
            &what,
            &[(CONTENT_TYPE, manifest.media_type.as_str())],
            Some(manifest.bytes.clone()),
            on_retry,
        )
        .await
        .map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        what: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
        body: Option<Vec<u8>>,
        on_retry: impl FnMut(&RegistryError, std::time::Duration),
    ) -> Result<(StatusCode, String, Vec<u8>), RegistryError> {
        let url = self
            .base
            .join(path)
            .expect("a base URL joins a relative path");
        retry::retry(
            Backoff::STANDARD,
            || async {
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .basic_auth(&self.username, Some(&self.password));
                for (name, value) in headers {
                    request = request.header(name, *value);
                }
                if let Some(body) = &body {
                    request = request.body(body.clone());
                }
                let response = request.send().await.map_err(|e| {
                    let error = RegistryError::Unreachable {
                        url: self.shown(),
                        reason: with_causes(&e),
                    };
                    if is_unreachable(&e) {
                        Attempt::Fail(error)
                    } else {
                        Attempt::Retry(error)
                    }
                })?;
                let status = response.status();
                let media_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if status.is_success() {
                    let bytes = response.bytes().await.map_err(|e| {
                        Attempt::Retry(RegistryError::Unreachable {
                            url: self.shown(),
                            reason: with_causes(&e),
                        })
                    })?;
                    return Ok((status, media_type, bytes.to_vec()));
                }
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    return Err(Attempt::Fail(RegistryError::Refused {
                        url: self.shown(),
                        status,
                    }));
                }
                let text = response.text().await.unwrap_or_default();
                let detail = if text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", text.trim().chars().take(500).collect::<String>())
                };
                let error = RegistryError::Unexpected {
                    url: self.shown(),
                    status,
                    what: what.to_string(),
                    detail,
                };
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    Err(Attempt::Retry(error))
                } else {
                    Err(Attempt::Fail(error))
                }
            },
            on_retry,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_config_digest_of_an_image_manifest() {
        let manifest = Manifest {
            digest: String::new(),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            bytes: br#"{"schemaVersion":2,"config":{"digest":"sha256:abc"},"layers":[]}"#.to_vec(),
        };
        assert_eq!(manifest.config_digest().as_deref(), Some("sha256:abc"));
        let index = Manifest {
            bytes: br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(),
            ..manifest
        };
        assert_eq!(index.config_digest(), None);
    }

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
