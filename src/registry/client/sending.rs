//! How one request is authenticated and sent: the credentials it carries, a challenge
//! answered once, Basic credentials renewed once after a refusal, and the status turned into
//! the error it means. The operations in `client.rs` build on `attempt` and `check`.
//! Error bodies are read only to their start (`bounded`).

use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::{Auth, Call, RegistryClient, RegistryError};
use crate::error::{with_causes, NetworkFault};
use crate::http::read_start;
use crate::registry::auth::{self, Challenge};
use crate::registry::bounded;
use crate::registry::renewal::AfterRefusal;
use crate::retry;

impl RegistryClient {
    /// `request` with the current `Authorization`, if any, and the generation of the Basic
    /// credentials it carries (0 for none), which a refusal is later judged against.
    pub(super) fn authorized(&self, request: RequestBuilder) -> (RequestBuilder, u64) {
        match self.authorization() {
            Some((generation, value)) => (request.header(AUTHORIZATION, value), generation),
            None => (request, 0),
        }
    }

    /// The current `Authorization` value, if any, with the generation of Basic credentials.
    fn authorization(&self) -> Option<(u64, HeaderValue)> {
        match &self.auth {
            Auth::Basic(credentials) => Some(credentials.current()),
            Auth::Challenged(_) => self
                .answer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .map(|value| (0, value)),
        }
    }

    /// Whether a request refused with Basic credentials of `generation` may be sent again
    /// with renewed ones. 403 counts as well as 401: ECR answers an expired token with 403
    /// ("DENIED: Your authorization token has expired"), and a real denial costs one renewal
    /// before it stands.
    pub(super) async fn send_again_after(
        &self,
        response: &Response,
        generation: u64,
    ) -> Result<bool, RegistryError> {
        let Auth::Basic(credentials) = &self.auth else {
            return Ok(false);
        };
        if !matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Ok(false);
        }
        match credentials.refused(generation).await {
            Ok(AfterRefusal::SendAgain) => Ok(true),
            Ok(AfterRefusal::Final) => Ok(false),
            Err(reason) => Err(RegistryError::NotRenewed {
                url: self.shown(),
                status: response.status(),
                who: self.who.clone(),
                reason,
            }),
        }
    }

    /// Whose credentials were refused, for the message: renewed ones say so.
    fn who(&self) -> String {
        match &self.auth {
            Auth::Basic(credentials) if credentials.renewed() => {
                format!("{}, fetched afresh after an earlier refusal", self.who)
            }
            _ => self.who.clone(),
        }
    }

    pub(super) fn unreachable(&self, e: &reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            url: self.shown(),
            reason: with_causes(e),
            fault: NetworkFault::of(e),
        }
    }

    /// One request; a challenge is answered once (token fetched, request sent again).
    pub(super) async fn attempt(&self, call: &Call<'_>) -> Result<Response, RegistryError> {
        let url = self
            .base
            .join(call.path)
            .expect("a base URL joins a relative path");
        let mut answered = false;
        loop {
            let (mut request, generation) =
                self.authorized(self.http.request(call.method.clone(), url.clone()));
            for (name, value) in call.headers {
                request = request.header(name, *value);
            }
            if let Some(body) = &call.body {
                request = request.body(body.clone());
            }
            if let Some(time) = call.time {
                request = request.timeout(time);
            }
            let response = request.send().await.map_err(|e| self.failed(&e, call))?;
            if self.send_again_after(&response, generation).await? {
                continue;
            }
            if response.status() == StatusCode::UNAUTHORIZED && !answered {
                if let (Auth::Challenged(credentials), Some(challenge)) = (
                    &self.auth,
                    response
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|h| h.to_str().ok())
                        .and_then(Challenge::parse),
                ) {
                    answered = true;
                    if self
                        .answer_challenge(challenge, credentials, &call.method, call.path)
                        .await?
                    {
                        continue;
                    }
                }
            }
            return self.check(response, call.what).await;
        }
    }

    /// A request that got no answer: too slow when its whole time ran out, else unreachable.
    pub(super) fn failed(&self, e: &reqwest::Error, call: &Call<'_>) -> RegistryError {
        match call.time {
            Some(limit) if e.is_timeout() => RegistryError::TooSlow {
                url: self.shown(),
                what: call.what.to_string(),
                limit,
            },
            _ => self.unreachable(e),
        }
    }

    /// Sets the `Authorization` the challenge asks for; `false` when there is nothing to send.
    async fn answer_challenge(
        &self,
        challenge: Challenge,
        credentials: &Option<(String, String)>,
        method: &Method,
        path: &str,
    ) -> Result<bool, RegistryError> {
        let value = match challenge {
            Challenge::Basic => match credentials {
                Some((user, password)) => auth::basic_header(user, password),
                None => return Ok(false),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| auth::scope_for(method, path));
                let request = auth::TokenRequest {
                    registry: &self.base,
                    realm: &realm,
                    service: service.as_deref(),
                    scope: &scope,
                };
                let token = auth::bearer_token(
                    &self.http,
                    request,
                    credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
                )
                .await?;
                format!("Bearer {token}")
            }
        };
        let value = HeaderValue::from_str(&value).map_err(|_| RegistryError::Unexpected {
            url: self.shown(),
            status: StatusCode::UNAUTHORIZED,
            what: "authenticate".into(),
            detail: ": the token is not a valid header value".into(),
        })?;
        *self
            .answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
        Ok(true)
    }

    /// A success, or the error the status means.
    pub(super) async fn check(
        &self,
        response: Response,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::retry_after_header(v, std::time::SystemTime::now()));
        let text = read_start(response, bounded::ERROR_BODY_LIMIT as usize).await;
        Err(RegistryError::answered(
            self.shown(),
            &self.who(),
            status,
            what,
            retry_after,
            &text,
        ))
    }
}
