//! AWS: the SDK's configuration, the session the steps share, STS (web identity, chaining, caller identity), ECR (repository
//! and registry credentials), ECS (the deploy), and how AWS errors are explained to the user.

pub mod config;
pub mod ecr;
pub mod ecs;
pub mod errors;
pub mod explain;
pub mod iam;
pub mod raw_json;
pub mod session;
pub mod sts;
