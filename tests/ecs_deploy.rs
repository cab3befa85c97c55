//! Deploying to ECS end to end: the real binary builds and pushes (or names an image already in
//! the repository), registers a revision and updates a service in moto, and watches a rollout
//! the recording proxy plays (moto never starts a task). Every revision is read back with plain
//! ECS calls: the chosen container runs `repository@sha256:...`, everything else is as before.

use aws_sdk_ecs::types::TaskDefinition;
use serde_json::{json, Value};
use ship_to_ecr::ecs::task_definition::READ_ONLY_KEYS;
use support::ecs::{self, Step, CLUSTER, DEPLOYMENT_ID, SERVICE};
use support::{block_on, ActionResult, ActionRun, Fault, GitHubApi, StandIns, ACCOUNT, REGION};

const REPO: &str = "octo-org/web-app";

// Each of these runs once per Docker engine (`NAME::docker20`, `NAME::docker26`).
support::on_each_daemon!(a_build_is_deployed_by_digest_and_waited_for_until_completed,);

/// The stand-ins, with the service running `web:1`, whose `app` container runs an image of this
/// repository.
fn with_service() -> StandIns {
    let s = StandIns::start();
    ecs::create_service(&s.ecs(), &format!("{}/{REPO}:old", s.registry_host()));
    s
}

/// The update starts a deployment (which moto never does); nobody waits for it here.
fn script_update(s: &StandIns) {
    let rolling = Step::rolling(0, 2, 0);
    ecs::script_rollout(&s.proxy, vec![rolling], vec![]);
}

/// A build, push and deploy to the service, looking at the rollout every second.
fn deploy(s: &StandIns) -> ActionRun {
    s.action()
        .input("ecs-cluster", CLUSTER)
        .input("ecs-service", SERVICE)
        .input("ecs-poll-seconds", "1")
}

fn revision(s: &StandIns, name: &str) -> TaskDefinition {
    block_on(
        s.ecs()
            .describe_task_definition()
            .task_definition(name)
            .send(),
    )
    .expect("describe task definition")
    .task_definition()
    .cloned()
    .expect("a task definition")
}

