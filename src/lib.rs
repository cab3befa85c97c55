//! ship-to-ecr: from `git push` to an image in Amazon ECR, keyless, in one step.
//!
//! Layers, lowest first (a module only uses those above it in this list):
//! `error`, `retry` -> `github`, `inputs`, `image` -> `aws`, `registry`, `engine` ->
//! `trust_diagnosis`, `credentials`, `repository`, `source`, `build`, `patch`, `mirror`, `push`, `report` -> `run`, `cli`.
//! See ARCHITECTURE.md.

pub mod aws;
pub mod build;
pub mod cli;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod github;
pub mod image;
pub mod inputs;
pub mod mirror;
pub mod patch;
pub mod push;
pub mod registry;
pub mod report;
pub mod repository;
pub mod retry;
pub mod run;
pub mod source;
pub mod trust_diagnosis;
