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
}
