//! A fault proxy in front of a registry: it forwards every request (keeping the `Host` the
//! client used, so the registry's upload locations point back through the proxy), and during a
//! brownout answers 503 to every request instead, as a registry or its load balancer does
//! during an incident. It can also make the registry's password run out mid-push: from then on
//! the old one is answered 401, and a renewed one is let through (as the registry's own). It
//! can answer chosen requests as a busy registry does (429 or 503 with `Retry-After`), and
//! keeps a log of every request, so a test can tell when a refused request was sent again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::http::{onward, relay, serve, Served};

#[derive(Clone)]
struct ProxyState {
    target: String,
    client: reqwest::Client,
    brownout_until: Arc<Mutex<Option<Instant>>>,
    /// A brownout that starts after this many more requests are forwarded, and its length.
    brownout_later: Arc<Mutex<Option<(usize, Duration)>>>,
    refused: Arc<AtomicUsize>,
    expiry: Arc<Mutex<Option<Expiry>>>,
    refused_credentials: Arc<AtomicUsize>,
    busy: Arc<Mutex<Option<Busy>>>,
    log: Arc<Mutex<Vec<Seen>>>,
    /// The origin an upload's `Location` is moved to, when set.
    uploads_to: Arc<Mutex<Option<String>>>,
}

/// Answers, in order, for the requests of one method whose path contains a fragment.
struct Busy {
    method: String,
    path_contains: String,
    answers: std::collections::VecDeque<(u16, RetryAfter)>,
}

/// A `Retry-After` value: whole seconds, or an HTTP date this long after the answer.
#[derive(Debug, Clone)]
pub enum RetryAfter {
    Seconds(u64),
    DateIn(Duration),
}

impl RetryAfter {
    fn header(&self) -> String {
        match self {
            RetryAfter::Seconds(seconds) => seconds.to_string(),
            RetryAfter::DateIn(wait) => {
                httpdate::fmt_http_date(std::time::SystemTime::now() + *wait)
            }
        }
    }
}

/// One request the proxy received, and the status it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub status: u16,
}

/// Basic credentials that stop being accepted after some requests, and those that replace them.
struct Expiry {
    left: usize,
    old: String,
    renewed: String,
}

pub struct RegistryProxy {
    served: Served,
    state: ProxyState,
}

impl RegistryProxy {
    pub fn start(target: &str) -> Self {
        let state = ProxyState {
            target: target.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            brownout_until: Arc::default(),
            brownout_later: Arc::default(),
            refused: Arc::default(),
            expiry: Arc::default(),
            refused_credentials: Arc::default(),
            busy: Arc::default(),
            log: Arc::default(),
            uploads_to: Arc::default(),
        };
        let router = Router::new().fallback(forward).with_state(state.clone());
        RegistryProxy {
            served: serve(router),
            state,
        }
    }

    pub fn url(&self) -> &str {
        &self.served.url
    }

    /// Every request is answered 503 for `duration` from now.
    pub fn brownout(&self, duration: Duration) {
        *self.state.brownout_until.lock().unwrap() = Some(Instant::now() + duration);
    }

    /// Forwards `requests` more requests, then answers 503 to every request for `duration`:
    /// a brownout in the middle of a push.
    pub fn brownout_after(&self, requests: usize, duration: Duration) {
        *self.state.brownout_later.lock().unwrap() = Some((requests, duration));
    }

    /// Forwards `requests` more requests, then answers 401 to any sent with the password `old`
    /// (which the registry behind still uses) and forwards those sent with `renewed` as if
    /// they carried `old`: ECR's token running out mid-push, and a fresh one taking its place.
    pub fn password_runs_out_after(&self, requests: usize, old: &str, renewed: &str) {
        *self.state.expiry.lock().unwrap() = Some(Expiry {
            left: requests,
            old: basic("AWS", old),
            renewed: basic("AWS", renewed),
        });
    }

