//! The least privilege the action needs, as the inline policy `setup` writes: exactly the ECR
//! actions the action calls, on exactly the repositories' ARNs (`ecr:GetAuthorizationToken`
//! alone on `*`, where IAM wants it), and for a deploy the ECS actions and `iam:PassRole` on the
//! task's roles only. And the reading `check` does of a role's policies.

use serde_json::{json, Value};

use super::condition::wildcard;
use super::trust::strings;

/// What the action calls on a repository, reading and pushing (see the README's "Permissions
/// the role needs").
pub const REPOSITORY_ACTIONS: [&str; 10] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:ListImages",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
];
/// With `keep-images` or `lifecycle-policy`.
pub const LIFECYCLE_ACTIONS: [&str; 2] = ["ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy"];
pub const LOGIN_ACTION: &str = "ecr:GetAuthorizationToken";
/// A deploy's calls on its service, and those ECS only grants on `*`.
pub const SERVICE_ACTIONS: [&str; 2] = ["ecs:DescribeServices", "ecs:UpdateService"];
pub const TASK_DEFINITION_ACTIONS: [&str; 4] = [
    "ecs:DescribeTaskDefinition",
    "ecs:DescribeTasks",
    "ecs:ListTasks",
    "ecs:RegisterTaskDefinition",
];

/// What a role must be allowed.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    /// The repositories' ARNs.
    pub repositories: Vec<String>,
    pub allow_create: bool,
    pub lifecycle: bool,
    pub deploys: Vec<Deploy>,
}

#[derive(Debug, Clone)]
pub struct Deploy {
    pub service_arn: String,
    /// The task definition's `taskRoleArn` and `executionRoleArn`.
    pub pass_roles: Vec<String>,
}

pub fn repository_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:ecr:{region}:{account}:repository/{name}")
}

/// The inline policy for `needs`.
pub fn policy(needs: &Needs) -> Value {
    let mut actions: Vec<&str> = REPOSITORY_ACTIONS.to_vec();
    if needs.lifecycle {
        actions.extend(LIFECYCLE_ACTIONS);
    }
    if needs.allow_create {
        actions.push("ecr:CreateRepository");
    }
    actions.sort_unstable();
    let mut statements = vec![
        json!({"Sid": "EcrSignIn", "Effect": "Allow", "Action": LOGIN_ACTION, "Resource": "*"}),
        json!({"Sid": "EcrRepositories", "Effect": "Allow", "Action": actions, "Resource": needs.repositories}),
    ];
    if !needs.deploys.is_empty() {
        let services: Vec<&str> = needs
            .deploys
            .iter()
            .map(|d| d.service_arn.as_str())
            .collect();
        let mut roles: Vec<&str> = needs
            .deploys
            .iter()
            .flat_map(|d| d.pass_roles.iter().map(String::as_str))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        statements.push(json!({"Sid": "EcsService", "Effect": "Allow", "Action": SERVICE_ACTIONS, "Resource": services}));
        statements.push(json!({"Sid": "EcsTaskDefinitions", "Effect": "Allow", "Action": TASK_DEFINITION_ACTIONS, "Resource": "*"}));
        if !roles.is_empty() {
            statements.push(json!({
                "Sid": "EcsPassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": roles,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
            }));
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What pulling an image takes, granted by a repository policy to other principals.
pub const PULL_ACTIONS: [&str; 3] = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
];

/// A repository policy that lets `principals` (account ids or IAM ARNs) pull. They still need
/// `ecr:GetAuthorizationToken` in their own account's policies to sign in.
pub fn pull_policy(principals: &[String]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ShipToEcrPull",
            "Effect": "Allow",
            "Principal": {"AWS": principals},
            "Action": PULL_ACTIONS
        }]
    })
}

/// What a set of identity policies says of one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// Allowed by a statement with conditions, which depend on the request.
    AllowedIf,
    /// An explicit Deny matches.
    Denied,
    NotAllowed,
}

/// Reads `documents` (a role's inline and attached policies) for `action` on `resource`:
/// Action/NotAction and Resource/NotResource with wildcards, case-insensitive actions, an
/// explicit Deny first. Conditions are not evaluated (they depend on the request).
pub fn access(documents: &[Value], action: &str, resource: &str) -> Access {
    let mut allowed = None;
    for document in documents {
        for statement in strings_or_objects(&document["Statement"]) {
            if !covers(&statement, action, resource) {
                continue;
            }
            let conditional = statement.get("Condition").is_some_and(|c| !c.is_null());
            match statement["Effect"].as_str() {
                Some("Deny") if !conditional => return Access::Denied,
                Some("Allow") if !conditional => allowed = Some(Access::Allowed),
                Some("Allow") => {
                    allowed.get_or_insert(Access::AllowedIf);
                }
                _ => {}
            }
        }
    }
    allowed.unwrap_or(Access::NotAllowed)
}

