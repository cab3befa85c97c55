//! Describing images: tags (and, with the build and push engines, labels and references).

pub mod tags;
