//! Paths the user gives relative to the workspace, which must stay inside it.

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
/// symlink leading out) and exists as the asked kind. Returns the joined path.
pub fn workspace_path(
    input: &'static str,
    value: &str,
    workspace: &Path,
    kind: PathKind,
    example: &str,
) -> Result<PathBuf, InputError> {
    let bad = |why: String| InputError::new(input, why, example);
    let relative = Path::new(value);
    if relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
        return Err(bad(format!(
            "'{value}' must be a path inside the workspace (relative, without '..')"
        )));
    }
    let path = workspace.join(relative);
    let real = path.canonicalize().map_err(|_| {
        bad(format!(
            "'{value}' does not exist in the workspace ({})",
            workspace.display()
        ))
    })?;
    if let Ok(root) = workspace.canonicalize() {
        if !real.starts_with(&root) {
            return Err(bad(format!(
                "'{value}' leads outside the workspace through a symlink"
            )));
        }
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
        return Err(bad(format!("'{value}' is not {want}")));
    }
    Ok(path)
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
