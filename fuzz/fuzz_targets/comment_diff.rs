//! The pull-request comment's comparison of two images, on configs whose every string was
//! chosen by whoever pushed them: it never panics, and no value read from an image reaches a
//! line of its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use ship_to_ecr::oci::Digest;
use ship_to_ecr::steps::github::comment::{comparison, Side};

fn side(fill: char, config: Value) -> Side {
    let digest = Digest::parse(&format!("sha256:{}", fill.to_string().repeat(64)))
        .expect("a well-formed digest");
    Side {
        digest,
        platform: None,
        layers: vec![(format!("sha256:{}", fill.to_string().repeat(64)), 10)],
        config,
    }
}

fuzz_target!(|text: &str| {
    // Two configs: the input split in two, each read as JSON, else used as every setting.
    let (a, b) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    let config = |part: &str| {
        serde_json::from_str::<Value>(part).unwrap_or_else(|_| {
            serde_json::json!({"config": {
                "Cmd": [part], "User": part, "WorkingDir": part, "Entrypoint": part,
                "Env": [format!("{part}=1")], "ExposedPorts": {part: {}},
                "Labels": {"org.opencontainers.image.base.digest": part}
            }})
        })
    };
    let lines = comparison(Some(&side('b', config(b))), Some(&side('a', config(a))));
    for line in &lines {
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
    }
});
