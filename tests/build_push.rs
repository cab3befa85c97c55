//! Building from the workspace and pushing to the registry, checked by reading the registry
//! back with plain HTTP: tags, manifest, config, labels, layers.

use serde_json::json;
use support::images::docker;
use support::{ActionRun, Daemon, StandIns};

const REPO: &str = "octo-org/web-app";
const SHA: &str = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_push_to_the_default_branch_builds_and_pushes_every_default_tag,
    a_pull_request_is_tagged_with_its_number,
    a_tag_push_is_tagged_with_the_tag_name,
    image_mode_pushes_a_local_image_unchanged,
    image_mode_names_a_missing_image_before_any_aws_call,
    push_false_builds_and_writes_nothing,
    an_unchanged_rerun_pushes_nothing_and_reports_the_same_digest,
    an_immutable_tag_holding_another_image_stops_the_push,
    a_build_error_shows_the_failing_step_and_its_output,
    an_unreachable_daemon_is_reported_before_any_aws_call,
    docker_host_is_honoured,
    a_context_that_cannot_be_packed_is_named_as_the_cause,
    push_false_reports_what_a_push_would_do,
    a_run_that_fails_after_building_leaves_no_name_of_ours,
);

/// A small app on this test's busybox base: two layers of its own on top of the base's one.
fn app(s: &StandIns, marker: &str) -> ActionRun {
    s.action().write_file(
        "Dockerfile",
        &format!(
            "FROM {}\nARG GREETING=hi\nRUN echo \"$GREETING\" > /greeting.txt # {}\nCOPY app/ /app/\nCMD [\"cat\", \"/app/index.html\"]\n",
            s.base, s.nonce
        ),
    )
    .write_file("app/index.html", &format!("<h1>{marker}</h1>\n"))
    .write_file("app/debug.log", "left out by .dockerignore\n")
    .write_file(".dockerignore", "**/*.log\n")
}

fn a_push_to_the_default_branch_builds_and_pushes_every_default_tag() {
    let s = StandIns::start();
    let result = app(&s, "main")
        .input("build-args", "GREETING=bonjour")
        .input(
            "labels",
            "org.opencontainers.image.title=web-app\nteam=platform",
        )
        .run();
    result.expect_code(0);
    // The Engine API is negotiated per daemon: 1.41 with Docker 20.10, 1.45 with Docker 26.
    let builder = match Daemon::current() {
        Daemon::Docker20 => "API 1.41, store: classic",
        Daemon::Docker26 => "API 1.45, store: containerd",
    };
    assert!(
        result.stdout.contains("Builder: BuildKit (daemon ") && result.stdout.contains(builder),
        "{result}"
    );

    let uri = format!("{}/{REPO}", s.registry_host());
    let reader = s.reader();
    assert_eq!(reader.tags(REPO), ["latest", "main", "sha-4f3c2b1"]);
    let (digest, manifest) = reader.manifest(REPO, "sha-4f3c2b1").unwrap();
    for tag in ["main", "latest"] {
        assert_eq!(reader.manifest(REPO, tag).unwrap().0, digest, "{tag}");
    }
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        3,
        "base + RUN + COPY"
    );

    let outputs = result.outputs();
    assert_eq!(outputs["image"], format!("{uri}:sha-4f3c2b1"));
    assert_eq!(outputs["digest"], digest);
    assert_eq!(outputs["image-by-digest"], format!("{uri}@{digest}"));
    assert_eq!(outputs["tags"], "sha-4f3c2b1\nmain\nlatest");
    assert_eq!(outputs["pushed"], "true");

    let config = reader.config(REPO, "sha-4f3c2b1");
    let labels = &config["config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/octo-org/web-app"
    );
    assert_eq!(
        labels["org.opencontainers.image.url"],
        "https://github.com/octo-org/web-app"
    );
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2026-11-20T09:30:00Z"
    );
    assert_eq!(labels["org.opencontainers.image.version"], "sha-4f3c2b1");
    assert_eq!(labels["org.opencontainers.image.title"], "web-app");
    assert_eq!(labels["team"], "platform");
    assert_eq!(config["config"]["Cmd"], json!(["cat", "/app/index.html"]));

    // The layers hold what was built: the build argument and the context less .dockerignore.
    let files = layer_files(&s, &manifest);
    assert!(
        files
            .iter()
            .any(|(p, c)| p == "greeting.txt" && c == "bonjour\n"),
        "{files:?}"
    );
    assert!(files
        .iter()
        .any(|(p, c)| p == "app/index.html" && c == "<h1>main</h1>\n"));
    assert!(
        !files.iter().any(|(p, _)| p.ends_with("debug.log")),
        "{files:?}"
    );

    assert!(
        result
            .summary
            .contains("| Layers | 3 uploaded, 0 already present |"),
        "{result}"
    );
    assert!(
        result.stdout.contains("::group::Build "),
        "build output is grouped"
    );
    result.assert_no_secret_leaked(&s.secrets(), true);
}

