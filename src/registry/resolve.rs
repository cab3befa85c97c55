//! Reading an image from a registry: its manifest (through an index to one platform when the
//! reference names an index), its config, and the blobs its layers are.

use serde_json::Value;

use super::client::{Manifest, RegistryClient, RegistryError};
use super::copy::Blob;

/// One platform's image, as the registry holds it.
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// The image manifest (never an index).
    pub manifest: Manifest,
    /// The index the reference named, when it named one.
    pub index: Option<Manifest>,
    pub config_digest: String,
    /// The config's bytes, exactly as stored.
    pub config: Vec<u8>,
    pub layers: Vec<Blob>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the registry has no manifest {0}")]
    NotFound(String),
    #[error("the index has no image for {0}; it has: {1}")]
    NoPlatform(String, String),
    #[error("the manifest is not usable: {0}")]
    Unusable(String),
}

pub fn is_index(media_type: &str, value: &Value) -> bool {
    media_type.contains("manifest.list")
        || media_type.contains("image.index")
        || value.get("manifests").is_some()
}

/// The image `reference` names in `repository`; an index resolves to `os/architecture`. A
/// reference by digest must match the bytes received.
pub async fn resolve(
    registry: &RegistryClient,
    repository: &str,
    reference: &str,
    platform: (&str, &str),
    on_retry: &(dyn Fn(&RegistryError, std::time::Duration) + Sync),
) -> Result<RemoteImage, ResolveError> {
    let first = manifest(registry, repository, reference, on_retry).await?;
    let value = json(&first)?;
    if is_index(&first.media_type, &value) {
        let digest = pick_platform(&value, platform)?;
        let chosen = manifest(registry, repository, &digest, on_retry).await?;
        image(registry, repository, chosen, Some(first), on_retry).await
    } else {
        image(registry, repository, first, None, on_retry).await
    }
}

/// An image manifest's config and layers, read from the registry.
pub async fn image(
    registry: &RegistryClient,
    repository: &str,
    manifest: Manifest,
    index: Option<Manifest>,
    on_retry: &(dyn Fn(&RegistryError, std::time::Duration) + Sync),
) -> Result<RemoteImage, ResolveError> {
    let value = json(&manifest)?;
    if is_index(&manifest.media_type, &value) {
        return Err(ResolveError::Unusable(
            "an index inside an index is not supported".into(),
        ));
    }
    let config_digest = value
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| ResolveError::Unusable("it names no config".into()))?
        .to_string();
    let layers = layers_of(&value)?;
    let config = registry
        .get_small_blob(repository, &config_digest, on_retry)
        .await?;
    Ok(RemoteImage {
        manifest,
        index,
        config_digest,
        config,
        layers,
    })
}

/// The layer blobs an image manifest lists.
pub fn layers_of(value: &Value) -> Result<Vec<Blob>, ResolveError> {
    value
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| ResolveError::Unusable("it lists no layers".into()))?
        .iter()
        .map(descriptor)
        .collect::<Option<Vec<Blob>>>()
        .ok_or_else(|| ResolveError::Unusable("a layer lacks its digest or size".into()))
}

/// A descriptor's digest and size.
pub fn descriptor(value: &Value) -> Option<Blob> {
    Some(Blob {
        digest: value.get("digest")?.as_str()?.to_string(),
        size: value.get("size")?.as_u64()?,
    })
}

/// The manifest at `reference` (tag or digest), checked against the digest when pinned.
pub async fn manifest(
    registry: &RegistryClient,
    repository: &str,
    reference: &str,
    on_retry: &(dyn Fn(&RegistryError, std::time::Duration) + Sync),
) -> Result<Manifest, ResolveError> {
    let manifest = registry
        .get_manifest(repository, reference, on_retry)
        .await?
        .ok_or_else(|| ResolveError::NotFound(format!("{repository}:{reference}")))?;
    if reference.starts_with("sha256:") && manifest.digest != reference {
        return Err(ResolveError::Unusable(format!(
            "asked for {reference}, the registry sent {}",
            manifest.digest
        )));
    }
    Ok(manifest)
}

