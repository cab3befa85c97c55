use super::super::tests::{plan_with, workspace};
use super::*;
use crate::inputs::ImageSource;

fn deploy(pairs: &[(&str, &str)]) -> Result<EcsPlan, Vec<InputError>> {
    let mut all: Vec<(&str, &str)> = [
        ("INPUT_ECS-CLUSTER", "production"),
        ("INPUT_ECS-SERVICE", "web"),
    ]
    .into_iter()
    .filter(|(name, _)| !pairs.iter().any(|(given, _)| given == name))
    .collect();
    all.extend_from_slice(pairs);
    plan_with(&all).map(|plan| plan.deploy.expect("a deploy"))
}

fn inputs_refused(result: Result<EcsPlan, Vec<InputError>>) -> Vec<&'static str> {
    result.unwrap_err().iter().map(|e| e.input).collect()
}

#[test]
fn defaults_deploy_the_services_own_definition_and_wait_thirty_minutes() {
    let plan = deploy(&[]).unwrap();
    assert_eq!(
        (plan.cluster.as_str(), plan.service.as_str()),
        ("production", "web")
    );
    assert!(plan.containers.is_empty());
    assert!(matches!(
        plan.task_definition,
        TaskDefinitionSource::Service
    ));
    assert_eq!(plan.wait, Some(Duration::from_secs(1800)));
    assert_eq!(plan.poll, Duration::from_secs(10));
    assert!(plan_with(&[]).unwrap().deploy.is_none());
}

#[test]
fn every_ecs_input_is_read() {
    let plan = deploy(&[
        ("INPUT_ECS-CONTAINER", "app\n worker \n"),
        (
            "INPUT_TASK-DEFINITION",
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12",
        ),
        ("INPUT_ECS-ENV", "app:LOG_LEVEL=info\nworker:QUEUE=a=b"),
        ("INPUT_WAIT", "false"),
        ("INPUT_WAIT-MINUTES", "5"),
        ("INPUT_ECS-POLL-SECONDS", "2"),
    ])
    .unwrap();
    assert_eq!(plan.containers, ["app", "worker"]);
    assert!(
        matches!(plan.task_definition, TaskDefinitionSource::Named(ref n) if n.ends_with("web:12"))
    );
    assert_eq!(plan.env[1].key, "QUEUE");
    assert_eq!(plan.env[1].value, "a=b");
    assert_eq!(plan.wait, None);
    assert_eq!(plan.poll, Duration::from_secs(2));
    let family = deploy(&[("INPUT_TASK-DEFINITION", "web:3")]).unwrap();
    assert!(matches!(family.task_definition, TaskDefinitionSource::Named(ref n) if n == "web:3"));
}

#[test]
fn cluster_and_service_come_together_and_the_rest_needs_them() {
    let refused =
        inputs_refused(plan_with(&[("INPUT_ECS-CLUSTER", "production")]).map(|_| unreachable!()));
    assert_eq!(refused, ["ecs-service"]);
    let refused = inputs_refused(
        plan_with(&[("INPUT_ECS-SERVICE", "web"), ("INPUT_WAIT", "true")]).map(|_| unreachable!()),
    );
    assert_eq!(refused, ["ecs-cluster"]);
    let refused = inputs_refused(
        plan_with(&[("INPUT_ECS-CONTAINER", "app"), ("INPUT_ECS-ENV", "app:A=1")])
            .map(|_| unreachable!()),
    );
    assert_eq!(refused, ["ecs-container", "ecs-env"]);
    // The runner gives these their defaults in every run.
    assert!(plan_with(&[("INPUT_WAIT", "true"), ("INPUT_WAIT-MINUTES", "30")]).is_ok());
}

