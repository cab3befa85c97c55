//! A fresh runner reuses the cache (issue 11): what one run pushed answers the next run's
//! expensive steps, with nothing of the first run left in the daemon.
//!
//! The only test of its binary: it prunes the daemon's whole build cache, which would pull the
//! ground from under builds of other tests running alongside in the same binary.

use support::images::docker;
use support::StandIns;

const REPO: &str = "octo-org/web-app";
const BIG_STEP: &str = "RUN head -c 52428800 /dev/zero > /big";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(a_fresh_runner_reuses_the_cache_pushed_by_the_last_run,);

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
    let s = StandIns::start();
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
    assert!(
        cache_row.contains(&format!("{uri}:main")) || cache_row.contains(&format!("{uri}:latest")),
        "names the image it imported: {cache_row}"
    );

    let (_, pushed_again) = s.reader().manifest(REPO, "latest").unwrap();
    assert_eq!(pushed_again["layers"][1]["digest"], big_layer);
    assert_ne!(pushed_again, pushed, "the last step changed");
    assert!(
        second
            .summary
            .contains("| Layers | 1 uploaded, 2 already present |"),
        "only the changed step's layer is uploaded: {second}"
    );
    second.assert_no_secret_leaked(&s.secrets(), true);
}
