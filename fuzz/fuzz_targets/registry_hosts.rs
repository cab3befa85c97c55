//! `host[:port]` in image references: whatever the pattern lets through, a reference that
//! parses names a host the URL parser takes, so no request is ever built from one it refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::image::reference::ImageReference;

fuzz_target!(|text: &str| {
    for candidate in [text.to_string(), format!("{text}/team/app:1")] {
        if let Ok(reference) = ImageReference::parse(&candidate) {
            let url = format!("https://{}/", reference.api_host());
            assert!(url::Url::parse(&url).is_ok(), "{candidate:?} -> {url:?}");
        }
    }
});
