//! IAM as data: trust policies for GitHub's OIDC tokens and how IAM evaluates them, and the
//! least-privilege permissions the action needs. No network here (the client is `aws::iam`).

pub mod condition;
pub mod permissions;
pub mod trust;
