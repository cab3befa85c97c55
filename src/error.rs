//! Failures the user can act on. Each carries a short title (the annotation's headline) and a
//! message that says what went wrong and what to change. Anything else that reaches `main` is an
//! unexpected error and is shown with its cause chain.

use std::fmt;

/// A failure explained for the person reading the run's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub title: String,
    pub message: String,
}

impl Failure {
    pub fn new(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
        }
    }
}

/// One input that breaks its rule: which input, the rule, and a value that would work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub input: &'static str,
    pub rule: String,
    pub example: String,
}

impl InputError {
    pub fn new(input: &'static str, rule: impl Into<String>, example: impl Into<String>) -> Self {
        Self {
            input,
            rule: rule.into(),
            example: example.into(),
        }
    }

    pub fn title(&self) -> String {
        format!("Invalid input '{}'", self.input)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Input '{}': {}. ", self.input, self.rule)?;
        if self.example.is_empty() {
            // The good value is none: the input conflicts with another one.
            write!(
                f,
                "Leave it empty (remove '{}' from the step's with:).",
                self.input
            )
        } else {
            write!(
                f,
                "Example of a good value: {}: {}",
                self.input, self.example
            )
        }
    }
}

/// Every bad input found, reported together so one fix-and-rerun is enough.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} input(s) are invalid", .0.len())]
pub struct InputErrors(pub Vec<InputError>);

/// An error and all its sources on one line: a top-level text alone ("dispatch failure",
/// "error sending request") rarely says what happened.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Nothing listens at the address, or the host name does not resolve: a wrong endpoint, which
/// no retry will fix (unlike a reset or a timeout).
pub fn is_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) {
                return true;
            }
        }
        let text = e.to_string().to_lowercase();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        current = e.source();
    }
    false
}
