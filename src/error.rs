//! Failures the user can act on. Each carries a short title (the annotation's headline) and a
//! message that says what went wrong and what to change. Anything else that reaches `main` is an
//! unexpected error and is shown with its cause chain.

use std::fmt;

/// A failure explained for the person reading the run's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub title: String,
    pub message: String,
}

impl Failure {
    pub fn new(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
        }
    }
}

/// One input that breaks its rule: which input, the rule, and a value that would work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub input: &'static str,
    pub rule: String,
    pub example: String,
}

impl InputError {
    pub fn new(input: &'static str, rule: impl Into<String>, example: impl Into<String>) -> Self {
        Self {
            input,
            rule: rule.into(),
            example: example.into(),
        }
    }

    pub fn title(&self) -> String {
        format!("Invalid input '{}'", self.input)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Input '{}': {}. ", self.input, self.rule)?;
        if self.example.is_empty() {
            // The good value is none: the input conflicts with another one.
            write!(
                f,
                "Leave it empty (remove '{}' from the step's with:).",
                self.input
            )
        } else {
            write!(
                f,
                "Example of a good value: {}: {}",
                self.input, self.example
            )
        }
    }
}

/// Every bad input found, reported together so one fix-and-rerun is enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} input(s) are invalid", .0.len())]
pub struct InputErrors(pub Vec<InputError>);

/// An error and all its sources on one line: a top-level text alone ("dispatch failure",
/// "error sending request") rarely says what happened.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Why a request got no answer, read from the types in its cause chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFault {
    /// Nothing listens at the address, the host name does not resolve, or no route leads there:
    /// a wrong endpoint, which no retry will fix.
    Unreachable,
    /// TLS was spoken and the server's certificate refused: every try meets the same one.
    UntrustedCertificate,
    /// A reset, a timeout, a connection closed early: another try may go through.
    Interrupted,
}

impl NetworkFault {
    pub fn of(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut fault = NetworkFault::Interrupted;
        for cause in causes(err) {
            if is_refused_certificate(cause) {
                // Decides alone: a TLS failure is an answer, so the endpoint is reachable.
                return NetworkFault::UntrustedCertificate;
            }
            if is_no_endpoint(cause) {
                fault = NetworkFault::Unreachable;
            }
        }
        fault
    }

    /// Only an interrupted exchange may go through on another try.
    pub fn is_transient(self) -> bool {
        self == NetworkFault::Interrupted
    }
}

/// The error and every cause after it, including what an `io::Error` wraps: its `source()`
/// skips its own payload, and a TLS error travels as the payload of an `io::Error`.
fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| {
        let payload = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        match payload {
            Some(payload) => Some(payload as &(dyn std::error::Error + 'static)),
            None => e.source(),
        }
    })
}

fn is_refused_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_))
    )
}

/// A refused connection, no route, or a name that does not resolve.
fn is_no_endpoint(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let failed_lookup = e
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_dns);
    failed_lookup
        || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
            ) || is_failed_lookup(io)
        })
}

