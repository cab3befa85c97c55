//! The platforms the daemon's BuildKit workers run, asked of BuildKit itself (`Control.ListWorkers`)
//! over the daemon's `/grpc` endpoint (`grpc.rs`), as buildx's `docker` driver asks. Only the
//! daemon knows what it can execute: emulators are registered in its kernel, not in the
//! container this action runs in.

use std::time::Duration;

use super::grpc;
use super::transport::Endpoint;
use crate::error::with_causes;
use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use bollard_buildkit_proto::pb::Platform;

/// How long the question may take: it only adds to a message about a build that already failed.
const PATIENCE: Duration = Duration::from_secs(15);

/// Every platform any worker says it runs (`linux/amd64`, `linux/arm/v7`, ...), in the workers'
/// order, each once; or why the daemon could not be asked.
pub async fn platforms(endpoint: &Endpoint, api: &str) -> Result<Vec<String>, String> {
    let asked = async {
        let channel = grpc::channel(endpoint, api)
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
