//! An image made ready to be written to a registry blob by blob, without a daemon: blobs to
//! copy from a source registry, blobs made here, manifests an index points to, and the
//! manifest the tags will name. The push writes them in that order, so a tag only ever points
//! to something complete.

use std::path::PathBuf;

use super::client::{Manifest, RegistryClient};
use super::copy::Blob;

/// Where a blob made here comes from.
#[derive(Debug, Clone)]
pub enum UploadBody {
    File(PathBuf),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub blob: Blob,
    pub body: UploadBody,
}

pub struct PreparedImage {
    /// The registry and repository the copied blobs come from.
    pub source: RegistryClient,
    pub source_repository: String,
    /// Blobs to copy as they are (skipped when the destination has them).
    pub source_blobs: Vec<Blob>,
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
