//! The registry engine side by side with its peers, in one run, on the same images and the same
//! local registries:
//!
//! 1. copy of a 200 MB, 5-layer image (1 MB + 4 x 50 MB random) from a source registry to the
//!    ECR stand-in: ship-to-ecr (`image:` a registry image) vs `skopeo copy` vs a plain
//!    parallel `curl` GET-to-PUT of the same blobs (the floor the registries set);
//! 2. patch of that image with three small files: the registry engine vs the docker engine vs
//!    the console-and-CLI flow users follow today (`docker pull`, `create`, `cp`, `commit`,
//!    `push`);
//! 3. the unchanged re-run of 2 (registry engine), whole process;
//! 4. peak memory (RSS) of the registry engine copying an image with one 1 GB layer.
//!
//! ship-to-ecr is timed as a whole process (credentials, repository, everything); the copy
//! phase alone, as the run logs it, is shown beside it. moto answers the first request to each
//! AWS service about 0.2 s late (it loads that service's code then), which AWS does not: an
//! untimed `push: false` run warms it before each timed ship-to-ecr run. Every measurement gets an empty ECR
//! stand-in of its own (else skopeo's blob cache and the daemon's push history would mount
//! blobs an earlier run uploaded), and the daemon's copy of the base is removed before each
//! daemon run, as on a fresh runner.
//! Run with `scripts/bench` (or `cargo bench --bench registry_engine`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::RngCore;
use support::base_images::{busybox_layer, single_file_tar, BaseImage, SourceRegistry};
use support::images::docker;
use support::{registry_password, StandIns};

const ROUNDS: usize = 3;

