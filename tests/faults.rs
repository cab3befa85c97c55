//! What registries really do, end to end: a brownout (every request answered 503) ridden out
//! within the run's shared retry budget, or failed cleanly inside it with no tag written.

use std::time::{Duration, Instant};

use support::{RegistryProxy, StandIns};

const REPO: &str = "octo-org/web-app";

#[test]
fn a_push_rides_out_thirty_seconds_of_503s_on_every_request() {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    // Past the sign-in and the tag lookups, into the uploads.
    proxy.brownout_after(12, Duration::from_secs(30));
    let started = Instant::now();
    let result = s.action().input("registry-url", proxy.url()).run();
    result.expect_code(0);
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(proxy.refused() >= 5, "{} refused", proxy.refused());
    // Every tag holds the digest the run reported, and every blob is there.
    let digest = result.output("digest").unwrap();
    let reader = s.reader();
    for tag in result.output("tags").unwrap().lines() {
        let (held, _) = reader.manifest(REPO, tag).expect("the tag");
        assert_eq!(held, digest, "{tag}");
    }
    reader.assert_layers_match_the_config(REPO, "latest");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_brownout_longer_than_the_budget_fails_within_it_and_writes_no_tag() {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    proxy.brownout(Duration::from_secs(90));
    let started = Instant::now();
    let result = s
        .action()
        .input("registry-url", proxy.url())
        .input("retry-seconds", "15")
        .run();
    result.expect_code(1);
    let took = started.elapsed();
    // The budget, plus what signing in and one backoff step take: well before the brownout ends.
    assert!(took < Duration::from_secs(15 + 20), "{took:?}");
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    assert!(errors[0].1.contains("503"), "{errors:?}");
    assert!(s.reader().tags(REPO).is_empty(), "no tag may be written");
}

/// Signals the run as the runner cancels a job; it must end within five seconds with `code`
/// and one "Interrupted" annotation naming the signal.
fn cancelled(running: support::Running, signal: &str, code: i32) -> support::ActionResult {
    running.signal(signal);
    let signalled = Instant::now();
    let result = running.wait();
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    result.expect_code(code);
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    assert_eq!(errors[0].0, "Interrupted", "{result}");
    assert!(errors[0].1.contains(&format!("SIG{signal}")), "{errors:?}");
    result
}

/// The daemon's image names made by builds for their own use.
fn temporary_names() -> Vec<String> {
    let (_, listing) = support::images::docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    listing
        .lines()
        .filter(|l| l.starts_with("ship-to-ecr-build/"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_push_cancelled_in_a_brownout_stops_within_seconds_and_writes_no_tag() {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    proxy.brownout_after(12, Duration::from_secs(90));
    let before = temporary_names();
    let running = s.action().input("registry-url", proxy.url()).spawn();
    let waited = Instant::now();
    while proxy.refused() < 3 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the push never reached the brownout"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let result = cancelled(running, "TERM", 143);
    assert!(s.reader().tags(REPO).is_empty(), "no tag may be written");
    // The build's temporary name left the daemon with the run.
    let after = temporary_names();
    assert!(
        after.iter().all(|n| before.contains(n)),
        "left behind: {after:?}"
    );
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_build_cancelled_stops_within_seconds() {
    let s = StandIns::start();
    let running = s
        .action()
        .write_file(
            "Dockerfile",
            &format!("FROM {}\nRUN sleep 60\nCOPY hello.txt /hello.txt\n", s.base),
        )
        .spawn();
    std::thread::sleep(Duration::from_secs(4));
    cancelled(running, "INT", 130);
    assert!(s.reader().tags(REPO).is_empty());
}
