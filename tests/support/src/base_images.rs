//! Base images for patch mode, pushed to a source registry stand-in with plain HTTP (not with
//! the action's code). Their layers are compressed at gzip's best level with a file name in the
//! header, so their bytes differ from what the Docker daemon would make of the same tar: a
//! pushed layer with the base's digest was copied, not re-compressed.

use std::io::Write;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::images::docker;
use crate::processes::{self, Server};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A registry holding base images: anonymous, or with htpasswd Basic credentials.
pub struct SourceRegistry {
    pub server: Server,
    credentials: Option<(String, String)>,
    /// For a registry over TLS: the private CA that signed its certificate, and its folder.
    pub ca_file: Option<std::path::PathBuf>,
    _tls: Option<tempfile::TempDir>,
    /// Image ids the daemon may have pulled from here, removed on drop.
    pushed_configs: std::sync::Mutex<Vec<String>>,
}

/// A base image as pushed: the reference to give `base-image`, and its parts.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub reference: String,
    pub manifest_digest: String,
    pub manifest_size: usize,
    pub config_digest: String,
    pub config: Value,
    /// (digest, compressed bytes, uncompressed tar) of each layer.
    pub layers: Vec<(String, Vec<u8>, Vec<u8>)>,
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The daemon's platform name of this machine's architecture.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

impl SourceRegistry {
    pub fn anonymous() -> Self {
        Self {
            server: processes::registry(None),
            credentials: None,
            ca_file: None,
            _tls: None,
            pushed_configs: Default::default(),
        }
    }

    pub fn private(user: &str, password: &str) -> Self {
        Self {
            server: processes::registry(Some((user, password))),
            credentials: Some((user.into(), password.into())),
            ca_file: None,
            _tls: None,
            pushed_configs: Default::default(),
        }
    }

    /// An anonymous registry over TLS, its certificate (for 127.0.0.1) signed by a private CA
    /// made here with openssl; trust it with `SSL_CERT_FILE=<ca_file>`.
    pub fn tls() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl (installed by scripts/install-stand-ins)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ship-to-ecr test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            path("san.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ]);
        let server =
            processes::registry_with(None, Some((&path("server.pem"), &path("server.key"))));
        Self {
            server,
            credentials: None,
            ca_file: Some(path("ca.pem")),
            _tls: Some(dir),
            pushed_configs: Default::default(),
        }
    }

    pub fn host(&self) -> String {
        self.server
            .url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string()
    }

    /// Where a blob's bytes are on the registry's disk (to corrupt them in a test).
    pub fn blob_file(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.server
            .root()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let client = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let request = client.request(method, url);
        match &self.credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let started = self
            .request(
                reqwest::Method::POST,
                &format!("{}/v2/{repo}/blobs/uploads/", self.server.url),
            )
            .send()
            .unwrap();
        assert_eq!(started.status(), 202, "start upload");
        let location = started.headers()["location"].to_str().unwrap().to_string();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.server.url)
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let done = self
            .request(
                reqwest::Method::PUT,
                &format!("{url}{separator}digest={digest}"),
            )
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(done.status(), 201, "upload {digest}");
        digest
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let done = self
            .request(
                reqwest::Method::PUT,
                &format!("{}/v2/{repo}/manifests/{reference}", self.server.url),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(
            done.status(),
            201,
            "manifest {repo}:{reference}: {}",
            done.text().unwrap_or_default()
        );
    }

    /// Pushes a two-layer base (busybox, then a data layer holding `marker`) with an `ENV`,
    /// a `CMD`, a working folder, a label and an exposed port of its own.
    pub fn push_base(&self, repo: &str, tag: &str, marker: &str) -> BaseImage {
        self.push_base_for(repo, tag, marker, arch())
    }

    /// Pushes the same two layers as [`SourceRegistry::push_base`] with `settings` as the
    /// config's `config` object: an image whose run settings and labels its pusher chose.
    pub fn push_with_settings(
        &self,
        repo: &str,
        tag: &str,
        marker: &str,
        settings: Value,
    ) -> BaseImage {
        let layers = [busybox_layer(), data_layer(marker)]
            .into_iter()
            .map(|tar| (gzip_best(&tar), tar))
            .collect();
        let config = json!({
            "architecture": arch(),
            "os": "linux",
            "created": "2025-06-01T12:00:00Z",
            "config": settings,
            "history": [{"created_by": "busybox"}, {"created_by": "data"}]
        });
        self.push_image(repo, tag, layers, config)
    }

