//! The one image type every image step produces (a build, a local image, a patch, a mirror) and
//! the push consumes, and the report of what pushing it did. Steps hand each other these plain
//! values, never their own types.

use crate::engine::docker::LocalImage;
use crate::oci::{Digest, Manifest};
use crate::registry::copy::CopyReport;
use crate::registry::prepared::PreparedImage;

pub enum Artifact {
    /// An image in the daemon (a build, an image an earlier step made): the daemon pushes it.
    Daemon(LocalImage),
    /// An image written blob by blob (a patch, a mirror). `loaded` is the same image in the
    /// daemon when the docker engine also loaded it, so that later steps of the job can run it.
    Prepared {
        // Boxed: a prepared image holds a registry client and its manifests, far larger than
        // a daemon image's few fields.
        image: Box<PreparedImage>,
        loaded: Option<LocalImage>,
    },
    /// An image the destination repository already holds (a build reused because it was made
    /// from the same inputs): pushing it writes tags only, by manifest PUT.
    Stored(Manifest),
}

impl Artifact {
    /// How the log names the image: the daemon's image id, or the manifest's digest.
    pub fn id(&self) -> &str {
        match self {
            Artifact::Daemon(local) => &local.id,
            Artifact::Prepared { image, .. } => image.manifest.digest.as_str(),
            Artifact::Stored(manifest) => manifest.digest.as_str(),
        }
    }

    /// Whether `manifest`, found in `repository` (as `host/repo`), is this image. A prepared
    /// image's manifest digest is known before anything is written; a daemon image is recognised
    /// by its config digest (classic store), its manifest digest (containerd store) or the
    /// digests the daemon remembers pushing.
    pub fn is(&self, repository: &str, manifest: &Manifest) -> bool {
        match self {
            Artifact::Daemon(local) => local.is(
                repository,
                manifest.digest.as_str(),
                manifest.config_digest().as_ref().map(Digest::as_str),
            ),
            Artifact::Prepared { image, .. } => manifest.digest == image.manifest.digest,
            Artifact::Stored(stored) => manifest.digest == stored.digest,
        }
    }

    /// The image as the daemon has it, if it does: it takes the registry's name, as
    /// `docker build -t` would have named it.
    pub fn in_daemon(&self) -> Option<&LocalImage> {
        match self {
            Artifact::Daemon(local) => Some(local),
            Artifact::Prepared { loaded, .. } => loaded.as_ref(),
            Artifact::Stored(_) => None,
        }
    }

    /// Size in bytes (the daemon's figure, or the compressed layers of one platform).
    pub fn size(&self) -> u64 {
        match self {
            Artifact::Daemon(local) => u64::try_from(local.size).unwrap_or(0),
            Artifact::Prepared { image, .. } => image.size,
            Artifact::Stored(manifest) => manifest.image().map_or(0, |m| m.layers_size()),
        }
    }

    pub fn layers(&self) -> usize {
        match self {
            Artifact::Daemon(local) => local.layers,
            Artifact::Prepared { image, .. } => image.layers,
            Artifact::Stored(manifest) => manifest.image().map_or(0, |m| m.layers.len()),
        }
    }
}

/// What a push did, whoever moved the bytes.
#[derive(Debug, Clone)]
pub struct PushReport {
    /// The digest of the manifest the tags point to, as the registry holds it.
    pub digest: Digest,
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub layers_uploaded: usize,
    pub layers_present: usize,
    /// The source's blobs, copied registry to registry (patch and mirror).
    pub base_blobs: Option<CopyReport>,
    /// Moving tags left on a newer commit's image: this push is older than what they hold,
    /// and what runs it (the deploy) is skipped.
    pub superseded: Vec<String>,
}

impl PushReport {
    pub fn pushed(&self) -> bool {
        !self.written.is_empty()
    }
}
