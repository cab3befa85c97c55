//! The ECS section: which service to deploy the image to, which of its containers get it, from
//! which task definition, and how long to wait for the rollout.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::rules::paths::{read_workspace_file, Candidate};
use super::rules::values;
use super::{present, EcsEnv, EcsPlan, Errors, RawInputs, TaskDefinitionSource};
use crate::ecs::TaskDefinition;
use crate::error::InputError;

/// A task definition file's largest size: ECS's own limit on a registered one is 64 KiB, so a
/// file this large is a mistake, and reading more is memory spent for nothing.
const TASK_DEFINITION_MAX_BYTES: u64 = 1 << 20;

/// ECS's rule for cluster, service, container and family names.
static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,255}$").unwrap());
static CLUSTER_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$").unwrap()
});
static SERVICE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/([A-Za-z0-9_-]{1,255}/)?[A-Za-z0-9_-]{1,255}$")
        .unwrap()
});
static TASK_DEFINITION_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]{1,255}:\d+$")
        .unwrap()
});
static FAMILY_REVISION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,255}(:[1-9][0-9]*)?$").unwrap());

/// The inputs that only mean something with a deploy, each with whether it is set. The
/// runner passes `wait`, `wait-minutes` and `ecs-poll-seconds` their defaults in every run, so
/// only those without one can tell a forgotten `ecs-cluster`.
fn deploy_inputs_set(raw: &RawInputs) -> [(&'static str, bool); 3] {
    [
        ("ecs-container", present(&raw.ecs_container).is_some()),
        ("task-definition", present(&raw.task_definition).is_some()),
        ("ecs-env", present(&raw.ecs_env).is_some()),
    ]
}

/// `None` inside: no deploy asked for.
pub(super) fn parse(
    raw: &RawInputs,
    workspace: &Path,
    errors: &mut Errors,
) -> Option<Option<EcsPlan>> {
    let (cluster, service) = match (present(&raw.ecs_cluster), present(&raw.ecs_service)) {
        (None, None) => {
            errors.refuse_each_set(
                deploy_inputs_set(raw),
                "only applies to a deploy to ECS, with ecs-cluster and ecs-service set",
            );
            return Some(None);
        }
        (Some(_), None) => {
            errors.refuse(InputError::new(
                "ecs-service",
                "is empty while ecs-cluster is set; give both to deploy to ECS, or neither",
                "web",
            ));
            return None;
        }
        (None, Some(_)) => {
            errors.refuse(InputError::new(
                "ecs-cluster",
                "is empty while ecs-service is set; give both to deploy to ECS, or neither",
                "production",
            ));
            return None;
        }
        (Some(cluster), Some(service)) => (cluster, service),
    };
    if present(&raw.push).is_some_and(|p| values::boolean("push", p) == Ok(false)) {
        errors.refuse(InputError::new(
            "push",
            "is false, but a deploy to ECS (ecs-cluster, ecs-service) runs the image from ECR; \
             set push: true, or leave ecs-cluster and ecs-service empty",
            "true",
        ));
    }
    let cluster = errors.check(name_or_arn(
        "ecs-cluster",
        cluster,
        &CLUSTER_ARN,
        "production",
    ));
    let service = errors.check(name_or_arn("ecs-service", service, &SERVICE_ARN, "web"));
    let containers = errors.optional(&raw.ecs_container, Vec::new(), containers);
    let task_definition =
        errors.optional(&raw.task_definition, TaskDefinitionSource::Service, |v| {
            task_definition(v, workspace)
        });
    let env = errors.optional(&raw.ecs_env, Vec::new(), env);
    let wait = errors.optional(&raw.wait, true, |v| values::boolean("wait", v));
    let minutes = errors.optional(&raw.wait_minutes, 30, |v| {
        values::integer_in("wait-minutes", v, 1..=360u64, "30")
    });
    let poll = errors.optional(&raw.ecs_poll_seconds, 10, |v| {
        values::integer_in("ecs-poll-seconds", v, 1..=300u64, "10")
    });
    if let (Some(TaskDefinitionSource::File { definition, .. }), Some(containers), Some(env)) =
        (&task_definition, &containers, &env)
    {
        refuse_unknown_containers(definition, containers, env, errors);
    }
    Some(Some(EcsPlan {
        cluster: cluster?,
        service: service?,
        containers: containers?,
        task_definition: task_definition?,
        env: env?,
        wait: wait?.then(|| Duration::from_secs(60 * minutes.unwrap_or(30))),
        poll: Duration::from_secs(poll?),
    }))
}

fn name_or_arn(
    input: &'static str,
    value: &str,
    arn: &Regex,
    example: &str,
) -> Result<String, InputError> {
    if NAME.is_match(value) || arn.is_match(value) {
        return Ok(value.to_string());
    }
    Err(InputError::new(
        input,
        format!(
            "'{value}' must be a name of 1 to 255 letters, digits, hyphens and underscores, or \
             its ARN"
        ),
        example,
    ))
}

/// One container name per line, each once.
fn containers(value: &str) -> Result<Vec<String>, InputError> {
    let mut names: Vec<String> = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = |why: &str| InputError::new("ecs-container", format!("'{line}' {why}"), "app");
        if !NAME.is_match(line) {
            return Err(bad(
                "is not a container name (letters, digits, hyphens, underscores; one per line)",
            ));
        }
        if names.iter().any(|n| n == line) {
            return Err(bad("is listed twice"));
        }
        names.push(line.to_string());
    }
    Ok(names)
}

