//! The inputs as the runner passes them, declared once in one table: name, `action.yml`'s
//! default, and the plain environment variables an empty input falls back to.

use serde::{Deserialize, Serialize};

/// One row of the inputs table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    /// The name in `action.yml` (`role-to-assume`).
    pub name: &'static str,
    /// The default `action.yml` declares (empty: none, or one worked out at run time).
    pub default: &'static str,
    /// Variables read, first set first, when the input is empty.
    pub env_fallbacks: &'static [&'static str],
}

/// Declares every input once: the struct envy fills from `INPUT_*`, and the table of names,
/// defaults and fallbacks that `action.yml`, the CLI's flags and the tests are checked against.
macro_rules! inputs {
    ($($field:ident: $name:literal = $default:literal $(; env [$($var:literal),+])?,)*) => {
        /// The inputs exactly as the runner passes them (`INPUT_ROLE-TO-ASSUME` ->
        /// `role_to_assume`).
        #[derive(Debug, Default, Deserialize, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct RawInputs {
            $(pub $field: Option<String>,)*
        }

        /// Every input the code reads, in the order of [`RawInputs`]' fields.
        pub const INPUTS: &[InputSpec] = &[$(InputSpec {
            name: $name,
            default: $default,
            env_fallbacks: &[$($($var),+)?],
        },)*];

        impl RawInputs {
            /// Every field, in the order of [`INPUTS`].
            fn values_mut(&mut self) -> [&mut Option<String>; INPUTS.len()] {
                [$(&mut self.$field,)*]
            }
        }
    };
}

// A fallback column is what a user would expect: the AWS CLI's region variables, and
// `ROLE_TO_ASSUME` set from a repository variable.
inputs! {
    aws_region: "aws-region" = ""; env ["AWS_REGION", "AWS_DEFAULT_REGION"],
    role_to_assume: "role-to-assume" = ""; env ["ROLE_TO_ASSUME"],
    audience: "audience" = "sts.amazonaws.com",
    role_session_name: "role-session-name" = "",
    role_duration_seconds: "role-duration-seconds" = "3600",
    chain_role_to_assume: "chain-role-to-assume" = "",
    repository: "repository" = "",
    registry_id: "registry-id" = "",
    registry_url: "registry-url" = "",
    create_repository: "create-repository" = "true",
    scan_on_push: "scan-on-push" = "true",
    tag_mutability: "tag-mutability" = "MUTABLE",
    encryption: "encryption" = "AES256",
    kms_key: "kms-key" = "",
    lifecycle_policy: "lifecycle-policy" = "",
    keep_images: "keep-images" = "",
    export_credentials: "export-credentials" = "false",
    retry_seconds: "retry-seconds" = "120",
    context: "context" = ".",
    dockerfile: "dockerfile" = "",
    build_args: "build-args" = "",
    target: "target" = "",
    builder: "builder" = "auto",
    build_secrets: "build-secrets" = "",
    cache: "cache" = "auto",
    platform: "platform" = "",
    load: "load" = "auto",
    rebuild: "rebuild" = "false",
    reuse: "reuse" = "own-tags",
    image: "image" = "",
    labels: "labels" = "",
    tags: "tags" = "",
    push: "push" = "true",
    base_image: "base-image" = "",
    base_image_username: "base-image-username" = "",
    base_image_password: "base-image-password" = "",
    files: "files" = "",
    env: "env" = "",
    workdir: "workdir" = "",
    user: "user" = "",
    entrypoint: "entrypoint" = "",
    cmd: "cmd" = "",
    engine: "engine" = "auto",
    platforms: "platforms" = "",
    github_token: "github-token" = "${{ github.token }}",
    pr_comment: "pr-comment" = "",
    deployment_environment: "deployment-environment" = "",
    ecs_cluster: "ecs-cluster" = "",
    ecs_service: "ecs-service" = "",
    ecs_container: "ecs-container" = "",
    task_definition: "task-definition" = "",
    ecs_env: "ecs-env" = "",
    wait: "wait" = "true",
    wait_minutes: "wait-minutes" = "30",
    ecs_poll_seconds: "ecs-poll-seconds" = "10",
}

impl RawInputs {
    /// Reads `INPUT_*` from the given variables; an empty input takes the first of its
    /// [`InputSpec::env_fallbacks`] that is set.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut raw: RawInputs = envy::prefixed("INPUT_")
            .from_iter(vars.iter().cloned())
            .map_err(|e| e.to_string())?;
        let first_set = |names: &[&str]| {
            names.iter().find_map(|name| {
                vars.iter()
                    .find(|(k, v)| k == name && !v.trim().is_empty())
                    .map(|(_, v)| v.clone())
            })
        };
        for (spec, value) in INPUTS.iter().zip(raw.values_mut()) {
            if !spec.env_fallbacks.is_empty() && present(value).is_none() {
                *value = first_set(spec.env_fallbacks);
            }
        }
        Ok(raw)
    }

    /// The process environment, skipping variables that are not valid UTF-8.
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }
}

