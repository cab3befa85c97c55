//! Image references (`base-image`, `image`), digests and platforms, as users write them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::image::reference::ImageReference;
use ship_to_ecr::oci::platform::Platform;
use ship_to_ecr::oci::Digest;

fuzz_target!(|text: &str| {
    if let Ok(reference) = ImageReference::parse(text) {
        // What parses once parses the same from its own rendering.
        let shown = reference.to_string();
        let again = ImageReference::parse(&shown).expect("a rendered reference parses");
        assert_eq!(again.to_string(), shown);
    }
    if let Ok(digest) = Digest::parse(text) {
        assert_eq!(Digest::parse(digest.as_str()).unwrap(), digest);
    }
    let _ = Platform::parse(text);
});
