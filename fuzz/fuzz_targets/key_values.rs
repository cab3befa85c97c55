//! `KEY=VALUE` lists (`env`, `labels`, `build-args`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::inputs::rules::values::key_values;

fuzz_target!(|text: &str| {
    if let Ok(pairs) = key_values("env", text, "LOG_LEVEL=info") {
        for (key, _) in pairs {
            assert!(!key.is_empty() && !key.contains(char::is_whitespace));
        }
    }
});