/// The value of an input, trimmed, or `None` when empty.
pub(super) fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input's value as read, by its `action.yml` name.
    fn value(raw: &RawInputs, name: &str) -> Option<String> {
        serde_json::to_value(raw).unwrap()[name]
            .as_str()
            .map(str::to_string)
    }

    #[test]
    fn every_input_in_the_table_is_a_field_and_every_field_is_in_the_table() {
        for spec in INPUTS {
            let name = spec.name;
            let raw =
                RawInputs::from_vars(vars(&[(&format!("INPUT_{}", name.to_uppercase()), "x")]))
                    .unwrap();
            let value = serde_json::to_value(&raw).unwrap();
            assert_eq!(value[name], "x", "{name}");
        }
        let fields = serde_json::to_value(RawInputs::default()).unwrap();
        assert_eq!(fields.as_object().unwrap().len(), INPUTS.len());
    }

    #[test]
    fn values_mut_follows_the_table_order() {
        let mut raw = RawInputs::default();
        for (spec, value) in INPUTS.iter().zip(raw.values_mut()) {
            *value = Some(spec.name.to_string());
        }
        for spec in INPUTS {
            assert_eq!(value(&raw, spec.name).as_deref(), Some(spec.name));
        }
    }

    #[test]
    fn the_fallback_column() {
        let fallbacks: Vec<(&str, &[&str])> = INPUTS
            .iter()
            .filter(|spec| !spec.env_fallbacks.is_empty())
            .map(|spec| (spec.name, spec.env_fallbacks))
            .collect();
        assert_eq!(
            fallbacks,
            [
                ("aws-region", &["AWS_REGION", "AWS_DEFAULT_REGION"][..]),
                ("role-to-assume", &["ROLE_TO_ASSUME"][..]),
            ]
        );
    }

    #[test]
    fn an_empty_input_takes_each_of_its_fallbacks_and_an_explicit_input_wins() {
        for spec in INPUTS {
            let input = format!("INPUT_{}", spec.name.to_uppercase());
            for variable in spec.env_fallbacks {
                for unset in ["", "  "] {
                    let raw =
                        RawInputs::from_vars(vars(&[(input.as_str(), unset), (*variable, "env")]));
                    assert_eq!(
                        value(&raw.unwrap(), spec.name).as_deref(),
                        Some("env"),
                        "{} from {variable}",
                        spec.name
                    );
                }
                let raw =
                    RawInputs::from_vars(vars(&[(*variable, "env"), (input.as_str(), "explicit")]));
                assert_eq!(
                    value(&raw.unwrap(), spec.name).as_deref(),
                    Some("explicit"),
                    "{} given explicitly",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn fallbacks_are_taken_in_order_and_empty_variables_skipped() {
        let raw = RawInputs::from_vars(vars(&[
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_REGION", "ap-south-1"),
        ]))
        .unwrap();
        assert_eq!(raw.aws_region.as_deref(), Some("ap-south-1"));
        let raw = RawInputs::from_vars(vars(&[
            ("AWS_REGION", " "),
            ("AWS_DEFAULT_REGION", "us-east-2"),
        ]))
        .unwrap();
        assert_eq!(raw.aws_region.as_deref(), Some("us-east-2"));
    }

    #[test]
    fn an_input_without_a_fallback_ignores_the_environment() {
        let raw = RawInputs::from_vars(vars(&[("REPOSITORY", "app"), ("AUDIENCE", "x")])).unwrap();
        assert_eq!(raw.repository, None);
        assert_eq!(raw.audience, None);
    }

    #[test]
    fn role_falls_back_to_a_variable_and_an_explicit_input_wins() {
        let role = "arn:aws:iam::123456789012:role/from-variable";
        let raw = RawInputs::from_vars(vars(&[("ROLE_TO_ASSUME", role)])).unwrap();
        assert_eq!(raw.role_to_assume.as_deref(), Some(role));
        let raw = RawInputs::from_vars(vars(&[
            ("ROLE_TO_ASSUME", role),
            (
                "INPUT_ROLE-TO-ASSUME",
                "arn:aws:iam::123456789012:role/input",
            ),
        ]))
        .unwrap();
        assert_eq!(
            raw.role_to_assume.as_deref(),
            Some("arn:aws:iam::123456789012:role/input")
        );
        let raw = RawInputs::from_vars(vars(&[("AWS_DEFAULT_REGION", "us-east-2")])).unwrap();
        assert_eq!(raw.aws_region.as_deref(), Some("us-east-2"));
    }
}
