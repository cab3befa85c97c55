//! The distribution API over the store: one handler that logs, injects faults, authenticates
//! and routes by hand (a repository name may hold slashes, which axum's path patterns cannot
//! match before a fixed suffix).

use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    HeaderMap, HeaderName, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE,
    WWW_AUTHENTICATE,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde_json::json;

use super::store::{corrupted, sha256, LoggedRequest, Store};
use super::FakeAuth;
use crate::registry::auth::basic_header;

const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");
const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");
/// The `service` the Bearer challenge names.
pub const SERVICE: &str = "fake-registry";

static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("valid"));
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^sha256:[0-9a-f]{64}$").expect("valid"));

pub struct Shared {
    pub store: Mutex<Store>,
    pub auth: FakeAuth,
    /// `http://127.0.0.1:<port>`, for the token realm.
    pub origin: String,
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().expect("not poisoned")
    }
}

/// What a path names.
enum Route<'a> {
    Base,
    Token,
    /// `id` is empty for `POST .../blobs/uploads/`.
    Upload {
        name: &'a str,
        id: &'a str,
    },
    Blob {
        name: &'a str,
        digest: &'a str,
    },
    Manifest {
        name: &'a str,
        reference: &'a str,
    },
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Self {
        if path == "/token" {
            return Route::Token;
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Route::Unknown;
        };
        if rest.is_empty() {
            return Route::Base;
        }
        if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
            if !name.is_empty() && !id.contains('/') {
                return Route::Upload { name, id };
            }
        }
        let Some((head, last)) = rest.rsplit_once('/') else {
            return Route::Unknown;
        };
        match head.rsplit_once('/') {
            Some((name, "blobs")) if !name.is_empty() => Route::Blob { name, digest: last },
            Some((name, "manifests")) if !name.is_empty() => Route::Manifest {
                name,
                reference: last,
            },
            _ => Route::Unknown,
        }
    }

    fn repository(&self) -> Option<&'a str> {
        match self {
            Route::Upload { name, .. }
            | Route::Blob { name, .. }
            | Route::Manifest { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Every request: read whole, answered, then logged with its status.
pub async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let (parts, body) = request.into_parts();
    // Read before answering, so that a refusal never races the client still sending.
    let response = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => answer(
            &shared,
            &method,
            &path,
            query.as_deref(),
            &parts.headers,
            body,
        ),
        Err(e) => error(400, "BODY_INCOMPLETE", format!("the body broke off: {e}")),
    };
    shared.store().log.push(LoggedRequest {
        method,
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

fn answer(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    if let Some((status, retry_after)) = shared.store().take_fault(method, &target) {
        let mut answer = error(status, fault_code(status), "injected fault");
        if let Some(seconds) = retry_after {
            answer.headers_mut().insert(
                "retry-after",
                axum::http::HeaderValue::from_str(&seconds.to_string()).expect("digits"),
            );
        }
        return answer;
    }
    let route = Route::parse(path);
    if let Route::Token = route {
        return token(shared, query, headers);
    }
    if let Some(challenge) = challenge(shared, method, route.repository(), headers) {
        let mut response = error(401, "UNAUTHORIZED", "authentication required");
        let value = challenge.parse().expect("a valid header value");
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
        return response;
    }
    let head = method == "HEAD";
    match (method, route) {
        ("GET", Route::Base) => axum::Json(json!({})).into_response(),
        ("POST", Route::Upload { name, id: "" }) => start_upload(shared, name, query),
        ("PUT", Route::Upload { name, id }) => finish_upload(shared, name, id, query, body),
        ("PATCH", Route::Upload { .. }) => error(
            405,
            "UNSUPPORTED",
            "only monolithic uploads: POST, then one PUT with the whole body",
        ),
        ("GET" | "HEAD", Route::Blob { name, digest }) => get_blob(shared, name, digest, head),
        ("GET" | "HEAD", Route::Manifest { name, reference }) => {
            get_manifest(shared, name, reference, headers, head)
        }
        ("PUT", Route::Manifest { name, reference }) => {
            put_manifest(shared, name, reference, headers, body)
        }
        (_, Route::Unknown) => error(404, "NOT_FOUND", format!("no route for {path}")),
        _ => error(405, "UNSUPPORTED", format!("{method} {path}")),
    }
}

fn fault_code(status: u16) -> &'static str {
    match status {
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        _ => "UNKNOWN",
    }
}

/// A distribution-style error body.
pub fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"errors": [{"code": code, "message": message.into()}]});
    (status, axum::Json(body)).into_response()
}

