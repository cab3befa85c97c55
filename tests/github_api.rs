//! GitHub's API end to end: the repository's labels (from the payload, else one call), the
//! sticky pull-request comment, the deployment record, against a GitHub API stand-in, with the
//! real binary run as the runner runs it. GitHub's failures are warnings: every run here
//! succeeds.

use serde_json::{json, Value};
use ship_to_ecr::oci::diff::human_delta;
use support::base_images::{BaseImage, SourceRegistry};
use support::{ActionResult, ActionRun, GitHubApi, StandIns};

const REPO: &str = "octo-org/web-app";
const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const SHA: &str = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

/// The repository as the API and a full payload describe it.
fn repository() -> Value {
    json!({
        "name": "web-app", "full_name": REPO, "default_branch": "main",
        "description": "The shop's web front end", "homepage": "https://shop.example.com",
        "license": {"key": "apache-2.0", "spdx_id": "Apache-2.0"},
        "html_url": "https://github.com/octo-org/web-app"
    })
}

/// A run of pull request 42, from `head_repo` (this repository, or a fork).
fn pull_request(run: ActionRun, head_repo: &str) -> ActionRun {
    run.event(
        "pull_request",
        "refs/pull/42/merge",
        json!({
            "number": 42,
            "pull_request": {
                "number": 42,
                "head": {"ref": "feature/cart", "repo": {"full_name": head_repo, "fork": head_repo != REPO}},
                "base": {"ref": "main", "repo": {"full_name": REPO}}
            },
            "repository": {"full_name": REPO, "default_branch": "main"}
        }),
    )
}

/// A patch of `base` (no daemon needed) talking to `api` with the token.
fn patch(s: &StandIns, base: &BaseImage, api: &GitHubApi) -> ActionRun {
    s.action()
        .input("base-image", &base.reference)
        .env("GITHUB_API_URL", &api.url())
        .input("github-token", TOKEN)
}

/// Every secret the run had, the GitHub token included: masked, and nowhere else.
fn assert_token_kept_secret(s: &StandIns, result: &ActionResult) {
    let mut secrets = s.secrets();
    secrets.push(TOKEN.to_string());
    result.assert_masked(&[TOKEN.to_string()]);
    result.assert_no_secret_leaked(&secrets, true);
}

fn warnings(result: &ActionResult) -> Vec<(String, String)> {
    result.annotations("warning")
}

#[test]
fn labels_come_from_the_payload_and_the_users_labels_win() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    let result = s
        .action()
        .event(
            "push",
            "refs/heads/main",
            json!({"ref": "refs/heads/main", "repository": repository()}),
        )
        .env("GITHUB_API_URL", &api.url())
        .input("github-token", TOKEN)
        .input("labels", "org.opencontainers.image.title=Shop")
        .run();
    result.expect_code(0);
    let labels = s.reader().config(REPO, "latest")["config"]["Labels"].clone();
    assert_eq!(labels["org.opencontainers.image.title"], "Shop", "{labels}");
    assert_eq!(
        labels["org.opencontainers.image.description"],
        "The shop's web front end"
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        labels["org.opencontainers.image.url"],
        "https://shop.example.com"
    );
    // The payload had it all: no call, and no comment or deployment was asked for.
    assert!(api.calls().is_empty(), "{:?}", api.calls());
    assert_token_kept_secret(&s, &result);
}

#[test]
fn without_metadata_in_the_payload_one_call_to_a_ghes_api_gives_the_labels() {
    let s = StandIns::start();
    let api = GitHubApi::start_with_prefix("/api/v3");
    api.set_repository(REPO, repository());
    let source = SourceRegistry::anonymous();
    let base = source.push_base("library/node", "20", &s.registry_host());
    // The runner's default payload names the repository only.
    let result = patch(&s, &base, &api).run();
    result.expect_code(0);
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, format!("/repos/{REPO}"));
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let labels = s.reader().config(REPO, "latest")["config"]["Labels"].clone();
    assert_eq!(
        labels["org.opencontainers.image.title"], "web-app",
        "{labels}"
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_token_kept_secret(&s, &result);
}

