//! The build context served through the session, as the docker CLI serves it: BuildKit's
//! `FileSync.DiffCopy`, a stream of fsutil packets. The daemon calls it once per folder it
//! needs (`dir-name: context` or `dockerfile`, narrowed by `include-patterns`,
//! `exclude-patterns` and `followpaths`). We send one STAT per entry in fsutil's walk order
//! (each folder before what it holds, names compared byte by byte per path component), then
//! an empty STAT; the daemon asks for a file's bytes with REQ and the entry's index; we answer
//! DATA packets and an empty DATA; it ends with FIN, answered with FIN.
//!
//! Why our own: no crate serves it (bollard serves only `FileSend`, the daemon-to-client
//! direction, for a build's local output). Why at all: the containerd image store's builder
//! cannot read a tar sent in the `/build` body before Docker 27.5, and BuildKit keys a synced
//! folder by content, so a re-run on the same machine sends only the files that changed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bollard_buildkit_proto::fsutil::types::packet::PacketType;
use bollard_buildkit_proto::fsutil::types::{Packet, Stat};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSync;
use futures_util::Stream;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use crate::image::dockerignore::DockerIgnore;

/// The method the session says it serves.
pub const METHOD: &str = "/moby.filesync.v1.FileSync/DiffCopy";

/// Bytes per DATA packet: far below gRPC's 4 MiB message limit, few enough packets per file.
const CHUNK: usize = 128 * 1024;

/// Files sent at once (fsutil's sender runs as many).
const SENDERS: usize = 4;

/// One entry of a synced folder: its `/`-separated name there, and where it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry {
    pub name: String,
    pub path: PathBuf,
}

/// The folders a session serves, by the name the daemon asks for.
#[derive(Clone, Default)]
pub struct SyncedDirs {
    dirs: Arc<HashMap<String, Arc<Vec<SyncEntry>>>>,
    shared_key: String,
    sent: Arc<Sent>,
}

/// What the daemon asked for, over every call of a build.
#[derive(Default, Debug)]
struct Sent {
    files: AtomicU64,
    bytes: AtomicU64,
}

impl SyncedDirs {
    /// Adds a folder. `entries` must hold every folder above each of them; they are put in
    /// fsutil's walk order here, which BuildKit's receiver checks.
    pub fn with(
        self,
        dir_name: &str,
        entries: impl IntoIterator<Item = (String, PathBuf)>,
    ) -> Self {
        let mut entries: Vec<SyncEntry> = entries
            .into_iter()
            .map(|(name, path)| SyncEntry { name, path })
            .collect();
        entries.sort_by(|a, b| a.name.split('/').cmp(b.name.split('/')));
        let mut dirs = (*self.dirs).clone();
        dirs.insert(dir_name.to_string(), Arc::new(entries));
        Self {
            dirs: Arc::new(dirs),
            ..self
        }
    }

    /// Names the folders across builds (the session's shared key, which the docker CLI
    /// derives from the context's path): BuildKit keeps what it last received under it and asks
    /// only for files whose STAT changed since.
    pub fn shared_as(self, key: &str) -> Self {
        Self {
            shared_key: key.to_string(),
            ..self
        }
    }

    /// How many files, and bytes, the daemon asked for so far: with the same shared key it
    /// asks only for files whose STAT changed since the last build.
    pub fn sent(&self) -> (u64, u64) {
        (
            self.sent.files.load(Ordering::Relaxed),
            self.sent.bytes.load(Ordering::Relaxed),
        )
    }

    pub fn shared_key(&self) -> &str {
        &self.shared_key
    }
}

/// What the daemon asked for, from the call's metadata.
#[derive(Debug, Default)]
struct Asked {
    dir_name: String,
    includes: Vec<String>,
    excludes: Vec<String>,
    follow: Vec<String>,
}

impl Asked {
    fn read(metadata: &MetadataMap) -> Self {
        Self {
            dir_name: values(metadata, "dir-name")
                .into_iter()
                .next()
                .unwrap_or_default(),
            includes: values(metadata, "include-patterns"),
            excludes: values(metadata, "exclude-patterns"),
            follow: values(metadata, "followpaths"),
        }
    }
}

/// A header's values; BuildKit URL-escapes them (marked by `<key>-encoded`) when any is not
/// ASCII.
fn values(metadata: &MetadataMap, key: &str) -> Vec<String> {
    let encoded = metadata
        .get(format!("{key}-encoded").as_str())
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "t" | "true"));
    metadata
        .get_all(key)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            if encoded {
                let spaced = v.replace('+', " ");
                percent_encoding::percent_decode_str(&spaced)
                    .decode_utf8_lossy()
                    .into_owned()
            } else {
                v.to_string()
            }
        })
        .collect()
}

