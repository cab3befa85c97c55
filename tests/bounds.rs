//! A hostile source registry cannot hold the action's memory or its time: a 100 MB manifest, a
//! chunked body that never ends and a body trickled one byte a second each end the run with a
//! clear failure, within the bound, the action's peak memory well under 64 MB.

use std::time::{Duration, Instant};

use support::{ActionResult, ActionRun, ClosedPort, HostileRegistry, Hostility};

const PASSWORD: &str = "base-password-51d7";
const PEAK_MEMORY_KB: u64 = 64 * 1024;

/// A patch of `team/base:1` from `registry`; no AWS call is reached, so AWS points nowhere.
fn patch_from(registry: &HostileRegistry, nowhere: &ClosedPort) -> ActionRun {
    ActionRun::new()
        .env("AWS_ENDPOINT_URL", &nowhere.url())
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &nowhere.url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
        .input("aws-region", "us-east-1")
        .input("role-to-assume", "arn:aws:iam::123456789012:role/deploy")
        .input("repository", "octo-org/web-app")
        .input("base-image", &format!("{}/team/base:1", registry.host()))
        .input("base-image-username", "puller")
        .input("base-image-password", PASSWORD)
        .input("env", "MODE=patched")
}

/// Runs the patch against a registry answering manifests the `hostility` way; returns the
/// result, the time it took and the peak memory (kB), after the checks every case shares: exit
/// 1, one error annotation, no secret shown.
fn run_against(hostility: Hostility) -> (ActionResult, Duration, u64, HostileRegistry) {
    let registry = HostileRegistry::start(hostility);
    let nowhere = ClosedPort::hold();
    let started = Instant::now();
    let (result, peak_kb) = patch_from(&registry, &nowhere).run_measuring_memory();
    let took = started.elapsed();
    result.expect_code(1);
    assert_eq!(result.errors().len(), 1, "{}", result.stdout);
    result.assert_no_secret_leaked(&[PASSWORD.to_string()], true);
    assert!(
        peak_kb < PEAK_MEMORY_KB,
        "peak memory {peak_kb} kB: {}",
        result.stdout
    );
    (result, took, peak_kb, registry)
}

#[test]
fn a_100_mb_manifest_is_refused_from_its_length_without_being_read() {
    let (result, took, _, registry) = run_against(Hostility::Huge);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Cannot read the base image", "{message}");
    assert!(message.contains("more than 4 MiB"), "{message}");
    assert!(message.contains("GET manifest team/base:1"), "{message}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    // Refused, not retried: the same answer would come again.
    assert_eq!(registry.manifest_requests(), 1);
    assert!(
        registry.bytes_sent() < 32 * 1024 * 1024,
        "{}",
        registry.bytes_sent()
    );
}

#[test]
fn an_endless_manifest_is_cut_at_4_mib() {
    let (result, took, _, registry) = run_against(Hostility::Endless);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Cannot read the base image", "{message}");
    assert!(message.contains("more than 4 MiB"), "{message}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(registry.manifest_requests(), 1);
}

#[test]
fn a_manifest_trickled_a_byte_a_second_fails_within_the_request_time_and_its_retries() {
    let (result, took, _, registry) = run_against(Hostility::Trickle);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Cannot read the base image", "{message}");
    assert!(
        message.contains("did not finish answering GET manifest team/base:1 within 30 s"),
        "{message}"
    );
    // 30 s a try, retried within the minute a person waits for a read.
    assert!(took >= Duration::from_secs(30), "{took:?}");
    assert!(took < Duration::from_secs(80), "{took:?}");
    assert!((1..=3).contains(&registry.manifest_requests()));
}
