//! The action image started exactly as GitHub's runner starts a container action (see
//! `ActionRun::run_in_container`), through its three modes, against the stand-ins; outputs are
//! read from the file the runner would read, on the host.
//!
//! Needs the image `ship-to-ecr:dev`, built from the current sources by `scripts/action-image`
//! (which `scripts/test` runs first).

use support::base_images::SourceRegistry;
use support::images::{base_image, docker};
use support::StandIns;

const IMAGE: &str = "ship-to-ecr:dev";

fn action_image() -> &'static str {
    let (present, _) = docker(&["image", "inspect", IMAGE]);
    assert!(
        present,
        "{IMAGE} is missing: run scripts/action-image (scripts/test does) to build it"
    );
    IMAGE
}

#[test]
fn the_image_is_a_static_binary_and_ca_certificates_only() {
    let (ok, out) = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        action_image(),
    ]);
    assert!(ok, "{out}");
    let config: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["Entrypoint"], serde_json::json!(["/ship-to-ecr"]));
    // The file layout, read from the image's layers as `docker save` writes them.
    let saved = std::process::Command::new("docker")
        .args(["save", action_image()])
        .output()
        .unwrap();
    assert!(saved.status.success());
    let mut layers: Vec<Vec<u8>> = Vec::new();
    let mut archive = tar::Archive::new(saved.stdout.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("layer.tar") {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            layers.push(bytes);
        }
    }
    assert_eq!(layers.len(), 1, "one layer");
    let files: Vec<(String, u32)> = tar::Archive::new(layers[0].as_slice())
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().mode().unwrap() & 0o7777,
            )
        })
        .collect();
    let mut files = files;
    files.sort();
    let expected: Vec<(String, u32)> = [
        ("etc/", 0o755),
        ("etc/ssl/", 0o755),
        ("etc/ssl/certs/", 0o755),
        ("etc/ssl/certs/ca-certificates.crt", 0o644),
        ("ship-to-ecr", 0o755),
        ("tmp/", 0o1777),
    ]
    .iter()
    .map(|(p, m)| (p.to_string(), *m))
    .collect();
    assert_eq!(files, expected);
    let (_, size) = docker(&["image", "inspect", "--format", "{{.Size}}", action_image()]);
    let size: u64 = size.trim().parse().unwrap();
    assert!(
        size < 20_000_000,
        "the image is {size} bytes; the target is under 20 MB"
    );
}

#[test]
fn the_cli_answers_in_the_image() {
    let (ok, version) = docker(&["run", "--rm", action_image(), "--version"]);
    assert!(ok, "{version}");
    assert_eq!(
        version.trim(),
        concat!("ship-to-ecr ", env!("CARGO_PKG_VERSION"))
    );
    let (ok, help) = docker(&["run", "--rm", action_image(), "--help"]);
    assert!(ok && help.contains("--base-image <VALUE>"), "{help}");
}

#[test]
fn build_mode_as_the_runner_runs_it() {
    let s = StandIns::start();
    // The region and the role as a user may give them: the AWS CLI's variable, and a
    // repository variable exported as ROLE_TO_ASSUME.
    let result = s
        .action()
        .remove_input("aws-region")
        .remove_input("role-to-assume")
        .env("AWS_REGION", support::REGION)
        .env("ROLE_TO_ASSUME", &s.role_arn())
        .run_in_container(action_image());
    result.expect_code(0);
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 1);
    let outputs = result.outputs();
    let (digest, _) = s
        .reader()
        .manifest("octo-org/web-app", "sha-4f3c2b1")
        .unwrap();
    assert_eq!(outputs["digest"], digest);
    assert_eq!(outputs["pushed"], "true");
    assert!(result.summary.contains("| Digest |"), "{}", result.summary);
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn patch_mode_as_the_runner_runs_it() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1", &s.registry_host());
    let result = s
        .action()
        .input("base-image", &base.reference)
        .write_file("config/app.json", "{\"mode\":\"runner\"}")
        .input(
            "files",
            "config/app.json => /etc/app/ mode=0640 owner=1000:1000",
        )
        .input("env", "MODE=runner")
        .run_in_container(action_image());
    result.expect_code(0);
    assert_eq!(result.output("base-digest").unwrap(), base.manifest_digest);
    let config = s.reader().config("octo-org/web-app", "sha-4f3c2b1");
    assert!(config["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("MODE=runner")));
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_local_image_pushed_as_the_runner_runs_it() {
    let s = StandIns::start();
    // An image "built by an earlier step", named after this test's registry so its clean-up
    // is this test's own.
    let local = format!("{}/earlier-step:1", s.registry_host());
    let (ok, out) = docker(&["tag", base_image(), &local]);
    assert!(ok, "{out}");
    let result = s
        .action()
        .input("image", &local)
        .input("tags", "v1")
        .run_in_container(action_image());
    result.expect_code(0);
    assert_eq!(s.reader().tags("octo-org/web-app"), ["v1"]);
    assert_eq!(result.output("pushed").as_deref(), Some("true"));
}

#[test]
fn a_bad_input_fails_the_same_way_in_the_image() {
    let s = StandIns::start();
    let result = s
        .action()
        .input("repository", "Web-App")
        .run_in_container(action_image());
    result.expect_code(1);
    assert_eq!(result.errors()[0].0, "Invalid input 'repository'");
    assert!(s.proxy.calls().is_empty());
}

#[test]
fn cli_mode_does_the_same_job_from_flags_and_prints_the_outputs() {
    let s = StandIns::start();
    let mut run = s.action();
    for input in ["aws-region", "role-to-assume", "repository", "registry-url"] {
        run = run.remove_input(input);
    }
    let result = run
        .remove_env("GITHUB_OUTPUT")
        .remove_env("GITHUB_STEP_SUMMARY")
        .remove_env("GITHUB_ENV")
        .arg("--aws-region")
        .arg(support::REGION)
        .arg("--role-to-assume")
        .arg(&s.role_arn())
        .arg("--repository")
        .arg("octo-org/cli-app")
        .arg("--registry-url")
        .arg(&s.registry.url)
        .arg("--tags")
        .arg("v1")
        .arg("--tags")
        .arg("stable")
        .run();
    result.expect_code(0);
    let (digest, _) = s.reader().manifest("octo-org/cli-app", "v1").unwrap();
    assert_eq!(s.reader().tags("octo-org/cli-app"), ["stable", "v1"]);
    let printed: Vec<&str> = result.stdout.lines().collect();
    assert!(
        printed.contains(&format!("digest={digest}").as_str()),
        "{result}"
    );
    assert!(printed.contains(&"pushed=true"), "{result}");
    // A multi-line output in the runner's own format, so a script can read it the same way.
    let parsed = support::parse_file_commands(&result.stdout);
    assert_eq!(parsed["tags"], "v1\nstable", "{result}");
    result.assert_no_secret_leaked(&s.secrets(), true);
}
