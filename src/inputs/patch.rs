//! The patch-mode inputs: `files` lines, and the config changes (`env`, `workdir`, `user`,
//! `entrypoint`, `cmd`). Each failure names the input, and for `files` the line.

use std::path::{Component, Path};
use std::sync::LazyLock;

use regex::Regex;

use super::rules::paths::{workspace_path, PathKind};
use crate::error::InputError;
use crate::oci::layer::{self, FileSpec, LayerEntry};

pub const FILES_EXAMPLE: &str = "config/functionalAccounts.json => /home/node/app/functionalAccounts.json mode=0640 owner=1000:1000";

static USER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?$")
        .expect("valid")
});

/// Parses the `files` lines and lists the layer's entries; fails on the first bad line.
pub fn files(value: &str, workspace: &Path) -> Result<Vec<LayerEntry>, InputError> {
    let mut specs = Vec::new();
    for (index, raw) in value.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        specs.push(file_line(index + 1, line, workspace)?);
    }
    layer::entries(&specs).map_err(|e| bad_line(e.line, &e.message))
}

fn bad_line(line: usize, why: &str) -> InputError {
    InputError::new("files", format!("line {line} {why}"), FILES_EXAMPLE)
}

fn file_line(number: usize, line: &str, workspace: &Path) -> Result<FileSpec, InputError> {
    let bad = |why: String| bad_line(number, &format!("('{line}') {why}"));
    let Some((source, rest)) = line.split_once("=>") else {
        return Err(bad(
            "must be SRC => DEST, optionally followed by mode=0640 and owner=UID:GID".into(),
        ));
    };
    let source = source.trim();
    if source.is_empty() {
        return Err(bad("has no SRC before '=>'".into()));
    }
    let mut words = rest.split_whitespace();
    let Some(dest) = words.next() else {
        return Err(bad("has no DEST after '=>'".into()));
    };
    let given = Path::new(source);
    let source =
        workspace_path("files", source, workspace, PathKind::Any, "").map_err(|e| bad(e.rule))?;
    let into_folder = dest.ends_with('/') && dest != "/";
    let dest = destination(dest).map_err(&bad)?;
    let dest = if into_folder {
        // The name as written (a symlink's, not its target's), as `COPY` names it.
        let name = given
            .file_name()
            .or_else(|| source.file_name())
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("has a SRC without a file name".into()))?;
        format!("{dest}/{name}")
    } else {
        dest
    };
    let mut spec = FileSpec {
        line: number,
        source,
        dest,
        mode: None,
        owner: None,
    };
    for word in words {
        match word.split_once('=') {
            Some(("mode", value)) if spec.mode.is_none() => {
                spec.mode = Some(mode(value).map_err(&bad)?);
            }
            Some(("owner", value)) if spec.owner.is_none() => {
                spec.owner = Some(owner(value).map_err(&bad)?);
            }
            _ => {
                return Err(bad(format!(
                    "has '{word}' after DEST; only mode=0640 and owner=UID:GID may follow it, \
                     once each (DEST cannot contain spaces)"
                )))
            }
        }
    }
    Ok(spec)
}

/// An absolute, normalised path in the image, returned without a trailing `/`.
fn destination(dest: &str) -> Result<String, String> {
    if !dest.starts_with('/') {
        return Err(format!(
            "DEST '{dest}' must be an absolute path in the image, like /etc/app/config.json"
        ));
    }
    let trimmed = dest.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("DEST '/' would replace the image's root; name a folder or file".into());
    }
    let normal = Path::new(trimmed)
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !normal || trimmed.contains("//") {
        return Err(format!(
            "DEST '{dest}' must be normalised: no '.', '..' or '//' in it"
        ));
    }
    Ok(trimmed.to_string())
}

fn mode(value: &str) -> Result<u32, String> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if (3..=4).contains(&digits.len()) && mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "mode '{value}' must be 3 or 4 octal digits, like 0640 or 755"
        )),
    }
}

fn owner(value: &str) -> Result<(u64, u64), String> {
    let parsed = value
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?)));
    parsed
        .map(|(u, g)| (u64::from(u), u64::from(g)))
        .ok_or_else(|| {
            format!(
                "owner '{value}' must be numeric UID:GID, like 1000:1000 (names cannot be \
                 looked up in the image before it is pulled)"
            )
        })
}

