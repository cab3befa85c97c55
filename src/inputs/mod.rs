//! Every input, read from `INPUT_*` and validated up front into a typed [`Plan`].
//!
//! Nothing here touches the network: a run with a bad input stops before any AWS call, with one
//! annotation per bad input.

pub mod lifecycle;
pub mod patch;
pub mod rules;

use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;

use crate::error::{InputError, InputErrors};
use crate::github::context::RunContext;
use crate::image::layer::LayerEntry;
use crate::image::reference::ImageReference;
use crate::image::tags::{self, TagValues};
pub use lifecycle::LifecyclePolicy;
use rules::PathKind;
pub use rules::RoleArn;

/// Declares every input once: the struct envy fills from `INPUT_*`, and the table of names and
/// defaults that `action.yml`, the CLI's flags and the tests are checked against.
macro_rules! inputs {
    ($($field:ident: $name:literal = $default:literal,)*) => {
        /// The inputs exactly as the runner passes them (`INPUT_ROLE-TO-ASSUME` ->
        /// `role_to_assume`).
        #[derive(Debug, Default, Deserialize, serde::Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct RawInputs {
            $(pub $field: Option<String>,)*
        }

        /// Every input the code reads, with the default `action.yml` declares for it (empty:
        /// none, or one worked out at run time, such as the region from `AWS_REGION`).
        pub const INPUTS: &[(&str, &str)] = &[$(($name, $default),)*];
    };
}

inputs! {
    aws_region: "aws-region" = "",
    role_to_assume: "role-to-assume" = "",
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
    context: "context" = ".",
    dockerfile: "dockerfile" = "",
    build_args: "build-args" = "",
    target: "target" = "",
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
}

/// Inputs that fall back to a plain environment variable when empty, as a user would expect:
/// the AWS CLI's region variables, and `ROLE_TO_ASSUME` set from a repository variable.
pub const ENV_FALLBACKS: &[(&str, &[&str])] = &[
    ("aws-region", &["AWS_REGION", "AWS_DEFAULT_REGION"]),
    ("role-to-assume", &["ROLE_TO_ASSUME"]),
];

impl RawInputs {
    /// Reads `INPUT_*` from the given variables; an empty input with an [`ENV_FALLBACKS`]
    /// entry takes the first of its variables that is set.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut raw: RawInputs = envy::prefixed("INPUT_")
            .from_iter(vars.iter().cloned())
            .map_err(|e| e.to_string())?;
        let from = |names: &[&str]| {
            names.iter().find_map(|name| {
                vars.iter()
                    .find(|(k, v)| k == name && !v.trim().is_empty())
                    .map(|(_, v)| v.clone())
            })
        };
        for (input, names) in ENV_FALLBACKS {
            let field = match *input {
                "aws-region" => &mut raw.aws_region,
                "role-to-assume" => &mut raw.role_to_assume,
                _ => continue,
            };
            if present(field).is_none() {
                *field = from(names);
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

/// What this run will do, fully validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub region: String,
    pub identity: Identity,
    pub repository: RepositoryPlan,
    pub registry_url: Option<Url>,
    pub export_credentials: bool,
    pub image: ImagePlan,
}

/// Which image to push, under which tags.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub source: ImageSource,
    /// Who moves the bytes: the Docker daemon, or registry-to-registry copies.
    pub engine: Engine,
    /// Platforms to keep from a multi-platform image (`os/arch[/variant]`); empty keeps all.
    pub platforms: Vec<String>,
    /// Username and password for the registry the image comes from (base-image, or a remote
    /// `image`).
    pub source_credentials: Option<(String, String)>,
    /// Labels the user asked for; they win over the OCI labels added to a build.
    pub labels: Vec<(String, String)>,
    /// Final tags, validated, first one first.
    pub tags: Vec<String>,
    /// `false`: build and report, write nothing to ECR.
    pub push: bool,
}

#[derive(Debug, Clone)]
pub enum ImageSource {
    Build(BuildPlan),
    /// An image already in the daemon (built by an earlier step), by name or id.
    Local(String),
    /// `image` with `engine: auto`: the daemon's image of that name if it has one, else the
    /// registry image the reference names.
    LocalOrRemote(String, ImageReference),
    /// An image in a registry, copied to ECR unchanged (a mirror).
    Remote(ImageReference),
    /// A base image from a registry, with files and config changes added.
    Patch(PatchPlan),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Auto,
    Docker,
    Registry,
}

#[derive(Debug, Clone)]
pub struct PatchPlan {
    pub base: ImageReference,
    /// The new layer's entries, sorted; empty when no files are added.
    pub files: Vec<LayerEntry>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
}

/// How credentials are obtained.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `None`: the default AWS credential chain (keys left by an earlier step).
    pub web_identity: Option<WebIdentity>,
    pub chain_role: Option<RoleArn>,
    pub session_name: String,
    pub duration_seconds: i32,
}