    fn push_base_for(&self, repo: &str, tag: &str, marker: &str, architecture: &str) -> BaseImage {
        let layers = [busybox_layer(), data_layer(marker)]
            .into_iter()
            .map(|tar| (gzip_best(&tar), tar))
            .collect();
        let config = json!({
            "architecture": architecture,
            "os": "linux",
            "created": "2025-06-01T12:00:00Z",
            "config": {
                "Env": ["PATH=/bin", "BASE_MODE=original", "KEEP=me"],
                "Cmd": ["/bin/sh", "-c", "cat /data/seed.txt"],
                "WorkingDir": "/data",
                "Labels": {"org.example.base": "kept", "org.opencontainers.image.version": "base-1"},
                "ExposedPorts": {"8080/tcp": {}}
            },
            "history": [
                {"created": "2025-06-01T12:00:00Z", "created_by": "busybox"},
                {"created": "2025-06-01T12:00:00Z", "created_by": "data"}
            ]
        });
        self.push_image(repo, tag, layers, config)
    }

    /// Pushes an image of the given layer tars, each gzipped at `level` (0 stores them: fast
    /// for large random data), with a minimal config; for benchmarks.
    pub fn push_layers(&self, repo: &str, tag: &str, tars: &[Vec<u8>], level: u32) -> BaseImage {
        let layers = tars
            .iter()
            .map(|tar| {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                encoder.write_all(tar).unwrap();
                (encoder.finish().unwrap(), tar.clone())
            })
            .collect();
        let config = json!({
            "architecture": arch(), "os": "linux", "created": "2025-06-01T12:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "history": tars.iter().map(|_| json!({"created_by": "bench"})).collect::<Vec<_>>()
        });
        self.push_image(repo, tag, layers, config)
    }

    /// Pushes the layers ((compressed, tar) pairs), then `config` with their diff ids in its
    /// `rootfs`, then an OCI manifest under `tag`.
    fn push_image(
        &self,
        repo: &str,
        tag: &str,
        compressed_layers: Vec<(Vec<u8>, Vec<u8>)>,
        mut config: Value,
    ) -> BaseImage {
        let layers: Vec<(String, Vec<u8>, Vec<u8>)> = compressed_layers
            .into_iter()
            .map(|(compressed, tar)| (self.put_blob(repo, &compressed), compressed, tar))
            .collect();
        config["rootfs"] = json!({
            "type": "layers",
            "diff_ids": layers.iter().map(|(_, _, tar)| sha256(tar)).collect::<Vec<_>>()
        });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = self.put_blob(repo, &config_bytes);
        self.pushed_configs
            .lock()
            .unwrap()
            .push(config_digest.clone());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_bytes.len()
            },
            "layers": layers.iter().map(|(digest, bytes, _)| json!({
                "mediaType": OCI_LAYER, "digest": digest, "size": bytes.len()
            })).collect::<Vec<_>>()
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        self.put_manifest(repo, tag, OCI_MANIFEST, &manifest_bytes);
        BaseImage {
            reference: format!("{}/{repo}:{tag}", self.host()),
            manifest_digest: sha256(&manifest_bytes),
            manifest_size: manifest_bytes.len(),
            config_digest,
            config,
            layers,
        }
    }

    /// A two-platform index under `tag`: this machine's platform and another one. Returns the
    /// image for this machine's platform (with the index's reference) and the index's digest.
    pub fn push_index(&self, repo: &str, tag: &str, marker: &str) -> (BaseImage, String) {
        let other = if arch() == "amd64" { "arm64" } else { "amd64" };
        let mut native = self.push_base_for(repo, &format!("{tag}-native"), marker, arch());
        let foreign = self.push_base_for(repo, &format!("{tag}-foreign"), marker, other);
        let entry = |image: &BaseImage, architecture: &str| {
            json!({"mediaType": OCI_MANIFEST, "digest": image.manifest_digest, "size": image.manifest_size,
                   "platform": {"os": "linux", "architecture": architecture}})
        };
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [entry(&foreign, other), entry(&native, arch())]
        });
        let bytes = serde_json::to_vec(&index).unwrap();
        self.put_manifest(repo, tag, OCI_INDEX, &bytes);
        native.reference = format!("{}/{repo}:{tag}", self.host());
        (native, sha256(&bytes))
    }

    /// Pushes a busybox base for `linux/arm64` that this amd64 machine cannot execute: its
    /// config says arm64 and its busybox's ELF header names AArch64 (the machine field set,
    /// nothing else changed), so the kernel refuses it with "exec format error" exactly as it
    /// refuses a real arm64 program when no emulator is registered.
    pub fn push_arm64_base(&self, repo: &str, tag: &str) -> BaseImage {
        let mut busybox = std::fs::read("/bin/busybox")
            .expect("/bin/busybox (busybox-static) is installed by scripts/install-stand-ins");
        assert_eq!(&busybox[..4], b"\x7fELF", "/bin/busybox is an ELF program");
        // e_machine, little-endian: EM_AARCH64.
        busybox[18..20].copy_from_slice(&183u16.to_le_bytes());
        let tar = tar_of(&[
            ("bin", None, None),
            ("bin/busybox", Some(&busybox), None),
            ("bin/sh", None, Some("busybox")),
        ]);
        let config = json!({
            "architecture": "arm64", "os": "linux", "created": "2025-06-01T12:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "history": [{"created_by": "busybox, headed for arm64"}]
        });
        self.push_image(repo, tag, vec![(gzip_best(&tar), tar)], config)
    }
}

