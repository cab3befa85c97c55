//! Reading an image from a registry: the manifest a reference names, an index walked to the
//! platforms wanted, and each image's config. Patch and mirror read their sources through the
//! one [`walk`].

use super::bounded::INDEX_ENTRIES_LIMIT;
use super::client::{RegistryClient, RegistryError};
use crate::oci::{Digest, ImageManifest, Index, IndexEntry, Manifest, Parsed, Platform, Unusable};

pub type OnRetry<'a> = &'a (dyn Fn(&RegistryError, std::time::Duration) + Sync);

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the registry has no manifest {0}")]
    NotFound(String),
    #[error("the index has no image for {}; it has: {}", crate::oci::platform::list(.wanted), crate::oci::platform::list(.have))]
    NoPlatform {
        wanted: Vec<Platform>,
        have: Vec<Platform>,
    },
    #[error(transparent)]
    Unusable(#[from] Unusable),
}

/// What a reference names, walked: the top manifest, the index's entries when it is one, and
/// the manifests kept, fetched.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The manifest the reference names: an image, or an index.
    pub top: Manifest,
    /// Every entry of the index, kept or not (`None` when `top` is an image).
    pub index: Option<Index>,
    /// The manifests kept, in the index's order (`top` alone when it is an image).
    pub kept: Vec<Kept>,
}

#[derive(Debug, Clone)]
pub struct Kept {
    /// The index entry that named it (`None` for a top-level image).
    pub entry: Option<IndexEntry>,
    pub manifest: Manifest,
    pub image: ImageManifest,
}

impl Kept {
    pub fn platform(&self) -> Option<&Platform> {
        self.entry.as_ref().and_then(|e| e.platform.as_ref())
    }
}

impl Walk {
    /// Whether the index had entries the walk did not keep.
    pub fn filtered(&self) -> bool {
        self.index
            .as_ref()
            .is_some_and(|i| self.kept.len() < i.entries.len())
    }

    /// The first kept image with a platform (the one a summary describes).
    pub fn first_image(&self) -> Option<&Kept> {
        self.kept
            .iter()
            .find(|k| k.entry.is_none() || k.platform().is_some())
    }
}

/// The manifest `reference` names and, for an index, the entries of the `wanted` platforms
/// (every platform when empty; platform-less entries such as attestations too when
/// `keep_unplatformed`). An index of none of the wanted platforms is [`ResolveError::NoPlatform`];
/// a top-level image is kept whatever its platform (the caller decides what that means).
pub async fn walk(
    registry: &RegistryClient,
    repository: &str,
    reference: &str,
    wanted: &[Platform],
    keep_unplatformed: bool,
    on_retry: OnRetry<'_>,
) -> Result<Walk, ResolveError> {
    let top = manifest(registry, repository, reference, on_retry).await?;
    let index = match top.parse()? {
        Parsed::Image(image) => {
            let kept = vec![Kept {
                entry: None,
                manifest: top.clone(),
                image,
            }];
            return Ok(Walk {
                top,
                index: None,
                kept,
            });
        }
        Parsed::Index(index) => index,
    };
    let wanted_entries: Vec<&IndexEntry> = index
        .entries
        .iter()
        .filter(|entry| entry.is_kept(wanted, keep_unplatformed))
        .collect();
    // Each entry is a request: an index that lists thousands is no image's.
    if wanted_entries.len() > INDEX_ENTRIES_LIMIT {
        return Err(Unusable(format!(
            "the index {reference} lists {} manifests to read; at most {INDEX_ENTRIES_LIMIT} are \
             (an index is a few platforms and their attestations)",
            wanted_entries.len()
        ))
        .into());
    }
    let mut kept = Vec::new();
    for entry in wanted_entries {
        let child = manifest(registry, repository, entry.digest.as_str(), on_retry).await?;
        kept.push(Kept {
            entry: Some(entry.clone()),
            image: child.image()?,
            manifest: child,
        });
    }
    if !kept.iter().any(|k| k.platform().is_some()) {
        return Err(ResolveError::NoPlatform {
            wanted: wanted.to_vec(),
            have: index.platforms(),
        });
    }
    Ok(Walk {
        top,
        index: Some(index),
        kept,
    })
}

/// An image's config, read whole: no larger than its descriptor says, checked against it.
pub async fn config(
    registry: &RegistryClient,
    repository: &str,
    image: &ImageManifest,
    on_retry: OnRetry<'_>,
) -> Result<Vec<u8>, ResolveError> {
    Ok(registry
        .get_config(repository, &image.config, on_retry)
        .await?)
}

/// The manifest at `reference` (tag or digest), checked against the digest when pinned.
pub async fn manifest(
    registry: &RegistryClient,
    repository: &str,
    reference: &str,
    on_retry: OnRetry<'_>,
) -> Result<Manifest, ResolveError> {
    let manifest = registry
        .get_manifest(repository, reference, on_retry)
        .await?
        .ok_or_else(|| ResolveError::NotFound(format!("{repository}:{reference}")))?;
    if let Ok(pinned) = Digest::parse(reference) {
        if manifest.digest != pinned {
            return Err(Unusable(format!(
                "asked for {reference}, the registry sent {}",
                manifest.digest
            ))
            .into());
        }
    }
    Ok(manifest)
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
