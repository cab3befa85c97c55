//! Every input, read from `INPUT_*` and validated up front into a typed [`Plan`].
//!
//! Nothing here touches the network: a run with a bad input stops before any AWS call, with one
//! annotation per bad input. Each section parser records its bad inputs and returns its typed
//! value only when all of them were good; [`Plan::from_raw`] runs every section, so all bad
//! inputs are reported together, in the order of the sections.

mod across;
mod build;
mod build_secrets;
pub mod cache;
mod ecs;
mod github;
mod identity;
mod image;
pub mod lifecycle;
pub mod patch;
mod plan;
mod raw;
mod repository;
pub mod rules;

use crate::error::{InputError, InputErrors};
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
pub use build_secrets::{BuildSecret, MAX_SECRET_BYTES};
pub use cache::CachePlan;
pub use lifecycle::LifecyclePolicy;
pub use plan::{
    BuildPlan, Builder, EcsEnv, EcsPlan, Engine, GitHubPlan, Identity, ImagePlan, ImageSource,
    NewRepositorySettings, PatchPlan, Plan, RepositoryPlan, Reuse, TaskDefinitionSource,
    WebIdentity,
};
use raw::present;
pub use raw::{InputSpec, RawInputs, INPUTS};
pub use rules::RoleArn;
use rules::{aws, values};

/// Collects every input error instead of stopping at the first.
#[derive(Default)]
struct Errors(Vec<InputError>);

impl Errors {
    fn check<T>(&mut self, result: Result<T, InputError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// Records an input that is bad whatever its value (it contradicts another one).
    fn refuse(&mut self, error: InputError) {
        self.0.push(error);
    }

    /// Refuses each input that is set, for the same reason, with no good value but empty.
    fn refuse_each_set(
        &mut self,
        inputs: impl IntoIterator<Item = (&'static str, bool)>,
        rule: &str,
    ) {
        for (input, set) in inputs {
            if set {
                self.refuse(InputError::new(input, rule, ""));
            }
        }
    }

    /// Parses an optional input; an empty one gives `default`.
    fn optional<T>(
        &mut self,
        value: &Option<String>,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, InputError>,
    ) -> Option<T> {
        match present(value) {
            Some(v) => self.check(parse(v)),
            None => Some(default),
        }
    }

    /// Parses a required input; an empty one is the `missing` error.
    fn required<T>(
        &mut self,
        value: &Option<String>,
        missing: InputError,
        parse: impl FnOnce(&str) -> Result<T, InputError>,
    ) -> Option<T> {
        match present(value) {
            Some(v) => self.check(parse(v)),
            None => self.check(Err(missing)),
        }
    }
}

impl Plan {
    /// The plan, or every bad input. Secrets the inputs name (build secrets) are read here and
    /// masked through `workflow` as they are read, before any error is reported.
    pub fn from_raw(
        raw: &RawInputs,
        ctx: &RunContext,
        workflow: &Workflow,
    ) -> Result<Plan, InputErrors> {
        let mut errors = Errors::default();
        let region = errors.required(
            &raw.aws_region,
            InputError::new(
                "aws-region",
                "is required (or set AWS_REGION in the job's env)",
                "eu-west-1",
            ),
            |v| aws::region("aws-region", v),
        );
        let identity = identity::parse(raw, ctx, &mut errors);
        let destination = repository::parse(raw, ctx, &mut errors);
        let export_credentials = export_credentials(raw, ctx, &mut errors);
        let retry_seconds = errors.optional(&raw.retry_seconds, 120, |v| {
            values::integer_in("retry-seconds", v, 10..=3600u64, "120")
        });
        let deploy = ecs::parse(raw, &ctx.workspace, &mut errors);
        // With a deploy, `image` may name an image this repository already holds.
        let deploying = present(&raw.ecs_cluster).is_some() || present(&raw.ecs_service).is_some();
        let image = image::parse(raw, ctx, deploying, workflow, &mut errors);
        let github = github::parse(raw, &mut errors);
        if let (Some(region), Some(identity)) = (&region, &identity) {
            across::refuse_other_partitions(region, identity, &mut errors);
        }
        if let (Some(identity), Some(Some(deploy))) = (&identity, &deploy) {
            across::refuse_a_wait_longer_than_the_session(identity, deploy, &mut errors);
        }
        match (
            region,
            identity,
            destination,
            export_credentials,
            image,
            github,
            deploy,
            retry_seconds,
        ) {
            (
                Some(region),
                Some(identity),
                Some(destination),
                Some(export_credentials),
                Some(image),
                Some(github),
                Some(deploy),
                Some(retry_seconds),
            ) if errors.0.is_empty() => Ok(Plan {
                region,
                identity,
                repository: destination.repository,
                registry_url: destination.registry_url,
                export_credentials,
                retry_budget: std::time::Duration::from_secs(retry_seconds),
                image,
                github,
                deploy,
            }),
            _ => {
                debug_assert!(!errors.0.is_empty(), "a section failed without an error");
                Err(InputErrors(errors.0))
            }
        }
    }
}

fn export_credentials(raw: &RawInputs, ctx: &RunContext, errors: &mut Errors) -> Option<bool> {
    let export = errors.optional(&raw.export_credentials, false, |v| {
        values::boolean("export-credentials", v)
    });
    if export == Some(true) && !ctx.has_env_file {
        errors.refuse(InputError::new(
            "export-credentials",
            "is true, but GITHUB_ENV is not set, so there is no later step to export to \
             (outside GitHub Actions, leave it false)",
            "false",
        ));
    }
    export
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use aws_sdk_ecr::types::{EncryptionType, ImageTagMutability};

    use super::raw::vars;
    use super::*;

    pub(super) fn ctx() -> RunContext {
        RunContext {
            run_id: Some("42".into()),
            run_attempt: Some("2".into()),
            workspace: workspace(),
            repository: None,
            api_url: None,
            has_env_file: true,
            event: crate::github::event::Event {
                sha: Some("4f3c2b1a0e9d8c7b6a5f".into()),
                git_ref: Some("refs/heads/main".into()),
                ..Default::default()
            },
            commit_time: crate::github::commit_time::resolve(
                None,
                std::path::Path::new("/nonexistent"),
                None,
                None,
            ),
            started_at: chrono::Utc::now(),
        }
    }

    /// A workflow whose log the test can read back.
    pub(super) fn workflow() -> (Workflow, crate::github::captured::Log) {
        let log = crate::github::captured::Log::default();
        let workflow = Workflow::new(
            crate::github::commands::CommandFiles::default(),
            Box::new(log.clone()),
        );
        (workflow, log)
    }

    /// A workspace with a Dockerfile at its root, shared by the tests.
    pub(super) fn workspace() -> PathBuf {
        static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        let dir = DIR.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
            dir
        });
        dir.path().to_path_buf()
    }

