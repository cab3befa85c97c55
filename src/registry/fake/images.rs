//! Small images to seed the fake registry with: linux images of two gzipped tar layers and a
//! config, in Docker v2 or OCI format, and a two-platform index with an attestation entry as
//! buildx makes them. Built deterministically, so the same call gives the same digests.

use std::io::Write;

use serde_json::{json, Value};

use super::store::{sha256, Store};
use super::FakeRegistry;
use crate::oci::{Descriptor, Digest};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Docker,
    Oci,
}

impl ImageFormat {
    pub fn manifest_type(self) -> &'static str {
        match self {
            ImageFormat::Docker => DOCKER_MANIFEST,
            ImageFormat::Oci => OCI_MANIFEST,
        }
    }

    pub fn index_type(self) -> &'static str {
        match self {
            ImageFormat::Docker => DOCKER_LIST,
            ImageFormat::Oci => OCI_INDEX,
        }
    }

    fn config_type(self) -> &'static str {
        match self {
            ImageFormat::Docker => "application/vnd.docker.container.image.v1+json",
            ImageFormat::Oci => OCI_CONFIG,
        }
    }

    fn layer_type(self) -> &'static str {
        match self {
            ImageFormat::Docker => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            ImageFormat::Oci => "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }
}

/// An image manifest as seeded, with its parts.
#[derive(Debug, Clone)]
pub struct SeededImage {
    /// The manifest's digest.
    pub digest: String,
    pub media_type: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// (digest, size) of each layer, in order.
    pub layers: Vec<(String, u64)>,
}

impl SeededImage {
    /// The config and the layers, as a copy takes them.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let config = (self.config_digest.clone(), self.config.len() as u64);
        std::iter::once(config)
            .chain(self.layers.iter().cloned())
            .map(|(digest, size)| Descriptor {
                digest: Digest::parse(&digest).expect("the fake makes sha256 digests"),
                size,
            })
            .collect()
    }
}

/// An index of linux/amd64, linux/arm64/v8 and an attestation of the amd64 image (platform
/// unknown/unknown), in that order; its children are stored by digest only.
#[derive(Debug, Clone)]
pub struct SeededIndex {
    pub digest: String,
    pub media_type: String,
    pub index: Vec<u8>,
    pub amd64: SeededImage,
    pub arm64: SeededImage,
    pub attestation: SeededImage,
}

impl FakeRegistry {
    /// Seeds a linux image for `architecture` (two layers, a config) under `tag`.
    pub fn seed_image(
        &self,
        repository: &str,
        tag: &str,
        format: ImageFormat,
        architecture: &str,
    ) -> SeededImage {
        let mut store = self.store();
        let image = platform_image(&mut store, repository, format, architecture);
        let media_type = image.media_type.clone();
        store.put_manifest(repository, tag, &media_type, image.manifest.clone());
        image
    }

    /// Seeds a two-platform index with an attestation entry under `tag` (an OCI index or a
    /// Docker manifest list with `format`'s image manifests).
    pub fn seed_index(&self, repository: &str, tag: &str, format: ImageFormat) -> SeededIndex {
        let mut store = self.store();
        let amd64 = platform_image(&mut store, repository, format, "amd64");
        let arm64 = platform_image(&mut store, repository, format, "arm64");
        let attestation = attestation(&mut store, repository, &amd64.digest);
        let entry = |image: &SeededImage, platform: Value| {
            json!({"mediaType": image.media_type, "digest": image.digest,
                   "size": image.manifest.len(), "platform": platform})
        };
        let mut attestation_entry = entry(
            &attestation,
            json!({"architecture": "unknown", "os": "unknown"}),
        );
        attestation_entry["annotations"] = json!({
            "vnd.docker.reference.digest": amd64.digest,
            "vnd.docker.reference.type": "attestation-manifest"
        });
        let index = json!({
            "schemaVersion": 2,
            "mediaType": format.index_type(),
            "manifests": [
                entry(&amd64, json!({"architecture": "amd64", "os": "linux"})),
                entry(&arm64, json!({"architecture": "arm64", "os": "linux", "variant": "v8"})),
                attestation_entry
            ]
        });
        let bytes = serde_json::to_vec(&index).expect("serializes");
        let digest = store.put_manifest(repository, tag, format.index_type(), bytes.clone());
        SeededIndex {
            digest,
            media_type: format.index_type().to_string(),
            index: bytes,
            amd64,
            arm64,
            attestation,
        }
    }
}

