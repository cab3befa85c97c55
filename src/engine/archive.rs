//! An image archive as `docker load` reads it, holding only a new config and the one new layer:
//! the base's layers are already in the daemon (pulled by digest), so the archive need not carry
//! them. Loading this instead of `create` + `cp` + `commit` keeps the image exactly the one
//! written to the registry (no clock, no container id in the config).
//!
//! Each image store reads its own form. The classic store reads `docker save`'s layout, where
//! layers are uncompressed tars named by the manifest and a base layer it holds may be named
//! without being carried. The containerd store keeps images as manifests: it reads an OCI
//! layout whose manifest is the very one pushed (so the daemon's image id is the registry's
//! digest), and a blob its content store holds (the base's, pulled) may be left out.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::image::reference::ImageReference;
use crate::oci::{Descriptor, Manifest};

/// The patched image, as the archive needs it.
pub struct Loadable {
    /// `name:tag` in the daemon.
    pub name: String,
    pub config: Vec<u8>,
    /// The manifest the registry is given (the containerd store loads it as it is).
    pub manifest: Manifest,
    pub base_layers: usize,
    pub layer: Option<NewLayer>,
}

/// The layer the patch adds: its tar for the classic store, its compressed blob for containerd.
pub struct NewLayer {
    pub tar: PathBuf,
    pub compressed: Descriptor,
    pub gz: PathBuf,
}

/// Writes `image` at `path` in the form the daemon's store reads.
pub fn write_archive(path: &Path, image: &Loadable, containerd_store: bool) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(BufWriter::new(std::fs::File::create(path)?));
    if containerd_store {
        oci_layout(&mut builder, image)?;
    } else {
        docker_layout(&mut builder, image)?;
    }
    builder.into_inner()?.flush()
}

type Archive = tar::Builder<BufWriter<std::fs::File>>;

fn add(builder: &mut Archive, entry: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(bytes.len() as u64);
    builder.append_data(&mut header, entry, bytes)
}

fn docker_layout(builder: &mut Archive, image: &Loadable) -> std::io::Result<()> {
    let mut layers: Vec<String> = (0..image.base_layers)
        .map(|i| format!("base/{i}.tar"))
        .collect();
    if image.layer.is_some() {
        layers.push("layer.tar".into());
    }
    let manifest = json!([{ "Config": "config.json", "RepoTags": [image.name], "Layers": layers }]);
    add(builder, "manifest.json", &serde_json::to_vec(&manifest)?)?;
    add(builder, "config.json", &image.config)?;
    if let Some(layer) = &image.layer {
        builder.append_path_with_name(&layer.tar, "layer.tar")?;
    }
    Ok(())
}

fn oci_layout(builder: &mut Archive, image: &Loadable) -> std::io::Result<()> {
    let blob = |digest: &crate::oci::Digest| {
        format!(
            "blobs/sha256/{}",
            digest.as_str().trim_start_matches("sha256:")
        )
    };
    let manifest = &image.manifest;
    // containerd keeps names whole (`docker.io/library/app:1`), as the daemon looks them up.
    let (full_name, tag) = match ImageReference::parse(&image.name) {
        Ok(r) => (
            format!("{}:{}", r.name(), r.reference()),
            r.reference().to_string(),
        ),
        Err(_) => (image.name.clone(), String::new()),
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": manifest.media_type.as_str(),
            "digest": manifest.digest.as_str(),
            "size": manifest.bytes.len(),
            "annotations": {
                "io.containerd.image.name": full_name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    add(builder, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add(builder, "index.json", &serde_json::to_vec(&index)?)?;
    add(builder, &blob(&manifest.digest), &manifest.bytes)?;
    let config = Descriptor::of(&image.config);
    add(builder, &blob(&config.digest), &image.config)?;
    if let Some(layer) = &image.layer {
        builder.append_path_with_name(&layer.gz, blob(&layer.compressed.digest))?;
    }
    Ok(())
}
