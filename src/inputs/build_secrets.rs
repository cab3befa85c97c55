//! The `build-secrets` lines: `id=NAME,src=PATH` (a file in the workspace) or
//! `id=NAME,env=VARIABLE`. Each value is read while the inputs are parsed, so a missing file or
//! variable stops the run before any network call, and masked the moment it is read, so no later
//! line of the log (not even the refusal of another input) can show it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::rules::paths::{workspace_path, PathKind};
use crate::error::InputError;
use crate::github::commands::Workflow;

const INPUT: &str = "build-secrets";
const EXAMPLE: &str = "id=npmrc,src=.npmrc";

/// BuildKit's own bound on a secret (`MaxSecretSize` in its secrets provider); a larger one
/// would fail mid-build, after the context was sent.
pub const MAX_SECRET_BYTES: usize = 500 * 1024;

/// What a `RUN --mount=type=secret,id=...` reads. Debug shows the id and the size only.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildSecret {
    pub id: String,
    pub value: Vec<u8>,
}

impl fmt::Debug for BuildSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildSecret")
            .field("id", &self.id)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

/// The same characters Docker's CLI and BuildKit accept in a secret's id.
static ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9._-]+$").unwrap());
static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").unwrap());

/// Where a secret's value comes from.
enum Source<'a> {
    File(&'a str),
    Variable(&'a str),
}

/// Every line read, its value masked through `workflow` as soon as it is read and found good.
/// `variable` looks up the environment (the process's, in a run).
pub(super) fn parse(
    text: &str,
    workspace: &Path,
    variable: &dyn Fn(&str) -> Option<OsString>,
    workflow: &Workflow,
) -> Result<Vec<BuildSecret>, InputError> {
    let mut secrets = Vec::new();
    let mut ids = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad =
            |why: String| InputError::new(INPUT, format!("line {} {why}", index + 1), EXAMPLE);
        let (id, source) = fields(line).map_err(&bad)?;
        if !ids.insert(id) {
            return Err(bad(format!(
                "gives the id '{id}' a second time; each secret needs an id of its own"
            )));
        }
        let value = match source {
            Source::File(path) => read_file(path, workspace).map_err(&bad)?,
            Source::Variable(name) => read_variable(name, variable).map_err(&bad)?,
        };
        if value.len() > MAX_SECRET_BYTES {
            return Err(bad(format!(
                "('{line}') gives {} KiB; BuildKit takes a secret of at most {} KiB",
                value.len().div_ceil(1024),
                MAX_SECRET_BYTES / 1024
            )));
        }
        if value.is_empty() {
            return Err(bad(format!(
                "('{line}') gives an empty value; a secret with nothing in it is usually a \
                 step that did not run or a secret that is not set"
            )));
        }
        // The runner matches masks line by line, on the text it prints: a value that is not
        // UTF-8 can only appear in the log as its lossy rendering. (A refused value is never
        // passed on, so nothing of it can reach the log.)
        workflow.mask(&String::from_utf8_lossy(&value));
        secrets.push(BuildSecret {
            id: id.to_string(),
            value,
        });
    }
    Ok(secrets)
}

/// The id and the source of one line; the error completes "line N ...".
fn fields(line: &str) -> Result<(&str, Source<'_>), String> {
    let shape = format!(
        "('{line}') must be id=NAME,src=PATH (a file in the workspace) or id=NAME,env=VARIABLE"
    );
    let (mut id, mut file, mut env) = (None, None, None);
    for field in line.split(',').map(str::trim) {
        let (key, value) = field.split_once('=').ok_or_else(|| shape.clone())?;
        let slot = match key.trim() {
            "id" => &mut id,
            "src" => &mut file,
            "env" => &mut env,
            _ => return Err(shape),
        };
        if slot.replace(value.trim()).is_some() {
            return Err(format!("('{line}') gives {} twice", key.trim()));
        }
    }
    let id = id.ok_or_else(|| shape.clone())?;
    if !ID.is_match(id) {
        return Err(format!(
            "('{line}'): the id '{id}' may hold only letters, digits, '.', '_' and '-'"
        ));
    }
    let source = match (file, env) {
        (Some(path), None) if !path.is_empty() => Source::File(path),
        (None, Some(name)) if VARIABLE.is_match(name) => Source::Variable(name),
        (None, Some(name)) => {
            return Err(format!(
                "('{line}'): '{name}' is not a variable name (letters, digits and '_', not \
                 starting with a digit)"
            ))
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "('{line}') gives both src and env; give one of the two"
            ))
        }
        _ => return Err(shape),
    };
    Ok((id, source))
}

