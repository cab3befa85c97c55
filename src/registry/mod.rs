//! Container registries over HTTP: the distribution API and its authentication, reading an
//! image (walking an index to the platforms wanted), copying blobs from one registry to
//! another, and writing a prepared image.

pub mod auth;
pub mod bounded;
pub mod client;
pub mod copy;
pub mod destination;
pub mod error;
#[cfg(test)]
pub mod fake;
pub mod prepared;
pub mod renewal;
pub mod resolve;
pub mod write;

pub use write::write;
