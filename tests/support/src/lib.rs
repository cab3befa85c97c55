//! Test support: the stand-ins a run needs, and the action binary run as the runner runs it.
//!
//! Every test starts its own stand-ins, each on a loopback port it binds itself and reports
//! (moto, a recording proxy in front of it, the OIDC issuer, the registry), so tests run in
//! parallel, never race for a port, and start from empty state.
//!
//! A library of its own (a dev-dependency of the action's crate) so that the tests, the
//! benchmarks and the demo share it, each using the part it needs.

mod action_result;
mod action_run;
mod aws_proxy;
pub mod base_images;
pub mod bench;
pub mod daemon;
pub mod ecs;
mod github_api;
mod hostile_registry;
mod http;
pub mod images;
mod net;
mod oidc;
pub mod processes;
mod registry_proxy;
mod stand_ins;

use std::path::{Path, PathBuf};

use base64::Engine;

pub use action_result::{parse_file_commands, ActionResult};
pub use action_run::{ActionRun, Running};
pub use aws_proxy::{AwsProxy, Fault, Script};
pub use daemon::Daemon;
pub use github_api::{ApiCall, GitHubApi};
pub use hostile_registry::{HostileRegistry, Hostility};
pub use http::block_on;
pub use net::ClosedPort;
pub use oidc::{OidcIssuer, RunClaims};
pub use registry_proxy::{RegistryProxy, RetryAfter};
pub use stand_ins::StandIns;

/// moto puts every resource created with unrecognised keys in this account; the role used by
/// the tests lives in it, so the assumed-role calls and the tests' own checks see one state.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";

/// What moto's `GetAuthorizationToken` decodes to, after `AWS:`.
pub fn registry_password() -> String {
    format!("{ACCOUNT}-auth-token")
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A path in the project: this crate lives in its `tests/support`.
pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}
