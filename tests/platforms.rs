//! `platform` for an architecture the daemon cannot execute (issue 31): nothing is refused before
//! the build, a Dockerfile that cross-builds needs no emulator, and a step that cannot execute
//! fails with the platforms the daemon's BuildKit runs and the two fixes. This machine's daemons
//! are amd64 with no emulator registered, which is the case these tests need.

use ship_to_ecr::engine::buildkit::transport::Endpoint;
use ship_to_ecr::engine::buildkit::workers;
use support::base_images::SourceRegistry;
use support::images::docker;
use support::{Daemon, StandIns};

const REPO: &str = "octo-org/web-app";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_cross_building_dockerfile_builds_and_pushes_an_arm64_image,
    a_step_that_cannot_execute_for_the_platform_names_what_the_daemon_runs,
    the_daemon_s_buildkit_says_which_platforms_it_runs,
);

/// Whether this machine could run arm64 programs, natively or through an emulator registered
/// with the kernel; the tests below need a machine that cannot.
fn runs_arm64() -> bool {
    std::env::consts::ARCH == "aarch64"
        || std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists()
}

fn a_cross_building_dockerfile_builds_and_pushes_an_arm64_image() {
    let s = StandIns::start();
    // The RUN stage runs on the build's own platform; the arm64 stage only copies.
    let result = s
        .action()
        .write_file(
            "Dockerfile",
            &format!(
                "FROM --platform=$BUILDPLATFORM {0} AS build\nARG TARGETPLATFORM\n\
                 RUN echo \"built for $TARGETPLATFORM {1}\" > /out\n\
                 FROM scratch\nCOPY --from=build /out /out\n",
                s.base, s.nonce
            ),
        )
        .input("platform", "linux/arm64")
        .run();
    result.expect_code(0);
    let config = s.reader().config(REPO, "main");
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(config["os"], "linux", "{config}");
    let out = s
        .reader()
        .files(REPO, "main")
        .into_iter()
        .find(|(path, _)| path == "out")
        .map(|(_, content)| String::from_utf8_lossy(&content).into_owned());
    assert_eq!(
        out,
        Some(format!("built for linux/arm64 {}\n", s.nonce)),
        "{result}"
    );
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn a_step_that_cannot_execute_for_the_platform_names_what_the_daemon_runs() {
    if runs_arm64() {
        println!("skipped: this machine can run linux/arm64 (native or through qemu)");
        return;
    }
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_arm64_base("team/arm", "1");
    let result = s
        .action()
        .write_file(
            "Dockerfile",
            &format!("FROM {}\nRUN echo {} > /out\n", base.reference, s.nonce),
        )
        .input("platform", "linux/arm64")
        .run();
    result.expect_code(1);
    let errors = result.errors();
    let (title, message) = &errors[0];
    assert_eq!(title, "Platform cannot run", "{result}");
    assert!(
        message.contains("exec format error"),
        "the daemon's words: {message}"
    );
    assert!(
        message.contains("linux/arm64 ('platform')"),
        "the platform: {message}"
    );
    // Asked of the daemon's BuildKit: this machine's daemons run amd64.
    assert!(
        message.contains("the Docker daemon's BuildKit runs linux/amd64"),
        "what the daemon runs: {message}"
    );
    assert!(message.contains("docker/setup-qemu-action"), "{message}");
    assert!(
        message.contains("a runner of that architecture"),
        "{message}"
    );
    assert!(s.reader().tags(REPO).is_empty(), "nothing was pushed");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn the_daemon_s_buildkit_says_which_platforms_it_runs() {
    let (ok, api) = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(ok, "{api}");
    let endpoint = Endpoint::Unix(Daemon::current().socket());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let runs = runtime
        .block_on(workers::platforms(&endpoint, api.trim()))
        .expect("ListWorkers over /grpc");
    let native = format!("linux/{}", support::base_images::arch());
    assert_eq!(
        runs.first(),
        Some(&native),
        "the native platform first: {runs:?}"
    );
    if !runs_arm64() {
        assert!(!runs.contains(&"linux/arm64".to_string()), "{runs:?}");
    }
}

/// A daemon without BuildKit's `/grpc` endpoint (older than Docker 18.09, or a proxy that only
/// passes the Docker API): the question fails with why, and never hangs.
#[test]
fn a_daemon_without_grpc_is_said_not_to_have_answered() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\npage not found\r\n\r\n",
            );
        }
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    let why = runtime
        .block_on(workers::platforms(&Endpoint::Tcp(address), "1.41"))
        .expect_err("no /grpc");
    assert!(why.contains("no /grpc endpoint"), "{why}");
    assert!(why.contains("404"), "{why}");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}
