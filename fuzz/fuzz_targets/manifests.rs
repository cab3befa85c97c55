//! Manifests and indexes as a registry sends them, with any of the media types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::oci::manifest::Parsed;
use ship_to_ecr::oci::{Manifest, MediaType};

const TYPES: [&str; 5] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "",
];

fuzz_target!(|data: (u8, &[u8])| {
    let (kind, bytes) = data;
    let media_type = MediaType::parse(TYPES[usize::from(kind) % TYPES.len()]);
    let manifest = Manifest::new(media_type, bytes.to_vec());
    let _ = manifest.config_digest();
    match manifest.parse() {
        Ok(Parsed::Image(image)) => {
            let _ = image.blobs().count();
            let _ = image.layers_size();
        }
        Ok(Parsed::Index(index)) => {
            let _ = index.platforms();
        }
        Err(_) => {}
    }
});
