//! Describing images: tags, labels, references, and the build context sent to a builder.

pub mod build_key;
pub mod context;
pub mod dockerfile;
pub mod dockerignore;
pub mod labels;
pub mod reference;
pub mod tags;
