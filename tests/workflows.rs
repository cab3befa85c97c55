//! Every workflow file in this repository, its own (`.github/workflows/`) and the examples users
//! copy (`examples/workflows/`), against the hardening rules of GitHub's security guide:
//! - `permissions` always stated (for the repository's own workflows: on every job, the least it
//!   needs, never `write-all` or `read-all`), never the repository's default token scope;
//! - no `${{ }}` inside a `run:` script: an expression is pasted into the script before the shell
//!   reads it, so event data (a branch name, a title, an input) could become commands; values go
//!   through `env:`;
//! - every `uses:` of the repository's own workflows pinned to a full commit SHA with the version
//!   in a comment (the examples keep readable tags, for users to pin themselves).
//!
//! Then GitHub's own schemas, through `check-jsonschema` (installed by `scripts/install-stand-ins`):
//! a key GitHub does not know, or a misspelt permission, fails here rather than on the runner.

use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use yaml_rust2::YamlLoader;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whose workflow it is decides how strict the pins must be.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Owner {
    /// This repository's own (`.github/workflows/`): it runs with this repository's secrets.
    Repository,
    /// An example for users to copy.
    Example,
}

fn workflow_files() -> Vec<(PathBuf, Owner)> {
    let mut files = Vec::new();
    for (dir, owner) in [
        (".github/workflows", Owner::Repository),
        ("examples/workflows", Owner::Example),
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                files.push((path, owner));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Every rule `text` breaks, one line each; empty when it keeps them all.
fn problems(text: &str, owner: Owner) -> Vec<String> {
    let workflow = match YamlLoader::load_from_str(text) {
        Ok(mut docs) if !docs.is_empty() => docs.remove(0),
        Ok(_) => return vec!["empty file".into()],
        Err(e) => return vec![format!("not YAML: {e}")],
    };
    let mut found = Vec::new();
    let Some(jobs) = workflow["jobs"].as_hash() else {
        return vec!["no jobs".into()];
    };
    let top_permissions = !workflow["permissions"].is_badvalue();
    if owner == Owner::Repository {
        found.extend(blanket_permissions(
            "the workflow",
            &workflow["permissions"],
        ));
    }
    // Every `uses:` as GitHub reads it, to be found again in the text with its comment.
    let mut uses = Vec::new();
    for (name, job) in jobs {
        let name = name.as_str().unwrap_or("?");
        let job_permissions = !job["permissions"].is_badvalue();
        if owner == Owner::Repository {
            found.extend(blanket_permissions(
                &format!("job {name}"),
                &job["permissions"],
            ));
        }
        uses.extend(job["uses"].as_str().map(str::to_string));
        for step in job["steps"].as_vec().into_iter().flatten() {
            uses.extend(step["uses"].as_str().map(str::to_string));
        }
        match owner {
            Owner::Repository if !job_permissions => found.push(format!(
                "job {name} has no permissions: state the least it needs"
            )),
            Owner::Example if !top_permissions && !job_permissions => found.push(format!(
                "job {name} has no permissions (the workflow has none either)"
            )),
            _ => {}
        }
        for (index, step) in job["steps"].as_vec().into_iter().flatten().enumerate() {
            if let Some(run) = step["run"].as_str() {
                if run.contains("${{") {
                    let label = step["name"].as_str().map(str::to_string);
                    found.push(format!(
                        "job {name}, step {}: an expression inside run:; pass it through env:",
                        label.unwrap_or_else(|| (index + 1).to_string())
                    ));
                }
            }
        }
    }
    if owner == Owner::Repository && !top_permissions {
        found.push("no top-level permissions: start from `permissions: {}`".into());
    }
    if owner == Owner::Repository {
        found.extend(movable_pins(text, &uses));
    }
    found
}

/// `write-all` and `read-all` give a job every scope at once: the opposite of the least it needs.
fn blanket_permissions(whose: &str, permissions: &yaml_rust2::Yaml) -> Option<String> {
    let blanket = permissions
        .as_str()
        .filter(|p| matches!(*p, "write-all" | "read-all"))?;
    Some(format!(
        "{whose} has permissions: {blanket}; name each scope it needs"
    ))
}

/// `uses:` lines (steps and reusable-workflow jobs) not pinned to a full commit SHA with the
/// version in a comment. Read from the text, since the comment is not part of the YAML value;
/// a `uses` the YAML holds but no such line shows (flow style, a quoted key, the value on the
/// next line) is a problem too, so that no form of writing slips past.
fn movable_pins(text: &str, parsed: &[String]) -> Vec<String> {
    let uses = Regex::new(r#"^\s*(?:-\s+)?uses:\s*["']?([^"'\s]+)["']?\s*(.*)$"#).unwrap();
    let pinned = Regex::new(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$").unwrap();
    let version = Regex::new(r"^#\s*v\d+(\.\d+)*").unwrap();
    let image_by_digest = Regex::new(r"^docker://.+@sha256:[0-9a-f]{64}$").unwrap();
    let mut found = Vec::new();
    let mut unseen = parsed.to_vec();
    for (number, line) in text.lines().enumerate() {
        let Some(capture) = uses.captures(line) else {
            continue;
        };
        let (target, rest) = (&capture[1], &capture[2]);
        if let Some(at) = unseen.iter().position(|u| u == target) {
            unseen.remove(at);
        }
        // A local action or workflow is this commit's own code; a docker image by digest is
        // as fixed as a SHA.
        if target.starts_with("./") || image_by_digest.is_match(target) {
            continue;
        }
        if !pinned.is_match(target) {
            found.push(format!(
                "line {}: {target} is a movable pin; use the full commit SHA with the version in a comment",
                number + 1
            ));
        } else if !version.is_match(rest) {
            found.push(format!(
                "line {}: {target} needs its version in a comment (# v1.2.3)",
                number + 1
            ));
        }
    }
    for target in unseen {
        found.push(format!(
            "{target}: write it as one line, `uses: {target} # v1.2.3`, so its pin can be checked"
        ));
    }
    found
}

#[test]
fn every_workflow_states_permissions_keeps_expressions_out_of_scripts_and_pins_by_sha() {
    let files = workflow_files();
    assert!(
        files
            .iter()
            .any(|(path, owner)| *owner == Owner::Repository && path.ends_with("release.yml")),
        "the release workflow is checked: {files:?}"
    );
    let mut all = Vec::new();
    for (path, owner) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for problem in problems(&text, *owner) {
            all.push(format!("{}: {problem}", path.display()));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}

const GOOD: &str = r#"
on: workflow_dispatch
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
      - uses: ./local-action
      - name: Say the version
        env:
          VERSION: ${{ inputs.version }}
        run: echo "$VERSION"
"#;

#[test]
fn the_rules_accept_a_hardened_workflow_and_name_each_thing_a_weak_one_does() {
    assert_eq!(problems(GOOD, Owner::Repository), Vec::<String>::new());

    let tag = GOOD.replace("@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0", "@v4");
    assert_eq!(problems(&tag, Owner::Example), Vec::<String>::new());
    let found = problems(&tag, Owner::Repository);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("actions/checkout@v4 is a movable pin"),
        "{found:?}"
    );

    let short_sha = GOOD.replace("@11d5960a326750d5838078e36cf38b85af677262", "@11d5960");
    assert!(problems(&short_sha, Owner::Repository)[0].contains("movable pin"));
    let no_comment = GOOD.replace(" # v4.4.0", "");
    assert!(problems(&no_comment, Owner::Repository)[0].contains("needs its version"));
    let reusable = format!(
        "{GOOD}  call:\n    permissions: {{}}\n    uses: org/repo/.github/workflows/x.yml@main\n"
    );
    assert!(problems(&reusable, Owner::Repository)[0].contains("x.yml@main is a movable pin"));

    let in_script = GOOD.replace(
        r#"run: echo "$VERSION""#,
        r#"run: echo "${{ inputs.version }}""#,
    );
    for owner in [Owner::Repository, Owner::Example] {
        let found = problems(&in_script, owner);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("step Say the version: an expression inside run:"));
    }

    let flow = GOOD.replace(
        "      - uses: ./local-action\n",
        "      - {uses: actions/cache@v4}\n      - \"uses\": actions/setup-node@v4\n",
    );
    let found = problems(&flow, Owner::Repository);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].contains("actions/cache@v4: write it as one line"),
        "{found:?}"
    );
    assert!(
        found[1].contains("actions/setup-node@v4: write it as one line"),
        "{found:?}"
    );

    let blanket = GOOD.replace("permissions: {}", "permissions: write-all");
    let found = problems(&blanket, Owner::Repository);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("the workflow has permissions: write-all"),
        "{found:?}"
    );
    let blanket = GOOD.replace(
        "    permissions:\n      contents: read\n",
        "    permissions: read-all\n",
    );
    assert!(
        problems(&blanket, Owner::Repository)[0].contains("job build has permissions: read-all")
    );

    let no_job_permissions = GOOD.replace("    permissions:\n      contents: read\n", "");
    assert_eq!(
        problems(&no_job_permissions, Owner::Example),
        Vec::<String>::new()
    );
    assert!(problems(&no_job_permissions, Owner::Repository)[0]
        .contains("job build has no permissions"));
    let none = no_job_permissions.replace("permissions: {}\n", "");
    assert!(problems(&none, Owner::Example)[0].contains("job build has no permissions"));
    assert_eq!(problems(&none, Owner::Repository).len(), 2);
}

fn check_jsonschema() -> PathBuf {
    let path = root().join(".stand-ins/venv/bin/check-jsonschema");
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-stand-ins",
        path.display()
    );
    path
}

/// Every error in full (`--verbose`): the best match alone can hide the one looked for.
fn validate(schema: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new(check_jsonschema())
        .args(["--verbose", "--builtin-schema", schema])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn workflows_and_action_yml_validate_against_githubs_schemas() {
    let files: Vec<PathBuf> = workflow_files().into_iter().map(|(path, _)| path).collect();
    let output = validate("vendor.github-workflows", &files);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let output = validate("vendor.github-actions", &[root().join("action.yml")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    // The validator does refuse: a misspelt permission and a step that runs and uses at once.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    let text = GOOD.replace("contents: read", "contents: reed").replace(
        "      - uses: ./local-action\n",
        "      - uses: ./local-action\n        run: true\n",
    );
    std::fs::write(&bad, text).unwrap();
    let output = validate("vendor.github-workflows", &[bad]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("'reed' is not one of"), "{stdout}");
    assert!(stdout.contains("True is not of type 'string'"), "{stdout}");
}
