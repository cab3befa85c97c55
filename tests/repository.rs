//! The ECR repository: created with the asked settings, found and left alone on a re-run,
//! and the outputs a later step uses.

mod support;

use support::{block_on, StandIns, ACCOUNT};

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
    assert_eq!(second.outputs(), first.outputs());
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