/// One entry of an index: its descriptor, and its platform as `os/arch[/variant]` (`None` for
/// attestations and entries without a platform).
pub struct IndexEntry {
    pub descriptor: Value,
    pub digest: String,
    pub platform: Option<String>,
}

pub fn index_entries(index: &Value) -> Vec<IndexEntry> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|descriptor| {
            let digest = descriptor.get("digest")?.as_str()?.to_string();
            let platform = descriptor.get("platform").and_then(|p| {
                let os = p.get("os")?.as_str()?;
                let arch = p.get("architecture")?.as_str()?;
                if os == "unknown" {
                    return None;
                }
                Some(match p.get("variant").and_then(Value::as_str) {
                    Some(variant) => format!("{os}/{arch}/{variant}"),
                    None => format!("{os}/{arch}"),
                })
            });
            Some(IndexEntry {
                descriptor,
                digest,
                platform,
            })
        })
        .collect()
}

/// Whether `platform` (`os/arch[/variant]`) is one of `wanted`; a wanted entry without a
/// variant takes every variant.
pub fn platform_wanted(platform: &str, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        w == platform || (w.matches('/').count() == 1 && platform.starts_with(&format!("{w}/")))
    })
}

pub fn json(manifest: &Manifest) -> Result<Value, ResolveError> {
    serde_json::from_slice(&manifest.bytes)
        .map_err(|e| ResolveError::Unusable(format!("not JSON: {e}")))
}

/// The digest of the index entry for `os/architecture` (attestations and other platforms
/// skipped).
pub fn pick_platform(index: &Value, (os, arch): (&str, &str)) -> Result<String, ResolveError> {
    let entries = index
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let platform_of = |entry: &Value| {
        let p = entry.get("platform")?;
        Some((
            p.get("os")?.as_str()?.to_string(),
            p.get("architecture")?.as_str()?.to_string(),
        ))
    };
    entries
        .iter()
        .find(|e| platform_of(e).is_some_and(|(o, a)| o == os && a == arch))
        .and_then(|e| e.get("digest")?.as_str().map(str::to_string))
        .ok_or_else(|| {
            let have: Vec<String> = entries
                .iter()
                .filter_map(platform_of)
                .filter(|(o, _)| o != "unknown")
                .map(|(o, a)| format!("{o}/{a}"))
                .collect();
            ResolveError::NoPlatform(format!("{os}/{arch}"), have.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_entries_and_platform_filters() {
        let index = json!({"manifests": [
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}
        ]});
        let platforms: Vec<Option<String>> = index_entries(&index)
            .into_iter()
            .map(|e| e.platform)
            .collect();
        assert_eq!(
            platforms,
            [
                Some("linux/arm64/v8".into()),
                None,
                Some("linux/amd64".into())
            ]
        );
        let wanted = ["linux/arm64".to_string()];
        assert!(platform_wanted("linux/arm64/v8", &wanted));
        assert!(!platform_wanted("linux/amd64", &wanted));
        assert!(platform_wanted("linux/arm/v7", &["linux/arm/v7".into()]));
        assert!(!platform_wanted("linux/arm/v6", &["linux/arm/v7".into()]));
    }

    #[test]
    fn picks_the_daemon_platform_and_skips_attestations() {
        let index = json!({"manifests": [
            {"digest": "sha256:arm", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:amd", "platform": {"os": "linux", "architecture": "amd64"}}
        ]});
        assert_eq!(
            pick_platform(&index, ("linux", "amd64")).unwrap(),
            "sha256:amd"
        );
        assert_eq!(
            pick_platform(&index, ("linux", "arm64")).unwrap(),
            "sha256:arm"
        );
        let err = pick_platform(&index, ("linux", "s390x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/arm64, linux/amd64"), "{err}");
    }
}