/// The query's pairs, decoded; a name may repeat (`scope`).
fn params(query: Option<&str>) -> Vec<(String, String)> {
    let mut url = reqwest::Url::parse("http://query.invalid/").expect("valid");
    url.set_query(query);
    url.query_pairs().into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// `None` when the request may pass, else the challenge (`WWW-Authenticate`) to refuse it with.
fn challenge(
    shared: &Shared,
    method: &str,
    repository: Option<&str>,
    headers: &HeaderMap,
) -> Option<String> {
    match &shared.auth {
        FakeAuth::Anonymous => None,
        FakeAuth::Basic { user, password } => {
            let password = shared.store().basic_password(password);
            let sent = authorization(headers);
            (sent != Some(basic_header(user, &password).as_str()))
                .then(|| format!(r#"Basic realm="{SERVICE}""#))
        }
        FakeAuth::Bearer { .. } => {
            let actions = if method == "GET" || method == "HEAD" {
                "pull"
            } else {
                "pull,push"
            };
            let needed = repository.map(|name| format!("repository:{name}:{actions}"));
            let granted = authorization(headers)
                .and_then(|value| value.strip_prefix("Bearer "))
                .and_then(|token| shared.store().tokens.get(token).cloned());
            let passes = match (&granted, &needed) {
                (Some(_), None) => true,
                (Some(scopes), Some(needed)) => covers(scopes, needed),
                (None, _) => false,
            };
            let origin = shared.store().elsewhere.clone();
            let realm = format!("{}/token", origin.as_ref().unwrap_or(&shared.origin));
            let scope = needed.map(|s| format!(r#",scope="{s}""#));
            (!passes).then(|| {
                format!(
                    r#"Bearer realm="{realm}",service="{SERVICE}"{}"#,
                    scope.unwrap_or_default()
                )
            })
        }
    }
}

/// A scope's resource and actions: `repository:team/app:pull,push`.
fn parse_scope(scope: &str) -> Option<(&str, Vec<&str>)> {
    let (resource, actions) = scope.rsplit_once(':')?;
    Some((resource, actions.split(',').collect()))
}

/// Whether the granted scopes hold every action `needed` asks for.
fn covers(granted: &[String], needed: &str) -> bool {
    let Some((resource, actions)) = parse_scope(needed) else {
        return false;
    };
    actions.iter().all(|action| {
        granted
            .iter()
            .filter_map(|scope| parse_scope(scope))
            .any(|(r, a)| r == resource && a.contains(action))
    })
}

/// `GET /token`: a token for the scopes asked, given the right Basic credentials if the
/// registry has any.
fn token(shared: &Shared, query: Option<&str>, headers: &HeaderMap) -> Response {
    let FakeAuth::Bearer { credentials } = &shared.auth else {
        return error(404, "NOT_FOUND", "this registry hands out no tokens");
    };
    if let Some((user, password)) = credentials {
        if authorization(headers) != Some(basic_header(user, password).as_str()) {
            return error(401, "UNAUTHORIZED", "wrong credentials for a token");
        }
    }
    let scopes: Vec<String> = params(query)
        .into_iter()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut store = shared.store();
    let token = format!("token-{}", store.next_id());
    store.tokens.insert(token.clone(), scopes);
    axum::Json(json!({"token": token, "expires_in": 300})).into_response()
}

fn start_upload(shared: &Shared, name: &str, query: Option<&str>) -> Response {
    let params = params(query);
    let mut store = shared.store();
    if let (Some(digest), Some(from)) = (param(&params, "mount"), param(&params, "from")) {
        if let Some(bytes) = store.blob(from, digest).cloned() {
            store
                .repository(name)
                .blobs
                .insert(digest.to_string(), bytes);
            store.mounts_done += 1;
            return stored_blob(name, digest);
        }
    }
    let id = format!("upload-{}", store.next_id());
    let state = format!("state-{}", store.next_id());
    store
        .uploads_open
        .insert(id.clone(), (name.to_string(), state.clone()));
    let origin = store.elsewhere.clone().unwrap_or_default();
    let location = format!("{origin}/v2/{name}/blobs/uploads/{id}?_state={state}");
    (
        StatusCode::ACCEPTED,
        [
            (LOCATION, location),
            (DOCKER_UPLOAD_UUID, id),
            (RANGE, "0-0".to_string()),
        ],
    )
        .into_response()
}

/// `PUT <location>&digest=...` with the whole blob; stored only when the digest matches.
fn finish_upload(
    shared: &Shared,
    name: &str,
    id: &str,
    query: Option<&str>,
    body: Bytes,
) -> Response {
    let params = params(query);
    let mut store = shared.store();
    let Some((repository, state)) = store.uploads_open.get(id).cloned() else {
        return error(404, "BLOB_UPLOAD_UNKNOWN", format!("no upload {id}"));
    };
    if repository != name || param(&params, "_state") != Some(state.as_str()) {
        return error(
            400,
            "BLOB_UPLOAD_INVALID",
            "the upload's repository or _state does not match its Location",
        );
    }
    store.uploads_open.remove(id);
    let Some(digest) = param(&params, "digest") else {
        return error(400, "DIGEST_INVALID", "no digest");
    };
    let actual = sha256(&body);
    if actual != digest {
        return error(
            400,
            "DIGEST_INVALID",
            format!("the content's digest is {actual}, not {digest}"),
        );
    }
    store.repository(name).blobs.insert(actual, body.to_vec());
    store.uploads_done += 1;
    stored_blob(name, digest)
}

fn stored_blob(name: &str, digest: &str) -> Response {
    (
        StatusCode::CREATED,
        [
            (LOCATION, format!("/v2/{name}/blobs/{digest}")),
            (DOCKER_CONTENT_DIGEST, digest.to_string()),
        ],
    )
        .into_response()
}

fn get_blob(shared: &Shared, name: &str, digest: &str, head: bool) -> Response {
    let store = shared.store();
    let Some(bytes) = store.blob(name, digest) else {
        return error(404, "BLOB_UNKNOWN", format!("{name}@{digest}"));
    };
    let bytes = if store.corrupt.contains(digest) {
        corrupted(bytes)
    } else {
        bytes.clone()
    };
    let length = bytes.len();
    let body = if head { None } else { Some(bytes) };
    content("application/octet-stream", digest, body, length)
}

/// A 200 with the headers registries send; no body for a `HEAD`.
fn content(media_type: &str, digest: &str, body: Option<Vec<u8>>, length: usize) -> Response {
    let headers = [
        (CONTENT_TYPE, media_type.to_string()),
        (DOCKER_CONTENT_DIGEST, digest.to_string()),
    ];
    match body {
        Some(bytes) => (headers, Body::from(bytes)).into_response(),
        None => {
            let mut response = (headers, Body::empty()).into_response();
            response.headers_mut().insert(CONTENT_LENGTH, length.into());
            response
        }
    }
}

/// Whether the request's `Accept` takes `media_type` (no `Accept` takes anything).
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let listed: Vec<String> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or_default().trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    listed.is_empty() || listed.iter().any(|t| t == media_type || t == "*/*")
}

fn get_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let found = shared.store().manifest(name, reference);
    let Some((digest, stored)) = found else {
        return error(404, "MANIFEST_UNKNOWN", format!("{name}:{reference}"));
    };
    // As distribution does: a manifest of a type the client did not ask for is not found.
    if !accepts(headers, &stored.media_type) {
        return error(
            404,
            "MANIFEST_UNKNOWN",
            format!("{name}:{reference} is a {}", stored.media_type),
        );
    }
    let bytes = if shared.store().corrupt.contains(&digest) {
        corrupted(&stored.bytes)
    } else {
        stored.bytes
    };
    let length = bytes.len();
    let body = if head { None } else { Some(bytes) };
    content(&stored.media_type, &digest, body, length)
}

fn put_manifest(
    shared: &Shared,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if !TAG.is_match(reference) && !DIGEST.is_match(reference) {
        return error(400, "TAG_INVALID", format!("'{reference}'"));
    }
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if media_type.is_empty() {
        return error(400, "MANIFEST_INVALID", "no Content-Type");
    }
    let mut store = shared.store();
    if let Err((status, code, message)) = store.check_manifest(name, reference, &media_type, &body)
    {
        return error(status, code, message);
    }
    let digest = store.put_manifest(name, reference, &media_type, body.to_vec());
    (
        StatusCode::CREATED,
        [
            (LOCATION, format!("/v2/{name}/manifests/{digest}")),
            (DOCKER_CONTENT_DIGEST, digest),
        ],
    )
        .into_response()
}
