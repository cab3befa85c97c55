//! What a run of the action left behind, read as the runner and a user read it: the exit code,
//! the log with its workflow commands, the output, env and summary files.

use std::collections::BTreeMap;

use base64::Engine;

use crate::b64;

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
        self.annotations("error")
    }

    /// The annotations of one level (`error`, `warning`, `notice`), unescaped, as (title,
    /// message).
    pub fn annotations(&self, level: &str) -> Vec<(String, String)> {
        let prefix = format!("::{level} title=");
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .filter_map(|l| l.split_once("::"))
            .map(|(t, m)| (unescape(t), unescape(m)))
            .collect()
    }

    fn masked(&self) -> Vec<String> {
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
