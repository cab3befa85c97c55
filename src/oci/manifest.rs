//! Manifests as a registry stores them: the exact bytes (the digest is of the bytes, so they are
//! never re-serialised by accident), their media type, and typed views read from them.

use serde_json::{json, Value};

use super::digest::Digest;
use super::index::Index;
use super::media_type::MediaType;

/// A blob a manifest points to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Descriptor {
    pub digest: Digest,
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }

    /// A descriptor's `digest` and `size` from its JSON; `None` when either is missing or bad.
    pub fn from_json(value: &Value) -> Option<Self> {
        Some(Self {
            digest: Digest::parse(value.get("digest")?.as_str()?).ok()?,
            size: value.get("size")?.as_u64()?,
        })
    }
}

/// A manifest or an index, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: Digest,
    pub media_type: MediaType,
    pub bytes: Vec<u8>,
}

/// What a manifest's bytes say, by kind.
#[derive(Debug, Clone)]
pub enum Parsed {
    Image(ImageManifest),
    Index(Index),
}

/// An image manifest's config and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the manifest is not usable: {0}")]
pub struct Unusable(pub String);

impl Manifest {
    /// A manifest made here: its digest is computed from the bytes.
    pub fn new(media_type: MediaType, bytes: Vec<u8>) -> Self {
        Self {
            digest: Digest::of(&bytes),
            media_type,
            bytes,
        }
    }

    pub fn json(&self) -> Result<Value, Unusable> {
        serde_json::from_slice(&self.bytes).map_err(|e| Unusable(format!("not JSON: {e}")))
    }

    /// An index by its media type, or by its shape when the registry sent a generic type.
    pub fn is_index(&self, value: &Value) -> bool {
        self.media_type.is_index() || value.get("manifests").is_some()
    }

    pub fn parse(&self) -> Result<Parsed, Unusable> {
        let value = self.json()?;
        if self.is_index(&value) {
            return Ok(Parsed::Index(Index::read(&value)));
        }
        Ok(Parsed::Image(ImageManifest::read(&value)?))
    }

    /// The image manifest this is; an index is refused.
    pub fn image(&self) -> Result<ImageManifest, Unusable> {
        match self.parse()? {
            Parsed::Image(image) => Ok(image),
            Parsed::Index(_) => Err(Unusable("an index inside an index is not supported".into())),
        }
    }

    /// The config blob's digest (an image manifest's; an index has none).
    pub fn config_digest(&self) -> Option<Digest> {
        let value = self.json().ok()?;
        Digest::parse(value.pointer("/config/digest")?.as_str()?).ok()
    }

    /// This manifest as a blob an index points to.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
        }
    }
}

impl ImageManifest {
    fn read(value: &Value) -> Result<Self, Unusable> {
        let config = value
            .get("config")
            .and_then(Descriptor::from_json)
            .ok_or_else(|| Unusable("it names no config".into()))?;
        let layers = value
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Unusable("it lists no layers".into()))?
            .iter()
            .map(Descriptor::from_json)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Unusable("a layer lacks its digest or size".into()))?;
        Ok(Self { config, layers })
    }

    /// Every blob, config first.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// The compressed size of the layers.
    pub fn layers_size(&self) -> u64 {
        // Saturating: the sizes are the registry's word, and a sum past u64 is a lie to show,
        // not a reason to panic.
        self.layers
            .iter()
            .fold(0u64, |total, layer| total.saturating_add(layer.size))
    }
}

/// `base` with a new config and, when given, one more layer, in the base's own format (Docker v2
/// or OCI): the base's layer descriptors stay exactly as they are (annotations included).
pub fn patched(
    base: &Manifest,
    config: &Descriptor,
    new_layer: Option<&Descriptor>,
) -> Result<Manifest, Unusable> {
    let mut manifest = base.json()?;
    let declared = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .map(MediaType::parse)
        .unwrap_or_else(|| base.media_type.clone());
    let media_type = if declared.is_oci() {
        MediaType::OciManifest
    } else {
        MediaType::DockerManifest
    };
    let (config_type, layer_type) = media_type.config_and_layer();
    let object = manifest
        .as_object_mut()
        .ok_or_else(|| Unusable("the base manifest is not a JSON object".into()))?;
    // Annotations and a subject describe the base, not the patched image.
    object.remove("annotations");
    object.remove("subject");
    object.insert(
        "config".into(),
        json!({"mediaType": config_type.as_str(), "digest": config.digest.as_str(), "size": config.size}),
    );
    if let Some(layer) = new_layer {
        object
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| Unusable("the base manifest has no layers list".into()))?
            .push(json!({"mediaType": layer_type.as_str(), "digest": layer.digest.as_str(), "size": layer.size}));
    }
    if object.contains_key("mediaType") || !media_type.is_oci() {
        object.insert("mediaType".into(), json!(media_type.as_str()));
    }
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Unusable(e.to_string()))?;
    Ok(Manifest::new(media_type, bytes))
}

