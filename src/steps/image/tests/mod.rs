//! The registry engine's image steps (mirror, patch) through [`make`], against the in-memory
//! registry as the source: it is plain HTTP on loopback, which the source connection allows as
//! the Docker daemon does.

mod mirror;
mod patch;

use std::time::Duration;

use super::*;
use crate::registry::client::RegistryError;
use crate::registry::fake::FakeRegistry;
use crate::registry::prepared::PreparedImage;
use crate::steps::testing::{self, Log, DESTINATION_REPOSITORY};

/// Runs the image step for `plan`, its image in `source`; returns what it made and what it
/// printed.
async fn make_logged(source: &FakeRegistry, plan: &ImagePlan) -> (anyhow::Result<Made>, Log) {
    let (workflow, log) = testing::workflow();
    let (ctx, http) = (testing::run_context(), source.http());
    (
        make(plan, &ctx, &http, &crate::steps::testing::no_ecr, &workflow).await,
        log,
    )
}

fn prepared(made: &Made) -> &PreparedImage {
    match &made.artifact {
        Artifact::Prepared { image, loaded } => {
            assert!(loaded.is_none(), "the registry engine loads nothing");
            image
        }
        Artifact::Daemon(_) | Artifact::Stored(_) => {
            panic!("the registry engine made no prepared image")
        }
    }
}

/// A destination registry holding `image` under `v1`.
async fn written(image: &PreparedImage) -> FakeRegistry {
    let destination = testing::destination_registry().await;
    let client = destination.client();
    let no_retry = |e: &RegistryError, _: Duration| panic!("not retried: {e}");
    crate::registry::write(&client, DESTINATION_REPOSITORY, image, "v1", &no_retry)
        .await
        .unwrap();
    destination
}

fn failure(result: anyhow::Result<Made>) -> Failure {
    match result {
        Ok(_) => panic!("the image step succeeded"),
        Err(e) => e.downcast::<Failure>().expect("a Failure"),
    }
}
