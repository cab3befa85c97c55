//! The HTTP clients a run uses (rustls, with the CAs of `SSL_CERT_FILE` trusted too): one for
//! APIs (OIDC, bearer tokens) with a bound on each request, one for registries with a bound only
//! on silence, because a layer may take minutes to stream.

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
        };
        Ok(Self {
            api: builder().timeout(Duration::from_secs(30)).build()?,
            registry: builder().read_timeout(Duration::from_secs(60)).build()?,
        })
    }
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
