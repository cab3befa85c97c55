//! The same commit built twice is the same image, whatever event started the run: the image's
//! time is the commit's, read from the checkout's git data, never the clock. The second build
//! of each test is forced (`rebuild: true`): otherwise it would reuse the first image
//! (tests/reuse.rs) and prove nothing about building.

use serde_json::json;
use support::StandIns;

const REPO: &str = "octo-org/web-app";
// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    every_event_kind_gives_the_same_image_twice,
    with_the_cache_from_ecr_a_rerun_keeps_the_image_ecr_has,
);

/// When the commit under test was made: 2026-11-20T09:30:00Z.
const COMMITTED: i64 = 1_795_167_000;

fn every_event_kind_gives_the_same_image_twice() {
    let s = StandIns::start();
    let repository = json!({"full_name": REPO, "default_branch": "main"});
    let events = [
        // A push whose payload says another time: the checkout's commit wins.
        (
            "push",
            "refs/heads/main",
            json!({"ref": "refs/heads/main", "repository": repository,
                   "head_commit": {"timestamp": "2020-01-01T00:00:00Z"}}),
            "sha-",
        ),
        (
            "workflow_dispatch",
            "refs/heads/main",
            json!({"ref": "refs/heads/main", "inputs": {}, "repository": repository}),
            "sha-",
        ),
        (
            "pull_request",
            "refs/pull/42/merge",
            json!({"number": 42, "repository": repository,
                   "pull_request": {"number": 42, "head": {"ref": "feature"}}}),
            "pr-42",
        ),
        // A reusable workflow runs with its caller's event; its payload has no commit time.
        (
            "workflow_call",
            "refs/heads/release",
            json!({"ref": "refs/heads/release", "repository": repository}),
            "release",
        ),
    ];
    // An immutable repository: a re-run that made another image could not take its tags.
    let run = |name: &str, git_ref: &str, payload: &serde_json::Value, rebuild: bool| {
        s.action()
            .event(name, git_ref, payload.clone())
            .input("rebuild", &rebuild.to_string())
            // BuildKit's inline cache records where an imported cache came from, which would
            // make the second image differ for that reason alone.
            .input("cache", "off")
            .input("tag-mutability", "IMMUTABLE")
            .committed(COMMITTED)
            .run()
    };
    for (name, git_ref, payload, tag) in &events {
        let first = run(name, git_ref, payload, false);
        first.expect_code(0);
        assert!(
            first
                .stdout
                .contains("Image time: 2026-11-20T09:30:00+00:00 (the commit in the checkout)"),
            "{name}: {first}"
        );
        let second = run(name, git_ref, payload, true);
        second.expect_code(0);
        assert!(
            second.stdout.contains("Builder: BuildKit"),
            "{name}: {second}"
        );
        assert_eq!(
            second.output("digest"),
            first.output("digest"),
            "{name}: {second}"
        );
        assert_eq!(
            second.output("pushed").as_deref(),
            Some("false"),
            "{name}: {second}"
        );
        let tags = first.output("tags").unwrap_or_default();
        assert!(tags.contains(tag), "{name}: {tags}");
        let first_tag = tags.lines().next().unwrap().rsplit(':').next().unwrap();
        let config = s.reader().config(REPO, first_tag);
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.created"], "2026-11-20T09:30:00Z",
            "{name}"
        );
    }
}

#[test]
fn without_a_commit_time_the_image_time_is_fixed_and_the_run_says_how_to_set_one() {
    let s = StandIns::start();
    let run = || {
        s.action()
            .event(
                "workflow_dispatch",
                "refs/heads/main",
                json!({"ref": "refs/heads/main", "inputs": {}}),
            )
            .input("cache", "off")
            .input("rebuild", "true")
            .run()
    };
    let first = run();
    first.expect_code(0);
    let notices = first.annotations("notice");
    assert!(
        notices
            .iter()
            .any(|(title, message)| title == "No commit time"
                && message.contains("SOURCE_DATE_EPOCH")),
        "{first}"
    );
    let second = run();
    second.expect_code(0);
    assert_eq!(second.output("digest"), first.output("digest"));
    let config = s.reader().config(REPO, "main");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.created"],
        "1970-01-01T00:00:00Z"
    );
}

/// With the default `cache: auto`, the second build imports the first one's cache from ECR and
/// BuildKit may record that in the image's config: another config digest for an image that runs
/// the same. The run recognises it and keeps the image ECR has. (With immutable tags no cache is
/// recorded in the image, so a re-run is the same image outright.)
fn with_the_cache_from_ecr_a_rerun_keeps_the_image_ecr_has() {
    let s = StandIns::start();
    let run = || {
        s.action()
            .committed(COMMITTED)
            .input("rebuild", "true")
            .run()
    };
    let first = run();
    first.expect_code(0);
    let second = run();
    second.expect_code(0);
    // Where BuildKit recorded another cache in the config, the image ECR has is recognised as
    // this one and kept; where the record came out the same (the context through the session,
    // keyed by content), the image is the same outright.
    assert!(
        second.stdout.contains("so it is kept, not pushed again")
            || second
                .stdout
                .contains("Nothing to push: every tag already points to"),
        "{second}"
    );
    assert_eq!(second.output("digest"), first.output("digest"));
    assert_eq!(
        second.output("pushed").as_deref(),
        Some("false"),
        "{second}"
    );
    assert!(second.summary.contains("none sent"), "{second}");
}
