//! Builds with the daemon's BuildKit: the session serves the context by file sync as the docker
//! CLI does (or the context goes in the `/build` request's body, version 2), secrets and
//! registry credentials, and the response is BuildKit's status stream, rendered as plain
//! progress, ending with the image's id.
//!
//! Why not bollard: its BuildKit build (0.21) opens a session of its own that serves no
//! secrets, and the pieces to open another are private to it.

pub mod filesync;
pub mod grpc;
pub mod progress;
pub mod session;
pub mod solve;
#[cfg(test)]
mod tests;
pub mod transport;
pub mod workers;

use std::time::Duration;

use base64::Engine;
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use futures_util::Stream;
use http_body_util::BodyExt;
use prost::Message;
use serde_json::Value;

use self::filesync::SyncedDirs;
use self::progress::{CacheUse, Progress};
use self::session::Provided;
use self::transport::Endpoint;
use super::docker::{BuildFailure, DockerError};
use crate::error::with_causes;

/// How long the daemon may say nothing before the build is reported stuck. BuildKit reports
/// progress while steps run; only a step that prints nothing for this long is cut short.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The most the `/build` stream may send before a message is complete, and the most of an
/// error answer read: BuildKit's status messages are batches of a few kilobytes; anything
/// larger is a broken stream, not a build, and must not grow the buffer without end.
pub const MESSAGE_LIMIT: usize = 16 * 1024 * 1024;

/// How the build's files reach the daemon.
pub enum BuildContext {
    /// Served by the session's file sync (`remote=client-session`), as the docker CLI does:
    /// the `context` and `dockerfile` folders.
    Session(SyncedDirs),
    /// A tar in the `/build` request's body. The containerd image store's builder cannot read
    /// it before Docker 27.5.
    Tar(std::pin::Pin<Box<dyn Stream<Item = std::io::Result<bytes::Bytes>> + Send>>),
}

/// One BuildKit build.
pub struct BuildKitRequest<'a> {
    /// The newest Engine API version the daemon speaks (`/version`'s `ApiVersion`).
    pub api_version: &'a str,
    pub context: BuildContext,
    /// The Dockerfile's path inside the tar, or its name in the synced `dockerfile` folder.
    pub dockerfile: &'a str,
    /// `repo:tag` the image is named in the daemon.
    pub tag: &'a str,
    pub build_args: &'a [(String, String)],
    pub labels: &'a [(String, String)],
    pub target: Option<&'a str>,
    /// `os/arch[/variant]`, for a single-platform build other than the daemon's.
    pub platform: Option<&'a str>,
    /// Images whose inline cache the build may use.
    pub cache_from: &'a [String],
    /// Embed the cache's metadata in the image (`BUILDKIT_INLINE_CACHE`).
    pub inline_cache: bool,
    /// A cache kept in a registry: the build goes through BuildKit's API (`solve.rs`), the only
    /// route that exports one.
    pub registry_cache: Option<RegistryCache>,
    /// What the session serves.
    pub provided: Provided,
    /// How long the daemon may say nothing ([`SILENCE_LIMIT`] in the action).
    pub silence_limit: Duration,
}

/// A cache kept in a registry (`type=registry`), apart from the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCache {
    /// References whose cache the build may import, in order; a missing one only means less
    /// cache.
    pub import: Vec<String>,
    /// Where the cache of every stage is written, if anywhere.
    pub export: Option<String>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: String,
    pub cache: CacheUse,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `{"KEY": "value", ...}`, as `/build` takes build args and labels.
