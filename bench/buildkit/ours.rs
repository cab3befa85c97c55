//! ship-to-ecr's side: a whole run of the action (credentials, repository and all) on a push to
//! the default branch, so `latest` is pushed and, with `cache: auto`, imported from.

use std::path::Path;
use std::time::{Duration, Instant};

use support::StandIns;

/// The commit a run on a changed source is made for: a fresh runner's next push.
const NEXT_COMMIT: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";

/// What a run of the action is asked to do.
#[derive(Clone, Copy, PartialEq)]
pub enum Again {
    /// The first run of this context.
    Fresh,
    /// Built again with the cache from ECR.
    CacheAuto,
    /// Built again from nothing.
    CacheOff,
    /// Reused, the image then loaded into the daemon or not.
    Reuse { load: bool },
    /// The next commit (its source changed), with `cache: auto` or `cache: off`.
    NextCommit { cache: bool },
}

/// A timed run: how long it took and what its summary says of the cache.
pub struct Outcome {
    pub elapsed: Duration,
    /// The summary's "Build cache" row (`imported from …; 3 of 5 steps cached; …`), or "".
    pub cache: String,
}

/// Runs the action on `context` into `repo`, as `again` says, and times it.
pub fn time_action(
    s: &StandIns,
    context: &Path,
    repo: &str,
    builder: &str,
    again: Again,
) -> Outcome {
    let run = s
        .action()
        .copy_dir(context, "ctx")
        .input("repository", repo)
        .input("context", "ctx")
        .input("builder", builder);
    let run = match again {
        Again::Fresh => run,
        Again::CacheAuto => run.input("cache", "auto").input("rebuild", "true"),
        // A tag of its own: a push without the inline cache must not become the `latest` the
        // other run imports from.
        Again::CacheOff => run
            .input("cache", "off")
            .input("tags", "rebuild")
            .input("rebuild", "true"),
        Again::Reuse { load } => run.input("load", &load.to_string()),
        Again::NextCommit { cache } => next_commit(run).input("cache", on_off(cache)),
    };
    let started = Instant::now();
    let result = run.run();
    let elapsed = started.elapsed();
    result.expect_code(0);
    let reused = result.stdout.contains("Reused sha256:");
    assert_eq!(
        reused,
        matches!(again, Again::Reuse { .. }),
        "reused only when asked: {result}"
    );
    let cache = result
        .summary
        .lines()
        .find_map(|l| l.strip_prefix("| Build cache |"))
        .map(|row| row.trim_end_matches('|').trim().to_string())
        .unwrap_or_default();
    if again == Again::CacheAuto {
        // Otherwise this would time a rebuild, not a build from the imported cache.
        assert!(
            cached_steps(&cache) >= crate::PARTS,
            "the expensive steps cached: {result}"
        );
    }
    Outcome { elapsed, cache }
}

fn on_off(cache: bool) -> &'static str {
    if cache {
        "auto"
    } else {
        "off"
    }
}

/// The run of a push of the next commit to the default branch.
fn next_commit(run: support::ActionRun) -> support::ActionRun {
    run.env("GITHUB_SHA", NEXT_COMMIT).event(
        "push",
        "refs/heads/main",
        serde_json::json!({
            "ref": "refs/heads/main",
            "head_commit": { "id": NEXT_COMMIT, "timestamp": "2026-11-20T10:30:00Z" },
            "repository": { "full_name": "octo-org/web-app", "default_branch": "main" }
        }),
    )
}

/// The count of cached steps in a summary's "Build cache" row: `3 of 5 steps cached` gives 3.
pub fn cached_steps(row: &str) -> usize {
    row.split("; ")
        .find_map(|part| part.split_once(" of ")?.0.parse().ok())
        .unwrap_or(0)
}
