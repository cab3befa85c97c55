//! The build context through the build session's file sync, as the docker CLI sends it, on the
//! daemon `DOCKER_HOST` names (the test command runs it once per engine; by hand:
//! `DOCKER_HOST=unix:///path/to/engine26/docker.sock cargo test --test context_session`).
//! What reaches the image is read back out of the daemon (`docker export`), not through the
//! action's code.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest;
use ship_to_ecr::engine::buildkit::filesync::SyncedDirs;
use ship_to_ecr::engine::buildkit::session::Provided;
use ship_to_ecr::engine::buildkit::transport::Endpoint;
use ship_to_ecr::engine::buildkit::{build, BuildContext, BuildKitRequest, Built};
use ship_to_ecr::engine::docker::DockerError;
use ship_to_ecr::image::context;
use support::images::docker;

const BIG: usize = 20 << 20;

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_link_an_empty_folder_and_a_large_file_reach_the_image_and_ignored_files_do_not,
    an_unchanged_context_is_not_sent_again_and_only_a_changed_file_is,
    a_dockerfile_in_a_subfolder_or_outside_the_context_is_served_from_its_own_folder,
);

/// A context with what a tar and a file sync could each get wrong: a link, an empty folder,
/// an executable, a 20 MiB file, and files `.dockerignore` leaves out.
fn write_context(root: &Path, nonce: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(
        root.join("bin/run.sh"),
        format!("#!/bin/sh\necho {nonce}\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // Bytes that do not compress, so that nothing on the way can make them small.
    let mut big = Vec::with_capacity(BIG);
    let mut block = sha2::Sha256::digest(nonce.as_bytes());
    while big.len() < BIG {
        big.extend_from_slice(&block);
        block = sha2::Sha256::digest(block);
    }
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink("big.bin", root.join("link")).unwrap();
    std::fs::write(root.join("secret.txt"), "never in the image").unwrap();
    std::fs::create_dir_all(root.join("logs")).unwrap();
    std::fs::write(root.join("logs/build.log"), "noise").unwrap();
    std::fs::write(root.join(".dockerignore"), "secret.txt\nlogs\n").unwrap();
    std::fs::write(root.join("Dockerfile"), "FROM scratch\nCOPY . /ctx/\n").unwrap();
}

/// The daemon's newest API version, as `docker version` reports it.
fn api_version() -> String {
    docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .1
        .trim()
        .to_string()
}

/// Whether the daemon stores images in containerd (where a tar in the body cannot build
/// before Docker 27.5).
fn containerd_store() -> bool {
    docker(&["info", "--format", "{{json .DriverStatus}}"])
        .1
        .contains("io.containerd.snapshotter")
}

fn build_as(
    tag: &str,
    context: BuildContext,
    dockerfile: &str,
) -> (Result<Built, DockerError>, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut lines = Vec::new();
    let result = runtime.block_on(build(
        &Endpoint::from_docker_host(Some(&support::Daemon::current().docker_host()), false)
            .expect("a unix DOCKER_HOST"),
        BuildKitRequest {
            api_version: &api_version(),
            context,
            dockerfile,
            tag,
            build_args: &[],
            labels: &[],
            target: None,
            platform: None,
            cache_from: &[],
            inline_cache: false,
            registry_cache: None,
            provided: Provided::default(),
            silence_limit: std::time::Duration::from_secs(300),
        },
        |l| lines.push(l.to_string()),
    ));
    (result, lines)
}

/// The build, and the (files, bytes) the daemon read through the session.
fn through_the_session(root: &Path, tag: &str) -> (Built, (u64, u64)) {
    let listing = context::listing(root, &root.join("Dockerfile")).unwrap();
    let synced = SyncedDirs::default()
        .with("context", listing.context)
        .with("dockerfile", listing.dockerfile)
        .shared_as(&listing.shared_key);
    let sent = synced.clone();
    let (result, lines) = build_as(tag, BuildContext::Session(synced), &listing.dockerfile_name);
    let built = result.unwrap_or_else(|e| panic!("{e:?}\n{}", lines.join("\n")));
    (built, sent.sent())
}

/// Each entry under `/ctx` in the image: its kind and mode, and its content's digest or its
/// link's target.
fn image_files(tag: &str) -> BTreeMap<String, String> {
    let (ok, id) = docker(&["create", tag, "/none"]);
    assert!(ok, "docker create: {id}");
    let id = id.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fs.tar");
    let (ok, text) = docker(&["export", "-o", &out.display().to_string(), &id]);
    docker(&["rm", "--force", &id]);
    assert!(ok, "docker export: {text}");
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let Some(name) = path.strip_prefix("ctx/").filter(|n| !n.is_empty()) else {
            continue;
        };
        let name = name.trim_end_matches('/').to_string();
        let header = entry.header();
        let mode = header.mode().unwrap() & 0o7777;
        let what = match header.entry_type() {
            tar::EntryType::Directory => format!("dir {mode:o}"),
            tar::EntryType::Symlink => {
                format!("link -> {}", header.link_name().unwrap().unwrap().display())
            }
            _ => {
                let mut hash = sha2::Sha256::new();
                std::io::copy(&mut entry, &mut hash).unwrap();
                format!("file {mode:o} {:x}", hash.finalize())
            }
        };
        files.insert(name, what);
    }
    files
}

fn a_link_an_empty_folder_and_a_large_file_reach_the_image_and_ignored_files_do_not() {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_context(root, &nonce);
    let tag = format!("ship-to-ecr-session-test/{nonce}:session");
    let (built, _) = through_the_session(root, &tag);
    assert!(built.id.starts_with("sha256:"), "{built:?}");
    let files = image_files(&tag);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            "Dockerfile",
            "big.bin",
            "bin",
            "bin/run.sh",
            "empty",
            "link"
        ],
        "{files:#?}"
    );
    let big = std::fs::read(root.join("big.bin")).unwrap();
    assert_eq!(
        files["big.bin"],
        format!("file 644 {:x}", sha2::Sha256::digest(&big))
    );
    assert!(files["bin/run.sh"].starts_with("file 755 "), "{files:#?}");
    assert!(files["empty"].starts_with("dir "), "{files:#?}");
    assert_eq!(files["link"], "link -> big.bin");

    if !containerd_store() {
        // The tar in the body, where the daemon can read it: the same files.
        let tar_tag = format!("ship-to-ecr-session-test/{nonce}:tar");
        // Packing runs on a runtime's blocking threads.
        let packer = tokio::runtime::Runtime::new().unwrap();
        let _entered = packer.enter();
        let streamed = context::stream(root, &root.join("Dockerfile")).unwrap();
        let (result, lines) = build_as(
            &tar_tag,
            BuildContext::Tar(Box::pin(streamed.body)),
            &streamed.dockerfile,
        );
        result.unwrap_or_else(|e| panic!("{e:?}\n{}", lines.join("\n")));
        assert_eq!(
            image_files(&tar_tag),
            files,
            "the tar route and the session agree"
        );
        docker(&["rmi", "--force", &tar_tag]);
    }
    docker(&["rmi", "--force", &tag]);
}

