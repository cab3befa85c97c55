//! The build inputs: the context and Dockerfile, the builder, build secrets (read and masked
//! here), the cache, the platform, and whether the image stays in the daemon.

use std::path::{Path, PathBuf};

use super::cache::{self, CachePlan};
use super::rules::paths::{
    at_most, inside, resolved_workspace, workspace_path, Candidate, PathKind,
};
use super::rules::values;
use super::{build_secrets, present, BuildPlan, Builder, Errors, Load, RawInputs, Reuse};
use crate::error::InputError;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::dockerignore::DockerIgnore;
use crate::oci::Platform;

/// A Dockerfile's largest size: real ones are a few KiB; this bounds what is read and sent.
const DOCKERFILE_MAX_BYTES: u64 = 1 << 20;

/// The words `builder` accepts.
const BUILDERS: &[(&str, Builder)] = &[
    ("auto", Builder::Auto),
    ("buildkit", Builder::BuildKit),
    ("classic", Builder::Classic),
];

/// The words `reuse` accepts.
const LOADS: &[(&str, Load)] = &[
    ("auto", Load::Auto),
    ("true", Load::Always),
    ("false", Load::Never),
];

const REUSES: &[(&str, Reuse)] = &[
    ("own-tags", Reuse::OwnTags),
    ("repository", Reuse::Repository),
    ("off", Reuse::Off),
];

/// The build inputs, each with whether it is set. The runner passes every input's default, so
/// an input with a default counts as set only when it says something else.
pub(super) fn inputs_set(raw: &RawInputs) -> [(&'static str, bool); 11] {
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
        ("load", other_than(&raw.load, "auto")),
        ("rebuild", other_than(&raw.rebuild, "false")),
        ("reuse", other_than(&raw.reuse, "own-tags")),
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
    if let Some(context) = &context {
        dockerignore(context, errors);
    }
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
    let load = errors.optional(&raw.load, Load::Auto, |v| {
        values::one_of("load", v.trim(), LOADS)
    });
    let rebuild = errors.optional(&raw.rebuild, false, |v| values::boolean("rebuild", v));
    let reuse = errors.optional(&raw.reuse, Reuse::OwnTags, |v| {
        values::one_of("reuse", v, REUSES)
    });
    if builder == Some(Builder::Classic) {
        refuse_without_buildkit(
            secrets.as_deref(),
            cache.as_ref(),
            platform.as_ref(),
            errors,
        );
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
        Some(rebuild),
        Some(reuse),
    ) = (
        context, dockerfile, build_args, target, builder, secrets, cache, platform, load, rebuild,
        reuse,
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
        rebuild,
        reuse,
    })
}

