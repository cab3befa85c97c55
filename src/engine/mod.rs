//! Engines that make and move images. Today the Docker daemon; the daemonless registry engine
//! comes later.

pub mod docker;