fn tags_of(s: &StandIns, arn: &str) -> Vec<(String, String)> {
    block_on(s.ecs().list_tags_for_resource().resource_arn(arn).send())
        .expect("list tags")
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `revision` with its identity and `app`'s image and environment put back as in `before`:
/// what must be equal when nothing else changed.
fn but_app(mut revision: TaskDefinition, before: &TaskDefinition) -> TaskDefinition {
    let app = |t: &TaskDefinition| t.container_definitions()[0].clone();
    let mut containers = revision.container_definitions.take().unwrap();
    containers[0].image = app(before).image;
    containers[0].environment = app(before).environment;
    revision.container_definitions = Some(containers);
    revision.task_definition_arn = before.task_definition_arn.clone();
    revision.revision = before.revision;
    revision.registered_at = before.registered_at;
    revision
}

fn the_error(result: &ActionResult) -> (String, String) {
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    errors[0].clone()
}

fn assert_secrets_kept(s: &StandIns, result: &ActionResult) {
    result.assert_no_secret_leaked(&s.secrets(), true);
}

fn a_build_is_deployed_by_digest_and_waited_for_until_completed() {
    let s = with_service();
    let api = GitHubApi::start();
    ecs::script_rollout(
        &s.proxy,
        vec![
            Step::rolling(0, 2, 0),
            Step::rolling(1, 1, 0),
            Step::Completed,
        ],
        vec![],
    );
    let result = deploy(&s)
        .input("ecs-env", "app:RELEASE=42\napp:MODE=canary")
        .env("GITHUB_API_URL", &api.url())
        .input("github-token", "ghs_deploytokendeploytoken0000000000")
        .input("deployment-environment", "production")
        .run();
    result.expect_code(0);

    let digest = result.output("digest").expect("digest");
    let pinned = format!("{}/{REPO}@{digest}", s.registry_host());
    let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:2");
    assert_eq!(
        result.output("task-definition-arn").as_deref(),
        Some(arn.as_str())
    );
    assert_eq!(
        result.output("ecs-deployment-id").as_deref(),
        Some(DEPLOYMENT_ID)
    );
    assert_eq!(
        result.output("ecs-rollout-state").as_deref(),
        Some("COMPLETED")
    );

    // The container of this repository runs the pushed digest; the sidecar, the roles and the
    // rest are as they were.
    let before = revision(&s, "web:1");
    let after = revision(&s, "web:2");
    let app = &after.container_definitions()[0];
    assert_eq!(app.image(), Some(pinned.as_str()));
    let env: Vec<(&str, &str)> = app
        .environment()
        .iter()
        .map(|e| (e.name().unwrap(), e.value().unwrap()))
        .collect();
    assert_eq!(env, [("MODE", "canary"), ("RELEASE", "42")]);
    assert_eq!(
        after.container_definitions()[1].image(),
        Some("public.ecr.aws/nginx/nginx:1.27")
    );
    assert_eq!(but_app(after, &before), before);
    assert_eq!(
        tags_of(&s, &arn),
        [("team".to_string(), "shop".to_string())]
    );
    let service = block_on(
        s.ecs()
            .describe_services()
            .cluster(CLUSTER)
            .services(SERVICE)
            .send(),
    )
    .unwrap();
    assert!(service.services()[0]
        .task_definition()
        .unwrap()
        .ends_with("web:2"));

    // Progress was printed in a group, and the GitHub deployment went in_progress, then success.
    assert!(result
        .stdout
        .contains("::group::Deploy to ECS service production/web"));
    assert!(
        result
            .stdout
            .contains("running 1/2, pending 1, failed 0 (IN_PROGRESS)"),
        "{result}"
    );
    let deployment = &api.deployments()[0];
    let states: Vec<Value> = api
        .statuses(deployment["id"].as_u64().unwrap())
        .iter()
        .map(|s| s["state"].clone())
        .collect();
    assert_eq!(states, [json!("in_progress"), json!("success")]);
    assert_secrets_kept(&s, &result);
}

#[test]
fn a_failed_rollout_fails_the_run_with_the_events_and_the_stopped_tasks() {
    let s = with_service();
    ecs::script_rollout(
        &s.proxy,
        vec![
            Step::rolling(0, 2, 1),
            Step::Failed("tasks failed to start"),
        ],
        vec![
            "(service web) (deployment ecs-svc/5318008421337) deployment failed: tasks failed to start.",
            "(service web) has started 2 tasks: (task 0f1e2d3c4b5a).",
        ],
    );
    ecs::script_stopped_task(
        &s.proxy,
        "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref",
        None,
    );
    let result = deploy(&s).run();
    result.expect_code(1);
    let (title, message) = the_error(&result);
    assert_eq!(title, "Deployment failed");
    assert!(message.contains("tasks failed to start"), "{message}");
    assert!(message.contains("CannotPullContainerError"), "{message}");
    assert!(message.contains("execution role"), "{message}");
    // The log shows every event and the stopped task; the image itself was pushed.
    assert!(result.stdout.contains("has started 2 tasks"));
    assert!(result.stdout.contains("task 0f1e2d3c4b5a stopped"));
    assert_eq!(
        result.output("ecs-rollout-state").as_deref(),
        Some("FAILED")
    );
    assert!(result.output("digest").is_some());
    assert_secrets_kept(&s, &result);
}

#[test]
fn a_rollback_by_the_circuit_breaker_is_a_failure_not_a_success() {
    let s = with_service();
    ecs::script_rollout(
        &s.proxy,
        vec![Step::rolling(0, 2, 2), Step::RolledBack],
        vec!["(service web) rolling back to deployment ecs-svc/rollback."],
    );
    ecs::script_stopped_task(&s.proxy, "Task failed container health checks", Some(1));
    let result = deploy(&s).run();
    result.expect_code(1);
    let (title, message) = the_error(&result);
    assert_eq!(title, "Deployment rolled back");
    assert!(message.contains("task-definition/web:1"), "{message}");
    assert!(message.contains("containerPort"), "{message}");
    assert_ne!(
        result.output("ecs-rollout-state").as_deref(),
        Some("COMPLETED")
    );
}

#[test]
fn a_rollout_that_never_ends_fails_once_wait_minutes_pass() {
    let s = with_service();
    ecs::script_rollout(&s.proxy, vec![Step::rolling(1, 1, 0)], vec![]);
    let started = std::time::Instant::now();
    let result = deploy(&s)
        .input("wait-minutes", "1")
        .input("ecs-poll-seconds", "5")
        .run();
    result.expect_code(1);
    let elapsed = started.elapsed().as_secs();
    assert!((55..90).contains(&elapsed), "{elapsed} s");
    let (title, message) = the_error(&result);
    assert_eq!(title, "Deployment not finished in time");
    assert!(message.contains("wait-minutes (1 min)"), "{message}");
    assert_eq!(
        result.output("ecs-rollout-state").as_deref(),
        Some("IN_PROGRESS")
    );
}

#[test]
fn without_a_container_of_this_repository_nothing_is_registered() {
    let s = StandIns::start();
    ecs::create_service(&s.ecs(), "public.ecr.aws/other/app:3");
    script_update(&s);
    let result = deploy(&s).input("wait", "false").run();
    result.expect_code(1);
    let (title, message) = the_error(&result);
    assert_eq!(title, "No container runs this repository");
    assert!(
        message.contains("app (public.ecr.aws/other/app:3)"),
        "{message}"
    );
    assert!(message.contains("ecs-container"), "{message}");
    assert_eq!(s.proxy.count("ecs:RegisterTaskDefinition"), 0);

    // Named, the container gets the image.
    let result = deploy(&s)
        .input("ecs-container", "proxy")
        .input("wait", "false")
        .run();
    result.expect_code(0);
    let digest = result.output("digest").unwrap();
    let after = revision(&s, "web:2");
    assert_eq!(
        after.container_definitions()[0].image(),
        Some("public.ecr.aws/other/app:3")
    );
    assert_eq!(
        after.container_definitions()[1].image(),
        Some(format!("{}/{REPO}@{digest}", s.registry_host()).as_str())
    );
    assert_eq!(
        result.output("ecs-rollout-state").as_deref(),
        Some("IN_PROGRESS")
    );
}

#[test]
fn a_task_definition_file_from_the_console_registers_without_its_read_only_keys() {
    let s = with_service();
    let file = json!({
        "taskDefinitionArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web-file:4"),
        "family": "web-file",
        "containerDefinitions": [
            {"name": "app", "image": format!("{}/{REPO}:old", s.registry_host()), "memory": 256,
             "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]}
        ],
        "revision": 4,
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
        "compatibilities": ["EC2"],
        "registeredAt": "2026-11-02T10:00:00.000Z",
        "registeredBy": "arn:aws:sts::123456789012:assumed-role/admin/console"
    });
    script_update(&s);
    let result = deploy(&s)
        .write_file("ecs/task-definition.json", &file.to_string())
        .input("task-definition", "ecs/task-definition.json")
        .input("wait", "false")
        .run();
    result.expect_code(0);
    assert!(result.stdout.contains("read-only keys left out of the new revision: taskDefinitionArn, revision, status, requiresAttributes, compatibilities, registeredAt, registeredBy"), "{result}");
    let sent = &s.proxy.requests("ecs:RegisterTaskDefinition")[0];
    for key in READ_ONLY_KEYS {
        assert!(sent.get(key).is_none(), "{key} was sent: {sent}");
    }
    assert_eq!(
        sent["containerDefinitions"][0]["portMappings"][0]["containerPort"],
        8080
    );
    let digest = result.output("digest").unwrap();
    let after = revision(&s, "web-file:1");
    assert_eq!(
        after.container_definitions()[0].image(),
        Some(format!("{}/{REPO}@{digest}", s.registry_host()).as_str())
    );
    let updated = &s.proxy.requests("ecs:UpdateService")[0];
    assert!(updated["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with("web-file:1"));
}

#[test]
fn an_image_already_in_the_repository_is_deployed_with_nothing_pushed() {
    let s = with_service();
    script_update(&s);
    let first = s.action().input("tags", "sha-4f3c2b1").run();
    first.expect_code(0);
    let digest = first.output("digest").unwrap();
    let tags_before = s.reader().tags(REPO);

    // By tag: the workspace holds no Dockerfile, and nothing is built, pushed or tagged.
    let by_tag = deploy(&s)
        .remove_file("Dockerfile")
        .input("image", "sha-4f3c2b1")
        .input("wait", "false")
        .run();
    by_tag.expect_code(0);
    assert_eq!(by_tag.output("pushed").as_deref(), Some("false"));
    assert_eq!(by_tag.output("digest").as_deref(), Some(digest.as_str()));
    assert_eq!(s.reader().tags(REPO), tags_before);
    let pinned = format!("{}/{REPO}@{digest}", s.registry_host());
    assert_eq!(
        revision(&s, "web:2").container_definitions()[0].image(),
        Some(pinned.as_str())
    );

    // By digest: the image output names it by digest.
    let by_digest = deploy(&s)
        .remove_file("Dockerfile")
        .input("image", &digest)
        .input("wait", "false")
        .run();
    by_digest.expect_code(0);
    assert_eq!(by_digest.output("image").as_deref(), Some(pinned.as_str()));
    assert_eq!(by_digest.output("tags").as_deref(), Some(""));
    assert_eq!(s.reader().tags(REPO), tags_before);

    // A tag the repository does not hold: a clear error, and nothing registered.
    let registered = s.proxy.count("ecs:RegisterTaskDefinition");
    let missing = deploy(&s).input("image", "sha-0000000").run();
    missing.expect_code(1);
    let (title, message) = the_error(&missing);
    assert_eq!(title, "Image not in the repository");
    assert!(message.contains("has no image 'sha-0000000'"), "{message}");
    assert_eq!(s.proxy.count("ecs:RegisterTaskDefinition"), registered);
}

#[test]
fn access_denied_on_pass_role_names_the_statement_to_add() {
    let s = with_service();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/web-exec");
    s.proxy.inject(Fault::ecs(
        "RegisterTaskDefinition",
        1,
        400,
        "AccessDeniedException",
        &format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/github-ecr-push/GitHubActions is not \
             authorized to perform: iam:PassRole on resource: {role} because no \
             identity-based policy allows the iam:PassRole action"
        ),
    ));
    let result = deploy(&s).run();
    result.expect_code(1);
    let (title, message) = the_error(&result);
    assert_eq!(title, "Not allowed: iam:PassRole");
    assert!(
        message.contains(&format!(r#""Resource": "{role}""#)),
        "{message}"
    );
    assert!(message.contains("iam:PassedToService"), "{message}");
    assert_eq!(s.proxy.count("ecs:UpdateService"), 0);
    assert_secrets_kept(&s, &result);
}

/// Issue 30: two commits of `main` whose runs finish out of order. The newer commit's run
/// pushes and deploys first; the older one's then writes its own `sha-` tag, leaves `main` and
/// `latest` on the newer image, says so, and does not deploy.
#[test]
fn an_older_commit_pushed_after_a_newer_one_moves_no_tag_back_and_is_not_deployed() {
    const NEWER: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";
    const OLDER: &str = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
    let s = with_service();
    ecs::script_rollout(&s.proxy, vec![Step::Completed], vec![]);
    let commit = |sha: &str, epoch: i64| {
        deploy(&s)
            .env("GITHUB_SHA", sha)
            .env("SOURCE_DATE_EPOCH", &epoch.to_string())
            .write_file("hello.txt", &format!("commit {sha}, test {}\n", s.nonce))
            .run()
    };
    let newer = commit(NEWER, 1_795_170_600);
    newer.expect_code(0);
    assert_eq!(newer.output("superseded").as_deref(), Some("false"));
    let newer_digest = newer.output("digest").expect("digest");

    let older = commit(OLDER, 1_795_167_000);
    older.expect_code(0);
    assert_eq!(
        older.output("superseded").as_deref(),
        Some("true"),
        "{older}"
    );
    let notices = older.annotations("notice");
    let (_, notice) = notices
        .iter()
        .find(|(title, _)| title == "Superseded by a newer commit")
        .unwrap_or_else(|| panic!("a notice: {older}"));
    assert!(notice.contains("main, latest"), "{notice}");
    assert!(notice.contains(NEWER), "names the newer commit: {notice}");

    // The older commit's own tag holds its image; the moving tags stay on the newer one.
    let older_digest = older.output("digest").expect("digest");
    assert_ne!(older_digest, newer_digest);
    let reader = s.reader();
    let held = |tag: &str| reader.manifest(REPO, tag).map(|(digest, _)| digest);
    assert_eq!(held("sha-1a2b3c4").as_ref(), Some(&older_digest));
    assert_eq!(held("sha-9e8d7c6").as_ref(), Some(&newer_digest));
    assert_eq!(held("main").as_ref(), Some(&newer_digest));
    assert_eq!(held("latest").as_ref(), Some(&newer_digest));

    // No deploy: no revision registered, the service still runs the newer commit's.
    assert!(
        older
            .stdout
            .contains("The deploy to ECS production/web is skipped"),
        "{older}"
    );
    assert_eq!(older.output("task-definition-arn"), None);
    let service = block_on(
        s.ecs()
            .describe_services()
            .cluster(CLUSTER)
            .services(SERVICE)
            .send(),
    )
    .unwrap();
    assert!(service.services()[0]
        .task_definition()
        .unwrap()
        .ends_with("web:2"));
    assert_eq!(
        revision(&s, "web:2").container_definitions()[0].image(),
        Some(format!("{}/{REPO}@{newer_digest}", s.registry_host()).as_str())
    );
    assert_secrets_kept(&s, &older);
}

#[test]
fn an_image_for_another_cpu_architecture_is_refused_before_anything_is_registered() {
    let s = with_service();
    // The base (and so the build) is for this machine's platform, linux/amd64.
    let file = json!({
        "family": "web-arm",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [
            {"name": "app", "image": format!("{}/{REPO}:old", s.registry_host()), "memory": 256}
        ]
    });
    script_update(&s);
    let result = deploy(&s)
        .write_file("ecs/task-definition.json", &file.to_string())
        .input("task-definition", "ecs/task-definition.json")
        .input("wait", "false")
        .run();
    result.expect_code(1);
    let (title, message) = the_error(&result);
    assert_eq!(
        title,
        "The image cannot run on the service's CPU architecture"
    );
    assert!(message.contains("runs on ARM64"), "{message}");
    assert!(message.contains("is for linux/amd64 only"), "{message}");
    assert!(message.contains("linux/arm64"), "{message}");
    assert_eq!(s.proxy.count("ecs:RegisterTaskDefinition"), 0);
    assert_eq!(s.proxy.count("ecs:UpdateService"), 0);
    assert_secrets_kept(&s, &result);

    // For the architecture the image has, it deploys.
    let x86 = json!({
        "family": "web-arm",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": file["containerDefinitions"].clone()
    });
    let result = deploy(&s)
        .write_file("ecs/task-definition.json", &x86.to_string())
        .input("task-definition", "ecs/task-definition.json")
        .input("wait", "false")
        .run();
    result.expect_code(0);
    assert_eq!(s.proxy.count("ecs:RegisterTaskDefinition"), 1);
}
