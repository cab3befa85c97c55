//! The Docker engines every daemon test runs on: the machine's own (Docker 20.10, classic image
//! store, Engine API 1.41) and the second engine `scripts/second-engine` starts (Docker 26,
//! containerd image store, API 1.45), which is what the code paths of newer runners take.
//!
//! A test body is written once and run once per engine by [`on_each_daemon!`]; while it runs,
//! its thread's daemon is the one every helper here talks to: the docker CLI calls, the base
//! images, and the `DOCKER_HOST` an [`ActionRun`](crate::ActionRun) hands the binary. Work done
//! on another thread of the test sees the machine's daemon, so tests keep daemon calls on their
//! own thread.

use std::cell::Cell;

use crate::project_path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// The machine's daemon, on the default socket.
    Docker20,
    /// The second engine, on a socket of its own.
    Docker26,
}

thread_local! {
    static CURRENT: Cell<Daemon> = const { Cell::new(Daemon::Docker20) };
}

impl Daemon {
    pub const ALL: [Daemon; 2] = [Daemon::Docker20, Daemon::Docker26];

    /// The daemon of the test running on this thread.
    pub fn current() -> Daemon {
        CURRENT.with(Cell::get)
    }

    /// The `DOCKER_HOST` that reaches it; `None` for the machine's daemon on its default socket.
    pub fn host(self) -> Option<String> {
        match self {
            Daemon::Docker20 => None,
            Daemon::Docker26 => Some(format!(
                "unix://{}",
                project_path(".stand-ins/engine26/docker.sock").display()
            )),
        }
    }

    /// Its `DOCKER_HOST`, written out even for the default socket, for tests that open the
    /// daemon's API themselves.
    pub fn docker_host(self) -> String {
        self.host()
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
    }

    /// Where its socket is, for tests that reach it under another name.
    pub fn socket(self) -> std::path::PathBuf {
        match self.host() {
            Some(host) => host.trim_start_matches("unix://").into(),
            None => "/var/run/docker.sock".into(),
        }
    }

    /// Runs `body` with this daemon as the thread's; the second engine must be running
    /// (`scripts/test` starts it), else the test fails saying how to start it.
    pub fn run<T>(self, body: impl FnOnce() -> T) -> T {
        if self == Daemon::Docker26 {
            let socket = self.socket();
            assert!(
                std::os::unix::net::UnixStream::connect(&socket).is_ok(),
                "the second engine (Docker 26, containerd image store) does not answer on {}: \
                 start it with scripts/second-engine start (scripts/test does)",
                socket.display()
            );
        }
        let before = CURRENT.with(|c| c.replace(self));
        let _restore = Restore(before);
        body()
    }

    /// Its index among [`Daemon::ALL`], for state kept per daemon.
    pub fn index(self) -> usize {
        self as usize
    }
}

struct Restore(Daemon);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Turns test bodies (plain `fn name()`, no `#[test]`) into one test per daemon:
/// `name::docker20` and `name::docker26`, so that a failure names the engine.
#[macro_export]
macro_rules! on_each_daemon {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[test]
                fn docker20() {
                    $crate::Daemon::Docker20.run(super::$name)
                }
                #[test]
                fn docker26() {
                    $crate::Daemon::Docker26.run(super::$name)
                }
            }
        )+
    };
}
