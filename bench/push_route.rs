//! How a built image best leaves the daemon, side by side in one run, for an image of about
//! 200 MB (the busybox base and 4 x 50 MB of random data) already in the daemon:
//!
//! - the daemon's own push (`docker push`), the route ship-to-ecr takes;
//! - the image export API then compression and upload by the client, as `skopeo copy
//!   docker-daemon:` does it (layers read from `docker save`'s stream, compressed, uploaded);
//! - ship-to-ecr pushing that image (`image:`), credentials, repository and all.
//!
//! Each push goes to a registry stand-in of its own, so nothing is mounted from an earlier
//! push. It also reports whether each route gives the same manifest digest
//! twice (a re-run of the same commit must not move its tags). Run with `scripts/bench`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::RngCore;
use support::{images, registry_password, StandIns};

const ROUNDS: usize = 3;

fn main() {
    if !support::bench::asked("push_route") {
        return;
    }
    let base = images::base_image();
    let context = tempfile::tempdir().unwrap();
    let mut dockerfile = format!("FROM {base}\n");
    let mut data = vec![0u8; 50 << 20];
    for part in 1..=4 {
        rand::rng().fill_bytes(&mut data);
        std::fs::write(context.path().join(format!("part{part}.bin")), &data).unwrap();
        dockerfile.push_str(&format!("COPY part{part}.bin /data/part{part}.bin\n"));
    }
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    let image = "ship-to-ecr-bench/push-route:1";
    run(
        "docker",
        &[
            "build",
            "-q",
            "-t",
            image,
            &context.path().display().to_string(),
        ],
    );

    let names = ["docker push", "export + skopeo", "ship-to-ecr"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut digests: [Vec<String>; 3] = Default::default();
    for round in 0..ROUNDS {
        for offset in 0..names.len() {
            let which = (round + offset) % names.len();
            // A registry of its own: the daemon mounts blobs it pushed to the same registry.
            let s = StandIns::start();
            let config = support::bench::cli_config(&s);
            let repo = "bench/route";
            let started = Instant::now();
            match which {
                0 => docker_push(config.path(), &s, image, repo),
                1 => skopeo_push(&s, image, repo),
                _ => {
                    s.action()
                        .input("image", image)
                        .input("repository", repo)
                        .input("tags", "v1")
                        .run()
                        .expect_code(0);
                }
            }
            let elapsed = started.elapsed();
            times[which].push(elapsed);
            let (digest, _) = s.reader().manifest(repo, "v1").expect("pushed");
            digests[which].push(digest);
            println!(
                "round {}: {:16} {:6.2} s",
                round + 1,
                names[which],
                elapsed.as_secs_f64()
            );
            images::remove_images_under(&format!("{}/", s.registry_host()));
        }
    }
    run("docker", &["rmi", image]);

    println!("\n200 MB image in the daemon (4 x 50 MB random layers), {ROUNDS} rounds, medians:");
    println!("| route | median | ratio to docker push | same digest every round |");
    println!("| --- | --- | --- | --- |");
    let daemon = median(&times[0]);
    for (which, name) in names.iter().enumerate() {
        let m = median(&times[which]);
        let stable = digests[which].windows(2).all(|w| w[0] == w[1]);
        println!(
            "| {name} | {:.2} s | {:.2} | {} |",
            m.as_secs_f64(),
            m.as_secs_f64() / daemon.as_secs_f64(),
            if stable { "yes" } else { "no" }
        );
    }
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn docker_push(config: &Path, s: &StandIns, image: &str, repo: &str) {
    let name = format!("{}/{repo}:v1", s.registry_host());
    run("docker", &["tag", image, &name]);
    let out = Command::new("docker")
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

fn skopeo_push(s: &StandIns, image: &str, repo: &str) {
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("AWS:{}", registry_password()),
            &format!("docker-daemon:{image}"),
            &format!("docker://{}/{repo}:v1", s.registry_host()),
        ],
    );
}