#[test]
fn bad_values_are_refused_with_an_example() {
    let refused = inputs_refused(deploy(&[
        ("INPUT_ECS-CLUSTER", "prod cluster"),
        ("INPUT_ECS-SERVICE", "arn:aws:ecs:eu-west-1:1:service/web"),
        ("INPUT_ECS-CONTAINER", "app\napp"),
        ("INPUT_TASK-DEFINITION", "web:latest"),
        ("INPUT_ECS-ENV", "LOG_LEVEL=info"),
        ("INPUT_WAIT", "yes"),
        ("INPUT_WAIT-MINUTES", "361"),
        ("INPUT_ECS-POLL-SECONDS", "0"),
        ("INPUT_PUSH", "false"),
    ]));
    assert_eq!(
        refused,
        [
            "push",
            "ecs-cluster",
            "ecs-service",
            "ecs-container",
            "task-definition",
            "ecs-env",
            "wait",
            "wait-minutes",
            "ecs-poll-seconds"
        ]
    );
    let errors = deploy(&[("INPUT_ECS-ENV", "LOG_LEVEL=info")]).unwrap_err();
    assert!(
        errors[0].to_string().contains("app:LOG_LEVEL=info"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_task_definition_file_is_read_checked_and_its_containers_known() {
    let dir = workspace();
    std::fs::create_dir_all(dir.join("ecs")).unwrap();
    std::fs::write(
        dir.join("ecs/web.json"),
        r#"{"family": "web", "revision": 3, "containerDefinitions": [{"name": "app", "image": "x"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("ecs/broken.json"), r#"{"family": "web"}"#).unwrap();
    let plan = deploy(&[("INPUT_TASK-DEFINITION", "ecs/web.json")]).unwrap();
    let TaskDefinitionSource::File { definition, .. } = plan.task_definition else {
        panic!("a file");
    };
    assert_eq!(definition.read_only_keys(), ["revision"]);

    let errors = deploy(&[
        ("INPUT_TASK-DEFINITION", "ecs/web.json"),
        ("INPUT_ECS-CONTAINER", "worker"),
        ("INPUT_ECS-ENV", "sidecar:A=1"),
    ])
    .unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0].to_string().contains("it has: app"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[1].input, "ecs-env");

    for (file, why) in [
        ("ecs/broken.json", "has no 'containerDefinitions'"),
        ("ecs/missing.json", "does not exist in the workspace"),
        ("/etc/passwd", "inside the workspace"),
        ("../web.json", "inside the workspace"),
    ] {
        let errors = deploy(&[("INPUT_TASK-DEFINITION", file)]).unwrap_err();
        assert!(errors[0].rule.contains(why), "{file}: {}", errors[0]);
    }
}

#[test]
fn with_a_deploy_a_bare_tag_or_a_digest_names_an_image_of_the_repository() {
    let digest = format!("sha256:{}", "b".repeat(64));
    for (image, tags) in [
        ("sha-4f3c2b1", vec!["sha-4f3c2b1".to_string()]),
        (digest.as_str(), vec![]),
    ] {
        let plan = plan_with(&[
            ("INPUT_ECS-CLUSTER", "production"),
            ("INPUT_ECS-SERVICE", "web"),
            ("INPUT_IMAGE", image),
        ])
        .unwrap();
        assert!(matches!(&plan.image.source, ImageSource::InRepository(r) if r == image));
        assert_eq!(plan.image.tags, tags, "{image}");
    }
    let tagged = plan_with(&[
        ("INPUT_ECS-CLUSTER", "production"),
        ("INPUT_ECS-SERVICE", "web"),
        ("INPUT_IMAGE", &digest),
        ("INPUT_TAGS", "production"),
    ])
    .unwrap();
    assert_eq!(tagged.image.tags, ["production"]);
    // A daemon image keeps its meaning: a name with a tag, or no deploy.
    let named = plan_with(&[
        ("INPUT_ECS-CLUSTER", "production"),
        ("INPUT_ECS-SERVICE", "web"),
        ("INPUT_IMAGE", "web-app:latest"),
    ])
    .unwrap();
    assert!(matches!(named.image.source, ImageSource::Local(_)));
    let no_deploy = plan_with(&[("INPUT_IMAGE", "sha-4f3c2b1")]).unwrap();
    assert!(matches!(no_deploy.image.source, ImageSource::Local(_)));
}

#[test]
fn the_wait_must_end_before_the_roles_session() {
    let role = (
        "INPUT_ROLE-TO-ASSUME",
        "arn:aws:iam::123456789012:role/deploy",
    );
    assert!(deploy(&[role, ("INPUT_WAIT-MINUTES", "55")]).is_ok());
    let errors = deploy(&[role, ("INPUT_WAIT-MINUTES", "56")]).unwrap_err();
    assert_eq!(errors[0].input, "wait-minutes");
    assert!(
        errors[0].rule.contains("role-duration-seconds"),
        "{}",
        errors[0]
    );
    assert!(deploy(&[
        role,
        ("INPUT_WAIT-MINUTES", "120"),
        ("INPUT_ROLE-DURATION-SECONDS", "7500")
    ])
    .is_ok());
    let chained = deploy(&[
        role,
        (
            "INPUT_CHAIN-ROLE-TO-ASSUME",
            "arn:aws:iam::210987654321:role/deploy",
        ),
        ("INPUT_WAIT-MINUTES", "120"),
        ("INPUT_ROLE-DURATION-SECONDS", "7500"),
    ])
    .unwrap_err();
    assert!(chained[0].rule.contains("one hour"), "{}", chained[0]);
    // Not waiting, or the default chain (which renews its own): no limit.
    assert!(deploy(&[role, ("INPUT_WAIT-MINUTES", "120"), ("INPUT_WAIT", "false")]).is_ok());
    assert!(deploy(&[("INPUT_WAIT-MINUTES", "120")]).is_ok());
}