    #[test]
    fn reads_hyphenated_names_and_applies_defaults() {
        let raw = RawInputs::from_vars(vars(&[
            ("INPUT_AWS-REGION", "eu-west-1"),
            (
                "INPUT_ROLE-TO-ASSUME",
                "arn:aws:iam::123456789012:role/push",
            ),
            ("INPUT_REPOSITORY", "team/app"),
            ("INPUT_KEEP-IMAGES", ""),
        ]))
        .unwrap();
        let plan = Plan::from_raw(&raw, &ctx(), &workflow().0).unwrap();
        assert_eq!(plan.region, "eu-west-1");
        let web = plan.identity.web_identity.unwrap();
        assert_eq!(web.role.account, "123456789012");
        assert_eq!(web.audience, "sts.amazonaws.com");
        assert_eq!(plan.identity.session_name, "GitHubActions-42-2");
        assert_eq!(plan.identity.duration_seconds, 3600);
        assert!(plan.repository.create);
        assert_eq!(
            plan.repository.settings,
            NewRepositorySettings {
                scan_on_push: true,
                tag_mutability: ImageTagMutability::Mutable,
                encryption: EncryptionType::Aes256,
                kms_key: None
            }
        );
        assert!(plan.repository.lifecycle_policy.is_none());
        assert!(!plan.export_credentials);
    }

    #[test]
    fn the_table_defaults_are_the_code_defaults() {
        let required = [
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_REPOSITORY", "app"),
        ];
        let empty = Plan::from_raw(
            &RawInputs::from_vars(vars(&required)).unwrap(),
            &ctx(),
            &workflow().0,
        )
        .unwrap();
        let mut given: Vec<(String, String)> = INPUTS
            .iter()
            // An expression (`${{ github.token }}`) is the runner's to evaluate, not a value.
            .filter(|spec| !spec.default.is_empty() && !spec.default.starts_with("${{"))
            .map(|spec| {
                (
                    format!("INPUT_{}", spec.name.to_uppercase()),
                    spec.default.to_string(),
                )
            })
            .collect();
        given.extend(vars(&required));
        let explicit =
            Plan::from_raw(&RawInputs::from_vars(given).unwrap(), &ctx(), &workflow().0).unwrap();
        assert_eq!(format!("{empty:?}"), format!("{explicit:?}"));
    }

    #[test]
    fn region_falls_back_to_the_environment() {
        let raw = RawInputs::from_vars(vars(&[
            ("AWS_REGION", "ap-south-1"),
            ("INPUT_REPOSITORY", "app"),
        ]))
        .unwrap();
        assert_eq!(
            Plan::from_raw(&raw, &ctx(), &workflow().0).unwrap().region,
            "ap-south-1"
        );
    }

