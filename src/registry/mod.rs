//! The registry's HTTP API (OCI distribution): login check and manifests. The daemonless
//! engine grows here.

pub mod client;
