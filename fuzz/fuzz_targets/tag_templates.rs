//! The `tags` input: one template per line with `{sha}`, `{branch}`, ... placeholders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::image::tags::{expand, is_valid, sanitise, TagValues};

fuzz_target!(|text: &str| {
    // The branch comes from the event, so it is as arbitrary as the template.
    let branch = text.lines().next().map(sanitise);
    let values = TagValues {
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        branch,
        ref_name: Some("v1.2.3".into()),
        pr: Some(42),
        run_number: Some("17".into()),
        date: "20261204".into(),
    };
    if let Ok(tags) = expand(text, &values) {
        for tag in tags {
            assert!(is_valid(&tag), "an expanded tag must be valid: {tag:?}");
        }
    }
});
