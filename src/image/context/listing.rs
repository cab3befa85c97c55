//! The context as the build session's file sync serves it (`engine/buildkit/filesync.rs`):
//! the same walk as the tar and the fingerprint, as a list of entries.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{to_slash, walk, ContextError, OUTSIDE_DOCKERFILE};

/// The context as BuildKit's file sync serves it, from the same walk as the tar and the
/// fingerprint (the same `.dockerignore` rules).
pub struct Listing {
    /// (name in the context, path on disk), with every folder above an entry even where
    /// `.dockerignore` leaves the folder out and a `!` line brings back part of it: BuildKit's
    /// receiver refuses an entry whose folder it has not seen.
    pub context: Vec<(String, PathBuf)>,
    /// The Dockerfile's folder as BuildKit reads it: the Dockerfile (its target when it is a
    /// link), and `<name>.dockerignore` beside it when there is one.
    pub dockerfile: Vec<(String, PathBuf)>,
    /// The Dockerfile's name in that folder.
    pub dockerfile_name: String,
    /// How many files (not folders) the context holds.
    pub files: usize,
    /// Names this context across builds on one daemon: the digest of its real path, as the
    /// docker CLI keys a context (the same checkout reuses what BuildKit already has).
    pub shared_key: String,
}

pub fn listing(context: &Path, dockerfile: &Path) -> Result<Listing, ContextError> {
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    let files = walk(context, dockerfile, |path, name| {
        // A Dockerfile from outside the context travels in its own folder.
        if !(name == Path::new(OUTSIDE_DOCKERFILE) && path == dockerfile) {
            entries.push((to_slash(name), path.to_path_buf()));
        }
        Ok(())
    })?;
    let mut seen: std::collections::HashSet<String> =
        entries.iter().map(|(name, _)| name.clone()).collect();
    let mut parents = Vec::new();
    for (name, _) in &entries {
        let mut up = name.as_str();
        while let Some((parent, _)) = up.rsplit_once('/') {
            if seen.insert(parent.to_string()) {
                parents.push((parent.to_string(), context.join(parent)));
            }
            up = parent;
        }
    }
    entries.extend(parents);
    let real = dockerfile
        .canonicalize()
        .map_err(|source| ContextError::Io {
            path: dockerfile.to_path_buf(),
            source,
        })?;
    let dockerfile_name = dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let mut dockerfile_dir = vec![(dockerfile_name.clone(), real)];
    let own_ignore = format!("{dockerfile_name}.dockerignore");
    let own_ignore_path = dockerfile.with_file_name(&own_ignore);
    if own_ignore_path.is_file() {
        dockerfile_dir.push((own_ignore, own_ignore_path));
    }
    let real_context = context.canonicalize().map_err(|source| ContextError::Io {
        path: context.to_path_buf(),
        source,
    })?;
    let shared_key = format!(
        "{:x}",
        Sha256::digest(real_context.as_os_str().as_encoded_bytes())
    );
    Ok(Listing {
        context: entries,
        dockerfile: dockerfile_dir,
        dockerfile_name,
        files,
        shared_key,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_listing_for_the_session_keeps_folders_above_re_included_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/keep")).unwrap();
        std::fs::write(root.join("docs/keep/a.md"), "a").unwrap();
        std::fs::write(root.join("docs/b.md"), "b").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM scratch").unwrap();
        std::fs::write(root.join("Dockerfile.dockerignore"), "x").unwrap();
        std::fs::write(root.join(".dockerignore"), "docs\n!docs/keep/a.md\n").unwrap();
        let listing = super::listing(root, &root.join("Dockerfile")).unwrap();
        let mut names: Vec<&str> = listing.context.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "Dockerfile.dockerignore",
                "docs",
                "docs/keep",
                "docs/keep/a.md"
            ]
        );
        assert_eq!(listing.dockerfile_name, "Dockerfile");
        let names: Vec<&str> = listing.dockerfile.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Dockerfile", "Dockerfile.dockerignore"]);
        assert_eq!(listing.files, 4);
    }

    #[test]
    fn the_listing_leaves_a_dockerfile_from_outside_to_its_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/index.html"), "hi").unwrap();
        std::fs::write(dir.path().join("build.Dockerfile"), "FROM scratch").unwrap();
        let listing = super::listing(
            &dir.path().join("app"),
            &dir.path().join("build.Dockerfile"),
        )
        .unwrap();
        let names: Vec<&str> = listing.context.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["index.html"]);
        assert_eq!(listing.dockerfile_name, "build.Dockerfile");
        assert_eq!(listing.dockerfile.len(), 1);
    }
}
