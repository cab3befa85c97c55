//! A patched image's manifest, in the base's own format (Docker v2 or OCI): the base's layer
//! descriptors exactly as they are, the new layer after them, the new config.

use serde_json::{json, Value};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A blob a manifest points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: String,
    pub size: u64,
}

/// The patched manifest's bytes and media type.
pub fn patched(
    base: &[u8],
    base_media_type: &str,
    config: &Descriptor,
    new_layer: Option<&Descriptor>,
) -> Result<(Vec<u8>, String), String> {
    let mut manifest: Value =
        serde_json::from_slice(base).map_err(|e| format!("the base manifest is not JSON: {e}"))?;
    let declared = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(base_media_type)
        .to_string();
    let oci = declared.contains("vnd.oci.");
    let (media_type, config_type, layer_type) = if oci {
        (
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    } else {
        (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    };
    let object = manifest
        .as_object_mut()
        .ok_or("the base manifest is not a JSON object")?;
    // Annotations describe the base, not the patched image.
    object.remove("annotations");
    object.remove("subject");
    object.insert(
        "config".into(),
        json!({"mediaType": config_type, "digest": config.digest, "size": config.size}),
    );
    if let Some(layer) = new_layer {
        object
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .ok_or("the base manifest has no layers list")?
            .push(json!({"mediaType": layer_type, "digest": layer.digest, "size": layer.size}));
    }
    if object.contains_key("mediaType") || !oci {
        object.insert("mediaType".into(), json!(media_type));
    }
    let bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    Ok((bytes, media_type.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCI_BASE: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:old","size":1},
        "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:a","size":10,"annotations":{"k":"v"}}],
        "annotations":{"org.opencontainers.image.base.name":"x"}}"#;

    #[test]
    fn keeps_the_base_layers_and_format() {
        let config = Descriptor {
            digest: "sha256:new".into(),
            size: 5,
        };
        let layer = Descriptor {
            digest: "sha256:b".into(),
            size: 20,
        };
        let (bytes, media_type) = patched(OCI_BASE.as_bytes(), "", &config, Some(&layer)).unwrap();
        assert_eq!(media_type, OCI_MANIFEST);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["config"]["digest"], "sha256:new");
        assert_eq!(value["layers"][0]["annotations"]["k"], "v");
        assert_eq!(value["layers"][1]["digest"], "sha256:b");
        assert_eq!(
            value["layers"][1]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert!(value.get("annotations").is_none());
    }

    #[test]
    fn docker_bases_stay_docker() {
        let base = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:old","size":1},
            "layers":[]}"#;
        let config = Descriptor {
            digest: "sha256:new".into(),
            size: 5,
        };
        let (bytes, media_type) = patched(base.as_bytes(), "", &config, None).unwrap();
        assert_eq!(media_type, DOCKER_MANIFEST);
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value["config"]["mediaType"],
            "application/vnd.docker.container.image.v1+json"
        );
        assert_eq!(value["layers"], json!([]));
    }
}
