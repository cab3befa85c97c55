//! What every benchmark starts with.

use crate::{images, StandIns};

/// Whether cargo bench asked for a measurement: `cargo test --all-targets` also runs bench
/// targets, which then only say what they are.
pub fn asked(name: &str) -> bool {
    let asked = std::env::args().any(|a| a == "--bench");
    if !asked {
        println!("{name}: a benchmark; run it with scripts/bench");
    }
    asked
}

/// A Docker config folder logged in to the stand-ins' registry, for the docker CLI peers
/// (`DOCKER_CONFIG`; the user's own config is never touched).
pub fn cli_config(s: &StandIns) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    images::cli_login(config.path(), &s.registry_host());
    config
}

/// How many rounds a benchmark runs: `default`, or `BENCH_ROUNDS` for a quick check of a
/// change to a benchmark (medians of fewer rounds are not figures to report).
pub fn rounds(default: usize) -> usize {
    match std::env::var("BENCH_ROUNDS") {
        Ok(n) => n
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("BENCH_ROUNDS is a whole number above 0, not {n:?}")),
        Err(_) => default,
    }
}

/// What the current daemon is, for the tables: "Docker 20.10.24+dfsg1, classic image store".
pub fn engine_label() -> String {
    let (ok, version) = images::docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(ok, "docker version: {version}");
    let store = match crate::Daemon::current() {
        crate::Daemon::Docker20 => "classic image store",
        crate::Daemon::Docker26 => "containerd image store",
    };
    format!("Docker {}, {store}", version.trim())
}

/// The daemons a benchmark runs on: both, or those `BENCH_DAEMONS` names (`docker20`,
/// `docker26`, comma-separated) for a quick check on one.
pub fn daemons() -> Vec<crate::Daemon> {
    let Ok(names) = std::env::var("BENCH_DAEMONS") else {
        return crate::Daemon::ALL.to_vec();
    };
    names
        .split(',')
        .map(|name| match name.trim() {
            "docker20" => crate::Daemon::Docker20,
            "docker26" => crate::Daemon::Docker26,
            other => panic!("BENCH_DAEMONS names docker20 or docker26, not {other:?}"),
        })
        .collect()
}
