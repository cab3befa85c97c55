//! The Docker daemon engine (bollard): inspect, build, tag and push. The daemon is the runner's
//! (`DOCKER_HOST`, else the default socket); credentials travel with each push request in the
//! `X-Registry-Auth` header, so nothing is written to a Docker config file.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ImportImageOptionsBuilder,
    PushImageOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::time::Duration;

use crate::error::{with_causes, Failure};
use crate::oci::{Facts, Platform};

/// How many output lines of the failing build step are kept for the error message.
const FAILED_STEP_LINES: usize = 40;

/// How long a pull or a push may go without a word from the daemon: it reports progress
/// several times a second while bytes move, so this long a silence is a stalled registry or
/// daemon, and the run says so rather than wait for the job's timeout. (A classic build may be
/// silent while a step runs, and a load answers only at its end: those wait as long as
/// BuildKit's build, `buildkit::SILENCE_LIMIT`.)
pub const TRANSFER_SILENCE: Duration = Duration::from_secs(5 * 60);

/// The next item of a daemon's stream, or an error when it says nothing for `limit`.
async fn next_within<S: Stream + Unpin>(
    stream: &mut S,
    limit: Duration,
    doing: &str,
) -> Result<Option<S::Item>, DockerError> {
    tokio::time::timeout(limit, stream.next())
        .await
        .map_err(|_| {
            DockerError::Daemon(format!(
                "the daemon reported nothing for {} s while {doing}",
                limit.as_secs()
            ))
        })
}

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon ({0})")]
    Unreachable(String),
    #[error("{0}")]
    Daemon(String),
    #[error("the build failed")]
    Build(BuildFailure),
    /// The registry refused the credentials the daemon pushed with.
    #[error("{0}")]
    CredentialsRefused(String),
}

/// A failed push, told apart when the registry refused the credentials. The daemon reports a
/// registry's answer only as text in its stream (`... 401 Unauthorized`, or distribution's
/// `unauthorized: ...` code), so this is read from the text: the one place the daemon's
/// words decide what happens next (a renewal of the credentials, once).
fn push_error(e: bollard::errors::Error) -> DockerError {
    let text = with_causes(&e);
    let lower = text.to_ascii_lowercase();
    if lower.contains("401 unauthorized") || lower.contains("unauthorized:") {
        DockerError::CredentialsRefused(text)
    } else {
        DockerError::Daemon(text)
    }
}

impl DockerError {
    /// The failure as the user reads it.
    pub fn into_failure(self) -> Failure {
        match self {
            DockerError::Unreachable(why) => Failure::new(
                "Docker daemon not reachable",
                format!(
                    "Cannot reach the Docker daemon: {why}. On GitHub-hosted runners it is at \
                     /var/run/docker.sock; elsewhere set DOCKER_HOST (e.g. unix:///run/docker.sock \
                     or tcp://127.0.0.1:2375)."
                ),
            ),
            DockerError::Daemon(why) => Failure::new("Docker daemon error", why),
            DockerError::CredentialsRefused(why) => Failure::new(
                "Registry refused the credentials",
                format!("The Docker daemon's push was refused: {why}"),
            ),
            DockerError::Build(f) => {
                let mut message = String::from("The image build failed");
                if let Some(step) = &f.step {
                    message.push_str(&format!(" at {step}"));
                }
                message.push_str(":\n");
                for line in &f.output {
                    message.push_str(line);
                    message.push('\n');
                }
                message.push_str(&f.message);
                Failure::new("Build failed", message)
            }
        }
    }
}

impl From<DockerError> for Failure {
    fn from(e: DockerError) -> Self {
        e.into_failure()
    }
}

/// Where a build stopped: the step, its last lines of output, and the daemon's message.
#[derive(Debug, Clone)]
pub struct BuildFailure {
    pub step: Option<String>,
    pub output: Vec<String>,
    pub message: String,
}

/// An image in the daemon.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// With the classic image store, the digest of the image config (which a pushed manifest
    /// references); with the containerd store, the digest of the manifest or index itself.
    pub id: String,
    /// `registry/repo@sha256:...` of the manifests this daemon pushed or pulled.
    pub repo_digests: Vec<String>,
    pub size: i64,
    pub layers: usize,
    /// What the image is to whoever runs it, to recognise it in a registry under another
    /// config digest (see [`Facts`]).
    pub facts: Facts,
}

impl LocalImage {
    /// Whether `manifest_digest` (whose config is `config_digest`) in `repository` (as
    /// `host/repo`) is this image, under either image store.
    pub fn is(&self, repository: &str, manifest_digest: &str, config_digest: Option<&str>) -> bool {
        config_digest == Some(self.id.as_str())
            || manifest_digest == self.id
            || self
                .repo_digests
                .iter()
                .any(|d| d == &format!("{repository}@{manifest_digest}"))
    }
}

