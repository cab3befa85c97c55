//! A fresh runner reuses the cache (issue 11): what one run pushed answers the next run's
//! expensive steps, with nothing of the first run left in the daemon.
//!
//! On the containerd image store the cache is a registry cache of every stage (`buildcache`),
//! so a multi-stage build's builder stage comes from it too; on the classic store it is inline,
//! in the pushed image, and the log says why.
//!
//! These tests prune the daemon's whole build cache, which would pull the ground from under
//! builds running alongside on the same daemon: in this binary they take turns per daemon.

use std::sync::{Mutex, MutexGuard};

use support::images::docker;
use support::{block_on, ActionRun, Daemon, StandIns};

const REPO: &str = "octo-org/web-app";
const BIG_STEP: &str = "RUN head -c 52428800 /dev/zero > /big";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_fresh_runner_reuses_the_cache_pushed_by_the_last_run,
    a_fresh_runner_gets_the_builder_stage_from_the_cache,
);

/// One test at a time per daemon: each prunes the daemon's build cache.
fn turn() -> MutexGuard<'static, ()> {
    static TURNS: [Mutex<()>; 2] = [Mutex::new(()), Mutex::new(())];
    TURNS[Daemon::current().index()]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn dockerfile(s: &StandIns, last_step: &str) -> String {
    format!(
        "FROM {}\n{BIG_STEP}\nRUN echo {last_step} > /last\n",
        s.base
    )
}

/// Leaves the daemon as a fresh runner finds it: none of this test's images (built on its base,
/// they carry its base's nonce label) and no build cache. The base stays: a runner would pull
/// it, which cannot be done here.
fn forget_everything_built(s: &StandIns) {
    let label = format!("label=ship-to-ecr.test.nonce={}", s.nonce);
    let (_, base) = docker(&["image", "inspect", "--format", "{{.Id}}", &s.base]);
    let (ok, ids) = docker(&["image", "ls", "-q", "--no-trunc", "--filter", &label]);
    assert!(ok, "{ids}");
    let built: Vec<&str> = ids
        .split_whitespace()
        .filter(|id| *id != base.trim())
        .collect();
    assert!(!built.is_empty(), "the first run left its image: {ids}");
    for id in built {
        let (ok, out) = docker(&["rmi", "--force", id]);
        assert!(ok, "{out}");
    }
    let (ok, out) = docker(&["builder", "prune", "-af"]);
    assert!(ok, "{out}");
}

/// The number BuildKit's progress gives the step whose name ends with `step`.
fn step_number(log: &str, step: &str) -> Option<String> {
    log.lines()
        .filter(|line| line.ends_with(step))
        .find_map(|line| {
            let (number, name) = line.strip_prefix('#')?.split_once(' ')?;
            name.starts_with('[').then(|| number.to_string())
        })
}

fn a_fresh_runner_reuses_the_cache_pushed_by_the_last_run() {
    let _turn = turn();
    let s = StandIns::start();
    existing_repository(&s);
    let first = s
        .action()
        .write_file("Dockerfile", &dockerfile(&s, "one"))
        .run();
    first.expect_code(0);
    let (_, pushed) = s.reader().manifest(REPO, "latest").expect("latest pushed");
    let big_layer = pushed["layers"][1]["digest"].clone();

    forget_everything_built(&s);

    let second = s
        .action()
        .write_file("Dockerfile", &dockerfile(&s, "two"))
        .run();
    second.expect_code(0);
    let log = &second.stdout;
    let big = step_number(log, BIG_STEP).unwrap_or_else(|| panic!("the big step: {second}"));
    assert!(
        log.lines().any(|l| l == format!("#{big} CACHED")),
        "the big step is answered by the cache: {second}"
    );
    let last = step_number(log, "RUN echo two > /last").expect("the last step");
    assert!(
        !log.lines().any(|l| l == format!("#{last} CACHED")),
        "the changed step runs: {second}"
    );

    let uri = format!("{}/{REPO}", s.registry_host());
    let cache_row = second
        .summary
        .lines()
        .find(|l| l.starts_with("| Build cache |"))
        .unwrap_or_else(|| panic!("a Build cache row: {second}"));
    assert!(cache_row.contains("imported from"), "{cache_row}");
    let imported = match Daemon::current() {
        Daemon::Docker20 => format!("{uri}:main"),
        Daemon::Docker26 => format!("{uri}:buildcache"),
    };
    assert!(
        cache_row.contains(&imported),
        "names what it imported: {cache_row}"
    );

    let (_, pushed_again) = s.reader().manifest(REPO, "latest").unwrap();
    assert_eq!(pushed_again["layers"][1]["digest"], big_layer);
    assert_ne!(pushed_again, pushed, "the last step changed");
    // Only the changed step's layer travels: on the containerd store the registry cache's
    // export has uploaded it before the image's push.
    let layers = match Daemon::current() {
        Daemon::Docker20 => "| Layers | 1 uploaded, 2 already present |",
        Daemon::Docker26 => "| Layers | 0 uploaded, 3 already present |",
    };
    assert!(
        second.summary.contains(layers),
        "only the changed step's layer is uploaded: {second}"
    );
    second.assert_no_secret_leaked(&s.secrets(), true);
}

