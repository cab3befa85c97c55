//! Build once: a build whose inputs this repository has already built is not built again; the
//! run writes its tags to that image. What changes the image (a file, a build-arg, the base's
//! digest) builds anew; what does not (a `.dockerignore`d file, the commit) reuses.

use serde_json::json;
use support::base_images::SourceRegistry;
use support::images::{self, docker};
use support::StandIns;

const REPO: &str = "octo-org/web-app";
const BUILT_BY: &str =
    "built from identical inputs by run https://github.com/octo-org/web-app/actions/runs/7001";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(
    a_dispatch_rerun_into_an_immutable_repository_reuses_the_image,
    on_a_fresh_runner_only_tags_are_written_and_the_image_is_loaded,
    what_makes_the_image_rebuilds_and_what_does_not_reuses,
    the_push_after_a_pull_request_of_the_same_tree_reuses_its_image,
    a_base_that_moved_in_its_registry_is_built_again,
    when_git_s_folder_is_sent_the_commit_is_part_of_the_key,
    an_image_another_run_pushed_with_mains_key_is_reused_only_when_the_repository_is_trusted,
);

fn built(result: &support::ActionResult) -> bool {
    result.stdout.contains("Builder: BuildKit")
}

fn reused(result: &support::ActionResult) -> bool {
    result.stdout.contains("Reused sha256:") && !built(result)
}

/// Whether `result` says it found its image in the tag list, under a tag `pusher` wrote.
fn found_under_one_of(result: &support::ActionResult, pusher: &support::ActionResult) -> bool {
    let pushed = pusher.output("tags").unwrap_or_default();
    pushed
        .lines()
        .filter_map(|t| t.rsplit(':').next())
        .any(|tag| {
            result.stdout.contains(&format!(
                "Found in the repository's tag list, under {tag} (reuse: repository"
            ))
        })
}

fn a_dispatch_rerun_into_an_immutable_repository_reuses_the_image() {
    let s = StandIns::start();
    let run = || {
        s.action()
            .event(
                "workflow_dispatch",
                "refs/heads/main",
                json!({"ref": "refs/heads/main", "inputs": {},
                       "repository": {"full_name": REPO, "default_branch": "main"}}),
            )
            .input("tag-mutability", "IMMUTABLE")
            .committed(1_795_167_000)
            .run()
    };
    let first = run();
    first.expect_code(0);
    assert!(built(&first), "{first}");
    let config = s.reader().config(REPO, "main");
    let labels = &config["config"]["Labels"];
    assert!(
        labels["ship-to-ecr.build-key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sha256:")),
        "{labels}"
    );
    assert_eq!(
        labels["ship-to-ecr.built-by"],
        "https://github.com/octo-org/web-app/actions/runs/7001"
    );

    let second = run();
    second.expect_code(0);
    assert!(reused(&second), "{second}");
    assert!(second.stdout.contains(BUILT_BY), "{second}");
    assert_eq!(second.output("digest"), first.output("digest"));
    assert_eq!(second.output("pushed").as_deref(), Some("false"));
    assert!(second.summary.contains("none: reused"), "{second}");
    second.assert_no_secret_leaked(&s.secrets(), true);
}

/// A new runner: the daemon has neither the image nor its base's name for it; the run builds
/// nothing, writes a new tag by manifest alone and, with `load: true`, pulls the image into
/// the daemon for later steps.
fn on_a_fresh_runner_only_tags_are_written_and_the_image_is_loaded() {
    let s = StandIns::start();
    let first = s.action().run();
    first.expect_code(0);
    let uri = format!("{}/{REPO}", s.registry_host());
    images::remove_images_under(&uri);

    // By default a reused image is not pulled: nothing of it is in the daemon.
    let by_default = s.action().input("tags", "v1\nmain").run();
    by_default.expect_code(0);
    assert!(reused(&by_default), "{by_default}");
    assert!(
        by_default
            .stdout
            .contains("not pulled into the Docker daemon (load: auto)"),
        "{by_default}"
    );
    let (present, _) = docker(&["image", "inspect", &format!("{uri}:v1")]);
    assert!(!present, "pulled without load: true: {by_default}");

    let second = s
        .action()
        .input("tags", "v2\nmain")
        .input("load", "true")
        .run();
    second.expect_code(0);
    assert!(reused(&second), "{second}");
    assert_eq!(second.output("digest"), first.output("digest"));
    assert_eq!(second.output("pushed").as_deref(), Some("true"));
    assert!(
        second
            .summary
            .contains("| Layers | none sent: the registry already had the image |"),
        "{second}"
    );
    let (digest, _) = s.reader().manifest(REPO, "v2").unwrap();
    assert_eq!(Some(digest), first.output("digest"));
    // Loaded as a build would have left it.
    let (present, _) = docker(&["image", "inspect", &format!("{uri}:v2")]);
    assert!(present, "{second}");
    images::remove_images_under(&uri);
}

