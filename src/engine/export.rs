//! One image read out of the daemon through its export API (`docker save`), for the registry
//! writer: the config's exact bytes, and each layer gzip-compressed into a file of its own.
//!
//! Why not let the daemon push: it compresses one layer after another on its side of the
//! socket, and the export is the only other way out of the classic image store. Here layers
//! are compressed in parallel, each starting as soon as the archive has streamed it in, while
//! the next one is still arriving. The compression is deterministic (`oci::layer::compress`),
//! so the same layer gives the same blob on every run and every runner: a layer the registry
//! already has is not sent again, and a re-run does not move a tag.
//!
//! Both layouts of the archive are read: the legacy one (`<id>/layer.tar`, `<id>.json`, which
//! may link one layer to another's file) and the OCI layout of Docker 25+ (`blobs/sha256/…`);
//! `manifest.json` says which file is the config and which are the layers, in order.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use futures_util::{Stream, TryStreamExt};

use crate::oci::layer;
use crate::oci::Descriptor;

/// The image as the export gave it.
#[derive(Debug)]
pub struct Exported {
    /// The config, byte for byte: its digest is the classic store's image id.
    pub config: Vec<u8>,
    /// The compressed layers, bottom first.
    pub layers: Vec<ExportedLayer>,
    /// Bytes of the layers before compression.
    pub uncompressed: u64,
}

#[derive(Debug, Clone)]
pub struct ExportedLayer {
    pub path: PathBuf,
    pub blob: Descriptor,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read the image export: {0}")]
    Io(#[from] io::Error),
    #[error("the image export is not what the daemon documents: {0}")]
    Format(String),
}

/// Reads the export `archive` (the bytes of `GET /images/{name}/get`) into `dir`, compressing
/// its layers on `workers` threads; each compressed layer is also sent to `ready` as soon as it
/// is done, so that it can be uploaded while the rest still streams in. Runs on a blocking
/// thread: the tar reader and the compression are synchronous.
pub async fn read<E>(
    archive: impl Stream<Item = Result<bytes::Bytes, E>> + Send + Unpin + 'static,
    dir: &Path,
    workers: usize,
    ready: Ready,
) -> Result<Exported, ExportError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let reader = tokio_util::io::StreamReader::new(archive.map_err(io::Error::other));
    let reader = tokio_util::io::SyncIoBridge::new(reader);
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(reader, &dir, workers.max(1), &ready))
        .await
        .map_err(|e| ExportError::Io(io::Error::other(e)))?
}

/// One entry of `manifest.json` (the fields this reader needs).
#[derive(serde::Deserialize)]
struct SavedManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A compression job: the raw file of an archive entry, and where its gzip goes.
struct Job {
    raw: PathBuf,
    out: PathBuf,
}

type Results = Arc<Mutex<HashMap<PathBuf, io::Result<Descriptor>>>>;

/// Where each layer goes once compressed (a file may be a layer the manifest does not name in
/// the end: the receiver uploads it anyway, which is harmless).
pub type Ready = tokio::sync::mpsc::UnboundedSender<ExportedLayer>;

fn unpack(
    reader: impl Read,
    dir: &Path,
    workers: usize,
    ready: &Ready,
) -> Result<Exported, ExportError> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    let results: Results = Arc::default();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (queue, results) = (queue.clone(), results.clone());
            let ready = ready.clone();
            scope.spawn(move || compress_jobs(&queue, &results, &ready));
        }
        let read = stream_in(reader, dir, &jobs, &results);
        // Closing the queue lets the workers finish what they hold and stop.
        drop(jobs);
        read
    })
    .and_then(|(files, manifest)| assemble(files, manifest, &results))
}

fn compress_jobs(queue: &Mutex<mpsc::Receiver<Job>>, results: &Results, ready: &Ready) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let done = layer::compress(&job.raw, &job.out);
        // The raw tar is not needed once compressed: keep the disk use to about one copy.
        if let Ok(blob) = &done {
            let _ = std::fs::remove_file(&job.raw);
            // A receiver gone means the push stopped: the result below still completes.
            let _ = ready.send(ExportedLayer {
                path: job.out.clone(),
                blob: blob.clone(),
            });
        }
        if let Ok(mut results) = results.lock() {
            results.insert(job.raw, done);
        }
    }
}

/// What an archive path became here: a raw file (compressed later if it is a layer), and its
/// size.
type Files = HashMap<String, (PathBuf, u64)>;

