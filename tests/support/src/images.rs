//! Images for the tests, made locally since nothing can be pulled here, and the registry read
//! back with plain HTTP (not with the action's code).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::Daemon;

/// A base image with a shell: Debian's static busybox imported as a one-layer image.
const BASE_IMAGE: &str = "ship-to-ecr-local/busybox:1";

/// In the current test's daemon (each daemon gets its own import, once).
pub fn base_image() -> &'static str {
    static DONE: [OnceLock<()>; 2] = [OnceLock::new(), OnceLock::new()];
    DONE[Daemon::current().index()].get_or_init(|| {
        if !docker(&["image", "inspect", BASE_IMAGE]).0 {
            import_rootfs(BASE_IMAGE, &[]);
        }
    });
    BASE_IMAGE
}

/// The same busybox image under `name`, with a label of its own, so that it has an id of its
/// own. A test that builds on it is alone among that image's children: Docker 20.10's classic
/// builder fails a build ("unable to find image") when a sibling of the build's parent (or,
/// with `FROM scratch`, any image without a parent) is deleted while it probes its cache, and
/// the tests running alongside delete their images as they end.
pub fn unique_base(name: &str, nonce: &str) -> String {
    import_rootfs(
        name,
        &["-c", &format!("LABEL ship-to-ecr.test.nonce={nonce}")],
    );
    name.to_string()
}

/// `docker import` of the busybox rootfs (made once per test process) as `name`.
fn import_rootfs(name: &str, changes: &[&str]) {
    static ROOTFS: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = ROOTFS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("/bin/busybox (busybox-static) is installed by scripts/install-stand-ins");
        for applet in [
            "sh",
            "ls",
            "cat",
            "echo",
            "mkdir",
            "touch",
            "false",
            "head",
            "sha256sum",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(dir.path().join("rootfs.tar"))
            .arg(".")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tar of the base rootfs");
        dir
    });
    let tar = dir.path().join("rootfs.tar").display().to_string();
    let mut args = vec!["import", "-c", "CMD [\"/bin/sh\"]"];
    args.extend_from_slice(changes);
    args.extend([tar.as_str(), name]);
    let (ok, out) = docker(&args);
    assert!(ok, "docker import: {out}");
}

/// Runs the docker CLI on the current test's daemon; (success, stdout + stderr).
pub fn docker(args: &[&str]) -> (bool, String) {
    let out = docker_command().args(args).output().expect("docker CLI");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The docker CLI, pointed at the current test's daemon.
pub fn docker_command() -> Command {
    let mut command = Command::new("docker");
    if let Some(host) = Daemon::current().host() {
        command.env("DOCKER_HOST", host);
    }
    command
}

/// Removes every image name in the daemon under `prefix` (a test's registry host), tags and
/// digest references (images pulled by digest have no tag).
pub fn remove_images_under(prefix: &str) {
    let (_, list) = docker(&[
        "image",
        "ls",
        "--digests",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}",
    ]);
    let names: Vec<&str> = list
        .split_whitespace()
        .filter(|n| n.starts_with(prefix) && !n.ends_with(":<none>") && !n.ends_with("@<none>"))
        .collect();
    if !names.is_empty() {
        let mut args = vec!["rmi", "--force"];
        args.extend(names);
        docker(&args);
    }
}

/// The registry as a user would query it with curl.
pub struct RegistryReader {
    url: String,
    user: String,
    password: String,
}

const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";

impl RegistryReader {
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        RegistryReader {
            url: url.to_string(),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new()
            .get(format!("{}/v2/{path}", self.url))
            .basic_auth(&self.user, Some(&self.password))
            .header("Accept", ACCEPT)
            .send()
            .expect("registry answers")
    }