fn main() {
    if !support::bench::asked("registry_engine") {
        return;
    }
    let source = SourceRegistry::anonymous();
    let mut tars = vec![busybox_layer()];
    let mut data = vec![0u8; 50 << 20];
    for part in 0..4 {
        rand::rng().fill_bytes(&mut data);
        tars.push(single_file_tar(&format!("data/part{part}.bin"), &data));
    }
    let base = source.push_layers("bench/base", "1", &tars, 0);
    let total: usize = base.layers.iter().map(|(_, b, _)| b.len()).sum();
    println!(
        "image: {} layers, {:.0} MB, {}",
        base.layers.len(),
        total as f64 / 1e6,
        base.reference
    );

    // 1. Copy.
    let mut copy = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for offset in 0..3 {
            let which = (round + offset) % 3;
            let repo = format!("bench/copy-{which}-{round}");
            let s = StandIns::start();
            let (elapsed, phase) = match which {
                0 => time_copy(&s, &base, &repo),
                1 => (time_skopeo(&s, &base, &repo), None),
                _ => (time_curl(&s, &source, &base, &repo), None),
            };
            println!(
                "copy  round {}: {:11} {:6.2} s{}",
                round + 1,
                ["ship-to-ecr", "skopeo", "curl"][which],
                elapsed.as_secs_f64(),
                phase
                    .map(|p| format!(" (copy phase {:.2} s)", p.as_secs_f64()))
                    .unwrap_or_default()
            );
            copy[which].push(elapsed);
            if let Some(p) = phase {
                copy[3].push(p);
            }
        }
    }

    // 2. Patch, and 3. the unchanged re-run.
    let files = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("functionalAccounts.json", "[{\"username\":\"admin\"}]"),
        ("proposalTypes.json", "[{\"id\":\"DOOR\"}]"),
        (".env", "NODE_ENV=production\n"),
    ] {
        std::fs::write(files.path().join(name), content).unwrap();
    }
    let mut patch = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for offset in 0..3 {
            let which = (round + offset) % 3;
            let repo = format!("bench/patch-{which}-{round}");
            let s = StandIns::start();
            forget_base(&base);
            let elapsed = match which {
                0 | 1 => time_patch(&s, &base, files.path(), &repo, ["auto", "docker"][which]),
                _ => {
                    let docker_config = tempfile::tempdir().unwrap();
                    support::images::cli_login(docker_config.path(), &s.registry_host());
                    time_cli_patch(docker_config.path(), &s, &base, files.path(), &repo)
                }
            };
            println!(
                "patch round {}: {:14} {:6.2} s",
                round + 1,
                ["registry engine", "docker engine", "docker CLI"][which],
                elapsed.as_secs_f64()
            );
            patch[which].push(elapsed);
            if which == 0 {
                let again = time_patch(&s, &base, files.path(), &repo, "auto");
                println!(
                    "patch round {}: unchanged re-run  {:6.2} s",
                    round + 1,
                    again.as_secs_f64()
                );
                patch[3].push(again);
            }
            support::images::remove_images_under(&format!("{}/{repo}", s.registry_host()));
        }
    }
    forget_base(&base);

    // 4. Memory, copying one 1 GB layer.
    let mut big = vec![0u8; 1 << 30];
    rand::rng().fill_bytes(&mut big);
    let huge = source.push_layers(
        "bench/huge",
        "1",
        &[single_file_tar("data/huge.bin", &big)],
        0,
    );
    drop(big);
    let s = StandIns::start();
    let started = Instant::now();
    let (result, rss_kb) = s
        .action()
        .input("repository", "bench/huge")
        .input("image", &huge.reference)
        .input("tags", "v1")
        .run_measuring_memory();
    result.expect_code(0);
    let huge_time = started.elapsed();

    let m = |t: &[Duration]| median(t).as_secs_f64();
    println!("\nmedians of {ROUNDS} rounds (2-core machine, local registries):\n");
    println!("| case | ship-to-ecr | peer | peer | ratios |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| copy 200 MB, 5 layers | {:.2} s (copy phase {:.2} s) | skopeo copy {:.2} s | parallel curl {:.2} s | {:.2} x skopeo, {:.2} x curl (copy phase: {:.2} x, {:.2} x) |",
        m(&copy[0]), m(&copy[3]), m(&copy[1]), m(&copy[2]),
        m(&copy[0]) / m(&copy[1]), m(&copy[0]) / m(&copy[2]),
        m(&copy[3]) / m(&copy[1]), m(&copy[3]) / m(&copy[2])
    );
    println!(
        "| patch with 3 files | registry engine {:.2} s | docker engine {:.2} s | docker CLI flow {:.2} s | {:.2} x CLI flow (docker engine {:.2} x) |",
        m(&patch[0]), m(&patch[1]), m(&patch[2]),
        m(&patch[0]) / m(&patch[2]), m(&patch[1]) / m(&patch[2])
    );
    println!(
        "| unchanged re-run of the patch | {:.2} s | | | |",
        m(&patch[3])
    );
    println!(
        "| copy of one 1 GB layer | peak RSS {:.1} MB, {:.2} s | | | |",
        rss_kb as f64 / 1024.0,
        huge_time.as_secs_f64()
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// An untimed dry run, so moto has loaded its STS and ECR code before the timed run.
fn warm_moto(s: &StandIns) {
    s.action()
        .input("repository", "bench/warm-up")
        .input("image", support::images::base_image())
        .input("push", "false")
        .run()
        .expect_code(0);
}

/// ship-to-ecr copying the image; the whole process, and the copy phase as it logs it.
fn time_copy(s: &StandIns, base: &BaseImage, repo: &str) -> (Duration, Option<Duration>) {
    warm_moto(s);
    let run = s
        .action()
        .input("repository", repo)
        .input("image", &base.reference)
        .input("engine", "registry")
        .input("tags", "v1");
    let started = Instant::now();
    let result = run.run();
    let elapsed = started.elapsed();
    result.expect_code(0);
    (elapsed, copy_phase(&result.stdout))
}

fn copy_phase(log: &str) -> Option<Duration> {
    let line = log.lines().find(|l| l.starts_with("Blobs from "))?;
    let seconds = line.rsplit(" in ").next()?.trim_end_matches(" s.");
    Some(Duration::from_secs_f64(seconds.parse().ok()?))
}

fn time_skopeo(s: &StandIns, base: &BaseImage, repo: &str) -> Duration {
    let started = Instant::now();
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("AWS:{}", registry_password()),
            &format!("docker://{}", base.reference),
            &format!("docker://{}/{repo}:v1", s.registry_host()),
        ])
        .output()
        .expect("skopeo (installed by scripts/install-stand-ins)");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Every blob at once, each a `curl` GET piped into a `curl` PUT of the upload, then the