#[test]
fn the_pull_request_comment_is_created_then_edited_in_place() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    api.set_repository(REPO, repository());
    let source = SourceRegistry::anonymous();
    let base = source.push_base("library/node", "20", &s.registry_host());
    // The default branch's image, which the comment compares with.
    patch(&s, &base, &api)
        .input("env", "MODE=main")
        .run()
        .expect_code(0);
    let latest: u64 = layer_sizes(&s, "latest").iter().sum();
    let human = api.add_comment(REPO, 42, "Looks good to me");

    // The first run of the pull request adds a file; the comment's first call meets a 502 and
    // the second a rate limit with Retry-After: both are tried again.
    api.fail_next(
        "GET",
        &format!("/repos/{REPO}/issues/42/comments"),
        502,
        &[],
        "Bad gateway",
    );
    api.fail_next(
        "POST",
        &format!("/repos/{REPO}/issues/42/comments"),
        429,
        &[("retry-after", "1")],
        "You have exceeded a secondary rate limit",
    );
    let first = pull_request(patch(&s, &base, &api), REPO)
        .write_file("site/index.html", "<h1>cart</h1>")
        .input("files", "site => /srv/site")
        .input("env", "MODE=preview\nFEATURE_CART=on")
        .run();
    first.expect_code(0);
    assert!(warnings(&first).is_empty(), "{first}");
    assert!(first.stdout.contains("trying again in"), "{first}");
    let comments = api.comments(REPO, 42);
    assert_eq!(comments.len(), 2, "{comments:?}");
    let ours = &comments[1];
    let body = ours["body"].as_str().unwrap();
    let digest = first.output("digest").unwrap();
    assert!(body.contains(&format!("| Digest | `{digest}` |")), "{body}");
    let after: u64 = layer_sizes(&s, "pr-42").iter().sum();
    let delta = human_delta(after as i64 - latest as i64);
    assert!(delta.starts_with('+'), "{delta}");
    assert!(body.contains(&format!("- **Size**: {delta} (")), "{body}");
    assert!(body.contains("- **Layers**: 1 added, 0 removed"), "{body}");
    assert!(
        body.contains("- **Env**: added `FEATURE_CART`; changed `MODE` (values not shown)"),
        "{body}"
    );
    assert!(
        !body.contains("preview"),
        "an env value in the comment: {body}"
    );
    assert_token_kept_secret(&s, &first);

    // The second run edits the same comment: still one of ours, naming the new digest.
    let second = pull_request(patch(&s, &base, &api), REPO)
        .write_file("site/index.html", "<h1>cart, second try</h1>")
        .input("files", "site => /srv/site")
        .input("env", "MODE=preview\nFEATURE_CART=on")
        .run();
    second.expect_code(0);
    let new_digest = second.output("digest").unwrap();
    assert_ne!(new_digest, digest);
    let comments = api.comments(REPO, 42);
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0]["id"], human);
    assert_eq!(comments[1]["id"], ours["id"], "edited in place");
    let body = comments[1]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!("| Digest | `{new_digest}` |")),
        "{body}"
    );
    assert!(!body.contains(&digest), "{body}");
    assert!(second
        .stdout
        .contains("Updated the comment on pull request #42"));
}