/// `entrypoint` and `cmd`: a JSON array of strings (the exec form).
pub fn exec_form(
    input: &'static str,
    value: &str,
    example: &str,
) -> Result<Vec<String>, InputError> {
    serde_json::from_str::<Vec<String>>(value).map_err(|_| {
        InputError::new(
            input,
            format!("'{value}' must be a JSON array of strings (the exec form); [] clears it"),
            example,
        )
    })
}

pub fn workdir(input: &'static str, value: &str) -> Result<String, InputError> {
    destination(value)
        .or_else(|e| if value == "/" { Ok("/".into()) } else { Err(e) })
        .map_err(|why| InputError::new(input, why.replace("DEST", "the folder"), "/home/node/app"))
}

pub fn user(input: &'static str, value: &str) -> Result<String, InputError> {
    if USER.is_match(value) {
        Ok(value.to_string())
    } else {
        Err(InputError::new(
            input,
            format!("'{value}' must be a user name or UID, optionally with :GROUP or :GID"),
            "1000:1000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), "{}").unwrap();
        std::fs::write(dir.path().join(".env"), "A=1").unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/x"), "x").unwrap();
        dir
    }

    #[test]
    fn lines_with_options_and_into_folder() {
        let ws = workspace();
        let entries = files(
            "# config\na.json => /etc/app/ mode=0640 owner=1000:1001\n\n.env => /srv/.env\nconf => /opt/conf mode=600",
            ws.path(),
        )
        .unwrap();
        let shown: Vec<(String, u32, u64, u64)> = entries
            .iter()
            .map(|e| (e.path.display().to_string(), e.mode, e.uid, e.gid))
            .collect();
        assert_eq!(
            shown,
            [
                ("etc/app/a.json".into(), 0o640, 1000, 1001),
                ("opt/conf".into(), 0o700, 0, 0),
                ("opt/conf/x".into(), 0o600, 0, 0),
                ("srv/.env".into(), 0o644, 0, 0),
            ]
        );
    }

    #[test]
    fn each_bad_line_is_named() {
        let ws = workspace();
        for (value, why) in [
            (
                "a.json /etc/a",
                "line 1 ('a.json /etc/a') must be SRC => DEST",
            ),
            ("\na.json =>", "line 2 ('a.json =>') has no DEST"),
            ("missing.json => /a", "does not exist"),
            ("../a.json => /a", "inside the workspace"),
            ("a.json => etc/a", "absolute"),
            ("a.json => /etc/../a", "normalised"),
            ("a.json => /etc//a", "normalised"),
            ("a.json => /", "root"),
            ("a.json => /a mode=999", "octal"),
            ("a.json => /a mode=01777x", "octal"),
            ("a.json => /a owner=node", "numeric"),
            ("a.json => /a group=1", "only mode"),
            ("a.json => /a mode=600 mode=644", "once each"),
            ("a.json => /a\n.env => /a", "line 2"),
        ] {
            let err = files(value, ws.path()).unwrap_err();
            assert_eq!(err.input, "files");
            assert!(err.rule.contains(why), "{value}: {}", err.rule);
            assert_eq!(err.example, FILES_EXAMPLE);
        }
        std::os::unix::fs::symlink("/etc/passwd", ws.path().join("out")).unwrap();
        let err = files("out => /a", ws.path()).unwrap_err();
        assert!(err.rule.contains("symlink"), "{}", err.rule);
    }

    #[test]
    fn config_values() {
        assert_eq!(
            exec_form("cmd", r#"["node","main.js"]"#, "").unwrap(),
            ["node", "main.js"]
        );
        assert!(exec_form("cmd", "[]", "").unwrap().is_empty());
        assert!(exec_form("cmd", "node main.js", "").is_err());
        assert!(exec_form("cmd", "[1]", "").is_err());
        assert_eq!(workdir("workdir", "/srv/app/").unwrap(), "/srv/app");
        assert_eq!(workdir("workdir", "/").unwrap(), "/");
        assert!(workdir("workdir", "srv").is_err());
        assert!(user("user", "node").is_ok());
        assert!(user("user", "1000:1000").is_ok());
        assert!(user("user", "bad user").is_err());
    }
}
