//! The push step against the in-memory registry, with an image the mirror step prepared from
//! another (anonymous) registry: tags written, a second run that finds them, an immutable tag
//! on another image, and `push: false`.

use aws_sdk_ecr::types::{EncryptionType, ImageTagMutability};

use super::*;
use crate::registry::fake::{FakeRegistry, ImageFormat, LoggedRequest, SeededImage};
use crate::steps::testing::{self, DESTINATION_REPOSITORY as REPOSITORY};

/// A single image in `source`, prepared by the mirror step.
async fn mirrored(source: &FakeRegistry) -> (SeededImage, Artifact) {
    let image = source.seed_image("library/base", "1", ImageFormat::Oci, "amd64");
    let reference = testing::reference(source, "library/base:1");
    let plan = testing::image_plan(crate::inputs::ImageSource::Remote(reference), &[]);
    let (workflow, _) = testing::workflow();
    let (ctx, http) = (testing::run_context(), source.http());
    let made = crate::steps::image::make(
        &plan,
        &ctx,
        &http,
        &crate::steps::testing::no_ecr,
        &workflow,
    )
    .await;
    (image, made.unwrap().artifact)
}

fn repository(mutability: ImageTagMutability) -> RepositoryState {
    RepositoryState {
        name: REPOSITORY.into(),
        uri: format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{REPOSITORY}"),
        registry_id: "123456789012".into(),
        created: false,
        scan_on_push: true,
        tag_mutability: mutability,
        mutability_exclusions: Vec::new(),
        encryption: EncryptionType::Aes256,
    }
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

/// A push of `tags`, of an image that is stamped with no commit (a mirror).
fn asked(tags: &[String], push: bool) -> Asked<'_> {
    Asked {
        tags,
        push,
        commit: None,
    }
}

/// Requests other than reads.
fn writes(requests: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    requests
        .iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .collect()
}

fn failure(error: &anyhow::Error) -> &Failure {
    error.downcast_ref::<Failure>().expect("a Failure")
}

#[tokio::test]
async fn writes_the_image_once_then_every_other_tag_by_manifest() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (image, artifact) = mirrored(&source).await;
    let to = testing::destination(&registry);
    let (workflow, log) = testing::workflow();
    let both = tags(&["v1", "latest"]);
    let report = run(&artifact, None, &to, &asked(&both, true), None, &workflow).await;
    let report = report.unwrap().expect("a push report");
    assert_eq!(report.digest, image.digest);
    assert_eq!(report.written, ["v1", "latest"]);
    assert!(report.unchanged.is_empty());
    assert_eq!((report.layers_uploaded, report.layers_present), (3, 0));
    assert_eq!(report.base_blobs.map(|c| c.uploaded), Some(3));
    assert_eq!(registry.tags(REPOSITORY), ["latest", "v1"]);
    for tag in ["v1", "latest"] {
        let stored = registry.manifest(REPOSITORY, tag).unwrap();
        assert_eq!(stored, (image.media_type.clone(), image.manifest.clone()));
    }
    // `latest` is the same manifest PUT again: after v1, with no blob in between.
    let requests = registry.requests();
    let writes: Vec<String> = writes(&requests)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let last_two = &writes[writes.len() - 2..];
    assert_eq!(
        last_two,
        [
            format!("PUT /v2/{REPOSITORY}/manifests/v1"),
            format!("PUT /v2/{REPOSITORY}/manifests/latest")
        ]
    );
    assert_eq!(registry.uploads(), 3);
    let text = log.text();
    let group = format!("::group::Push {}/{REPOSITORY}:v1\n", registry.host());
    assert!(text.contains(&group), "{text}");
    let pushed = format!(
        "Pushed {} as v1, latest (3 layers uploaded, 0 already present) in ",
        image.digest
    );
    assert!(text.contains(&pushed), "{text}");
}