/// A file inside the workspace, read whole; never more than one byte over BuildKit's limit, which
/// is enough to refuse it.
fn read_file(path: &str, workspace: &Path) -> Result<Vec<u8>, String> {
    let full = workspace_path(INPUT, path, workspace, PathKind::File, EXAMPLE)
        .map_err(|e| format!("(src={path}): {}", e.rule))?;
    let cannot = |e: std::io::Error| format!("(src={path}): cannot read the file: {e}");
    let file = std::fs::File::open(&full).map_err(cannot)?;
    let mut value = Vec::new();
    file.take(MAX_SECRET_BYTES as u64 + 1)
        .read_to_end(&mut value)
        .map_err(cannot)?;
    Ok(value)
}

fn read_variable(
    name: &str,
    variable: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Vec<u8>, String> {
    match variable(name) {
        Some(value) if !value.is_empty() => Ok(value.into_encoded_bytes()),
        Some(_) => Err(format!(
            "(env={name}): the variable {name} is empty; set it on the step, e.g. env: {name}: \
             ${{{{ secrets.{name} }}}}"
        )),
        None => Err(format!(
            "(env={name}): the variable {name} is not set; set it on the step, e.g. env: \
             {name}: ${{{{ secrets.{name} }}}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::captured::Log;
    use crate::github::commands::CommandFiles;

    fn workflow() -> (Workflow, Log) {
        let log = Log::default();
        let workflow = Workflow::new(CommandFiles::default(), Box::new(log.clone()));
        (workflow, log)
    }

    fn no_variables(_: &str) -> Option<OsString> {
        None
    }

    fn workspace(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    /// The rule of the error for `text`, with the given workspace files and no variables.
    fn refusal(text: &str, files: &[(&str, &[u8])]) -> String {
        let dir = workspace(files);
        let (workflow, _) = workflow();
        let err = parse(text, dir.path(), &no_variables, &workflow).unwrap_err();
        assert_eq!((err.input, err.example.as_str()), (INPUT, EXAMPLE));
        err.rule
    }

    #[test]
    fn files_and_variables_are_read_and_every_line_of_them_masked() {
        let dir = workspace(&[("ci/npmrc", b"//registry/:_authToken=tok-1\nalways-auth\n")]);
        let (workflow, log) = workflow();
        let variable = |name: &str| (name == "PIP_TOKEN").then(|| OsString::from("pip-2"));
        let secrets = parse(
            "id=npmrc,src=ci/npmrc\n\n  env=PIP_TOKEN , id=pip.conf_1-x ",
            dir.path(),
            &variable,
            &workflow,
        )
        .unwrap();
        assert_eq!(
            secrets,
            [
                BuildSecret {
                    id: "npmrc".into(),
                    value: b"//registry/:_authToken=tok-1\nalways-auth\n".to_vec()
                },
                BuildSecret {
                    id: "pip.conf_1-x".into(),
                    value: b"pip-2".to_vec()
                },
            ]
        );
        assert_eq!(
            log.text(),
            "::add-mask:://registry/:_authToken=tok-1\n::add-mask::always-auth\n\
             ::add-mask::pip-2\n"
        );
    }

    #[test]
    fn debug_shows_the_id_and_the_size_never_the_value() {
        let secret = BuildSecret {
            id: "npmrc".into(),
            value: b"hunter2-secret".to_vec(),
        };
        let text = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(
            text.contains(r#"BuildSecret { id: "npmrc", value: <14 bytes> }"#),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("104, 117"), "no bytes either: {text}");
    }

    #[test]
    fn a_line_is_an_id_and_one_source() {
        for (text, words) in [
            ("npmrc", "line 1 ('npmrc') must be id=NAME,src=PATH"),
            ("src=.npmrc", "must be id=NAME,src=PATH"),
            ("id=npmrc", "must be id=NAME,src=PATH"),
            ("id=npmrc,src=", "must be id=NAME,src=PATH"),
            ("id=npmrc,type=file,src=.npmrc", "must be id=NAME,src=PATH"),
            ("id=a,id=b,src=.npmrc", "gives id twice"),
            ("id=npmrc,src=.npmrc,env=TOKEN", "gives both src and env"),
            (
                "id=my secret,src=.npmrc",
                "the id 'my secret' may hold only",
            ),
            ("id=npm/rc,src=.npmrc", "may hold only letters"),
            ("id=,src=.npmrc", "the id '' may hold only"),
            ("id=tok,env=1TOKEN", "'1TOKEN' is not a variable name"),
            ("id=tok,env=NPM-TOKEN", "is not a variable name"),
        ] {
            let rule = refusal(text, &[(".npmrc", b"x")]);
            assert!(rule.contains(words), "{text}: {rule}");
        }
    }

    #[test]
    fn ids_are_unique() {
        let rule = refusal(
            "id=npmrc,src=.npmrc\n\nid=npmrc,src=other",
            &[(".npmrc", b"a"), ("other", b"b")],
        );
        assert!(
            rule.starts_with("line 3 gives the id 'npmrc' a second time"),
            "{rule}"
        );
    }

    #[test]
    fn a_file_must_be_inside_the_workspace_and_exist() {
        for (path, words) in [
            (".missing", "does not exist in the workspace"),
            ("../.npmrc", "inside the workspace"),
            ("/etc/passwd", "inside the workspace"),
            ("ci", "is not a file"),
        ] {
            let rule = refusal(&format!("id=npmrc,src={path}"), &[("ci/x", b"x")]);
            assert!(rule.starts_with("line 1 (src="), "{rule}");
            assert!(rule.contains(words), "{path}: {rule}");
        }
        let dir = workspace(&[]);
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
        let (workflow, _) = workflow();
        let err = parse("id=a,src=link", dir.path(), &no_variables, &workflow).unwrap_err();
        assert!(err.rule.contains("symlink"), "{}", err.rule);
    }

    #[test]
    fn a_variable_must_be_set_and_not_empty() {
        let (workflow, log) = workflow();
        let variable = |name: &str| (name == "EMPTY").then(OsString::new);
        let dir = workspace(&[]);
        let unset = parse("id=t,env=NPM_TOKEN", dir.path(), &variable, &workflow).unwrap_err();
        assert_eq!(
            unset.rule,
            "line 1 (env=NPM_TOKEN): the variable NPM_TOKEN is not set; set it on the step, \
             e.g. env: NPM_TOKEN: ${{ secrets.NPM_TOKEN }}"
        );
        let empty = parse("id=t,env=EMPTY", dir.path(), &variable, &workflow).unwrap_err();
        assert!(
            empty.rule.contains("the variable EMPTY is empty"),
            "{empty:?}"
        );
        assert_eq!(log.text(), "");
    }

    #[test]
    fn an_empty_file_is_refused() {
        let rule = refusal("id=npmrc,src=.npmrc", &[(".npmrc", b"")]);
        assert!(rule.contains("gives an empty value"), "{rule}");
    }

    #[test]
    fn at_most_buildkits_limit() {
        let mut limit = vec![b'a'; MAX_SECRET_BYTES - 1];
        limit.push(b'\n');
        let dir = workspace(&[("ok", &limit), ("big", &vec![b'b'; MAX_SECRET_BYTES + 1])]);
        let (workflow, log) = workflow();
        let secrets = parse("id=ok,src=ok", dir.path(), &no_variables, &workflow).unwrap();
        assert_eq!(secrets[0].value.len(), MAX_SECRET_BYTES);
        let err = parse("id=big,src=big", dir.path(), &no_variables, &workflow).unwrap_err();
        assert_eq!(
            err.rule,
            "line 1 ('id=big,src=big') gives 501 KiB; BuildKit takes a secret of at most 500 KiB"
        );
        // Only the value passed on is masked: a refused one goes nowhere.
        assert_eq!(log.lines_starting("::add-mask::").len(), 1);
        let variable = |_: &str| Some(OsString::from("c".repeat(MAX_SECRET_BYTES + 1)));
        let err = parse("id=big,env=BIG", dir.path(), &variable, &workflow).unwrap_err();
        assert!(err.rule.contains("gives 501 KiB"), "{}", err.rule);
    }

    #[test]
    fn a_value_that_is_not_utf8_is_kept_as_bytes_and_masked_as_it_would_print() {
        let dir = workspace(&[("key.bin", b"k\xffey-bytes")]);
        let (workflow, log) = workflow();
        let secrets = parse("id=key,src=key.bin", dir.path(), &no_variables, &workflow).unwrap();
        assert_eq!(secrets[0].value, b"k\xffey-bytes");
        assert_eq!(log.text(), "::add-mask::k\u{fffd}ey-bytes\n");
    }
}
