//! `action.yml` against the code, and the example workflows against `action.yml`: every input
//! the code reads is declared with the same default and a description, every declared input is
//! read, every output the code writes is declared and described, and every `with:` key the
//! examples give the action is an input; and what `scripts/pin-release` makes of `action.yml`
//! for a release commit still passes those checks.

use std::collections::BTreeSet;
use std::path::Path;

use ship_to_ecr::inputs::INPUTS;
use ship_to_ecr::outputs::OUTPUTS;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
        .remove(0)
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Yaml {
    load(&root().join("action.yml"))
}

fn keys(hash: &Yaml) -> BTreeSet<String> {
    hash.as_hash()
        .expect("a mapping")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// A default as the runner passes it: YAML scalars become their text.
fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => String::new(),
        other => panic!("unexpected default {other:?}"),
    }
}

#[test]
fn every_input_the_code_reads_is_declared_with_its_default_and_vice_versa() {
    check_inputs(&action());
}

fn check_inputs(action: &Yaml) {
    let declared = keys(&action["inputs"]);
    let read: BTreeSet<String> = INPUTS.iter().map(|input| input.name.to_string()).collect();
    assert_eq!(declared, read, "declared vs read");
    for input in INPUTS {
        let name = input.name;
        let spec = &action["inputs"][name];
        assert_eq!(text(&spec["default"]), input.default, "default of {name}");
        let description = spec["description"].as_str().unwrap_or_default();
        assert!(description.len() > 10, "{name} needs a description");
    }
}

/// Output names the code writes: the code writes outputs only through `ship_to_ecr::outputs`'s
/// table.
fn outputs_written() -> BTreeSet<String> {
    OUTPUTS.iter().map(|name| name.to_string()).collect()
}

#[test]
fn every_output_written_is_declared_and_described() {
    check_outputs(&action());
}

fn check_outputs(action: &Yaml) {
    let written = outputs_written();
    assert!(
        written.contains("digest") && written.contains("base-digest"),
        "{written:?}"
    );
    assert_eq!(keys(&action["outputs"]), written, "declared vs written");
    for name in &written {
        let description = action["outputs"][name.as_str()]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(description.len() > 10, "{name} needs a description");
    }
}

/// Where main's action.yml names the moving major tag (`:v1`), a release commit's names one
/// image by digest (scripts/pin-release); both are published images, never a build per run.
#[test]
fn the_action_runs_the_published_image_and_is_branded() {
    let action = action();
    let image = check_runs_and_branding(&action);
    let tag = image.rsplit(':').next().unwrap();
    assert!(
        tag.starts_with('v') && tag[1..].parse::<u32>().is_ok(),
        "main names the major version's tag: {image}"
    );
}

/// The image `runs` names, after checking it is a published one.
fn check_runs_and_branding(action: &Yaml) -> String {
    assert_eq!(action["runs"]["using"].as_str(), Some("docker"));
    let image = action["runs"]["image"].as_str().unwrap();
    assert!(
        image.starts_with("docker://ghcr.io/"),
        "a published image: {image}"
    );
    assert!(action["branding"]["icon"].as_str().is_some());
    assert!(action["branding"]["color"].as_str().is_some());
    image.to_string()
}

/// Every step of a workflow that uses this action.
fn action_steps(workflow: &Yaml) -> Vec<Yaml> {
    let mut steps = Vec::new();
    for (_, job) in workflow["jobs"].as_hash().expect("jobs") {
        for step in job["steps"].as_vec().cloned().unwrap_or_default() {
            let uses = step["uses"].as_str().unwrap_or_default();
            if uses.starts_with("ship-to-ecr/ship-to-ecr@") || uses == "./" {
                steps.push(step);
            }
        }
    }
    steps
}

#[test]
fn example_workflows_parse_and_give_the_action_only_declared_inputs() {
    let declared = keys(&action()["inputs"]);
    let dir = root().join("examples/workflows");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "build-and-push.yml",
            "deploy-chosen-commit.yml",
            "deploy-to-ecs.yml",
            "manual-release.yml",
            "patch-docker-hub-image.yml",
            "pull-request-preview.yml",
            "reusable-push.yml"
        ]
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for name in &names {
        let workflow = load(&dir.join(name));
        assert!(workflow["jobs"].as_hash().is_some(), "{name} has jobs");
        assert!(
            readme.contains(&format!("examples/workflows/{name}")),
            "README explains {name}"
        );
        let steps = action_steps(&workflow);
        assert!(!steps.is_empty(), "{name} uses the action");
        let permissions = &workflow["permissions"];
        assert_eq!(permissions["id-token"].as_str(), Some("write"), "{name}");
        for step in steps {
            for key in keys(&step["with"]) {
                assert!(declared.contains(&key), "{name}: '{key}' is not an input");
            }
        }
    }
}

