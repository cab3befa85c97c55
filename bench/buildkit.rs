//! Build and push with BuildKit, side by side with the docker CLI, in one run:
//!
//! - fresh: a new image (the busybox base, 4 RUN steps each writing 50 MB of random data, and
//!   a COPY of a small file) built and pushed to a new repository, nothing cached;
//! - fresh daemon: the same commit again after its images are removed from the daemon and the
//!   daemon's whole build cache is pruned (`docker builder prune -af`), as on a new runner.
//!   ship-to-ecr reusing the image it pushed (its default: nothing built, tags written; with
//!   `load: false`, and with `load: true`, which pulls the image into the daemon), against the
//!   BuildKit CLI pair rebuilding it (its fresh build and push); and, forced to build with
//!   `rebuild: true`, ship-to-ecr with `cache: auto` (imports the inline cache of the `latest`
//!   it pushed) against `cache: off` (rebuilds every step), and, for reference, the BuildKit
//!   CLI pair with `--cache-from` the image it pushed.
//!
//! The peers use Debian's own 20.10 CLI (`/usr/bin/docker`): the 28.x `docker` first on PATH
//! needs buildx for BuildKit, which Debian does not package. `DOCKER_BUILDKIT=1 docker build`
//! with `BUILDKIT_INLINE_CACHE=1` (the same work as ours, which embeds the inline cache) then
//! `docker push`, and `DOCKER_BUILDKIT=0 docker build` then `docker push`, with a temporary
//! `DOCKER_CONFIG` logged in to the same registry (the login is not timed); ship-to-ecr is timed
//! as a whole run, credentials, repository and all. Every peer in every round builds a context
//! with a marker of its own in its first RUN step, so no build reuses another's cache.
//! Run with `scripts/bench buildkit` (or `cargo bench --bench buildkit`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{images, StandIns};

const ROUNDS: usize = 3;
const PART_MB: usize = 50;
const PARTS: usize = 4;
/// Debian's docker.io CLI, 20.10: BuildKit through `DOCKER_BUILDKIT=1`, no buildx needed.
const DOCKER_20_10: &str = "/usr/bin/docker";

#[derive(Clone, Copy)]
enum Peer {
    CliBuildKit,
    CliClassic,
    ActionBuildKit,
    ActionClassic,
}

const PEERS: [Peer; 4] = [
    Peer::CliBuildKit,
    Peer::CliClassic,
    Peer::ActionBuildKit,
    Peer::ActionClassic,
];

// What is measured; each a column or a row of the table.
const CLI_BUILDKIT: &str = "BuildKit CLI pair";
const CLI_CLASSIC: &str = "classic CLI pair";
const OURS_BUILDKIT: &str = "ship-to-ecr, builder: buildkit";
const OURS_CLASSIC: &str = "ship-to-ecr, builder: classic";
const OURS_CACHE: &str = "ship-to-ecr, cache: auto";
const OURS_NO_CACHE: &str = "ship-to-ecr, cache: off";
const CLI_CACHE_FROM: &str = "BuildKit CLI pair, --cache-from";
const OURS_REUSE: &str = "ship-to-ecr reuses, load: false";
const OURS_REUSE_LOAD: &str = "ship-to-ecr reuses, load: true";

/// What a run of the action on a fresh daemon is asked to do.
#[derive(Clone, Copy, PartialEq)]
enum Again {
    /// The first run of this context.
    Fresh,
    /// Built again with the cache from ECR.
    CacheAuto,
    /// Built again from nothing.
    CacheOff,
    /// Reused, the image then loaded into the daemon or not.
    Reuse { load: bool },
}