/// The repository as most runs find it: already there. A cache can be pushed only to a
/// repository that exists, and the action creates it after the build.
fn existing_repository(s: &StandIns) {
    block_on(s.ecr().create_repository().repository_name(REPO).send()).unwrap();
}

/// A builder stage that writes a 50 MB artifact, copied into a small final stage with a source
/// file.
fn two_stages(s: &StandIns, source: &str) -> ActionRun {
    let dockerfile = format!(
        "FROM {base} AS builder\n\
         RUN head -c 52428800 /dev/urandom > /artifact\n\
         FROM {base}\n\
         COPY --from=builder /artifact /artifact\n\
         COPY app.txt /app.txt\n",
        base = s.base
    );
    s.action()
        .write_file("Dockerfile", &dockerfile)
        .write_file("app.txt", source)
}

fn a_fresh_runner_gets_the_builder_stage_from_the_cache() {
    let _turn = turn();
    let s = StandIns::start();
    let new_repository = two_stages(&s, "zero").run();
    new_repository.expect_code(0);
    if Daemon::current() == Daemon::Docker26 {
        assert!(
            new_repository
                .stdout
                .contains("the repository is created once the build succeeds"),
            "no cache can go to a repository still to be created: {new_repository}"
        );
        assert!(s.reader().manifest(REPO, "buildcache").is_none());
    }
    let first = two_stages(&s, "one").run();
    first.expect_code(0);
    let (_, pushed) = s.reader().manifest(REPO, "latest").expect("latest pushed");
    let artifact = pushed["layers"][1]["digest"].clone();

    forget_everything_built(&s);

    let second = two_stages(&s, "two").run();
    second.expect_code(0);
    let (_, pushed_again) = s.reader().manifest(REPO, "latest").unwrap();
    let builder_cached = second
        .stdout
        .contains("RUN head -c 52428800 /dev/urandom > /artifact")
        && step_number(
            &second.stdout,
            "RUN head -c 52428800 /dev/urandom > /artifact",
        )
        .is_some_and(|n| second.stdout.lines().any(|l| l == format!("#{n} CACHED")));
    assert!(builder_cached, "the builder stage from the cache: {second}");
    match Daemon::current() {
        Daemon::Docker26 => {
            let (_, cache) = s
                .reader()
                .manifest(REPO, "buildcache")
                .unwrap_or_else(|| panic!("the registry cache under buildcache: {first}"));
            assert_eq!(
                cache["config"]["mediaType"], "application/vnd.buildkit.cacheconfig.v0",
                "an image-manifest cache: {cache}"
            );
            // The artifact is the same bytes: the random data was not made again.
            assert_eq!(pushed_again["layers"][1]["digest"], artifact);
            assert!(
                second
                    .stdout
                    .contains("registry cache of every stage (mode=max)"),
                "{second}"
            );
        }
        Daemon::Docker20 => {
            assert!(s.reader().manifest(REPO, "buildcache").is_none());
            assert!(
                second
                    .stdout
                    .contains("the classic image store's BuildKit exports no registry cache"),
                "says why the cache is inline: {second}"
            );
        }
    }
    second.assert_no_secret_leaked(&s.secrets(), true);
}