    #[test]
    fn reports_every_bad_input_at_once() {
        let raw = RawInputs::from_vars(vars(&[
            ("INPUT_AWS-REGION", "Europe"),
            ("INPUT_REPOSITORY", "App"),
            ("INPUT_SCAN-ON-PUSH", "maybe"),
        ]))
        .unwrap();
        let errors = Plan::from_raw(&raw, &ctx(), &workflow().0).unwrap_err().0;
        let names: Vec<&str> = errors.iter().map(|e| e.input).collect();
        assert_eq!(names, ["aws-region", "repository", "scan-on-push"]);
    }

    #[test]
    fn lifecycle_inputs_are_exclusive() {
        let raw = RawInputs::from_vars(vars(&[
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_REPOSITORY", "app"),
            ("INPUT_KEEP-IMAGES", "5"),
            ("INPUT_LIFECYCLE-POLICY", &lifecycle::keep_newest(3).text),
        ]))
        .unwrap();
        let errors = Plan::from_raw(&raw, &ctx(), &workflow().0).unwrap_err().0;
        assert_eq!(errors[0].input, "keep-images");
    }

    pub(super) fn plan_with(pairs: &[(&str, &str)]) -> Result<Plan, Vec<InputError>> {
        plan_logged(pairs).0
    }

    /// The plan for the required inputs and `pairs`, and the log parsing wrote.
    pub(super) fn plan_logged(
        pairs: &[(&str, &str)],
    ) -> (Result<Plan, Vec<InputError>>, crate::github::captured::Log) {
        let mut given = vars(&[
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_REPOSITORY", "app"),
        ]);
        given.extend(vars(pairs));
        let (workflow, log) = workflow();
        let plan = Plan::from_raw(&RawInputs::from_vars(given).unwrap(), &ctx(), &workflow);
        (plan.map_err(|e| e.0), log)
    }

    #[test]
    fn repository_settings_are_the_sdk_enums() {
        let plan = plan_with(&[
            ("INPUT_TAG-MUTABILITY", "immutable"),
            ("INPUT_ENCRYPTION", "kms"),
            ("INPUT_KMS-KEY", "alias/ecr"),
        ])
        .unwrap();
        assert_eq!(
            plan.repository.settings,
            NewRepositorySettings {
                scan_on_push: true,
                tag_mutability: ImageTagMutability::Immutable,
                encryption: EncryptionType::Kms,
                kms_key: Some("alias/ecr".into()),
            }
        );
        for (input, value, rule, example) in [
            (
                "INPUT_TAG-MUTABILITY",
                "LOCKED",
                "'LOCKED' must be one of MUTABLE, IMMUTABLE",
                "MUTABLE",
            ),
            (
                "INPUT_TAG-MUTABILITY",
                "IMMUTABLE_WITH_EXCLUSION",
                "'IMMUTABLE_WITH_EXCLUSION' must be one of MUTABLE, IMMUTABLE",
                "MUTABLE",
            ),
            (
                "INPUT_ENCRYPTION",
                "KMS_DSSE",
                "'KMS_DSSE' must be one of AES256, KMS",
                "AES256",
            ),
        ] {
            let errors = plan_with(&[(input, value)]).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(
                (errors[0].rule.as_str(), errors[0].example.as_str()),
                (rule, example)
            );
        }
    }

    #[test]
    fn an_aes256_repository_takes_no_kms_key() {
        let errors = plan_with(&[("INPUT_KMS-KEY", "alias/ecr")]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].input, "kms-key");
        assert!(
            errors[0].rule.contains("encryption is AES256"),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_inputs_are_reported_in_the_order_of_the_sections() {
        let bad = [
            ("aws-region", "Europe"),
            ("role-to-assume", "push"),
            ("audience", "a b"),
            ("role-session-name", "x"),
            ("role-duration-seconds", "1h"),
            ("chain-role-to-assume", "chain"),
            ("repository", "App"),
            ("registry-id", "1"),
            ("registry-url", "ftp://x"),
            ("create-repository", "yes"),
            ("scan-on-push", "on"),
            ("tag-mutability", "LOCKED"),
            ("encryption", "AES128"),
            ("kms-key", "my key"),
            ("lifecycle-policy", "{\"rules\": ["),
            ("keep-images", "0"),
            ("export-credentials", "please"),
            ("engine", "daemonless"),
            ("platforms", "amd64"),
            ("build-args", "NODE_ENV"),
            ("target", "build stage"),
            ("labels", "team platform"),
            ("builder", "kaniko"),
            ("build-secrets", "npmrc"),
            ("cache", "gha"),
            ("platform", "arm64"),
            ("load", "no"),
            ("rebuild", "always"),
            ("tags", "-nightly"),
            ("push", "maybe"),
        ];
        let given: Vec<(String, String)> = bad
            .iter()
            .map(|(name, value)| (format!("INPUT_{}", name.to_uppercase()), value.to_string()))
            .collect();
        let errors = Plan::from_raw(&RawInputs::from_vars(given).unwrap(), &ctx(), &workflow().0)
            .unwrap_err()
            .0;
        let names: Vec<&str> = errors.iter().map(|e| e.input).collect();
        let expected: Vec<&str> = bad.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, expected);
    }
}