fn main() {
    if !support::bench::asked("buildkit") {
        return;
    }
    let base = images::base_image();
    let s = StandIns::start();
    let host = s.registry_host();
    let docker_config = support::bench::cli_config(&s);
    let config = docker_config.path();

    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut record = |round: usize, what: &'static str, elapsed: Duration| {
        println!(
            "round {}: {what:32} {:6.2} s",
            round + 1,
            elapsed.as_secs_f64()
        );
        times.entry(what).or_default().push(elapsed);
    };
    for round in 0..ROUNDS {
        // A different peer goes first in each round.
        for offset in 0..PEERS.len() {
            let index = (round + offset) % PEERS.len();
            let marker = format!("{:016x}", rand::random::<u64>());
            let context = tempfile::tempdir().unwrap();
            write_context(context.path(), base, &marker);
            let ctx = context.path();
            let repo = format!("bench-buildkit/{index}-{round}");
            let image = format!("{host}/{repo}");
            match PEERS[index] {
                Peer::CliBuildKit => {
                    let name = format!("{image}:v1");
                    let fresh = time_cli(config, ctx, &name, true, &[]);
                    record(round, CLI_BUILDKIT, fresh);
                    forget_everything_built(&image);
                    let cached = time_cli(config, ctx, &name, true, &["--cache-from", &name]);
                    record(round, CLI_CACHE_FROM, cached);
                }
                Peer::CliClassic => {
                    let fresh = time_cli(config, ctx, &format!("{image}:v1"), false, &[]);
                    record(round, CLI_CLASSIC, fresh);
                }
                Peer::ActionBuildKit => {
                    let fresh = time_action(&s, ctx, &repo, "buildkit", Again::Fresh);
                    record(round, OURS_BUILDKIT, fresh);
                    // Which goes first rotates too.
                    let mut fresh_daemon = [
                        (OURS_CACHE, Again::CacheAuto),
                        (OURS_NO_CACHE, Again::CacheOff),
                        (OURS_REUSE, Again::Reuse { load: false }),
                        (OURS_REUSE_LOAD, Again::Reuse { load: true }),
                    ];
                    let kinds = fresh_daemon.len();
                    fresh_daemon.rotate_left(round % kinds);
                    for (what, again) in fresh_daemon {
                        forget_everything_built(&image);
                        let elapsed = time_action(&s, ctx, &repo, "buildkit", again);
                        record(round, what, elapsed);
                    }
                }
                Peer::ActionClassic => {
                    let fresh = time_action(&s, ctx, &repo, "classic", Again::Fresh);
                    record(round, OURS_CLASSIC, fresh);
                }
            }
            images::remove_images_under(&image);
        }
    }

    let median = |what: &str| {
        let mut sorted = times[what].clone();
        sorted.sort();
        sorted[sorted.len() / 2].as_secs_f64()
    };
    println!(
        "\nbusybox base + {PARTS} RUN steps of {PART_MB} MB random data + a COPY, {ROUNDS} rounds, medians:"
    );
    println!(
        "| case | BuildKit CLI pair | classic CLI pair | ship-to-ecr, BuildKit | ship-to-ecr, classic | ratio, BuildKit to the BuildKit pair |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let [cli_bk, cli_classic, ours_bk, ours_classic] =
        [CLI_BUILDKIT, CLI_CLASSIC, OURS_BUILDKIT, OURS_CLASSIC].map(median);
    println!(
        "| fresh build and push | {cli_bk:.2} s | {cli_classic:.2} s | {ours_bk:.2} s | {ours_classic:.2} s | {:.2} (target <= 0.8) |",
        ours_bk / cli_bk
    );
    println!("\nthe same commit on a fresh daemon (images removed, build cache pruned), medians:");
    println!(
        "| case | ship-to-ecr, cache: auto | ship-to-ecr, cache: off | ratio | BuildKit CLI pair, --cache-from |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let [cache, no_cache, cache_from] = [OURS_CACHE, OURS_NO_CACHE, CLI_CACHE_FROM].map(median);
    println!(
        "| unchanged commit, fresh daemon, rebuild: true | {cache:.2} s | {no_cache:.2} s | {:.2} (target <= 0.4) | {cache_from:.2} s |",
        cache / no_cache
    );
    println!("\nthe same commit on a fresh daemon, reused (nothing built), medians:");
    println!("| case | ship-to-ecr | BuildKit CLI pair, rebuilding | ratio |");
    println!("| --- | --- | --- | --- |");
    for what in [OURS_REUSE, OURS_REUSE_LOAD] {
        let reuse = median(what);
        println!(
            "| {what} | {reuse:.2} s | {cli_bk:.2} s | {:.3} (target < 1 s and <= 0.1) |",
            reuse / cli_bk
        );
    }
}

/// The expensive steps first (the marker makes their cache keys this context's own), then a
/// cheap last step.
fn write_context(dir: &Path, base: &str, marker: &str) {
    let bytes = PART_MB << 20;
    let mut dockerfile = format!(
        "FROM {base}\nRUN echo {marker} > /marker && mkdir /data && head -c {bytes} /dev/urandom > /data/part1\n"
    );
    for part in 2..=PARTS {
        dockerfile.push_str(&format!(
            "RUN head -c {bytes} /dev/urandom > /data/part{part}\n"
        ));
    }
    dockerfile.push_str("COPY stamp.txt /stamp.txt\n");
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("stamp.txt"), format!("{marker}\n")).unwrap();
}

