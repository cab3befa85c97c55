//! A server's `Retry-After` and GitHub's rate-limit headers, at any clock: the wait is read
//! without overflow and never beyond the most a server's word is taken as.
#![no_main]

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use ship_to_ecr::github::api::rate_limit_wait;
use ship_to_ecr::retry::{retry_after_header, MOST_ASKED};

fuzz_target!(|input: (u16, u64, &str, &str)| {
    let (status, clock, retry_after, reset) = input;
    let now = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(clock % (1 << 40)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if let Some(wait) = retry_after_header(retry_after, now) {
        assert!(wait <= MOST_ASKED);
    }
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("retry-after", retry_after),
        ("x-ratelimit-reset", reset),
        ("x-ratelimit-remaining", "0"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    if let Some(wait) = rate_limit_wait(status, &headers, now) {
        assert!(wait <= MOST_ASKED);
    }
});
