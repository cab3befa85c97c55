//! What the steps' in-process tests share: a workflow whose log they read, a run context, an
//! image plan, and a destination on the in-memory registry (Basic credentials, as ECR).

use chrono::{TimeZone, Utc};

pub use crate::github::captured::Log;
use crate::github::commands::{CommandFiles, Workflow};
use crate::github::commit_time::{CommitTime, TimeSource};
use crate::github::context::RunContext;
use crate::github::event::Event;
use crate::image::reference::ImageReference;
use crate::inputs::{Engine, ImagePlan, ImageSource};
use crate::oci::Platform;
use crate::registry::destination::Destination;
use crate::registry::fake::FakeRegistry;

pub const DESTINATION_USER: &str = "AWS";
pub const DESTINATION_PASSWORD: &str = "ecr-pw";
pub const DESTINATION_REPOSITORY: &str = "team/app";

/// A workflow outside the runner (no command files), printing to a [`Log`].
pub fn workflow() -> (Workflow, Log) {
    let log = Log::default();
    (
        Workflow::new(CommandFiles::default(), Box::new(log.clone())),
        log,
    )
}

/// A push to `main` of `octo/app`, its commit made at a fixed time.
pub fn run_context() -> RunContext {
    RunContext {
        run_id: Some("42".into()),
        run_attempt: Some("1".into()),
        workspace: std::env::temp_dir(),
        repository: Some("octo/app".into()),
        api_url: None,
        has_env_file: false,
        event: Event {
            sha: Some("4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into()),
            git_ref: Some("refs/heads/main".into()),
            repository: Some("octo/app".into()),
            ..Default::default()
        },
        commit_time: CommitTime {
            time: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
            source: TimeSource::PushEvent,
        },
        started_at: Utc::now(),
    }
}

/// A plan for the registry engine, tagging `v1`.
pub fn image_plan(source: ImageSource, platforms: &[&str]) -> ImagePlan {
    ImagePlan {
        source,
        engine: Engine::Registry,
        platforms: platforms
            .iter()
            .map(|p| Platform::parse(p).unwrap())
            .collect(),
        source_credentials: None,
        labels: Vec::new(),
        tags: vec!["v1".into()],
        push: true,
    }
}

/// `<fake's host>/<path>`, as a user writes an image on a registry of this machine.
pub fn reference(fake: &FakeRegistry, path: &str) -> ImageReference {
    ImageReference::parse(&format!("{}/{path}", fake.host())).unwrap()
}

/// The repository a push writes to, logged in; `fake` must be [`FakeRegistry::basic`] with
/// [`DESTINATION_USER`] and [`DESTINATION_PASSWORD`].
pub fn destination(fake: &FakeRegistry) -> Destination {
    Destination {
        client: fake.client(),
        host: fake.host(),
        repository: DESTINATION_REPOSITORY.into(),
        username: DESTINATION_USER.into(),
        password: DESTINATION_PASSWORD.into(),
    }
}

pub async fn destination_registry() -> FakeRegistry {
    FakeRegistry::basic(DESTINATION_USER, DESTINATION_PASSWORD).await
}

/// In-process tests have no ECR to sign in to; the image step calls this only for a BuildKit
/// build's cache, which these tests never make.
pub async fn no_ecr() -> anyhow::Result<crate::steps::image::build::BuildHome> {
    anyhow::bail!("no ECR in in-process tests")
}