/// A Docker v2 image manifest of `config` and gzip `layers`, the format the daemon's own push
/// writes, so that an image reads the same whichever route pushed it.
pub fn docker_image(config: &Descriptor, layers: &[Descriptor]) -> Manifest {
    let (config_type, layer_type) = MediaType::DockerManifest.config_and_layer();
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| json!({"mediaType": layer_type.as_str(), "size": l.size, "digest": l.digest.as_str()}))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::DockerManifest.as_str(),
        "config": {"mediaType": config_type.as_str(), "size": config.size, "digest": config.digest.as_str()},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).expect("a JSON value serialises");
    Manifest::new(MediaType::DockerManifest, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn manifest(text: &str) -> Manifest {
        Manifest::new(MediaType::parse(""), text.as_bytes().to_vec())
    }

    fn oci_base() -> Manifest {
        manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":1}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":10,"annotations":{{"k":"v"}}}}],
            "annotations":{{"org.opencontainers.image.base.name":"x"}}}}"#,
            digest('0'),
            digest('a')
        ))
    }

    #[test]
    fn reads_the_config_and_layers_of_an_image_manifest() {
        let base = oci_base();
        assert_eq!(base.config_digest().unwrap(), digest('0'));
        let image = base.image().unwrap();
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers_size(), 10);
        assert_eq!(image.blobs().count(), 2);
        let index = manifest(r#"{"schemaVersion":2,"manifests":[]}"#);
        assert_eq!(index.config_digest(), None);
        assert!(matches!(index.parse().unwrap(), Parsed::Index(_)));
        assert!(index.image().is_err());
        let bad = manifest(r#"{"config":{"digest":"sha256:x","size":1},"layers":[]}"#);
        assert!(bad.image().is_err());
    }

    #[test]
    fn keeps_the_base_layers_and_format() {
        let config = Descriptor::of(b"config");
        let layer = Descriptor::of(b"layer");
        let patched = patched(&oci_base(), &config, Some(&layer)).unwrap();
        assert_eq!(patched.media_type, MediaType::OciManifest);
        assert_eq!(patched.digest, Digest::of(&patched.bytes));
        let value = patched.json().unwrap();
        assert_eq!(value["config"]["digest"], config.digest.as_str());
        assert_eq!(value["layers"][0]["annotations"]["k"], "v");
        assert_eq!(value["layers"][1]["digest"], layer.digest.as_str());
        assert_eq!(
            value["layers"][1]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert!(value.get("annotations").is_none());
    }

    #[test]
    fn a_docker_image_manifest_of_a_config_and_layers() {
        let (config, layer) = (Descriptor::of(b"config"), Descriptor::of(b"layer"));
        let made = docker_image(&config, std::slice::from_ref(&layer));
        assert_eq!(made.digest, Digest::of(&made.bytes));
        let image = made.image().unwrap();
        assert_eq!(image.config, config);
        assert_eq!(image.layers, vec![layer]);
        let value = made.json().unwrap();
        assert_eq!(value["mediaType"], MediaType::DockerManifest.as_str());
        assert_eq!(
            value["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }

    #[test]
    fn docker_bases_stay_docker() {
        let base = manifest(&format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":1}},
            "layers":[]}}"#,
            digest('0')
        ));
        let patched = patched(&base, &Descriptor::of(b"config"), None).unwrap();
        assert_eq!(patched.media_type, MediaType::DockerManifest);
        let value = patched.json().unwrap();
        assert_eq!(
            value["config"]["mediaType"],
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(value["layers"], json!([]));
    }
}
