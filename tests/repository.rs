//! The ECR repository: created with the asked settings, found and left alone on a re-run,
//! and the outputs a later step uses.

use support::{block_on, Fault, StandIns, ACCOUNT};

const POLICY: &str = r#"{"rules":[{"rulePriority":1,"description":"expire untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#;

#[test]
fn creates_the_repository_as_asked_and_a_rerun_changes_nothing() {
    let s = StandIns::start();
    let run = || {
        s.action()
            .input("scan-on-push", "false")
            .input("tag-mutability", "IMMUTABLE")
            .input("encryption", "KMS")
            .input("kms-key", "alias/ecr-images")
            .input("lifecycle-policy", ".github/ecr-lifecycle.json")
            .write_file(".github/ecr-lifecycle.json", POLICY)
            .run()
    };

    let first = run();
    first.expect_code(0);
    let host = s.registry.url.trim_start_matches("http://").to_string();
    assert_eq!(first.output("aws-account-id").as_deref(), Some(ACCOUNT));
    assert_eq!(first.output("registry").as_deref(), Some(host.as_str()));
    assert_eq!(
        first.output("repository-uri"),
        Some(format!("{host}/octo-org/web-app"))
    );
    assert!(first.summary.contains("(created)"), "{first}");

    // What moto holds, read with the SDK directly.
    let ecr = s.ecr();
    let described = block_on(
        ecr.describe_repositories()
            .repository_names("octo-org/web-app")
            .send(),
    )
    .unwrap();
    let repo = &described.repositories()[0];
    assert_eq!(repo.image_tag_mutability().unwrap().as_str(), "IMMUTABLE");
    assert!(!repo.image_scanning_configuration().unwrap().scan_on_push());
    let encryption = repo.encryption_configuration().unwrap();
    assert_eq!(encryption.encryption_type().as_str(), "KMS");
    assert_eq!(encryption.kms_key(), Some("alias/ecr-images"));
    let policy = block_on(
        ecr.get_lifecycle_policy()
            .repository_name("octo-org/web-app")
            .send(),
    )
    .unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::from_str::<serde_json::Value>(POLICY).unwrap()
    );

    let calls_before = s.proxy.calls().len();
    let second = run();
    second.expect_code(0);
    // Same outputs, except that nothing needed pushing this time.
    let mut expected = first.outputs();
    assert_eq!(
        expected.insert("pushed".into(), "false".into()).as_deref(),
        Some("true")
    );
    assert_eq!(second.outputs(), expected);
    assert!(
        second
            .stdout
            .contains("Nothing was created or changed in ECR."),
        "{second}"
    );
    assert!(second.summary.contains("existing, unchanged"), "{second}");
    let second_calls = &s.proxy.calls()[calls_before..];
    for write in ["ecr:CreateRepository", "ecr:PutLifecyclePolicy"] {
        assert!(
            !second_calls.iter().any(|c| c == write),
            "{write} on re-run: {second_calls:?}"
        );
    }
    assert_eq!(s.repositories(), ["octo-org/web-app"]);

    for result in [&first, &second] {
        result.assert_no_secret_leaked(&s.secrets(), true);
    }
}

#[test]
fn a_changed_lifecycle_policy_is_applied_on_the_next_run() {
    let s = StandIns::start();
    s.action().input("keep-images", "30").run().expect_code(0);
    let same = s.action().input("keep-images", "30").run();
    same.expect_code(0);
    assert!(
        same.stdout.contains("Lifecycle policy: already as asked."),
        "{same}"
    );
    assert_eq!(s.proxy.count("ecr:PutLifecyclePolicy"), 1);

    let changed = s.action().input("keep-images", "5").run();
    changed.expect_code(0);
    assert!(
        changed.stdout.contains("Lifecycle policy: applied."),
        "{changed}"
    );
    assert_eq!(s.proxy.count("ecr:PutLifecyclePolicy"), 2);
    let policy = block_on(
        s.ecr()
            .get_lifecycle_policy()
            .repository_name("octo-org/web-app")
            .send(),
    )
    .unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(policy.lifecycle_policy_text().unwrap()).unwrap();
    // The build caches first, then the count of images.
    assert_eq!(
        stored["rules"][0]["selection"]["tagPatternList"][0],
        "buildcache"
    );
    assert_eq!(stored["rules"][2]["selection"]["countNumber"], 5);
}

