//! The binary under test, started as the runner starts a container action's entry point: the
//! runner's variables, `INPUT_*`, a workspace and the file-command files of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::ActionResult;

/// The binary under test, started as the runner starts a container action's entry point.
pub struct ActionRun {
    binary: PathBuf,
    vars: BTreeMap<String, String>,
    args: Vec<String>,
    workspace: TempDir,
    files: TempDir,
}

impl Default for ActionRun {
    fn default() -> Self {
        Self::new()
    }
}

impl ActionRun {
    /// A run as on a push to `main`, with the runner's variables and no inputs yet.
    pub fn new() -> Self {
        let workspace = tempfile::tempdir().expect("workspace");
        let files = tempfile::tempdir().expect("file commands dir");
        let home = files.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut run = ActionRun {
            binary: action_binary(),
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
        // The daemon the test itself talks to (`DOCKER_HOST` of the test process: the second
        // engine when the test command runs a test on it), so both sides use one daemon.
        if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
            run = run.env("DOCKER_HOST", &host);
        }
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

    /// Commits every file of the workspace to a git repository there, as `actions/checkout`
    /// leaves one, committed at `committer_epoch` by a fixed author (so the same files give the
    /// same sha in any workspace), and sets `GITHUB_SHA` to that commit.
    pub fn committed(self, committer_epoch: i64) -> Self {
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(self.workspace.path())
                .env("GIT_COMMITTER_DATE", format!("{committer_epoch} +0000"))
                .env("GIT_AUTHOR_DATE", format!("{committer_epoch} +0000"))
                .env("GIT_AUTHOR_NAME", "Octo Cat")
                .env("GIT_AUTHOR_EMAIL", "octo@example.com")
                .env("GIT_COMMITTER_NAME", "Octo Cat")
                .env("GIT_COMMITTER_EMAIL", "octo@example.com")
                .output()
                .expect("git runs");
            assert!(out.status.success(), "git {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "the commit under test"]);
        let sha = git(&["rev-parse", "HEAD"]);
        self.env("GITHUB_SHA", &sha)
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
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.result(out)
    }

    /// Starts the binary and returns at once, to signal it while it works.
    pub fn spawn(self) -> Running {
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(&self.vars)
            .args(&self.args)
            .current_dir(self.workspace.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        Running { child, run: self }
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

/// The action binary cargo built beside the running executable, as `assert_cmd` finds it:
/// tests and benchmarks run from `target/<profile>/deps`, examples from
/// `target/<profile>/examples`, and the binary sits in `target/<profile>`. Cargo builds it
/// before any test or benchmark; an example needs `cargo build --bin ship-to-ecr` first.
fn action_binary() -> PathBuf {
    let running = std::env::current_exe().expect("the running executable's path");
    let mut dir = running
        .parent()
        .expect("the running executable's folder")
        .to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir.join(format!("ship-to-ecr{}", std::env::consts::EXE_SUFFIX))
}

/// A run of the binary in progress.
pub struct Running {
    child: std::process::Child,
    run: ActionRun,
}

impl Running {
    /// Sends `signal` (`TERM`, `INT`) to the binary, as the runner does to cancel a job.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -s {signal}");
    }

    /// Waits for the binary to end.
    pub fn wait(self) -> ActionResult {
        let out = self.child.wait_with_output().expect("the run ends");
        self.run.result(out)
    }
}
