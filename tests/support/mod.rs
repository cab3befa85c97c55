//! Test support: the stand-ins a run needs, and the action binary run as the runner runs it.
//!
//! Every test starts its own stand-ins on free loopback ports (moto, a recording proxy in front
//! of it, the OIDC issuer, the registry), so tests run in parallel and start from empty state.

#![allow(dead_code, unused_imports)]

pub mod aws_proxy;
pub mod base_images;
pub mod http;
pub mod images;
pub mod oidc;
pub mod processes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use tempfile::TempDir;

pub use aws_proxy::{AwsProxy, Fault};
pub use http::block_on;
pub use oidc::{OidcIssuer, RunClaims};
use processes::Server;

/// moto puts every resource created with unrecognised keys in this account; the role used by
/// the tests lives in it, so the assumed-role calls and the tests' own checks see one state.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";

pub struct StandIns {
    pub moto: Server,
    pub proxy: AwsProxy,
    pub oidc: OidcIssuer,
    pub registry: Server,
}

impl StandIns {
    pub fn start() -> Self {
        Self::with_claims(RunClaims::default())
    }

    pub fn with_claims(claims: RunClaims) -> Self {
        let moto = processes::moto();
        let proxy = AwsProxy::start(&moto.url);
        let oidc = OidcIssuer::start(claims);
        let registry = processes::registry(Some(("AWS", &registry_password())));
        StandIns {
            moto,
            proxy,
            oidc,
            registry,
        }
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/github-ecr-push")
    }

    /// The registry's host:port, as image names use it.
    pub fn registry_host(&self) -> String {
        self.registry.url.trim_start_matches("http://").to_string()
    }

    /// The registry, read with plain HTTP and ECR's credentials.
    pub fn reader(&self) -> images::RegistryReader {
        images::RegistryReader {
            url: self.registry.url.clone(),
            user: "AWS".into(),
            password: registry_password(),
        }
    }

    /// A run with the runner's variables and the inputs every run needs; its workspace holds a
    /// tiny Dockerfile (`FROM scratch`, one file), so a run builds and pushes in a moment. The
    /// file names this test's registry, so no two tests build the same image (the cleanup of
    /// one must not delete an image another is still using).
    pub fn action(&self) -> ActionRun {
        ActionRun::new()
            .write_file("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n")
            .write_file(
                "hello.txt",
                &format!("hello from ship-to-ecr, test {}\n", self.registry_host()),
            )
            .env("AWS_ENDPOINT_URL", self.proxy.url())
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &self.oidc.request_url())
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &self.oidc.request_token)
            .input("aws-region", REGION)
            .input("role-to-assume", &self.role_arn())
            .input("repository", "octo-org/web-app")
            .input("registry-url", &self.registry.url)
    }

    /// ECR as the tests see it: straight to moto, not through the action's code.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new(REGION))
            .endpoint_url(&self.moto.url)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "AKIATESTTESTTESTTEST",
                "test-secret",
                None,
                None,
                "tests",
            ))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// Every secret this run could have handled: OIDC tokens, the token service's bearer,
    /// STS credentials, the registry password and ECR's encoded token.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.oidc.tokens();
        secrets.push(self.oidc.request_token.clone());
        secrets.extend(self.proxy.issued_secrets());
        secrets.push(registry_password());
        secrets.push(b64(&format!("AWS:{}", registry_password())));
        secrets
    }

    /// The names of the repositories in moto.
    pub fn repositories(&self) -> Vec<String> {
        block_on(self.ecr().describe_repositories().send())
            .expect("describe repositories")
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name().map(str::to_string))
            .collect()
    }
}

impl Drop for StandIns {
    /// The images this test pushed are named after its registry: remove them from the daemon.
    fn drop(&mut self) {
        images::remove_images_under(&format!("{}/", self.registry_host()));
    }
}