#[tokio::test]
async fn a_second_run_with_the_same_digest_sends_no_blob() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (image, artifact) = mirrored(&source).await;
    let to = testing::destination(&registry);
    let (workflow, _) = testing::workflow();
    let both = tags(&["v1", "latest"]);
    run(&artifact, None, &to, &asked(&both, true), None, &workflow)
        .await
        .unwrap();
    let before = registry.requests().len();
    let (workflow, log) = testing::workflow();
    let again = run(&artifact, None, &to, &asked(&both, true), None, &workflow)
        .await
        .unwrap()
        .unwrap();
    assert!(!again.pushed());
    assert!(again.written.is_empty());
    assert_eq!(again.unchanged, both);
    assert_eq!(again.digest, image.digest);
    let second: Vec<String> = registry.requests()[before..]
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(
        second,
        [
            format!("GET /v2/{REPOSITORY}/manifests/v1 200"),
            format!("GET /v2/{REPOSITORY}/manifests/latest 200")
        ]
    );
    let nothing = format!(
        "Nothing to push: every tag already points to {}.",
        image.digest
    );
    assert!(log.text().contains(&nothing), "{}", log.text());
    // A new tag for the same image is one manifest PUT, no blob.
    let before = registry.requests().len();
    let (workflow, _) = testing::workflow();
    let new_tag = tags(&["v1", "v2"]);
    let added = run(
        &artifact,
        None,
        &to,
        &asked(&new_tag, true),
        None,
        &workflow,
    )
    .await;
    let added = added.unwrap().expect("a push report");
    assert_eq!(
        (added.written, added.unchanged),
        (tags(&["v2"]), tags(&["v1"]))
    );
    assert_eq!((added.layers_uploaded, added.layers_present), (0, 0));
    let third = &registry.requests()[before..];
    let third_writes: Vec<String> = writes(third).iter().map(|r| r.path.clone()).collect();
    assert_eq!(third_writes, [format!("/v2/{REPOSITORY}/manifests/v2")]);
    assert!(
        third.iter().all(|r| !r.path.contains("/blobs/")),
        "{third:#?}"
    );
    assert_eq!(registry.uploads(), 3);
}

#[tokio::test]
async fn an_immutable_tag_on_another_image_fails_before_anything_is_written() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (image, artifact) = mirrored(&source).await;
    let other = registry.seed_image(REPOSITORY, "v1", ImageFormat::Docker, "arm64");
    let to = testing::destination(&registry);
    let (workflow, _) = testing::workflow();
    let immutable = repository(ImageTagMutability::Immutable);
    // v2 is free, but v1 is looked up before anything is written.
    let both = tags(&["v2", "v1"]);
    let error = run(
        &artifact,
        None,
        &to,
        &asked(&both, true),
        Some(&immutable),
        &workflow,
    )
    .await
    .unwrap_err();
    let failure = failure(&error);
    assert_eq!(failure.title, "Tag already exists");
    let expected = format!(
        "The repository '{REPOSITORY}' has immutable tags, and the tag 'v1' already points to \
         another image: {} (image {}) in the registry, while this run has image {}. Nothing was \
         pushed.",
        other.digest, other.config_digest, image.digest
    );
    assert!(
        failure.message.starts_with(&expected),
        "{}",
        failure.message
    );
    let requests = registry.requests();
    assert!(writes(&requests).is_empty(), "{requests:#?}");
    assert_eq!(registry.tags(REPOSITORY), ["v1"]);
    assert_eq!(
        registry.manifest(REPOSITORY, "v1").unwrap().1,
        other.manifest
    );
    assert_eq!(registry.uploads(), 0);
    // Where tags are mutable, the same push moves v1.
    let mutable = repository(ImageTagMutability::Mutable);
    let report = run(
        &artifact,
        None,
        &to,
        &asked(&both, true),
        Some(&mutable),
        &workflow,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.written, both);
    assert_eq!(
        registry.manifest(REPOSITORY, "v1").unwrap().1,
        image.manifest
    );
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_says_what_a_push_would_do() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (image, artifact) = mirrored(&source).await;
    let to = testing::destination(&registry);
    let both = tags(&["v1", "latest"]);
    // No repository yet: nothing to look up either.
    let (workflow, log) = testing::workflow();
    let report = run(&artifact, None, &to, &asked(&both, false), None, &workflow).await;
    assert!(report.unwrap().is_none());
    let expected = format!(
        "push is false: a push would create the repository and write {} as v1, latest.\n",
        image.digest
    );
    assert_eq!(log.text(), expected);
    assert!(registry.requests().is_empty());
    // An existing repository is looked up, by reads only.
    let existing = repository(ImageTagMutability::Immutable);
    let (workflow, log) = testing::workflow();
    let existing = Some(&existing);
    let report = run(
        &artifact,
        None,
        &to,
        &asked(&both, false),
        existing,
        &workflow,
    )
    .await;
    assert!(report.unwrap().is_none());
    let expected = format!(
        "push is false: a push would write {} as v1, latest.\n",
        image.digest
    );
    assert_eq!(log.text(), expected);
    // A conflict is a warning: this run writes nothing, the push after it would fail.
    registry.seed_image(REPOSITORY, "latest", ImageFormat::Docker, "arm64");
    let (workflow, log) = testing::workflow();
    let report = run(
        &artifact,
        None,
        &to,
        &asked(&both, false),
        existing,
        &workflow,
    )
    .await;
    assert!(report.unwrap().is_none());
    let warnings = log.lines_starting("::warning title=A push would fail%3A Tag already exists::");
    assert_eq!(warnings.len(), 1, "{}", log.text());
    let requests = registry.requests();
    assert!(writes(&requests).is_empty(), "{requests:#?}");
    assert_eq!(registry.tags(REPOSITORY), ["latest"]);
    assert_eq!(registry.uploads(), 0);
}

