//! The docker CLI builds ship-to-ecr is measured against, one per engine, each with a
//! `DOCKER_CONFIG` of its own logged in to the registry stand-in (the login is not timed):
//!
//! - Docker 20.10: Debian's own 20.10 CLI (`/usr/bin/docker`), since the 28.x `docker` first on
//!   PATH needs buildx for BuildKit and Debian's 20.10 suite has none: `DOCKER_BUILDKIT=1 docker
//!   build` then `docker push` (the BuildKit CLI pair), and the same with `DOCKER_BUILDKIT=0`
//!   (the classic pair);
//! - Docker 26: `docker buildx build --push` with buildx 0.13.1 (the plugin from the engine's
//!   own Debian suite, copied into the config's `cli-plugins/`) and its `docker` driver, run by
//!   the 28.x `docker` on PATH (the engine's suite packages its CLI apart, and it is not
//!   unpacked). `--provenance=false`: ship-to-ecr pushes no attestation, so both push one
//!   image manifest.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{images, project_path, Daemon, StandIns};

/// Debian's docker.io CLI, 20.10: BuildKit through `DOCKER_BUILDKIT=1`, no buildx needed.
const DOCKER_20_10: &str = "/usr/bin/docker";
const BUILDX_PLUGIN: &str = ".stand-ins/engine26/root/usr/libexec/docker/cli-plugins/docker-buildx";

/// What a peer's BuildKit build does with the cache.
#[derive(Clone, Copy)]
pub enum PeerCache<'a> {
    /// Exports the inline cache, as ship-to-ecr's pushes carry it.
    Inline,
    /// Exports the inline cache and imports the one in this image.
    FromImage(&'a str),
    /// Exports to and imports from a registry cache under this reference, every stage
    /// (`mode=max`), in the form ECR takes: buildx only.
    Registry(&'a str),
}

/// The current daemon's docker CLI peer.
pub struct CliPeer {
    daemon: Daemon,
    config: tempfile::TempDir,
}

impl CliPeer {
    /// The peer of the current daemon, logged in to `s`'s registry.
    pub fn new(s: &StandIns) -> Self {
        let daemon = Daemon::current();
        let config = support::bench::cli_config(s);
        if daemon == Daemon::Docker26 {
            let plugins = config.path().join("cli-plugins");
            std::fs::create_dir_all(&plugins).unwrap();
            std::fs::copy(project_path(BUILDX_PLUGIN), plugins.join("docker-buildx"))
                .expect("the buildx plugin, unpacked by scripts/install-stand-ins");
        }
        CliPeer { daemon, config }
    }

    /// Its name in the tables.
    pub fn name(&self) -> &'static str {
        match self.daemon {
            Daemon::Docker20 => "BuildKit CLI pair",
            Daemon::Docker26 => "buildx --push",
        }
    }

    /// Builds `context` as `name` with BuildKit and pushes it: the time taken and the build's
    /// log.
    pub fn build_push(&self, context: &Path, name: &str, cache: PeerCache) -> (Duration, String) {
        let mut args: Vec<String> = vec!["build".into(), "--progress=plain".into()];
        match self.daemon {
            Daemon::Docker20 => args.extend(pair_cache_args(cache)),
            Daemon::Docker26 => {
                args.insert(0, "buildx".into());
                args.extend(["--push".into(), "--provenance=false".into()]);
                args.extend(buildx_cache_args(cache));
            }
        }
        args.extend(["-t".into(), name.into(), context.display().to_string()]);
        let mut steps = vec![args];
        if self.daemon == Daemon::Docker20 {
            steps.push(vec!["push".into(), "-q".into(), name.into()]);
        }
        self.time(true, &steps)
    }

    /// The classic builder then `docker push` (Docker 20.10's CLI only).
    pub fn classic_build_push(&self, context: &Path, name: &str) -> Duration {
        assert_eq!(
            self.daemon,
            Daemon::Docker20,
            "the classic pair runs on 20.10"
        );
        let build = ["build", "-q", "-t", name, &context.display().to_string()].map(String::from);
        let push = ["push", "-q", name].map(String::from);
        self.time(false, &[build.to_vec(), push.to_vec()]).0
    }

    /// Runs the docker CLI once per step, timed as a whole; stops at a failed step.
    fn time(&self, buildkit: bool, steps: &[Vec<String>]) -> (Duration, String) {
        let started = Instant::now();
        let mut log = String::new();
        for args in steps {
            let mut command = match self.daemon {
                Daemon::Docker20 => Command::new(DOCKER_20_10),
                Daemon::Docker26 => images::docker_command(),
            };
            let out = command
                .env("DOCKER_CONFIG", self.config.path())
                .env("DOCKER_BUILDKIT", if buildkit { "1" } else { "0" })
                .args(args)
                .output()
                .unwrap();
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "docker {args:?}: {log}");
        }
        (started.elapsed(), log)
    }
}

fn pair_cache_args(cache: PeerCache) -> Vec<String> {
    let mut args = vec!["--build-arg".into(), "BUILDKIT_INLINE_CACHE=1".into()];
    match cache {
        PeerCache::Inline => {}
        PeerCache::FromImage(image) => args.extend(["--cache-from".into(), image.into()]),
        PeerCache::Registry(_) => panic!("no registry cache on the classic image store"),
    }
    args
}

fn buildx_cache_args(cache: PeerCache) -> Vec<String> {
    let (to, from) = match cache {
        PeerCache::Inline => ("type=inline".to_string(), None),
        PeerCache::FromImage(image) => ("type=inline".to_string(), Some(image.to_string())),
        PeerCache::Registry(reference) => (
            format!(
                "type=registry,ref={reference},mode=max,image-manifest=true,oci-mediatypes=true"
            ),
            Some(reference.to_string()),
        ),
    };
    let mut args = vec!["--cache-to".to_string(), to];
    if let Some(from) = from {
        args.extend(["--cache-from".into(), format!("type=registry,ref={from}")]);
    }
    args
}

/// How many steps a BuildKit log says were answered by the cache (`#7 CACHED`).
pub fn cached_steps(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with('#') && l.ends_with(" CACHED"))
        .count()
}
