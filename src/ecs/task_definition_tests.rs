use super::*;

/// What the console's "JSON" tab shows for a revision: read-only keys included.
const FROM_CONSOLE: &str = r#"{
  "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7",
  "containerDefinitions": [
    {"name": "app", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1",
     "environment": [{"name": "MODE", "value": "old"}], "portMappings": [{"containerPort": 8080}]},
    {"name": "proxy", "image": "public.ecr.aws/nginx/nginx:1.27", "essential": false}
  ],
  "family": "web",
  "executionRoleArn": "arn:aws:iam::123456789012:role/web-exec",
  "networkMode": "awsvpc",
  "revision": 7,
  "status": "ACTIVE",
  "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.ecr-auth"}],
  "compatibilities": ["EC2", "FARGATE"],
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "registeredAt": "2026-11-02T10:00:00.000Z",
  "registeredBy": "arn:aws:sts::123456789012:assumed-role/admin/x",
  "someFieldFromTheFuture": {"kept": true}
}"#;

#[test]
fn the_read_only_keys_are_dropped_and_everything_else_is_kept() {
    let definition = TaskDefinition::parse(FROM_CONSOLE).unwrap();
    // All but deregisteredAt, which only a deregistered revision has.
    assert_eq!(definition.read_only_keys(), READ_ONLY_KEYS[..7]);
    let sent: Value = serde_json::from_str(&definition.without_read_only_keys().to_json()).unwrap();
    let mut expected: Value = serde_json::from_str(FROM_CONSOLE).unwrap();
    for key in READ_ONLY_KEYS {
        expected.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(sent, expected);
    assert_eq!(sent["someFieldFromTheFuture"]["kept"], true);
}

#[test]
fn a_describe_answer_keeps_its_tags_in_the_definition() {
    let described = format!(
        r#"{{"taskDefinition": {FROM_CONSOLE}, "tags": [{{"key": "team", "value": "web"}}]}}"#
    );
    let definition = TaskDefinition::parse(&described).unwrap();
    assert_eq!(definition.family(), "web");
    let sent: Value = serde_json::from_str(&definition.to_json()).unwrap();
    assert_eq!(sent["tags"][0]["key"], "team");
    let untagged = TaskDefinition::described(
        serde_json::from_str(FROM_CONSOLE).unwrap(),
        Some(Value::Array(vec![])),
    )
    .unwrap();
    assert!(!untagged.to_json().contains("\"tags\""));
}

#[test]
fn the_image_and_the_environment_are_set_on_the_named_container_only() {
    let mut definition = TaskDefinition::parse(FROM_CONSOLE).unwrap();
    let pinned =
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:".to_string() + &"a".repeat(64);
    assert!(definition.set_image("app", &pinned));
    assert!(definition.set_env("app", "MODE", "new"));
    assert!(definition.set_env("app", "EXTRA", "1"));
    assert!(definition.set_env("proxy", "ONLY", "here"));
    assert!(!definition.set_image("nobody", &pinned));
    assert!(!definition.set_env("nobody", "K", "V"));
    assert_eq!(
        definition.containers(),
        [
            ("app".to_string(), pinned.clone()),
            (
                "proxy".to_string(),
                "public.ecr.aws/nginx/nginx:1.27".to_string()
            )
        ]
    );
    let sent: Value = serde_json::from_str(&definition.to_json()).unwrap();
    assert_eq!(
        sent["containerDefinitions"][0]["environment"],
        serde_json::json!([{"name": "MODE", "value": "new"}, {"name": "EXTRA", "value": "1"}])
    );
    assert_eq!(
        sent["containerDefinitions"][1]["environment"],
        serde_json::json!([{"name": "ONLY", "value": "here"}])
    );
    assert_eq!(
        sent["containerDefinitions"][0]["portMappings"][0]["containerPort"],
        8080
    );
}

#[test]
fn what_is_not_a_task_definition_says_what_is_missing() {
    let cases = [
        ("[1]", "is not a JSON object"),
        ("{", "is not valid JSON"),
        (r#"{"containerDefinitions": []}"#, "has no 'family'"),
        (r#"{"family": "web"}"#, "has no 'containerDefinitions'"),
        (r#"{"family": "web", "containerDefinitions": []}"#, "empty"),
        (
            r#"{"family": "web", "containerDefinitions": [{"image": "x"}]}"#,
            "containerDefinitions[0] has no 'name'",
        ),
        (
            r#"{"family": "web", "containerDefinitions": [{"name": "app"}]}"#,
            "containerDefinitions[0] has no 'image'",
        ),
    ];
    for (text, why) in cases {
        let error = TaskDefinition::parse(text).unwrap_err();
        assert!(error.contains(why), "{text}: {error}");
    }
}

#[test]
fn the_repository_of_an_image_drops_its_tag_or_digest_but_not_a_port() {
    assert_eq!(repository_of("127.0.0.1:5000/web:1"), "127.0.0.1:5000/web");
    assert_eq!(repository_of("127.0.0.1:5000/web"), "127.0.0.1:5000/web");
    assert_eq!(
        repository_of("1.dkr.ecr.eu-west-1.amazonaws.com/team/web@sha256:abc"),
        "1.dkr.ecr.eu-west-1.amazonaws.com/team/web"
    );
    assert_eq!(repository_of("nginx:1.27"), "nginx");
    assert_eq!(repository_of("nginx"), "nginx");
}
