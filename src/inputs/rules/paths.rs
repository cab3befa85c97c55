//! Paths the user gives relative to the workspace, which must stay inside it.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::InputError;

/// What a workspace path must point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    File,
    Folder,
    /// A file or a folder.
    Any,
}

/// A path relative to the workspace that stays inside it (no absolute path, no `..`, no
/// symlink leading out) and exists as the asked kind. Returns the resolved path (symlinks
/// followed), the one that was checked: the caller opens that one. Fails closed: a workspace
/// that cannot be resolved admits nothing.
pub fn workspace_path(
    input: &'static str,
    value: &str,
    workspace: &Path,
    kind: PathKind,
    example: &str,
) -> Result<PathBuf, InputError> {
    let relative = Path::new(value);
    if relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
        return Err(InputError::new(
            input,
            format!("'{value}' must be a path inside the workspace (relative, without '..')"),
            example,
        ));
    }
    let root = resolved_workspace(input, workspace, example)?;
    inside(
        &Candidate {
            input,
            shown: value,
            example,
        },
        &root.join(relative),
        &root,
        kind,
    )
}

/// The workspace with every symlink resolved, or an error for `input`: nothing can be checked
/// to stay inside a folder that cannot be resolved.
pub fn resolved_workspace(
    input: &'static str,
    workspace: &Path,
    example: &str,
) -> Result<PathBuf, InputError> {
    workspace.canonicalize().map_err(|e| {
        InputError::new(
            input,
            format!(
                "cannot be checked: the workspace ({}) cannot be resolved ({e}), so no path \
                 in it can be shown to stay inside it",
                workspace.display()
            ),
            example,
        )
    })
}

/// What a path is checked for, to name it in an error.
pub struct Candidate<'a> {
    pub input: &'static str,
    /// The path as the user gave it (or a description of a default, like "the context's
    /// Dockerfile").
    pub shown: &'a str,
    pub example: &'a str,
}

/// `path` (absolute) resolved, inside `root` (resolved) and of `kind`; the resolved path.
pub fn inside(
    candidate: &Candidate<'_>,
    path: &Path,
    root: &Path,
    kind: PathKind,
) -> Result<PathBuf, InputError> {
    let shown = candidate.shown;
    let bad = |why: String| InputError::new(candidate.input, why, candidate.example);
    let real = path.canonicalize().map_err(|_| {
        bad(format!(
            "'{shown}' does not exist in the workspace ({})",
            root.display()
        ))
    })?;
    if !real.starts_with(root) {
        return Err(bad(format!(
            "'{shown}' leads outside the workspace through a symlink"
        )));
    }
    let right_kind = match kind {
        PathKind::File => real.is_file(),
        PathKind::Folder => real.is_dir(),
        PathKind::Any => real.is_file() || real.is_dir(),
    };
    if !right_kind {
        let want = match kind {
            PathKind::File => "a file",
            PathKind::Folder => "a folder",
            PathKind::Any => "a file or a folder",
        };
        return Err(bad(format!("'{shown}' is not {want}")));
    }
    Ok(real)
}

/// A resolved file no larger than `max` bytes; `what` names the kind in the rule.
pub fn at_most(
    candidate: &Candidate<'_>,
    path: &Path,
    max: u64,
    what: &str,
) -> Result<(), InputError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > max {
        return Err(too_large(candidate, max, what));
    }
    Ok(())
}

fn too_large(candidate: &Candidate<'_>, max: u64, what: &str) -> InputError {
    InputError::new(
        candidate.input,
        format!(
            "'{}' is larger than the {} KiB a {what} may have",
            candidate.shown,
            max / 1024
        ),
        candidate.example,
    )
}

/// A file of the workspace read through its resolved path, at most `max` bytes (never more
/// than one byte over is read). Returns the text.
pub fn read_workspace_file(
    candidate: &Candidate<'_>,
    workspace: &Path,
    max: u64,
    what: &str,
) -> Result<String, InputError> {
    let path = workspace_path(
        candidate.input,
        candidate.shown,
        workspace,
        PathKind::File,
        candidate.example,
    )?;
    let cannot = |e: std::io::Error| {
        InputError::new(
            candidate.input,
            format!("cannot read '{}': {e}", candidate.shown),
            candidate.example,
        )
    };
    let file = std::fs::File::open(&path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(too_large(candidate, max, what));
    }
    String::from_utf8(bytes).map_err(|_| {
        InputError::new(
            candidate.input,
            format!("'{}' is not UTF-8 text", candidate.shown),
            candidate.example,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch").unwrap();
        let ws = dir.path();
        assert!(workspace_path("c", "app", ws, PathKind::Folder, "app").is_ok());
        assert!(workspace_path("d", "app/Dockerfile", ws, PathKind::File, "x").is_ok());
        for (value, why) in [
            ("../app", "inside the workspace"),
            ("/etc", "inside the workspace"),
            ("nope", "does not exist"),
            ("app/Dockerfile", "not a folder"),
        ] {
            let err = workspace_path("c", value, ws, PathKind::Folder, "app").unwrap_err();
            assert!(err.rule.contains(why), "{value}: {}", err.rule);
        }
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let err = workspace_path("c", "link", ws, PathKind::Folder, "app").unwrap_err();
        assert!(err.rule.contains("symlink"), "{}", err.rule);
    }
}
