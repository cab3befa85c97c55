//! The registry an image comes from (a base image, or an image to mirror): connecting to it,
//! walking what the reference names, and what to tell the user when it refuses or lacks the
//! image.

use reqwest::Url;

use super::patch::BaseImage;
use crate::error::{Failure, NetworkFault};
use crate::github::commands::Workflow;
use crate::image::reference::ImageReference;
use crate::oci::Platform;
use crate::registry::client::{RegistryClient, RegistryError};
use crate::registry::resolve::{self, ResolveError, Walk};

/// Which input named the image: the messages point the user at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceInput {
    BaseImage,
    Image,
}

impl SourceInput {
    fn name(self) -> &'static str {
        match self {
            SourceInput::BaseImage => "base-image",
            SourceInput::Image => "image",
        }
    }

    fn what(self) -> &'static str {
        match self {
            SourceInput::BaseImage => "Base image",
            SourceInput::Image => "Source image",
        }
    }
}

/// Connects to the image's registry and walks what `reference` names (see [`resolve::walk`]).
pub async fn walk(
    reference: &ImageReference,
    credentials: Option<(String, String)>,
    input: SourceInput,
    http: &reqwest::Client,
    wanted: &[Platform],
    keep_unplatformed: bool,
    workflow: &Workflow,
) -> Result<(RegistryClient, Walk), Failure> {
    let has_credentials = credentials.is_some();
    let registry = connect(reference, credentials, http, input).await?;
    let walked = resolve::walk(
        &registry,
        &reference.repository,
        reference.reference(),
        wanted,
        keep_unplatformed,
        &workflow.retry_notice(),
    )
    .await
    .map_err(|e| failure(reference, has_credentials, input, e))?;
    Ok((registry, walked))
}

/// The config of every base image a walk kept (`has_credentials`: whether base-image
/// credentials were given, for the message when the registry refuses).
pub async fn read_configs(
    registry: &RegistryClient,
    reference: &ImageReference,
    walk: &Walk,
    has_credentials: bool,
    workflow: &Workflow,
) -> Result<Vec<BaseImage>, Failure> {
    let notice = workflow.retry_notice();
    let mut bases = Vec::new();
    for kept in &walk.kept {
        let config = resolve::config(registry, &reference.repository, &kept.image, &notice)
            .await
            .map_err(|e| failure(reference, has_credentials, SourceInput::BaseImage, e))?;
        bases.push(BaseImage {
            manifest: kept.manifest.clone(),
            layers: kept.image.layers.clone(),
            config,
        });
    }
    Ok(bases)
}

/// A client for the image's registry: HTTPS, or plain HTTP for a registry on this machine when
/// it does not speak TLS (as the Docker daemon allows for 127.0.0.0/8).
pub(super) async fn connect(
    reference: &ImageReference,
    credentials: Option<(String, String)>,
    http: &reqwest::Client,
    input: SourceInput,
) -> Result<RegistryClient, Failure> {
    let who = if credentials.is_some() {
        "the base-image-username credentials"
    } else {
        "anonymous access"
    };
    let client = |scheme: &str| {
        // A parsed reference's host was checked by this same parser; should it ever refuse
        // one, that is a failure to report, not a reason to stop the process.
        let base = Url::parse(&format!("{scheme}://{}/", reference.api_host())).map_err(|e| {
            Failure::new(
                "Not a registry host",
                format!("{reference}: its registry is not a host a URL can name ({e})."),
            )
        })?;
        Ok::<_, Failure>(RegistryClient::challenged(
            http.clone(),
            base,
            credentials.clone(),
            who,
        ))
    };
    let secure = client("https")?;
    let has_credentials = credentials.is_some();
    let fail = |e: RegistryError| failure(reference, has_credentials, input, e.into());
    match secure.ping().await {
        // A certificate problem is TLS spoken and refused: never a reason for plain HTTP.
        Err(RegistryError::Unreachable {
            reason,
            fault: NetworkFault::UntrustedCertificate,
            ..
        }) => Err(Failure::new(
            "Untrusted registry certificate",
            format!(
                "The registry of {reference} presented a certificate this runner does not \
                     trust: {reason}. If it is signed by a private CA, set SSL_CERT_FILE to a \
                     PEM file with that CA (for example in the job's env)."
            ),
        )),
        Err(RegistryError::Unreachable { .. }) if reference.is_loopback() => {
            let plain = client("http")?;
            plain.ping().await.map_err(fail)?;
            Ok(plain)
        }
        Err(e) => Err(fail(e)),
        Ok(()) => Ok(secure),
    }
}

/// A failure to read `reference`, explained: which input to check, and how.
fn failure(
    reference: &ImageReference,
    has_credentials: bool,
    input: SourceInput,
    e: ResolveError,
) -> Failure {
    let credentials_hint = if has_credentials {
        "Check base-image-username and base-image-password (for Docker Hub, an access token \
         with read access)."
    } else {
        "If the image is private, set base-image-username and base-image-password (with a \
         token from secrets)."
    };
    let what = input.what();
    match e {
        ResolveError::Registry(RegistryError::Refused { .. })
        | ResolveError::Registry(RegistryError::Token(_)) => Failure::new(
            format!("{what} access denied"),
            format!("Cannot read {reference}: {e}. {credentials_hint}"),
        ),
        ResolveError::NotFound(_) => Failure::new(
            format!("{what} not found"),
            format!(
                "Cannot find {reference}: {e}. Check the name and tag in {} (a private \
                 repository may also answer 'not found'). {credentials_hint}",
                input.name()
            ),
        ),
        ResolveError::NoPlatform { wanted, have } => Failure::new(
            "No such platform",
            format!(
                "{reference} has no image for {}; it has {}. Change platforms.",
                crate::oci::platform::list(&wanted),
                crate::oci::platform::list(&have)
            ),
        ),
        e => Failure::new(
            format!("Cannot read the {}", what.to_lowercase()),
            format!("{reference}: {e}"),
        ),
    }
}
