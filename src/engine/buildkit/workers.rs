//! The platforms the daemon's BuildKit workers run, asked of BuildKit itself (`Control.ListWorkers`)
//! over the daemon's `/grpc` endpoint upgraded to h2c, as buildx's `docker` driver asks. Only the
//! daemon knows what it can execute: emulators are registered in its kernel, not in the
//! container this action runs in.

use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use bollard_buildkit_proto::pb::Platform;
use hyper::upgrade::Upgraded;
use tonic::codegen::{BoxFuture, Context, Poll, Service};

use super::transport::{self, Endpoint};
use crate::error::with_causes;

/// How long the question may take: it only adds to a message about a build that already failed.
const PATIENCE: Duration = Duration::from_secs(15);

/// Every platform any worker says it runs (`linux/amd64`, `linux/arm/v7`, ...), in the workers'
/// order, each once; or why the daemon could not be asked.
pub async fn platforms(endpoint: &Endpoint, api: &str) -> Result<Vec<String>, String> {
    let asked = async {
        let channel = tonic::transport::Endpoint::from_static("http://docker")
            .connect_with_connector(GrpcUpgrade {
                endpoint: endpoint.clone(),
                api: api.to_string(),
            })
            .await
            .map_err(|e| with_causes(&e))?;
        let workers = ControlClient::new(channel)
            .list_workers(ListWorkersRequest { filter: vec![] })
            .await
            .map_err(|e| format!("ListWorkers: {}", e.message()))?;
        Ok::<_, String>(workers.into_inner().record)
    };
    let records = tokio::time::timeout(PATIENCE, asked)
        .await
        .map_err(|_| format!("no answer in {} s", PATIENCE.as_secs()))??;
    let mut names: Vec<String> = Vec::new();
    for name in records.iter().flat_map(|r| r.platforms.iter().map(name)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// `os/arch[/variant]`, as `platform` is written.
fn name(p: &Platform) -> String {
    match p.variant.as_str() {
        "" => format!("{}/{}", p.os, p.architecture),
        variant => format!("{}/{}/{variant}", p.os, p.architecture),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_named_as_the_input_writes_them() {
        let p = |os: &str, architecture: &str, variant: &str| Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.into(),
            ..Default::default()
        };
        assert_eq!(name(&p("linux", "amd64", "")), "linux/amd64");
        assert_eq!(name(&p("linux", "arm", "v7")), "linux/arm/v7");
    }
}