/// What only BuildKit does, asked of the classic builder.
fn refuse_without_buildkit(
    secrets: Option<&[build_secrets::BuildSecret]>,
    cache: Option<&CachePlan>,
    platform: Option<&Option<Platform>>,
    errors: &mut Errors,
) {
    if secrets.is_some_and(|s| !s.is_empty()) {
        // The builder is what to change: the Dockerfile's secret mounts need the secrets.
        errors.refuse(InputError::new(
            "builder",
            "is classic, but build-secrets is set and build secrets need BuildKit; use auto or \
             buildkit (or leave build-secrets empty)",
            "auto",
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
    if matches!(platform, Some(Some(_))) {
        errors.refuse(InputError::new(
            "platform",
            "is set, but building for a platform other than the daemon's needs BuildKit and \
             builder is classic; use builder: auto (or buildkit), or leave platform empty",
            "linux/arm64",
        ));
    }
}

/// One `os/arch[/variant]`; a list is refused, as a build makes one image.
fn platform(value: &str) -> Result<Platform, InputError> {
    let example = "linux/arm64";
    let named: Vec<&str> = value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if named.len() > 1 {
        return Err(InputError::new(
            "platform",
            format!(
                "names several platforms ({}), but a build makes an image for one",
                named.join(", ")
            ),
            example,
        ));
    }
    Platform::parse(value).map_err(|why| InputError::new("platform", why, example))
}

/// The `dockerfile` input, or the context's `Dockerfile` when it has one: either resolved,
/// inside the workspace and at most [`DOCKERFILE_MAX_BYTES`].
fn dockerfile(
    raw: &RawInputs,
    ctx: &RunContext,
    context: &Path,
    errors: &mut Errors,
) -> Option<PathBuf> {
    let example = "app/Dockerfile";
    let given = present(&raw.dockerfile);
    let shown = given.unwrap_or("the context's Dockerfile");
    let candidate = Candidate {
        input: "dockerfile",
        shown,
        example,
    };
    let found = match given {
        Some(path) => workspace_path("dockerfile", path, &ctx.workspace, PathKind::File, example),
        None => default_dockerfile(&candidate, ctx, context),
    };
    let found = found.and_then(|path| {
        at_most(&candidate, &path, DOCKERFILE_MAX_BYTES, "Dockerfile").map(|()| path)
    });
    errors.check(found)
}

/// The context's `Dockerfile`, resolved inside the workspace.
fn default_dockerfile(
    candidate: &Candidate<'_>,
    ctx: &RunContext,
    context: &Path,
) -> Result<PathBuf, InputError> {
    let default = context.join("Dockerfile");
    if std::fs::symlink_metadata(&default).is_err() {
        return Err(InputError::new(
            "dockerfile",
            format!(
                "is empty and the context has no Dockerfile ({}); name the Dockerfile, or set 'image' to push an image built earlier",
                default.display()
            ),
            candidate.example,
        ));
    }
    let root = resolved_workspace("dockerfile", &ctx.workspace, candidate.example)?;
    inside(candidate, &default, &root, PathKind::File)
}

/// The context's `.dockerignore`, read and parsed now, so that one leading out of the context,
/// too large or with a bad line stops the run before any call.
fn dockerignore(context: &Path, errors: &mut Errors) {
    if let Err(why) = DockerIgnore::read(context) {
        errors.refuse(InputError::new("context", why, "app"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan_logged, plan_with, workspace};
    use super::*;
    use crate::inputs::{BuildSecret, ImageSource, Plan};

    fn build_of(plan: Plan) -> BuildPlan {
        match plan.image.source {
            ImageSource::Build(build) => build,
            other => panic!("not a build: {other:?}"),
        }
    }

    /// The inputs of each refusal, in order.
    fn refused(pairs: &[(&str, &str)]) -> Vec<&'static str> {
        let errors = plan_with(pairs).unwrap_err();
        errors.iter().map(|e| e.input).collect()
    }

    #[test]
    fn defaults_build_with_the_best_builder_an_automatic_cache_and_keep_the_image() {
        let build = build_of(plan_with(&[]).unwrap());
        assert_eq!(build.builder, Builder::Auto);
        assert!(build.secrets.is_empty());
        assert_eq!(build.cache, CachePlan::Auto);
        assert_eq!(build.platform, None);
        assert_eq!(build.load, Load::Auto);
        assert_eq!(build.reuse, Reuse::OwnTags);
    }

    #[test]
    fn reuse_takes_own_tags_repository_or_off_and_names_the_rule_otherwise() {
        for (word, reuse) in [
            ("own-tags", Reuse::OwnTags),
            ("Repository", Reuse::Repository),
            ("off", Reuse::Off),
        ] {
            let build = build_of(plan_with(&[("INPUT_REUSE", word)]).unwrap());
            assert_eq!(build.reuse, reuse, "{word}");
        }
        let errors = plan_with(&[("INPUT_REUSE", "everywhere")]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            (errors[0].input, errors[0].example.as_str()),
            ("reuse", "own-tags")
        );
        assert!(
            errors[0].rule.contains("own-tags, repository, off"),
            "{errors:?}"
        );
        assert_eq!(
            refused(&[("INPUT_IMAGE", "web-app:1"), ("INPUT_REUSE", "off")]),
            ["reuse"]
        );
        assert!(plan_with(&[("INPUT_IMAGE", "web-app:1"), ("INPUT_REUSE", "own-tags")]).is_ok());
    }

    #[test]
    fn every_build_input_read() {
        std::fs::write(workspace().join("every-input.npmrc"), "token-6d1e\n").unwrap();
        let (plan, log) = plan_logged(&[
            ("INPUT_BUILDER", "BuildKit"),
            ("INPUT_BUILD-SECRETS", "id=npmrc,src=every-input.npmrc"),
            ("INPUT_CACHE", "from=registry.example/app:main\nto=inline"),
            ("INPUT_PLATFORM", "linux/arm64/v8"),
            ("INPUT_LOAD", "false"),
        ]);
        let build = build_of(plan.unwrap());
        assert_eq!(build.builder, Builder::BuildKit);
        assert_eq!(
            build.secrets,
            [BuildSecret {
                id: "npmrc".into(),
                value: b"token-6d1e\n".to_vec()
            }]
        );
        assert_eq!(
            build.cache,
            CachePlan::Explicit {
                from: vec!["registry.example/app:main".into()],
                inline: true
            }
        );
        assert_eq!(
            build.platform,
            Some(Platform::new("linux", "arm64", Some("v8")))
        );
        assert_eq!(build.load, Load::Never);
        assert_eq!(log.text(), "::add-mask::token-6d1e\n");
        assert_eq!(
            plan_with(&[("INPUT_BUILDER", "classic"), ("INPUT_CACHE", "off")])
                .map(|p| build_of(p).builder),
            Ok(Builder::Classic)
        );
    }

    #[test]
    fn a_secret_is_masked_even_when_another_input_is_refused() {
        std::fs::write(workspace().join("refused-run.npmrc"), "token-93f0").unwrap();
        let (plan, log) = plan_logged(&[
            ("INPUT_BUILD-SECRETS", "id=npmrc,src=refused-run.npmrc"),
            ("INPUT_TAGS", "-nightly"),
        ]);
        assert_eq!(plan.unwrap_err()[0].input, "tags");
        assert_eq!(log.text(), "::add-mask::token-93f0\n");
    }

    #[test]
    fn bad_values_are_named() {
        for (input, value, words, example) in [
            (
                "builder",
                "kaniko",
                "'kaniko' must be one of auto, buildkit, classic",
                "auto",
            ),
            (
                "platform",
                "arm64",
                "'arm64' is not a platform: os/architecture[/variant], lower-case",
                "linux/arm64",
            ),
            (
                "platform",
                "linux/amd64,\nlinux/arm64",
                "names several platforms (linux/amd64, linux/arm64), but a build makes an image for one",
                "linux/arm64",
            ),
            ("load", "no", "'no' must be one of auto, true, false", "auto"),
        ] {
            let errors = plan_with(&[(&format!("INPUT_{}", input.to_uppercase()), value)])
                .unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(
                (errors[0].input, errors[0].rule.as_str(), errors[0].example.as_str()),
                (input, words, example)
            );
        }
    }

    #[test]
    fn what_only_buildkit_does_is_refused_with_the_classic_builder() {
        std::fs::write(workspace().join("classic.npmrc"), "token-c1a5").unwrap();
        let errors = plan_with(&[
            ("INPUT_BUILDER", "classic"),
            ("INPUT_BUILD-SECRETS", "id=npmrc,src=classic.npmrc"),
            ("INPUT_CACHE", "to=inline"),
            ("INPUT_PLATFORM", "linux/arm64"),
        ])
        .unwrap_err();
        let found: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.input, e.example.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("builder", "auto"),
                ("cache", "auto"),
                ("platform", "linux/arm64")
            ]
        );
        assert!(
            errors[0].rule.contains("build secrets need BuildKit"),
            "{errors:?}"
        );
        assert!(errors[1].rule.contains("needs BuildKit"), "{errors:?}");
        for cache in ["auto", "off"] {
            assert!(plan_with(&[("INPUT_BUILDER", "classic"), ("INPUT_CACHE", cache)]).is_ok());
        }
    }

    #[test]
    fn build_inputs_are_refused_with_an_image_or_a_base_image_but_not_their_defaults() {
        let build_inputs = [
            ("INPUT_BUILDER", "buildkit"),
            ("INPUT_BUILD-SECRETS", "id=npmrc,env=NPM_TOKEN"),
            ("INPUT_CACHE", "off"),
            ("INPUT_PLATFORM", "linux/arm64"),
            ("INPUT_LOAD", "false"),
        ];
        for mode in [
            ("INPUT_IMAGE", "web-app:1"),
            ("INPUT_BASE-IMAGE", "nginx:1.27"),
        ] {
            let mut given = vec![mode];
            given.extend(build_inputs);
            assert_eq!(
                refused(&given),
                ["builder", "build-secrets", "cache", "platform", "load"],
                "{mode:?}"
            );
            let defaults = [
                mode,
                ("INPUT_BUILDER", "auto"),
                ("INPUT_CACHE", "Auto"),
                ("INPUT_LOAD", "AUTO"),
            ];
            assert!(plan_with(&defaults).is_ok(), "{mode:?}");
        }
    }
}
