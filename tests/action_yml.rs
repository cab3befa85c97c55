//! `action.yml` against the code, and the example workflows against `action.yml`: every input
//! the code reads is declared with the same default and a description, every declared input is
//! read, every output the code writes is declared and described, and every `with:` key the
//! examples give the action is an input.

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
    let action = action();
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
    let action = action();
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

#[test]
fn the_action_runs_the_published_image_and_is_branded() {
    let action = action();
    assert_eq!(action["runs"]["using"].as_str(), Some("docker"));
    let image = action["runs"]["image"].as_str().unwrap();
    assert!(
        image.starts_with("docker://") && image.rsplit(':').next().unwrap().starts_with('v'),
        "a published image with a version tag: {image}"
    );
    assert!(action["branding"]["icon"].as_str().is_some());
    assert!(action["branding"]["color"].as_str().is_some());
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
            "release-action.yml",
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
        if name != "release-action.yml" {
            assert!(!steps.is_empty(), "{name} uses the action");
            let permissions = &workflow["permissions"];
            assert_eq!(permissions["id-token"].as_str(), Some("write"), "{name}");
        }
        for step in steps {
            for key in keys(&step["with"]) {
                assert!(declared.contains(&key), "{name}: '{key}' is not an input");
            }
        }
    }
}
