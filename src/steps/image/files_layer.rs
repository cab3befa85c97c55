//! The files layer of a patch, packed on disk: a deterministic tar of the `files` lines (its
//! digest is the layer's diff id) and the same tar gzipped the same way every time (the blob the
//! registry gets).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::error::Failure;
use crate::oci::layer::{self, LayerEntry};
use crate::oci::{Descriptor, Digest};

/// Timestamps in the added layer: fixed, so the same files give the same layer whatever the
/// checkout's times.
const LAYER_MTIME: u64 = 0;

pub struct PackedLayer {
    pub diff_id: Digest,
    pub tar: PathBuf,
    pub compressed: Descriptor,
    pub gz: PathBuf,
}

/// Packs `files` (when there are any) into a temporary folder, which the caller keeps until the
/// push is done.
pub async fn pack(
    files: &[LayerEntry],
) -> anyhow::Result<(tempfile::TempDir, Option<PackedLayer>)> {
    let scratch = scratch_dir()?;
    if files.is_empty() {
        return Ok((scratch, None));
    }
    let entries = files.to_vec();
    let tar = scratch.path().join("layer.tar");
    let gz = scratch.path().join("layer.tar.gz");
    let (tar_path, gz_path) = (tar.clone(), gz.clone());
    let (plain, compressed) =
        tokio::task::spawn_blocking(move || -> std::io::Result<(Descriptor, Descriptor)> {
            let mut out = BufWriter::new(std::fs::File::create(&tar_path)?);
            let plain = layer::write(&entries, LAYER_MTIME, &mut out)?;
            out.flush()?;
            drop(out);
            Ok((plain, layer::compress(&tar_path, &gz_path)?))
        })
        .await?
        .map_err(|e| Failure::new("Cannot pack the files", format!("files: {e}")))?;
    Ok((
        scratch,
        Some(PackedLayer {
            diff_id: plain.digest,
            tar,
            compressed,
            gz,
        }),
    ))
}

/// Where the layer and the archive are written: the runner's temp folder when this process can
/// see it (a container action gets the host's path in RUNNER_TEMP, which it cannot), else the
/// system's; removed afterwards.
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("ship-to-ecr-");
        b
    };
    let runner_temp = std::env::var_os("RUNNER_TEMP")
        .map(PathBuf::from)
        .filter(|p| p.is_dir());
    let dir = match runner_temp {
        Some(root) => builder().tempdir_in(root),
        None => builder().tempdir(),
    };
    dir.map_err(|e| Failure::new("Cannot create a temporary folder", e.to_string()).into())
}