/// The daemon as `/version` and `/info` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    /// The engine's version (`20.10.24`).
    pub version: String,
    /// The newest Engine API it speaks (`1.41`).
    pub api_version: String,
    pub os: String,
    pub arch: String,
    /// Images kept by containerd's snapshotters rather than the classic graph driver.
    pub containerd_store: bool,
}

impl DaemonInfo {
    /// BuildKit is built into Linux daemons from Engine API 1.39 (Docker 18.09).
    pub fn has_buildkit(&self) -> bool {
        let api = self.api_version.split_once('.').and_then(|(major, minor)| {
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        });
        self.os == "linux" && api.is_some_and(|v| v >= (1, 39))
    }

    /// `daemon 20.10.24, API 1.41, store: classic`.
    pub fn describe(&self) -> String {
        format!(
            "daemon {}, API {}, store: {}",
            self.version,
            self.api_version,
            if self.containerd_store {
                "containerd"
            } else {
                "classic"
            }
        )
    }
}

/// What the daemon reported while pushing.
#[derive(Debug, Clone, Default)]
pub struct DaemonPush {
    pub layers_uploaded: usize,
    pub layers_present: usize,
}

/// The build context's tar: in memory, or streamed as it is packed.
pub enum ContextBody {
    Bytes(Vec<u8>),
    Stream(Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>),
}

/// What a build needs besides the context.
pub struct BuildRequest<'a> {
    pub context: ContextBody,
    pub dockerfile: &'a str,
    /// `repo:tag` to name the result, if any.
    pub tag: Option<&'a str>,
    pub build_args: &'a [(String, String)],
    pub target: Option<&'a str>,
}

pub struct DockerEngine {
    docker: Docker,
}

