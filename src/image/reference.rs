//! Image references as Docker reads them: `[registry/]path[:tag][@sha256:...]`, with Docker
//! Hub's defaults (`nginx` is `docker.io/library/nginx:latest`).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Docker Hub's name in references, and where its registry API actually lives.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

static COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("valid"));
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").expect("valid"));
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sha256:[0-9a-f]{64}$").expect("valid"));
static HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")
        .expect("valid")
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// As written, normalised: `docker.io` for Docker Hub, else `host[:port]`.
    pub registry: String,
    /// The repository path, `library/` added for official Docker Hub images.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageReference {
    /// Parses a reference; the error says what is wrong with it.
    pub fn parse(value: &str) -> Result<Self, String> {
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => {
                if !DIGEST.is_match(digest) {
                    return Err(format!(
                        "the digest '{digest}' must be sha256: followed by 64 lower-case hex digits"
                    ));
                }
                (rest, Some(digest.to_string()))
            }
            None => (value, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            if !TAG.is_match(tag) {
                return Err(format!(
                    "the tag '{tag}' must be letters, digits, '_', '.' and '-', at most 128"
                ));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !HOST.is_match(&registry) {
            return Err(format!("'{registry}' is not a registry host"));
        }
        // The pattern only pre-checks the shape; the URL parser, which every request goes
        // through, has the last word (a port above 65535, an IPv4 address out of range).
        if let Err(e) = url::Url::parse(&format!("https://{registry}/")) {
            return Err(format!("'{registry}' is not a registry host ({e})"));
        }
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if path.is_empty() || path.split('/').any(|c| !COMPONENT.is_match(c)) {
            return Err(format!(
                "the repository '{path}' must be lower-case letters and digits, separated by \
                 '/', '.', '_' or '-'"
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        // The limit is on the full name, as Docker counts it: `nginx` is
        // `docker.io/library/nginx`. Counted on what was typed, a name could pass here and be
        // refused once written out in full.
        let full = registry.len() + 1 + repository.len();
        if full > 255 {
            return Err(format!(
                "the name is longer than 255 characters ({full} as {registry}/...)"
            ));
        }
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The digest when pinned, else the tag (`latest` when neither is written).
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The host that serves the registry API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Whether the registry is on this machine as written (`localhost`, 127.0.0.0/8, `[::1]`),
    /// where plain HTTP is allowed; a name such as `127.0.0.1.nip.io` is not.
    pub fn is_loopback(&self) -> bool {
        url::Url::parse(&format!("http://{}/", self.registry))
            .is_ok_and(|url| crate::http::is_loopback(&url))
    }

    /// `registry/repository`, the name the Docker daemon uses.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image pinned to `digest`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> ImageReference {
        ImageReference::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    #[test]
    fn the_length_limit_counts_the_full_name() {
        // 255 in full: docker.io/library/ is 18 characters.
        let longest = "a".repeat(255 - 18);
        assert_eq!(parse(&longest).to_string().len(), 255);
        let err = ImageReference::parse(&format!("{longest}b")).unwrap_err();
        assert!(err.contains("256 as docker.io/"), "{err}");
        let shown = parse(&longest).to_string();
        assert_eq!(parse(&shown).to_string(), shown);
    }

    #[test]
    fn docker_hub_defaults() {
        let r = parse("nginx");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference()),
            ("docker.io", "library/nginx", "latest")
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = parse("docker.io/scicatproject/backend-next:v4.8.0");
        assert_eq!(r.repository, "scicatproject/backend-next");
        assert_eq!(r.reference(), "v4.8.0");
        assert_eq!(
            parse("index.docker.io/library/busybox").registry,
            "docker.io"
        );
    }

    #[test]
    fn registries_ports_and_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("127.0.0.1:5000/team/base:1.0@{digest}"));
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/base");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.reference(), digest);
        assert!(r.is_loopback());
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert!(parse("localhost/app").is_loopback());
        assert!(!parse("ghcr.io/o/r").is_loopback());
        assert!(parse("[::1]:5000/app").is_loopback());
        assert!(parse("127.1.2.3:5000/app").is_loopback());
        // A name that only looks like an address is resolved like any other.
        assert!(!parse("127.0.0.1.nip.io:5000/app").is_loopback());
        assert!(!parse("127.evil.example/app").is_loopback());
        assert_eq!(parse("ghcr.io/o/r:v1").to_string(), "ghcr.io/o/r:v1");
        assert_eq!(
            parse("ghcr.io/o/r").pinned(&digest),
            format!("ghcr.io/o/r@{digest}")
        );
    }

    #[test]
    fn bad_references_say_why() {
        for (value, why) in [
            ("Nginx", "lower-case"),
            ("nginx:", "tag"),
            ("nginx@sha256:abc", "64"),
            ("ghcr.io/", "repository"),
            ("a//b", "repository"),
            ("nginx:a b", "tag"),
            ("bad_host:5000/x", "registry host"),
            ("ghcr.io:99999/x", "invalid port"),
            ("999.999.999.999/x", "registry host"),
            ("999.999.999.999:5000/x", "registry host"),
            ("[::1:5000/x", "registry host"),
        ] {
            let err = ImageReference::parse(value).unwrap_err();
            assert!(err.contains(why), "{value}: {err}");
        }
    }
}
