//! BuildKit's own gRPC API (`Control`) on the daemon's `/grpc` endpoint, upgraded to h2c, as
//! buildx's `docker` driver reaches it: what the `/build` endpoint does not offer (the workers'
//! platforms, a solve with cache exporters) is asked here.

use hyper::upgrade::Upgraded;
use tonic::codegen::{BoxFuture, Context, Poll, Service};
use tonic::transport::Channel;

use super::transport::{self, Endpoint};

/// A channel to the daemon's BuildKit; each connection tonic opens is a fresh `/grpc` upgrade.
pub async fn channel(endpoint: &Endpoint, api: &str) -> Result<Channel, tonic::transport::Error> {
    tonic::transport::Endpoint::from_static("http://docker")
        .connect_with_connector(GrpcUpgrade {
            endpoint: endpoint.clone(),
            api: api.to_string(),
        })
        .await
}

/// Connects tonic's channel through a fresh `/grpc` upgrade on the daemon's socket.
#[derive(Clone)]
struct GrpcUpgrade {
    endpoint: Endpoint,
    api: String,
}

impl Service<hyper::Uri> for GrpcUpgrade {
    type Response = Upgraded;
    type Error = std::io::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { upgrade(&this.endpoint, &this.api).await })
    }
}

/// `POST /grpc` with `Upgrade: h2c`: the daemon answers 101 and serves BuildKit's gRPC API on
/// the connection.
async fn upgrade(endpoint: &Endpoint, api: &str) -> std::io::Result<Upgraded> {
    let sender = endpoint.connect().await?;
    let request = hyper::Request::post(transport::versioned(api, "/grpc"))
        .header("Host", "docker")
        .header("Connection", "Upgrade")
        .header("Upgrade", "h2c")
        .body(transport::empty())
        .map_err(std::io::Error::other)?;
    transport::upgrade(sender, request, "the daemon offers no /grpc endpoint").await
}