/// What moto's `GetAuthorizationToken` decodes to, after `AWS:`.
pub fn registry_password() -> String {
    format!("{ACCOUNT}-auth-token")
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The binary under test, started as the runner starts a container action's entry point.
pub struct ActionRun {
    binary: PathBuf,
    vars: BTreeMap<String, String>,
    args: Vec<String>,
    pub workspace: TempDir,
    files: TempDir,
}

impl ActionRun {
    pub fn new() -> Self {
        let workspace = tempfile::tempdir().expect("workspace");
        let files = tempfile::tempdir().expect("file commands dir");
        let home = files.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        // Tests know the binary at compile time; the demo (an example) is told where it is.
        let binary = option_env!("CARGO_BIN_EXE_ship-to-ecr")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("SHIP_TO_ECR_BIN").map(PathBuf::from))
            .expect(
                "the ship-to-ecr binary: built by cargo for tests, SHIP_TO_ECR_BIN for the demo",
            );
        let mut run = ActionRun {
            binary,
            vars: BTreeMap::new(),
            args: Vec::new(),
            workspace,
            files,
        };
        let ws = run.workspace.path().display().to_string();
        let dir = run.files.path().to_path_buf();
        run = run
            .env("PATH", &std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home.display().to_string())
            .env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("GITHUB_WORKSPACE", &ws)
            .env("GITHUB_REPOSITORY", "octo-org/web-app")
            .env("GITHUB_RUN_ID", "7001")
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_SHA", "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b")
            .env("GITHUB_REF", "refs/heads/main")
            .env("GITHUB_RUN_NUMBER", "12")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_OUTPUT", &path_str(&dir.join("output")))
            .env("GITHUB_ENV", &path_str(&dir.join("env")))
            .env("GITHUB_STEP_SUMMARY", &path_str(&dir.join("summary")))
            // No instance metadata service here: do not let the default chain wait for one.
            .env("AWS_EC2_METADATA_DISABLED", "true");
        run.event(
            "push",
            "refs/heads/main",
            serde_json::json!({
                "ref": "refs/heads/main",
                "head_commit": {
                    "id": "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
                    "timestamp": "2026-11-20T09:30:00Z"
                },
                "repository": { "full_name": "octo-org/web-app", "default_branch": "main" }
            }),
        )
    }

    /// The triggering event: `GITHUB_EVENT_NAME`, `GITHUB_REF` and the payload file.
    pub fn event(self, name: &str, git_ref: &str, payload: serde_json::Value) -> Self {
        let path = self.files.path().join("event.json");
        std::fs::write(&path, payload.to_string()).unwrap();
        let pull_request = payload
            .pointer("/pull_request/head/ref")
            .and_then(|r| r.as_str());
        let run = self
            .env("GITHUB_EVENT_NAME", name)
            .env("GITHUB_REF", git_ref)
            .env("GITHUB_EVENT_PATH", &path_str(&path));
        match pull_request {
            Some(head) => run.env("GITHUB_HEAD_REF", head),
            None => run.remove_env("GITHUB_HEAD_REF"),
        }
    }

    /// Sets `INPUT_<NAME>` the way the runner does: upper-cased, hyphens kept.
    pub fn input(self, name: &str, value: &str) -> Self {
        self.env(&format!("INPUT_{}", name.to_uppercase()), value)
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }

    pub fn remove_env(mut self, name: &str) -> Self {
        self.vars.remove(name);
        self
    }

    pub fn remove_input(self, name: &str) -> Self {
        self.remove_env(&format!("INPUT_{}", name.to_uppercase()))
    }

    pub fn write_file(self, relative: &str, content: &str) -> Self {
        let path = self.workspace.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    /// Copies a folder of the project (e.g. `examples/app`) into the workspace at `dest`.
    pub fn copy_dir(self, source: &Path, dest: &str) -> Self {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), &target).unwrap();
                }
            }
        }
        copy(source, &self.workspace.path().join(dest));
        self
    }

    pub fn remove_file(self, relative: &str) -> Self {
        std::fs::remove_file(self.workspace.path().join(relative)).unwrap();
        self
    }

    /// A command-line argument (CLI mode).
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub fn run(self) -> ActionResult {
        let out = Command::new(&self.binary)
            .env_clear()
            .envs(&self.vars)
            .args(&self.args)
            .current_dir(self.workspace.path())
            .output()
            .expect("the action binary runs");
        self.result(out)
    }

    /// Runs the binary and also returns its peak resident memory (kB), measured by the
    /// kernel for the child (python's `resource` reads it; std cannot).
    pub fn run_measuring_memory(self) -> (ActionResult, u64) {
        let script = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:], capture_output=True)\n\
