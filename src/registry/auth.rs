//! Registry authentication challenges (`WWW-Authenticate`) and the Bearer token flow Docker Hub,
//! GHCR and most public registries use: fetch a token for a scope from the realm, anonymously or
//! with Basic credentials, then send it as `Authorization: Bearer`.

use base64::Engine;
use reqwest::{Method, Url};
use serde::Deserialize;

use super::bounded;
use crate::http::{read_bounded, Unread};

use crate::error::{with_causes, NetworkFault};
use crate::retry::{is_transient_status, Transient};

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Basic realm="..."` or `Bearer realm="...",service="...",scope="..."`.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parameters(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted[..end].to_string(),
                quoted.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        pairs.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',');
    }
    pairs
}

pub fn basic_header(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token service at {realm} refused the credentials (HTTP {status})")]
    Refused { realm: String, status: u16 },
    #[error("the token service at {realm} failed: {reason}")]
    Unreachable {
        realm: String,
        reason: String,
        fault: NetworkFault,
    },
    #[error("the token service at {realm} failed: HTTP {status}")]
    Status {
        realm: String,
        status: reqwest::StatusCode,
    },
    /// A bad realm, or an answer without a token.
    #[error("the token service at {realm} failed: {reason}")]
    Failed { realm: String, reason: String },
}

impl Transient for TokenError {
    fn is_transient(&self) -> bool {
        match self {
            TokenError::Unreachable { fault, .. } => fault.is_transient(),
            TokenError::Status { status, .. } => is_transient_status(status.as_u16()),
            TokenError::Refused { .. } | TokenError::Failed { .. } => false,
        }
    }
}

/// What a challenge asks a token for, and of which registry.
pub struct TokenRequest<'a> {
    /// The registry the token is for: where the realm must be, to be sent credentials.
    pub registry: &'a Url,
    pub realm: &'a str,
    pub service: Option<&'a str>,
    pub scope: &'a str,
}

/// Fetches a Bearer token for `scope` (the challenge's own scope wins when it names one),
/// from a realm [`realm_allowed`] accepts; the answer read to at most [`bounded::TOKEN_LIMIT`]
/// within [`bounded::SMALL_REQUEST_TIME`].
pub async fn bearer_token(
    http: &reqwest::Client,
    request: TokenRequest<'_>,
    credentials: Option<(&str, &str)>,
) -> Result<String, TokenError> {
    let realm = request.realm;
    let failed = |reason: String| TokenError::Failed {
        realm: realm.to_string(),
        reason,
    };
    let mut url = Url::parse(realm).map_err(|e| failed(format!("bad realm: {e}")))?;
    realm_allowed(request.registry, &url, credentials.is_some()).map_err(failed)?;
    url.query_pairs_mut().append_pair("scope", request.scope);
    if let Some(service) = request.service {
        url.query_pairs_mut().append_pair("service", service);
    }
    let mut builder = http.get(url).timeout(bounded::SMALL_REQUEST_TIME);
    if let Some((user, password)) = credentials {
        builder = builder.basic_auth(user, Some(password));
    }
    let unreachable = |e: reqwest::Error| TokenError::Unreachable {
        realm: realm.to_string(),
        reason: if e.is_timeout() {
            format!(
                "no whole answer within {} s",
                bounded::SMALL_REQUEST_TIME.as_secs()
            )
        } else {
            with_causes(&e)
        },
        fault: NetworkFault::of(&e),
    };
    let response = builder.send().await.map_err(unreachable)?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(TokenError::Refused {
            realm: realm.to_string(),
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(TokenError::Status {
            realm: realm.to_string(),
            status,
        });
    }
    let body = match read_bounded(response, bounded::TOKEN_LIMIT).await {
        Ok(body) => body,
        Err(Unread::TooLarge { limit }) => {
            return Err(failed(format!(
                "its answer is larger than {}, which no token is",
                bounded::shown(limit)
            )))
        }
        Err(Unread::Failed(e)) => return Err(unreachable(e)),
    };
    let answer: TokenAnswer =
        serde_json::from_slice(&body).map_err(|e| failed(format!("unreadable answer: {e}")))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| failed("the answer holds no token".into()))
}

/// Whether a token may be asked of `realm` for `registry`: over HTTPS, or plain HTTP on this
/// machine only (a token, and the credentials that get it, must not cross a network in the
/// clear); and, when credentials go with the request, only at the registry's own site: its
/// origin, or a host of the same parent domain (Docker Hub's registry-1.docker.io sends to
/// auth.docker.io, GitLab's registry.gitlab.com to gitlab.com). A realm elsewhere would
/// collect the credentials given for this registry.
pub fn realm_allowed(registry: &Url, realm: &Url, with_credentials: bool) -> Result<(), String> {
    let secure =
        realm.scheme() == "https" || (realm.scheme() == "http" && crate::http::is_loopback(realm));
    if !secure {
        return Err(
            "it is not HTTPS; tokens are fetched over HTTPS, or plain HTTP only on this machine \
             (localhost, 127.0.0.0/8, [::1])"
                .into(),
        );
    }
    if !with_credentials || realm.origin() == registry.origin() || same_site(registry, realm) {
        return Ok(());
    }
    Err(format!(
        "it is not at the site of the registry {}; the credentials are not sent there",
        registry.origin().ascii_serialization()
    ))
}

/// Both over HTTPS on the default port, on names under the same parent domain of at least two
/// labels (`auth.docker.io` and `registry-1.docker.io`), or the realm on that parent itself.
fn same_site(registry: &Url, realm: &Url) -> bool {
    let domain = |url: &Url| match url.host() {
        Some(url::Host::Domain(name)) if url.scheme() == "https" && url.port().is_none() => {
            Some(name.to_ascii_lowercase())
        }
        _ => None,
    };
    let (Some(registry), Some(realm)) = (domain(registry), domain(realm)) else {
        return false;
    };
    let parent = |name: &str| {
        name.split_once('.')
            .map(|(_, rest)| rest.to_string())
            .filter(|rest| rest.contains('.'))
    };
    match parent(&registry) {
        Some(site) => realm == site || parent(&realm).as_ref() == Some(&site),
        None => false,
    }
}

/// The token scope a request needs when the challenge names none.
pub fn scope_for(method: &Method, path: &str) -> String {
    let repository = path
        .strip_prefix("v2/")
        .and_then(|p| {
            ["/manifests/", "/blobs/", "/tags/"]
                .iter()
                .find_map(|marker| p.find(marker).map(|i| &p[..i]))
        })
        .unwrap_or("");
    let actions = if *method == Method::GET || *method == Method::HEAD {
        "pull"
    } else {
        "pull,push"
    };
    format!("repository:{repository}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_and_basic_challenges() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            })
        );
        assert_eq!(
            Challenge::parse(
                r#"bearer realm="https://ghcr.io/token", scope="repository:o/r:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: None,
                scope: Some("repository:o/r:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn only_throttling_server_errors_and_interruptions_are_transient() {
        let realm = || "https://auth.example/token".to_string();
        let status = |code: u16| TokenError::Status {
            realm: realm(),
            status: reqwest::StatusCode::from_u16(code).unwrap(),
        };
        let network = |fault| TokenError::Unreachable {
            realm: realm(),
            reason: "r".into(),
            fault,
        };
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(network(NetworkFault::Interrupted).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(404).is_transient());
        assert!(!network(NetworkFault::Unreachable).is_transient());
        assert!(!network(NetworkFault::UntrustedCertificate).is_transient());
        let refused = TokenError::Refused {
            realm: realm(),
            status: 401,
        };
        assert!(!refused.is_transient());
        let no_token = TokenError::Failed {
            realm: realm(),
            reason: "the answer holds no token".into(),
        };
        assert!(!no_token.is_transient());
    }

    #[test]
    fn messages_name_the_realm_and_the_status() {
        let unavailable = TokenError::Status {
            realm: "https://auth.example/token".into(),
            status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
        };
        assert_eq!(
            unavailable.to_string(),
            "the token service at https://auth.example/token failed: HTTP 503 Service Unavailable"
        );
    }

    #[test]
    fn a_realm_is_https_or_on_this_machine_and_gets_credentials_only_at_the_registry_s_site() {
        let url = |u: &str| Url::parse(u).unwrap();
        let allowed = |registry: &str, realm: &str, credentials: bool| {
            realm_allowed(&url(registry), &url(realm), credentials).is_ok()
        };
        // Docker Hub, GitLab, GHCR: where real registries send for tokens.
        let hub = "https://registry-1.docker.io/";
        assert!(allowed(hub, "https://auth.docker.io/token", true));
        let gitlab = "https://registry.gitlab.com/";
        assert!(allowed(gitlab, "https://gitlab.com/jwt/auth", true));
        assert!(allowed("https://ghcr.io/", "https://ghcr.io/token", true));
        // A stand-in on this machine, its realm on the same origin.
        let local = "http://127.0.0.1:5000/";
        assert!(allowed(local, "http://127.0.0.1:5000/token", true));
        // Plain HTTP off this machine: never, with or without credentials.
        assert!(!allowed(hub, "http://auth.docker.io/token", false));
        assert!(!allowed(local, "http://127.0.0.1.nip.io/token", false));
        assert!(!allowed(hub, "ftp://auth.docker.io/token", false));
        // Another site, another port or a bare parent: no credentials there; anonymous is fine.
        assert!(!allowed(hub, "https://collector.example.com/token", true));
        assert!(allowed(hub, "https://collector.example.com/token", false));
        assert!(!allowed(local, "http://127.0.0.1:5001/token", true));
        assert!(!allowed("https://ghcr.io/", "https://io/token", true));
        assert!(!allowed(hub, "https://auth.docker.io:8443/token", true));
        let error = realm_allowed(&url(hub), &url("http://auth.docker.io/t"), true).unwrap_err();
        assert!(error.contains("not HTTPS"), "{error}");
    }

    #[test]
    fn basic_header_is_base64_of_user_and_password() {
        assert_eq!(basic_header("AWS", "pw"), "Basic QVdTOnB3");
    }
}
