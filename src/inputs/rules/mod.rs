//! One parser per kind of input value, grouped by kind: AWS names and identifiers, workspace
//! paths, and plain values. Each returns the typed value or an [`InputError`] that names the
//! input, the rule and a value that would work. No parser touches the network.

pub mod aws;
pub mod paths;
pub mod values;

use regex::Regex;

use crate::error::InputError;
pub use aws::RoleArn;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("pattern is valid")
}

/// The value when it matches `pattern`; else an error whose rule is `why` (it may use the
/// value, e.g. "'{value}' must be ...").
fn matching(
    pattern: &Regex,
    input: &'static str,
    value: &str,
    why: impl Into<String>,
    example: &str,
) -> Result<String, InputError> {
    if pattern.is_match(value) {
        Ok(value.to_string())
    } else {
        Err(InputError::new(input, why, example))
    }
}
