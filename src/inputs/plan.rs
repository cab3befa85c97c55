//! What a run will do, fully validated: the types [`super::Plan::from_raw`] builds.

use std::path::PathBuf;

use aws_sdk_ecr::types::{EncryptionType, ImageTagMutability};
use reqwest::Url;

use super::build_secrets::BuildSecret;
use super::cache::CachePlan;
use super::lifecycle::LifecyclePolicy;
use super::rules::aws::RoleArn;
use crate::ecs::TaskDefinition;
use crate::image::reference::ImageReference;
use crate::oci::layer::LayerEntry;
use crate::oci::Platform;

/// What this run will do, fully validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub region: String,
    pub identity: Identity,
    pub repository: RepositoryPlan,
    pub registry_url: Option<Url>,
    pub export_credentials: bool,
    /// How long an outage of the registry (every request failing, retried) may last before the
    /// push gives up: shared by all its requests.
    pub retry_budget: std::time::Duration,
    pub image: ImagePlan,
    pub github: GitHubPlan,
    /// A deploy of the image to an ECS service, after the push.
    pub deploy: Option<EcsPlan>,
}

/// A deploy to an ECS service: a new revision of its task definition with the image by digest.
#[derive(Debug, Clone)]
pub struct EcsPlan {
    pub cluster: String,
    pub service: String,
    /// The containers whose image becomes this one; empty: every container whose image is in
    /// this repository.
    pub containers: Vec<String>,
    pub task_definition: TaskDefinitionSource,
    /// Environment variables set in the new revision's containers.
    pub env: Vec<EcsEnv>,
    /// How long to wait for the rollout; `None`: do not wait.
    pub wait: Option<std::time::Duration>,
    /// How often the rollout is looked at.
    pub poll: std::time::Duration,
}

/// Where the new revision starts from.
#[derive(Debug, Clone)]
pub enum TaskDefinitionSource {
    /// The service's current task definition: nobody keeps a copy in sync.
    Service,
    /// A family (its latest active revision), `family:revision`, or an ARN.
    Named(String),
    /// A file in the workspace, read and checked with the inputs.
    File {
        path: String,
        definition: TaskDefinition,
    },
}

/// `CONTAINER:KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsEnv {
    pub container: String,
    pub key: String,
    pub value: String,
}

/// What the run asks of GitHub's API.
#[derive(Clone)]
pub struct GitHubPlan {
    /// `None`: the input was empty, and every API feature is off.
    pub token: Option<String>,
    /// `None`: not set, on for a pull request's run (see `steps::github::comment`).
    pub pr_comment: Option<bool>,
    /// The environment a deployment of the pushed digest is recorded in.
    pub deployment_environment: Option<String>,
}

/// Written by hand so that a `{:?}` of the plan never shows the token.
impl std::fmt::Debug for GitHubPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubPlan")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("pr_comment", &self.pr_comment)
            .field("deployment_environment", &self.deployment_environment)
            .finish()
    }
}

/// Which image to push, under which tags.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub source: ImageSource,
    /// Who moves the bytes: the Docker daemon, or registry-to-registry copies.
    pub engine: Engine,
    /// Platforms to keep from a multi-platform image (`os/arch[/variant]`); empty keeps all.
    pub platforms: Vec<Platform>,
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
    /// With a deploy, an image the destination repository already holds, by tag or digest
    /// (deploying a chosen commit): nothing is pushed, and tags are written only when asked.
    InRepository(String),
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
    pub builder: Builder,
    /// Read and masked while the inputs were parsed; never printed (see [`BuildSecret`]).
    pub secrets: Vec<BuildSecret>,
    pub cache: CachePlan,
    /// The one platform to build for; `None` builds for the daemon's own.
    pub platform: Option<Platform>,
    /// What the daemon holds once the image is pushed.
    pub load: Load,
    /// Build even when this repository holds an image built from the same inputs.
    pub rebuild: bool,
    /// Where an image built from the same inputs may be found and reused.
    pub reuse: Reuse,
}

/// What the daemon holds once the image is pushed, for later steps of the job that run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// A built image stays where the build left it; a reused one is not pulled (a later step
    /// that runs it pulls it, or asks with `true`).
    Auto,
    /// The image is in the daemon either way: a reused one is pulled.
    Always,
    /// Neither: a built image's names are removed once it is pushed.
    Never,
}

/// Where an image of the same build key is looked for. Anyone who can push to the repository
/// can push an image carrying any key, so how far the search goes is how far the repository's
/// pushers are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Only under the tags this run writes: a re-run of the same ref and commit.
    OwnTags,
    /// Also the images pushed last and the tag list: every pusher is trusted as this ref is.
    Repository,
    /// Always build.
    Off,
}

/// Which of the daemon's builders runs the Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// BuildKit when the daemon offers it, else the classic builder.
    Auto,
    BuildKit,
    Classic,
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
    pub tag_mutability: ImageTagMutability,
    pub encryption: EncryptionType,
    pub kms_key: Option<String>,
}
