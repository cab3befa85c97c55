//! Every bad input stops the run before any network call: exit 1, an `::error` annotation that
//! names the input, the rule and a good value, no OIDC token requested, no AWS call, nothing in
//! moto.

use support::StandIns;

/// (input, bad value, words the message must contain)
const CASES: &[(&str, &str, &str)] = &[
    ("aws-region", "", "is required"),
    ("aws-region", "Europe (Ireland)", "not an AWS region name"),
    ("aws-region", "eu-west", "not an AWS region name"),
    ("role-to-assume", "github-ecr-push", "not an ARN"),
    ("role-to-assume", "123456789012", "is an account id"),
    // aws-region is eu-west-1, in the partition aws.
    (
        "role-to-assume",
        "arn:aws-cn:iam::123456789012:role/x",
        "in the partition aws-cn",
    ),
    (
        "role-to-assume",
        "arn:aws:iam::123456789012:user/ci",
        "names an IAM user",
    ),
    (
        "role-to-assume",
        "arn:aws:iam::1234:role/x",
        "not an IAM role ARN",
    ),
    ("audience", "sts amazonaws com", "without spaces"),
    ("role-session-name", "my session", "2 to 64 characters"),
    ("role-session-name", "x", "2 to 64 characters"),
    ("role-duration-seconds", "60", "from 900 to 43200"),
    ("role-duration-seconds", "1h", "from 900 to 43200"),
    ("role-duration-seconds", "50000", "from 900 to 43200"),
    (
        "chain-role-to-assume",
        "arn:aws:iam::123456789012:group/x",
        "not an IAM role ARN",
    ),
    ("repository", "", "is required"),
    ("repository", "Web-App", "upper-case"),
    (
        "repository",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
        "looks like an image URI",
    ),
    ("repository", "a", "2 to 256 characters"),
    ("repository", "team//app", "not an ECR repository name"),
    ("registry-id", "12345", "12-digit AWS account id"),
    ("registry-url", "127.0.0.1:5001", "is not a URL"),
    ("registry-url", "http://127.0.0.1:5001/v2/", "no path"),
    (
        "registry-url",
        "ftp://registry.example",
        "http:// or https://",
    ),
    (
        "registry-url",
        "http://127.0.0.1.nip.io:5001",
        "plain HTTP to another machine",
    ),
    ("create-repository", "yes", "true or false"),
    ("scan-on-push", "on", "true or false"),
    ("tag-mutability", "LOCKED", "MUTABLE, IMMUTABLE"),
    ("encryption", "AES128", "AES256, KMS"),
    ("kms-key", "my key", "not a KMS key ARN"),
    ("lifecycle-policy", "{\"rules\": [", "not valid JSON"),
    ("lifecycle-policy", "{\"rules\": []}", "non-empty \"rules\""),
    (
        "lifecycle-policy",
        r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#,
        "takes no tagPrefixList",
    ),
    (
        "lifecycle-policy",
        "policies/missing.json",
        "does not exist in the workspace",
    ),
    ("keep-images", "0", "from 1 to 10000"),
    ("keep-images", "many", "from 1 to 10000"),
    ("export-credentials", "please", "true or false"),
    // IAM and KMS names are ASCII; a Unicode letter must not slip through to AWS.
    ("role-session-name", "déploiement", "2 to 64 characters"),
    (
        "role-to-assume",
        "arn:aws:iam::123456789012:role/rôle",
        "not an IAM role ARN",
    ),
    ("kms-key", "alias/clé", "not a KMS key ARN"),
    (
        "lifecycle-policy",
        r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"delete"}}]}"#,
        "type expire",
    ),
    (
        "lifecycle-policy",
        "../outside.json",
        "inside the workspace",
    ),
    (
        "context",
        "missing-folder",
        "does not exist in the workspace",
    ),
    ("context", "..", "inside the workspace"),
    (
        "dockerfile",
        "docker/Dockerfile.prod",
        "does not exist in the workspace",
    ),
    ("build-args", "NODE_ENV", "must be KEY=VALUE"),
    ("labels", "team platform", "must be KEY=VALUE"),
    ("target", "build stage", "not a build stage name"),
    ("tags", "-nightly", "not a valid tag"),
    ("tags", "v1\n{{commit}}", "not a placeholder"),
    ("tags", "pr-{{pr}}", "gives no tag in this run"),
    ("push", "maybe", "true or false"),
    ("image", "my image", "not an image name"),
    ("builder", "kaniko", "one of auto, buildkit, classic"),
    ("reuse", "everywhere", "one of own-tags, repository, off"),
    ("build-secrets", "npmrc", "must be id=NAME,src=PATH"),
    (
        "build-secrets",
        "id=npmrc,type=file,src=hello.txt",
        "or id=NAME,env=VARIABLE",
    ),
    (
        "build-secrets",
        "id=my token,src=hello.txt",
        "may hold only letters",
    ),
    (
        "build-secrets",
        "id=npmrc,src=hello.txt,env=NPM_TOKEN",
        "both src and env",
    ),
    (
        "build-secrets",
        "id=npmrc,src=hello.txt\nid=npmrc,src=Dockerfile",
        "line 2 gives the id 'npmrc' a second time",
    ),
    (
        "build-secrets",
        "id=npmrc,src=ci/npmrc",
        "does not exist in the workspace",
    ),
    (
        "build-secrets",
        "id=npmrc,src=../.npmrc",
        "inside the workspace",
    ),
    (
        "build-secrets",
        "id=token,env=SHIP_TO_ECR_NEVER_SET",
        "the variable SHIP_TO_ECR_NEVER_SET is not set",
    ),
    (
        "build-secrets",
        "id=token,env=NPM-TOKEN",
        "not a variable name",
    ),
    ("cache", "gha", "must be from=IMAGE or to=inline"),
    ("cache", "from=Web App:main", "not an image reference"),
    (
        "cache",
        "from=type=registry,ref=registry.example/app:cache",
        "registry cache (type=registry) is what cache: auto keeps",
    ),
    ("cache", "to=registry", "write to=inline"),
    ("cache", "auto\nto=inline", "line 1 ('auto')"),
    ("platform", "arm64", "not a platform"),
    (
        "platform",
        "linux/amd64,linux/arm64",
        "names several platforms",
    ),
    ("load", "no", "true or false"),
];

