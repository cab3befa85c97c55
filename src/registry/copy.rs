//! Copying blobs from one registry to another without a disk or a whole layer in memory: skip
//! what the destination has, mount within one registry, else stream the source's response
//! straight into a monolithic upload, checking the digest on the way. A few blobs at a time;
//! each blob is retried on its own, so one failure does not resend the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::client::{classify, RegistryClient, RegistryError};
use crate::retry::{self, Backoff};

/// Blobs in flight at once (docker pushes 5 at a time, crane 4, skopeo 6).
pub const PARALLEL_BLOBS: usize = 6;

/// A blob as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

/// What happened to each blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub present: usize,
    pub mounted: usize,
    pub uploaded: usize,
    pub bytes_uploaded: u64,
}

enum Outcome {
    Present,
    Mounted,
    Uploaded(u64),
}

/// One end of a copy: a registry and a repository in it.
#[derive(Clone, Copy)]
pub struct Endpoint<'a> {
    pub registry: &'a RegistryClient,
    pub repository: &'a str,
}

/// Makes sure `to` holds every blob of `blobs`, taking the missing ones from `from`.
pub async fn copy_blobs(
    from: Endpoint<'_>,
    to: Endpoint<'_>,
    blobs: &[Blob],
    on_retry: &(dyn Fn(&RegistryError, Duration) + Sync),
) -> Result<CopyReport, RegistryError> {
    let outcomes: Vec<Outcome> = futures_util::stream::iter(blobs)
        .map(|blob| {
            retry::retry(
                Backoff::STANDARD,
                move || async move { copy_one(from, to, blob).await.map_err(classify) },
                on_retry,
            )
        })
        .buffer_unordered(PARALLEL_BLOBS)
        .try_collect()
        .await?;
    let mut report = CopyReport::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Present => report.present += 1,
            Outcome::Mounted => report.mounted += 1,
            Outcome::Uploaded(bytes) => {
                report.uploaded += 1;
                report.bytes_uploaded += bytes;
            }
        }
    }
    Ok(report)
}

async fn copy_one(
    from: Endpoint<'_>,
    to: Endpoint<'_>,
    blob: &Blob,
) -> Result<Outcome, RegistryError> {
    if to.registry.has_blob(to.repository, &blob.digest).await? {
        return Ok(Outcome::Present);
    }
    if from.registry.base() == to.registry.base()
        && to
            .registry
            .mount_blob(to.repository, &blob.digest, from.repository)
            .await?
    {
        return Ok(Outcome::Mounted);
    }
    let response = from
        .registry
        .blob_stream(from.repository, &blob.digest)
        .await?;
    if let Some(length) = response.content_length() {
        if length != blob.size {
            return Err(RegistryError::Mismatch {
                digest: blob.digest.clone(),
                why: format!(
                    "the source sends {length} bytes, its manifest says {}",
                    blob.size
                ),
            });
        }
    }
    let mismatch = Arc::new(AtomicBool::new(false));
    let body = verified(response, blob.digest.clone(), blob.size, mismatch.clone());
    let uploaded = to
        .registry
        .upload_blob(
            to.repository,
            &blob.digest,
            blob.size,
            reqwest::Body::wrap_stream(body),
        )
        .await;
    if mismatch.load(Ordering::SeqCst) {
        return Err(RegistryError::Mismatch {
            digest: blob.digest.clone(),
            why: "the bytes the source sent have another digest or length".into(),
        });
    }
    uploaded.map(|_| Outcome::Uploaded(blob.size))
}

