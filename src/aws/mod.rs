//! AWS: the SDK's configuration, STS (web identity, chaining, caller identity), ECR (repository
//! and registry credentials), and how AWS errors are explained to the user.

pub mod config;
pub mod ecr;
pub mod errors;
pub mod sts;
