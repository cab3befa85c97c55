//! The layer a patch adds: the `files` lines turned into one tar, the same bytes for the same
//! inputs (entries sorted by path, fixed timestamps, numeric owners, no user or group names).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::gzip::GzipWriter;
use super::manifest::Descriptor;

/// One `SRC => DEST` line of the `files` input, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// 1-based line number in the input, for messages.
    pub line: usize,
    /// The source in the workspace (a file or a folder).
    pub source: PathBuf,
    /// Where it lands in the image: absolute, normalised, without a trailing `/`.
    pub dest: String,
    pub mode: Option<u32>,
    pub owner: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File { source: PathBuf, size: u64 },
    Folder,
    Symlink { target: PathBuf },
}

/// One tar entry of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Path in the image, relative to `/`.
    pub path: PathBuf,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The `files` line it comes from.
    pub line: usize,
}

/// A `files` line that cannot be packed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub line: usize,
    pub message: String,
}

/// Every entry the layer will hold, sorted by path (parents before children). Folders are
/// walked; links inside them are kept as links. Fails on special files and on two lines that
/// write the same path.
pub fn entries(specs: &[FileSpec]) -> Result<Vec<LayerEntry>, EntryError> {
    let mut all: BTreeMap<PathBuf, LayerEntry> = BTreeMap::new();
    for spec in specs {
        let dest = PathBuf::from(spec.dest.trim_start_matches('/'));
        let mut found = Vec::new();
        walk(spec, &spec.source, dest, &mut found)?;
        for entry in found {
            if let Some(other) = all.get(&entry.path) {
                return Err(EntryError {
                    line: spec.line,
                    message: format!(
                        "writes /{}, which line {} writes too",
                        entry.path.display(),
                        other.line
                    ),
                });
            }
            all.insert(entry.path.clone(), entry);
        }
    }
    Ok(all.into_values().collect())
}

fn walk(
    spec: &FileSpec,
    source: &Path,
    dest: PathBuf,
    found: &mut Vec<LayerEntry>,
) -> Result<(), EntryError> {
    let error = |message: String| EntryError {
        line: spec.line,
        message,
    };
    // The line's own source is followed (it was checked to stay in the workspace); links
    // below it are packed as links, as `COPY` does.
    let meta = if found.is_empty() {
        std::fs::metadata(source)
    } else {
        std::fs::symlink_metadata(source)
    }
    .map_err(|e| error(format!("cannot read {}: {e}", source.display())))?;
    let (uid, gid) = spec.owner.unwrap_or((0, 0));
    let kind = if meta.is_symlink() {
        let target = std::fs::read_link(source)
            .map_err(|e| error(format!("cannot read link {}: {e}", source.display())))?;
        EntryKind::Symlink { target }
    } else if meta.is_dir() {
        EntryKind::Folder
    } else if meta.is_file() {
        EntryKind::File {
            source: source.to_path_buf(),
            size: meta.len(),
        }
    } else {
        return Err(error(format!(
            "{} is neither a file, a folder nor a link",
            source.display()
        )));
    };
    let mode = match (&kind, spec.mode) {
        (EntryKind::Symlink { .. }, _) => 0o777,
        (EntryKind::Folder, Some(mode)) => searchable(mode),
        (EntryKind::Folder, None) => 0o755,
        (EntryKind::File { .. }, Some(mode)) => mode,
        // Like git: only the executable bit of the checkout counts, not the runner's umask.
        (EntryKind::File { .. }, None) if meta.permissions().mode() & 0o111 != 0 => 0o755,
        (EntryKind::File { .. }, None) => 0o644,
    };
    let is_folder = kind == EntryKind::Folder;
    found.push(LayerEntry {
        path: dest.clone(),
        kind,
        mode,
        uid,
        gid,
        line: spec.line,
    });
    if is_folder {
        let mut children: Vec<_> = std::fs::read_dir(source)
            .map_err(|e| error(format!("cannot list {}: {e}", source.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| error(format!("cannot list {}: {e}", source.display())))?;
        children.sort_by_key(|c| c.file_name());
        for child in children {
            walk(spec, &child.path(), dest.join(child.file_name()), found)?;
        }
    }
    Ok(())
}

/// A folder's mode from a file mode: whoever may read may also enter (`chmod X` for folders).
fn searchable(mode: u32) -> u32 {
    mode | ((mode & 0o444) >> 2)
}

/// Writes the layer tar of `entries` with every timestamp at `mtime` (seconds since 1970), and
/// returns the tar's descriptor: its digest is the layer's diff id.
pub fn write(entries: &[LayerEntry], mtime: u64, out: impl Write) -> io::Result<Descriptor> {
    let mut builder = tar::Builder::new(Hashing::new(out));
    builder.mode(tar::HeaderMode::Deterministic);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(mtime);
        match &entry.kind {
            EntryKind::File { source, size } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                let file = std::fs::File::open(source)?;
                // A file that changed size since it was listed would corrupt the tar.
                let current = file.metadata()?.len();
                if current != *size {
                    return Err(io::Error::other(format!(
                        "{} changed while packing ({size} bytes, now {current})",
                        source.display()
                    )));
                }
                builder.append_data(&mut header, &entry.path, file)?;
            }
            EntryKind::Folder => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, &entry.path, io::empty())?;
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &entry.path, target)?;
            }
        }
    }
    let hashing = builder.into_inner()?;
    Ok(hashing.finish())
}

