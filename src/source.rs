//! The registry an image comes from (a base image, or an image to mirror): connecting to it,
//! and what to tell the user when it refuses or lacks the image.

use reqwest::Url;

use crate::error::Failure;
use crate::image::reference::ImageReference;
use crate::registry::client::{RegistryClient, RegistryError};
use crate::registry::resolve::ResolveError;

/// A client for the image's registry: HTTPS, or plain HTTP for a registry on this machine when
/// it does not speak TLS (as the Docker daemon allows for 127.0.0.0/8).
pub async fn connect(
    reference: &ImageReference,
    credentials: Option<(String, String)>,
    http: &reqwest::Client,
    input: &'static str,
) -> Result<RegistryClient, Failure> {
    let who = if credentials.is_some() {
        "the base-image-username credentials"
    } else {
        "anonymous access"
    };
    let client = |scheme: &str| {
        let base = Url::parse(&format!("{scheme}://{}/", reference.api_host()))
            .expect("a parsed reference's host makes a URL");
        RegistryClient::challenged(http.clone(), base, credentials.clone(), who)
    };
    let secure = client("https");
    let has_credentials = credentials.is_some();
    let fail = |e: RegistryError| failure(reference, has_credentials, input, e.into());
    match secure.ping().await {
        // A certificate problem is TLS spoken and refused: never a reason for plain HTTP.
        Err(RegistryError::Unreachable { reason, .. })
            if reason.to_lowercase().contains("certificate") =>
        {
            Err(Failure::new(
                "Untrusted registry certificate",
                format!(
                    "The registry of {reference} presented a certificate this runner does not \
                     trust: {reason}. If it is signed by a private CA, set SSL_CERT_FILE to a \
                     PEM file with that CA (for example in the job's env)."
                ),
            ))
        }
        Err(RegistryError::Unreachable { .. }) if reference.is_loopback() => {
            let plain = client("http");
            plain.ping().await.map_err(fail)?;
            Ok(plain)
        }
        Err(e) => Err(fail(e)),
        Ok(()) => Ok(secure),
    }
}

/// A failure to read `reference`, explained: which input to check, and how.
pub fn failure(
    reference: &ImageReference,
    has_credentials: bool,
    input: &'static str,
    e: ResolveError,
) -> Failure {
    let credentials_hint = if has_credentials {
        "Check base-image-username and base-image-password (for Docker Hub, an access token \
         with read access)."
    } else {
        "If the image is private, set base-image-username and base-image-password (with a \
         token from secrets)."
    };
    let what = if input == "base-image" {
        "Base image"
    } else {
        "Source image"
    };
    match e {
        ResolveError::Registry(RegistryError::Refused { .. })
        | ResolveError::Registry(RegistryError::Token(_)) => Failure::new(
            format!("{what} access denied"),
            format!("Cannot read {reference}: {e}. {credentials_hint}"),
        ),
        ResolveError::NotFound(_) => Failure::new(
            format!("{what} not found"),
            format!(
                "Cannot find {reference}: {e}. Check the name and tag in {input} (a private \
                 repository may also answer 'not found'). {credentials_hint}"
            ),
        ),
        e => Failure::new(
            format!("Cannot read the {}", what.to_lowercase()),
            format!("{reference}: {e}"),
        ),
    }
}

/// `reference` is an index with no image of the `wanted` platforms; `have` are its platforms.
pub fn no_platform(reference: &ImageReference, wanted: &[String], have: &[&str]) -> Failure {
    Failure::new(
        "No such platform",
        format!(
            "{reference} has no image for {}; it has {}. Change platforms.",
            wanted.join(", "),
            have.join(", ")
        ),
    )
}
