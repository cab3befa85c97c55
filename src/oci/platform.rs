//! Platforms as `os/architecture[/variant]`: one parser for the `platforms` input, index entries
//! and image configs, and the one rule for which entries a list of wanted platforms keeps.

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `os/architecture[/variant]`, lower-case letters, digits (and `_` in the architecture,
    /// as in `x86_64`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let word = |w: &str, underscore: bool| {
            !w.is_empty()
                && w.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || (underscore && b == b'_')
                })
        };
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if word(os, false) && word(arch, true) => Ok(Self::new(os, arch, None)),
            [os, arch, variant] if word(os, false) && word(arch, true) && word(variant, false) => {
                Ok(Self::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "'{text}' is not a platform: os/architecture[/variant], lower-case"
            )),
        }
    }

    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// An index entry's `platform` object; `None` without one, and for attestations and other
    /// entries whose os is `unknown`.
    pub fn of_entry(descriptor: &Value) -> Option<Self> {
        let p = descriptor.get("platform")?;
        let os = p.get("os")?.as_str()?;
        let architecture = p.get("architecture")?.as_str()?;
        if os == "unknown" {
            return None;
        }
        Some(Self::new(
            os,
            architecture,
            p.get("variant").and_then(Value::as_str),
        ))
    }

    /// An image config's platform, `unknown` for what it does not say.
    pub fn of_config(config: &[u8]) -> Self {
        let value: Value = serde_json::from_slice(config).unwrap_or_default();
        let get = |k: &str| value.get(k).and_then(Value::as_str);
        Self::new(
            get("os").unwrap_or("unknown"),
            get("architecture").unwrap_or("unknown"),
            get("variant"),
        )
    }

    /// Whether `wanted` keeps this platform: an exact match, or a wanted platform without a
    /// variant, which takes every variant (`linux/arm64` keeps `linux/arm64/v8`).
    pub fn is_wanted(&self, wanted: &[Platform]) -> bool {
        wanted.iter().any(|w| {
            w.os == self.os
                && w.architecture == self.architecture
                && (w.variant.is_none() || w.variant == self.variant)
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Platforms joined for a message: `linux/amd64, linux/arm64`.
pub fn list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn parses_and_prints_os_arch_and_variant() {
        assert_eq!(
            p("linux/arm64/v8"),
            Platform::new("linux", "arm64", Some("v8"))
        );
        assert_eq!(p("linux/x86_64").to_string(), "linux/x86_64");
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        for bad in [
            "amd64",
            "Linux/AMD64",
            "linux/",
            "linux/amd64/v1/x",
            "lin ux/amd64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_wanted_platform_without_variant_takes_every_variant() {
        let wanted = [p("linux/arm64")];
        assert!(p("linux/arm64/v8").is_wanted(&wanted));
        assert!(p("linux/arm64").is_wanted(&wanted));
        assert!(!p("linux/amd64").is_wanted(&wanted));
        assert!(p("linux/arm/v7").is_wanted(&[p("linux/arm/v7")]));
        assert!(!p("linux/arm/v6").is_wanted(&[p("linux/arm/v7")]));
    }

    #[test]
    fn reads_entries_and_configs() {
        let entry = json!({"platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}});
        assert_eq!(Platform::of_entry(&entry), Some(p("linux/arm64/v8")));
        let attestation = json!({"platform": {"os": "unknown", "architecture": "unknown"}});
        assert_eq!(Platform::of_entry(&attestation), None);
        assert_eq!(Platform::of_entry(&json!({})), None);
        let config = br#"{"os":"linux","architecture":"amd64"}"#;
        assert_eq!(Platform::of_config(config), p("linux/amd64"));
        assert_eq!(Platform::of_config(b"{}").to_string(), "unknown/unknown");
    }
}