/// Issue 30: tags naming the commit are written first, moving tags last; a moving tag that
/// holds a newer commit's image (here: created 2025, no revision of ours) is left there.
#[tokio::test]
async fn the_commit_tag_goes_first_and_a_newer_commits_tag_is_left_alone() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (image, artifact) = mirrored(&source).await;
    let newer = registry.seed_image(REPOSITORY, "main", ImageFormat::Docker, "arm64");
    let to = testing::destination(&registry);
    let (workflow, log) = testing::workflow();
    let all = tags(&["latest", "main", "sha-4f3c2b1"]);
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let asked = Asked {
        tags: &all,
        push: true,
        commit: Some(Commit {
            sha: "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into(),
            time: at("2024-06-01T00:00:00Z"),
        }),
    };
    let report = run(&artifact, None, &to, &asked, None, &workflow)
        .await
        .unwrap()
        .expect("a push report");
    assert_eq!(report.written, ["sha-4f3c2b1", "latest"]);
    assert_eq!(report.superseded, ["main"]);
    assert_eq!(
        registry
            .manifest(REPOSITORY, "main")
            .map(|(_, bytes)| bytes),
        Some(newer.manifest.clone())
    );
    let requests = registry.requests();
    let puts: Vec<String> = writes(&requests)
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        puts,
        [
            format!("/v2/{REPOSITORY}/manifests/sha-4f3c2b1"),
            format!("/v2/{REPOSITORY}/manifests/latest")
        ]
    );
    assert_eq!(
        registry
            .manifest(REPOSITORY, "latest")
            .map(|(_, bytes)| bytes),
        Some(image.manifest.clone())
    );
    let text = log.text();
    assert!(
        text.contains("::notice title=Superseded by a newer commit::main already holds"),
        "{text}"
    );

    // A commit newer than the image `main` holds moves it as before.
    let later = Asked {
        commit: Some(Commit {
            sha: "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into(),
            time: at("2026-01-01T00:00:00Z"),
        }),
        ..asked
    };
    let report = run(&artifact, None, &to, &later, None, &workflow)
        .await
        .unwrap()
        .expect("a push report");
    assert_eq!(report.written, ["main"]);
    assert!(report.superseded.is_empty());
}

/// With only moving tags, all on a newer commit's image, nothing can be written: the run fails
/// saying how to keep every commit's image, and nothing is uploaded.
#[tokio::test]
async fn only_moving_tags_on_a_newer_image_push_nothing_and_say_why() {
    let source = FakeRegistry::anonymous().await;
    let registry = testing::destination_registry().await;
    let (_, artifact) = mirrored(&source).await;
    registry.seed_image(REPOSITORY, "main", ImageFormat::Docker, "arm64");
    let to = testing::destination(&registry);
    let (workflow, _) = testing::workflow();
    let main = tags(&["main"]);
    let asked = Asked {
        tags: &main,
        push: true,
        commit: Some(Commit {
            sha: "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into(),
            time: chrono::DateTime::UNIX_EPOCH,
        }),
    };
    let error = run(&artifact, None, &to, &asked, None, &workflow)
        .await
        .unwrap_err();
    let failure = failure(&error);
    assert_eq!(failure.title, "Superseded by a newer commit");
    assert!(failure.message.contains("sha-{{short-sha}}"), "{failure:?}");
    assert_eq!(registry.uploads(), 0);
}