/// The entries the daemon asked for, in order: those its include patterns and follow paths
/// name (all when it names none), less what its exclude patterns leave out (`.dockerignore`
/// rules), with every folder above a kept entry kept too.
fn select(entries: &[SyncEntry], asked: &Asked) -> Result<Vec<SyncEntry>, String> {
    let wanted: Vec<String> = asked
        .includes
        .iter()
        .chain(&asked.follow)
        .cloned()
        .collect();
    let includes = (!wanted.is_empty())
        .then(|| DockerIgnore::parse(&wanted.join("\n")))
        .transpose()?;
    let excludes = (!asked.excludes.is_empty())
        .then(|| DockerIgnore::parse(&asked.excludes.join("\n")))
        .transpose()?;
    let mut kept: HashSet<&str> = HashSet::new();
    for entry in entries {
        let name = entry.name.as_str();
        // For include rules, "excludes" reads "a rule matches": the name or a folder above it.
        let included = includes.as_ref().is_none_or(|i| i.excludes(name));
        let excluded = excludes.as_ref().is_some_and(|e| e.excludes(name));
        if included && !excluded {
            kept.insert(name);
            let mut parent = name;
            while let Some((up, _)) = parent.rsplit_once('/') {
                kept.insert(up);
                parent = up;
            }
        }
    }
    Ok(entries
        .iter()
        .filter(|e| kept.contains(e.name.as_str()))
        .cloned()
        .collect())
}

/// Go's `os.FileMode` bits, which fsutil puts in a STAT, from a Unix mode.
fn go_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let unix = meta.permissions().mode();
    let kind = meta.file_type();
    let mut mode = unix & 0o777;
    if unix & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if unix & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if unix & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    if kind.is_dir() {
        mode |= 1 << 31;
    } else if kind.is_symlink() {
        mode |= 1 << 27;
    } else if kind.is_fifo() {
        mode |= 1 << 25;
    } else if !kind.is_file() {
        // Sockets and devices: a context carries neither (fsutil drops a socket's bit too).
        return None;
    }
    Some(mode)
}

/// A file the daemon may ask for: where it is, and which file it was when its STAT was sent.
#[derive(Debug, Clone)]
struct Sendable {
    path: PathBuf,
    /// Device and inode: what is opened later must be the file that was listed, never what a
    /// link put in its place since.
    identity: (u64, u64),
}

/// An entry's STAT, and the file when the daemon may ask for its bytes. Owners are 0, as the
/// docker CLI sends them: the runner's user means nothing in the image.
fn stat(entry: &SyncEntry) -> std::io::Result<Option<(Stat, Option<Sendable>)>> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(&entry.path)?;
    let Some(mode) = go_mode(&meta) else {
        return Ok(None);
    };
    let kind = meta.file_type();
    let linkname = if kind.is_symlink() {
        std::fs::read_link(&entry.path)?
            .to_string_lossy()
            .into_owned()
    } else {
        String::new()
    };
    let mod_time = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let stat = Stat {
        path: entry.name.clone(),
        mode,
        uid: 0,
        gid: 0,
        size: if kind.is_dir() { 0 } else { meta.len() as i64 },
        mod_time,
        linkname,
        ..Stat::default()
    };
    let sendable = kind.is_file().then(|| Sendable {
        path: entry.path.clone(),
        identity: (meta.dev(), meta.ino()),
    });
    Ok(Some((stat, sendable)))
}

type Out = mpsc::Sender<Result<Packet, Status>>;

fn packet(kind: PacketType) -> Packet {
    Packet {
        r#type: kind as i32,
        ..Packet::default()
    }
}

/// One DiffCopy: the STATs, then the files the receiver asks for, until its FIN.
async fn exchange(
    entries: Vec<SyncEntry>,
    incoming: Streaming<Packet>,
    out: &Out,
    sent: Arc<Sent>,
) -> Result<(), String> {
    let stats = tokio::task::spawn_blocking(move || {
        let mut stats = Vec::with_capacity(entries.len());
        for entry in &entries {
            let stat = stat(entry).map_err(|e| format!("{}: {e}", entry.path.display()))?;
            stats.extend(stat);
        }
        Ok::<_, String>(stats)
    })
    .await
    .map_err(|e| e.to_string())??;
    // The receiver's id for an entry is its index among the STATs.
    let files: HashMap<u32, Sendable> = stats
        .iter()
        .enumerate()
        .filter_map(|(i, (_, path))| Some((u32::try_from(i).ok()?, path.clone()?)))
        .collect();
    let listed = async {
        for (stat, _) in stats {
            let packet = Packet {
                stat: Some(stat),
                ..packet(PacketType::PacketStat)
            };
            out.send(Ok(packet)).await.map_err(|_| gone())?;
        }
        out.send(Ok(packet(PacketType::PacketStat)))
            .await
            .map_err(|_| gone())
    };
    // Requests may come while STATs are still being sent.
    tokio::try_join!(listed, answer(files, incoming, out, sent)).map(|_| ())
}

