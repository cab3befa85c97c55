//! The build key: one digest over everything that decides what a build makes, so that an image
//! built from the same inputs can be found and reused instead of built again.
//!
//! In the key: the context's fingerprint (its files after `.dockerignore`: names, modes,
//! contents), the Dockerfile, `build-args`, `target`, the platform built for, the ids of the
//! build secrets (never their values), the user's `labels`, the builder, and each base image
//! with the digest it resolved to. Not in it: the labels that name a commit or a run
//! (revision, created, version, the building run), so that a pull request's image serves the
//! push that merges the same tree; a reused image keeps those of the run that built it.

use serde_json::json;

use crate::oci::Digest;

/// The label that carries the key in the image's config.
pub use crate::oci::facts::BUILD_KEY_LABEL as KEY_LABEL;

/// Bumped whenever what goes into the key changes, so that no old key matches a new meaning.
const SCHEME: &str = "ship-to-ecr build key 1";

/// What decides a build's image, as plain values.
pub struct BuildInputs<'a> {
    pub context: &'a Digest,
    pub dockerfile: &'a [u8],
    pub build_args: &'a [(String, String)],
    pub target: Option<&'a str>,
    /// `os/arch[/variant]`: the `platform` input, else the daemon's own.
    pub platform: &'a str,
    pub secret_ids: Vec<&'a str>,
    pub labels: &'a [(String, String)],
    /// `BuildKit` or `classic`: the two do not make the same image of one Dockerfile.
    pub builder: &'a str,
    /// Each image the Dockerfile names, with the digest (or the daemon's image id) it is.
    pub bases: &'a [(String, String)],
    /// When the context sends git's folder to the builder: the checked-out commit, which a
    /// build can read out of it. `None` when `.dockerignore` leaves it out.
    pub checkout: Option<&'a str>,
}

impl BuildInputs<'_> {
    pub fn key(&self) -> Digest {
        // Lists keep their order where it matters (a later build-arg wins) and are sorted
        // where it does not (secret ids). serde_json writes object keys sorted.
        let mut secret_ids = self.secret_ids.clone();
        secret_ids.sort_unstable();
        let document = json!({
            "scheme": SCHEME,
            "context": self.context.as_str(),
            "dockerfile": Digest::of(self.dockerfile).as_str(),
            "build_args": self.build_args,
            "target": self.target,
            "platform": self.platform,
            "secret_ids": secret_ids,
            "labels": self.labels,
            "builder": self.builder,
            "bases": self.bases,
            "checkout": self.checkout,
        });
        Digest::of(&serde_json::to_vec(&document).expect("JSON of strings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_input_is_in_the_key_and_secret_order_is_not() {
        let context = Digest::of(b"files");
        let other_context = Digest::of(b"files!");
        let args = pairs(&[("A", "1")]);
        let labels = pairs(&[("team", "web")]);
        let bases = pairs(&[("node:22", "sha256:aa")]);
        let base = || BuildInputs {
            context: &context,
            dockerfile: b"FROM node:22",
            build_args: &args,
            target: None,
            platform: "linux/amd64",
            secret_ids: vec!["npm", "aws"],
            labels: &labels,
            builder: "BuildKit",
            bases: &bases,
            checkout: None,
        };
        let key = base().key();
        assert_eq!(
            BuildInputs {
                secret_ids: vec!["aws", "npm"],
                ..base()
            }
            .key(),
            key
        );
        let other_args = pairs(&[("A", "2")]);
        let other_labels = pairs(&[("team", "api")]);
        let moved_base = pairs(&[("node:22", "sha256:bb")]);
        let changes = [
            BuildInputs {
                context: &other_context,
                ..base()
            },
            BuildInputs {
                dockerfile: b"FROM node:22 ",
                ..base()
            },
            BuildInputs {
                build_args: &other_args,
                ..base()
            },
            BuildInputs {
                target: Some("test"),
                ..base()
            },
            BuildInputs {
                platform: "linux/arm64",
                ..base()
            },
            BuildInputs {
                secret_ids: vec!["npm"],
                ..base()
            },
            BuildInputs {
                labels: &other_labels,
                ..base()
            },
            BuildInputs {
                builder: "classic",
                ..base()
            },
            BuildInputs {
                bases: &moved_base,
                ..base()
            },
            BuildInputs {
                checkout: Some("4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"),
                ..base()
            },
        ];
        for (i, changed) in changes.iter().enumerate() {
            assert_ne!(changed.key(), key, "change {i}");
        }
    }
}