#[test]
fn a_fork_gets_a_notice_and_a_refused_token_one_warning() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    api.set_repository(REPO, repository());
    let source = SourceRegistry::anonymous();
    let base = source.push_base("library/node", "20", &s.registry_host());

    let fork = pull_request(patch(&s, &base, &api), "someone/web-app").run();
    fork.expect_code(0);
    let notices = fork.annotations("notice");
    assert!(
        notices
            .iter()
            .any(|(title, m)| title == "No pull-request comment" && m.contains("fork")),
        "{fork}"
    );
    assert!(
        api.calls().iter().all(|c| !c.path.contains("/issues/")),
        "{:?}",
        api.calls()
    );

    // A pull request of this repository whose token may not write pull requests.
    api.fail_next(
        "GET",
        &format!("/repos/{REPO}/issues/42/comments"),
        403,
        &[("x-ratelimit-remaining", "4999")],
        "Resource not accessible by integration",
    );
    let refused = pull_request(patch(&s, &base, &api), REPO).run();
    refused.expect_code(0);
    // The same image as the fork's run: already in ECR, so nothing new was pushed.
    assert_eq!(refused.output("digest"), fork.output("digest"));
    let warnings = warnings(&refused);
    assert_eq!(warnings.len(), 1, "{refused}");
    let (title, message) = &warnings[0];
    assert_eq!(title, "GitHub API: The pull-request comment skipped");
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(
        message
            .contains("permissions:\n  id-token: write\n  contents: read\n  pull-requests: write"),
        "{message}"
    );
    assert!(api.comments(REPO, 42).is_empty());
    assert_token_kept_secret(&s, &refused);
}

#[test]
fn a_deployment_records_the_digest_and_its_outcome() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    api.set_repository(REPO, repository());
    let source = SourceRegistry::anonymous();
    let base = source.push_base("library/node", "20", &s.registry_host());
    let result = patch(&s, &base, &api)
        .input("deployment-environment", "staging")
        .run();
    result.expect_code(0);
    let digest = result.output("digest").unwrap();
    let deployments = api.deployments();
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    let deployment = &deployments[0];
    assert_eq!(deployment["ref"], SHA);
    assert_eq!(deployment["environment"], "staging");
    assert_eq!(deployment["payload"]["digest"], digest.as_str());
    assert_eq!(
        deployment["payload"]["image"],
        format!("{}/{REPO}@{digest}", s.registry_host())
    );
    assert_eq!(deployment["auto_merge"], false);
    assert_eq!(deployment["required_contexts"], json!([]));
    let statuses = api.statuses(deployment["id"].as_u64().unwrap());
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0]["state"], "success");
    let url = statuses[0]["environment_url"].as_str().unwrap();
    assert!(
        url.starts_with(
            "https://eu-west-1.console.aws.amazon.com/ecr/repositories/private/123456789012/"
        ) && url.contains(&format!("/{REPO}/_/image/{digest}/details")),
        "{url}"
    );
    assert_eq!(
        statuses[0]["log_url"],
        "https://github.com/octo-org/web-app/actions/runs/7001"
    );
    assert_token_kept_secret(&s, &result);
}

#[test]
fn an_empty_token_makes_no_call_and_says_so_once() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("library/node", "20", &s.registry_host());
    let result = pull_request(patch(&s, &base, &api), REPO)
        .input("github-token", "")
        .input("deployment-environment", "staging")
        .run();
    result.expect_code(0);
    assert!(api.calls().is_empty(), "{:?}", api.calls());
    let off: Vec<_> = result
        .annotations("notice")
        .into_iter()
        .filter(|(title, _)| title == "GitHub API off")
        .collect();
    assert_eq!(off.len(), 1, "{result}");
    assert!(warnings(&result).is_empty(), "{result}");
}

/// The compressed sizes of the layers of the image at `tag`.
fn layer_sizes(s: &StandIns, tag: &str) -> Vec<u64> {
    let (_, manifest) = s.reader().manifest(REPO, tag).expect("pushed");
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .collect()
}

/// Text an image's pusher chose, in every setting the comment shows: backticks that would close
/// a code span, newlines that would end its paragraph, HTML, an image, @-mentions; and a base
/// label whose 19th byte is inside a character.
fn hostile_settings() -> Value {
    json!({
        "Cmd": ["/bin/sh", "-c", "echo `x` ``` \n\n![x](https://evil.example/x.png) @org/team <img src=x>"],
        "Entrypoint": ["``", "\n# Heading"],
        "User": "app`\n<img src=x onerror=alert(1)>",
        "WorkingDir": "/srv\n\n@org/team please merge",
        "Env": ["A`B\n@org/team=1", "<img src=y>=2", "PATH=/bin"],
        "ExposedPorts": {"80/tcp`<b>@org/team</b>": {}},
        "Labels": {"org.opencontainers.image.base.digest": "sha256:aaaaaaaaaaaé`\n<img src=z>"}
    })
}