/// Exit 1 with exactly one annotation, for `input`, whose message has `words`, the rule, and a
/// good value.
fn assert_refused_alone(result: &support::ActionResult, input: &str, value: &str, words: &str) {
    assert_eq!(result.code, 1, "{input}={value:?}:\n{result}");
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{input}={value:?}:\n{result}");
    let (title, message) = &errors[0];
    assert_eq!(title, &format!("Invalid input '{input}'"), "{result}");
    assert!(message.contains(words), "{input}={value:?}: {message}");
    assert!(
        message.contains(&format!("Example of a good value: {input}: ")),
        "{message}"
    );
}

#[test]
fn every_bad_input_fails_before_any_call() {
    let s = StandIns::start();
    let github = support::GitHubApi::start();
    assert!(CASES.len() >= 20);
    for (input, value, words) in CASES {
        let result = s
            .action()
            .env("GITHUB_API_URL", &github.url())
            .input("github-token", "ghs_bad-inputs-token")
            .input(input, value)
            .run();
        assert_refused_alone(&result, input, value, words);
        // The GitHub token is masked before any input is checked.
        let token = "ghs_bad-inputs-token".to_string();
        result.assert_masked(std::slice::from_ref(&token));
        let mut secrets = s.secrets();
        secrets.push(token);
        result.assert_no_secret_leaked(&secrets, true);
    }
    assert_eq!(s.oidc.requests(), 0, "no OIDC token may be requested");
    assert!(github.calls().is_empty(), "GitHub: {:?}", github.calls());
    assert!(
        s.proxy.calls().is_empty(),
        "AWS calls: {:?}",
        s.proxy.calls()
    );
    assert!(s.repositories().is_empty());
}

#[test]
fn export_without_a_later_step_is_refused_up_front() {
    let s = StandIns::start();
    let result = s
        .action()
        .input("export-credentials", "true")
        .remove_env("GITHUB_ENV")
        .run();
    result.expect_code(1);
    assert_eq!(result.errors()[0].0, "Invalid input 'export-credentials'");
    assert!(s.proxy.calls().is_empty());
    assert_eq!(s.oidc.requests(), 0);
}

