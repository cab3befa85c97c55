//! An in-memory OCI distribution registry for in-process tests, served by axum on a free
//! loopback port. It keeps what the code under test relies on a real registry for: blobs and
//! manifests per repository (a blob is in another repository only once uploaded or mounted
//! there), monolithic uploads checked against their digest, cross-repository mounts, manifests
//! refused when what they point to is missing, content negotiation by `Accept`, and Basic or
//! Bearer authentication. Tests can inject faults, corrupt a blob or a manifest, seed images and
//! read back everything, including a log of the requests.
//!
//! Not served: chunked (`PATCH`) uploads, deletes, tag lists, referrers.

mod images;
mod routes;
mod store;
mod tests;

use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;
use tokio::sync::oneshot;

pub use images::{ImageFormat, SeededImage, SeededIndex};
use routes::Shared;
pub use store::LoggedRequest;
use store::{Fault, Store};

use super::client::RegistryClient;

/// How the registry authenticates requests.
#[derive(Debug, Clone)]
pub enum FakeAuth {
    /// Every request passes.
    Anonymous,
    /// These Basic credentials on every request, else 401 (as ECR).
    Basic { user: String, password: String },
    /// A Bearer challenge naming `/token` on the same server, which hands out tokens for the
    /// scopes asked (for these Basic credentials, when there are some).
    Bearer {
        credentials: Option<(String, String)>,
    },
}

/// A running fake registry; it stops serving when dropped.
pub struct FakeRegistry {
    shared: Arc<Shared>,
    http: OnceLock<reqwest::Client>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeRegistry {
    /// Starts serving on `127.0.0.1:0` (in the current Tokio runtime).
    pub async fn start(auth: FakeAuth) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("a local address");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            auth,
            origin: format!("http://{address}"),
        });
        let app = axum::Router::new()
            .fallback(routes::dispatch)
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            shared,
            http: OnceLock::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub async fn anonymous() -> Self {
        Self::start(FakeAuth::Anonymous).await
    }

    /// Basic credentials on every request, as ECR.
    pub async fn basic(user: &str, password: &str) -> Self {
        Self::start(FakeAuth::Basic {
            user: user.into(),
            password: password.into(),
        })
        .await
    }

    /// Bearer tokens from its own `/token`, which wants these credentials (if any).
    pub async fn bearer(credentials: Option<(&str, &str)>) -> Self {
        Self::start(FakeAuth::Bearer {
            credentials: credentials.map(|(u, p)| (u.into(), p.into())),
        })
        .await
    }

    /// `http://127.0.0.1:<port>/`, the base a `RegistryClient` takes.
    pub fn url(&self) -> reqwest::Url {
        format!("{}/", self.shared.origin)
            .parse()
            .expect("a valid URL")
    }

    /// `127.0.0.1:<port>`, as an image reference names the registry.
    pub fn host(&self) -> String {
        self.shared.origin.trim_start_matches("http://").to_string()
    }

    /// An HTTP client for this test, made once per fake: making one reads the system's CA
    /// certificates, tens of milliseconds in a debug build.
    pub fn http(&self) -> reqwest::Client {
        self.http.get_or_init(reqwest::Client::new).clone()
    }

    /// The project's client for this registry, with its credentials: Basic on every request
    /// (`RegistryClient::new`) for a Basic registry, else answering challenges.
    pub fn client(&self) -> RegistryClient {
        let http = self.http();
        match &self.shared.auth {
            FakeAuth::Basic { user, password } => {
                RegistryClient::new(http, self.url(), user, password)
            }
            FakeAuth::Bearer { credentials } => RegistryClient::challenged(
                http,
                self.url(),
                credentials.clone(),
                "the fake registry's credentials",
            ),
            FakeAuth::Anonymous => {
                RegistryClient::challenged(http, self.url(), None, "anonymous access")
            }
        }
    }

    /// Stops serving and waits until every connection is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.shared.store()
    }

    /// The blob's bytes as stored in `repository`.
    pub fn blob(&self, repository: &str, digest: impl AsRef<str>) -> Option<Vec<u8>> {
        self.store().blob(repository, digest.as_ref()).cloned()
    }

    /// The manifest `reference` (tag or digest) names: (media type, exact bytes).
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<(String, Vec<u8>)> {
        let (_, stored) = self.store().manifest(repository, reference)?;
        Some((stored.media_type, stored.bytes))
    }

    /// The repository's tags, sorted.
    pub fn tags(&self, repository: &str) -> Vec<String> {
        self.store()
            .repositories
            .get(repository)
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Blob uploads completed (digest checked, stored).
    pub fn uploads(&self) -> usize {
        self.store().uploads_done
    }

    /// Cross-repository mounts done (answered 201).
    pub fn mounts(&self) -> usize {
        self.store().mounts_done
    }

    /// Every request answered so far, in order, token requests and refusals included.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.store().log.clone()
    }

    /// The query of every token request (Bearer auth), in order: the scopes the client asked for.
    pub fn token_queries(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .map(|r| r.query.unwrap_or_default())
            .collect()
    }

    /// Stores a blob in `repository` without a request; returns its digest.
    pub fn put_blob(&self, repository: &str, bytes: &[u8]) -> String {
        self.store().put_blob(repository, bytes.to_vec())
    }

    /// Stores a manifest under its digest and tags it `reference` (unless that is a digest),
    /// without the checks a PUT gets, so a test can seed a broken image; returns its digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        self.store()
            .put_manifest(repository, reference, media_type, bytes.to_vec())
    }

    /// Answers `status` to the next `times` requests whose method is `method` and whose path
    /// (followed by `?` and the query when there is one) matches the regex `path` whole, e.g.
    /// `("PUT", ".*/manifests/.*")`, or one blob's upload with `.*digest=sha256%3A<hex>`.
    /// Checked before authentication, as a failing proxy or load balancer would answer.
    pub fn fail_next(&self, method: &str, path: &str, status: u16, times: usize) {
        self.fault(method, path, status, times, None);
    }

    /// As [`Self::fail_next`], with `Retry-After: seconds`.
    pub fn busy_next(&self, method: &str, path: &str, status: u16, times: usize, seconds: u64) {
        self.fault(method, path, status, times, Some(seconds));
    }

    fn fault(&self, method: &str, path: &str, status: u16, times: usize, retry_after: Option<u64>) {
        let path = Regex::new(&format!("^(?:{path})$")).expect("a valid path regex");
        self.store().faults.push(Fault {
            method: method.to_string(),
            path,
            status,
            remaining: times,
            retry_after,
        });
    }

    /// Accepts `requests` more requests with the Basic password it started with, then only
    /// `password`: ECR's token running out in the middle of a push.
    pub fn change_password_after(&self, requests: usize, password: &str) {
        self.store().password_change = Some((requests, password.to_string()));
    }

    /// Names `origin` (`http://127.0.0.1:<port>`) for uploads and as the token realm, as a
    /// registry that would send them to another server.
    pub fn send_elsewhere(&self, origin: &str) {
        self.store().elsewhere = Some(origin.to_string());
    }

    /// Drops the faults not yet used.
    pub fn clear_faults(&self) {
        self.store().faults.clear();
    }

    /// Serves other bytes (of the same length) for the blob or the manifest `digest` in every
    /// repository (a manifest also when a tag names it), or its own again.
    pub fn set_corrupt(&self, digest: &str, corrupt: bool) {
        let mut store = self.store();
        if corrupt {
            store.corrupt.insert(digest.to_string());
        } else {
            store.corrupt.remove(digest);
        }
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