/// A line of Markdown with its code spans taken out, as CommonMark reads them: a run of n
/// backticks opens a span that the next run of exactly n closes.
fn outside_code_spans(line: &str) -> String {
    // The line as text pieces and backtick runs, in order.
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let ticks = rest.len() - rest.trim_start_matches('`').len();
        let len = if ticks > 0 {
            ticks
        } else {
            rest.find('`').unwrap_or(rest.len())
        };
        pieces.push((ticks > 0, &rest[..len]));
        rest = &rest[len..];
    }
    let mut out = String::new();
    let mut i = 0;
    while i < pieces.len() {
        let (is_run, text) = pieces[i];
        let close = is_run
            .then(|| (i + 1..pieces.len()).find(|&j| pieces[j].0 && pieces[j].1 == text))
            .flatten();
        match close {
            Some(j) => i = j + 1,
            None => {
                out.push_str(text);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn image_text_in_the_comment_is_inert_and_a_foreign_marked_comment_is_left_alone() {
    let s = StandIns::start();
    let api = GitHubApi::start();
    api.set_repository(REPO, repository());
    let source = SourceRegistry::anonymous();
    // `latest`, as anyone who may push to the repository could have left it.
    let hostile = source.push_with_settings("team/evil", "1", "evil", hostile_settings());
    let main = s.action().input("image", &hostile.reference).run();
    main.expect_code(0);
    let uri = main.output("repository-uri").expect("a repository uri");
    // Someone else's comment carrying our marker, to be adopted and rewritten.
    let marker = format!("<!-- ship-to-ecr: {uri} -->");
    let foreign_body = format!("{marker}\nDeploy approved, merge away");
    let foreign = api.add_comment(REPO, 42, &foreign_body);

    let base = source.push_base("library/node", "20", &s.registry_host());
    let run = pull_request(patch(&s, &base, &api), REPO).run();
    run.expect_code(0);
    assert!(warnings(&run).is_empty(), "{run}");

    let comments = api.comments(REPO, 42);
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0]["id"], foreign);
    assert_eq!(comments[0]["body"], foreign_body.as_str(), "left alone");
    assert_eq!(comments[1]["user"]["login"], "github-actions[bot]");
    let body = comments[1]["body"].as_str().unwrap();
    for field in [
        "Cmd",
        "Entrypoint",
        "User",
        "WorkingDir",
        "ExposedPorts",
        "Env",
    ] {
        assert!(
            body.contains(&format!("- **{field}**: ")),
            "{field}: {body}"
        );
    }
    assert!(body.contains("- **Base image**: "), "{body}");
    for line in body.lines() {
        if line == marker || line.starts_with("<sub>") {
            continue;
        }
        let bare = outside_code_spans(line);
        for needle in ["<", "@", "`", "!["] {
            assert!(
                !bare.contains(needle),
                "{needle:?} outside code in {line:?}\n{body}"
            );
        }
        assert!(!line.starts_with('#') || line.starts_with("###") || line.starts_with("####"));
    }
    assert!(
        !body.contains("\n# Heading") && !body.contains("\n\n@org"),
        "{body}"
    );

    // The next run edits its own comment, not the foreign one.
    let again = pull_request(patch(&s, &base, &api), REPO)
        .input("env", "MODE=again")
        .run();
    again.expect_code(0);
    let comments = api.comments(REPO, 42);
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0]["body"], foreign_body.as_str());
    assert!(comments[1]["body"].as_str().unwrap().contains("MODE"));
}
