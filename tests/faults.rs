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
