//! The build inputs: the context and Dockerfile, the builder, build secrets (read and masked
//! here), the cache, the platform, and whether the image stays in the daemon.

use std::path::{Path, PathBuf};

use super::cache::{self, CachePlan};
use super::rules::paths::{workspace_path, PathKind};
use super::rules::values;
use super::{build_secrets, present, BuildPlan, Builder, Errors, RawInputs};
use crate::error::InputError;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::oci::Platform;

/// The words `builder` accepts.
const BUILDERS: &[(&str, Builder)] = &[
    ("auto", Builder::Auto),
    ("buildkit", Builder::BuildKit),
    ("classic", Builder::Classic),
];

/// The build inputs, each with whether it is set. The runner passes every input's default, so
/// an input with a default counts as set only when it says something else.
pub(super) fn inputs_set(raw: &RawInputs) -> [(&'static str, bool); 9] {
    let other_than = |value: &Option<String>, default: &str| {
        present(value).is_some_and(|v| !v.eq_ignore_ascii_case(default))
    };
    [
        ("context", present(&raw.context).is_some_and(|c| c != ".")),
        ("dockerfile", present(&raw.dockerfile).is_some()),
        ("build-args", present(&raw.build_args).is_some()),
        ("target", present(&raw.target).is_some()),
        ("builder", other_than(&raw.builder, "auto")),
        ("build-secrets", present(&raw.build_secrets).is_some()),
        ("cache", other_than(&raw.cache, "auto")),
        ("platform", present(&raw.platform).is_some()),
        ("load", other_than(&raw.load, "true")),
    ]
}

/// The build, every input checked; each secret is masked as it is read, before any other input
/// is reported.
pub(super) fn plan(
    raw: &RawInputs,
    ctx: &RunContext,
    build_args: Option<Vec<(String, String)>>,
    target: Option<Option<String>>,
    workflow: &Workflow,
    errors: &mut Errors,
) -> Option<BuildPlan> {
    let context = errors.check(workspace_path(
        "context",
        present(&raw.context).unwrap_or("."),
        &ctx.workspace,
        PathKind::Folder,
        "app",
    ));
    let dockerfile = context
        .as_ref()
        .and_then(|context| dockerfile(raw, ctx, context, errors));
    let builder = errors.optional(&raw.builder, Builder::Auto, |v| {
        values::one_of("builder", v, BUILDERS)
    });
    let secrets = errors.optional(&raw.build_secrets, Vec::new(), |v| {
        build_secrets::parse(v, &ctx.workspace, &|name| std::env::var_os(name), workflow)
    });
    let cache = errors.optional(&raw.cache, CachePlan::Auto, cache::parse);
    let platform = errors.optional(&raw.platform, None, |v| platform(v).map(Some));
    let load = errors.optional(&raw.load, true, |v| values::boolean("load", v));
    if builder == Some(Builder::Classic) {
        refuse_without_buildkit(secrets.as_deref(), cache.as_ref(), errors);
    }
    let (
        Some(context),
        Some(dockerfile),
        Some(build_args),
        Some(target),
        Some(builder),
        Some(secrets),
        Some(cache),
        Some(platform),
        Some(load),
    ) = (
        context, dockerfile, build_args, target, builder, secrets, cache, platform, load,
    )
    else {
        return None;
    };
    Some(BuildPlan {
        context,
        dockerfile,
        build_args,
        target,
        builder,
        secrets,
        cache,
        platform,
        load,
    })
}

/// What only BuildKit does, asked of the classic builder.
fn refuse_without_buildkit(
    secrets: Option<&[build_secrets::BuildSecret]>,
    cache: Option<&CachePlan>,
    errors: &mut Errors,
) {
    if secrets.is_some_and(|s| !s.is_empty()) {
        errors.refuse(InputError::new(
            "build-secrets",
            "is set, but build secrets need BuildKit and builder is classic; use builder: auto \
             (or buildkit) to mount them",
            "",
        ));
    }
    if matches!(cache, Some(CachePlan::Explicit { .. })) {
        errors.refuse(InputError::new(
            "cache",
            "gives from/to lines, but importing and exporting a cache needs BuildKit and \
             builder is classic; use builder: auto (or buildkit), or cache: auto or off",
            "auto",
        ));
    }
}

/// One `os/arch[/variant]`; a list is refused, as a build makes one image.
fn platform(value: &str) -> Result<Platform, InputError> {
    let example = "linux/arm64";
    if value.contains([',', '\n']) {
        return Err(InputError::new(
            "platform",
            format!(
                "'{}' names several platforms, but a build makes an image for one",
                value.replace('\n', ",")
            ),
            example,
        ));
    }
    Platform::parse(value).map_err(|why| InputError::new("platform", why, example))
}

/// The `dockerfile` input, or the context's `Dockerfile` when it has one.
fn dockerfile(
    raw: &RawInputs,
    ctx: &RunContext,
    context: &Path,
    errors: &mut Errors,
) -> Option<PathBuf> {
    if let Some(path) = present(&raw.dockerfile) {
        return errors.check(workspace_path(
            "dockerfile",
            path,
            &ctx.workspace,
            PathKind::File,
            "app/Dockerfile",
        ));
    }
    let default = context.join("Dockerfile");
    if default.is_file() {
        return Some(default);
    }
    errors.check(Err(InputError::new(
        "dockerfile",
        format!(
            "is empty and the context has no Dockerfile ({}); name the Dockerfile, or set 'image' to push an image built earlier",
            default.display()
        ),
        "app/Dockerfile",
    )))
}
