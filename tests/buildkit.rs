//! Builds through BuildKit (issue 11), end to end on this machine's daemon: each Dockerfile
//! feature the classic builder lacks, build secrets that never reach the registry, the
//! `platform`, `target` and `builder` inputs, and how a failed step is reported. The cache that
//! survives a fresh runner has a test binary of its own (`tests/buildkit_cache.rs`): it prunes
//! the daemon's whole build cache.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::Digest;
use support::images::{self, docker};
use support::{ActionResult, ActionRun, StandIns};

const REPO: &str = "octo-org/web-app";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_cache_mount_builds_and_pushes_through_buildkit,
    a_bind_mount_reads_the_context_without_copying_it,
    build_secrets_reach_the_build_and_nothing_else,
    a_target_stage_builds_with_build_args_and_only_the_stages_it_needs,
    heredocs_and_copy_link_build_where_the_frontend_has_them,
    builder_classic_builds_with_the_classic_builder,
    a_mount_under_the_classic_builder_says_buildkit_is_needed,
    a_failing_step_is_named_with_its_line_and_last_output,
    load_false_leaves_nothing_of_the_run_in_the_daemon,
    a_base_image_in_this_registry_is_pulled_with_the_runs_credentials_under_every_cache,
);

/// A run whose Dockerfile is `FROM <this test's base>` then `steps`.
fn building(s: &StandIns, steps: &str) -> ActionRun {
    s.action()
        .write_file("Dockerfile", &format!("FROM {}\n{steps}", s.base))
}

/// The log's BuildKit progress lines, as the CLI's plain progress prints them (`#5 [2/3] RUN ...`).
fn progress_steps(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            let Some(rest) = line.strip_prefix('#') else {
                return false;
            };
            let number = rest.chars().take_while(char::is_ascii_digit).count();
            number > 0 && rest[number..].starts_with(" [")
        })
        .collect()
}

/// The run said it built with BuildKit, and its log shows BuildKit's progress.
fn assert_built_with_buildkit(result: &ActionResult) {
    assert!(
        result.stdout.contains("Builder: BuildKit (daemon "),
        "the log names the builder: {result}"
    );
    assert!(
        !progress_steps(&result.stdout).is_empty(),
        "BuildKit's progress is in the log: {result}"
    );
}

/// The content of the file at `path` in the image pushed as `main`.
fn pushed_file(s: &StandIns, path: &str) -> Option<String> {
    s.reader()
        .files(REPO, "main")
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, content)| String::from_utf8_lossy(&content).into_owned())
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

