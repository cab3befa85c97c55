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