/// A file in the workspace (a name ending in `.json`, or a path), a task definition's ARN, or a
/// family with an optional revision.
fn task_definition(value: &str, workspace: &Path) -> Result<TaskDefinitionSource, InputError> {
    let example = "ecs/task-definition.json";
    if value.starts_with("arn:") {
        return if TASK_DEFINITION_ARN.is_match(value) {
            Ok(TaskDefinitionSource::Named(value.to_string()))
        } else {
            Err(InputError::new(
                "task-definition",
                format!("'{value}' is not a task definition's ARN (arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION)"),
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12",
            ))
        };
    }
    if !value.to_ascii_lowercase().ends_with(".json") && !value.contains('/') {
        return if FAMILY_REVISION.is_match(value) {
            Ok(TaskDefinitionSource::Named(value.to_string()))
        } else {
            Err(InputError::new(
                "task-definition",
                format!("'{value}' is neither a file ending in .json nor a family (letters, digits, hyphens, underscores) with an optional :REVISION"),
                example,
            ))
        };
    }
    let text = read_workspace_file(
        &Candidate {
            input: "task-definition",
            shown: value,
            example,
        },
        workspace,
        TASK_DEFINITION_MAX_BYTES,
        "task definition file",
    )?;
    let definition = TaskDefinition::parse(&text).map_err(|why| {
        InputError::new(
            "task-definition",
            format!("'{value}' {why}; it must be a task definition as the console or `aws ecs describe-task-definition` shows it"),
            example,
        )
    })?;
    Ok(TaskDefinitionSource::File {
        path: value.to_string(),
        definition,
    })
}

/// `CONTAINER:KEY=VALUE` lines.
fn env(value: &str) -> Result<Vec<EcsEnv>, InputError> {
    let mut found = Vec::new();
    for (index, line) in value.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line.split_once(':').and_then(|(container, rest)| {
            let (key, value) = rest.split_once('=')?;
            let key = key.trim();
            (NAME.is_match(container.trim())
                && !key.is_empty()
                && !key.contains(char::is_whitespace))
            .then(|| EcsEnv {
                container: container.trim().to_string(),
                key: key.to_string(),
                value: value.to_string(),
            })
        });
        match parsed {
            Some(edit) => found.push(edit),
            None => {
                return Err(InputError::new(
                    "ecs-env",
                    format!("line {} ('{line}') must be CONTAINER:KEY=VALUE", index + 1),
                    "app:LOG_LEVEL=info",
                ))
            }
        }
    }
    Ok(found)
}

/// Containers named by `ecs-container` or `ecs-env` that `definition` does not have, each
/// refused with the names it has.
fn refuse_unknown_containers(
    definition: &TaskDefinition,
    containers: &[String],
    env: &[EcsEnv],
    errors: &mut Errors,
) {
    let known: Vec<String> = definition
        .containers()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let example = known.first().cloned().unwrap_or_default();
    for name in containers {
        if !definition.has_container(name) {
            errors.refuse(InputError::new(
                "ecs-container",
                format!(
                    "names '{name}', which the task definition does not have (it has: {})",
                    known.join(", ")
                ),
                example.clone(),
            ));
        }
    }
    for edit in env {
        if !definition.has_container(&edit.container) {
            errors.refuse(InputError::new(
                "ecs-env",
                format!("names the container '{}', which the task definition does not have (it has: {})", edit.container, known.join(", ")),
                format!("{example}:{}=VALUE", edit.key),
            ));
        }
    }
}

#[cfg(test)]
#[path = "ecs_tests.rs"]
mod tests;