#[derive(Debug, Clone)]
pub struct WebIdentity {
    pub role: RoleArn,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub struct RepositoryPlan {
    pub name: String,
    pub registry_id: Option<String>,
    pub create: bool,
    pub settings: NewRepositorySettings,
    pub lifecycle_policy: Option<LifecyclePolicy>,
}

/// Settings applied only when the repository is created; an existing one keeps its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRepositorySettings {
    pub scan_on_push: bool,
    pub tag_mutability: &'static str,
    pub encryption: &'static str,
    pub kms_key: Option<String>,
}

/// The value of an input, trimmed, or `None` when empty.
fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Collects every input error instead of stopping at the first.
#[derive(Default)]
struct Errors(Vec<InputError>);

impl Errors {
    fn check<T>(&mut self, result: Result<T, InputError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
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
}

impl Plan {
    pub fn from_raw(raw: &RawInputs, ctx: &RunContext) -> Result<Plan, InputErrors> {
        let mut errors = Errors::default();

        let region = match present(&raw.aws_region) {
            Some(v) => errors.check(rules::region("aws-region", v)),
            None => errors.check(Err(InputError::new(
                "aws-region",
                "is required (or set AWS_REGION in the job's env)",
                "eu-west-1",
            ))),
        };
        let role = errors.optional(&raw.role_to_assume, None, |v| {
            rules::role_arn("role-to-assume", v).map(Some)
        });
        let audience = errors.optional(&raw.audience, "sts.amazonaws.com".to_string(), |v| {
            rules::audience("audience", v)
        });
        let default_session = rules::sanitised_session_name(&format!(
            "GitHubActions-{}-{}",
            ctx.run_id.as_deref().unwrap_or("local"),
            ctx.run_attempt.as_deref().unwrap_or("1")
        ));
        let session_name = errors.optional(&raw.role_session_name, default_session, |v| {
            rules::session_name("role-session-name", v)
        });
        let duration = errors.optional(&raw.role_duration_seconds, 3600, |v| {
            rules::integer_in("role-duration-seconds", v, 900..=43200, "3600")
        });
        let chain_role = errors.optional(&raw.chain_role_to_assume, None, |v| {
            rules::role_arn("chain-role-to-assume", v).map(Some)
        });

        let repository = match present(&raw.repository) {
            Some(v) => errors.check(rules::repository("repository", v)),
            None => errors.check(Err(InputError::new(
                "repository",
                "is required: the name of the ECR repository to push to",
                "team/web-app",
            ))),
        };
        let registry_id = errors.optional(&raw.registry_id, None, |v| {
            rules::account_id("registry-id", v).map(Some)
        });
        let registry_url = errors.optional(&raw.registry_url, None, |v| {
            rules::registry_url("registry-url", v).map(Some)
        });
        let create = errors.optional(&raw.create_repository, true, |v| {
            rules::boolean("create-repository", v)
        });
        let scan_on_push = errors.optional(&raw.scan_on_push, true, |v| {
            rules::boolean("scan-on-push", v)
        });
        let tag_mutability = errors.optional(&raw.tag_mutability, "MUTABLE", |v| {
            rules::one_of("tag-mutability", v, &["MUTABLE", "IMMUTABLE"])
        });
        let encryption = errors.optional(&raw.encryption, "AES256", |v| {
            rules::one_of("encryption", v, &["AES256", "KMS"])
        });
        let kms_key = errors.optional(&raw.kms_key, None, |v| {
            rules::kms_key("kms-key", v).map(Some)
        });
        if kms_key.as_ref().is_some_and(Option::is_some) && encryption == Some("AES256") {
            errors.check::<()>(Err(InputError::new(
                "kms-key",
                "is only used with encryption: KMS (encryption is AES256)",
                "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            )));
        }
        let policy_from_text = errors.optional(&raw.lifecycle_policy, None, |v| {
            lifecycle::parse(v, &ctx.workspace).map(Some)
        });
        let policy_from_count = errors.optional(&raw.keep_images, None, |v| {
            rules::integer_in("keep-images", v, 1..=10_000, "30")
                .map(|n| Some(lifecycle::keep_newest(n)))
        });
        let lifecycle_policy = match (policy_from_text, policy_from_count) {
            (Some(Some(_)), Some(Some(_))) => errors.check(Err(InputError::new(
                "keep-images",
                "cannot be combined with lifecycle-policy; use one of the two",
                "30",
            ))),
            (Some(text), Some(count)) => Some(text.or(count)),
            _ => None,
        };
        let export_credentials = errors.optional(&raw.export_credentials, false, |v| {
            rules::boolean("export-credentials", v)
        });
        if export_credentials == Some(true) && !ctx.has_env_file {
            errors.check::<()>(Err(InputError::new(
                "export-credentials",
                "is true, but GITHUB_ENV is not set, so there is no later step to export to \
                 (outside GitHub Actions, leave it false)",
                "false",
            )));
        }

        let image = image_plan(raw, ctx, &mut errors);

        if !errors.0.is_empty() {
            return Err(InputErrors(errors.0));
        }
        // Every field is Some when no error was recorded.
        let web_identity = role.flatten().map(|role| WebIdentity {
            role,
            audience: audience.expect("validated"),
        });
        Ok(Plan {
            region: region.expect("validated"),
            identity: Identity {
                web_identity,
                chain_role: chain_role.flatten(),
                session_name: session_name.expect("validated"),
                duration_seconds: duration.expect("validated") as i32,
            },
            repository: RepositoryPlan {
                name: repository.expect("validated"),
                registry_id: registry_id.flatten(),
                create: create.expect("validated"),
                settings: NewRepositorySettings {
                    scan_on_push: scan_on_push.expect("validated"),
                    tag_mutability: tag_mutability.expect("validated"),
                    encryption: encryption.expect("validated"),
                    kms_key: kms_key.flatten(),
                },
                lifecycle_policy: lifecycle_policy.flatten(),
            },
            registry_url: registry_url.flatten(),
            export_credentials: export_credentials.expect("validated"),
            image: image.expect("validated"),
        })
    }
}

fn image_plan(raw: &RawInputs, ctx: &RunContext, errors: &mut Errors) -> Option<ImagePlan> {
    let engine = errors.optional(&raw.engine, Engine::Auto, |v| {
        rules::one_of("engine", v, &["auto", "docker", "registry"]).map(|e| match e {
            "docker" => Engine::Docker,
            "registry" => Engine::Registry,
            _ => Engine::Auto,
        })
    });
    let platforms = errors.optional(&raw.platforms, Vec::new(), |v| {
        rules::platforms("platforms", v)
    });
    let source_credentials = match (
        present(&raw.base_image_username),
        present(&raw.base_image_password),
    ) {
        (Some(user), Some(password)) => Some(Some((user.to_string(), password.to_string()))),
        (None, None) => Some(None),
        (Some(_), None) => errors.check(Err(InputError::new(
            "base-image-password",
            "is empty while base-image-username is set; give both or neither",
            "${{ secrets.DOCKERHUB_TOKEN }}",
        ))),
        (None, Some(_)) => errors.check(Err(InputError::new(
            "base-image-username",
            "is empty while base-image-password is set; give both or neither",
            "${{ vars.DOCKERHUB_USERNAME }}",
        ))),
    };
    if present(&raw.base_image).is_none()
        && present(&raw.image).is_none()
        && source_credentials.as_ref().is_some_and(Option::is_some)
    {
        errors.check::<()>(Err(InputError::new(
            "base-image-username",
            "only applies to an image from a registry: set base-image, or image to a registry image",
            "",
        )));
    }
    let build_args = errors.optional(&raw.build_args, Vec::new(), |v| {
        rules::key_values("build-args", v, "NODE_ENV=production")
    });
    let target = errors.optional(&raw.target, None, |v| rules::target("target", v).map(Some));
    let labels = errors.optional(&raw.labels, Vec::new(), |v| {
        rules::key_values("labels", v, "org.opencontainers.image.title=web-app")
    });
    let patch_inputs = [
        ("files", present(&raw.files).is_some()),
        ("env", present(&raw.env).is_some()),
        ("workdir", present(&raw.workdir).is_some()),
        ("user", present(&raw.user).is_some()),
        ("entrypoint", present(&raw.entrypoint).is_some()),
        ("cmd", present(&raw.cmd).is_some()),
    ];
    if present(&raw.base_image).is_none() {
        for (input, set) in patch_inputs {
            if set {
                errors.check::<()>(Err(InputError::new(
                    input,
                    "only applies in patch mode, with base-image set",
                    "",
                )));
            }
        }
    }
    // The runner passes every input's default, so `context` counts as set only when it is not
    // the default ".".
    let build_inputs = [
        ("context", present(&raw.context).is_some_and(|c| c != ".")),
        ("dockerfile", present(&raw.dockerfile).is_some()),
        ("build-args", present(&raw.build_args).is_some()),
        ("target", present(&raw.target).is_some()),
    ];
    let source = match (present(&raw.image), present(&raw.base_image)) {
        (Some(_), Some(_)) => errors.check(Err(InputError::new(
            "base-image",
            "cannot be combined with 'image': 'image' pushes an image as it is, 'base-image' \
             patches a registry image; use one of the two",
            "",
        ))),
        (Some(name), None) => {
            for (input, set) in build_inputs
                .into_iter()
                .chain([("labels", present(&raw.labels).is_some())])
            {
                if set {
                    errors.check::<()>(Err(InputError::new(
                        input,
                        "only applies when building; with 'image' the image is pushed exactly as it was built",
                        "",
                    )));
                }
            }
            image_source(name, engine, errors)
        }
        (None, Some(base)) => {
            for (input, set) in build_inputs {
                if set {
                    errors.check::<()>(Err(InputError::new(
                        input,
                        "only applies when building from a Dockerfile; with 'base-image' the \
                         image is patched with 'files', 'env' and the other patch inputs",
                        "",
                    )));
                }
            }
            patch_plan(raw, base, ctx, errors).map(ImageSource::Patch)
        }
        (None, None) => {
            let context = errors.check(rules::workspace_path(
                "context",
                present(&raw.context).unwrap_or("."),
                &ctx.workspace,
                PathKind::Folder,
                "app",
            ));
            let dockerfile = context.as_ref().and_then(|context| match present(&raw.dockerfile) {
                Some(path) => errors.check(rules::workspace_path(
                    "dockerfile",
                    path,
                    &ctx.workspace,
                    PathKind::File,
                    "app/Dockerfile",
                )),
                None => {
                    let default = context.join("Dockerfile");
                    if default.is_file() {
                        Some(default)
                    } else {
                        errors.check(Err(InputError::new(
                            "dockerfile",
                            format!(
                                "is empty and the context has no Dockerfile ({}); name the Dockerfile, or set 'image' to push an image built earlier",
                                default.display()
                            ),
                            "app/Dockerfile",
                        )))
                    }
                }
            });
            match (context, dockerfile, build_args, &target) {
                (Some(context), Some(dockerfile), Some(build_args), Some(target)) => {
                    Some(ImageSource::Build(BuildPlan {
                        context,
                        dockerfile,
                        build_args,
                        target: target.clone(),
                    }))
                }
                _ => None,
            }
        }
    };
    if matches!(source, Some(ImageSource::Local(_)))
        && source_credentials.as_ref().is_some_and(Option::is_some)
    {
        errors.check::<()>(Err(InputError::new(
            "base-image-username",
            "only applies to an image from a registry, and 'image' names one in the Docker \
             daemon here (give its registry host, or engine: registry, to copy it from a registry)",
            "",
        )));
    }
    match (&source, engine, &platforms) {
        (Some(ImageSource::Build(_)), Some(Engine::Registry), _) => {
            errors.check::<()>(Err(InputError::new(
                "engine",
                "is registry, but building from a Dockerfile needs the Docker daemon; use auto \
                 or docker, or set base-image or a remote image",
                "auto",
            )));
        }
        (Some(ImageSource::Build(_) | ImageSource::Local(_)), _, Some(p)) if !p.is_empty() => {
            errors.check::<()>(Err(InputError::new(
                "platforms",
                "only applies to an image from a registry (base-image, or a remote image); a \
                 build or a local image has one platform",
                "",
            )));
        }
        (Some(ImageSource::Patch(_)), Some(Engine::Docker), Some(p)) if p.len() > 1 => {
            errors.check::<()>(Err(InputError::new(
                "platforms",
                "names several platforms, but the docker engine patches one image; use engine \
                 registry (or auto) to patch several",
                "linux/amd64",
            )));
        }
        _ => {}
    }
    let tags = match present(&raw.tags) {
        Some(lines) => {
            let values =
                TagValues::from_event(&ctx.event, ctx.started_at.format("%Y%m%d").to_string());
            errors.check(tags::expand(lines, &values))
        }
        None => Some(tags::default_tags(&ctx.event)),
    };
    let tags = tags.and_then(|t| {
        if t.is_empty() {
            errors.check(Err(InputError::new(
                "tags",
                "gives no tag in this run (every line's placeholder is empty here, or the run has no commit or ref to derive tags from)",
                "latest",
            )))
        } else {
            Some(t)
        }
    });
    let push = errors.optional(&raw.push, true, |v| rules::boolean("push", v));
    Some(ImagePlan {
        source: source?,
        engine: engine?,
        platforms: platforms?,
        source_credentials: source_credentials?,
        labels: labels?,
        tags: tags?,
        push: push?,
    })
}

/// What `image` names, by engine: a daemon image (docker), a registry image (registry), or
/// either, decided at run time (auto).
fn image_source(name: &str, engine: Option<Engine>, errors: &mut Errors) -> Option<ImageSource> {
    match engine? {
        Engine::Docker => errors
            .check(rules::image_name("image", name))
            .map(ImageSource::Local),
        Engine::Registry => errors
            .check(ImageReference::parse(name).map_err(|why| {
                InputError::new(
                    "image",
                    format!("'{name}' is not an image reference: {why}"),
                    "docker.io/library/nginx:1.27",
                )
            }))
            .map(ImageSource::Remote),
        Engine::Auto => {
            let name = errors.check(rules::image_name("image", name))?;
            // Only a name with a registry host can mean a registry image; `web-app:1` is the
            // daemon's (not Docker Hub's) unless the engine says otherwise.
            let explicit_host = name.split_once('/').is_some_and(|(first, _)| {
                first.contains('.') || first.contains(':') || first == "localhost"
            });
            match ImageReference::parse(&name) {
                Ok(reference) if explicit_host => Some(ImageSource::LocalOrRemote(name, reference)),
                _ => Some(ImageSource::Local(name)),
            }
        }
    }
}

fn patch_plan(
    raw: &RawInputs,
    base: &str,
    ctx: &RunContext,
    errors: &mut Errors,
) -> Option<PatchPlan> {
    let reference = errors.check(ImageReference::parse(base).map_err(|why| {
        InputError::new(
            "base-image",
            format!("'{base}' is not an image reference: {why}"),
            "docker.io/scicatproject/backend-next:v4.8.0",
        )
    }));
    let files = errors.optional(&raw.files, Vec::new(), |v| patch::files(v, &ctx.workspace));
    let env = errors.optional(&raw.env, Vec::new(), |v| {
        rules::key_values("env", v, "NODE_ENV=production")
    });
    let workdir = errors.optional(&raw.workdir, None, |v| {
        patch::workdir("workdir", v).map(Some)
    });
    let user = errors.optional(&raw.user, None, |v| patch::user("user", v).map(Some));
    let entrypoint = errors.optional(&raw.entrypoint, None, |v| {
        patch::exec_form("entrypoint", v, r#"["node", "dist/main.js"]"#).map(Some)
    });
    let cmd = errors.optional(&raw.cmd, None, |v| {
        patch::exec_form("cmd", v, r#"["--port", "3000"]"#).map(Some)
    });
    Some(PatchPlan {
        base: reference?,
        files: files?,
        env: env?,
        workdir: workdir?,
        user: user?,
        entrypoint: entrypoint?,
        cmd: cmd?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ctx() -> RunContext {
        RunContext {
            run_id: Some("42".into()),
            run_attempt: Some("2".into()),
            workspace: workspace(),
            repository: None,
            has_env_file: true,
            event: crate::github::event::Event {
                sha: Some("4f3c2b1a0e9d8c7b6a5f".into()),
                git_ref: Some("refs/heads/main".into()),
                ..Default::default()
            },
            started_at: chrono::Utc::now(),
        }
    }

    /// A workspace with a Dockerfile at its root, shared by the tests.
    fn workspace() -> PathBuf {
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
        let plan = Plan::from_raw(&raw, &ctx()).unwrap();
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
                tag_mutability: "MUTABLE",
                encryption: "AES256",
                kms_key: None
            }
        );
        assert!(plan.repository.lifecycle_policy.is_none());
        assert!(!plan.export_credentials);
    }

    #[test]
    fn every_input_in_the_table_is_a_field_and_every_field_is_in_the_table() {
        for (name, _) in INPUTS {
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
    fn the_table_defaults_are_the_code_defaults() {
        let required = [
            ("INPUT_AWS-REGION", "eu-west-1"),
            ("INPUT_REPOSITORY", "app"),
        ];
        let empty =
            Plan::from_raw(&RawInputs::from_vars(vars(&required)).unwrap(), &ctx()).unwrap();
        let mut given: Vec<(String, String)> = INPUTS
            .iter()
            .filter(|(_, default)| !default.is_empty())
            .map(|(name, default)| {
                (
                    format!("INPUT_{}", name.to_uppercase()),
                    default.to_string(),
                )
            })
            .collect();
        given.extend(vars(&required));
        let explicit = Plan::from_raw(&RawInputs::from_vars(given).unwrap(), &ctx()).unwrap();
        assert_eq!(format!("{empty:?}"), format!("{explicit:?}"));
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

    #[test]
    fn region_falls_back_to_the_environment() {
        let raw = RawInputs::from_vars(vars(&[
            ("AWS_REGION", "ap-south-1"),
            ("INPUT_REPOSITORY", "app"),
        ]))
        .unwrap();
        assert_eq!(Plan::from_raw(&raw, &ctx()).unwrap().region, "ap-south-1");
    }

    #[test]
    fn reports_every_bad_input_at_once() {
        let raw = RawInputs::from_vars(vars(&[
            ("INPUT_AWS-REGION", "Europe"),
            ("INPUT_REPOSITORY", "App"),
            ("INPUT_SCAN-ON-PUSH", "maybe"),
        ]))
        .unwrap();
        let errors = Plan::from_raw(&raw, &ctx()).unwrap_err().0;
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
        let errors = Plan::from_raw(&raw, &ctx()).unwrap_err().0;
        assert_eq!(errors[0].input, "keep-images");
    }
}
