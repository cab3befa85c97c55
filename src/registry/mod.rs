//! Container registries over HTTP: the distribution API, its authentication, and copying blobs
//! from one registry to another.

pub mod auth;
pub mod client;
pub mod copy;
pub mod prepared;
pub mod resolve;