/// (path, content) of every regular file in the image's layers.
fn layer_files(s: &StandIns, manifest: &serde_json::Value) -> Vec<(String, String)> {
    let reader = s.reader();
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let blob = reader.blob(REPO, layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.header().entry_type().is_file() {
                let path = entry.path().unwrap().display().to_string();
                let mut content = String::new();
                if std::io::Read::read_to_string(&mut entry, &mut content).is_ok() {
                    files.push((path, content));
                }
            }
        }
    }
    files
}

fn a_pull_request_is_tagged_with_its_number() {
    let s = StandIns::start();
    let result = app(&s, "pr")
        .event(
            "pull_request",
            "refs/pull/42/merge",
            json!({
                "number": 42,
                "pull_request": {
                    "number": 42,
                    "updated_at": "2026-11-21T10:00:00Z",
                    "head": { "ref": "feature/login" }
                },
                "repository": { "default_branch": "main" }
            }),
        )
        .input(
            "tags",
            "{{short-sha}}-{{branch}}\npr-{{pr}}\nrun-{{run-number}}",
        )
        .run();
    result.expect_code(0);
    assert_eq!(
        s.reader().tags(REPO),
        ["4f3c2b1-feature-login", "pr-42", "run-12"]
    );
    let (_, manifest) = s.reader().manifest(REPO, "pr-42").unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    let labels = &s.reader().config(REPO, "pr-42")["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], SHA);
    assert_eq!(
        labels["org.opencontainers.image.version"],
        "4f3c2b1-feature-login"
    );

    let default_tags = app(&s, "pr")
        .event(
            "pull_request",
            "refs/pull/42/merge",
            json!({"pull_request": {"number": 42}, "repository": {"default_branch": "main"}}),
        )
        .run();
    default_tags.expect_code(0);
    assert_eq!(
        default_tags.output("tags").as_deref(),
        Some("sha-4f3c2b1\npr-42")
    );
}

fn a_tag_push_is_tagged_with_the_tag_name() {
    let s = StandIns::start();
    let result = app(&s, "v1")
        .event(
            "push",
            "refs/tags/v1.2.3",
            json!({"ref": "refs/tags/v1.2.3", "repository": {"default_branch": "main"}}),
        )
        .run();
    result.expect_code(0);
    assert_eq!(s.reader().tags(REPO), ["sha-4f3c2b1", "v1.2.3"]);
    let labels = &s.reader().config(REPO, "v1.2.3")["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], "sha-4f3c2b1");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn image_mode_pushes_a_local_image_unchanged() {
    let s = StandIns::start();
    let name = format!("{}/local-build:1", s.registry_host());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo {} > /built-by-an-earlier-step\n",
            s.base, s.nonce
        ),
    )
    .unwrap();
    let (ok, out) = docker(&[
        "build",
        "-q",
        "-t",
        &name,
        &dir.path().display().to_string(),
    ]);
    assert!(ok, "{out}");
    let (_, id) = docker(&["image", "inspect", "--format", "{{.Id}}", &name]);

    let result = s.action().input("image", &name).input("tags", "v7").run();
    result.expect_code(0);
    let reader = s.reader();
    let (digest, manifest) = reader.manifest(REPO, "v7").unwrap();
    assert!(
        !result.stdout.contains("::group::Build"),
        "nothing is built"
    );
    match Daemon::current() {
        // The classic store keeps images by config: they leave through the export API,
        // compressed here, and what reached the registry is exactly the daemon's image.
        Daemon::Docker20 => {
            assert_eq!(manifest["config"]["digest"], id.trim(), "{result}");
            assert!(
                result
                    .stdout
                    .contains("layer(s) out of the daemon, compressed"),
                "{result}"
            );
        }
        // The containerd store keeps the manifest itself, which the registry now holds.
        Daemon::Docker26 => assert_eq!(digest, id.trim(), "{result}"),
    }
    reader.assert_layers_match_the_config(REPO, "v7");

    // The same image pushed again, to a repository that has none of it, is the same manifest:
    // the compression is the same bytes every time.
    let again = s
        .action()
        .input("image", &name)
        .input("repository", "elsewhere/app")
        .input("tags", "v7")
        .run();
    again.expect_code(0);
    let (digest_again, _) = reader.manifest("elsewhere/app", "v7").unwrap();
    assert_eq!(digest_again, digest);
}