fn gone() -> String {
    "the daemon stopped reading the build context".to_string()
}

/// Answers REQs until the receiver's FIN.
async fn answer(
    mut files: HashMap<u32, Sendable>,
    mut incoming: Streaming<Packet>,
    out: &Out,
    sent: Arc<Sent>,
) -> Result<(), String> {
    let permits = Arc::new(Semaphore::new(SENDERS));
    let mut sending: JoinSet<Result<(), String>> = JoinSet::new();
    loop {
        tokio::select! {
            Some(sent) = sending.join_next(), if !sending.is_empty() => {
                sent.map_err(|e| e.to_string())??;
            }
            received = incoming.message() => {
                let Some(p) = received.map_err(|e| e.message().to_string())? else {
                    return Ok(());
                };
                match PacketType::try_from(p.r#type) {
                    Ok(PacketType::PacketReq) => {
                        let file = files
                            .remove(&p.id)
                            .ok_or_else(|| format!("the daemon asked for an unknown file id {}", p.id))?;
                        let permit = permits.clone().acquire_owned().await.map_err(|e| e.to_string())?;
                        let (out, sent) = (out.clone(), sent.clone());
                        sending.spawn(async move {
                            let result = send_file(p.id, file, &out, &sent).await;
                            drop(permit);
                            result
                        });
                    }
                    Ok(PacketType::PacketFin) => {
                        while let Some(sent) = sending.join_next().await {
                            sent.map_err(|e| e.to_string())??;
                        }
                        out.send(Ok(packet(PacketType::PacketFin))).await.map_err(|_| gone())?;
                        return Ok(());
                    }
                    Ok(PacketType::PacketErr) => {
                        return Err(format!(
                            "the daemon failed to receive the context: {}",
                            String::from_utf8_lossy(&p.data)
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A file's bytes in DATA packets, then an empty DATA.
async fn send_file(id: u32, sendable: Sendable, out: &Out, sent: &Sent) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = &sendable.path;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = tokio::fs::File::open(path).await.map_err(failed)?;
    let opened = file.metadata().await.map_err(failed)?;
    if (opened.dev(), opened.ino()) != sendable.identity {
        return Err(format!(
            "{}: replaced while the build read the context",
            path.display()
        ));
    }
    loop {
        let mut data = vec![0u8; CHUNK];
        let read = file.read(&mut data).await.map_err(failed)?;
        if read == 0 {
            break;
        }
        data.truncate(read);
        sent.bytes.fetch_add(read as u64, Ordering::Relaxed);
        let packet = Packet {
            id,
            data,
            ..packet(PacketType::PacketData)
        };
        out.send(Ok(packet)).await.map_err(|_| gone())?;
    }
    sent.files.fetch_add(1, Ordering::Relaxed);
    let end = Packet {
        id,
        ..packet(PacketType::PacketData)
    };
    out.send(Ok(end)).await.map_err(|_| gone())
}

type PacketStream = Pin<Box<dyn Stream<Item = Result<Packet, Status>> + Send>>;

#[tonic::async_trait]
impl FileSync for SyncedDirs {
    type DiffCopyStream = PacketStream;

    async fn diff_copy(
        &self,
        request: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        let asked = Asked::read(request.metadata());
        let entries = self.dirs.get(&asked.dir_name).ok_or_else(|| {
            Status::not_found(format!("no access allowed to dir {:?}", asked.dir_name))
        })?;
        let selected = select(entries, &asked).map_err(Status::invalid_argument)?;
        let (tx, rx) = mpsc::channel(16);
        let incoming = request.into_inner();
        let sent = self.sent.clone();
        tokio::spawn(async move {
            if let Err(message) = exchange(selected, incoming, &tx, sent).await {
                let error = Packet {
                    data: message.clone().into_bytes(),
                    ..packet(PacketType::PacketErr)
                };
                let _ = tx.send(Ok(error)).await;
                let _ = tx.send(Err(Status::aborted(message))).await;
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    type TarStreamStream = PacketStream;

    async fn tar_stream(
        &self,
        _: Request<Streaming<Packet>>,
    ) -> Result<Response<PacketStream>, Status> {
        Err(Status::unimplemented("tar_stream"))
    }
}

#[cfg(test)]
#[path = "filesync_tests.rs"]
mod tests;
