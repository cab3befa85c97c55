//! Describing images: tags, labels, and the build context sent to a builder.

pub mod config;
pub mod context;
pub mod dockerignore;
pub mod labels;
pub mod layer;
pub mod manifest;
pub mod reference;
pub mod tags;
