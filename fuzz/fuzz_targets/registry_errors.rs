//! A registry's answer other than a success: the status, `Retry-After` and the error body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::registry::error::RegistryError;

fuzz_target!(|data: (u16, Option<u32>, &str)| {
    let (status, wait, body) = data;
    let Ok(status) = reqwest::StatusCode::from_u16(100 + status % 500) else {
        return;
    };
    let wait = wait.map(|s| std::time::Duration::from_secs(s.into()));
    let error = RegistryError::answered(
        "https://registry.example".into(),
        "the ECR credentials",
        status,
        "PUT manifest app:v1",
        wait,
        body,
    );
    let shown = error.to_string();
    assert!(
        shown.len() < 2_000,
        "an error message stays short: {} bytes",
        shown.len()
    );
});