    /// (digest, manifest JSON) of `repo:reference`, or `None` when absent.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<(String, Value)> {
        let response = self.get(&format!("{repo}/manifests/{reference}"));
        if response.status() == 404 {
            return None;
        }
        assert!(response.status().is_success(), "{}", response.status());
        let digest = response
            .headers()
            .get("docker-content-digest")
            .map(|v| v.to_str().unwrap().to_string())
            .expect("Docker-Content-Digest");
        Some((digest, response.json().unwrap()))
    }

    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let response = self.get(&format!("{repo}/blobs/{digest}"));
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().unwrap().to_vec()
    }

    /// The image config of `repo:reference`.
    pub fn config(&self, repo: &str, reference: &str) -> Value {
        let (_, manifest) = self.manifest(repo, reference).expect("manifest");
        let digest = manifest["config"]["digest"].as_str().unwrap();
        serde_json::from_slice(&self.blob(repo, digest)).unwrap()
    }

    /// Every byte `repo:reference` holds, as a user could fetch it: (what, bytes) for the
    /// manifest, the config (with its history) and each layer uncompressed, so that a search
    /// of them also covers tar headers and entries that are not regular files.
    pub fn contents(&self, repo: &str, reference: &str) -> Vec<(String, Vec<u8>)> {
        let (digest, manifest) = self.manifest(repo, reference).expect("manifest");
        let mut contents = vec![(
            format!("manifest {digest}"),
            serde_json::to_vec(&manifest).unwrap(),
        )];
        let config = manifest["config"]["digest"].as_str().unwrap();
        contents.push((format!("config {config}"), self.blob(repo, config)));
        for layer in manifest["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            let tar = unpacked(
                layer["mediaType"].as_str().unwrap(),
                self.blob(repo, digest),
            );
            contents.push((format!("layer {digest}"), tar));
        }
        contents
    }

    /// Checks what a pull checks: each layer blob of `repo:reference`, uncompressed, is the
    /// layer its config names in `rootfs.diff_ids`, in order.
    pub fn assert_layers_match_the_config(&self, repo: &str, reference: &str) {
        use sha2::Digest as _;
        let config = self.config(repo, reference);
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        let layers: Vec<String> = self
            .contents(repo, reference)
            .into_iter()
            .filter(|(what, _)| what.starts_with("layer "))
            .map(|(_, tar)| format!("sha256:{:x}", sha2::Sha256::digest(&tar)))
            .collect();
        assert_eq!(layers, diff_ids, "the layers of {repo}:{reference}");
    }

    /// (path, content) of every regular file in the layers of `repo:reference`, lowest layer
    /// first, paths as the tar names them (`app/index.html`).
    pub fn files(&self, repo: &str, reference: &str) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for (what, tar) in self.contents(repo, reference) {
            if !what.starts_with("layer ") {
                continue;
            }
            let mut archive = tar::Archive::new(&tar[..]);
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                if entry.header().entry_type().is_file() {
                    let path = entry.path().unwrap().display().to_string();
                    let mut content = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
                    files.push((path, content));
                }
            }
        }
        files
    }

    pub fn tags(&self, repo: &str) -> Vec<String> {
        let response = self.get(&format!("{repo}/tags/list"));
        if response.status() == 404 {
            return Vec::new();
        }
        let value: Value = response.json().unwrap();
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }
}

/// A layer blob as a tar stream, whichever of the registries' layer types it is.
fn unpacked(media_type: &str, blob: Vec<u8>) -> Vec<u8> {
    if media_type.ends_with("gzip") {
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&blob[..]), &mut tar)
            .expect("a gzip layer that unpacks");
        tar
    } else if media_type.ends_with(".tar") {
        blob
    } else {
        panic!("a layer of a type these tests cannot unpack: {media_type}")
    }
}

/// `docker login` to the ECR stand-in with a `DOCKER_CONFIG` of the caller's own (never the
/// user's config), for the docker CLI peers of the benchmarks.
pub fn cli_login(config: &Path, host: &str) {
    let mut login = docker_command()
        .env("DOCKER_CONFIG", config)
        .args(["login", "-u", "AWS", "--password-stdin", host])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    login
        .stdin
        .take()
        .unwrap()
        .write_all(crate::registry_password().as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success(), "docker login to {host}");
}
