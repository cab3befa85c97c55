//! A registry's `WWW-Authenticate` and `Retry-After` headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::registry::auth::Challenge;

fuzz_target!(|text: &str| {
    let _ = Challenge::parse(text);
    let now = std::time::SystemTime::now();
    let _ = ship_to_ecr::retry::retry_after_header(text, now);
});