    /// Answers the next requests with `method` and a path containing `path_contains` with
    /// `answers` in order, each a status and its `Retry-After` value, instead of forwarding them.
    pub fn busy(&self, method: &str, path_contains: &str, answers: &[(u16, RetryAfter)]) {
        *self.state.busy.lock().unwrap() = Some(Busy {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            answers: answers.iter().cloned().collect(),
        });
    }

    /// Every request received so far, in order.
    pub fn log(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many requests were answered 401 for a password that ran out.
    pub fn refused_credentials(&self) -> usize {
        self.state.refused_credentials.load(Ordering::SeqCst)
    }

    /// Answers a started upload with a `Location` on `origin` (`http://127.0.0.1:<port>`),
    /// the same path and query: a registry sending the upload, and its credentials, elsewhere.
    pub fn send_uploads_to(&self, origin: &str) {
        *self.state.uploads_to.lock().unwrap() = Some(origin.to_string());
    }

    /// How many requests the brownout answered with 503.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let at = Instant::now();
    let answer = answer(&state, request).await;
    state.log.lock().unwrap().push(Seen {
        method,
        path,
        at,
        status: answer.status().as_u16(),
    });
    answer
}

async fn answer(state: &ProxyState, request: Request) -> Response {
    if let Some(busy) = state.busy.lock().unwrap().as_mut() {
        let chosen = request.method().as_str() == busy.method
            && request.uri().path().contains(&busy.path_contains);
        if let Some((status, retry_after)) = chosen.then(|| busy.answers.pop_front()).flatten() {
            let status = StatusCode::from_u16(status).expect("a status");
            let body = match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#
                }
                _ => r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#,
            };
            let mut answer = (status, body).into_response();
            let value = retry_after.header().parse().expect("a header value");
            answer.headers_mut().insert("retry-after", value);
            return answer;
        }
    }
    {
        let mut later = state.brownout_later.lock().unwrap();
        match *later {
            Some((0, duration)) => {
                *state.brownout_until.lock().unwrap() = Some(Instant::now() + duration);
                *later = None;
            }
            Some((left, duration)) => *later = Some((left - 1, duration)),
            None => {}
        }
    }
    let browned_out = state
        .brownout_until
        .lock()
        .unwrap()
        .is_some_and(|until| Instant::now() < until);
    if browned_out {
        state.refused.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#;
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let (mut parts, body) = request.into_parts();
    if let Some(expiry) = state.expiry.lock().unwrap().as_mut() {
        let sent = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if sent == expiry.renewed {
            let old = expiry.old.parse().expect("a header value");
            parts.headers.insert("authorization", old);
        } else if expiry.left > 0 {
            expiry.left -= 1;
        } else if sent == expiry.old {
            state.refused_credentials.fetch_add(1, Ordering::SeqCst);
            let body =
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            let mut answer = (StatusCode::UNAUTHORIZED, body).into_response();
            let challenge = r#"Basic realm="basic-realm""#.parse().expect("a header value");
            answer.headers_mut().insert("www-authenticate", challenge);
            return answer;
        }
    }
    let body = to_bytes(body, 1 << 30).await.unwrap_or_default();
    let upstream = onward(&state.client, &state.target, &parts, &body, true);
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status().as_u16();
    let mut headers = answer.headers().clone();
    if let Some(origin) = state.uploads_to.lock().unwrap().as_ref() {
        moved_location(&mut headers, origin);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    relay(status, &headers, bytes)
}

/// `Location` with its origin replaced by `origin`, when it names an upload.
fn moved_location(headers: &mut reqwest::header::HeaderMap, origin: &str) {
    let Some(location) = headers.get("location").and_then(|v| v.to_str().ok()) else {
        return;
    };
    if !location.contains("/blobs/uploads/") {
        return;
    }
    let base = reqwest::Url::parse("http://registry.invalid/").expect("a URL");
    let Ok(url) = base.join(location) else { return };
    let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    let moved = format!("{origin}{}{query}", url.path());
    headers.insert("location", moved.parse().expect("a header value"));
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}
