//! An image made ready to be written to a registry blob by blob, without a daemon: blobs to
//! copy from a source registry, blobs made here, manifests an index points to, and the
//! manifest the tags will name. [`super::write`] writes them in that order, so a tag only ever
//! points to something complete.

use std::path::PathBuf;

use super::client::RegistryClient;
use crate::oci::{Descriptor, Manifest};

/// Where a blob made here comes from.
#[derive(Debug, Clone)]
pub enum UploadBody {
    File(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub blob: Descriptor,
    pub body: UploadBody,
}

/// The registry and repository an image's existing blobs are copied from.
pub struct Source {
    pub registry: RegistryClient,
    pub repository: String,
}

pub struct PreparedImage {
    /// Where `source_blobs` are copied from; `None` for an image made wholly here (one read
    /// out of the daemon).
    pub source: Option<Source>,
    /// Blobs to copy as they are (skipped when the destination has them).
    pub source_blobs: Vec<Descriptor>,
    /// Blobs made here (a new layer, new configs).
    pub uploads: Vec<Upload>,
    /// Manifests the top manifest (an index) points to, written by digest first.
    pub children: Vec<Manifest>,
    /// The manifest the tags name: an image manifest, or an index.
    pub manifest: Manifest,
    /// Total compressed size of the layers, and their count (of one platform's image).
    pub size: u64,
    pub layers: usize,
    /// Keeps files the uploads read until the push is done.
    pub scratch: Option<tempfile::TempDir>,
}
