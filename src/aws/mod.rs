//! AWS: the SDK's configuration, the session the steps share, STS (web identity, chaining, caller identity), ECR (repository
//! and registry credentials), and how AWS errors are explained to the user.

pub mod config;
pub mod ecr;
pub mod errors;
pub mod explain;
pub mod session;
pub mod sts;
