//! The Docker daemon: building, pulling, loading, naming and pushing images through its API, and
//! the archive format `docker load` reads. (The daemonless path is `registry`.)

pub mod archive;
pub mod buildkit;
pub mod docker;
pub mod export;
pub mod scratch;
