//! The build's session: the daemon calls back into it, over a `/session` connection upgraded to
//! h2c where we are the gRPC server, for what only the client has: build secrets and registry
//! credentials, and the build's files when the context goes by file sync (`filesync.rs`).
//! Nothing else is offered, so BuildKit never asks for ssh.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::filesync::{self, SyncedDirs};
use super::transport::Endpoint;
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;

/// The methods the daemon may call; BuildKit asks a session only for what it says it serves
/// (an Auth without `FetchToken` makes it ask `Credentials`, then do the token dance itself).
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
];

/// What the session hands out.
#[derive(Default, Clone)]
pub struct Provided {
    /// Build secrets by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// Registry credentials by host (`host:port` as image references name it).
    pub credentials: HashMap<String, (String, String)>,
}

/// An open session; the daemon finds it by `id`. It ends when the daemon closes it or on drop.
pub struct Session {
    pub id: String,
    server: JoinHandle<()>,
}

impl Session {
    /// Whether the daemon has closed the session.
    pub fn is_closed(&self) -> bool {
        self.server.is_finished()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Opens a session with the daemon and serves it in the background; `files`, when given, are
/// the folders the build reads (the context and the Dockerfile's), served by file sync.
pub async fn open(
    endpoint: &Endpoint,
    api: &str,
    provided: Provided,
    files: Option<SyncedDirs>,
) -> std::io::Result<Session> {
    let id = format!("ship-to-ecr-{:032x}", rand::random::<u128>());
    let sender = endpoint.connect().await?;
    let mut request = hyper::Request::post(super::transport::versioned(api, "/session"))
        .header("Host", "docker")
        .header("Connection", "Upgrade")
        .header("Upgrade", "h2c")
        .header("X-Docker-Expose-Session-Uuid", &id)
        .header("X-Docker-Expose-Session-Name", "ship-to-ecr")
        .header(
            "X-Docker-Expose-Session-Sharedkey",
            files.as_ref().map_or("", SyncedDirs::shared_key),
        );
    let file_sync = files.is_some().then_some(filesync::METHOD);
    for method in METHODS.iter().copied().chain(file_sync) {
        request = request.header("X-Docker-Expose-Session-Grpc-Method", method);
    }
    let request = request
        .body(super::transport::empty())
        .map_err(std::io::Error::other)?;
    let upgraded =
        super::transport::upgrade(sender, request, "the daemon refused a build session").await?;
    let io = SessionIo(TokioIo::new(upgraded));
    let server = tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(HealthServer::new(Healthy))
            .add_service(SecretsServer::new(provided.clone()))
            .add_service(AuthServer::new(provided))
            .add_optional_service(files.map(FileSyncServer::new))
            .serve_with_incoming(futures_util::stream::iter([Ok::<_, std::io::Error>(io)]))
            .await;
        // The build notices a closed session by this task's end; how it ended adds nothing.
        drop(served);
    });
    Ok(Session { id, server })
}

struct Healthy;

#[tonic::async_trait]
impl Health for Healthy {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }

    type WatchStream = futures_util::stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

#[tonic::async_trait]
impl Secrets for Provided {
    async fn get_secret(
        &self,
        request: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.secrets.get(id) {
            Some(data) => Ok(Response::new(GetSecretResponse { data: data.clone() })),
            // BuildKit turns NotFound into "secret <id> not found", or skips an optional one.
            None => Err(Status::not_found(format!("secret {id} not found"))),
        }
    }
}

#[tonic::async_trait]
impl Auth for Provided {
    async fn credentials(
        &self,
        request: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        // Unknown hosts are anonymous, as with an empty Docker config.
        let (username, secret) = self
            .credentials
            .get(&request.get_ref().host)
            .cloned()
            .unwrap_or_default();
        Ok(Response::new(CredentialsResponse { username, secret }))
    }

    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("fetch_token"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}

/// The upgraded connection as tonic's server takes it.
struct SessionIo(TokioIo<Upgraded>);

impl tonic::transport::server::Connected for SessionIo {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SessionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