/// The system resolver's failure, as the AWS SDK's HTTP client reports it. Unlike reqwest
/// (`is_dns`), nothing in that chain has a type that says DNS: std reports every `getaddrinfo`
/// error as an `io::Error` of the unstable, unnameable kind `Uncategorized`, and hyper-util's
/// `ConnectError("dns error", ..)` around it is private. So this one check reads text: that
/// `io::Error`'s own, by the fixed prefix std gives it.
fn is_failed_lookup(io: &std::io::Error) -> bool {
    io.raw_os_error().is_none()
        && io
            .to_string()
            .starts_with("failed to lookup address information")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::io::{ErrorKind, Read};
    use std::sync::Arc;

    async fn request_error(url: &str) -> reqwest::Error {
        reqwest::Client::new()
            .get(url)
            .send()
            .await
            .expect_err("the request fails")
    }

    /// A local port nothing listens on: bound, then released.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable() {
        let e = request_error(&format!("http://127.0.0.1:{}/", closed_port())).await;
        assert_eq!(NetworkFault::of(&e), NetworkFault::Unreachable, "{e:?}");
        assert!(!NetworkFault::of(&e).is_transient());
    }

    #[tokio::test]
    async fn an_unknown_host_is_unreachable() {
        // `.invalid` never resolves (RFC 6761).
        let e = request_error("http://registry.example.invalid/v2/").await;
        assert_eq!(NetworkFault::of(&e), NetworkFault::Unreachable, "{e:?}");
        // reqwest's own error says so by type, before any cause is looked at.
        assert!(is_no_endpoint(&e), "{e:?}");
    }

    #[test]
    fn a_failed_lookup_without_reqwest_is_unreachable() {
        // What std's resolver gives the AWS SDK's client (the kind aside: it cannot be named).
        let e = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(NetworkFault::of(&e), NetworkFault::Unreachable);
    }

    /// A self-signed certificate for 127.0.0.1 (P-256, valid until 2126) and its key, made with
    /// openssl for this test only: no CA anywhere trusts it.
    const SELF_SIGNED_CERT: &str = "\
        MIIBmDCCAT6gAwIBAgIUQjjWF29APvlSnlQC4D8+isPiojUwCgYIKoZIzj0EAwIw\
        FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMzEwNTEzNVoYDzIxMjYxMDMw\
        MTA1MTM1WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\
        PQMBBwNCAATIpxM5PkalLWpLAzimDYcCv5VSsK2iXegSa0jTRdRmGXj41IQvsefi\
        pUGkDwkFbUP5p7Y3+ySsKdplJRojE5jqo2wwajAdBgNVHQ4EFgQUS4fsEvImpU8Z\
        aZCqetmUuAM0g8owHwYDVR0jBBgwFoAUS4fsEvImpU8ZaZCqetmUuAM0g8owGgYD\
        VR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0E\
        AwIDSAAwRQIhALLAQOKmqIv0XP4FRbcZTFlB4MJq5+d+5q13vrSpoLHhAiBmd5f6\
        2MhHPmmLnlfzZB8yPjwoQ5fza2mTK0zaNdx3sw==";
    const SELF_SIGNED_KEY: &str = "\
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgt+6TzsQoNlR9RghK\
        5sSRZbofaaqWuwh80L2w0wZrneihRANCAATIpxM5PkalLWpLAzimDYcCv5VSsK2i\
        XegSa0jTRdRmGXj41IQvsefipUGkDwkFbUP5p7Y3+ySsKdplJRojE5jq";

    /// A TLS server on a local port that presents the self-signed certificate to one client.
    fn self_signed_server() -> u16 {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let der = |b64: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        };
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(der(SELF_SIGNED_CERT))],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der(SELF_SIGNED_KEY))),
            )
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, socket);
            // Drives the handshake until the client gives up on the certificate.
            let _ = tls.read(&mut [0; 1]);
        });
        port
    }

    #[tokio::test]
    async fn a_refused_certificate_is_untrusted() {
        let port = self_signed_server();
        let e = request_error(&format!("https://127.0.0.1:{port}/v2/")).await;
        assert_eq!(
            NetworkFault::of(&e),
            NetworkFault::UntrustedCertificate,
            "{e:?}"
        );
        assert!(!NetworkFault::of(&e).is_transient());
    }

    #[tokio::test]
    async fn tls_spoken_to_a_plain_http_server_is_not_a_certificate_refusal() {
        // What a loopback registry without TLS answers to HTTPS: garbage, not a certificate.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let e = request_error(&format!("https://127.0.0.1:{port}/v2/")).await;
        assert_eq!(NetworkFault::of(&e), NetworkFault::Interrupted, "{e:?}");
    }

    #[test]
    fn resets_and_timeouts_are_transient() {
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::TimedOut,
            ErrorKind::UnexpectedEof,
        ] {
            let e = std::io::Error::from(kind);
            assert_eq!(NetworkFault::of(&e), NetworkFault::Interrupted, "{kind:?}");
            assert!(NetworkFault::of(&e).is_transient());
        }
    }

    #[test]
    fn no_route_is_unreachable() {
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::AddrNotAvailable,
            ErrorKind::HostUnreachable,
            ErrorKind::NetworkUnreachable,
        ] {
            let e = std::io::Error::from(kind);
            assert_eq!(NetworkFault::of(&e), NetworkFault::Unreachable, "{kind:?}");
        }
    }

    #[test]
    fn a_certificate_wrapped_in_an_io_error_is_found() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = std::io::Error::new(ErrorKind::InvalidData, refused);
        assert_eq!(NetworkFault::of(&e), NetworkFault::UntrustedCertificate);
        // Other TLS failures say nothing about the certificate.
        let e = std::io::Error::new(ErrorKind::InvalidData, rustls::Error::HandshakeNotComplete);
        assert_eq!(NetworkFault::of(&e), NetworkFault::Interrupted);
    }

    #[test]
    fn a_message_naming_dns_or_certificates_decides_nothing() {
        let e = std::io::Error::other("dns error: certificate refused, connection refused");
        assert_eq!(NetworkFault::of(&e), NetworkFault::Interrupted);
    }
}
