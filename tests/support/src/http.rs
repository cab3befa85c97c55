//! The in-process HTTP stand-ins (OIDC issuer, AWS proxy) run on one shared runtime, each on a
//! loopback listener bound to port 0 and kept, and stop when their handle is dropped.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// A served axum router; aborted on drop.
pub(crate) struct Served {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) fn serve(router: axum::Router) -> Served {
    let listener = block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = runtime().spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Served { url, task }
}

/// An upstream's answer as an axum response: status, headers (less the framing ones, which
/// axum sets for the new body) and body.
pub(crate) fn relay(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    *response.status_mut() = axum::http::StatusCode::from_u16(status).expect("an HTTP status");
    for (name, value) in headers {
        if name != "content-length" && name != "transfer-encoding" {
            response
                .headers_mut()
                .insert(axum::http::HeaderName::from(name), value.clone());
        }
    }
    response
}

/// The request `parts` with `body`, sent on to `target` with the same method, path, query and
/// headers; `Host` is kept when `keep_host` (so that a registry's upload locations point back
/// through the proxy), else the target's.
pub(crate) fn onward(
    client: &reqwest::Client,
    target: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
    keep_host: bool,
) -> reqwest::RequestBuilder {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = client
        .request(parts.method.clone(), format!("{target}{path}"))
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != "content-length" && (keep_host || name != "host") {
            upstream = upstream.header(name, value);
        }
    }
    upstream
}
