//! The triggering event's payload (`GITHUB_EVENT_PATH`) and the tags made from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::github::event::Event;
use ship_to_ecr::image::tags::{default_tags, is_valid, TagValues};

fuzz_target!(|bytes: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    let var = |name: &str| match name {
        "GITHUB_EVENT_NAME" => payload
            .get("action")
            .and_then(|a| a.as_str())
            .map(|_| "pull_request".to_string()),
        "GITHUB_REF" => payload
            .get("ref")
            .and_then(|r| r.as_str())
            .map(String::from),
        _ => None,
    };
    let event = Event::from_parts(var, &payload);
    let _ = (event.branch(), event.ref_name(), event.repository_url());
    let _ = event.on_default_branch();
    for tag in default_tags(&event) {
        assert!(is_valid(&tag), "a default tag must be valid: {tag:?}");
    }
    let _ = TagValues::from_event(&event, "20261204".into());
});
