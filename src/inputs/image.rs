//! The image section: where the image comes from (a build, a daemon image, a registry image, a
//! patched base), who moves its bytes, and the tags it is pushed under.

use super::rules::values;
use super::{build, patch};
use super::{present, Engine, Errors, ImagePlan, ImageSource, PatchPlan, RawInputs};
use crate::error::InputError;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::reference::ImageReference;
use crate::image::tags::{self, TagValues};
use crate::oci::Platform;

/// The words `engine` accepts.
const ENGINES: &[(&str, Engine)] = &[
    ("auto", Engine::Auto),
    ("docker", Engine::Docker),
    ("registry", Engine::Registry),
];

pub(super) fn parse(
    raw: &RawInputs,
    ctx: &RunContext,
    deploying: bool,
    workflow: &Workflow,
    errors: &mut Errors,
) -> Option<ImagePlan> {
    let engine = errors.optional(&raw.engine, Engine::Auto, |v| {
        values::one_of("engine", v, ENGINES)
    });
    let platforms = errors.optional(&raw.platforms, Vec::new(), |v| {
        values::platforms("platforms", v)
    });
    let source_credentials = source_credentials(raw, errors);
    let build_args = errors.optional(&raw.build_args, Vec::new(), |v| {
        values::key_values("build-args", v, "NODE_ENV=production")
    });
    let target = errors.optional(&raw.target, None, |v| values::target("target", v).map(Some));
    let labels = errors.optional(&raw.labels, Vec::new(), |v| {
        values::key_values("labels", v, "org.opencontainers.image.title=web-app")
    });
    if present(&raw.base_image).is_none() {
        errors.refuse_each_set(
            patch_inputs_set(raw),
            "only applies in patch mode, with base-image set",
        );
    }
    let source =
        source(raw, ctx, engine, build_args, target, workflow, errors).map(|source| {
            match (source, present(&raw.image)) {
                (
                    ImageSource::Local(_) | ImageSource::LocalOrRemote(..) | ImageSource::Remote(_),
                    Some(name),
                ) if deploying && names_a_stored_image(name) => {
                    ImageSource::InRepository(name.to_string())
                }
                (source, _) => source,
            }
        });
    refuse_mismatches(
        source.as_ref(),
        engine,
        platforms.as_deref(),
        source_credentials.as_ref().is_some_and(Option::is_some),
        errors,
    );
    let tags = match &source {
        Some(ImageSource::InRepository(reference)) => {
            in_repository_tags(raw, ctx, reference, errors)
        }
        _ => tags(raw, ctx, errors),
    };
    let push = errors.optional(&raw.push, true, |v| values::boolean("push", v));
    let (
        Some(source),
        Some(engine),
        Some(platforms),
        Some(source_credentials),
        Some(labels),
        Some(tags),
        Some(push),
    ) = (
        source,
        engine,
        platforms,
        source_credentials,
        labels,
        tags,
        push,
    )
    else {
        return None;
    };
    Some(ImagePlan {
        source,
        engine,
        platforms,
        source_credentials,
        labels,
        tags,
        push,
    })
}

