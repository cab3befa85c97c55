//! A step that could not execute for the platform it was built for: what the daemon runs, asked
//! of the daemon only then, and the two fixes. Nothing is refused before the build: only the
//! daemon knows which emulators its kernel has registered, and a Dockerfile that cross-builds
//! (`FROM --platform=$BUILDPLATFORM`, or stages that only `COPY`) needs none.

use crate::engine::buildkit::transport::Endpoint;
use crate::engine::buildkit::workers;
use crate::error::Failure;
use crate::oci::Platform;

/// What the kernel and runc say when a program is for another architecture and no emulator is
/// registered for it.
const CANNOT_EXECUTE: &[&str] = &["exec format error", "cannot execute binary file"];

/// Whether a failed build's message says a step's program could not execute at all.
pub(super) fn cannot_execute(message: &str) -> bool {
    let lower = message.to_lowercase();
    CANNOT_EXECUTE.iter().any(|kin| lower.contains(kin))
}

/// `failure` as it is, or, when its step could not execute, with the platforms the daemon's
/// BuildKit runs and what to change.
pub(super) async fn explain(
    failure: Failure,
    platform: Option<&Platform>,
    endpoint: &Endpoint,
    api: &str,
) -> Failure {
    if !cannot_execute(&failure.message) {
        return failure;
    }
    let runs = workers::platforms(endpoint, api).await;
    let advice = advice(platform, runs.as_deref().map_err(String::as_str));
    Failure::new(
        "Platform cannot run",
        format!("{}\n\n{advice}", failure.message),
    )
}

/// The explanation: the target platform, what the daemon runs (or that it did not say, and
/// why), and the two fixes.
pub(super) fn advice(platform: Option<&Platform>, runs: Result<&[String], &str>) -> String {
    let target = match platform {
        Some(p) => format!("{p} ('platform')"),
        None => "another platform (a `FROM --platform=` in the Dockerfile)".to_string(),
    };
    let daemon = match runs {
        Ok(list) if !list.is_empty() => {
            format!("the Docker daemon's BuildKit runs {}", list.join(", "))
        }
        Ok(_) => "the daemon did not say which platforms its BuildKit runs (no worker named one)"
            .to_string(),
        Err(why) => format!("the daemon did not say which platforms its BuildKit runs ({why})"),
    };
    let runner = match platform.map(|p| p.architecture.as_str()) {
        Some("arm64") => " (for linux/arm64 on GitHub: `runs-on: ubuntu-24.04-arm`)",
        Some("amd64") => " (for linux/amd64 on GitHub: `runs-on: ubuntu-24.04`)",
        _ => "",
    };
    format!(
        "This step cannot execute programs for {target}: {daemon}, and no emulator for it is \
         registered on the runner. Either add `- uses: docker/setup-qemu-action@v3` before this \
         step, so the daemon emulates it, or run the job on a runner of that architecture{runner}. \
         Stages that only cross-build (`FROM --platform=$BUILDPLATFORM`) or only `COPY` need \
         neither."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_cannot_execute_is_told_from_other_failures() {
        assert!(cannot_execute(
            "executor failed running [/bin/sh -c make]: exit code: 1\n\
             standard_init_linux.go:228: exec user process caused: exec format error"
        ));
        assert!(cannot_execute("exec /bin/sh: Exec format error"));
        assert!(!cannot_execute(
            "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"
        ));
    }

    #[test]
    fn the_advice_names_the_platform_what_the_daemon_runs_and_both_fixes() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let runs = ["linux/amd64".to_string(), "linux/386".to_string()];
        let text = advice(Some(&arm64), Ok(&runs));
        assert!(text.contains("linux/arm64 ('platform')"), "{text}");
        assert!(
            text.contains("BuildKit runs linux/amd64, linux/386"),
            "{text}"
        );
        assert!(text.contains("docker/setup-qemu-action"), "{text}");
        assert!(text.contains("ubuntu-24.04-arm"), "{text}");

        let silent = advice(Some(&arm64), Err("the daemon offers no /grpc endpoint"));
        assert!(
            silent.contains("the daemon did not say which platforms its BuildKit runs (the daemon offers no /grpc endpoint)"),
            "{silent}"
        );
        let unnamed = advice(None, Ok(&[]));
        assert!(unnamed.contains("FROM --platform="), "{unnamed}");
        assert!(unnamed.contains("no worker named one"), "{unnamed}");
    }
}
