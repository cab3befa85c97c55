//! The stand-in servers that run as separate programs: moto (AWS) and Debian's docker-registry
//! (the ECR registry). Each test gets its own, so state never leaks between tests; they are
//! killed when dropped.
//!
//! Each binds port 0, so the kernel picks a port no one holds, and its log says which: there is
//! no window between choosing a port and binding it for a parallel test to take it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::project_path;

/// How long a stand-in may take to start before the test gives up on it.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A child process killed (and reaped) on drop, with its log kept for failure messages.
pub struct Server {
    child: Child,
    program: String,
    log: PathBuf,
    pub url: String,
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a program's log says which address it bound: the text just before `host:port`.
struct Announcement {
    before_address: &'static str,
    scheme: &'static str,
}

impl Announcement {
    /// `scheme://host:port` from the first announcement in `log`, once it is there.
    fn url_in(&self, log: &str) -> Option<String> {
        let (_, rest) = log.split_once(self.before_address)?;
        let address: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        let (_, port) = address.rsplit_once(':')?;
        (!port.is_empty()).then(|| format!("{}://{address}", self.scheme))
    }
}

impl Server {
    /// Starts the program, learns its address from its log, then waits until `probe` (a path)
    /// answers as `ready` says: the log line comes just before the program starts serving.
    fn spawn(
        mut command: Command,
        dir: TempDir,
        announcement: Announcement,
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
        // Built before waiting, so that a failed start still kills the child.
        let mut server = Server {
            child,
            program,
            log,
            url: String::new(),
            dir,
        };
        let deadline = Instant::now() + START_LIMIT;
        server.url = loop {
            if let Some(url) = announcement.url_in(&server.log_text()) {
                break url;
            }
            server.check_starting(deadline);
        };
        server.wait_until_ready(probe, ready, deadline);
        server
    }

    fn wait_until_ready(
        &mut self,
        probe: &str,
        ready: impl Fn(&reqwest::blocking::Response) -> bool,
        deadline: Instant,
    ) {
        // The probe only asks whether the server is up; a test's own CA is for the action.
        let prober = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("a client");
        loop {
            let answer = prober
                .get(format!("{}{probe}", self.url))
                .timeout(Duration::from_millis(500))
                .send();
            if answer.is_ok_and(|r| ready(&r)) {
                return;
            }
            self.check_starting(deadline);
        }
    }

    /// Fails the test if the program exited or is past its time to start; else waits a moment.
    fn check_starting(&mut self, deadline: Instant) {
        if let Ok(Some(exit)) = self.child.try_wait() {
            panic!("{} exited ({exit}): {}", self.program, self.log_text());
        }
        if Instant::now() > deadline {
            panic!(
                "{} not ready after {START_LIMIT:?}: {}",
                self.program,
                self.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// The folder the server keeps its files in (a registry's storage is under `storage/`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// moto server: STS, ECR (and later ECS) in memory. Werkzeug, which serves it, logs
/// ` * Running on http://127.0.0.1:<port>` with the port it bound.
pub fn moto() -> Server {
    let mut command = Command::new(project_path(".stand-ins/venv/bin/moto_server"));
    command.args(["-H", "127.0.0.1", "-p", "0"]);
    Server::spawn(
        command,
        tempfile::tempdir().expect("temp dir"),
        Announcement {
            before_address: "Running on http://",
            scheme: "http",
        },
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
///
/// The registry logs `listening on 127.0.0.1:<port>` (`, tls` after it) with the address it
/// bound, at the `info` level: that is why the log level is not `warn`.
pub(crate) fn registry_with(
    credentials: Option<(&str, &str)>,
    tls: Option<(&Path, &Path)>,
) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("storage");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
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
        Announcement {
            before_address: "listening on ",
            scheme,
        },
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
