//! The build context as the daemon receives it: a tar of the context folder, less what
//! `.dockerignore` leaves out, with the Dockerfile always in it. Sent as a stream, never as a
//! bind mount: in a container action, paths in our container are not paths on the host.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

use sha2::{Digest as _, Sha256};

use super::dockerignore::DockerIgnore;
use crate::oci::Digest;

mod listing;
pub use listing::{listing, Listing};

/// Where a Dockerfile from outside the context is put inside the tar.
const OUTSIDE_DOCKERFILE: &str = ".ship-to-ecr.Dockerfile";

impl ContextError {
    /// Packing stopped because the reader (the daemon) went away.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ContextError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// A context packed in memory, for the tests.
#[cfg(test)]
struct BuildContext {
    tar: Vec<u8>,
    /// The Dockerfile's path inside the tar.
    dockerfile: String,
}

/// A context being packed on a blocking thread while the daemon reads it: memory stays at a
/// few chunks whatever the context's size, and packing overlaps sending.
pub struct StreamedContext<S> {
    pub dockerfile: String,
    pub body: S,
    /// How many files were packed, or why packing stopped.
    pub packed: tokio::task::JoinHandle<Result<usize, ContextError>>,
}

const CHUNK: usize = 1 << 20;

pub fn stream(
    context: &Path,
    dockerfile: &Path,
) -> Result<StreamedContext<impl Stream<Item = io::Result<Bytes>> + Send + 'static>, ContextError> {
    let dockerfile_name = dockerfile_in_tar(context, dockerfile)?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let (context, dockerfile) = (context.to_path_buf(), dockerfile.to_path_buf());
    let packed = tokio::task::spawn_blocking(move || {
        let mut writer = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let result = pack_into(&context, &dockerfile, &mut writer).and_then(|files| {
            writer.flush().map_err(|source| ContextError::Io {
                path: context.clone(),
                source,
            })?;
            Ok(files)
        });
        if let Err(e) = &result {
            // The daemon must see the body fail, not a short but valid tar.
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        result
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(StreamedContext {
        dockerfile: dockerfile_name,
        body,
        packed,
    })
}

/// Sends the tar in chunks; a closed channel (the build stopped) ends packing.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the build stopped reading"))
    }
}

/// Where the Dockerfile is inside the tar: its own path when it is in the context, else a
/// name of ours (the file is then added).
fn dockerfile_in_tar(context: &Path, dockerfile: &Path) -> Result<String, ContextError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { path, source }
    };
    let real_context = context.canonicalize().map_err(io_error(context))?;
    let real_dockerfile = dockerfile.canonicalize().map_err(io_error(dockerfile))?;
    Ok(real_dockerfile
        .strip_prefix(&real_context)
        .map(to_slash)
        .unwrap_or_else(|_| OUTSIDE_DOCKERFILE.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{0}")]
    DockerIgnore(String),
    #[error("reading the build context at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

#[cfg(test)]
fn pack(context: &Path, dockerfile: &Path) -> Result<BuildContext, ContextError> {
    let mut tar = Vec::new();
    pack_into(context, dockerfile, &mut tar)?;
    Ok(BuildContext {
        tar,
        dockerfile: dockerfile_in_tar(context, dockerfile)?,
    })
}

/// Writes the context's tar to `out`; returns how many files it holds.
fn pack_into<W: Write>(context: &Path, dockerfile: &Path, out: W) -> Result<usize, ContextError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let files = walk(context, dockerfile, |path, name| {
        builder.append_path_with_name(path, name)
    })?;
    builder.finish().map_err(|source| ContextError::Io {
        path: context.to_path_buf(),
        source,
    })?;
    Ok(files)
}

/// The digest of what the builder would receive: every entry the tar would hold (the same
/// walk, `.dockerignore` applied), by its path, kind, permission bits and content (a link by
/// its target). Files are streamed through the hash, never held whole.
///
/// Left out: owners and times, and the bytes of git's own folder (`.git`): two checkouts of
/// one commit differ in both (git's index caches file times, its logs say when the checkout
/// ran). Whether `.git` reaches the builder is told instead ([`Fingerprint::sends_git`]): a
/// build may read the commit out of it (`git describe`, Go's VCS stamp), so the caller then
/// puts the checked-out commit in the key.
pub fn fingerprint(context: &Path, dockerfile: &Path) -> Result<Fingerprint, ContextError> {
    use std::os::unix::fs::PermissionsExt;
    let mut hash = Sha256::new();
    let mut sends_git = false;
    walk(context, dockerfile, |path, name| {
        if name.components().any(|c| c.as_os_str() == ".git") {
            sends_git = true;
            return Ok(());
        }
        let meta = std::fs::symlink_metadata(path)?;
        let kind = meta.file_type();
        let tag = if kind.is_dir() {
            "d"
        } else if kind.is_symlink() {
            "l"
        } else {
            "f"
        };
        // Each field is length-framed, so no two different entries hash the same way.
        let name = to_slash(name);
        hash.update(format!(
            "{tag} {} {:o} ",
            name.len(),
            meta.permissions().mode() & 0o7777
        ));
        hash.update(name.as_bytes());
        if kind.is_symlink() {
            let target = std::fs::read_link(path)?;
            let target = target.as_os_str().as_encoded_bytes();
            hash.update(format!(" {} ", target.len()));
            hash.update(target);
        } else if kind.is_file() {
            hash.update(format!(" {} ", meta.len()));
            let copied = io::copy(&mut std::fs::File::open(path)?, &mut hash)?;
            if copied != meta.len() {
                return Err(io::Error::other("the file changed while it was read"));
            }
        }
        hash.update(b"\n");
        Ok(())
    })?;
    Ok(Fingerprint {
        digest: Digest::finish(hash),
        sends_git,
    })
}

/// What a context is to the builder, as far as a build key needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    pub digest: Digest,
    /// Whether a `.git` folder is in what the builder receives (`.dockerignore` leaves it in).
    pub sends_git: bool,
}

