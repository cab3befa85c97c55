//! GitHub's side: workflow commands, the run's context, the job's OIDC token, the REST API.

pub mod api;
#[cfg(test)]
pub mod captured;
pub mod commands;
pub mod commit_time;
pub mod context;
pub mod event;
pub mod markdown;
pub mod oidc;