fn covers(statement: &Value, action: &str, resource: &str) -> bool {
    let action = action.to_ascii_lowercase();
    let action_hit = |list: &Value| {
        strings(list)
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), &action))
    };
    let resource_hit = |list: &Value| strings(list).iter().any(|r| wildcard(r, resource));
    let actions = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(list), _) => action_hit(list),
        (None, Some(list)) => !action_hit(list),
        (None, None) => false,
    };
    let resources = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(list), _) => resource_hit(list),
        (None, Some(list)) => !resource_hit(list),
        (None, None) => false,
    };
    actions && resources
}

fn strings_or_objects(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "arn:aws:ecr:eu-west-1:123456789012:repository/team/web";

    fn needs() -> Needs {
        Needs {
            repositories: vec![REPO.to_string()],
            ..Needs::default()
        }
    }

    #[test]
    fn the_policy_grants_the_repository_actions_on_the_repository_only() {
        let policy = policy(&needs());
        for action in REPOSITORY_ACTIONS {
            assert_eq!(
                access(std::slice::from_ref(&policy), action, REPO),
                Access::Allowed,
                "{action}"
            );
            let other = "arn:aws:ecr:eu-west-1:123456789012:repository/team/api";
            assert_eq!(
                access(std::slice::from_ref(&policy), action, other),
                Access::NotAllowed,
                "{action}"
            );
        }
        assert_eq!(
            access(std::slice::from_ref(&policy), LOGIN_ACTION, "*"),
            Access::Allowed
        );
        for absent in [
            "ecr:CreateRepository",
            "ecr:PutLifecyclePolicy",
            "ecr:DeleteRepository",
        ] {
            assert_eq!(
                access(std::slice::from_ref(&policy), absent, REPO),
                Access::NotAllowed,
                "{absent}"
            );
        }
    }

    #[test]
    fn creation_lifecycle_and_deploys_add_exactly_their_statements() {
        let policy = policy(&Needs {
            allow_create: true,
            lifecycle: true,
            deploys: vec![Deploy {
                service_arn: "arn:aws:ecs:eu-west-1:123456789012:service/prod/web".into(),
                pass_roles: vec!["arn:aws:iam::123456789012:role/web-exec".into()],
            }],
            ..needs()
        });
        let documents = [policy];
        assert_eq!(
            access(&documents, "ecr:CreateRepository", REPO),
            Access::Allowed
        );
        assert_eq!(
            access(&documents, "ecr:PutLifecyclePolicy", REPO),
            Access::Allowed
        );
        assert_eq!(
            access(
                &documents,
                "ecs:UpdateService",
                "arn:aws:ecs:eu-west-1:123456789012:service/prod/web"
            ),
            Access::Allowed
        );
        assert_eq!(
            access(
                &documents,
                "ecs:UpdateService",
                "arn:aws:ecs:eu-west-1:123456789012:service/prod/api"
            ),
            Access::NotAllowed
        );
        assert_eq!(
            access(
                &documents,
                "iam:PassRole",
                "arn:aws:iam::123456789012:role/web-exec"
            ),
            Access::AllowedIf
        );
        assert_eq!(
            access(
                &documents,
                "iam:PassRole",
                "arn:aws:iam::123456789012:role/admin"
            ),
            Access::NotAllowed
        );
    }

    #[test]
    fn wildcards_not_forms_and_an_explicit_deny() {
        let broad = json!({"Statement": {"Effect": "Allow", "Action": "ECR:*", "Resource": "*"}});
        assert_eq!(
            access(std::slice::from_ref(&broad), "ecr:PutImage", REPO),
            Access::Allowed
        );
        let deny =
            json!({"Statement": [{"Effect": "Deny", "Action": "ecr:PutImage", "Resource": REPO}]});
        assert_eq!(
            access(&[broad.clone(), deny], "ecr:PutImage", REPO),
            Access::Denied
        );
        let not_action =
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
        assert_eq!(
            access(std::slice::from_ref(&not_action), "ecr:PutImage", REPO),
            Access::Allowed
        );
        assert_eq!(
            access(&[not_action], "iam:PassRole", REPO),
            Access::NotAllowed
        );
    }
}
