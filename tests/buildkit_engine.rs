//! The BuildKit engine against the daemon `DOCKER_HOST` names, below the action: the session
//! serves the context and a secret, the progress reads as the CLI's, a failure names its step and keeps its last lines.

use std::collections::HashMap;

use ship_to_ecr::engine::buildkit::filesync::SyncedDirs;
use ship_to_ecr::engine::buildkit::session::Provided;
use ship_to_ecr::engine::buildkit::transport::Endpoint;
use ship_to_ecr::engine::buildkit::{build, BuildContext, BuildKitRequest, Built};
use ship_to_ecr::engine::docker::DockerError;
use support::images::{docker, unique_base};

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_secret_is_served_and_the_progress_reads_as_the_cli,
    a_failed_step_is_named_with_its_last_lines,
);

/// The Dockerfile alone, served through the session as the docker CLI serves a context.
fn context(dir: &std::path::Path, dockerfile: &str) -> BuildContext {
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let listing = ship_to_ecr::image::context::listing(dir, &dir.join("Dockerfile")).unwrap();
    BuildContext::Session(
        SyncedDirs::default()
            .with("context", listing.context)
            .with("dockerfile", listing.dockerfile)
            .shared_as(&listing.shared_key),
    )
}

fn run(
    dockerfile: &str,
    tag: &str,
    secrets: &[(&str, &str)],
) -> (Result<Built, DockerError>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let provided = Provided {
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        credentials: HashMap::new(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut lines = Vec::new();
    let result = runtime.block_on(build(
        &Endpoint::from_docker_host(Some(&support::Daemon::current().docker_host()), false)
            .expect("a unix DOCKER_HOST"),
        BuildKitRequest {
            api_version: &docker_api_version(),
            context: context(dir.path(), dockerfile),
            dockerfile: "Dockerfile",
            tag,
            build_args: &[],
            labels: &[("team".into(), "platform".into())],
            target: None,
            platform: None,
            cache_from: &[],
            inline_cache: true,
            registry_cache: None,
            provided,
            silence_limit: std::time::Duration::from_secs(300),
        },
        |l| lines.push(l.to_string()),
    ));
    (result, lines)
}

/// The daemon's newest API version, as `docker version` reports it.
fn docker_api_version() -> String {
    docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .1
        .trim()
        .to_string()
}

fn a_secret_is_served_and_the_progress_reads_as_the_cli() {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let base = unique_base(&format!("ship-to-ecr-local/engine-{nonce}:1"), &nonce);
    let tag = format!("ship-to-ecr-engine-test/{nonce}:1");
    let dockerfile = format!(
        "FROM {base}\nRUN --mount=type=cache,target=/cache echo {nonce} > /cache/x\nRUN --mount=type=secret,id=tok sha256sum /run/secrets/tok > /hash && echo hashed\n"
    );
    let (result, lines) = run(&dockerfile, &tag, &[("tok", "s3cr3t-value")]);
    let built = result.unwrap_or_else(|e| panic!("{e:?}\n{}", lines.join("\n")));
    assert!(built.id.starts_with("sha256:"), "{built:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("3/3] RUN --mount=type=secret")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" hashed")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(" DONE ")), "{lines:#?}");
    // At least the three steps of this Dockerfile: BuildKit 0.13 (Docker 26) shows a step it
    // shares with a build running at the same time in both builds' progress.
    assert!(built.cache.steps >= 3, "{lines:#?}");
    let (ok, out) = docker(&["run", "--rm", &tag, "cat", "/hash"]);
    assert!(ok, "{out}");
    // sha256 of "s3cr3t-value"
    assert!(
        out.starts_with("1f3fa74b1208842aad0b685f0cd06053a9e84f0eb7f2c1c94c96ea25cb13cd77"),
        "{out}"
    );
    let (_, labels) = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &tag,
    ]);
    assert!(labels.contains("\"team\":\"platform\""), "{labels}");
    docker(&["rmi", "--force", &tag, &base]);
}

fn a_failed_step_is_named_with_its_last_lines() {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let base = unique_base(&format!("ship-to-ecr-local/engine-{nonce}:1"), &nonce);
    let dockerfile = format!(
        "FROM {base}\nRUN echo {nonce} && echo 'compiler says: missing semicolon' && false\n"
    );
    let (result, lines) = run(
        &dockerfile,
        &format!("ship-to-ecr-engine-test/{nonce}:1"),
        &[],
    );
    let Err(DockerError::Build(failure)) = result else {
        panic!("expected a build failure: {result:?}\n{}", lines.join("\n"));
    };
    assert!(
        failure
            .step
            .as_deref()
            .unwrap_or("")
            .contains("2/2] RUN echo"),
        "{failure:?}"
    );
    assert!(
        failure
            .output
            .iter()
            .any(|l| l.contains("missing semicolon")),
        "{failure:?}"
    );
    docker(&["rmi", "--force", &base]);
}