sys.stdout.buffer.write(r.stdout)\n\
sys.stderr.buffer.write(r.stderr)\n\
sys.stderr.write('\\nMAXRSS=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
sys.exit(r.returncode)";
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&self.binary)
            .args(&self.args)
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.workspace.path())
            .output()
            .expect("python3 runs the binary");
        let result = self.result(out);
        let rss = result
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("MAXRSS="))
            .and_then(|v| v.trim().parse().ok())
            .expect("the peak memory");
        (result, rss)
    }

    /// Runs the action image as the runner starts a container action: `docker run` with the
    /// workspace at /github/workspace (the working directory), /github/home, /github/workflow
    /// (the event), /github/file_commands (outputs, env, summary) and the Docker socket
    /// mounted, `GITHUB_*` paths rewritten to those mounts, `INPUT_*` passed as they are, and
    /// the host's network so the container reaches the stand-ins on loopback.
    pub fn run_in_container(self, image: &str) -> ActionResult {
        let files = self.files.path();
        let mounts = [
            (files.join("home"), "/github/home"),
            (files.to_path_buf(), "/github/workflow"),
            (files.to_path_buf(), "/github/file_commands"),
            (self.workspace.path().to_path_buf(), "/github/workspace"),
            (
                PathBuf::from("/var/run/docker.sock"),
                "/var/run/docker.sock",
            ),
        ];
        let mut command = Command::new("docker");
        command.args([
            "run",
            "--rm",
            "--network",
            "host",
            "--workdir",
            "/github/workspace",
        ]);
        for (host, container) in &mounts {
            command
                .arg("-v")
                .arg(format!("{}:{container}", host.display()));
        }
        for (name, value) in &self.vars {
            let value = match name.as_str() {
                // The binary is the image's entry point; nothing else is on a PATH.
                "PATH" => continue,
                "HOME" => "/github/home".to_string(),
                "GITHUB_WORKSPACE" => "/github/workspace".to_string(),
                "GITHUB_EVENT_PATH" => "/github/workflow/event.json".to_string(),
                "GITHUB_OUTPUT" | "GITHUB_ENV" | "GITHUB_STEP_SUMMARY" => format!(
                    "/github/file_commands/{}",
                    Path::new(value).file_name().unwrap().to_string_lossy()
                ),
                _ => value.clone(),
            };
            command.arg("-e").arg(format!("{name}={value}"));
        }
        // As on a hosted runner: RUNNER_TEMP names a host folder the container cannot see.
        command.args([
            "-e",
            "RUNNER_TEMP=/home/runner/work/_temp",
            "-e",
            "RUNNER_OS=Linux",
        ]);
        command.arg(image).args(&self.args);
        let out = command.output().expect("docker run");
        self.result(out)
    }

    fn result(&self, out: std::process::Output) -> ActionResult {
        let read =
            |name: &str| std::fs::read_to_string(self.files.path().join(name)).unwrap_or_default();
        ActionResult {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            output_file: read("output"),
            env_file: read("env"),
            summary: read("summary"),
        }
    }
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

#[derive(Debug)]
pub struct ActionResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub output_file: String,
    pub env_file: String,
    pub summary: String,
}

impl ActionResult {
    /// Fails the test with the whole log when the run did not end as expected.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; the run's log:\n{self}");
        self
    }

    pub fn outputs(&self) -> BTreeMap<String, String> {
        parse_file_commands(&self.output_file)
    }

    pub fn output(&self, name: &str) -> Option<String> {
        self.outputs().get(name).cloned()
    }

    /// The `::error` annotations, unescaped, as (title, message).
    pub fn errors(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("::error title="))
            .filter_map(|l| l.split_once("::"))
            .map(|(t, m)| (unescape(t), unescape(m)))
            .collect()
    }

    pub fn masked(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("::add-mask::"))
            .map(unescape)
            .collect()
    }

    /// No secret (nor its base64 form) in anything the run wrote, except the `::add-mask::`
    /// commands that hide them; `check_env_file` is false when the user asked for export.
    pub fn assert_no_secret_leaked(&self, secrets: &[String], check_env_file: bool) {
        let stdout: String = self
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut places = vec![
            ("stdout", stdout.as_str()),
            ("stderr", self.stderr.as_str()),
            ("GITHUB_OUTPUT", self.output_file.as_str()),
            ("GITHUB_STEP_SUMMARY", self.summary.as_str()),
        ];
        if check_env_file {
            places.push(("GITHUB_ENV", self.env_file.as_str()));
        }
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            let forms = [
                secret.clone(),
                b64(secret),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            ];
            for (place, text) in &places {
                for form in &forms {
                    assert!(
                        !text.contains(form.as_str()),
                        "a secret ({}...) appears in {place}:\n{text}",
                        &secret[..6]
                    );
                }
            }
        }
    }

    /// Every given secret was masked before the run ended.
    pub fn assert_masked(&self, secrets: &[String]) {
        let masked = self.masked();
        for secret in secrets {
            assert!(
                masked.contains(secret),
                "a secret ({}...) was not masked; masks: {}",
                &secret[..6.min(secret.len())],
                masked.len()
            );
        }
    }
}

impl std::fmt::Display for ActionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}\n--- GITHUB_OUTPUT\n{}\n--- summary\n{}",
            self.code, self.stdout, self.stderr, self.output_file, self.summary
        )
    }
}

fn unescape(text: &str) -> String {
    text.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

/// Reads `name=value` and `name<<DELIM ... DELIM` entries, as the runner does.
pub fn parse_file_commands(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            values.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            values.insert(name.to_string(), value.to_string());
        }
    }
    values
}

pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
