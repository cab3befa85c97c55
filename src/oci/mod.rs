//! The image model every source and sink shares (the role of go-containerregistry's `pkg/v1`):
//! digests, descriptors, platforms, media types, manifests and indexes kept as their exact bytes,
//! the image config, and the deterministic files layer. Pure data: no network, no daemon.

pub mod config;
pub mod diff;
pub mod digest;
pub mod facts;
pub mod gzip;
pub mod index;
pub mod layer;
pub mod manifest;
pub mod media_type;
pub mod platform;

pub use digest::Digest;
pub use facts::Facts;
pub use index::{Index, IndexEntry};
pub use manifest::{Descriptor, ImageManifest, Manifest, Parsed, Unusable};
pub use media_type::MediaType;
pub use platform::Platform;
