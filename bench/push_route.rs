//! How a built image best leaves the daemon, side by side in one run on each engine (Docker
//! 20.10 with the classic image store, Docker 26 with the containerd image store), for an
//! image of about 200 MB (the busybox base and 4 x 50 MB of random data) already in the daemon:
//!
//! - the daemon's own push (`docker push`);
//! - the image export API then compression and upload by the client, as skopeo does it:
//!   `skopeo copy docker-daemon:` on 20.10; on Docker 26 `docker save` to a file then `skopeo
//!   copy docker-archive:`, timed together, since Debian's skopeo (1.9) asks for Engine API
//!   1.22, which Docker 25 and later refuse, takes no `DOCKER_HOST`, and needs a seekable
//!   archive (it reads the `docker-daemon:` stream into a file first the same way);
//! - ship-to-ecr pushing that image (`image:`), credentials, repository and all.
//!
//! Each push goes to a registry stand-in of its own, so nothing is mounted from an earlier
//! push. It also reports whether each route gives the same manifest digest every round (a
//! re-run of the same commit must not move its tags). Run with `scripts/bench push_route`;
//! `BENCH_ROUNDS` and `BENCH_DAEMONS` narrow a quick check.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::RngCore;
use support::{images, registry_password, Daemon, StandIns};

const IMAGE: &str = "ship-to-ecr-bench/push-route:1";
const ROUTES: [&str; 3] = ["docker push", "export + skopeo", "ship-to-ecr"];

/// One engine's figures: per route, its times and the digests it pushed.
struct Engine {
    label: String,
    times: [Vec<Duration>; 3],
    digests: [Vec<String>; 3],
}

fn main() {
    if !support::bench::asked("push_route") {
        return;
    }
    let rounds = support::bench::rounds(3);
    let engines: Vec<Engine> = support::bench::daemons()
        .into_iter()
        .map(|daemon| daemon.run(|| bench_engine(rounds)))
        .collect();
    println!("\n200 MB image in the daemon (4 x 50 MB random layers), {rounds} rounds, medians:");
    println!("| engine | route | median | ratio to docker push | same digest every round |");
    println!("| --- | --- | --- | --- | --- |");
    for e in &engines {
        let daemon = median(&e.times[0]);
        for (which, name) in ROUTES.iter().enumerate() {
            let m = median(&e.times[which]);
            let stable = e.digests[which].windows(2).all(|w| w[0] == w[1]);
            println!(
                "| {} | {name} | {:.2} s | {:.2} | {} |",
                e.label,
                m.as_secs_f64(),
                m.as_secs_f64() / daemon.as_secs_f64(),
                if stable { "yes" } else { "no" }
            );
        }
    }
}

/// Every route, `rounds` times, on the current daemon; a different route goes first each round.
fn bench_engine(rounds: usize) -> Engine {
    let context = tempfile::tempdir().unwrap();
    write_context(context.path());
    docker(&[
        "build",
        "-q",
        "-t",
        IMAGE,
        &context.path().display().to_string(),
    ]);
    let mut engine = Engine {
        label: support::bench::engine_label(),
        times: Default::default(),
        digests: Default::default(),
    };
    for round in 0..rounds {
        for offset in 0..ROUTES.len() {
            let which = (round + offset) % ROUTES.len();
            // A registry of its own: the daemon mounts blobs it pushed to the same registry.
            let s = StandIns::start();
            let repo = "bench/route";
            // The CLI logs in before the clock starts (a login step of its own); the timed run of
            // ship-to-ecr signs in itself.
            let config = support::bench::cli_config(&s);
            let started = Instant::now();
            match which {
                0 => docker_push(config.path(), &s, repo),
                1 => skopeo_push(&s, repo),
                _ => {
                    s.action()
                        .input("image", IMAGE)
                        .input("repository", repo)
                        .input("tags", "v1")
                        .run()
                        .expect_code(0);
                }
            }
            let elapsed = started.elapsed();
            engine.times[which].push(elapsed);
            let (digest, _) = s.reader().manifest(repo, "v1").expect("pushed");
            engine.digests[which].push(digest);
            println!(
                "{}, round {}: {:16} {:6.2} s",
                engine.label,
                round + 1,
                ROUTES[which],
                elapsed.as_secs_f64()
            );
            images::remove_images_under(&format!("{}/", s.registry_host()));
        }
    }
    docker(&["rmi", IMAGE]);
    engine
}

/// The busybox base and 4 COPY layers of 50 MB of random data each.
fn write_context(dir: &Path) {
    let mut dockerfile = format!("FROM {}\n", images::base_image());
    let mut data = vec![0u8; 50 << 20];
    for part in 1..=4 {
        rand::rng().fill_bytes(&mut data);
        std::fs::write(dir.join(format!("part{part}.bin")), &data).unwrap();
        dockerfile.push_str(&format!("COPY part{part}.bin /data/part{part}.bin\n"));
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// The docker CLI on the current daemon.
fn docker(args: &[&str]) {
    let (ok, out) = images::docker(args);
    assert!(ok, "docker {args:?}: {out}");
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn docker_push(config: &Path, s: &StandIns, repo: &str) {
    let name = format!("{}/{repo}:v1", s.registry_host());
    docker(&["tag", IMAGE, &name]);
    let out = images::docker_command()
        .env("DOCKER_CONFIG", config)
        .args(["push", "-q", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn skopeo_push(s: &StandIns, repo: &str) {
    let archive = tempfile::tempdir().unwrap();
    let source = match Daemon::current() {
        Daemon::Docker20 => format!("docker-daemon:{IMAGE}"),
        Daemon::Docker26 => {
            let tar = archive.path().join("image.tar").display().to_string();
            docker(&["save", "-o", &tar, IMAGE]);
            format!("docker-archive:{tar}")
        }
    };
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("AWS:{}", registry_password()),
            &source,
            &format!("docker://{}/{repo}:v1", s.registry_host()),
        ],
    );
}