fn image_mode_names_a_missing_image_before_any_aws_call() {
    let s = StandIns::start();
    let result = s.action().input("image", "no-such-image:1").run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Image not found");
    assert!(message.contains("'no-such-image:1'"), "{message}");
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
}

fn push_false_builds_and_writes_nothing() {
    let s = StandIns::start();
    let result = app(&s, "dry").input("push", "false").run();
    result.expect_code(0);
    assert_eq!(result.output("pushed").as_deref(), Some("false"));
    assert_eq!(result.output("digest"), None);
    assert_eq!(
        result.output("image"),
        Some(format!("{}/{REPO}:sha-4f3c2b1", s.registry_host()))
    );
    assert!(s.reader().tags(REPO).is_empty());
    assert!(s.repositories().is_empty(), "no repository created");
    for write in ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"] {
        assert_eq!(s.proxy.count(write), 0);
    }
    assert!(result.summary.contains("no (push: false)"), "{result}");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn an_unchanged_rerun_pushes_nothing_and_reports_the_same_digest() {
    let s = StandIns::start();
    // BuildKit's inline cache records where the cache came from, so a build that imported one
    // from ECR is another image; without it, a re-run of the same commit is the same image.
    let app = |s: &StandIns, marker: &str| app(s, marker).input("cache", "off");
    let first = app(&s, "same").run();
    first.expect_code(0);
    let second = app(&s, "same").run();
    second.expect_code(0);
    assert_eq!(second.output("pushed").as_deref(), Some("false"));
    assert_eq!(second.output("digest"), first.output("digest"));
    let (in_registry, _) = s.reader().manifest(REPO, "main").unwrap();
    assert_eq!(second.output("digest"), Some(in_registry));
    assert!(second.stdout.contains("Nothing to push"), "{second}");
    assert!(second.summary.contains("none sent"), "{second}");

    // One new tag on the same image (the first tag, which names the version label, kept):
    // a manifest PUT, no layer upload.
    let retag = app(&s, "same")
        .input("tags", "sha-{{short-sha}}\nmain\nstable")
        .run();
    retag.expect_code(0);
    assert_eq!(retag.output("pushed").as_deref(), Some("true"));
    assert_eq!(retag.output("digest"), first.output("digest"));
    assert!(
        retag
            .summary
            .contains("wrote stable; unchanged sha-4f3c2b1, main"),
        "{retag}"
    );
    assert_eq!(
        s.reader().tags(REPO),
        ["latest", "main", "sha-4f3c2b1", "stable"]
    );
}

fn an_immutable_tag_holding_another_image_stops_the_push() {
    let s = StandIns::start();
    let first = app(&s, "one")
        .input("tag-mutability", "IMMUTABLE")
        .input("tags", "release\nbuild-{{run-number}}")
        .run();
    first.expect_code(0);
    let before = s.reader().manifest(REPO, "release").unwrap().0;

    let second = app(&s, "two")
        .input("tag-mutability", "IMMUTABLE")
        .input("tags", "release\nbuild-{{run-number}}")
        .env("GITHUB_RUN_NUMBER", "13")
        .run();
    second.expect_code(1);
    let (title, message) = &second.errors()[0];
    assert_eq!(title, "Tag already exists");
    assert!(
        message.contains("the tag 'release' already points to another image"),
        "{message}"
    );
    assert!(
        message.contains(&before),
        "names the registry's digest: {message}"
    );
    assert!(message.contains("short-sha"), "says the way out: {message}");
    assert_eq!(s.reader().manifest(REPO, "release").unwrap().0, before);
    assert!(
        s.reader().manifest(REPO, "build-13").is_none(),
        "nothing uploaded"
    );
    second.assert_no_secret_leaked(&s.secrets(), true);
}