/// A copy of action.yml in a temporary folder, and what `scripts/pin-release` said about it.
struct Pinned {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Pinned {
    fn copy() -> Pinned {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("action.yml");
        std::fs::copy(root().join("action.yml"), &path).unwrap();
        Pinned { _dir: dir, path }
    }

    fn pin(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(root().join("scripts/pin-release"))
            .arg("--action-yml")
            .arg(&self.path)
            .args(args)
            .output()
            .unwrap()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap()
    }
}

const DIGEST: &str = "sha256:3f5c2a9e0b1d4c7f8a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a1908";

#[test]
fn pin_release_names_the_image_by_digest_and_changes_nothing_else() {
    let pinned = Pinned::copy();
    let before = pinned.text();
    let output = pinned.pin(&["v1.4.0", DIGEST]);
    assert!(output.status.success(), "{output:?}");
    let after = pinned.text();

    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(old, new)| old != new)
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    assert_eq!(
        changed,
        [(
            "  image: docker://ghcr.io/ship-to-ecr/ship-to-ecr:v1",
            "  image: docker://ghcr.io/ship-to-ecr/ship-to-ecr@sha256:3f5c2a9e0b1d4c7f8a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a1908  # v1.4.0"
        )]
    );

    // What the runner reads: the comment is not part of the value, and every metadata check
    // main's action.yml passes still holds.
    let action = load(&pinned.path);
    let image = check_runs_and_branding(&action);
    assert_eq!(
        image,
        format!("docker://ghcr.io/ship-to-ecr/ship-to-ecr@{DIGEST}")
    );
    check_inputs(&action);
    check_outputs(&action);

    // A second release rewrites the same line; a fork's registry can be named.
    let digest = format!("sha256:{}", "0a".repeat(32));
    let output = pinned.pin(&["v1.4.1", &digest, "ghcr.io/a-fork/ship-to-ecr"]);
    assert!(output.status.success(), "{output:?}");
    let image = check_runs_and_branding(&load(&pinned.path));
    assert_eq!(
        image,
        format!("docker://ghcr.io/a-fork/ship-to-ecr@{digest}")
    );
    assert!(pinned.text().contains(&format!("@{digest}  # v1.4.1\n")));
}

#[test]
fn pin_release_refuses_what_is_not_a_version_or_a_digest_and_leaves_the_file_alone() {
    let pinned = Pinned::copy();
    let before = pinned.text();
    let upper = DIGEST.to_uppercase().replace("SHA256", "sha256");
    let cases: [(&[&str], &str); 7] = [
        (&["1.4.0", DIGEST], "vMAJOR.MINOR.PATCH"),
        (&["v1.4", DIGEST], "vMAJOR.MINOR.PATCH"),
        (&["v1.4.0-rc1", DIGEST], "vMAJOR.MINOR.PATCH"),
        (&["v1.4.0", "v1"], "64 lowercase hex"),
        (&["v1.4.0", &upper], "64 lowercase hex"),
        (&["v1.4.0", &DIGEST[..70]], "64 lowercase hex"),
        (
            &["v1.4.0", DIGEST, "ghcr.io/Ship/Image; rm -rf /"],
            "lowercase registry/name",
        ),
    ];
    for (args, rule) in cases {
        let output = pinned.pin(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(rule), "{args:?}: {stderr}");
        assert_eq!(pinned.text(), before, "{args:?} changed action.yml");
    }
}

#[test]
fn pin_release_refuses_an_action_yml_whose_image_line_it_cannot_find() {
    let pinned = Pinned::copy();
    let text = pinned
        .text()
        .replace("  image: docker://", "  image: Dockerfile #");
    std::fs::write(&pinned.path, &text).unwrap();
    let output = pinned.pin(&["v1.4.0", DIGEST]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("exactly one"), "{stderr}");
    assert_eq!(pinned.text(), text);
}
