//! Build and push with BuildKit, side by side with the docker CLI, on both engines in one run
//! (Docker 20.10 with the classic image store, Docker 26 with the containerd image store; the
//! CLI peer of each is described in `peers.rs`):
//!
//! - fresh: a new image (the busybox base, 4 RUN steps each writing 50 MB of random data, and
//!   a COPY of a small file) built and pushed to a new repository, nothing cached; on 20.10 the
//!   classic builder too (ship-to-ecr's `builder: classic` and the classic CLI pair);
//! - fresh daemon: the same commit again after its images are removed from the daemon and the
//!   daemon's whole build cache is pruned (`docker builder prune -af`), as on a new runner.
//!   ship-to-ecr reusing the image it pushed (its default: nothing built, tags written; with
//!   `load: false`, and with `load: true`, which pulls the image into the daemon), against the
//!   CLI peer rebuilding it (its fresh build and push); and, forced to build with
//!   `rebuild: true`, ship-to-ecr with `cache: auto` against `cache: off` (rebuilds every
//!   step), and, for reference, the CLI peer with `--cache-from` the image it pushed;
//! - two-stage (`two_stage.rs`): a fresh runner building a changed source file of a two-stage
//!   Dockerfile from the cache in ECR: ship-to-ecr `cache: auto` against `cache: off` and
//!   against the CLI peer with its cache (buildx's registry cache on Docker 26, the inline
//!   cache on 20.10, where BuildKit can export no other).
//!
//! The CLI peers build with the cache exported inline (the same work as ours, which embeds the
//! inline cache); ship-to-ecr is timed as a whole run, credentials, repository and all. Every
//! case in every round builds a context with a marker of its own in its first RUN step, so no
//! build reuses another's cache. Run with `scripts/bench buildkit` (or `cargo bench --bench
//! buildkit`); `BENCH_ROUNDS` and `BENCH_DAEMONS` narrow a quick check.

mod ours;
mod peers;
mod tables;
mod two_stage;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ours::Again;
use peers::{CliPeer, PeerCache};
use support::{images, Daemon, StandIns};
use two_stage::Side;

const PART_MB: usize = 50;
const PARTS: usize = 4;

// What is measured; each a cell of the tables.
const PEER: &str = "CLI peer";
const PEER_CACHE_FROM: &str = "CLI peer, --cache-from";
const CLI_CLASSIC: &str = "classic CLI pair";
const OURS_BUILDKIT: &str = "ship-to-ecr, builder: buildkit";
const OURS_CLASSIC: &str = "ship-to-ecr, builder: classic";
const OURS_CACHE: &str = "ship-to-ecr, cache: auto";
const OURS_NO_CACHE: &str = "ship-to-ecr, cache: off";
const OURS_REUSE: &str = "ship-to-ecr reuses, load: false";
const OURS_REUSE_LOAD: &str = "ship-to-ecr reuses, load: true";
const TWO_OURS_CACHE: &str = "two-stage, ship-to-ecr, cache: auto";
const TWO_OURS_NO_CACHE: &str = "two-stage, ship-to-ecr, cache: off";
const TWO_PEER: &str = "two-stage, CLI peer, its cache";

#[derive(Clone, Copy)]
enum Case {
    Peer,
    PeerClassic,
    OursBuildKit,
    OursClassic,
    TwoStage(Side),
}

/// One engine's figures.
pub struct Engine {
    label: String,
    peer: &'static str,
    times: BTreeMap<&'static str, Vec<Duration>>,
    /// What the last round's build of each case said of the cache.
    cache: BTreeMap<&'static str, String>,
}

impl Engine {
    fn record(&mut self, round: usize, what: &'static str, elapsed: Duration) {
        println!(
            "{}, round {}: {what:36} {:6.2} s",
            self.label,
            round + 1,
            elapsed.as_secs_f64()
        );
        self.times.entry(what).or_default().push(elapsed);
    }

    /// The median of `what`'s times in seconds; `None` where it does not run on this engine.
    fn median(&self, what: &str) -> Option<f64> {
        let mut sorted = self.times.get(what)?.clone();
        sorted.sort();
        Some(sorted[sorted.len() / 2].as_secs_f64())
    }
}

/// What every case of a round needs.
struct Bench<'a> {
    s: &'a StandIns,
    peer: &'a CliPeer,
    base: &'a str,
    round: usize,
}

fn main() {
    if !support::bench::asked("buildkit") {
        return;
    }
    let rounds = support::bench::rounds(3);
    let engines: Vec<Engine> = support::bench::daemons()
        .into_iter()
        .map(|daemon| daemon.run(|| bench_engine(rounds)))
        .collect();
    tables::print(&engines, rounds);
}

