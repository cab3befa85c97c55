//! The `lifecycle-policy` input as JSON text: ECR's rules, checked before any call.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    // Only JSON: a path would be read from the disk, which is not this parser's concern.
    if text.trim_start().starts_with('{') {
        let _ = ship_to_ecr::inputs::lifecycle::parse(text, Path::new("/nonexistent"));
    }
});
