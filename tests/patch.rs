//! Patch mode: a base image from a source registry plus files, env and config changes, pushed
//! to the ECR stand-in; read back with plain HTTP and compared with the base byte for byte.

use serde_json::{json, Value};
use support::base_images::{self, gunzip, tar_entries, BaseImage, SourceRegistry, TarEntry};

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    the_docker_engine_keeps_the_base_byte_for_byte_and_adds_exactly_the_files,
    the_docker_engine_patches_this_platform_of_an_index,
);

/// A tar entry borrowed, for comparing with literals.
type Shown<'a> = (&'a str, char, u32, u64, u64, &'a [u8]);
use support::images::docker;
use support::{ActionRun, StandIns};

const REPO: &str = "octo-org/backend";

/// A typical patch's files: two JSON configs and a `.env`, plus a folder of templates.
fn with_files(run: ActionRun, base: &BaseImage) -> ActionRun {
    run.input("repository", REPO)
        .input("base-image", &base.reference)
        .write_file(
            "config/functionalAccounts.json",
            r#"[{"username":"admin","password":"from-a-secret"}]"#,
        )
        .write_file("config/proposalTypes.json", r#"[{"id":"DOOR"}]"#)
        .write_file(".env", "EXPRESS_SESSION_SECRET=abc123\n")
        .write_file("templates/mail/welcome.html", "<p>welcome</p>")
        .input(
            "files",
            "config/functionalAccounts.json => /home/node/app/functionalAccounts.json mode=0640 owner=1000:1000\n\
             config/proposalTypes.json => /home/node/app/ owner=1000:1000\n\
             .env => /home/node/app/.env mode=600 owner=1000:1000\n\
             templates => /home/node/app/templates",
        )
}

fn patched_entries(s: &StandIns, tag: &str, base: &BaseImage) -> (Value, Vec<TarEntry>) {
    let reader = s.reader();
    let (_, manifest) = reader.manifest(REPO, tag).expect("pushed");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base.layers.len() + 1, "{manifest}");
    let new_layer = reader.blob(REPO, layers.last().unwrap()["digest"].as_str().unwrap());
    (manifest, tar_entries(&gunzip(&new_layer)))
}

#[test]
fn the_registry_engine_keeps_the_base_byte_for_byte_and_adds_exactly_the_files() {
    patch_keeps_the_base_byte_for_byte("auto");
}

fn the_docker_engine_keeps_the_base_byte_for_byte_and_adds_exactly_the_files() {
    patch_keeps_the_base_byte_for_byte("docker");
}