#[test]
fn combinations_that_contradict_each_other_are_refused() {
    let s = StandIns::start();
    let kms_without_kms = s.action().input("kms-key", "alias/ecr").run();
    assert_eq!(kms_without_kms.errors()[0].0, "Invalid input 'kms-key'");
    let both_policies = s
        .action()
        .input("keep-images", "10")
        .input("lifecycle-policy", r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#)
        .run();
    assert_eq!(both_policies.errors()[0].0, "Invalid input 'keep-images'");
    let labels_with_image = s
        .action()
        .input("image", "web-app:1")
        .input("labels", "team=platform")
        .run();
    assert_eq!(labels_with_image.errors()[0].0, "Invalid input 'labels'");
    assert!(
        labels_with_image.errors()[0].1.contains("Leave it empty"),
        "{labels_with_image}"
    );
    let build_inputs_with_image = s
        .action()
        .input("image", "web-app:1")
        .input("context", "app")
        .input("dockerfile", "app/Dockerfile")
        .run();
    let titles: Vec<String> = build_inputs_with_image
        .errors()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        titles,
        ["Invalid input 'context'", "Invalid input 'dockerfile'"]
    );
    let no_dockerfile = s.action().remove_file("Dockerfile").run();
    let (title, message) = &no_dockerfile.errors()[0];
    assert_eq!(title, "Invalid input 'dockerfile'");
    assert!(
        message.contains("set 'image' to push an image built earlier"),
        "{message}"
    );
    assert!(s.proxy.calls().is_empty());
}

#[test]
fn several_bad_inputs_are_reported_together() {
    let s = StandIns::start();
    let result = s
        .action()
        .input("aws-region", "EU")
        .input("repository", "App")
        .input("keep-images", "-1")
        .run();
    result.expect_code(1);
    let titles: Vec<String> = result.errors().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        titles,
        [
            "Invalid input 'aws-region'",
            "Invalid input 'repository'",
            "Invalid input 'keep-images'"
        ]
    );
    assert!(s.proxy.calls().is_empty());
}

/// Patch-mode inputs, each checked with a good `base-image` whose registry does not exist: a
/// bad value must stop the run before anything reaches for it.
const PATCH_CASES: &[(&str, &str, &str)] = &[
    ("base-image", "Scicat/Backend:v4", "not an image reference"),
    ("base-image", "nginx@sha256:abc", "64 lower-case hex digits"),
    ("base-image", "nginx:", "tag"),
    // Hosts the pattern lets through and the URL parser refuses: an input error, no panic.
    (
        "base-image",
        "ghcr.io:99999/team/base:1",
        "invalid port number",
    ),
    (
        "base-image",
        "999.999.999.999/team/base:1",
        "not a registry host",
    ),
    ("files", "hello.txt /app/hello.txt", "line 1"),
    ("files", "hello.txt /app/hello.txt", "must be SRC => DEST"),
    ("files", "missing.json => /app/x.json", "does not exist"),
    ("files", "../x => /app/x", "inside the workspace"),
    ("files", "hello.txt => app/hello.txt", "absolute path"),
    ("files", "hello.txt => /app/../hello.txt", "normalised"),
    ("files", "hello.txt => /app/x mode=888", "octal"),
    (
        "files",
        "hello.txt => /app/x owner=node:node",
        "numeric UID:GID",
    ),
    (
        "files",
        "hello.txt => /app/x\nDockerfile => /app/x",
        "line 2",
    ),
    ("env", "NODE_ENV", "must be KEY=VALUE"),
    ("workdir", "app", "absolute path"),
    ("user", "node user", "user name or UID"),
    ("entrypoint", "node main.js", "JSON array of strings"),
    ("cmd", "[1, 2]", "JSON array of strings"),
    ("engine", "daemonless", "one of auto, docker, registry"),
    ("platforms", "amd64", "not a platform"),
    ("platforms", "linux/amd64,linux/amd64", "twice"),
    ("pr-comment", "always", "true or false"),
    ("deployment-environment", "prod\nstaging", "one line"),
];