/// Stores the layers, the config and the manifest (by digest) of a linux image.
fn platform_image(
    store: &mut Store,
    repository: &str,
    format: ImageFormat,
    architecture: &str,
) -> SeededImage {
    let tars = [
        layer_tar("etc/os-release", &format!("ID=fake\nARCH={architecture}\n")),
        layer_tar("app/run.sh", &format!("#!/bin/sh\necho {architecture}\n")),
    ];
    let layers = tars
        .iter()
        .map(|tar| {
            let compressed = gzip(tar);
            let size = compressed.len() as u64;
            (
                store.put_blob(repository, compressed),
                size,
                format.layer_type(),
            )
        })
        .collect();
    let mut config = json!({
        "architecture": architecture,
        "os": "linux",
        "created": "2025-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/app/run.sh"]},
        "rootfs": {"type": "layers", "diff_ids": tars.iter().map(|t| sha256(t)).collect::<Vec<_>>()},
        "history": [{"created_by": "base"}, {"created_by": "app"}]
    });
    if architecture == "arm64" {
        config["variant"] = json!("v8");
    }
    stored_image(
        store,
        repository,
        format,
        format.config_type(),
        config,
        layers,
    )
}

/// An in-toto attestation manifest about `subject`, as buildx attaches to an index.
fn attestation(store: &mut Store, repository: &str, subject: &str) -> SeededImage {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "fake", "digest": {"sha256": subject.trim_start_matches("sha256:")}}],
        "predicate": {}
    });
    let statement = serde_json::to_vec(&statement).expect("serializes");
    let size = statement.len() as u64;
    let config = json!({
        "architecture": "unknown",
        "os": "unknown",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&statement)]}
    });
    let layer = (store.put_blob(repository, statement), size, IN_TOTO);
    let format = ImageFormat::Oci;
    stored_image(store, repository, format, OCI_CONFIG, config, vec![layer])
}

/// Stores the config and a manifest of it and `layers` ((digest, size, media type), already
/// stored) by digest.
fn stored_image(
    store: &mut Store,
    repository: &str,
    format: ImageFormat,
    config_type: &str,
    config: Value,
    layers: Vec<(String, u64, &str)>,
) -> SeededImage {
    let config = serde_json::to_vec(&config).expect("serializes");
    let config_digest = store.put_blob(repository, config.clone());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_type(),
        "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|(digest, size, media_type)| json!({
            "mediaType": media_type, "digest": digest, "size": size
        })).collect::<Vec<_>>()
    });
    let manifest = serde_json::to_vec(&manifest).expect("serializes");
    let digest = sha256(&manifest);
    store.put_manifest(
        repository,
        &digest,
        format.manifest_type(),
        manifest.clone(),
    );
    SeededImage {
        digest,
        media_type: format.manifest_type().to_string(),
        manifest,
        config_digest,
        config,
        layers: layers.into_iter().map(|(d, s, _)| (d, s)).collect(),
    }
}

/// A tar of one file, with fixed metadata.
fn layer_tar(path: &str, content: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o755);
    header.set_mtime(1_700_000_000);
    header.set_size(content.len() as u64);
    builder
        .append_data(&mut header, path, content.as_bytes())
        .expect("writes to memory");
    builder.into_inner().expect("writes to memory")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writes to memory");
    encoder.finish().expect("writes to memory")
}