/// Compresses the layer tar at `tar` into `out` with [`super::gzip`], the same bytes for the
/// same tar; returns the compressed blob's descriptor.
pub fn compress(tar: &Path, out: &Path) -> io::Result<Descriptor> {
    let mut input = std::fs::File::open(tar)?;
    let file = io::BufWriter::new(std::fs::File::create(out)?);
    let mut encoder = GzipWriter::new(Hashing::new(file))?;
    io::copy(&mut input, &mut encoder)?;
    let mut hashing = encoder.finish()?;
    hashing.flush()?;
    Ok(hashing.finish())
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self) -> Descriptor {
        Descriptor {
            digest: Digest::finish(self.hasher),
            size: self.size,
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(line: usize, source: &Path, dest: &str) -> FileSpec {
        FileSpec {
            line,
            source: source.to_path_buf(),
            dest: dest.into(),
            mode: None,
            owner: None,
        }
    }

    #[test]
    fn files_and_folders_with_modes_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::write(ws.join("a.json"), "{}").unwrap();
        std::fs::create_dir_all(ws.join("conf/sub")).unwrap();
        std::fs::write(ws.join("conf/sub/x"), "x").unwrap();
        std::fs::write(ws.join("conf/run.sh"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(
            ws.join("conf/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/x", ws.join("conf/link")).unwrap();
        let mut a = spec(1, &ws.join("a.json"), "/etc/app/a.json");
        a.mode = Some(0o640);
        a.owner = Some((1000, 1001));
        let mut conf = spec(2, &ws.join("conf"), "/opt/conf");
        conf.mode = Some(0o640);
        let found = entries(&[conf, a]).unwrap();
        let shown: Vec<(String, u32, u64)> = found
            .iter()
            .map(|e| (e.path.display().to_string(), e.mode, e.uid))
            .collect();
        assert_eq!(
            shown,
            [
                ("etc/app/a.json".to_string(), 0o640, 1000),
                ("opt/conf".to_string(), 0o750, 0),
                ("opt/conf/link".to_string(), 0o777, 0),
                ("opt/conf/run.sh".to_string(), 0o640, 0),
                ("opt/conf/sub".to_string(), 0o750, 0),
                ("opt/conf/sub/x".to_string(), 0o640, 0),
            ]
        );
        assert_eq!(
            found[2].kind,
            EntryKind::Symlink {
                target: "sub/x".into()
            }
        );
    }

    #[test]
    fn default_modes_follow_the_executable_bit_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            entries(&[spec(1, &file, "/bin/tool")]).unwrap()[0].mode,
            0o755
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            entries(&[spec(1, &file, "/bin/tool")]).unwrap()[0].mode,
            0o644
        );
    }

    #[test]
    fn two_lines_writing_one_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a"), "1").unwrap();
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let err = entries(&[
            spec(1, &dir.path().join("conf"), "/etc/x"),
            spec(3, &dir.path().join("a"), "/etc/x/a"),
        ])
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "hello").unwrap();
        let found = entries(&[spec(1, &dir.path().join("a"), "/a")]).unwrap();
        let mut first = Vec::new();
        let digest = write(&found, 0, &mut first).unwrap();
        // A new modification time on disk changes nothing.
        std::fs::File::options()
            .append(true)
            .open(dir.path().join("a"))
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        let mut second = Vec::new();
        assert_eq!(write(&found, 0, &mut second).unwrap(), digest);
        assert_eq!(first, second);
        assert_eq!(digest.size, first.len() as u64);
        let mut archive = tar::Archive::new(first.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().mode().unwrap(), 0o644);
        assert_eq!(entry.header().mtime().unwrap(), 0);
        assert_eq!(entry.header().username().unwrap(), Some(""));

        // Compressed, it is the same blob each time too.
        let tar = dir.path().join("layer.tar");
        std::fs::write(&tar, &first).unwrap();
        let gz = |name: &str| compress(&tar, &dir.path().join(name)).unwrap();
        assert_eq!(gz("a.gz"), gz("b.gz"));
        let mut unpacked = Vec::new();
        io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(
                std::fs::File::open(dir.path().join("a.gz")).unwrap(),
            ),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, first);
    }
}
