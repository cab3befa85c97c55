//! The two-stage case: a builder stage writes a 50 MB artifact in a `RUN` (random bytes, so a
//! rebuild makes a new layer that must be pushed again, as a compiler's output with build ids
//! would), and a small final stage copies it beside a source file. The first build of each
//! context is pushed (with what each side exports as its cache); then the daemon is left as a
//! fresh runner finds it, the source file changes, and the next build is timed.

use std::path::Path;

use support::{Daemon, StandIns};

use crate::ours::{self, Again, Outcome};
use crate::peers::{self, CliPeer, PeerCache};

const ARTIFACT_MB: usize = 50;

/// Who builds the changed source.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// ship-to-ecr, `cache: auto` or `cache: off`.
    Ours { cache: bool },
    /// The engine's CLI peer: on Docker 26 buildx with the registry cache (`mode=max`), on
    /// 20.10 the BuildKit CLI pair with the inline cache of the image it pushed.
    Peer,
}

/// Seeds `repo` with the first build of a new context, forgets it, changes the source and
/// times the build of the changed source.
pub fn measure(s: &StandIns, peer: &CliPeer, base: &str, repo: &str, side: Side) -> Outcome {
    let marker = format!("{:016x}", rand::random::<u64>());
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path();
    write_context(ctx, base, &marker);
    let image = format!("{}/{repo}", s.registry_host());
    match side {
        Side::Ours { cache } => {
            ours::time_action(s, ctx, repo, "buildkit", Again::Fresh);
            crate::forget_everything_built(&image);
            change_source(ctx, &marker);
            ours::time_action(s, ctx, repo, "buildkit", Again::NextCommit { cache })
        }
        Side::Peer => {
            let (first, next) = (format!("{image}:v1"), format!("{image}:v2"));
            let registry_cache = format!("{image}:buildcache");
            let (seed, cached) = match Daemon::current() {
                Daemon::Docker20 => (PeerCache::Inline, PeerCache::FromImage(&first)),
                Daemon::Docker26 => (
                    PeerCache::Registry(&registry_cache),
                    PeerCache::Registry(&registry_cache),
                ),
            };
            peer.build_push(ctx, &first, seed);
            crate::forget_everything_built(&image);
            change_source(ctx, &marker);
            let (elapsed, log) = peer.build_push(ctx, &next, cached);
            Outcome {
                elapsed,
                cache: format!("{} steps cached", peers::cached_steps(&log)),
            }
        }
    }
}

/// The marker makes the builder's cache key this context's own.
fn write_context(dir: &Path, base: &str, marker: &str) {
    let bytes = ARTIFACT_MB << 20;
    let dockerfile = format!(
        "FROM {base} AS builder\n\
         RUN echo {marker} > /marker && head -c {bytes} /dev/urandom > /artifact\n\
         FROM {base}\n\
         COPY --from=builder /artifact /app/artifact\n\
         COPY src.txt /app/src.txt\n"
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join("src.txt"), format!("{marker} first\n")).unwrap();
}

fn change_source(dir: &Path, marker: &str) {
    std::fs::write(dir.join("src.txt"), format!("{marker} changed\n")).unwrap();
}