fn what_makes_the_image_rebuilds_and_what_does_not_reuses() {
    let s = StandIns::start();
    let run = |change: &dyn Fn(support::ActionRun) -> support::ActionRun| {
        let run = s
            .action()
            .write_file(".dockerignore", "*.log\n")
            .write_file("notes.log", "first")
            .input("tags", "t");
        let result = change(run).run();
        result.expect_code(0);
        result
    };
    let first = run(&|r| r);
    assert!(built(&first), "{first}");
    let digest = first.output("digest");

    let ignored = run(&|r| r.write_file("notes.log", "second"));
    assert!(reused(&ignored), "an ignored file: {ignored}");
    assert_eq!(ignored.output("digest"), digest);

    let one_byte = run(&|r| {
        r.write_file(
            "hello.txt",
            &format!("hello from ship-to-ecr, test {}!\n", s.nonce),
        )
    });
    assert!(built(&one_byte), "a context file: {one_byte}");
    assert_ne!(one_byte.output("digest"), digest);

    let build_arg = run(&|r| r.input("build-args", "FLAVOUR=other"));
    assert!(built(&build_arg), "a build-arg: {build_arg}");

    // The base's name now names another image, as when `node:22` moves to a new digest.
    images::unique_base(&s.base, &format!("{}-moved", s.nonce));
    let moved = run(&|r| r);
    assert!(built(&moved), "a moved base: {moved}");
    assert_ne!(moved.output("digest"), digest);

    let forced = run(&|r| r.input("rebuild", "true"));
    assert!(built(&forced), "rebuild: true: {forced}");
    assert!(
        forced.stdout.contains("rebuild is true: building"),
        "{forced}"
    );
}

/// The pull request's run pushes `pr-42`; the push that merges it checks out another commit
/// of the same tree and, trusting every pusher of the repository (`reuse: repository`), tags
/// that image instead of building it again. `.dockerignore` leaves git's folder out of the
/// context, as it must for that (see the next test).
fn the_push_after_a_pull_request_of_the_same_tree_reuses_its_image() {
    let s = StandIns::start();
    let repository = json!({"full_name": REPO, "default_branch": "main"});
    let pull_request = s
        .action()
        .event(
            "pull_request",
            "refs/pull/42/merge",
            json!({"number": 42, "repository": repository,
                   "pull_request": {"number": 42, "head": {"ref": "feature"}}}),
        )
        .write_file(".dockerignore", ".git\n")
        .committed(1_795_167_000)
        .run();
    pull_request.expect_code(0);
    assert!(built(&pull_request), "{pull_request}");
    let pr_tags = s.reader().tags(REPO);
    assert!(pr_tags.contains(&"pr-42".to_string()), "{pr_tags:?}");

    let merged = s
        .action()
        .event(
            "push",
            "refs/heads/main",
            json!({"ref": "refs/heads/main", "repository": repository}),
        )
        .env("GITHUB_RUN_ID", "7002")
        .write_file(".dockerignore", ".git\n")
        .input("reuse", "repository")
        .committed(1_795_170_600)
        .run();
    merged.expect_code(0);
    assert!(reused(&merged), "{merged}");
    // Under either tag of the pull request's run: the tag list's order is the registry's.
    assert!(
        found_under_one_of(&merged, &pull_request),
        "the log says where the image was found: {merged}"
    );
    assert!(merged.stdout.contains(BUILT_BY), "{merged}");
    // The reused image keeps the labels of the run that built it, and the log says which.
    let pr_first_tag = pull_request.output("tags").unwrap_or_default();
    let pr_first_tag = pr_first_tag
        .lines()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap();
    assert!(
        merged.stdout.contains(&format!("version {pr_first_tag})")),
        "{merged}"
    );
    assert_eq!(merged.output("digest"), pull_request.output("digest"));
    assert_eq!(merged.output("pushed").as_deref(), Some("true"));
    let merged_tags = merged.output("tags").unwrap_or_default();
    assert!(merged_tags.lines().any(|t| t == "main"), "{merged_tags}");
    let tags = s.reader().tags(REPO);
    assert_eq!(
        tags.len(),
        pr_tags.len() + 3,
        "sha-, main, latest: {tags:?}"
    );
    for tag in tags {
        let (digest, _) = s.reader().manifest(REPO, &tag).unwrap();
        assert_eq!(Some(digest), pull_request.output("digest"), "{tag}");
    }
    let config = s.reader().config(REPO, "main");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.version"],
        pr_first_tag
    );
}