#[test]
fn every_bad_patch_input_fails_before_any_call() {
    let s = StandIns::start();
    for (input, value, words) in PATCH_CASES {
        let result = s
            .action()
            .input("base-image", "127.0.0.1:9/team/base:1")
            .input("base-image-username", "puller")
            .input("base-image-password", "base-password-93c1")
            .input(input, value)
            .run();
        assert_refused_alone(&result, input, value, words);
        let mut secrets = s.secrets();
        secrets.push("base-password-93c1".into());
        result.assert_no_secret_leaked(&secrets, true);
        result.assert_masked(&["base-password-93c1".to_string()]);
    }
    assert_eq!(s.oidc.requests(), 0);
    assert!(s.proxy.calls().is_empty());
    assert!(s.repositories().is_empty());
}

#[test]
fn patch_inputs_that_contradict_each_other_are_refused() {
    let s = StandIns::start();
    let title = |result: &support::ActionResult| result.errors()[0].0.clone();
    let with_image = s
        .action()
        .input("image", "web-app:1")
        .input("base-image", "nginx:1.27")
        .run();
    assert_eq!(title(&with_image), "Invalid input 'base-image'");
    assert!(with_image.errors()[0].1.contains("use one of the two"));
    let files_alone = s.action().input("files", "hello.txt => /hello.txt").run();
    assert_eq!(title(&files_alone), "Invalid input 'files'");
    assert!(files_alone.errors()[0].1.contains("with base-image set"));
    let with_dockerfile = s
        .action()
        .input("base-image", "nginx:1.27")
        .input("dockerfile", "Dockerfile")
        .run();
    assert_eq!(title(&with_dockerfile), "Invalid input 'dockerfile'");
    let half_credentials = s
        .action()
        .input("base-image", "nginx:1.27")
        .input("base-image-username", "puller")
        .run();
    assert_eq!(
        title(&half_credentials),
        "Invalid input 'base-image-password'"
    );
    let credentials_for_a_local_image = s
        .action()
        .input("image", "web-app:1")
        .input("base-image-username", "puller")
        .input("base-image-password", "base-password-93c1")
        .run();
    assert_eq!(
        title(&credentials_for_a_local_image),
        "Invalid input 'base-image-username'"
    );
    let build_without_daemon = s.action().input("engine", "registry").run();
    assert_eq!(title(&build_without_daemon), "Invalid input 'engine'");
    assert!(build_without_daemon.errors()[0]
        .1
        .contains("needs the Docker daemon"));
    let platforms_for_a_build = s.action().input("platforms", "linux/arm64").run();
    assert_eq!(title(&platforms_for_a_build), "Invalid input 'platforms'");
    let docker_engine_two_platforms = s
        .action()
        .input("base-image", "nginx:1.27")
        .input("engine", "docker")
        .input("platforms", "linux/amd64,linux/arm64")
        .run();
    assert_eq!(
        title(&docker_engine_two_platforms),
        "Invalid input 'platforms'"
    );
    assert!(s.proxy.calls().is_empty());
    assert_eq!(s.oidc.requests(), 0);
}

#[test]
fn a_build_secret_is_masked_even_when_another_input_stops_the_run() {
    let s = StandIns::start();
    let file_lines = [
        "//npm.example/:_authToken=npm-secret-5e2a".to_string(),
        "always-auth-7c41".to_string(),
    ];
    let from_env = "pip-secret-0b9d".to_string();
    let result = s
        .action()
        .write_file(
            "ci/npmrc",
            &format!("{}\n{}\n", file_lines[0], file_lines[1]),
        )
        .env("PIP_TOKEN", &from_env)
        .input(
            "build-secrets",
            "id=npmrc,src=ci/npmrc\nid=pip,env=PIP_TOKEN",
        )
        .input("tags", "-nightly")
        .run();
    assert_refused_alone(&result, "tags", "-nightly", "not a valid tag");
    let mut secrets = file_lines.to_vec();
    secrets.push(from_env);
    result.assert_masked(&secrets);
    secrets.extend(s.secrets());
    result.assert_no_secret_leaked(&secrets, true);
    assert_eq!(s.oidc.requests(), 0);
    assert!(s.proxy.calls().is_empty());
}

