//! The job's OIDC token: requested from the runner's token service, and its claims read back
//! (without verifying the signature) to explain a refused role assumption.

use base64::Engine;
use reqwest::Url;
use serde::Deserialize;

use crate::error::{with_causes, NetworkFault};
use crate::retry::{is_transient_status, Transient};

/// Where the runner serves ID tokens; present only with `permissions: id-token: write`.
#[derive(Clone)]
pub struct TokenService {
    url: Url,
    bearer: String,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The token service's variables were missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum TokenServiceError {
    #[error("{0} not set")]
    Missing(&'static str),
    #[error("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {0}")]
    BadUrl(String),
}

/// Why the token service gave no token.
#[derive(Debug, thiserror::Error)]
pub enum TokenRequestError {
    #[error("cannot reach the OIDC token service: {reason}")]
    Unreachable { reason: String, fault: NetworkFault },
    #[error("the OIDC token service answered HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("the OIDC token service's answer has no token in 'value': {0}")]
    NoToken(String),
}

impl Transient for TokenRequestError {
    fn is_transient(&self) -> bool {
        match self {
            TokenRequestError::Unreachable { fault, .. } => fault.is_transient(),
            TokenRequestError::Status(status) => is_transient_status(status.as_u16()),
            TokenRequestError::NoToken(_) => false,
        }
    }
}

impl TokenService {
    pub fn from_env() -> Result<Self, TokenServiceError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (url, bearer) = match (
            var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(url), Some(bearer)) => (url, bearer),
            (None, None) => {
                return Err(TokenServiceError::Missing(
                    "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are",
                ))
            }
            (None, _) => {
                return Err(TokenServiceError::Missing(
                    "ACTIONS_ID_TOKEN_REQUEST_URL is",
                ))
            }
            (_, None) => {
                return Err(TokenServiceError::Missing(
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN is",
                ))
            }
        };
        let url = Url::parse(&url).map_err(|e| TokenServiceError::BadUrl(e.to_string()))?;
        Ok(Self { url, bearer })
    }

    /// The bearer the runner gave us; a secret, to be masked before anything is printed.
    pub fn request_token(&self) -> &str {
        &self.bearer
    }

    /// Asks for a token for `audience`. Each call yields a new token, so a retried STS call
    /// never reuses one that may have expired or been rejected.
    pub async fn fetch(
        &self,
        http: &reqwest::Client,
        audience: &str,
    ) -> Result<String, TokenRequestError> {
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("audience", audience);
        let response = http
            .get(url)
            .header("Authorization", format!("bearer {}", self.bearer))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| TokenRequestError::Unreachable {
                reason: with_causes(&e),
                fault: NetworkFault::of(&e),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(TokenRequestError::Status(status));
        }
        #[derive(Deserialize)]
        struct Answer {
            value: String,
        }
        // A token is a few kilobytes; the answer is read no further than a megabyte.
        let body = crate::http::read_bounded(response, 1024 * 1024)
            .await
            .map_err(|e| match e {
                crate::http::Unread::TooLarge { .. } => {
                    TokenRequestError::NoToken("the answer is larger than 1 MiB".into())
                }
                crate::http::Unread::Failed(e) => TokenRequestError::Unreachable {
                    reason: with_causes(&e),
                    fault: NetworkFault::of(&e),
                },
            })?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| TokenRequestError::NoToken(e.to_string()))?;
        Ok(answer.value)
    }
}

/// The claims of a GitHub Actions ID token that decide whether a trust policy admits it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Claims {
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub repository: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub environment: Option<String>,
    pub job_workflow_ref: Option<String>,
    pub repository_owner: Option<String>,
    pub event_name: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl Claims {
    /// Reads the payload of a JWT. The signature is not checked: these claims only explain a
    /// refusal that STS, which does check it, has already made.
    pub fn decode_unverified(jwt: &str) -> Option<Claims> {
        let payload = jwt.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(payload))
    }

    #[test]
    fn decodes_claims_with_a_single_audience() {
        let claims = Claims::decode_unverified(&jwt(
            r#"{"sub":"repo:o/r:environment:prod","aud":"sts.amazonaws.com","ref":"refs/heads/main","environment":"prod","iss":"https://token.actions.githubusercontent.com"}"#,
        ))
        .unwrap();
        assert_eq!(claims.sub, "repo:o/r:environment:prod");
        assert_eq!(claims.aud, ["sts.amazonaws.com"]);
        assert_eq!(claims.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(claims.environment.as_deref(), Some("prod"));
    }

    #[test]
    fn decodes_a_list_of_audiences() {
        let claims = Claims::decode_unverified(&jwt(r#"{"aud":["a","b"]}"#)).unwrap();
        assert_eq!(claims.aud, ["a", "b"]);
    }

    #[test]
    fn throttling_server_errors_and_interruptions_are_retried() {
        let status =
            |code: u16| TokenRequestError::Status(reqwest::StatusCode::from_u16(code).unwrap());
        let network = |fault| TokenRequestError::Unreachable {
            reason: "r".into(),
            fault,
        };
        assert!(status(429).is_transient());
        assert!(status(500).is_transient());
        assert!(network(NetworkFault::Interrupted).is_transient());
        assert!(!status(401).is_transient());
        assert!(!status(403).is_transient());
        assert!(!network(NetworkFault::Unreachable).is_transient());
        assert!(!network(NetworkFault::UntrustedCertificate).is_transient());
        assert!(!TokenRequestError::NoToken("missing field `value`".into()).is_transient());
    }

    #[test]
    fn messages_say_what_the_token_service_did() {
        let status = TokenRequestError::Status(reqwest::StatusCode::BAD_GATEWAY);
        assert_eq!(
            status.to_string(),
            "the OIDC token service answered HTTP 502 Bad Gateway"
        );
        let network = TokenRequestError::Unreachable {
            reason: "error sending request".into(),
            fault: NetworkFault::Interrupted,
        };
        assert_eq!(
            network.to_string(),
            "cannot reach the OIDC token service: error sending request"
        );
    }

    #[test]
    fn rejects_what_is_not_a_jwt() {
        assert!(Claims::decode_unverified("not-a-jwt").is_none());
        assert!(Claims::decode_unverified("a.!!!.c").is_none());
    }
}