impl DockerEngine {
    /// Connects and agrees on an API version with the daemon (runners run older engines).
    pub async fn connect() -> Result<Self, DockerError> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| DockerError::Unreachable(with_causes(&e)))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| DockerError::Unreachable(with_causes(&e)))?;
        Ok(Self { docker })
    }

    /// The image, or `None` when the daemon has no image of that name or id.
    pub async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, DockerError> {
        match self.docker.inspect_image(name).await {
            Ok(image) => {
                let diff_ids = image
                    .root_fs
                    .as_ref()
                    .and_then(|r| r.layers.clone())
                    .unwrap_or_default();
                let settings = image
                    .config
                    .as_ref()
                    .and_then(|c| serde_json::to_value(c).ok());
                let facts = Facts::of_parts(
                    image.architecture.as_deref(),
                    image.os.as_deref(),
                    image.variant.as_deref(),
                    image.created.as_deref(),
                    settings.as_ref(),
                    &diff_ids,
                );
                Ok(Some(LocalImage {
                    id: image.id.unwrap_or_default(),
                    repo_digests: image.repo_digests.unwrap_or_default(),
                    size: image.size.unwrap_or_default(),
                    layers: diff_ids.len(),
                    facts,
                }))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(DockerError::Daemon(with_causes(&e))),
        }
    }

    /// Builds with the classic builder, handing each output line to `on_line`; returns the
    /// image id.
    pub async fn build(
        &self,
        request: BuildRequest<'_>,
        mut on_line: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let build_args: HashMap<&str, &str> = request
            .build_args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(request.dockerfile)
            .rm(true)
            .forcerm(true)
            .buildargs(&build_args);
        if let Some(tag) = request.tag {
            options = options.t(tag);
        }
        if let Some(target) = request.target {
            options = options.target(target);
        }
        let mut stream = self.docker.build_image(
            options.build(),
            None,
            Some(match request.context {
                ContextBody::Bytes(tar) => bollard::body_full(tar.into()),
                ContextBody::Stream(stream) => bollard::body_try_stream(stream),
            }),
        );
        let mut image_id = None;
        let mut step = None;
        let mut step_output: Vec<String> = Vec::new();
        let silence = crate::engine::buildkit::SILENCE_LIMIT;
        while let Some(item) = next_within(&mut stream, silence, "building").await? {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(DockerError::Build(BuildFailure {
                        step,
                        output: step_output,
                        message: error,
                    }))
                }
                Err(e) => return Err(DockerError::Daemon(with_causes(&e))),
            };
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Build(BuildFailure {
                    step,
                    output: step_output,
                    message: detail.message.unwrap_or_default(),
                }));
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                    if line.starts_with("Step ") {
                        step = Some(line.to_string());
                        step_output.clear();
                    } else {
                        let cut = crate::engine::buildkit::progress::pieces(line)[0];
                        step_output.push(cut.to_string());
                        if step_output.len() > FAILED_STEP_LINES {
                            step_output.remove(0);
                        }
                    }
                }
            }
            if let Some(aux) = info.aux {
                image_id = aux.id.or(image_id);
            }
        }
        image_id.ok_or_else(|| DockerError::Daemon("the build reported no image id".into()))
    }

    /// What the daemon is and can do, for choosing a builder and saying why.
    pub async fn describe(&self) -> Result<DaemonInfo, DockerError> {
        let daemon = |e: bollard::errors::Error| DockerError::Daemon(with_causes(&e));
        let version = self.docker.version().await.map_err(daemon)?;
        let info = self.docker.info().await.map_err(daemon)?;
        // The containerd image store shows as a snapshotter in the driver's status.
        let containerd_store = info.driver_status.unwrap_or_default().iter().any(|pair| {
            pair.iter()
                .any(|v| v.starts_with("io.containerd.snapshotter"))
        });
        Ok(DaemonInfo {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: version.os.unwrap_or_else(|| "linux".into()),
            arch: version.arch.unwrap_or_else(|| "amd64".into()),
            containerd_store,
        })
    }

    /// The daemon's platform as an image index names it (`linux/amd64`), without a variant:
    /// a wanted platform without one takes every variant.
    pub async fn platform(&self) -> Result<Platform, DockerError> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| DockerError::Daemon(with_causes(&e)))?;
        Ok(Platform::new(
            version.os.as_deref().unwrap_or("linux"),
            version.arch.as_deref().unwrap_or("amd64"),
            None,
        ))
    }

    /// Pulls `name@digest`, with credentials for the image's registry when given, handing
    /// each status line to `on_line`.
    pub async fn pull(
        &self,
        name: &str,
        digest: &str,
        credentials: Option<DockerCredentials>,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), DockerError> {
        // The digest goes in `tag`: an empty tag would pull every tag of the repository.
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(digest)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        let mut last = String::new();
        let doing = format!("pulling {name}");
        while let Some(item) = next_within(&mut stream, TRANSFER_SILENCE, &doing).await? {
            let info = item.map_err(|e| match e {
                bollard::errors::Error::DockerStreamError { error } => DockerError::Daemon(error),
                e => DockerError::Daemon(with_causes(&e)),
            })?;
            if let Some(status) = info
                .status
                .filter(|s| s != "Downloading" && s != "Extracting")
            {
                let line = match info.id {
                    Some(id) => format!("{id}: {status}"),
                    None => status,
                };
                // Progress lines repeat; show each state once.
                if line != last {
                    on_line(&line);
                }
                last = line;
            }
        }
        Ok(())
    }

    /// Loads an image archive (the format of `docker save`); layers the daemon already has
    /// need not be in it.
    pub async fn load(
        &self,
        archive: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    ) -> Result<(), DockerError> {
        let mut stream = self.docker.import_image_stream(
            ImportImageOptionsBuilder::default().quiet(true).build(),
            archive,
            None,
        );
        while let Some(item) = next_within(
            &mut stream,
            crate::engine::buildkit::SILENCE_LIMIT,
            "loading",
        )
        .await?
        {
            item.map_err(|e| match e {
                bollard::errors::Error::DockerStreamError { error } => DockerError::Daemon(error),
                e => DockerError::Daemon(with_causes(&e)),
            })?;
        }
        Ok(())
    }

    /// The image as `docker save` writes it (read by [`super::export`]), streamed.
    pub fn save(
        &self,
        name: &str,
    ) -> Pin<Box<dyn Stream<Item = Result<Bytes, bollard::errors::Error>> + Send>> {
        Box::pin(self.docker.export_image(name))
    }

    /// Gives the image another name (`repo:tag`) in the daemon.
    pub async fn tag(&self, image: &str, repo: &str, tag: &str) -> Result<(), DockerError> {
        self.docker
            .tag_image(
                image,
                Some(
                    TagImageOptionsBuilder::default()
                        .repo(repo)
                        .tag(tag)
                        .build(),
                ),
            )
            .await
            .map_err(|e| DockerError::Daemon(with_causes(&e)))
    }

    /// Removes a name; the image itself stays while other names or containers use it.
    pub async fn untag(&self, name: &str) -> Result<(), DockerError> {
        self.docker
            .remove_image(
                name,
                Some(RemoveImageOptionsBuilder::default().noprune(true).build()),
                None,
            )
            .await
            .map(|_| ())
            .map_err(|e| DockerError::Daemon(with_causes(&e)))
    }

    /// Pushes `repo:tag` with the given registry credentials.
    pub async fn push(
        &self,
        repo: &str,
        tag: &str,
        username: &str,
        password: &str,
        server: &str,
    ) -> Result<DaemonPush, DockerError> {
        let credentials = DockerCredentials {
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        };
        let mut stream = self.docker.push_image(
            repo,
            Some(PushImageOptionsBuilder::default().tag(tag).build()),
            Some(credentials),
        );
        let mut report = DaemonPush::default();
        let doing = format!("pushing {repo}:{tag}");
        while let Some(item) = next_within(&mut stream, TRANSFER_SILENCE, &doing).await? {
            let info = item.map_err(push_error)?;
            let Some(status) = info.status else { continue };
            // One final status per layer. The pushed digest is not taken from the status text:
            // the caller reads the tag back from the registry and checks it is this image.
            if status == "Pushed" {
                report.layers_uploaded += 1;
            } else if status == "Layer already exists" || status.starts_with("Mounted from") {
                report.layers_present += 1;
            }
        }
        Ok(report)
    }
}
