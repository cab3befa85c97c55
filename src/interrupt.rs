//! GitHub cancels a job by signalling its container: SIGINT, then SIGTERM, then a kill after a
//! grace period. At the first signal the run's work is dropped where it stands: no upload
//! starts after it and no tag is written after it (a tag is always written last, so nothing
//! points to a blob that was not finished); then the run's temporary names leave the daemon,
//! what happened is said, and the process exits 130 (SIGINT) or 143 (SIGTERM) within seconds.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::engine::docker::DockerEngine;
use crate::engine::scratch;
use crate::github::commands::{Level, Workflow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// The exit code a shell gives a process ended by this signal.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// The first SIGINT or SIGTERM; never, where the handlers cannot be installed.
pub async fn signalled() -> Signal {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => Signal::Interrupt,
        _ = terminate.recv() => Signal::Terminate,
    }
}

/// After the run was dropped: removes its temporary names from the daemon (within a few
/// seconds: the runner kills what is left after its grace period) and says what was stopped.
pub async fn clean_up(signal: Signal, workflow: &Workflow) {
    let mut message = format!(
        "Stopped by {}: the work in progress was abandoned at once. No upload started and no \
         tag was written after the signal; a tag is written only once everything it points to \
         exists, so the tags this run wrote (in the log above) are whole and the ones it had \
         not written yet were not written.",
        signal.name()
    );
    message.push_str(&remove_temporary_names().await);
    workflow.annotate(Level::Error, "Interrupted", &message);
}

/// Removes the run's temporary names from the daemon, within a few seconds (the runner kills
/// what is left after its grace period); what was removed and what was not, in words (empty
/// when there was nothing to remove).
pub async fn remove_temporary_names() -> String {
    let names = scratch::all();
    let mut removed = Vec::new();
    if !names.is_empty() {
        let removing = async {
            if let Ok(engine) = DockerEngine::connect().await {
                for name in &names {
                    if engine.untag(name).await.is_ok() {
                        scratch::release(name);
                        removed.push(name.clone());
                    }
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), removing).await;
    }
    let mut message = String::new();
    if !removed.is_empty() {
        message.push_str(&format!(
            " Removed the run's temporary names from the Docker daemon: {}.",
            removed.join(", ")
        ));
    }
    let left: Vec<String> = scratch::all();
    if !left.is_empty() {
        message.push_str(&format!(
            " Could not remove from the Docker daemon: {} (docker rmi them).",
            left.join(", ")
        ));
    }
    message
}
