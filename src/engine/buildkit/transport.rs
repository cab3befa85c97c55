//! One HTTP/1.1 connection to the daemon per request, on the socket `DOCKER_HOST` names (bollard
//! connects the same way for every other call). BuildKit needs two things bollard keeps private:
//! a connection upgraded to h2c for the session, and the raw `/build` stream.

use std::path::PathBuf;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

/// The newest Engine API version these requests are pinned to: `/session` is deprecated from
/// 1.53, and daemons refuse versions older than their minimum (1.44 from Docker 29).
const NEWEST_API: (u32, u32) = (1, 52);

/// `path` under the API version to use with a daemon that speaks up to `api` (`1.41`).
pub fn versioned(api: &str, path: &str) -> String {
    let parsed = api
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) => {
            let (major, minor) = v.min(NEWEST_API);
            format!("/v{major}.{minor}{path}")
        }
        // Unversioned: the daemon's own newest.
        None => path.to_string(),
    }
}

/// A byte stream to the daemon, over either kind of socket.
pub trait DaemonIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> DaemonIo for T {}

pub type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::io::Error>;

/// A request without a body.
pub fn empty() -> Body {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body streamed from `chunks`.
pub fn streamed(
    chunks: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
) -> Body {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    http_body_util::StreamBody::new(chunks.map(|c| c.map(hyper::body::Frame::data))).boxed_unsync()
}

impl Endpoint {
    /// The daemon `DOCKER_HOST` names, else the default socket. `None` for what this transport
    /// cannot speak (TLS, ssh, named pipes): the caller falls back to the classic builder or says so.
    pub fn from_docker_host(docker_host: Option<&str>, tls: bool) -> Option<Endpoint> {
        let host = docker_host.filter(|h| !h.is_empty());
        match host {
            None => Some(Endpoint::Unix("/var/run/docker.sock".into())),
            Some(h) => {
                if let Some(path) = h.strip_prefix("unix://") {
                    Some(Endpoint::Unix(path.into()))
                } else if let Some(addr) = h.strip_prefix("tcp://").or(h.strip_prefix("http://")) {
                    (!tls).then(|| Endpoint::Tcp(addr.trim_end_matches('/').to_string()))
                } else {
                    None
                }
            }
        }
    }

    /// From the runner's environment, as the docker CLI reads it.
    pub fn from_env() -> Option<Endpoint> {
        let host = std::env::var("DOCKER_HOST").ok();
        let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        Self::from_docker_host(host.as_deref(), tls)
    }

    async fn stream(&self) -> std::io::Result<Box<dyn DaemonIo>> {
        Ok(match self {
            Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await?),
            Endpoint::Tcp(addr) => Box::new(TcpStream::connect(addr).await?),
        })
    }

    /// A fresh connection, ready for one request; its driver runs in the background and allows
    /// an upgrade (the session).
    pub async fn connect(&self) -> std::io::Result<SendRequest<Body>> {
        let io = TokioIo::new(self.stream().await?);
        let (sender, connection) = http1::handshake(io).await.map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            // The connection ends when its request (or upgraded session) does; its error, if
            // any, reaches the request's side as well.
            let _ = connection.with_upgrades().await;
        });
        Ok(sender)
    }
}

/// The most of a refusal's body put in the error: the daemon's message is a line.
const REFUSAL_LIMIT: usize = 64 * 1024;

/// Sends `request` (an `Upgrade: h2c` request: `/session` or `/grpc`) on `sender` and returns
/// the connection the daemon switched to h2c; a refusal says `what` was refused, with the
/// daemon's status and message.
pub async fn upgrade(
    mut sender: SendRequest<Body>,
    request: hyper::Request<Body>,
    what: &str,
) -> std::io::Result<hyper::upgrade::Upgraded> {
    use http_body_util::BodyExt;
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), REFUSAL_LIMIT);
        let text = body
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        return Err(std::io::Error::other(format!("{what} ({status}): {text}")));
    }
    hyper::upgrade::on(response)
        .await
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_pinned_below_the_session_s_deprecation() {
        assert_eq!(versioned("1.41", "/build"), "/v1.41/build");
        assert_eq!(versioned("1.54", "/session"), "/v1.52/session");
        assert_eq!(versioned("", "/session"), "/session");
    }

    #[test]
    fn docker_host_forms() {
        let e = |h, tls| Endpoint::from_docker_host(h, tls);
        assert_eq!(
            e(None, false),
            Some(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            e(Some(""), false),
            Some(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            e(Some("unix:///run/user/1000/docker.sock"), false),
            Some(Endpoint::Unix("/run/user/1000/docker.sock".into()))
        );
        assert_eq!(
            e(Some("tcp://127.0.0.1:2375"), false),
            Some(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(e(Some("tcp://10.0.0.1:2376"), true), None);
        assert_eq!(e(Some("ssh://me@host"), false), None);
    }
}