/// Leaves the daemon as a fresh runner finds it: no image under `image` and no build cache.
/// The base stays: a runner would pull it, which cannot be done here.
fn forget_everything_built(image: &str) {
    images::remove_images_under(image);
    let out = Command::new(DOCKER_20_10)
        .args(["builder", "prune", "-af"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker builder prune: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `docker build` (BuildKit or classic, with `extra` arguments) + `docker push` of `name`.
fn time_cli(config: &Path, context: &Path, name: &str, buildkit: bool, extra: &[&str]) -> Duration {
    let mut build = vec!["build", "-t", name];
    if buildkit {
        build.extend(["--progress=plain", "--build-arg", "BUILDKIT_INLINE_CACHE=1"]);
    } else {
        build.push("-q");
    }
    build.extend(extra);
    build.push(context.to_str().unwrap());
    let started = Instant::now();
    let mut log = String::new();
    for args in [build, vec!["push", "-q", name]] {
        let out = Command::new(DOCKER_20_10)
            .env("DOCKER_CONFIG", config)
            .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
            .args(&args)
            .output()
            .unwrap();
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "docker {args:?}: {log}");
    }
    let elapsed = started.elapsed();
    if extra.contains(&"--cache-from") {
        // Otherwise this would time a rebuild, not a build from the imported cache.
        let cached = log.lines().filter(|l| l.ends_with(" CACHED")).count();
        assert!(cached >= PARTS, "the expensive steps cached: {log}");
    }
    elapsed
}

/// A whole run of the action on a push to the default branch (so `latest` is pushed and, with
/// `cache: auto`, imported from).
fn time_action(s: &StandIns, context: &Path, repo: &str, builder: &str, again: Again) -> Duration {
    let mut run = s
        .action()
        .copy_dir(context, "ctx")
        .input("repository", repo)
        .input("context", "ctx")
        .input("builder", builder);
    match again {
        Again::Fresh => {}
        Again::CacheAuto => run = run.input("cache", "auto").input("rebuild", "true"),
        // A tag of its own: a push without the inline cache must not become the `latest` the
        // other run imports from.
        Again::CacheOff => {
            run = run
                .input("cache", "off")
                .input("tags", "rebuild")
                .input("rebuild", "true")
        }
        Again::Reuse { load } => run = run.input("load", &load.to_string()),
    }
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
    if again == Again::CacheAuto {
        // Otherwise this would time a rebuild, not a build from the imported cache.
        let row = result
            .summary
            .lines()
            .find(|l| l.starts_with("| Build cache |"))
            .unwrap_or_else(|| panic!("a Build cache row: {result}"));
        let cached: usize = row
            .split("; ")
            .find_map(|part| part.split_once(" of ")?.0.parse().ok())
            .unwrap_or_else(|| panic!("a count of cached steps: {row}"));
        assert!(cached >= PARTS, "the expensive steps cached: {row}");
    }
    elapsed
}