/// manifest: what the registries allow at best, with no checks.
fn time_curl(s: &StandIns, source: &SourceRegistry, base: &BaseImage, repo: &str) -> Duration {
    let manifest_json = serde_json::to_vec(&manifest_of(source, base)).unwrap();
    let manifest_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(manifest_file.path(), &manifest_json).unwrap();
    let src = format!("{}/v2/bench/base/blobs", source.server.url);
    let dst = s.registry.url.clone();
    let auth = format!("AWS:{}", registry_password());
    let mut digests: Vec<String> = base.layers.iter().map(|(d, _, _)| d.clone()).collect();
    digests.push(base.config_digest.clone());
    let mut script = String::from("set -e\n");
    for digest in &digests {
        script.push_str(&format!(
            "( loc=$(curl -si -u '{auth}' -X POST '{dst}/v2/{repo}/blobs/uploads/' | grep -i '^location:' | cut -d' ' -f2 | tr -d '\\r'); \
             case \"$loc\" in http*) ;; *) loc=\"{dst}$loc\";; esac; \
             curl -sf '{src}/{digest}' | curl -sf -u '{auth}' -X PUT -H 'Content-Type: application/octet-stream' -T - \"$loc&digest={digest}\" ) &\n"
        ));
    }
    script.push_str(&format!(
        "wait\ncurl -sf -u '{auth}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @{} '{dst}/v2/{repo}/manifests/v1' >/dev/null\n",
        manifest_file.path().display()
    ));
    let started = Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "curl copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        s.reader().manifest(repo, "v1").is_some(),
        "curl copy wrote the manifest"
    );
    elapsed
}

fn manifest_of(source: &SourceRegistry, base: &BaseImage) -> serde_json::Value {
    let response = reqwest::blocking::Client::new()
        .get(format!(
            "{}/v2/bench/base/manifests/{}",
            source.server.url, base.manifest_digest
        ))
        .header("Accept", support::base_images::OCI_MANIFEST)
        .send()
        .unwrap();
    response.json().unwrap()
}

/// The daemon forgets the base (and everything made from it), as a fresh runner would.
fn forget_base(base: &BaseImage) {
    docker(&["rmi", "--force", &base.config_digest]);
}

fn time_patch(s: &StandIns, base: &BaseImage, files: &Path, repo: &str, engine: &str) -> Duration {
    warm_moto(s);
    let run = s
        .action()
        .copy_dir(files, "config")
        .input("repository", repo)
        .input("base-image", &base.reference)
        .input("engine", engine)
        .input(
            "files",
            "config/functionalAccounts.json => /etc/app/\nconfig/proposalTypes.json => /etc/app/\nconfig/.env => /etc/app/.env mode=0600",
        )
        .input("tags", "v1");
    let started = Instant::now();
    let result = run.run();
    let elapsed = started.elapsed();
    result.expect_code(0);
    elapsed
}

/// The CLI flow users follow today: pull, create, cp each file, commit, push.
fn time_cli_patch(
    config: &Path,
    s: &StandIns,
    base: &BaseImage,
    files: &Path,
    repo: &str,
) -> Duration {
    let container = format!("bench-patch-{}", rand::random::<u32>());
    let target = format!("{}/{repo}:v1", s.registry_host());
    let file = |name: &str| files.join(name).display().to_string();
    let steps: Vec<Vec<String>> = vec![
        vec!["pull".into(), "-q".into(), base.reference.clone()],
        vec![
            "create".into(),
            "--name".into(),
            container.clone(),
            base.reference.clone(),
        ],
        vec![
            "cp".into(),
            file("functionalAccounts.json"),
            format!("{container}:/etc/"),
        ],
        vec![
            "cp".into(),
            file("proposalTypes.json"),
            format!("{container}:/etc/"),
        ],
        vec!["cp".into(), file(".env"), format!("{container}:/etc/.env")],
        vec!["commit".into(), container.clone(), target.clone()],
        vec!["push".into(), "-q".into(), target.clone()],
    ];
    let started = Instant::now();
    for args in &steps {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elapsed = started.elapsed();
    docker(&["rm", "--force", &container]);
    elapsed
}
