//! The HTTP clients a run uses (rustls, with the CAs of `SSL_CERT_FILE` trusted too): one for
//! APIs (OIDC, bearer tokens) with a bound on each request, one for registries with a bound only
//! on silence, because a layer may take minutes to stream. Both follow redirects only over
//! HTTPS (or on this machine); reqwest drops `Authorization` when a redirect leaves the origin,
//! so credentials never reach another one.

use std::time::Duration;

use crate::error::Failure;

pub struct HttpClients {
    pub api: reqwest::Client,
    pub registry: reqwest::Client,
}

impl HttpClients {
    pub fn new() -> anyhow::Result<Self> {
        let roots = extra_roots()?;
        let builder = || {
            reqwest::Client::builder()
                .user_agent(concat!("ship-to-ecr/", env!("CARGO_PKG_VERSION")))
                .tls_certs_merge(roots.clone())
                .connect_timeout(Duration::from_secs(10))
                .redirect(redirects())
        };
        Ok(Self {
            api: builder().timeout(Duration::from_secs(30)).build()?,
            registry: builder().read_timeout(Duration::from_secs(60)).build()?,
        })
    }
}

/// Why an answer could not be read whole.
#[derive(Debug)]
pub enum Unread {
    /// It is (or says it is) larger than the limit.
    TooLarge { limit: u64 },
    /// The connection failed or the time ran out while reading it.
    Failed(reqwest::Error),
}

/// The response's body, read whole unless it is larger than `limit` bytes: refused at once
/// when its `Content-Length` says so, else as soon as more than `limit` bytes have arrived.
/// With [`read_start`], the one way an answer is read into memory: a server decides how much
/// it sends, and must not decide how much memory a run takes.
pub async fn read_bounded(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, Unread> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(Unread::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Unread::Failed)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Unread::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `limit` bytes of the response's body as text (an error answer, of which only the
/// start is ever shown); the rest is dropped with the connection.
pub async fn read_start(mut response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// Whether `url`'s host is this machine as written: `localhost`, an address of 127.0.0.0/8 or
/// `::1`. Only these may be reached over plain HTTP, as nothing they carry crosses a network; a
/// name that merely starts with `127.` is a name like any other, resolved anywhere.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Up to 10 redirects (reqwest's default), none to plain HTTP off this machine: a registry's
/// blob may be served from a CDN, but never in the clear.
fn redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else if attempt.url().scheme() != "https" && !is_loopback(attempt.url()) {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(format!("refused a redirect to plain HTTP ({to})"))
        } else {
            attempt.follow()
        }
    })
}

/// CAs to trust besides the system's: the PEM file `SSL_CERT_FILE` names (a registry with a
/// private CA), as OpenSSL-based tools read it.
fn extra_roots() -> anyhow::Result<Vec<reqwest::Certificate>> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let unusable = |why: String| {
        Failure::new(
            "Cannot read SSL_CERT_FILE",
            format!(
                "SSL_CERT_FILE is {}, which {why}. Point it at a PEM file of the CA \
                 certificates to trust, or unset it.",
                std::path::Path::new(&path).display()
            ),
        )
    };
    let pem = std::fs::read(&path).map_err(|e| unusable(format!("cannot be read ({e})")))?;
    Ok(reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| unusable(format!("holds no PEM certificates ({e})")))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_an_address_of_this_machine_or_localhost_never_a_name_like_one() {
        let loopback = |u: &str| is_loopback(&reqwest::Url::parse(u).unwrap());
        for yes in [
            "http://127.0.0.1:5000/",
            "http://127.255.0.9/",
            "http://localhost:5000/",
            "http://LOCALHOST/",
            "http://[::1]:5000/",
        ] {
            assert!(loopback(yes), "{yes}");
        }
        for no in [
            "http://127.0.0.1.nip.io/",
            "http://127.evil.example/",
            "http://localhost.example.com/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://registry.example.com/",
        ] {
            assert!(!loopback(no), "{no}");
        }
    }

    /// Serves `router` on a loopback port; returns its origin.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        origin
    }

    #[tokio::test]
    async fn a_redirect_to_another_origin_carries_no_credentials_and_none_goes_to_plain_http() {
        use axum::http::HeaderMap;
        use axum::response::Redirect;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let elsewhere = serve(axum::Router::new().fallback(move |headers: HeaderMap| {
            let authorization = headers.get("authorization").cloned();
            recorded.lock().unwrap().push(authorization);
            async { "the blob" }
        }))
        .await;
        let target = format!("{elsewhere}/blob");
        let registry = serve(
            axum::Router::new()
                .route(
                    "/cdn",
                    axum::routing::get(move || async move { Redirect::temporary(&target) }),
                )
                .route(
                    "/clear",
                    axum::routing::get(|| async { Redirect::temporary("http://10.255.255.1/b") }),
                ),
        )
        .await;
        let clients = HttpClients::new().unwrap();
        let answer = clients
            .registry
            .get(format!("{registry}/cdn"))
            .bearer_auth("registry-token")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "the blob");
        assert_eq!(*seen.lock().unwrap(), [None]);
        let error = clients
            .registry
            .get(format!("{registry}/clear"))
            .bearer_auth("registry-token")
            .send()
            .await
            .unwrap_err();
        let error = crate::error::with_causes(&error);
        assert!(
            error.contains("refused a redirect to plain HTTP"),
            "{error}"
        );
    }
}