#[test]
fn build_secrets_that_cannot_be_used_are_refused_unread() {
    let s = StandIns::start();
    let too_big = "s".repeat(500 * 1024 + 1);
    let result = s
        .action()
        .write_file("big.secret", &too_big)
        .input("build-secrets", "id=big,src=big.secret")
        .run();
    assert_refused_alone(
        &result,
        "build-secrets",
        "",
        "BuildKit takes a secret of at most 500 KiB",
    );
    assert!(!result.stdout.contains("::add-mask::"), "{result}");
    let empty = s
        .action()
        .env("NPM_TOKEN", "")
        .input("build-secrets", "id=npmrc,env=NPM_TOKEN")
        .run();
    assert_refused_alone(
        &empty,
        "build-secrets",
        "",
        "the variable NPM_TOKEN is empty",
    );
    assert!(s.proxy.calls().is_empty());
    assert_eq!(s.oidc.requests(), 0);
}

#[test]
fn what_only_buildkit_does_is_refused_with_the_classic_builder() {
    let s = StandIns::start();
    let secrets = s
        .action()
        .input("builder", "classic")
        .input("build-secrets", "id=hello,src=hello.txt")
        .run();
    assert_refused_alone(
        &secrets,
        "builder",
        "classic",
        "is classic, but build-secrets is set and build secrets need BuildKit",
    );
    let cache = s
        .action()
        .input("builder", "classic")
        .input("cache", "to=inline")
        .run();
    assert_refused_alone(
        &cache,
        "cache",
        "to=inline",
        "needs BuildKit and builder is classic",
    );
    let platform = s
        .action()
        .input("builder", "classic")
        .input("platform", "linux/arm64")
        .run();
    assert_refused_alone(
        &platform,
        "platform",
        "linux/arm64",
        "needs BuildKit and builder is classic",
    );
    assert!(s.proxy.calls().is_empty());
    assert_eq!(s.oidc.requests(), 0);
}

#[test]
fn build_inputs_are_refused_with_an_image_or_a_base_image() {
    let s = StandIns::start();
    let build_inputs = [
        ("builder", "buildkit"),
        ("build-secrets", "id=hello,src=hello.txt"),
        ("cache", "off"),
        ("platform", "linux/arm64"),
        ("load", "false"),
    ];
    for mode in [("image", "web-app:1"), ("base-image", "nginx:1.27")] {
        let mut run = s.action().input(mode.0, mode.1);
        for (input, value) in build_inputs {
            run = run.input(input, value);
        }
        let result = run.run();
        result.expect_code(1);
        let titles: Vec<String> = result.errors().into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            titles,
            build_inputs.map(|(input, _)| format!("Invalid input '{input}'")),
            "{mode:?}"
        );
        // The runner passes every default: those are not refused.
        let defaults = s
            .action()
            .input(mode.0, mode.1)
            .input("builder", "auto")
            .input("cache", "auto")
            .input("load", "true")
            .input("tags", "-nightly")
            .run();
        assert_eq!(defaults.errors().len(), 1, "{defaults}");
        assert_eq!(defaults.errors()[0].0, "Invalid input 'tags'");
    }
    assert!(s.proxy.calls().is_empty());
    assert_eq!(s.oidc.requests(), 0);
}

/// A deploy's inputs, each bad alone beside a good cluster and service.
const DEPLOY_CASES: &[(&str, &str, &str)] = &[
    ("ecs-cluster", "prod cluster", "letters, digits"),
    ("ecs-service", "team/web", "letters, digits"),
    ("ecs-container", "app\napp", "twice"),
    (
        "task-definition",
        "ecs/missing.json",
        "does not exist in the workspace",
    ),
    ("task-definition", "web:latest", "family"),
    ("ecs-env", "LOG_LEVEL=info", "CONTAINER:KEY=VALUE"),
    ("wait", "maybe", "true or false"),
    ("wait-minutes", "0", "from 1 to 360"),
    ("ecs-poll-seconds", "301", "from 1 to 300"),
    ("push", "false", "deploy to ECS"),
];

