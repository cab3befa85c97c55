//! The run's context as the runner describes it in `GITHUB_*` variables.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::commit_time::{self, CommitTime};
use super::event::Event;

/// What this program needs to know about the workflow run it is part of.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    /// `GITHUB_WORKSPACE`, or the working directory outside the runner.
    pub workspace: PathBuf,
    pub repository: Option<String>,
    /// `GITHUB_API_URL`: GitHub.com's API, or a GitHub Enterprise Server's `/api/v3`.
    pub api_url: Option<String>,
    /// Whether the runner gave a `GITHUB_ENV` file, i.e. there are later steps to export to.
    pub has_env_file: bool,
    /// What triggered the run (ref, commit, pull request).
    pub event: Event,
    /// When the commit was made: the time images are stamped with.
    pub commit_time: CommitTime,
    /// When this step started: the `{{date}}` placeholder uses it.
    pub started_at: DateTime<Utc>,
}

impl RunContext {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let workspace = var("GITHUB_WORKSPACE")
            .map(PathBuf::from)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        let event = Event::from_env();
        let commit_time = commit_time::resolve(
            var("SOURCE_DATE_EPOCH").as_deref(),
            &workspace,
            event.sha.as_deref(),
            event.pushed_commit_time,
        );
        Self {
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            workspace,
            repository: var("GITHUB_REPOSITORY"),
            api_url: var("GITHUB_API_URL"),
            has_env_file: var("GITHUB_ENV").is_some(),
            event,
            commit_time,
            started_at: Utc::now(),
        }
    }
}
