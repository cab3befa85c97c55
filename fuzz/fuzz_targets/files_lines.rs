//! The `files` input: `SRC => DEST [mode=0640] [owner=UID:GID]` lines, read against a small
//! workspace.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// A workspace with a file, a directory and a nested file, made once per process.
fn workspace() -> &'static PathBuf {
    static WORKSPACE: OnceLock<PathBuf> = OnceLock::new();
    WORKSPACE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        std::fs::write(dir.join("app.conf"), "port = 8080\n").unwrap();
        std::fs::create_dir_all(dir.join("config/nested")).unwrap();
        std::fs::write(dir.join("config/nested/a.txt"), "a").unwrap();
        dir
    })
}

fuzz_target!(|text: &str| {
    let _ = ship_to_ecr::inputs::patch::files(text, workspace());
});
