//! A Dockerfile's base images (for the build key), and a `.dockerignore`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ship_to_ecr::image::dockerfile::bases;
use ship_to_ecr::image::dockerignore::DockerIgnore;

fuzz_target!(|text: &str| {
    let args = [("VERSION".to_string(), "1.2".to_string())];
    let predefined = [("TARGETPLATFORM".to_string(), "linux/amd64".to_string())];
    let _ = bases(text, &args, &predefined);
    if let Ok(ignore) = DockerIgnore::parse(text) {
        let _ = ignore.excludes("src/main.rs");
        let _ = ignore.has_exceptions();
    }
});