#[test]
fn a_missing_repository_is_an_error_when_creation_is_off() {
    let s = StandIns::start();
    let result = s.action().input("create-repository", "false").run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Repository not found");
    assert!(
        message.contains(
            "'octo-org/web-app' does not exist in account 123456789012, region eu-west-1"
        ),
        "{message}"
    );
    assert!(s.repositories().is_empty());
    assert_eq!(s.proxy.count("ecr:CreateRepository"), 0);
}

#[test]
fn an_existing_repository_needs_no_create_permission_and_keeps_its_settings() {
    let s = StandIns::start();
    block_on(
        s.ecr()
            .create_repository()
            .repository_name("octo-org/web-app")
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Mutable)
            .send(),
    )
    .unwrap();
    // A role without ecr:CreateRepository: any attempt would be refused.
    s.proxy.inject(Fault::ecr(
        "CreateRepository",
        10,
        400,
        "AccessDeniedException",
        "no",
    ));
    let result = s.action().input("tag-mutability", "IMMUTABLE").run();
    result.expect_code(0);
    assert_eq!(s.proxy.count("ecr:CreateRepository"), 0);
    assert!(result.stdout.contains("tags MUTABLE"), "{result}");
    assert!(
        result
            .stdout
            .contains("::warning title=Tags are not immutable::"),
        "{result}"
    );
    assert!(
        result
            .stdout
            .contains("Nothing was created or changed in ECR."),
        "{result}"
    );
}

#[test]
fn a_refused_create_names_the_permission_and_the_way_out() {
    let s = StandIns::start();
    s.proxy.inject(Fault::ecr(
        "CreateRepository",
        1,
        400,
        "AccessDeniedException",
        "User is not authorized to perform: ecr:CreateRepository",
    ));
    let result = s.action().run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Not allowed: ecr:CreateRepository");
    assert!(
        message.contains(
            "arn:aws:iam::123456789012:role/github-ecr-push may not call ecr:CreateRepository"
        ),
        "{message}"
    );
    assert!(
        message.contains("create the repository beforehand"),
        "{message}"
    );
    assert!(s.repositories().is_empty());
}

#[test]
fn ecr_throttling_is_retried_by_the_sdk() {
    let s = StandIns::start();
    s.proxy.inject(Fault::ecr(
        "DescribeRepositories",
        2,
        400,
        "ThrottlingException",
        "Rate exceeded",
    ));
    // The build's early read (before it looks for an image of the same inputs) meets both
    // faults and is retried to an answer; the repository step then reads once more.
    s.action().run().expect_code(0);
    assert_eq!(
        s.proxy.count("ecr:DescribeRepositories"),
        4,
        "{:?}",
        s.proxy.calls_with_status()
    );
    assert_eq!(s.repositories(), ["octo-org/web-app"]);
}

#[test]
fn an_existing_repository_created_by_a_parallel_job_is_used() {
    let s = StandIns::start();
    // The other job creates the repository between our describe and our create.
    block_on(
        s.ecr()
            .create_repository()
            .repository_name("octo-org/web-app")
            .send(),
    )
    .unwrap();
    // Both reads miss it: the build's early one (before it looks for an image of the same
    // inputs) and the repository step's.
    s.proxy.inject(Fault::ecr(
        "DescribeRepositories",
        2,
        400,
        "RepositoryNotFoundException",
        "not found",
    ));
    let result = s.action().run();
    result.expect_code(0);
    assert_eq!(s.proxy.count("ecr:CreateRepository"), 1);
    assert!(result
        .output("repository-uri")
        .unwrap()
        .ends_with("/octo-org/web-app"));
}