fn patch_keeps_the_base_byte_for_byte(engine: &str) {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("scicatproject/backend-next", "v4.8.0", &s.registry_host());
    let result = with_files(s.action(), &base)
        .input("engine", engine)
        .input("env", "NODE_ENV=production\nBASE_MODE=patched")
        .input("labels", "team=platform")
        .input("workdir", "/home/node/app")
        .input("user", "1000:1000")
        .input("entrypoint", r#"["/bin/sh", "-c"]"#)
        .input("cmd", r#"["cat /home/node/app/proposalTypes.json"]"#)
        .run();
    result.expect_code(0);
    let outputs = result.outputs();
    assert_eq!(outputs["base-digest"], base.manifest_digest);
    assert_eq!(outputs["pushed"], "true");

    // The base's layers come first, as the base has them: same digests, same bytes.
    let reader = s.reader();
    let (digest, manifest) = reader.manifest(REPO, "sha-4f3c2b1").unwrap();
    assert_eq!(outputs["digest"], digest);
    let layers = manifest["layers"].as_array().unwrap();
    for (i, (base_digest, base_bytes, _)) in base.layers.iter().enumerate() {
        assert_eq!(layers[i]["digest"], *base_digest, "layer {i}: {manifest}");
        assert_eq!(
            &reader.blob(REPO, base_digest),
            base_bytes,
            "layer {i} bytes"
        );
    }

    // The new layer holds exactly the files, with the asked modes and owners.
    let (_, entries) = patched_entries(&s, "sha-4f3c2b1", &base);
    let shown: Vec<Shown> = entries
        .iter()
        .map(|(p, k, m, u, g, c)| (p.as_str(), *k, *m, *u, *g, c.as_slice()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "home/node/app/.env",
                'f',
                0o600,
                1000,
                1000,
                &b"EXPRESS_SESSION_SECRET=abc123\n"[..]
            ),
            (
                "home/node/app/functionalAccounts.json",
                'f',
                0o640,
                1000,
                1000,
                &br#"[{"username":"admin","password":"from-a-secret"}]"#[..]
            ),
            (
                "home/node/app/proposalTypes.json",
                'f',
                0o644,
                1000,
                1000,
                &br#"[{"id":"DOOR"}]"#[..]
            ),
            ("home/node/app/templates", 'd', 0o755, 0, 0, &b""[..]),
            ("home/node/app/templates/mail", 'd', 0o755, 0, 0, &b""[..]),
            (
                "home/node/app/templates/mail/welcome.html",
                'f',
                0o644,
                0,
                0,
                &b"<p>welcome</p>"[..]
            ),
        ]
    );

    // The config: the changes asked, everything else of the base kept.
    let config = reader.config(REPO, "sha-4f3c2b1");
    let c = &config["config"];
    assert_eq!(
        c["Env"],
        json!([
            "PATH=/bin",
            "BASE_MODE=patched",
            "KEEP=me",
            "NODE_ENV=production"
        ])
    );
    assert_eq!(c["WorkingDir"], "/home/node/app");
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], json!(["cat /home/node/app/proposalTypes.json"]));
    assert_eq!(c["ExposedPorts"], base.config["config"]["ExposedPorts"]);
    let labels = &c["Labels"];
    assert_eq!(labels["org.example.base"], "kept");
    assert_eq!(labels["team"], "platform");
    assert_eq!(labels["org.opencontainers.image.version"], "sha-4f3c2b1");
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
    );
    assert_eq!(
        labels["org.opencontainers.image.base.digest"],
        base.manifest_digest
    );
    assert_eq!(labels["org.opencontainers.image.base.name"], base.reference);
    assert_eq!(config["created"], "2026-11-20T09:30:00Z");
    assert_eq!(config["architecture"], base.config["architecture"]);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(
        diff_ids[..2],
        base.config["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 3);

    assert_eq!(
        manifest["mediaType"],
        base_images::OCI_MANIFEST,
        "the base's format"
    );
    assert_eq!(layers[2]["mediaType"], base_images::OCI_LAYER);

    // The docker engine also leaves the image in the daemon, for later steps; the registry
    // engine never touches the daemon.
    let (in_daemon, _) = docker(&["image", "inspect", &outputs["image"]]);
    assert_eq!(in_daemon, engine == "docker", "{result}");

    // The image runs as asked once pulled back from ECR by digest, with a login of this test's
    // own (a private DOCKER_CONFIG, nothing global).
    docker(&["rmi", "--force", &outputs["image"]]);
    let config_dir = tempfile::tempdir().unwrap();
    let docker_with_login = |args: &[&str]| {
        let out = support::images::docker_command()
            .env("DOCKER_CONFIG", config_dir.path())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "docker {args:?}: {text}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let password = support::registry_password();
    docker_with_login(&["login", "-u", "AWS", "-p", &password, &s.registry_host()]);
    docker_with_login(&["pull", &outputs["image-by-digest"]]);
    let printed = docker_with_login(&["run", "--rm", &outputs["image-by-digest"]]);
    assert_eq!(printed.trim(), r#"[{"id":"DOOR"}]"#);
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_rerun_with_the_same_inputs_is_the_same_image_and_pushes_nothing() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1", &s.registry_host());
    let first = with_files(s.action(), &base)
        .input("env", "A=1")
        .input("engine", "docker")
        .run();
    first.expect_code(0);
    assert_eq!(first.output("pushed").as_deref(), Some("true"));
    let image = first.output("image").unwrap();

    // As on a fresh runner: the patched image is gone from the daemon. Both engines make the
    // same image from the same inputs.
    let (ok, out) = docker(&["rmi", "--force", &image]);
    assert!(ok, "{out}");
    let second = with_files(s.action(), &base).input("env", "A=1").run();
    second.expect_code(0);
    assert_eq!(
        second.output("pushed").as_deref(),
        Some("false"),
        "{second}"
    );
    assert_eq!(second.output("digest"), first.output("digest"));
    assert!(second.stdout.contains("Nothing to push"), "{second}");

    // A changed file is a new image, on the same base layers.
    let third = with_files(s.action(), &base)
        .input("env", "A=1")
        .write_file("config/proposalTypes.json", r#"[{"id":"WINDOW"}]"#)
        .run();
    third.expect_code(0);
    assert_eq!(third.output("pushed").as_deref(), Some("true"));
    assert_ne!(third.output("digest"), first.output("digest"));
    assert!(
        third
            .stdout
            .contains("2 already in ECR, 0 mounted, 0 copied"),
        "{third}"
    );
}

fn the_docker_engine_patches_this_platform_of_an_index() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let (native, index_digest) = source.push_index("team/multi", "2", &s.registry_host());
    let result = s
        .action()
        .input("repository", REPO)
        .input("engine", "docker")
        .input("base-image", &native.reference)
        .input("env", "FROM_INDEX=yes")
        .run();
    result.expect_code(0);
    assert_eq!(
        result.output("base-digest").unwrap(),
        native.manifest_digest
    );
    assert!(result.stdout.contains(&index_digest), "{result}");
    // No files: the image is the base's layers with a new config.
    let (_, manifest) = s.reader().manifest(REPO, "sha-4f3c2b1").unwrap();
    let digests: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    let base_digests: Vec<&str> = native.layers.iter().map(|(d, _, _)| d.as_str()).collect();
    assert_eq!(digests, base_digests);
    let config = s.reader().config(REPO, "sha-4f3c2b1");
    assert_eq!(
        config["history"].as_array().unwrap().last().unwrap()["empty_layer"],
        true
    );
}

#[test]
fn a_private_base_needs_its_credentials() {
    let s = StandIns::start();
    let password = "source-registry-password-5e1f";
    let source = SourceRegistry::private("puller", password);
    let base = source.push_base("private/base", "1", &s.registry_host());

    let refused = with_files(s.action(), &base).run();
    refused.expect_code(1);
    let (title, message) = &refused.errors()[0];
    assert_eq!(title, "Base image access denied", "{refused}");
    assert!(message.contains("base-image-username"), "{message}");
    assert!(s.repositories().is_empty(), "nothing may be created in ECR");
    assert!(
        s.proxy.calls().is_empty(),
        "no AWS call before the image exists"
    );

    // Pinned by digest and with credentials: patched and pushed, the password never shown.
    let pinned = format!("{}/private/base@{}", source.host(), base.manifest_digest);
    let result = with_files(s.action(), &base)
        .input("base-image", &pinned)
        .input("base-image-username", "puller")
        .input("base-image-password", password)
        .run();
    result.expect_code(0);
    assert_eq!(result.output("base-digest").unwrap(), base.manifest_digest);
    let mut secrets = s.secrets();
    secrets.push(password.to_string());
    result.assert_no_secret_leaked(&secrets, true);
    result.assert_masked(&[password.to_string()]);

    let wrong = with_files(s.action(), &base)
        .input("base-image-username", "puller")
        .input("base-image-password", "not-the-password")
        .run();
    wrong.expect_code(1);
    assert_eq!(wrong.errors()[0].0, "Base image access denied");
    assert!(
        wrong.errors()[0].1.contains("Check base-image-username"),
        "{wrong}"
    );
}

#[test]
fn a_missing_base_fails_before_any_aws_call() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let result = s
        .action()
        .input("base-image", &format!("{}/team/none:1", source.host()))
        .run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Base image not found");
    assert!(message.contains("team/none:1"), "{message}");
    assert!(s.proxy.calls().is_empty());
}

#[test]
fn the_registry_engine_patches_every_platform_of_an_index() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let (native, index_digest) = source.push_index("team/multi", "3", &s.registry_host());
    let result = with_files(s.action(), &native)
        .input("env", "FROM_INDEX=yes")
        .run();
    result.expect_code(0);
    assert_eq!(result.output("base-digest").unwrap(), index_digest);
    let reader = s.reader();
    let (digest, index) = reader.manifest(REPO, "sha-4f3c2b1").unwrap();
    assert_eq!(result.output("digest").unwrap(), digest);
    assert_eq!(index["mediaType"], base_images::OCI_INDEX, "{index}");
    let entries = index["manifests"].as_array().unwrap();
    let platforms: Vec<&str> = entries
        .iter()
        .map(|e| e["platform"]["architecture"].as_str().unwrap())
        .collect();
    let other = if base_images::arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    assert_eq!(platforms, [other, base_images::arch()]);
    // Each platform's image: its own base layers, then the same new layer.
    let mut new_layers = Vec::new();
    for entry in entries {
        let (_, manifest) = reader
            .manifest(REPO, entry["digest"].as_str().unwrap())
            .unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3);
        for (i, (base_digest, _, _)) in native.layers.iter().enumerate() {
            assert_eq!(layers[i]["digest"], *base_digest);
        }
        new_layers.push(layers[2]["digest"].clone());
        let config: Value = serde_json::from_slice(
            &reader.blob(REPO, manifest["config"]["digest"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(
            config["architecture"], entry["platform"]["architecture"],
            "each config keeps its platform"
        );
        assert!(config["config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("FROM_INDEX=yes")));
    }
    assert_eq!(new_layers[0], new_layers[1]);

    // `platforms` keeps only the named ones.
    let one = with_files(s.action(), &native)
        .input("env", "FROM_INDEX=yes")
        .input("platforms", &format!("linux/{}", base_images::arch()))
        .input("tags", "native-only")
        .run();
    one.expect_code(0);
    let (_, index) = reader.manifest(REPO, "native-only").unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    let missing = with_files(s.action(), &native)
        .input("platforms", "linux/s390x")
        .input("tags", "none")
        .run();
    missing.expect_code(1);
    assert_eq!(missing.errors()[0].0, "No such platform");
    assert!(missing.errors()[0].1.contains("linux/s390x"), "{missing}");
}

#[test]
fn the_registry_engine_needs_no_daemon() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "nodaemon", &s.registry_host());
    let result = with_files(s.action(), &base)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    result.expect_code(0);
    assert_eq!(result.output("pushed").as_deref(), Some("true"));
}