/// The response's bytes, hashed as they pass. The chunk that completes the blob is held to
/// the digest first: a client that sent `Content-Length` stops reading at that byte, so a check
/// after the last chunk might never run. A mismatch (or a wrong length) ends the stream with
/// an error instead, so the upload never completes.
fn verified(
    response: reqwest::Response,
    digest: String,
    size: u64,
    mismatch: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    struct Check {
        hasher: Sha256,
        seen: u64,
        done: bool,
    }
    let chunks = response
        .bytes_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let check = Check {
        hasher: Sha256::new(),
        seen: 0,
        done: false,
    };
    futures_util::stream::unfold((chunks.boxed(), check), move |(mut chunks, mut check)| {
        let digest = digest.clone();
        let mismatch = mismatch.clone();
        async move {
            if check.done {
                return None;
            }
            let fail = |why: String, check: Check, chunks| {
                mismatch.store(true, Ordering::SeqCst);
                let check = Check {
                    done: true,
                    ..check
                };
                Some((Err(std::io::Error::other(why)), (chunks, check)))
            };
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    check.hasher.update(&chunk);
                    check.seen += chunk.len() as u64;
                    if check.seen > size {
                        return fail(
                            format!("more than the {size} bytes expected"),
                            check,
                            chunks,
                        );
                    }
                    if check.seen == size {
                        let actual = format!("sha256:{:x}", check.hasher.clone().finalize());
                        if actual != digest {
                            return fail(format!("expected {digest}, got {actual}"), check, chunks);
                        }
                    }
                    Some((Ok(chunk), (chunks, check)))
                }
                Some(Err(e)) => {
                    check.done = true;
                    Some((Err(e), (chunks, check)))
                }
                None if check.seen < size => {
                    let why = format!("only {} of {size} bytes", check.seen);
                    fail(why, check, chunks)
                }
                None => None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    //! Against HTTP stand-ins: a source behind a Bearer token service (as Docker Hub), a
    //! destination with Basic auth and a relative upload `Location` carrying its own query.

    use super::*;
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::http::{header, Method, StatusCode};
    use axum::response::{IntoResponse, Response};
    use std::sync::Mutex;

    /// (request URI, body received, status answered) of each upload.
    type Uploads = Arc<Mutex<Vec<(String, Vec<u8>, u16)>>>;

    #[derive(Clone, Default)]
    struct Fake {
        /// Upload PUTs still to answer with 503 before accepting.
        fail_puts: Arc<Mutex<usize>>,
        base: Arc<Mutex<String>>,
        content: Arc<Mutex<Vec<u8>>>,
        token_queries: Arc<Mutex<Vec<String>>>,
        uploads: Uploads,
    }

    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/")
    }

    fn basic(request: &Request, user: &str, password: &str) -> bool {
        request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| {
                v.to_str().unwrap() == super::super::auth::basic_header(user, password)
            })
    }

    /// The source: every `/v2/` request needs `Bearer good-token`, which `/token` hands out
    /// for the right Basic credentials.
    async fn source(State(fake): State<Fake>, request: Request) -> Response {
        let path = request.uri().path().to_string();
        if path == "/token" {
            fake.token_queries
                .lock()
                .unwrap()
                .push(request.uri().query().unwrap_or_default().to_string());
            if !basic(&request, "reader", "pw") {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            return axum::Json(serde_json::json!({"token": "good-token"})).into_response();
        }
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .is_some_and(|v| v == "Bearer good-token");
        if !bearer {
            let realm = format!("{}token", fake.base.lock().unwrap());
            return (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    format!(r#"Bearer realm="{realm}",service="fake-registry""#),
                )],
            )
                .into_response();
        }
        let content = fake.content.lock().unwrap().clone();
        (
            [(header::CONTENT_LENGTH, content.len().to_string())],
            Body::from(content),
        )
            .into_response()
    }

    /// The destination: Basic auth; uploads checked against their digest.
    async fn destination(State(fake): State<Fake>, request: Request) -> Response {
        if !basic(&request, "AWS", "ecr-pw") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let method = request.method().clone();
        let uri = request.uri().to_string();
        if method == Method::HEAD {
            return StatusCode::NOT_FOUND.into_response();
        }
        if method == Method::POST {
            return (
                StatusCode::ACCEPTED,
                [(header::LOCATION, "/v2/dst/blobs/uploads/u-1?state=s1")],
            )
                .into_response();
        }
        {
            let mut failing = fake.fail_puts.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                fake.uploads.lock().unwrap().push((uri, Vec::new(), 503));
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
        let body = axum::body::to_bytes(request.into_body(), usize::MAX).await;
        let Ok(body) = body else {
            fake.uploads.lock().unwrap().push((uri, Vec::new(), 0));
            return StatusCode::BAD_REQUEST.into_response();
        };
        let expected = uri
            .split("digest=")
            .nth(1)
            .unwrap_or_default()
            .replace("%3A", ":");
        let status = if crate::registry::client::sha256_digest(&body) == expected {
            StatusCode::CREATED
        } else {
            StatusCode::BAD_REQUEST
        };
        fake.uploads
            .lock()
            .unwrap()
            .push((uri, body.to_vec(), status.as_u16()));
        status.into_response()
    }

    async fn stand_ins(content: &[u8]) -> (Fake, RegistryClient, RegistryClient) {
        let fake = Fake::default();
        *fake.content.lock().unwrap() = content.to_vec();
        let source_url = serve(
            axum::Router::new()
                .fallback(source)
                .with_state(fake.clone()),
        )
        .await;
        *fake.base.lock().unwrap() = source_url.clone();
        let destination_url = serve(
            axum::Router::new()
                .fallback(destination)
                .with_state(fake.clone()),
        )
        .await;
        let http = reqwest::Client::new();
        let from = RegistryClient::challenged(
            http.clone(),
            source_url.parse().unwrap(),
            Some(("reader".into(), "pw".into())),
            "the base-image credentials",
        );
        let to = RegistryClient::new(http, destination_url.parse().unwrap(), "AWS", "ecr-pw");
        (fake, from, to)
    }

    fn blob(content: &[u8]) -> Blob {
        Blob {
            digest: crate::registry::client::sha256_digest(content),
            size: content.len() as u64,
        }
    }

    #[tokio::test]
    async fn streams_a_blob_through_a_bearer_challenge_into_a_relative_upload() {
        let content = vec![7u8; 300_000];
        let (fake, from, to) = stand_ins(&content).await;
        let report = copy_blobs(
            Endpoint {
                registry: &from,
                repository: "src",
            },
            Endpoint {
                registry: &to,
                repository: "dst",
            },
            &[blob(&content)],
            &|_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(report.uploaded, 1);
        assert_eq!(report.bytes_uploaded, 300_000);
        let queries = fake.token_queries.lock().unwrap().clone();
        assert_eq!(
            queries,
            ["scope=repository%3Asrc%3Apull&service=fake-registry"]
        );
        let uploads = fake.uploads.lock().unwrap().clone();
        assert_eq!(uploads.len(), 1);
        let (uri, body, status) = &uploads[0];
        assert!(
            uri.starts_with("/v2/dst/blobs/uploads/u-1?state=s1&digest=sha256"),
            "{uri}"
        );
        assert_eq!((body.len(), *status), (300_000, 201));
    }

    #[tokio::test]
    async fn a_source_sending_other_bytes_fails_without_retrying_and_stores_nothing() {
        let content = b"the real layer".to_vec();
        let (fake, from, to) = stand_ins(b"a corrupt one!").await;
        let error = copy_blobs(
            Endpoint {
                registry: &from,
                repository: "src",
            },
            Endpoint {
                registry: &to,
                repository: "dst",
            },
            &[blob(&content)],
            &|e, _| panic!("a corrupt blob is not retried: {e}"),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
        assert!(error.to_string().contains("another digest"), "{error}");
        // A short body is caught the same way.
        let (_, from, to) = stand_ins(b"the real").await;
        let error = copy_blobs(
            Endpoint {
                registry: &from,
                repository: "src",
            },
            Endpoint {
                registry: &to,
                repository: "dst",
            },
            &[blob(&content)],
            &|e, _| panic!("not retried: {e}"),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, RegistryError::Mismatch { .. }), "{error}");
        let stored: Vec<u16> = fake.uploads.lock().unwrap().iter().map(|u| u.2).collect();
        assert!(!stored.contains(&201), "{stored:?}");
    }

    #[tokio::test]
    async fn a_5xx_is_retried_for_that_blob_only() {
        let content = vec![3u8; 50_000];
        let (fake, from, to) = stand_ins(&content).await;
        *fake.fail_puts.lock().unwrap() = 1;
        let retries = std::sync::atomic::AtomicUsize::new(0);
        let report = copy_blobs(
            Endpoint {
                registry: &from,
                repository: "src",
            },
            Endpoint {
                registry: &to,
                repository: "dst",
            },
            &[blob(&content)],
            &|_, _| {
                retries.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await
        .unwrap();
        assert_eq!(report.uploaded, 1);
        assert_eq!(retries.load(Ordering::SeqCst), 1);
        let statuses: Vec<u16> = fake.uploads.lock().unwrap().iter().map(|u| u.2).collect();
        assert_eq!(statuses, [503, 201]);
    }

    #[tokio::test]
    async fn wrong_source_credentials_are_a_refusal_from_the_token_service() {
        let content = b"x".to_vec();
        let (_, _, to) = stand_ins(&content).await;
        let source_url = to.base().clone();
        let from = RegistryClient::challenged(
            reqwest::Client::new(),
            source_url,
            Some(("reader".into(), "wrong".into())),
            "the base-image credentials",
        );
        // The destination stand-in asks for Basic without a challenge header: refused.
        let error = from
            .has_blob("src", &blob(&content).digest)
            .await
            .unwrap_err();
        assert!(matches!(error, RegistryError::Refused { .. }), "{error}");
    }
}
