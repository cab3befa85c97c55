//! A build through BuildKit's own API (`Control.Solve` over the daemon's `/grpc`, `grpc.rs`), as
//! buildx's `docker` driver builds. The `/build` endpoint exports a cache only inline, in the
//! image: a registry cache, which can hold every stage of a multi-stage build (`mode=max`), is
//! exported only by a solve. The daemon's BuildKit exports it only with the containerd image
//! store; the classic store's BuildKit knows no registry cache exporter.
//!
//! The same session as a `/build` serves the files, secrets and registry credentials; progress
//! comes from `Control.Status`, the same messages `/build` wraps in its stream.

use std::collections::HashMap;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::{
    CacheOptions, CacheOptionsEntry, SolveRequest, StatusRequest, StatusResponse,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::progress::Progress;
use super::{grpc, session, BuildContext, BuildKitRequest, Built, RegistryCache};
use crate::engine::docker::{BuildFailure, DockerError};
use crate::error::with_causes;

/// How long the last statuses may take to arrive once the solve has answered: they carry the
/// failing step's last lines.
const LAST_WORDS: Duration = Duration::from_secs(5);

/// Builds through `Control.Solve`, handing each progress line to `on_line`. The image is named
/// `request.tag` in the daemon (the `moby` exporter, as `/build` names it).
pub async fn build(
    endpoint: &super::transport::Endpoint,
    request: BuildKitRequest<'_>,
    mut on_line: impl FnMut(&str),
) -> Result<Built, DockerError> {
    let BuildContext::Session(files) = &request.context else {
        return Err(DockerError::Daemon(
            "a build with a registry cache reads its files through the session only".into(),
        ));
    };
    let session = session::open(
        endpoint,
        request.api_version,
        request.provided.clone(),
        Some(files.clone()),
    )
    .await
    .map_err(|e| DockerError::Unreachable(with_causes(&e)))?;
    let channel = grpc::channel(endpoint, request.api_version)
        .await
        .map_err(|e| DockerError::Unreachable(format!("BuildKit's API: {}", with_causes(&e))))?;
    let client = ControlClient::new(channel);
    let build_ref = format!("ship-to-ecr-{:032x}", rand::random::<u128>());
    let (sender, mut statuses) = mpsc::channel(64);
    let _status = Aborted(tokio::spawn(forward_status(
        client.clone(),
        build_ref.clone(),
        sender,
    )));
    let mut progress = Progress::default();
    let mut solver = client.clone();
    let solve = solver.solve(solve_request(&request, &session.id, &build_ref));
    tokio::pin!(solve);
    let answer = loop {
        tokio::select! {
            answer = &mut solve => break answer,
            status = tokio::time::timeout(request.silence_limit, statuses.recv()) => match status {
                Err(_) => return Err(silent(request.silence_limit, session.is_closed())),
                Ok(Some(status)) => progress.update(status, &mut on_line),
                // The status stream ended first: the answer follows.
                Ok(None) => break tokio::time::timeout(request.silence_limit, &mut solve)
                    .await
                    .map_err(|_| silent(request.silence_limit, session.is_closed()))?,
            },
        }
    };
    while let Ok(Some(status)) = tokio::time::timeout(LAST_WORDS, statuses.recv()).await {
        progress.update(status, &mut on_line);
    }
    let answer = answer.map_err(|status| refused(status, &progress))?;
    let id = image_id(&answer.into_inner().exporter_response)?;
    Ok(Built {
        id,
        cache: progress.cache_use(),
    })
}

/// The solve: the Dockerfile frontend on the session's `context` and `dockerfile` folders, the
/// image named in the daemon, the registry cache imported and exported.
fn solve_request(request: &BuildKitRequest<'_>, session: &str, build_ref: &str) -> SolveRequest {
    let mut attrs = HashMap::from([("filename".to_string(), request.dockerfile.to_string())]);
    for (name, value) in request.build_args {
        attrs.insert(format!("build-arg:{name}"), value.clone());
    }
    for (name, value) in request.labels {
        attrs.insert(format!("label:{name}"), value.clone());
    }
    if let Some(target) = request.target {
        attrs.insert("target".into(), target.into());
    }
    if let Some(platform) = request.platform {
        attrs.insert("platform".into(), platform.into());
    }
    if let Some(cache) = &request.registry_cache {
        // The frontend, not the solver, looks the imported cache up: it reads the imports from
        // this attribute, as buildx and buildctl pass them.
        let imports: Vec<serde_json::Value> = cache
            .import
            .iter()
            .map(|r| serde_json::json!({"Type": "registry", "Attrs": {"ref": r}}))
            .collect();
        attrs.insert(
            "cache-imports".into(),
            serde_json::Value::from(imports).to_string(),
        );
    }
    // The single-exporter fields: BuildKit 0.11 and 0.12 (Docker 24 and 25) know no other, and
    // newer ones still read them.
    #[allow(deprecated)]
    SolveRequest {
        r#ref: build_ref.into(),
        session: session.into(),
        frontend: "dockerfile.v0".into(),
        frontend_attrs: attrs,
        exporter_deprecated: "moby".into(),
        exporter_attrs_deprecated: HashMap::from([("name".to_string(), request.tag.to_string())]),
        cache: request.registry_cache.as_ref().map(cache_options),
        ..Default::default()
    }
}

/// Every stage's cache (`mode=max`) as an image manifest with OCI media types: the only form
/// of a registry cache that ECR stores.
fn cache_options(cache: &RegistryCache) -> CacheOptions {
    let entry = |attrs: &[(&str, &str)]| CacheOptionsEntry {
        r#type: "registry".into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    CacheOptions {
        imports: cache.import.iter().map(|r| entry(&[("ref", r)])).collect(),
        exports: cache
            .export
            .iter()
            .map(|r| {
                entry(&[
                    ("ref", r),
                    ("mode", "max"),
                    ("image-manifest", "true"),
                    ("oci-mediatypes", "true"),
                ])
            })
            .collect(),
        ..Default::default()
    }
}

/// Hands the build's statuses to `sender` until the build ends. BuildKit waits for the build
/// named `build_ref` to start, so this runs beside the solve, not before it.
async fn forward_status(
    mut client: ControlClient<tonic::transport::Channel>,
    build_ref: String,
    sender: mpsc::Sender<StatusResponse>,
) {
    let request = StatusRequest { r#ref: build_ref };
    let Ok(stream) = client.status(request).await else {
        return;
    };
    let mut stream = stream.into_inner();
    while let Ok(Some(status)) = stream.message().await {
        if sender.send(status).await.is_err() {
            return;
        }
    }
}

/// The digest the exporter gave the image: with the containerd image store, its manifest's,
/// which is the daemon's id for it.
fn image_id(response: &HashMap<String, String>) -> Result<String, DockerError> {
    response
        .get("containerimage.digest")
        .filter(|d| d.starts_with("sha256:"))
        .cloned()
        .ok_or_else(|| DockerError::Daemon("the build reported no image digest".into()))
}

/// BuildKit's refusal, with the step that failed and its last lines when a step did.
fn refused(status: tonic::Status, progress: &Progress) -> DockerError {
    let (step, output) = progress.failed_step().unzip();
    DockerError::Build(BuildFailure {
        step,
        output: output.unwrap_or_default(),
        message: status.message().to_string(),
    })
}

fn silent(limit: Duration, session_closed: bool) -> DockerError {
    DockerError::Daemon(format!(
        "the daemon reported nothing for {} s during the build{}",
        limit.as_secs(),
        if session_closed {
            ", and it closed the build session"
        } else {
            ""
        }
    ))
}

/// A background task that ends with the build, however the build ends.
struct Aborted(JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::buildkit::session::Provided;

    fn request<'a>(cache: Option<RegistryCache>) -> BuildKitRequest<'a> {
        BuildKitRequest {
            api_version: "1.45",
            context: BuildContext::Session(Default::default()),
            dockerfile: "Dockerfile.web",
            tag: "app:v1",
            build_args: &[],
            labels: &[],
            target: Some("final"),
            platform: None,
            cache_from: &[],
            inline_cache: false,
            registry_cache: cache,
            provided: Provided::default(),
            silence_limit: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_cache_is_imported_from_every_ref_and_exported_whole_to_one() {
        let cache = RegistryCache {
            import: vec![
                "r.example/app:buildcache-fix".into(),
                "r.example/app:buildcache".into(),
            ],
            export: Some("r.example/app:buildcache-fix".into()),
        };
        let solve = solve_request(&request(Some(cache)), "s", "b");
        let options = solve.cache.unwrap();
        let refs: Vec<&str> = options
            .imports
            .iter()
            .map(|e| e.attrs["ref"].as_str())
            .collect();
        assert_eq!(
            refs,
            ["r.example/app:buildcache-fix", "r.example/app:buildcache"]
        );
        let export = &options.exports[0].attrs;
        assert_eq!(export["mode"], "max");
        assert_eq!(export["image-manifest"], "true");
        assert_eq!(export["oci-mediatypes"], "true");
        assert_eq!(solve.frontend_attrs["filename"], "Dockerfile.web");
        assert_eq!(solve.frontend_attrs["target"], "final");
        let imports: serde_json::Value =
            serde_json::from_str(&solve.frontend_attrs["cache-imports"]).unwrap();
        assert_eq!(imports[1]["Attrs"]["ref"], "r.example/app:buildcache");
        #[allow(deprecated)]
        let name = &solve.exporter_attrs_deprecated["name"];
        assert_eq!(name, "app:v1");
    }

    #[test]
    fn an_answer_without_a_digest_is_an_error() {
        assert!(image_id(&HashMap::new()).is_err());
        let d = format!("sha256:{}", "a".repeat(64));
        let answer = HashMap::from([("containerimage.digest".to_string(), d.clone())]);
        assert_eq!(image_id(&answer).unwrap(), d);
    }
}
