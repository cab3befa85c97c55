//! Content digests: the one place `sha256:<hex>` is made and checked.
//!
//! A digest names a blob or manifest by its bytes, and it ends up in URL paths
//! (`/v2/<repo>/blobs/<digest>`): one that came from a registry or a user is parsed before use,
//! so a malformed value (`../x`) can never become part of a request.

use std::fmt;

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a digest (sha256:<64 hex digits>)")]
pub struct BadDigest(pub String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::finish(Sha256::new_with_prefix(bytes))
    }

    /// The digest of everything a running hash has seen.
    pub fn finish(hasher: Sha256) -> Self {
        Digest(format!("sha256:{:x}", hasher.finalize()))
    }

    /// A digest as a registry, a daemon or a user writes it. Only sha256 is accepted: it is
    /// what every registry this action talks to uses, and what it computes to check bytes.
    pub fn parse(text: &str) -> Result<Self, BadDigest> {
        let hex = text
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64)
            .filter(|hex| hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        match hex {
            Some(_) => Ok(Digest(text.to_string())),
            None => Err(BadDigest(text.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        assert_eq!(Digest::of(b""), EMPTY);
        let mut running = Sha256::new();
        running.update(b"");
        assert_eq!(Digest::finish(running), Digest::of(b""));
    }

    #[test]
    fn parses_only_well_formed_sha256_digests() {
        assert_eq!(Digest::parse(EMPTY).unwrap(), Digest::of(b""));
        for bad in [
            "sha256:abc",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78",
            "",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }
}
