//! The stand-in servers that run as separate programs: moto (AWS) and Debian's docker-registry
//! (the ECR registry). Each test gets its own, on a free loopback port, so state never leaks
//! between tests; they are killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed (and reaped) on drop, with its log kept for failure messages.
pub struct Server {
    child: Child,
    pub log: PathBuf,
    pub url: String,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the program and waits until `probe` (a path) answers as `ready` says; a probe
    /// specific to the program, so another test's server on a reused port is not mistaken for it.
    fn spawn(
        mut command: Command,
        dir: TempDir,
        url: String,
        probe: &str,
        ready: impl Fn(&reqwest::blocking::Response) -> bool,
    ) -> Self {
        let log = dir.path().join("server.log");
        let file = std::fs::File::create(&log).expect("log file");
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let program = format!("{:?}", command.get_program());
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {program}: {e}. Run scripts/install-stand-ins (scripts/test does)."
            )
        });
        let mut server = Server {
            child,
            log,
            url,
            _dir: dir,
        };
        let started = Instant::now();
        // The probe only asks whether the server is up; a test's own CA is for the action.
        let prober = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("a client");
        loop {
            let answer = prober
                .get(format!("{}{probe}", server.url))
                .timeout(Duration::from_millis(500))
                .send();
            if answer.is_ok_and(|r| ready(&r)) {
                return server;
            }
            if let Ok(Some(exit)) = server.child.try_wait() {
                panic!("{program} exited ({exit}): {}", server.log_text());
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("{program} not ready after 30 s: {}", server.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The folder the server keeps its files in (a registry's storage is under `storage/`).
    pub fn root(&self) -> &Path {
        self._dir.path()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// moto server: STS, ECR (and later ECS) in memory.
pub fn moto() -> Server {
    let binary = project_root().join(".stand-ins/venv/bin/moto_server");
    let port = free_port();
    let mut command = Command::new(&binary);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let dir = tempfile::tempdir().expect("temp dir");
    Server::spawn(
        command,
        dir,
        format!("http://127.0.0.1:{port}"),
        "/moto-api/",
        |r| r.status().is_success(),
    )
}

/// Debian's docker-registry (distribution 2.8), with htpasswd Basic auth when credentials are
/// given, as ECR asks for them.
pub fn registry(credentials: Option<(&str, &str)>) -> Server {
    registry_with(credentials, None)
}

/// The same over TLS, with a certificate and key (PEM files) the test made.
pub fn registry_with(credentials: Option<(&str, &str)>, tls: Option<(&Path, &Path)>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let storage = dir.path().join("storage");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    let scheme = match tls {
        Some((certificate, key)) => {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certificate.display(),
                key.display()
            ));
            "https"
        }
        None => "http",
    };
    if let Some((user, password)) = credentials {
        let htpasswd = dir.path().join("htpasswd");
        write_htpasswd(&htpasswd, user, password);
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: ecr-stand-in\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).expect("registry config");
    let mut command = Command::new("docker-registry");
    command.arg("serve").arg(&config_path);
    Server::spawn(
        command,
        dir,
        format!("{scheme}://127.0.0.1:{port}"),
        "/v2/",
        |r| r.headers().contains_key("docker-distribution-api-version"),
    )
}

fn write_htpasswd(path: &Path, user: &str, password: &str) {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apache2-utils) is installed by scripts/install-stand-ins");
    assert!(out.status.success(), "htpasswd failed");
    std::fs::write(path, out.stdout).expect("htpasswd file");
}