fn a_cache_mount_builds_and_pushes_through_buildkit() {
    let s = StandIns::start();
    let result = building(
        &s,
        &format!(
            "RUN --mount=type=cache,id=cache-{0},target=/root/.cache \
             echo {0} > /root/.cache/run && cat /root/.cache/run > /seen\n",
            s.nonce
        ),
    )
    .run();
    result.expect_code(0);
    assert_built_with_buildkit(&result);
    assert_eq!(pushed_file(&s, "seen"), Some(format!("{}\n", s.nonce)));
    let files = s.reader().files(REPO, "main");
    assert!(
        !files.iter().any(|(p, _)| p.starts_with("root/.cache")),
        "a cache mount is not part of the image: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn a_bind_mount_reads_the_context_without_copying_it() {
    let s = StandIns::start();
    let result = building(
        &s,
        "RUN --mount=type=bind,source=x,target=/x cat /x/file > /out\n",
    )
    .write_file("x/file", &format!("bound {}\n", s.nonce))
    .run();
    result.expect_code(0);
    assert_built_with_buildkit(&result);
    assert_eq!(pushed_file(&s, "out"), Some(format!("bound {}\n", s.nonce)));
    assert_eq!(
        pushed_file(&s, "x/file"),
        None,
        "the bound folder is not copied"
    );
}

fn build_secrets_reach_the_build_and_nothing_else() {
    let s = StandIns::start();
    // An .npmrc of two tokens (a multi-line value), and a token from the environment.
    let npmrc = format!(
        "//registry.npmjs.org/:_authToken=npm_{0}a\n//npm.pkg.github.com/:_authToken=ghp_{0}b\n",
        s.nonce
    );
    let token = format!("tok_{}_from_env", s.nonce);
    // BuildKit keys a step by its command, not by the secrets it mounts, and the containerd
    // store keys the base by its layers (every test's base has the same ones): the nonce keeps
    // another test's cached step, built with other secrets, from answering for this one.
    let result = building(
        &s,
        &format!(
            "RUN --mount=type=secret,id=npmrc sha256sum /run/secrets/npmrc > /hash # {0}\n\
             RUN --mount=type=secret,id=token sha256sum /run/secrets/token > /hash-token # {0}\n",
            s.nonce
        ),
    )
    .write_file("secret.txt", &npmrc)
    .write_file(".dockerignore", "secret.txt\n")
    .env("NPM_TOKEN", &token)
    .input(
        "build-secrets",
        "id=npmrc,src=secret.txt\nid=token,env=NPM_TOKEN",
    )
    .run();
    result.expect_code(0);
    assert_built_with_buildkit(&result);

    // The build saw each value: its hash is in the image.
    assert_eq!(
        pushed_file(&s, "hash"),
        Some(format!(
            "{}  /run/secrets/npmrc\n",
            sha256_hex(npmrc.as_bytes())
        ))
    );
    assert_eq!(
        pushed_file(&s, "hash-token"),
        Some(format!(
            "{}  /run/secrets/token\n",
            sha256_hex(token.as_bytes())
        ))
    );

    // No value, nor any line of one, in anything the registry holds or the run wrote.
    let mut values: Vec<String> = npmrc.lines().map(str::to_string).collect();
    values.extend([npmrc.clone(), token.clone()]);
    for (what, bytes) in s.reader().contents(REPO, "main") {
        for value in &values {
            for form in [value.clone(), STANDARD.encode(value)] {
                assert!(
                    !contains(&bytes, form.as_bytes()),
                    "a secret ({}...) is in the registry's {what}",
                    &value[..12]
                );
            }
        }
    }
    let lines: Vec<String> = npmrc.lines().map(str::to_string).collect();
    result.assert_masked(&lines);
    result.assert_masked(std::slice::from_ref(&token));
    result.assert_no_secret_leaked(&values, true);
    result.assert_no_secret_leaked(&s.secrets(), true);

    // Masked as they are read, before the daemon is asked anything.
    let position = |text: &str| result.stdout.find(text);
    let builder = position("Builder: ").expect("the builder line");
    for value in [&lines[0], &lines[1], &token] {
        let mask = position(&format!("::add-mask::{value}")).expect("its mask");
        assert!(mask < builder, "masked before the build starts: {result}");
    }
}

#[test]
fn the_context_goes_through_the_session_without_what_dockerignore_leaves_out() {
    let s = StandIns::start();
    let result = building(&s, "COPY . /app/\n")
        .write_file(".dockerignore", "*.env\nnotes\n!notes/keep.txt\n")
        .write_file("config.env", &format!("TOKEN=env_{}", s.nonce))
        .write_file("notes/todo.txt", "not for the image")
        .write_file("notes/keep.txt", "brought back")
        .write_file("src/main.sh", &format!("echo {}\n", s.nonce))
        .run();
    result.expect_code(0);
    assert_built_with_buildkit(&result);
    assert_eq!(
        pushed_file(&s, "app/src/main.sh"),
        Some(format!("echo {}\n", s.nonce))
    );
    assert_eq!(
        pushed_file(&s, "app/notes/keep.txt"),
        Some("brought back".to_string())
    );
    let files = s.reader().files(REPO, "main");
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        !names
            .iter()
            .any(|p| p.ends_with("config.env") || p.ends_with("todo.txt")),
        "ignored files are not in the image: {names:?}"
    );
    // The daemon read the context from the session (`load build context`), not from a tar in
    // the request (`load remote build context`).
    assert!(
        result.stdout.contains("[internal] load build context")
            && !result.stdout.contains("load remote build context"),
        "the context was synced through the session: {result}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn a_target_stage_builds_with_build_args_and_only_the_stages_it_needs() {
    let s = StandIns::start();
    // `broken` is not needed by `runtime`: BuildKit never runs it (the classic builder would).
    let result = s
        .action()
        .write_file(
            "Dockerfile",
            &format!(
                "FROM {0} AS builder\nARG FLAVOUR=plain\nRUN echo \"built $FLAVOUR {1}\" > /artifact\n\
                 FROM {0} AS broken\nRUN echo 'this stage must not run' && false\n\
                 FROM {0} AS runtime\nCOPY --from=builder /artifact /artifact\n\
                 FROM runtime AS debug\nRUN echo debug > /debug\n",
                s.base, s.nonce
            ),
        )
        .input("target", "runtime")
        .input("build-args", "FLAVOUR=spicy")
        .run();
    result.expect_code(0);
    assert_eq!(
        pushed_file(&s, "artifact"),
        Some(format!("built spicy {}\n", s.nonce))
    );
    assert_eq!(pushed_file(&s, "debug"), None, "the stage after the target");
    assert!(
        !result.stdout.contains("this stage must not run"),
        "{result}"
    );
    assert_built_with_buildkit(&result);
}

fn heredocs_and_copy_link_build_where_the_frontend_has_them() {
    let (ok, version) = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(ok, "{version}");
    let major: u32 = version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("the daemon's version");
    if major < 23 {
        println!(
            "skipped: Docker {} has the built-in Dockerfile frontend 1.2, without heredocs and \
             COPY --link (they need 1.4, built into Docker 23; `# syntax=` would pull it)",
            version.trim()
        );
        return;
    }
    let s = StandIns::start();
    let result = building(
        &s,
        &format!(
            "COPY <<EOF /greeting.txt\nhello {0}\nEOF\nCOPY --link app.txt /app.txt\n\
             RUN <<EOF\necho ran {0} > /ran.txt\nEOF\n",
            s.nonce
        ),
    )
    .write_file("app.txt", "linked\n")
    .run();
    result.expect_code(0);
    assert_built_with_buildkit(&result);
    assert_eq!(
        pushed_file(&s, "greeting.txt"),
        Some(format!("hello {}\n", s.nonce))
    );
    assert_eq!(pushed_file(&s, "app.txt").as_deref(), Some("linked\n"));
    assert_eq!(
        pushed_file(&s, "ran.txt"),
        Some(format!("ran {}\n", s.nonce))
    );
}

fn builder_classic_builds_with_the_classic_builder() {
    let s = StandIns::start();
    let result = s.action().input("builder", "classic").run();
    result.expect_code(0);
    assert_eq!(
        pushed_file(&s, "hello.txt"),
        Some(format!("hello from ship-to-ecr, test {}\n", s.nonce))
    );
    assert!(result.stdout.contains("Step 2/2 : COPY"), "{result}");
    assert!(progress_steps(&result.stdout).is_empty(), "{result}");
    assert!(result.stdout.contains("Builder: classic"), "{result}");
}

fn a_mount_under_the_classic_builder_says_buildkit_is_needed() {
    let s = StandIns::start();
    let result = building(
        &s,
        "RUN --mount=type=cache,target=/root/.cache echo cached\n",
    )
    .input("builder", "classic")
    .run();
    result.expect_code(1);
    let (_, message) = &result.errors()[0];
    assert!(message.contains("--mount"), "{message}");
    assert!(message.contains("BuildKit"), "{message}");
    assert!(s.proxy.writes().is_empty(), "{:?}", s.proxy.calls());
    assert!(s.repositories().is_empty());
}

fn a_failing_step_is_named_with_its_line_and_last_output() {
    let s = StandIns::start();
    let failing = "COPY hello.txt /hello.txt\n\
         RUN for i in $(busybox seq 1 40); do echo \"out $i end\"; done; exit 3\n";
    let result = building(&s, failing).run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Build failed", "{result}");
    assert!(
        message.contains("[3/3] RUN for i in"),
        "the step: {message}"
    );
    assert!(message.contains("Dockerfile:3"), "the line: {message}");
    assert!(message.contains("exit code: 3"), "{message}");
    // The last 30 lines of its output, not the first.
    for shown in ["out 40 end", "out 20 end"] {
        assert!(message.contains(shown), "{shown}: {message}");
    }
    assert!(!message.contains("out 1 end"), "{message}");
    assert!(!progress_steps(&result.stdout).is_empty(), "{result}");
    // Before the build the run reads only (an earlier image of these inputs under its own
    // tags, the cache): nothing is written to AWS or to the registry, and the images pushed
    // last are not listed (`reuse: repository` alone does).
    let mut calls = s.proxy.calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "ecr:DescribeRepositories",
            "ecr:GetAuthorizationToken",
            "sts:AssumeRoleWithWebIdentity",
            "sts:GetCallerIdentity"
        ]
    );
    assert!(s.repositories().is_empty());
    assert!(s.reader().tags(REPO).is_empty());
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn load_false_leaves_nothing_of_the_run_in_the_daemon() {
    let s = StandIns::start();
    let marker = format!("test.id={}", s.nonce);
    let name_of_ours = |names: &str| {
        names
            .lines()
            .any(|n| n.starts_with(&s.registry_host()) || n.starts_with("ship-to-ecr-build/"))
    };
    let images_with_marker = || {
        docker(&[
            "image",
            "ls",
            "--filter",
            &format!("label={marker}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .1
    };

    let kept = building(&s, "RUN echo kept > /kept\n")
        .input("labels", &marker)
        .run();
    kept.expect_code(0);
    assert!(
        name_of_ours(&images_with_marker()),
        "load: true keeps the image: {kept}"
    );
    images::remove_images_under(&format!("{}/", s.registry_host()));

    let unloaded = building(&s, "RUN echo unloaded > /unloaded\n")
        .input("labels", &marker)
        .input("load", "false")
        .run();
    unloaded.expect_code(0);
    assert!(
        unloaded.stdout.contains("load is false"),
        "the log says so: {unloaded}"
    );
    let left = images_with_marker();
    assert!(!name_of_ours(&left), "names left in the daemon: {left}");
    assert_eq!(pushed_file(&s, "unloaded"), Some("unloaded\n".into()));
}

/// A private base image in this run's ECR registry (issue 30, row 11): BuildKit pulls it with
/// the run's ECR credentials whatever the `cache` setting, as on a fresh runner that holds no
/// copy of the base.
fn a_base_image_in_this_registry_is_pulled_with_the_runs_credentials_under_every_cache() {
    let s = StandIns::start();
    let base_repo = format!("{}/team/base", s.registry_host());
    let base = s
        .action()
        .input("repository", "team/base")
        .input("tags", "1")
        .run();
    base.expect_code(0);
    let from = format!("FROM {base_repo}:1\nCOPY hello.txt /hello.txt\n");
    let caches = [
        ("off", "off".to_string()),
        ("auto", "auto".to_string()),
        ("explicit", format!("from={base_repo}:1\nto=inline")),
    ];
    for (name, cache) in caches {
        // As on a fresh runner: the daemon has no copy of the base under its name.
        images::remove_images_under(&base_repo);
        let result = s
            .action()
            .write_file("Dockerfile", &from)
            .write_file("hello.txt", &format!("cache {name}, test {}\n", s.nonce))
            .input("cache", &cache)
            .input("tags", &format!("cache-{name}"))
            .run();
        result.expect_code(0);
        assert_built_with_buildkit(&result);
        let (digest, _) = s
            .reader()
            .manifest(REPO, &format!("cache-{name}"))
            .unwrap_or_else(|| panic!("cache: {cache} pushed: {result}"));
        assert_eq!(Some(digest), result.output("digest"), "{result}");
        result.assert_no_secret_leaked(&s.secrets(), true);
    }
    images::remove_images_under(&base_repo);
}
