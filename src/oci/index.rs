//! Indexes (OCI image indexes, Docker manifest lists): their entries with platforms, which
//! entries a list of wanted platforms keeps, and a new index made from a base's.

use serde_json::{json, Value};

use super::digest::Digest;
use super::manifest::{Manifest, Unusable};
use super::media_type::MediaType;
use super::platform::Platform;

/// An index's entries, in order.
#[derive(Debug, Clone)]
pub struct Index {
    pub entries: Vec<IndexEntry>,
}

/// One entry of an index: its descriptor as written (kept whole when the entry is copied), its
/// digest, and its platform (`None` for attestations and entries without one).
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub descriptor: Value,
    pub digest: Digest,
    pub platform: Option<Platform>,
}

impl Index {
    /// The entries of an index's JSON; an entry without a usable digest is skipped.
    pub fn read(value: &Value) -> Self {
        let entries = value
            .get("manifests")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|descriptor| {
                let digest = Digest::parse(descriptor.get("digest")?.as_str()?).ok()?;
                Some(IndexEntry {
                    platform: Platform::of_entry(descriptor),
                    descriptor: descriptor.clone(),
                    digest,
                })
            })
            .collect();
        Self { entries }
    }

    /// The platforms the index has images for.
    pub fn platforms(&self) -> Vec<Platform> {
        self.entries
            .iter()
            .filter_map(|e| e.platform.clone())
            .collect()
    }
}

impl IndexEntry {
    /// Whether a walk keeps this entry: with `wanted` platforms, the entries of those platforms;
    /// without, every entry with a platform, and platform-less ones (attestations) only when
    /// `keep_unplatformed`.
    pub fn is_kept(&self, wanted: &[Platform], keep_unplatformed: bool) -> bool {
        match &self.platform {
            Some(p) => wanted.is_empty() || p.is_wanted(wanted),
            None => wanted.is_empty() && keep_unplatformed,
        }
    }
}

/// The descriptor of `child` for a new index, carrying over `platform` when the old entry had
/// one.
pub fn entry_for(child: &Manifest, platform: Option<&Value>) -> Value {
    let mut entry = json!({
        "mediaType": child.media_type.as_str(),
        "digest": child.digest.as_str(),
        "size": child.bytes.len(),
    });
    if let Some(platform) = platform {
        entry["platform"] = platform.clone();
    }
    entry
}

/// A new index from `base`: its other fields kept, `entries` as its manifests, and no
/// annotations or subject (they describe the base, not this new index).
pub fn rebuild(base: &Manifest, entries: Vec<Value>) -> Result<Manifest, Unusable> {
    let mut value = base.json()?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| Unusable("the index is not a JSON object".into()))?;
    object.remove("annotations");
    object.remove("subject");
    object.insert("manifests".into(), Value::Array(entries));
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .map(MediaType::parse)
        .unwrap_or_else(|| base.media_type.clone());
    let bytes = serde_json::to_vec(&value).map_err(|e| Unusable(e.to_string()))?;
    Ok(Manifest::new(media_type, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index() -> Manifest {
        let value = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "annotations": {"a": "b"},
        "manifests": [
            {"digest": d('a'), "size": 1, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": d('b'), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": d('c'), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:bad", "size": 1}
        ]});
        Manifest::new(MediaType::OciIndex, serde_json::to_vec(&value).unwrap())
    }

    #[test]
    fn entries_platforms_and_what_a_filter_keeps() {
        let parsed = Index::read(&index().json().unwrap());
        let platforms: Vec<Option<String>> = parsed
            .entries
            .iter()
            .map(|e| e.platform.as_ref().map(Platform::to_string))
            .collect();
        assert_eq!(
            platforms,
            [
                Some("linux/arm64/v8".into()),
                None,
                Some("linux/amd64".into())
            ]
        );
        let arm = [Platform::parse("linux/arm64").unwrap()];
        let kept = |wanted: &[Platform], all: bool| -> Vec<String> {
            parsed
                .entries
                .iter()
                .filter(|e| e.is_kept(wanted, all))
                .map(|e| e.digest.to_string())
                .collect()
        };
        assert_eq!(kept(&arm, true), [d('a')]);
        assert_eq!(kept(&[], false), [d('a'), d('c')]);
        assert_eq!(kept(&[], true), [d('a'), d('b'), d('c')]);
    }

    #[test]
    fn a_rebuilt_index_keeps_its_fields_but_not_annotations() {
        let base = index();
        let child = Manifest::new(MediaType::OciManifest, b"{}".to_vec());
        let platform = json!({"os": "linux", "architecture": "amd64"});
        let rebuilt = rebuild(&base, vec![entry_for(&child, Some(&platform))]).unwrap();
        assert_eq!(rebuilt.media_type, MediaType::OciIndex);
        let value = rebuilt.json().unwrap();
        assert!(value.get("annotations").is_none());
        assert_eq!(value["schemaVersion"], 2);
        assert_eq!(value["manifests"][0]["digest"], child.digest.as_str());
        assert_eq!(value["manifests"][0]["size"], 2);
        assert_eq!(value["manifests"][0]["platform"], platform);
    }
}
