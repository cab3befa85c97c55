//! What registries really do, end to end: a brownout (every request answered 503) ridden out
//! within the run's shared retry budget, or failed cleanly inside it with no tag written; a
//! `Retry-After` waited out, or refused at once when it asks for more than the budget; a job
//! cancelled mid-push or mid-build; credentials that run out before or during the push.

use std::time::{Duration, Instant};

use support::{registry_password, Fault, RegistryProxy, RetryAfter, StandIns};

const REPO: &str = "octo-org/web-app";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_build_cancelled_stops_within_seconds,
    a_registry_password_that_runs_out_mid_push_is_renewed_once_and_the_push_completes,
    renewed_credentials_refused_again_fail_the_run_with_no_tag,
    a_session_about_to_end_after_the_build_is_renewed_before_the_push,
);

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

/// When the proxy first answered `status`: the moment a test times the run's reaction from.
fn first_answered(proxy: &RegistryProxy, status: u16) -> Instant {
    proxy
        .log()
        .iter()
        .find(|seen| seen.status == status)
        .unwrap_or_else(|| panic!("no request was answered {status}"))
        .at
}

/// A brownout of `brownout` from the first upload on, longer than the run's retry `budget`:
/// the run fails inside the budget counted from the first 503 (no sooner than the budget less
/// one backoff step, at most ten seconds), with one annotation and no tag.
fn fails_within_the_budget(brownout: Duration, budget: Duration, retry_seconds: Option<&str>) {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    proxy.brownout_after(12, brownout);
    let mut run = s.action().input("registry-url", proxy.url());
    if let Some(seconds) = retry_seconds {
        run = run.input("retry-seconds", seconds);
    }
    let result = run.run();
    let ended = Instant::now();
    result.expect_code(1);
    let took = ended - first_answered(&proxy, 503);
    assert!(took >= budget - Duration::from_secs(10), "{took:?}");
    assert!(took <= budget + Duration::from_secs(5), "{took:?}");
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    assert!(errors[0].1.contains("503"), "{errors:?}");
    assert!(errors[0].1.contains("Nothing was tagged"), "{errors:?}");
    assert!(s.reader().tags(REPO).is_empty(), "no tag may be written");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_brownout_longer_than_the_default_budget_fails_within_it_and_writes_no_tag() {
    fails_within_the_budget(Duration::from_secs(150), Duration::from_secs(120), None);
}

#[test]
fn a_brownout_longer_than_a_shorter_budget_fails_within_it_and_writes_no_tag() {
    fails_within_the_budget(Duration::from_secs(90), Duration::from_secs(15), Some("15"));
}

/// How long after each refused `PUT` of a manifest the same request came again.
fn waits_after_refusals(proxy: &RegistryProxy) -> Vec<Duration> {
    let log = proxy.log();
    log.iter()
        .enumerate()
        .filter(|(_, seen)| seen.method == "PUT" && seen.status >= 429)
        .map(|(i, refused)| {
            let again = log[i + 1..]
                .iter()
                .find(|seen| seen.method == refused.method && seen.path == refused.path)
                .expect("the refused request was sent again");
            again.at - refused.at
        })
        .collect()
}

#[test]
fn a_retry_after_in_seconds_or_as_a_date_is_waited_out() {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    // An HTTP date has whole seconds: four after the answer is at least three.
    proxy.busy(
        "PUT",
        "/manifests/",
        &[
            (429, RetryAfter::Seconds(3)),
            (503, RetryAfter::DateIn(Duration::from_secs(4))),
        ],
    );
    let result = s.action().input("registry-url", proxy.url()).run();
    result.expect_code(0);
    let waits = waits_after_refusals(&proxy);
    assert_eq!(waits.len(), 2, "{waits:?}");
    for wait in &waits {
        assert!(*wait >= Duration::from_secs(3), "sent again after {wait:?}");
    }
    let digest = result.output("digest").unwrap();
    for tag in result.output("tags").unwrap().lines() {
        let (held, _) = s.reader().manifest(REPO, tag).expect("the tag");
        assert_eq!(held, digest, "{tag}");
    }
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_retry_after_beyond_the_budget_fails_at_once_and_writes_no_tag() {
    let s = StandIns::start();
    let proxy = RegistryProxy::start(&s.registry.url);
    proxy.busy("PUT", "/manifests/", &[(429, RetryAfter::Seconds(600))]);
    let result = s
        .action()
        .input("registry-url", proxy.url())
        .input("retry-seconds", "30")
        .run();
    let ended = Instant::now();
    result.expect_code(1);
    // Not slept through: the run ends well inside the budget after the refusal.
    let took = ended - first_answered(&proxy, 429);
    assert!(took < Duration::from_secs(30), "{took:?}");
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    assert!(errors[0].1.contains("429"), "{errors:?}");
    assert!(errors[0].1.contains("600 s"), "{errors:?}");
    assert_eq!(
        manifest_puts(&proxy),
        1,
        "tried once, not again after the budget"
    );
    assert!(s.reader().tags(REPO).is_empty(), "no tag may be written");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

/// How many manifest `PUT`s were sent.
fn manifest_puts(proxy: &RegistryProxy) -> usize {
    proxy
        .log()
        .iter()
        .filter(|seen| seen.method == "PUT" && seen.path.contains("/manifests/"))
        .count()
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
/// The name the run gave its build in the daemon (`Build NAME with ...` in its log).
fn own_temporary_name(log: &str) -> Option<String> {
    let start = log.find("Build ship-to-ecr-build/")? + "Build ".len();
    log[start..].split_whitespace().next().map(str::to_string)
}

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
    // The build's temporary name left the daemon with the run (other tests' builds may hold
    // names of their own meanwhile).
    let own = own_temporary_name(&result.stdout).unwrap_or_else(|| panic!("{result}"));
    let after = temporary_names();
    assert!(!after.contains(&own), "left behind: {own} in {after:?}");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

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

/// ECR hands out `renewed` as the registry password from its second token on.
fn renewed_tokens(s: &StandIns, renewed: &str) {
    let token = support::b64(&format!("AWS:{renewed}"));
    s.proxy
        .rewrite("ecr:GetAuthorizationToken", move |_, mut answer, given| {
            if given > 0 {
                answer["authorizationData"][0]["authorizationToken"] = token.clone().into();
            }
            answer
        });
}

/// The stand-ins' secrets and the renewed password, in both forms.
fn secrets_with(s: &StandIns, renewed: &str) -> Vec<String> {
    let mut secrets = s.secrets();
    secrets.push(renewed.to_string());
    secrets.push(support::b64(&format!("AWS:{renewed}")));
    secrets
}

fn a_registry_password_that_runs_out_mid_push_is_renewed_once_and_the_push_completes() {
    let s = StandIns::start();
    let renewed = format!("renewed-{}", s.nonce);
    renewed_tokens(&s, &renewed);
    let proxy = RegistryProxy::start(&s.registry.url);
    // Past the login check and the tag lookups, into the uploads.
    proxy.password_runs_out_after(12, &registry_password(), &renewed);
    let result = s.action().input("registry-url", proxy.url()).run();
    result.expect_code(0);
    assert!(
        proxy.refused_credentials() >= 1,
        "the old password was refused"
    );
    assert_eq!(s.proxy.count("ecr:GetAuthorizationToken"), 2);
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 1);
    let digest = result.output("digest").unwrap();
    let reader = s.reader();
    for tag in result.output("tags").unwrap().lines() {
        assert_eq!(
            reader.manifest(REPO, tag).expect("the tag").0,
            digest,
            "{tag}"
        );
    }
    reader.assert_layers_match_the_config(REPO, "latest");
    result.assert_no_secret_leaked(&secrets_with(&s, &renewed), true);
}

fn renewed_credentials_refused_again_fail_the_run_with_no_tag() {
    let s = StandIns::start();
    let renewed = format!("renewed-{}", s.nonce);
    renewed_tokens(&s, &renewed);
    let proxy = RegistryProxy::start(&s.registry.url);
    // The registry wants a password ECR never hands out.
    proxy.password_runs_out_after(12, &registry_password(), "another-password");
    let result = s.action().input("registry-url", proxy.url()).run();
    result.expect_code(1);
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    assert!(
        errors[0]
            .1
            .contains("fetched afresh after an earlier refusal"),
        "{errors:?}"
    );
    assert_eq!(s.proxy.count("ecr:GetAuthorizationToken"), 2, "one renewal");
    assert!(s.reader().tags(REPO).is_empty(), "no tag may be written");
    result.assert_no_secret_leaked(&secrets_with(&s, &renewed), true);
}

#[test]
fn a_session_that_ran_out_is_renewed_with_a_fresh_oidc_token_and_the_role_again() {
    let s = StandIns::start();
    let renewed = format!("renewed-{}", s.nonce);
    renewed_tokens(&s, &renewed);
    s.proxy.inject(
        Fault::ecr(
            "GetAuthorizationToken",
            1,
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )
        .after(1),
    );
    let proxy = RegistryProxy::start(&s.registry.url);
    proxy.password_runs_out_after(12, &registry_password(), &renewed);
    let result = s.action().input("registry-url", proxy.url()).run();
    result.expect_code(0);
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 2);
    assert_eq!(s.proxy.count("ecr:GetAuthorizationToken"), 3);
    assert_eq!(
        s.oidc.tokens().len(),
        2,
        "a fresh OIDC token for the new session"
    );
    assert!(
        result.stdout.contains("assuming the role again"),
        "{result}"
    );
    let digest = result.output("digest").unwrap();
    assert_eq!(s.reader().manifest(REPO, "latest").unwrap().0, digest);
    result.assert_no_secret_leaked(&secrets_with(&s, &renewed), true);
}

/// A build that leaves less than five minutes of the session (here: a session of two minutes
/// from the start) signs in again before the push, rather than fail half-way through it.
fn a_session_about_to_end_after_the_build_is_renewed_before_the_push() {
    let s = StandIns::start();
    s.proxy.sessions_end_in(Duration::from_secs(120), 1);
    let result = s.action().run();
    result.expect_code(0);
    assert!(
        result
            .stdout
            .contains("The AWS session ends in less than 5 minutes"),
        "{result}"
    );
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 2);
    assert_eq!(
        s.oidc.tokens().len(),
        2,
        "a fresh OIDC token for the new session"
    );
    let digest = result.output("digest").unwrap();
    assert_eq!(s.reader().manifest(REPO, "latest").unwrap().0, digest);
    result.assert_no_secret_leaked(&s.secrets(), true);
}
