//! A registry image copied to ECR unchanged (`image` naming a registry image): digest kept,
//! blobs skipped, mounted or streamed, a corrupt source refused, a TLS source trusted through
//! `SSL_CERT_FILE`; everything read back with plain HTTP.

use support::base_images::{self, SourceRegistry};
use support::StandIns;

const REPO: &str = "mirror/base";

#[test]
fn a_mirror_keeps_the_digest_and_copies_every_blob() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1.0", &s.registry_host());
    let result = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .input("tags", "1.0")
        .run();
    result.expect_code(0);
    assert_eq!(result.output("digest").unwrap(), base.manifest_digest);
    let reader = s.reader();
    let (digest, manifest) = reader.manifest(REPO, "1.0").unwrap();
    assert_eq!(digest, base.manifest_digest, "the same manifest bytes");
    for (layer_digest, bytes, _) in &base.layers {
        assert_eq!(&reader.blob(REPO, layer_digest), bytes);
    }
    assert_eq!(manifest["config"]["digest"], base.config_digest);
    assert!(
        result
            .stdout
            .contains("0 already in ECR, 0 mounted, 3 copied"),
        "{result}"
    );
    assert!(
        result.summary.contains("| Base layers |") || result.summary.contains("copied"),
        "{}",
        result.summary
    );

    // Again: nothing to do.
    let again = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .input("tags", "1.0")
        .run();
    again.expect_code(0);
    assert_eq!(again.output("pushed").as_deref(), Some("false"));
}

#[test]
fn a_mirror_of_an_index_keeps_every_platform_and_the_digest() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let (native, index_digest) = source.push_index("team/multi", "2", &s.registry_host());
    let result = s
        .action()
        .input("repository", REPO)
        .input("image", &native.reference)
        .input("engine", "registry")
        .input("tags", "2")
        .run();
    result.expect_code(0);
    assert_eq!(result.output("digest").unwrap(), index_digest);
    let reader = s.reader();
    let (digest, index) = reader.manifest(REPO, "2").unwrap();
    assert_eq!(digest, index_digest);
    for entry in index["manifests"].as_array().unwrap() {
        let child = entry["digest"].as_str().unwrap();
        assert_eq!(reader.manifest(REPO, child).unwrap().0, child);
    }

    // Keeping one platform makes a new index.
    let one = s
        .action()
        .input("repository", REPO)
        .input("image", &native.reference)
        .input("platforms", &format!("linux/{}", base_images::arch()))
        .input("tags", "native")
        .run();
    one.expect_code(0);
    let (digest, index) = reader.manifest(REPO, "native").unwrap();
    assert_ne!(digest, index_digest);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(index["manifests"][0]["digest"], native.manifest_digest);
}

#[test]
fn blobs_already_in_the_registry_are_skipped_or_mounted() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1", &s.registry_host());
    let first = s
        .action()
        .input("repository", "mirror/one")
        .input("image", &base.reference)
        .run();
    first.expect_code(0);
    // From the ECR registry itself, into another repository: every blob is mounted.
    let within = format!("{}/mirror/one:sha-4f3c2b1", s.registry_host());
    let password = support::registry_password();
    let mounted = s
        .action()
        .input("repository", "mirror/two")
        .input("image", &within)
        .input("base-image-username", "AWS")
        .input("base-image-password", &password)
        .run();
    mounted.expect_code(0);
    assert!(
        mounted
            .stdout
            .contains("0 already in ECR, 3 mounted, 0 copied"),
        "{mounted}"
    );
    assert_eq!(mounted.output("digest").unwrap(), base.manifest_digest);
    mounted.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_corrupt_source_blob_fails_and_writes_no_tag() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let base = source.push_base("team/base", "1", &s.registry_host());
    // The source registry serves other bytes under the data layer's digest.
    let (digest, bytes, _) = &base.layers[1];
    let mut corrupt = bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(source.blob_file(digest), &corrupt).unwrap();
    let result = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Cannot copy the image's blobs", "{result}");
    assert!(
        message.contains(digest) && message.contains("corrupt"),
        "{message}"
    );
    assert!(message.contains("Nothing was tagged"), "{message}");
    assert!(s.reader().tags(REPO).is_empty());
}

#[test]
fn a_tls_source_is_trusted_through_ssl_cert_file() {
    let s = StandIns::start();
    let source = SourceRegistry::tls();
    let base = source.push_base("team/base", "tls", &s.registry_host());
    let ca = source.ca_file.clone().unwrap();

    let untrusted = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .run();
    untrusted.expect_code(1);
    assert!(
        untrusted.errors()[0]
            .1
            .to_lowercase()
            .contains("certificate"),
        "{untrusted}"
    );

    let trusted = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .env("SSL_CERT_FILE", &ca.display().to_string())
        .run();
    trusted.expect_code(0);
    assert_eq!(trusted.output("digest").unwrap(), base.manifest_digest);
}

#[test]
fn source_credentials_are_masked_and_never_shown() {
    let s = StandIns::start();
    let password = "mirror-source-password-77aa";
    let source = SourceRegistry::private("mirror", password);
    let base = source.push_base("private/base", "1", &s.registry_host());
    let result = s
        .action()
        .input("repository", REPO)
        .input("image", &base.reference)
        .input("base-image-username", "mirror")
        .input("base-image-password", password)
        .run();
    result.expect_code(0);
    let mut secrets = s.secrets();
    secrets.push(password.to_string());
    result.assert_no_secret_leaked(&secrets, true);
    result.assert_masked(&[password.to_string()]);
}

#[test]
fn an_immutable_tag_holding_another_image_stops_the_copy_before_any_upload() {
    let s = StandIns::start();
    let source = SourceRegistry::anonymous();
    let first = source.push_base("team/base", "1", "first");
    let second = source.push_base("team/base", "2", "second");
    let run = |base: &support::base_images::BaseImage| {
        s.action()
            .input("repository", REPO)
            .input("tag-mutability", "IMMUTABLE")
            .input("image", &base.reference)
            .input("tags", "stable")
            .run()
    };
    run(&first).expect_code(0);
    let refused = run(&second);
    refused.expect_code(1);
    assert_eq!(refused.errors()[0].0, "Tag already exists", "{refused}");
    assert!(
        !refused.stdout.contains("Blobs from"),
        "nothing was copied: {refused}"
    );
    assert_eq!(
        s.reader().manifest(REPO, "stable").unwrap().0,
        first.manifest_digest
    );
}
