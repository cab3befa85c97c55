//! A registry that answers as a hostile or broken one would, to hold the action to its bounds:
//! `GET /v2/` is answered (anonymous access), and every manifest is answered the chosen way:
//! 100 MB that its `Content-Length` announces, a chunked body that never ends, or a body that
//! trickles one byte a second. It counts the manifest requests and the bytes it sent.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;

use crate::http::{serve, Served};

/// How the manifests are answered.
#[derive(Debug, Clone, Copy)]
pub enum Hostility {
    /// 100 MB of JSON-looking bytes, announced in `Content-Length`.
    Huge,
    /// A chunked body of 64 KiB chunks, as fast as the client reads, never ending.
    Endless,
    /// One byte a second, never ending.
    Trickle,
}

pub const HUGE_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Clone)]
struct Counters {
    hostility: Hostility,
    manifests: Arc<AtomicUsize>,
    sent: Arc<AtomicU64>,
}

pub struct HostileRegistry {
    served: Served,
    counters: Counters,
}

impl HostileRegistry {
    pub fn start(hostility: Hostility) -> Self {
        let counters = Counters {
            hostility,
            manifests: Arc::default(),
            sent: Arc::default(),
        };
        let router = Router::new().fallback(answer).with_state(counters.clone());
        HostileRegistry {
            served: serve(router),
            counters,
        }
    }

    /// `127.0.0.1:<port>`, for image references.
    pub fn host(&self) -> &str {
        self.served.url.trim_start_matches("http://")
    }

    /// How many manifest requests it received.
    pub fn manifest_requests(&self) -> usize {
        self.counters.manifests.load(Ordering::SeqCst)
    }

    /// How many bytes of manifests it has sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.counters.sent.load(Ordering::SeqCst)
    }
}

async fn answer(State(counters): State<Counters>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if !path.contains("/manifests/") {
        return Response::builder()
            .status(if path == "/v2/" { 200 } else { 404 })
            .header("Content-Type", "application/json")
            .body(Body::from("{}"))
            .expect("a response");
    }
    counters.manifests.fetch_add(1, Ordering::SeqCst);
    let response = Response::builder()
        .status(200)
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json");
    let sent = counters.sent.clone();
    let count = move |bytes: Bytes| {
        sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        Ok::<_, std::io::Error>(bytes)
    };
    match counters.hostility {
        Hostility::Huge => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = (HUGE_BYTES / chunk.len() as u64) as usize;
            let body = futures_util::stream::iter(std::iter::repeat_n(chunk, chunks)).map(count);
            response
                .header("Content-Length", HUGE_BYTES)
                .body(Body::from_stream(body))
        }
        Hostility::Endless => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let body = futures_util::stream::iter(std::iter::repeat(chunk)).map(count);
            response.body(Body::from_stream(body))
        }
        Hostility::Trickle => {
            let body = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((Bytes::from_static(b" "), ()))
            })
            .map(count);
            response.body(Body::from_stream(body))
        }
    }
    .expect("a response")
}
