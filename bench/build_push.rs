//! Build and push, side by side with the docker CLI, in one run:
//!
//! - fresh: a new image of about 200 MB in 5 layers (the busybox base and 4 x 50 MB of random
//!   data), built and pushed to a new repository;
//! - unchanged: the same build and push again.
//!
//! The peers are `docker build` + `docker push` with a temporary `DOCKER_CONFIG` logged in to
//! the same registry (the login is not timed), once plain and once with the same five OCI labels
//! ship-to-ecr adds (`--label`); ship-to-ecr is timed as a whole run, credentials, repository and
//! all. Every fresh run gets new random data, so no run reuses another's cache.
//! Run with `scripts/bench` (or `cargo bench --bench build_push`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::RngCore;
use support::{images, StandIns};

const ROUNDS: usize = 3;
const PART_MB: usize = 50;
const PARTS: usize = 4;

fn main() {
    if !support::bench::asked("build_push") {
        return;
    }
    let base = images::base_image();
    let s = StandIns::start();
    let host = s.registry_host();
    let docker_config = support::bench::cli_config(&s);

    let labels = [
        "org.opencontainers.image.created=2026-11-20T09:30:00Z",
        "org.opencontainers.image.revision=4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        "org.opencontainers.image.source=https://github.com/octo-org/web-app",
        "org.opencontainers.image.url=https://github.com/octo-org/web-app",
        "org.opencontainers.image.version=v1",
    ];
    let runners: [(&str, Runner); 3] = [
        ("docker CLI", Runner::Cli(&[])),
        ("docker CLI, same labels", Runner::Cli(&labels)),
        ("ship-to-ecr", Runner::Action),
    ];
    let mut times: Vec<Times> = runners.iter().map(|_| Times::default()).collect();
    for round in 0..ROUNDS {
        // A different runner goes first in each round.
        for offset in 0..runners.len() {
            let index = (round + offset) % runners.len();
            let (who, runner) = &runners[index];
            let context = tempfile::tempdir().unwrap();
            write_context(context.path(), base);
            let repo = format!("bench/{index}-{round}");
            let slots = &mut times[index];
            for (i, slot) in [&mut slots.fresh, &mut slots.unchanged]
                .into_iter()
                .enumerate()
            {
                let elapsed = match runner {
                    Runner::Cli(labels) => {
                        time_cli(docker_config.path(), context.path(), &host, &repo, labels)
                    }
                    Runner::Action => time_action(&s, context.path(), &repo),
                };
                let what = if i == 0 { "fresh" } else { "unchanged" };
                println!(
                    "round {}: {who:23} {what:9} {:6.2} s",
                    round + 1,
                    elapsed.as_secs_f64()
                );
                slot.push(elapsed);
            }
            images::remove_images_under(&format!("{host}/{repo}"));
        }
    }

    println!("\n{PARTS} x {PART_MB} MB random layers + busybox base, {ROUNDS} rounds, medians:");
    println!(
        "| case | docker build + push | the same with the 5 labels | ship-to-ecr | ratio to plain | ratio to labelled |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let fresh: fn(&Times) -> Duration = |t| median(&t.fresh);
    let unchanged: fn(&Times) -> Duration = |t| median(&t.unchanged);
    for (case, pick) in [("fresh image", fresh), ("unchanged re-run", unchanged)] {
        let [plain, labelled, ours] =
            [pick(&times[0]), pick(&times[1]), pick(&times[2])].map(|d| d.as_secs_f64());
        println!(
            "| {case} | {plain:.2} s | {labelled:.2} s | {ours:.2} s | {:.2} | {:.2} |",
            ours / plain,
            ours / labelled
        );
    }
}

enum Runner<'a> {
    /// `docker build` (with these `--label`s) + `docker push`.
    Cli(&'a [&'a str]),
    Action,
}

#[derive(Default)]
struct Times {
    fresh: Vec<Duration>,
    unchanged: Vec<Duration>,
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn write_context(dir: &Path, base: &str) {
    let mut dockerfile = format!("FROM {base}\n");
    let mut data = vec![0u8; PART_MB << 20];
    for part in 1..=PARTS {
        rand::rng().fill_bytes(&mut data);
        std::fs::write(dir.join(format!("part{part}.bin")), &data).unwrap();
        dockerfile.push_str(&format!("COPY part{part}.bin /data/part{part}.bin\n"));
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
}

fn time_cli(config: &Path, context: &Path, host: &str, repo: &str, labels: &[&str]) -> Duration {
    let name = format!("{host}/{repo}:v1");
    let mut build = vec!["build", "-q", "-t", &name];
    for label in labels {
        build.extend(["--label", label]);
    }
    build.push(context.to_str().unwrap());
    let started = Instant::now();
    for args in [build, vec!["push", "-q", &name]] {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", config)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    started.elapsed()
}

fn time_action(s: &StandIns, context: &Path, repo: &str) -> Duration {
    let run = s
        .action()
        .copy_dir(context, "ctx")
        .input("repository", repo)
        .input("context", "ctx")
        .input("tags", "v1");
    let started = Instant::now();
    let result = run.run();
    let elapsed = started.elapsed();
    result.expect_code(0);
    elapsed
}