#[test]
fn every_bad_deploy_input_fails_before_any_call() {
    let s = StandIns::start();
    for (input, value, words) in DEPLOY_CASES {
        let result = s
            .action()
            .input("ecs-cluster", "production")
            .input("ecs-service", "web")
            .input(input, value)
            .run();
        assert_refused_alone(&result, input, value, words);
        result.assert_no_secret_leaked(&s.secrets(), true);
    }
    // The containers of a task definition file are checked with the inputs.
    let file = r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1"}]}"#;
    let result = s
        .action()
        .input("ecs-cluster", "production")
        .input("ecs-service", "web")
        .write_file("ecs/web.json", file)
        .input("task-definition", "ecs/web.json")
        .input("ecs-env", "worker:QUEUE=jobs")
        .run();
    assert_refused_alone(&result, "ecs-env", "worker:QUEUE=jobs", "it has: app");
    assert_eq!(s.oidc.requests(), 0);
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    assert!(s.repositories().is_empty());
}

/// A file outside the workspace, for links to point at.
fn outside_file(dir: &tempfile::TempDir, name: &str, content: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn file_inputs_stay_in_the_workspace_and_are_capped() {
    let s = StandIns::start();
    let outside = tempfile::tempdir().unwrap();
    let definition =
        r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "web:1"}]}"#;
    let foreign_definition = outside_file(&outside, "web.json", definition);
    let foreign_dockerfile = outside_file(&outside, "Dockerfile", "FROM scratch\n");
    let foreign_ignore = outside_file(&outside, "dockerignore", "*\n");
    let deploy = || {
        s.action()
            .input("ecs-cluster", "production")
            .input("ecs-service", "web")
    };
    // A task definition: absolute, '..', a symlink out, larger than 1 MiB.
    let big = format!("{}{}", " ".repeat(1 << 20), definition);
    let runs = [
        (
            deploy().input("task-definition", "/etc/passwd"),
            "task-definition",
            "inside the workspace (relative, without '..')",
        ),
        (
            deploy().input("task-definition", "../x.json"),
            "task-definition",
            "inside the workspace (relative, without '..')",
        ),
        (
            deploy()
                .symlink("ecs/web.json", &foreign_definition)
                .input("task-definition", "ecs/web.json"),
            "task-definition",
            "leads outside the workspace through a symlink",
        ),
        (
            deploy()
                .write_file("ecs/big.json", &big)
                .input("task-definition", "ecs/big.json"),
            "task-definition",
            "larger than the 1024 KiB a task definition file may have",
        ),
        // The Dockerfile: the context's own, or one named, linked out of the workspace.
        (
            s.action().symlink("Dockerfile", &foreign_dockerfile),
            "dockerfile",
            "'the context's Dockerfile' leads outside the workspace through a symlink",
        ),
        (
            s.action()
                .symlink("docker/prod.Dockerfile", &foreign_dockerfile)
                .input("dockerfile", "docker/prod.Dockerfile"),
            "dockerfile",
            "leads outside the workspace through a symlink",
        ),
        (
            s.action().write_file(
                "Dockerfile",
                &format!("FROM scratch\n#{}\n", "x".repeat(1 << 20)),
            ),
            "dockerfile",
            "larger than the 1024 KiB a Dockerfile may have",
        ),
        // The context's .dockerignore: linked out, or with a bad line, which is not echoed.
        (
            s.action().symlink(".dockerignore", &foreign_ignore),
            "context",
            "symlink to outside the context",
        ),
        (
            s.action()
                .write_file(".dockerignore", "target\n::error title=x::[injected\n"),
            "context",
            "line 2 of the context's .dockerignore is not a valid pattern",
        ),
    ];
    for (run, input, words) in runs {
        let result = run.run();
        assert_refused_alone(&result, input, "", words);
        assert!(!result.stdout.contains("injected"), "{result}");
        assert!(!result.stdout.contains("root:"), "{result}");
        result.assert_no_secret_leaked(&s.secrets(), true);
    }
    assert_eq!(s.oidc.requests(), 0);
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    assert!(s.repositories().is_empty());
}