fn map(pairs: &[(String, String)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// The `/build` query: what the CLI sends for `DOCKER_BUILDKIT=1 docker build`.
fn query(request: &BuildKitRequest<'_>, session: &str) -> String {
    let mut args = map(request.build_args);
    if request.inline_cache {
        args.insert("BUILDKIT_INLINE_CACHE".into(), "1".into());
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("version", "2")
        .append_pair("session", session)
        .append_pair("buildid", &format!("{:032x}", rand::random::<u128>()))
        .append_pair("dockerfile", request.dockerfile)
        .append_pair("t", request.tag)
        .append_pair("buildargs", &json(&args))
        .append_pair("labels", &json(&map(request.labels)))
        .append_pair("cachefrom", &json(&request.cache_from))
        .append_pair("rm", "1")
        .append_pair("forcerm", "1");
    if let Some(target) = request.target {
        q.append_pair("target", target);
    }
    if let Some(platform) = request.platform {
        q.append_pair("platform", platform);
    }
    if matches!(request.context, BuildContext::Session(_)) {
        q.append_pair("remote", "client-session");
    }
    q.finish()
}

/// Sends the `/build` request and returns the stream of its answer, or the daemon's refusal.
async fn send(
    endpoint: &Endpoint,
    request: BuildKitRequest<'_>,
    session_id: &str,
) -> Result<hyper::body::Incoming, DockerError> {
    let path = format!(
        "{}?{}",
        transport::versioned(request.api_version, "/build"),
        query(&request, session_id)
    );
    let body = match request.context {
        BuildContext::Session(_) => transport::empty(),
        BuildContext::Tar(tar) => transport::streamed(tar),
    };
    let http = hyper::Request::post(path)
        .header("Host", "docker")
        .header("Content-Type", "application/x-tar")
        .body(body)
        .map_err(|e| DockerError::Daemon(e.to_string()))?;
    let mut sender = endpoint
        .connect()
        .await
        .map_err(|e| DockerError::Unreachable(with_causes(&e)))?;
    let response = sender
        .send_request(http)
        .await
        .map_err(|e| DockerError::Daemon(with_causes(&e)))?;
    let status = response.status();
    let body = response.into_body();
    if !status.is_success() {
        let text = http_body_util::Limited::new(body, MESSAGE_LIMIT)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(DockerError::Daemon(daemon_message(&text)));
    }
    Ok(body)
}

/// Builds, handing each progress line to `on_line`.
pub async fn build(
    endpoint: &Endpoint,
    request: BuildKitRequest<'_>,
    mut on_line: impl FnMut(&str),
) -> Result<Built, DockerError> {
    if request.registry_cache.is_some() {
        return solve::build(endpoint, request, on_line).await;
    }
    let unreachable = |e: std::io::Error| DockerError::Unreachable(with_causes(&e));
    let silence_limit = request.silence_limit;
    let files = match &request.context {
        BuildContext::Session(dirs) => Some(dirs.clone()),
        BuildContext::Tar(_) => None,
    };
    let session = session::open(
        endpoint,
        request.api_version,
        request.provided.clone(),
        files,
    )
    .await
    .map_err(unreachable)?;
    let mut body = send(endpoint, request, &session.id).await?;

    let mut progress = Progress::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut id = None;
    loop {
        let frame = match tokio::time::timeout(silence_limit, body.frame()).await {
            Err(_) => {
                return Err(DockerError::Daemon(format!(
                    "the daemon reported nothing for {} s during the build{}",
                    silence_limit.as_secs(),
                    if session.is_closed() {
                        ", and it closed the build session"
                    } else {
                        ""
                    }
                )))
            }
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|e| {
                let closed = if session.is_closed() {
                    " (the daemon closed the build session)"
                } else {
                    ""
                };
                DockerError::Daemon(format!(
                    "the build's connection broke{closed}: {}",
                    with_causes(&e)
                ))
            })?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        let mut taken = |message| take(message, &mut progress, &mut id, &mut on_line);
        take_complete(&mut pending, &mut taken)?;
    }
    let id = id.ok_or_else(|| DockerError::Daemon("the build reported no image id".into()))?;
    Ok(Built {
        id,
        cache: progress.cache_use(),
    })
}

/// Hands each complete JSON message at the start of `pending` to `taken` and drops it; what
/// is left is the start of a message, which may not pass [`MESSAGE_LIMIT`].
fn take_complete(
    pending: &mut Vec<u8>,
    taken: &mut impl FnMut(Value) -> Result<(), DockerError>,
) -> Result<(), DockerError> {
    let mut messages = serde_json::Deserializer::from_slice(pending).into_iter::<Value>();
    let mut used = 0;
    while let Some(Ok(message)) = messages.next() {
        used = messages.byte_offset();
        taken(message)?;
    }
    pending.drain(..used);
    if pending.len() > MESSAGE_LIMIT {
        return Err(DockerError::Daemon(format!(
            "the daemon's build stream sent more than {} MiB without ending a message",
            MESSAGE_LIMIT / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Takes one message of the `/build` stream: BuildKit's status, the image's id, a line of
/// text, or the error that ends the build (with the step that failed and its last lines).
fn take(
    message: Value,
    progress: &mut Progress,
    id: &mut Option<String>,
    on_line: &mut impl FnMut(&str),
) -> Result<(), DockerError> {
    if let Some(error) = message.get("errorDetail").or(message.get("error")) {
        let text = error
            .get("message")
            .and_then(Value::as_str)
            .or(error.as_str())
            .unwrap_or_default()
            .to_string();
        let (step, output) = progress.failed_step().unzip();
        return Err(DockerError::Build(BuildFailure {
            step,
            output: output.unwrap_or_default(),
            message: text,
        }));
    }
    match message.get("id").and_then(Value::as_str) {
        Some("moby.buildkit.trace") => {
            if let Some(status) = message
                .get("aux")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|bytes| StatusResponse::decode(bytes.as_slice()).ok())
            {
                progress.update(status, on_line);
            }
        }
        Some("moby.image.id") => {
            *id = message
                .pointer("/aux/ID")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        _ => {
            if let Some(text) = message.get("stream").and_then(Value::as_str) {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .for_each(&mut *on_line);
            }
        }
    }
    Ok(())
}

/// The daemon's `{"message": ...}` error body, or the body as it is.
fn daemon_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}
