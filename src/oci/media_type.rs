//! The media types of manifests, configs and layers, Docker's and OCI's, as one enum: code asks
//! `is_index()` or `is_oci()` instead of matching parts of strings.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    DockerManifest,
    DockerManifestList,
    DockerConfig,
    DockerLayer,
    OciManifest,
    OciIndex,
    OciConfig,
    OciLayer,
    /// Anything else, kept as sent (a registry's generic type, an artifact's own type).
    Other(String),
}

const NAMED: [(MediaType, &str); 8] = [
    (
        MediaType::DockerManifest,
        "application/vnd.docker.distribution.manifest.v2+json",
    ),
    (
        MediaType::DockerManifestList,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ),
    (
        MediaType::DockerConfig,
        "application/vnd.docker.container.image.v1+json",
    ),
    (
        MediaType::DockerLayer,
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
    (
        MediaType::OciManifest,
        "application/vnd.oci.image.manifest.v1+json",
    ),
    (
        MediaType::OciIndex,
        "application/vnd.oci.image.index.v1+json",
    ),
    (
        MediaType::OciConfig,
        "application/vnd.oci.image.config.v1+json",
    ),
    (
        MediaType::OciLayer,
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
];

/// Every manifest type a registry may hold, for `Accept`: a registry answers 404 for a type not
/// asked for.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json";

impl MediaType {
    pub fn parse(text: &str) -> Self {
        NAMED
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(kind, _)| kind.clone())
            .unwrap_or_else(|| MediaType::Other(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Other(text) => text,
            known => NAMED
                .iter()
                .find(|(kind, _)| kind == known)
                .map(|(_, name)| *name)
                .unwrap_or_default(),
        }
    }

    /// A list of manifests (Docker's manifest list, OCI's index).
    pub fn is_index(&self) -> bool {
        matches!(self, MediaType::DockerManifestList | MediaType::OciIndex)
    }

    /// One of OCI's types (as opposed to Docker's v2 schema).
    pub fn is_oci(&self) -> bool {
        match self {
            MediaType::OciManifest
            | MediaType::OciIndex
            | MediaType::OciConfig
            | MediaType::OciLayer => true,
            MediaType::Other(text) => text.starts_with("application/vnd.oci."),
            _ => false,
        }
    }

    /// The config and gzipped-layer types that go with this manifest type's family.
    pub fn config_and_layer(&self) -> (MediaType, MediaType) {
        if self.is_oci() {
            (MediaType::OciConfig, MediaType::OciLayer)
        } else {
            (MediaType::DockerConfig, MediaType::DockerLayer)
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_type_round_trips() {
        for (kind, name) in NAMED {
            assert_eq!(MediaType::parse(name), kind);
            assert_eq!(kind.as_str(), name);
        }
        let other = MediaType::parse("application/json");
        assert_eq!(other, MediaType::Other("application/json".into()));
        assert_eq!(other.as_str(), "application/json");
    }

    #[test]
    fn families_and_indexes() {
        assert!(MediaType::OciIndex.is_index() && MediaType::DockerManifestList.is_index());
        assert!(!MediaType::OciManifest.is_index());
        assert!(MediaType::OciManifest.is_oci() && !MediaType::DockerManifest.is_oci());
        assert!(MediaType::parse("application/vnd.oci.artifact.manifest.v1+json").is_oci());
        assert_eq!(
            MediaType::DockerManifest.config_and_layer(),
            (MediaType::DockerConfig, MediaType::DockerLayer)
        );
    }
}