/// Hands `visit` every entry of the context, in a stable order, as (path on disk, name in
/// the tar): what `.dockerignore` leaves out is skipped, the Dockerfile and `.dockerignore`
/// are always in, and a Dockerfile from outside the context comes last under a name of ours.
/// Returns how many files (not folders) were visited.
fn walk(
    context: &Path,
    dockerfile: &Path,
    mut visit: impl FnMut(&Path, &Path) -> io::Result<()>,
) -> Result<usize, ContextError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { path, source }
    };
    let ignore = DockerIgnore::read(context).map_err(ContextError::DockerIgnore)?;
    let dockerfile_name = dockerfile_in_tar(context, dockerfile)?;
    let dockerfile_inside = (dockerfile_name != OUTSIDE_DOCKERFILE).then_some(dockerfile_name);

    let mut files = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let dir = context.join(&relative);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_error(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io_error(&dir))?;
        // A stable order: the same context gives the same tar.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let rel = relative.join(entry.file_name());
            let name = to_slash(&rel);
            let always =
                dockerfile_inside.as_deref() == Some(name.as_str()) || name == ".dockerignore";
            let file_type = entry.file_type().map_err(io_error(&entry.path()))?;
            if ignore.excludes(&name) && !always {
                // An excluded folder is still walked when a `!` line may re-include a part.
                if file_type.is_dir() && ignore.has_exceptions() {
                    stack.push(rel);
                }
                continue;
            }
            visit(&entry.path(), &rel).map_err(io_error(&entry.path()))?;
            if file_type.is_dir() {
                stack.push(rel);
            } else {
                files += 1;
            }
        }
    }
    if dockerfile_inside.is_none() {
        visit(dockerfile, Path::new(OUTSIDE_DOCKERFILE)).map_err(io_error(dockerfile))?;
    }
    Ok(files)
}

/// A context of one generated file, e.g. a Dockerfile that only adds labels.
pub fn single_file(name: &str, content: &str) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, name, content.as_bytes())
        .expect("writing to memory");
    builder.into_inner().expect("writing to memory")
}

fn to_slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar);
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn honours_dockerignore_and_keeps_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("target/debug/app"), "binary").unwrap();
        std::fs::write(root.join("secret.env"), "X=1").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM scratch").unwrap();
        std::fs::write(root.join(".dockerignore"), "target\n*.env\nDockerfile\n").unwrap();
        let context = pack(root, &root.join("Dockerfile")).unwrap();
        assert_eq!(context.dockerfile, "Dockerfile");
        assert_eq!(
            names(&context.tar),
            [".dockerignore", "Dockerfile", "src", "src/main.rs"]
        );
    }

    #[test]
    fn the_fingerprint_follows_content_modes_and_names_not_times_or_ignored_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("notes.log"), "one").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM scratch").unwrap();
        std::fs::write(root.join(".dockerignore"), "*.log\n").unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/index"), "stat cache one").unwrap();
        let dockerfile = root.join("Dockerfile");
        let print = || fingerprint(root, &dockerfile).unwrap().digest;
        assert!(fingerprint(root, &dockerfile).unwrap().sends_git);
        let first = print();
        assert_eq!(print(), first, "the same files, the same fingerprint");

        std::fs::write(root.join("notes.log"), "two").unwrap();
        std::fs::write(root.join(".git/index"), "stat cache two").unwrap();
        let past = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        std::fs::File::options()
            .write(true)
            .open(root.join("src/main.rs"))
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert_eq!(
            print(),
            first,
            "an ignored file, git's folder and a time are not part of it"
        );

        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        let one_byte = print();
        assert_ne!(one_byte, first, "one byte more");

        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(root.join("src/main.rs"), mode).unwrap();
        let executable = print();
        assert_ne!(executable, one_byte, "a mode");

        std::fs::rename(root.join("src/main.rs"), root.join("src/lib.rs")).unwrap();
        assert_ne!(print(), executable, "a name");
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_added() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/index.html"), "hi").unwrap();
        std::fs::write(dir.path().join("build.Dockerfile"), "FROM scratch").unwrap();
        let context = pack(
            &dir.path().join("app"),
            &dir.path().join("build.Dockerfile"),
        )
        .unwrap();
        assert_eq!(context.dockerfile, OUTSIDE_DOCKERFILE);
        assert_eq!(names(&context.tar), [OUTSIDE_DOCKERFILE, "index.html"]);
    }
}