impl Drop for SourceRegistry {
    /// The daemon keeps what it pulled from here: remove it, by image id.
    fn drop(&mut self) {
        for id in self.pushed_configs.lock().unwrap().iter() {
            docker(&["rmi", "--force", id]);
        }
    }
}

fn gzip_best(tar: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .filename("layer.tar")
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(tar).unwrap();
    encoder.finish().unwrap()
}

/// (path, content for a file, target for a link); neither means a folder.
type Spec<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

fn tar_of(entries: &[Spec<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match (content, link) {
            (Some(content), _) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if path.starts_with("bin/") {
                    0o755
                } else {
                    0o644
                });
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, path, *content).unwrap();
            }
            (None, Some(target)) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            (None, None) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// A tar holding one file of `content` at `path`.
pub fn single_file_tar(path: &str, content: &[u8]) -> Vec<u8> {
    tar_of(&[(path, Some(content), None)])
}

/// Debian's static busybox with a few applet links.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox (busybox-static) is installed by scripts/install-stand-ins");
    tar_of(&[
        ("bin", None, None),
        ("bin/busybox", Some(&busybox), None),
        ("bin/sh", None, Some("busybox")),
        ("bin/cat", None, Some("busybox")),
        ("bin/ls", None, Some("busybox")),
        ("etc", None, None),
        ("etc/passwd", Some(b"root:x:0:0:root:/root:/bin/sh\n"), None),
    ])
}

fn data_layer(marker: &str) -> Vec<u8> {
    tar_of(&[
        ("data", None, None),
        (
            "data/seed.txt",
            Some(format!("seed of {marker}\n").as_bytes()),
            None,
        ),
        ("home", None, None),
        ("home/node", None, None),
    ])
}

/// Decompresses a gzip blob.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

/// A tar entry as (path, type, mode, uid, gid, content or link target).
pub type TarEntry = (String, char, u32, u64, u64, Vec<u8>);

pub fn tar_entries(tar: &[u8]) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let kind = match header.entry_type() {
                tar::EntryType::Regular => 'f',
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => '?',
            };
            let mut content = Vec::new();
            if kind == 'l' {
                content = entry
                    .link_name()
                    .unwrap()
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes();
            } else {
                std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            }
            (
                entry.path().unwrap().display().to_string(),
                kind,
                header.mode().unwrap(),
                header.uid().unwrap(),
                header.gid().unwrap(),
                content,
            )
        })
        .collect()
}