/// A base named by tag in its registry: the key holds the digest the tag names. When the tag
/// moves (a security update of the base) a fresh runner builds again; until then it reuses.
fn a_base_that_moved_in_its_registry_is_built_again() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = format!("{}/library/app-base-{}:1", source.host(), s.nonce);
    let repo = format!("library/app-base-{}", s.nonce);
    source.push_base(&repo, "1", "original");
    let run = || {
        // As on a fresh runner: the daemon has no copy of the base of its own.
        images::remove_images_under(&format!("{}/{repo}", source.host()));
        let result = s
            .action()
            .write_file(
                "Dockerfile",
                &format!("FROM {base}\nCOPY hello.txt /hello.txt\n"),
            )
            .input("tags", "t")
            .run();
        result.expect_code(0);
        result
    };
    let first = run();
    assert!(built(&first), "{first}");
    let again = run();
    assert!(reused(&again), "the same base digest: {again}");
    assert_eq!(again.output("digest"), first.output("digest"));

    source.push_base(&repo, "1", "patched");
    let moved = run();
    assert!(built(&moved), "the tag names another digest: {moved}");
    assert_ne!(moved.output("digest"), first.output("digest"));
    images::remove_images_under(&format!("{}/{repo}", source.host()));
}

/// A context that sends `.git` to the builder lets the build read the commit (`git describe`):
/// then the checked-out commit is part of the key. Another commit of the same files builds; the
/// same commit checked out again (a re-run) reuses.
fn when_git_s_folder_is_sent_the_commit_is_part_of_the_key() {
    let s = StandIns::start();
    let run = |committed: i64| {
        let result = s.action().input("tags", "t").committed(committed).run();
        result.expect_code(0);
        result
    };
    let first = run(1_795_167_000);
    assert!(built(&first), "{first}");
    let other_commit = run(1_795_170_600);
    assert!(built(&other_commit), "another commit: {other_commit}");
    let same_commit = run(1_795_170_600);
    assert!(reused(&same_commit), "the same commit again: {same_commit}");
    assert_eq!(same_commit.output("digest"), other_commit.output("digest"));
}

/// Issue 30: another run that may push to the repository (a pull request's, under `pr-9`) can
/// push an image carrying the key `main` computes. By default `main` does not take it: only its
/// own tags are searched. `reuse: repository` takes it (trusting every pusher), `reuse: off`
/// always builds, and a re-run of the same ref and commit still reuses its own image.
fn an_image_another_run_pushed_with_mains_key_is_reused_only_when_the_repository_is_trusted() {
    let s = StandIns::start();
    let repository = json!({"full_name": REPO, "default_branch": "main"});
    let other_run = s
        .action()
        .event(
            "pull_request",
            "refs/pull/9/merge",
            json!({"number": 9, "repository": repository,
                   "pull_request": {"number": 9, "head": {"ref": "feature"}}}),
        )
        .env("GITHUB_RUN_ID", "6999")
        .write_file(".dockerignore", ".git\n")
        .committed(1_795_167_000)
        .run();
    other_run.expect_code(0);
    assert!(built(&other_run), "{other_run}");
    let planted = other_run.output("digest");
    let main = |reuse: Option<&str>, push: &str| {
        let run = s
            .action()
            .event(
                "push",
                "refs/heads/main",
                json!({"ref": "refs/heads/main", "repository": repository}),
            )
            .write_file(".dockerignore", ".git\n")
            .input("push", push)
            .committed(1_795_170_600);
        let result = match reuse {
            Some(reuse) => run.input("reuse", reuse),
            None => run,
        }
        .run();
        result.expect_code(0);
        result
    };

    // The default: only this run's tags, which hold nothing yet; pr-9 is not even read.
    let default = main(None, "false");
    assert!(
        built(&default),
        "not reused from pr-9 by default: {default}"
    );
    assert!(
        default
            .stdout
            .contains("was built from these inputs under this run's tags (reuse: own-tags)"),
        "{default}"
    );
    let off = main(Some("off"), "false");
    assert!(built(&off), "{off}");
    assert!(off.stdout.contains("reuse is off: building"), "{off}");

    let trusting = main(Some("repository"), "true");
    assert!(reused(&trusting), "{trusting}");
    assert!(found_under_one_of(&trusting, &other_run), "{trusting}");
    assert_eq!(trusting.output("digest"), planted);

    // A re-run of the same ref and commit finds the image under its own tags.
    let rerun = main(None, "true");
    assert!(reused(&rerun), "{rerun}");
    assert!(
        rerun.stdout.contains("Found under this run's tag sha-"),
        "{rerun}"
    );
    assert_eq!(rerun.output("digest"), planted);
    let off_again = main(Some("off"), "false");
    assert!(
        built(&off_again),
        "reuse: off builds even then: {off_again}"
    );
    rerun.assert_no_secret_leaked(&s.secrets(), true);
}