fn a_build_error_shows_the_failing_step_and_its_output() {
    let s = StandIns::start();
    // The classic builder's failure (BuildKit's: tests/buildkit.rs).
    let result = s
        .action()
        .input("builder", "classic")
        .write_file(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN echo preparing && echo 'compiler says: missing semicolon' && exit 3\n",
                s.base
            ),
        )
        .run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Build failed");
    assert!(message.contains("Step 2/"), "{message}");
    assert!(message.contains("RUN echo preparing"), "{message}");
    assert!(
        message.contains("compiler says: missing semicolon"),
        "{message}"
    );
    assert!(message.contains("returned a non-zero code: 3"), "{message}");
    assert!(s.reader().tags(REPO).is_empty());
    // Before the build the run only read (an earlier build of these inputs): a failed build
    // leaves nothing in ECR.
    assert!(s.proxy.writes().is_empty(), "{:?}", s.proxy.calls());
    assert!(s.repositories().is_empty());
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn an_unreachable_daemon_is_reported_before_any_aws_call() {
    let s = StandIns::start();
    let result = s
        .action()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Docker daemon not reachable");
    assert!(message.contains("DOCKER_HOST"), "{message}");
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    assert_eq!(s.oidc.requests(), 0);
}

fn docker_host_is_honoured() {
    let s = StandIns::start();
    // The daemon's socket under a name only DOCKER_HOST knows.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("elsewhere.sock");
    std::os::unix::fs::symlink(support::Daemon::current().socket(), &socket).unwrap();
    let result = s
        .action()
        .env("DOCKER_HOST", &format!("unix://{}", socket.display()))
        .input("tags", "via-docker-host")
        .run();
    result.expect_code(0);
    assert_eq!(s.reader().tags(REPO), ["via-docker-host"]);
}

fn a_context_that_cannot_be_packed_is_named_as_the_cause() {
    let s = StandIns::start();
    let result = s.action().write_file(".dockerignore", "logs/[\n").run();
    result.expect_code(1);
    // Read with the inputs, before any call; the line is named, not shown.
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Invalid input 'context'", "{result}");
    assert!(
        message.contains("line 1 of the context's .dockerignore is not a valid pattern"),
        "{message}"
    );
    assert!(!message.contains("logs/["), "{message}");
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    assert!(s.reader().tags(REPO).is_empty());
}

fn push_false_reports_what_a_push_would_do() {
    let s = StandIns::start();
    // The same commit must make the same image: no inline cache (see the unchanged re-run).
    let immutable = |run: ActionRun| {
        run.input("tag-mutability", "IMMUTABLE")
            .input("tags", "release")
            .input("cache", "off")
    };
    let dry_first = immutable(app(&s, "one")).input("push", "false").run();
    dry_first.expect_code(0);
    assert!(
        dry_first
            .stdout
            .contains("a push would create the repository and write"),
        "{dry_first}"
    );
    immutable(app(&s, "one")).run().expect_code(0);

    let same = immutable(app(&s, "one")).input("push", "false").run();
    same.expect_code(0);
    assert!(same.stdout.contains("a push would send nothing"), "{same}");

    let other = immutable(app(&s, "two")).input("push", "false").run();
    other.expect_code(0);
    assert!(
        other
            .stdout
            .contains("::warning title=A push would fail%3A Tag already exists::"),
        "{other}"
    );
    assert_eq!(s.reader().tags(REPO), ["release"]);
    for run in [&dry_first, &same, &other] {
        run.assert_no_secret_leaked(&s.secrets(), true);
    }
}

fn a_run_that_fails_after_building_leaves_no_name_of_ours() {
    let s = StandIns::start();
    // The repository is missing, and creating it is refused: after the build.
    s.proxy.inject(support::Fault::ecr(
        "CreateRepository",
        1,
        400,
        "AccessDeniedException",
        "not authorized to perform: ecr:CreateRepository",
    ));
    // A label of this test's own finds its image among those of tests running alongside.
    let marker = format!("test.id={}", s.registry_host());
    let result = s.action().input("labels", &marker).run();
    result.expect_code(1);
    let (ok, names) = docker(&[
        "image",
        "ls",
        "--filter",
        &format!("label={marker}"),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert!(ok, "{names}");
    assert!(
        result.stdout.contains("Built ship-to-ecr-build/"),
        "the image was built before the run failed: {result}"
    );
    assert!(!names.contains("ship-to-ecr-build/"), "{names}");
}