/// Streams the archive's entries into files; every entry that is a tar (a layer) is queued for
/// compression at once. Returns the files by archive path and the manifest.
fn stream_in(
    reader: impl Read,
    dir: &Path,
    jobs: &mpsc::Sender<Job>,
    results: &Results,
) -> Result<(Files, SavedManifest), ExportError> {
    let mut archive = tar::Archive::new(reader);
    let mut files = Files::new();
    let mut links = Vec::new();
    let mut manifest = None;
    for (index, entry) in archive.entries()?.enumerate() {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name()? {
                    links.push((name, target.to_string_lossy().into_owned()));
                }
                continue;
            }
            _ => continue,
        }
        if name == "manifest.json" {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            let mut all: Vec<SavedManifest> = serde_json::from_slice(&bytes)
                .map_err(|e| ExportError::Format(format!("manifest.json: {e}")))?;
            if all.len() != 1 {
                return Err(ExportError::Format(format!(
                    "manifest.json names {} images, not one",
                    all.len()
                )));
            }
            manifest = all.pop();
            continue;
        }
        let raw = dir.join(format!("{index}.raw"));
        let mut file = io::BufWriter::new(std::fs::File::create(&raw)?);
        let size = io::copy(&mut entry, &mut file)?;
        file.into_inner().map_err(|e| e.into_error())?;
        if is_tar(&raw)? {
            queue(jobs, &raw, results)?;
        }
        files.insert(name, (raw, size));
    }
    // A link names another entry's file, relative to the link's own folder.
    for (name, target) in links {
        let resolved = resolve(&name, &target);
        if let Some(raw) = files.get(&resolved).cloned() {
            files.insert(name, raw);
        }
    }
    let manifest =
        manifest.ok_or_else(|| ExportError::Format("there is no manifest.json".into()))?;
    // Layers that did not look like a tar at once (an empty layer has no header) go now.
    for name in &manifest.layers {
        let (raw, _) = files
            .get(name)
            .ok_or_else(|| ExportError::Format(format!("the layer {name} is missing")))?;
        let queued = results.lock().map(|r| r.contains_key(raw)).unwrap_or(false);
        if !queued {
            if is_compressed(raw)? {
                return Err(ExportError::Format(format!(
                    "the layer {name} is already compressed (an export of the containerd image \
                     store, which the daemon pushes as it stores it)"
                )));
            }
            queue(jobs, raw, results)?;
        }
    }
    Ok((files, manifest))
}

/// Queues `raw` for compression once; a placeholder result marks it as taken.
fn queue(jobs: &mpsc::Sender<Job>, raw: &Path, results: &Results) -> Result<(), ExportError> {
    let mut taken = results
        .lock()
        .map_err(|_| ExportError::Format("a compression thread failed".into()))?;
    if taken.contains_key(raw) {
        return Ok(());
    }
    taken.insert(raw.to_path_buf(), Err(io::Error::other("not compressed")));
    drop(taken);
    jobs.send(Job {
        raw: raw.to_path_buf(),
        out: raw.with_extension("gz"),
    })
    .map_err(|_| ExportError::Format("the compression threads stopped".into()))
}

/// The config and the layers in order, once every compression has finished.
fn assemble(
    files: Files,
    manifest: SavedManifest,
    results: &Results,
) -> Result<Exported, ExportError> {
    let (config_file, _) = files
        .get(&manifest.config)
        .ok_or_else(|| ExportError::Format(format!("the config {} is missing", manifest.config)))?;
    let config = std::fs::read(config_file)?;
    let mut results = results
        .lock()
        .map_err(|_| ExportError::Format("a compression thread failed".into()))?;
    let mut layers = Vec::new();
    let mut uncompressed = 0;
    for name in &manifest.layers {
        let (raw, size) = &files[name];
        let blob = match results.get_mut(raw) {
            Some(Ok(blob)) => blob.clone(),
            Some(Err(e)) => {
                return Err(ExportError::Io(io::Error::new(
                    e.kind(),
                    format!("cannot compress {name}: {e}"),
                )))
            }
            None => return Err(ExportError::Format(format!("{name} was not compressed"))),
        };
        uncompressed += size;
        layers.push(ExportedLayer {
            path: raw.with_extension("gz"),
            blob,
        });
    }
    Ok(Exported {
        config,
        layers,
        uncompressed,
    })
}

/// Whether the file starts like a tar archive (`ustar` at byte 257 of the first header).
fn is_tar(path: &Path) -> io::Result<bool> {
    let mut header = [0u8; 512];
    let mut file = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < header.len() {
        let n = file.read(&mut header[filled..])?;
        if n == 0 {
            return Ok(false);
        }
        filled += n;
    }
    Ok(&header[257..262] == b"ustar")
}

/// Whether the file starts as gzip or zstd does.
fn is_compressed(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path)?;
    let n = file.read(&mut magic)?;
    Ok(magic[..n].starts_with(&[0x1f, 0x8b]) || magic[..n] == [0x28, 0xb5, 0x2f, 0xfd])
}

/// `target` of a link at `name`, as an archive path (`a/layer.tar` -> `../b/layer.tar` is
/// `b/layer.tar`).
fn resolve(name: &str, target: &str) -> String {
    let mut parts: Vec<&str> = match name.rsplit_once('/') {
        Some((folder, _)) => folder.split('/').collect(),
        None => Vec::new(),
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
