//! A panic is a bug, but it must still end the run as users expect: one `::error` annotation
//! and exit 1, the run's temporary names gone from the daemon (the GitHub deployment record is
//! marked failed by `run`, which holds it). The default hook would print the panic's message
//! raw on stderr, which the runner also reads for commands; ours keeps it for the annotation
//! and prints one escaped line.

use std::any::Any;
use std::sync::{Mutex, PoisonError};

use crate::github::commands::{untrusted, Level, Workflow};
use crate::github::markdown::cut;
use crate::interrupt;

/// The first panic's message and where it happened.
static FIRST: Mutex<Option<String>> = Mutex::new(None);

/// Characters of a panic's message shown at most.
const MOST_SHOWN: usize = 500;

/// Replaces the default panic hook: each panic is one escaped line on stderr, and the first is
/// kept for [`report`].
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = format!("{}{place}", message(info.payload()));
        eprintln!("ship-to-ecr: internal error: {}", untrusted(&what));
        FIRST
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(what);
    }));
}

/// The text a panic was raised with, when it has one.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// After the run's work panicked: removes its temporary daemon names and shows one error.
pub async fn report(payload: &(dyn Any + Send), workflow: &Workflow) {
    let what = FIRST
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| message(payload));
    let mut text = format!(
        "ship-to-ecr stopped on an internal error (a bug: please report it with this \
         message): {}. Tags are written only once everything they point to exists, so those \
         this run wrote (in the log above) are whole.",
        cut(&what, MOST_SHOWN)
    );
    text.push_str(&interrupt::remove_temporary_names().await);
    workflow.annotate(Level::Error, "Internal error", &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::captured::Log;
    use crate::github::commands::CommandFiles;

    #[tokio::test]
    async fn a_panic_is_one_escaped_error() {
        let log = Log::default();
        let workflow = Workflow::new(CommandFiles::default(), Box::new(log.clone()));
        let payload: Box<dyn Any + Send> = Box::new(String::from("bad\n::error::injected"));
        report(payload.as_ref(), &workflow).await;
        let text = log.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("::error title=Internal error::"), "{text}");
        assert!(text.contains("bad%0A::error::injected"), "{text}");
    }

    #[test]
    fn a_payload_s_message_is_read_whatever_its_type() {
        assert_eq!(message(&"static"), "static");
        assert_eq!(message(&String::from("owned")), "owned");
        assert_eq!(message(&7u8), "(no message)");
    }
}