/// The patch-mode inputs, each with whether it is set.
fn patch_inputs_set(raw: &RawInputs) -> [(&'static str, bool); 6] {
    [
        ("files", present(&raw.files).is_some()),
        ("env", present(&raw.env).is_some()),
        ("workdir", present(&raw.workdir).is_some()),
        ("user", present(&raw.user).is_some()),
        ("entrypoint", present(&raw.entrypoint).is_some()),
        ("cmd", present(&raw.cmd).is_some()),
    ]
}

/// Username and password for the source registry: both or neither, and only with an image
/// that can come from a registry.
fn source_credentials(raw: &RawInputs, errors: &mut Errors) -> Option<Option<(String, String)>> {
    let credentials = match (
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
        && credentials.as_ref().is_some_and(Option::is_some)
    {
        errors.refuse(InputError::new(
            "base-image-username",
            "only applies to an image from a registry: set base-image, or image to a registry image",
            "",
        ));
    }
    credentials
}

/// The source by mode: `image` pushes an image as it is, `base-image` patches one, neither
/// builds the Dockerfile. Inputs of another mode are refused.
fn source(
    raw: &RawInputs,
    ctx: &RunContext,
    engine: Option<Engine>,
    build_args: Option<Vec<(String, String)>>,
    target: Option<Option<String>>,
    workflow: &Workflow,
    errors: &mut Errors,
) -> Option<ImageSource> {
    match (present(&raw.image), present(&raw.base_image)) {
        (Some(_), Some(_)) => {
            errors.refuse(InputError::new(
                "base-image",
                "cannot be combined with 'image': 'image' pushes an image as it is, 'base-image' \
                 patches a registry image; use one of the two",
                "",
            ));
            None
        }
        (Some(name), None) => {
            errors.refuse_each_set(
                build::inputs_set(raw)
                    .into_iter()
                    .chain([("labels", present(&raw.labels).is_some())]),
                "only applies when building; with 'image' the image is pushed exactly as it was built",
            );
            image_source(name, engine, errors)
        }
        (None, Some(base)) => {
            errors.refuse_each_set(
                build::inputs_set(raw),
                "only applies when building from a Dockerfile; with 'base-image' the image is \
                 patched with 'files', 'env' and the other patch inputs",
            );
            patch_plan(raw, base, ctx, errors).map(ImageSource::Patch)
        }
        (None, None) => {
            build::plan(raw, ctx, build_args, target, workflow, errors).map(ImageSource::Build)
        }
    }
}

/// Combinations the chosen source and engine cannot honour.
fn refuse_mismatches(
    source: Option<&ImageSource>,
    engine: Option<Engine>,
    platforms: Option<&[Platform]>,
    has_credentials: bool,
    errors: &mut Errors,
) {
    if matches!(source, Some(ImageSource::Local(_))) && has_credentials {
        errors.refuse(InputError::new(
            "base-image-username",
            "only applies to an image from a registry, and 'image' names one in the Docker \
             daemon here (give its registry host, or engine: registry, to copy it from a registry)",
            "",
        ));
    }
    match (source, engine, platforms) {
        (Some(ImageSource::Build(_)), Some(Engine::Registry), _) => {
            errors.refuse(InputError::new(
                "engine",
                "is registry, but building from a Dockerfile needs the Docker daemon; use auto \
                 or docker, or set base-image or a remote image",
                "auto",
            ));
        }
        (Some(ImageSource::Build(_) | ImageSource::Local(_)), _, Some(p)) if !p.is_empty() => {
            errors.refuse(InputError::new(
                "platforms",
                "only applies to an image from a registry (base-image, or a remote image); a \
                 build or a local image has one platform (to build for another, use 'platform')",
                "",
            ));
        }
        (Some(ImageSource::Patch(_)), Some(Engine::Docker), Some(p)) if p.len() > 1 => {
            errors.refuse(InputError::new(
                "platforms",
                "names several platforms, but the docker engine patches one image; use engine \
                 registry (or auto) to patch several",
                "linux/amd64",
            ));
        }
        _ => {}
    }
}

/// The `tags` lines expanded, or the default tags; at least one.
fn tags(raw: &RawInputs, ctx: &RunContext, errors: &mut Errors) -> Option<Vec<String>> {
    let tags = match present(&raw.tags) {
        Some(lines) => {
            let values =
                TagValues::from_event(&ctx.event, ctx.started_at.format("%Y%m%d").to_string());
            errors.check(tags::expand(lines, &values))?
        }
        None => tags::default_tags(&ctx.event),
    };
    if tags.is_empty() {
        errors.refuse(InputError::new(
            "tags",
            "gives no tag in this run (every line's placeholder is empty here, or the run has no commit or ref to derive tags from)",
            "latest",
        ));
        return None;
    }
    Some(tags)
}

/// With a deploy, a bare tag (`sha-4f3c2b1`) or a digest names an image of this repository;
/// an image in the daemon is named with its tag (`web-app:latest`).
fn names_a_stored_image(name: &str) -> bool {
    crate::oci::Digest::parse(name).is_ok()
        || (tags::is_valid(name) && !name.contains(['/', ':', '@']))
}

/// An image already in the repository keeps its tags: the `tags` lines are written when set,
/// else the tag it was named by (already there, so nothing is written), else none.
fn in_repository_tags(
    raw: &RawInputs,
    ctx: &RunContext,
    reference: &str,
    errors: &mut Errors,
) -> Option<Vec<String>> {
    if present(&raw.tags).is_some() {
        return tags(raw, ctx, errors);
    }
    if crate::oci::Digest::parse(reference).is_ok() {
        return Some(Vec::new());
    }
    Some(vec![reference.to_string()])
}

/// What `image` names, by engine: a daemon image (docker), a registry image (registry), or
/// either, decided at run time (auto).
fn image_source(name: &str, engine: Option<Engine>, errors: &mut Errors) -> Option<ImageSource> {
    match engine? {
        Engine::Docker => errors
            .check(values::image_name("image", name))
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
            let name = errors.check(values::image_name("image", name))?;
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
    let base = errors.check(ImageReference::parse(base).map_err(|why| {
        InputError::new(
            "base-image",
            format!("'{base}' is not an image reference: {why}"),
            "docker.io/scicatproject/backend-next:v4.8.0",
        )
    }));
    let files = errors.optional(&raw.files, Vec::new(), |v| patch::files(v, &ctx.workspace));
    let env = errors.optional(&raw.env, Vec::new(), |v| {
        values::key_values("env", v, "NODE_ENV=production")
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
    let (
        Some(base),
        Some(files),
        Some(env),
        Some(workdir),
        Some(user),
        Some(entrypoint),
        Some(cmd),
    ) = (base, files, env, workdir, user, entrypoint, cmd)
    else {
        return None;
    };
    Some(PatchPlan {
        base,
        files,
        env,
        workdir,
        user,
        entrypoint,
        cmd,
    })
}