fn an_unchanged_context_is_not_sent_again_and_only_a_changed_file_is() {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_context(root, &nonce);
    let tag = format!("ship-to-ecr-session-test/{nonce}:again");
    let (first, (_, first_bytes)) = through_the_session(root, &tag);
    let (second, (_, second_bytes)) = through_the_session(root, &tag);
    assert_eq!(first.id, second.id, "the same files, the same image");
    assert!(
        first_bytes >= BIG as u64,
        "the first build reads it all: {first_bytes}"
    );
    assert!(
        second_bytes < 1 << 20,
        "an unchanged context is not sent again: {second_bytes} bytes"
    );
    std::fs::write(root.join("bin/run.sh"), "#!/bin/sh\necho changed\n").unwrap();
    let (third, (third_files, third_bytes)) = through_the_session(root, &tag);
    assert_ne!(third.id, first.id, "a changed file reaches the build");
    assert!(
        third_files >= 1 && third_bytes < 1 << 20,
        "only what changed is sent: {third_files} files, {third_bytes} bytes"
    );
    let files = image_files(&tag);
    let changed = format!("{:x}", sha2::Sha256::digest(b"#!/bin/sh\necho changed\n"));
    assert!(files["bin/run.sh"].ends_with(&changed), "{files:#?}");
    docker(&["rmi", "--force", &tag]);
}

fn a_dockerfile_in_a_subfolder_or_outside_the_context_is_served_from_its_own_folder() {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir_all(root.join("docker")).unwrap();
    std::fs::write(root.join("index.html"), &nonce).unwrap();
    std::fs::write(
        root.join("docker/web.Dockerfile"),
        "FROM scratch\nCOPY index.html /inside/\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("outside.Dockerfile"),
        "FROM scratch\nCOPY index.html /outside/\n",
    )
    .unwrap();
    for (dockerfile, expected) in [
        (root.join("docker/web.Dockerfile"), "inside"),
        (dir.path().join("outside.Dockerfile"), "outside"),
    ] {
        let listing = context::listing(&root, &dockerfile).unwrap();
        let synced = SyncedDirs::default()
            .with("context", listing.context)
            .with("dockerfile", listing.dockerfile)
            .shared_as(&listing.shared_key);
        let tag = format!("ship-to-ecr-session-test/{nonce}:{expected}");
        let (result, lines) = build_as(
            &tag,
            BuildContext::Session(synced),
            &listing.dockerfile_name,
        );
        result.unwrap_or_else(|e| panic!("{e:?}\n{}", lines.join("\n")));
        let (ok, id) = docker(&["create", &tag, "/none"]);
        assert!(ok, "{id}");
        let (ok, out) = docker(&["cp", &format!("{}:/{expected}/index.html", id.trim()), "-"]);
        docker(&["rm", "--force", id.trim()]);
        assert!(ok && out.contains(&nonce), "{out}");
        docker(&["rmi", "--force", &tag]);
    }
}
