//! What the fake registry holds, and the rules a real registry applies to it: blobs and
//! manifests per repository, tags naming manifests, uploads in progress, injected faults, and
//! the log of requests. No HTTP here.

use std::collections::{BTreeMap, HashMap, HashSet};

use regex::Regex;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A manifest as stored: its type and its exact bytes.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Repository {
    pub blobs: HashMap<String, Vec<u8>>,
    /// By digest.
    pub manifests: HashMap<String, StoredManifest>,
    /// Tag -> manifest digest.
    pub tags: BTreeMap<String, String>,
}

/// "Answer `status` to the next `remaining` requests whose method and path match".
#[derive(Debug)]
pub struct Fault {
    pub method: String,
    pub path: Regex,
    pub status: u16,
    pub remaining: usize,
    /// Seconds sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// One request the registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, as sent.
    pub query: Option<String>,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct Store {
    pub repositories: HashMap<String, Repository>,
    /// Upload id -> (repository, the `_state` its Location carries).
    pub uploads_open: HashMap<String, (String, String)>,
    pub next_id: u64,
    pub faults: Vec<Fault>,
    /// Blobs served with other bytes (of the same length).
    pub corrupt: HashSet<String>,
    /// Tokens handed out by `/token`, with the scopes each grants.
    pub tokens: HashMap<String, Vec<String>>,
    pub log: Vec<LoggedRequest>,
    /// The origin its upload `Location` and token realm name instead of its own, when set.
    pub elsewhere: Option<String>,
    pub uploads_done: usize,
    pub mounts_done: usize,
    /// A Basic password that replaces the one the registry started with, after this many
    /// more requests: a token that runs out mid-push.
    pub password_change: Option<(usize, String)>,
    /// The Basic password in force once changed.
    pub password: Option<String>,
}

/// Why a manifest PUT is refused: (HTTP status, distribution error code, message).
pub type Refusal = (u16, &'static str, String);

impl Store {
    /// The Basic password in force for this request (`started` until a change comes due).
    pub fn basic_password(&mut self, started: &str) -> String {
        match self.password_change.take() {
            Some((0, password)) => self.password = Some(password),
            Some((left, password)) => self.password_change = Some((left - 1, password)),
            None => {}
        }
        self.password.clone().unwrap_or_else(|| started.to_string())
    }

    pub fn repository(&mut self, name: &str) -> &mut Repository {
        self.repositories.entry(name.to_string()).or_default()
    }

    pub fn blob(&self, repository: &str, digest: &str) -> Option<&Vec<u8>> {
        self.repositories.get(repository)?.blobs.get(digest)
    }

    /// A manifest by tag or digest, with its digest.
    pub fn manifest(&self, repository: &str, reference: &str) -> Option<(String, StoredManifest)> {
        let repository = self.repositories.get(repository)?;
        let digest = match repository.tags.get(reference) {
            Some(digest) => digest.clone(),
            None => reference.to_string(),
        };
        let stored = repository.manifests.get(&digest)?.clone();
        Some((digest, stored))
    }

    /// Stores the blob and returns its digest.
    pub fn put_blob(&mut self, repository: &str, bytes: Vec<u8>) -> String {
        let digest = sha256(&bytes);
        self.repository(repository)
            .blobs
            .insert(digest.clone(), bytes);
        digest
    }

    /// Stores the manifest under its digest and points `tag` at it (unless the reference is a
    /// digest); returns the digest. No check: seeding may build states a registry would refuse.
    pub fn put_manifest(
        &mut self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> String {
        let digest = sha256(&bytes);
        let repository = self.repository(repository);
        repository.manifests.insert(
            digest.clone(),
            StoredManifest {
                media_type: media_type.to_string(),
                bytes,
            },
        );
        if !reference.starts_with("sha256:") {
            repository
                .tags
                .insert(reference.to_string(), digest.clone());
        }
        digest
    }

    /// The checks a registry makes before it accepts a manifest: readable JSON of the type it
    /// is sent as, a digest reference that matches the bytes, and everything it points to
    /// present in this repository (blobs for an image, manifests for an index).
    pub fn check_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), Refusal> {
        let invalid = |message: String| Err((400, "MANIFEST_INVALID", message));
        if reference.starts_with("sha256:") && sha256(bytes) != reference {
            return Err((
                400,
                "DIGEST_INVALID",
                format!("the manifest's digest is {}", sha256(bytes)),
            ));
        }
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return invalid("the manifest is not JSON".into());
        };
        if let Some(declared) = value.get("mediaType").and_then(Value::as_str) {
            if declared != media_type {
                return invalid(format!(
                    "sent as {media_type} but its mediaType is {declared}"
                ));
            }
        }
        let empty = Repository::default();
        let held = self.repositories.get(repository).unwrap_or(&empty);
        let unknown = |digest: &str| Err((400, "MANIFEST_BLOB_UNKNOWN", digest.to_string()));
        if let Some(children) = value.get("manifests").and_then(Value::as_array) {
            for digest in children.iter().map(digest_of) {
                if !held.manifests.contains_key(digest) {
                    return unknown(digest);
                }
            }
            return Ok(());
        }
        let Some(config) = value.get("config") else {
            return invalid("the manifest names no config".into());
        };
        let layers = value.get("layers").and_then(Value::as_array);
        for digest in std::iter::once(config)
            .chain(layers.into_iter().flatten())
            .map(digest_of)
        {
            if !held.blobs.contains_key(digest) {
                return unknown(digest);
            }
        }
        Ok(())
    }

    /// The status of the first fault that matches, counting it down.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<(u16, Option<u64>)> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == method && f.path.is_match(path))?;
        fault.remaining -= 1;
        let answer = (fault.status, fault.retry_after);
        self.faults.retain(|f| f.remaining > 0);
        Some(answer)
    }

    /// A fresh id, for uploads and tokens.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

fn digest_of(descriptor: &Value) -> &str {
    descriptor
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or("(a descriptor without a digest)")
}

/// Other bytes of the same length (one more when there are none), so that only a digest check
/// can tell.
pub fn corrupted(bytes: &[u8]) -> Vec<u8> {
    if bytes.is_empty() {
        return vec![0];
    }
    bytes.iter().map(|b| b ^ 0xff).collect()
}