/// Every case, `rounds` times, on the current daemon; a different case goes first each round.
fn bench_engine(rounds: usize) -> Engine {
    let base = images::base_image();
    let s = StandIns::start();
    let peer = CliPeer::new(&s);
    let mut engine = Engine {
        label: support::bench::engine_label(),
        peer: peer.name(),
        times: BTreeMap::new(),
        cache: BTreeMap::new(),
    };
    let mut cases = vec![Case::Peer, Case::OursBuildKit];
    if Daemon::current() == Daemon::Docker20 {
        // The classic builder is measured where it is the store's own.
        cases.extend([Case::PeerClassic, Case::OursClassic]);
    }
    cases.extend([
        Case::TwoStage(Side::Ours { cache: true }),
        Case::TwoStage(Side::Ours { cache: false }),
        Case::TwoStage(Side::Peer),
    ]);
    for round in 0..rounds {
        let bench = Bench {
            s: &s,
            peer: &peer,
            base,
            round,
        };
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            let repo = format!("bench-buildkit/{index}-{round}");
            run_case(&bench, cases[index], &repo, &mut engine);
            images::remove_images_under(&format!("{}/{repo}", s.registry_host()));
        }
    }
    engine
}

fn run_case(b: &Bench, case: Case, repo: &str, engine: &mut Engine) {
    let marker = format!("{:016x}", rand::random::<u64>());
    let context = tempfile::tempdir().unwrap();
    write_context(context.path(), b.base, &marker);
    let ctx = context.path();
    let image = format!("{}/{repo}", b.s.registry_host());
    let name = format!("{image}:v1");
    match case {
        Case::Peer => {
            let (fresh, _) = b.peer.build_push(ctx, &name, PeerCache::Inline);
            engine.record(b.round, PEER, fresh);
            forget_everything_built(&image);
            let (cached, log) = b.peer.build_push(ctx, &name, PeerCache::FromImage(&name));
            // Otherwise this would time a rebuild, not a build from the imported cache.
            assert!(
                peers::cached_steps(&log) >= PARTS,
                "the expensive steps cached: {log}"
            );
            engine.record(b.round, PEER_CACHE_FROM, cached);
        }
        Case::PeerClassic => {
            let fresh = b.peer.classic_build_push(ctx, &name);
            engine.record(b.round, CLI_CLASSIC, fresh);
        }
        Case::OursBuildKit => ours_buildkit(b, ctx, repo, engine),
        Case::OursClassic => {
            let fresh = ours::time_action(b.s, ctx, repo, "classic", Again::Fresh);
            engine.record(b.round, OURS_CLASSIC, fresh.elapsed);
        }
        Case::TwoStage(side) => {
            let what = match side {
                Side::Ours { cache: true } => TWO_OURS_CACHE,
                Side::Ours { cache: false } => TWO_OURS_NO_CACHE,
                Side::Peer => TWO_PEER,
            };
            let outcome = two_stage::measure(b.s, b.peer, b.base, repo, side);
            engine.record(b.round, what, outcome.elapsed);
            engine.cache.insert(what, outcome.cache);
        }
    }
}

/// A fresh build, then the same commit on a fresh daemon in each of the ways ship-to-ecr can
/// take it; which goes first rotates too.
fn ours_buildkit(b: &Bench, ctx: &Path, repo: &str, engine: &mut Engine) {
    let fresh = ours::time_action(b.s, ctx, repo, "buildkit", Again::Fresh);
    engine.record(b.round, OURS_BUILDKIT, fresh.elapsed);
    let mut fresh_daemon = [
        (OURS_CACHE, Again::CacheAuto),
        (OURS_NO_CACHE, Again::CacheOff),
        (OURS_REUSE, Again::Reuse { load: false }),
        (OURS_REUSE_LOAD, Again::Reuse { load: true }),
    ];
    let kinds = fresh_daemon.len();
    fresh_daemon.rotate_left(b.round % kinds);
    let image = format!("{}/{repo}", b.s.registry_host());
    for (what, again) in fresh_daemon {
        forget_everything_built(&image);
        let outcome = ours::time_action(b.s, ctx, repo, "buildkit", again);
        engine.record(b.round, what, outcome.elapsed);
        engine.cache.insert(what, outcome.cache);
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

/// Leaves the current daemon as a fresh runner finds it: no image under `image` and no build
/// cache. The base stays: a runner would pull it, which cannot be done here.
fn forget_everything_built(image: &str) {
    images::remove_images_under(image);
    let (ok, out) = images::docker(&["builder", "prune", "-af"]);
    assert!(ok, "docker builder prune: {out}");
}
