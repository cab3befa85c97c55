//! GitHub Actions workflow commands: the only way this program talks to the runner.
//!
//! Everything the runner reads from us goes through [`Workflow`]: masks, annotations, log groups
//! (stdout), outputs and exported variables (the `GITHUB_OUTPUT` / `GITHUB_ENV` files) and the
//! job summary (`GITHUB_STEP_SUMMARY`). Keeping it in one place makes escaping and masking
//! impossible to forget elsewhere.
//!
//! Text the action did not write (build output, a daemon's status lines, a label read from an
//! image) is printed only through [`Workflow::verbatim`] or made printable by [`untrusted`]:
//! the runner runs any line that starts with `::` as a command, and splits lines on carriage
//! returns as well as newlines.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::{with_causes, Failure, InputErrors};

/// Severity of an annotation shown on the run's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// Where the runner reads each kind of command from.
#[derive(Debug, Clone, Default)]
pub struct CommandFiles {
    pub output: Option<PathBuf>,
    pub env: Option<PathBuf>,
    pub summary: Option<PathBuf>,
}

impl CommandFiles {
    /// The files the runner names in the environment; empty names count as absent.
    pub fn from_env() -> Self {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            output: path("GITHUB_OUTPUT"),
            env: path("GITHUB_ENV"),
            summary: path("GITHUB_STEP_SUMMARY"),
        }
    }
}

/// Writes workflow commands to a log stream and the runner's command files.
pub struct Workflow {
    files: CommandFiles,
    log: Mutex<Sink>,
}

/// The log stream, and the stop-commands block open on it, if any.
struct Sink {
    out: Box<dyn Write + Send>,
    /// The token of the open `::stop-commands::` block.
    open: Option<String>,
    /// Every token printed so far: a block's token is never one a line could have seen.
    used: HashSet<String>,
}

impl Sink {
    fn write(&mut self, line: &str) {
        // A closed stdout must not turn a successful push into a failure.
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }

    fn open_block(&mut self) {
        if self.open.is_some() {
            return;
        }
        let token = loop {
            let candidate = format!("{:032x}", rand::random::<u128>());
            if self.used.insert(candidate.clone()) {
                break candidate;
            }
        };
        self.write(&format!("::stop-commands::{token}"));
        self.open = Some(token);
    }

    fn close_block(&mut self) {
        if let Some(token) = self.open.take() {
            self.write(&format!("::{token}::"));
        }
    }
}

impl Workflow {
    pub fn new(files: CommandFiles, log: Box<dyn Write + Send>) -> Self {
        Self {
            files,
            log: Mutex::new(Sink {
                out: log,
                open: None,
                used: HashSet::new(),
            }),
        }
    }

    /// The runner's own setup: commands on stdout, files from the environment.
    pub fn from_env() -> Self {
        Self::new(CommandFiles::from_env(), Box::new(io::stdout()))
    }

    /// A plain log line.
    pub fn info(&self, line: &str) {
        self.emit(line);
    }

    /// Tells the runner to replace `secret` with `***` in every later log line.
    /// Each line of a multi-line value is masked on its own, as the runner matches per line.
    pub fn mask(&self, secret: &str) {
        for line in secret.lines().map(str::trim).filter(|l| !l.is_empty()) {
            self.emit(&format!("::add-mask::{}", escape_data(line)));
        }
    }

    pub fn annotate(&self, level: Level, title: &str, message: &str) {
        self.emit(&format!(
            "::{} title={}::{}",
            level.command(),
            escape_property(title),
            escape_data(message)
        ));
    }

    /// How a run's error is shown: one annotation per bad input, else one for the failure; an
    /// error nobody explained is shown with its cause chain.
    pub fn report_error(&self, error: &anyhow::Error) {
        if let Some(InputErrors(errors)) = error.downcast_ref::<InputErrors>() {
            for e in errors {
                self.annotate(Level::Error, &e.title(), &e.to_string());
            }
        } else if let Some(failure) = error.downcast_ref::<Failure>() {
            self.annotate(Level::Error, &failure.title, &failure.message);
        } else {
            self.annotate(
                Level::Error,
                "ship-to-ecr failed",
                &with_causes(error.as_ref()),
            );
        }
    }

    /// A warning for each retry, callable from concurrent requests: what failed and the wait.
    pub fn retry_notice<E: std::fmt::Display>(
        &self,
    ) -> impl Fn(&E, std::time::Duration) + Sync + '_ {
        move |e, wait| {
            self.annotate(
                Level::Warning,
                "Retrying",
                &format!("{e}; trying again in {wait:.1?}"),
            )
        }
    }

    /// Opens a collapsible log group; it ends when the returned guard is dropped.
    pub fn group(&self, title: &str) -> Group<'_> {
        self.emit(&format!("::group::{}", escape_data(title)));
        Group { workflow: self }
    }

    /// Prints lines that came from outside the action (build output, a daemon's status lines):
    /// each inside a `::stop-commands::` block with a fresh token, so that none runs as a
    /// command, with its control characters shown escaped (see [`untrusted`]). The block ends
    /// when the guard is dropped, and before any command of the action's own meanwhile.
    pub fn verbatim(&self) -> Verbatim<'_> {
        Verbatim { workflow: self }
    }

    /// Sets a step output. Outside the runner (no `GITHUB_OUTPUT`), prints it in the same
    /// format: `name=value`, or `name<<DELIMITER` lines for a multi-line value.
    pub fn set_output(&self, name: &str, value: &str) -> io::Result<()> {
        match &self.files.output {
            Some(path) => append(path, &file_command(name, value)),
            None => {
                self.emit(file_command(name, value).trim_end_matches('\n'));
                Ok(())
            }
        }
    }

    /// Exports a variable to the later steps of the job.
    pub fn export_env(&self, name: &str, value: &str) -> io::Result<()> {
        match &self.files.env {
            Some(path) => append(path, &file_command(name, value)),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "GITHUB_ENV is not set, so there is no later step to export variables to",
            )),
        }
    }

    /// Appends Markdown to the job summary; silently skipped outside the runner.
    pub fn summary(&self, markdown: &str) -> io::Result<()> {
        match &self.files.summary {
            Some(path) => append(path, markdown),
            None => Ok(()),
        }
    }

    fn sink(&self) -> MutexGuard<'_, Sink> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One line of the action's own; a command of its own first ends any stop-commands block,
    /// so that the runner reads it.
    fn emit(&self, line: &str) {
        let mut sink = self.sink();
        if line.starts_with("::") {
            sink.close_block();
        }
        sink.write(line);
    }
}

/// Prints text from outside the action, inside stop-commands blocks (see
/// [`Workflow::verbatim`]); ends the open block when dropped.
pub struct Verbatim<'a> {
    workflow: &'a Workflow,
}

impl Verbatim<'_> {
    /// Prints `text` as one line or more (at its newlines), none of them a command.
    pub fn line(&self, text: &str) {
        let mut sink = self.workflow.sink();
        sink.open_block();
        for line in text.split('\n') {
            sink.write(&untrusted(line.strip_suffix('\r').unwrap_or(line)));
        }
    }
}

impl Drop for Verbatim<'_> {
    fn drop(&mut self) {
        self.workflow.sink().close_block();
    }
}

/// Text read from an image or a server, made safe to print inside a line: every control
/// character (carriage return, newline, escape, ...) and every Unicode line separator or
/// direction override is shown as a `\u{..}` escape (`\r` and `\n` as such), so that it can
/// neither start a new line, which the runner could read as a command, nor disguise one.
pub fn untrusted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            // A tab ends no line: compilers align their output with it.
            '\t' => out.push('\t'),
            c if is_unprintable(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// Control characters, and the format characters that move or reorder text: line and
/// paragraph separators, bidirectional overrides and isolates.
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Ends a log group when dropped, so early returns cannot leave one open.
pub struct Group<'a> {
    workflow: &'a Workflow,
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        self.workflow.emit("::endgroup::");
    }
}

fn append(path: &PathBuf, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// `name=value`, or the heredoc form with a delimiter that does not occur in the value.
fn file_command(name: &str, value: &str) -> String {
    if !value.contains('\n') && !value.contains('\r') {
        return format!("{name}={value}\n");
    }
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{:032x}", rand::random::<u128>());
        if !value.contains(&candidate) {
            break candidate;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Escaping of a command's message, as the runner's toolkit does it.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a command's property (`title=...`): also `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::captured::Log;

    fn workflow(files: CommandFiles) -> (Workflow, Log) {
        let log = Log::default();
        (Workflow::new(files, Box::new(log.clone())), log)
    }

    fn files_in(dir: &tempfile::TempDir) -> CommandFiles {
        CommandFiles {
            output: Some(dir.path().join("output")),
            env: Some(dir.path().join("env")),
            summary: Some(dir.path().join("summary")),
        }
    }

    #[test]
    fn escapes_messages_and_properties_like_the_toolkit() {
        assert_eq!(escape_data("100%\r\nok"), "100%25%0D%0Aok");
        assert_eq!(escape_property("a: b, c%"), "a%3A b%2C c%25");
    }

    #[test]
    fn annotation_escapes_title_and_message() {
        let (wf, log) = workflow(CommandFiles::default());
        wf.annotate(Level::Error, "Input aws-region: bad", "line one\nline two");
        assert_eq!(
            log.text(),
            "::error title=Input aws-region%3A bad::line one%0Aline two\n"
        );
    }

    #[test]
    fn masks_each_line_and_skips_blank_ones() {
        let (wf, log) = workflow(CommandFiles::default());
        wf.mask("first\n\n second \n");
        assert_eq!(log.text(), "::add-mask::first\n::add-mask::second\n");
    }

    #[test]
    fn group_closes_when_dropped() {
        let (wf, log) = workflow(CommandFiles::default());
        {
            let _g = wf.group("Assume role");
            wf.info("inside");
        }
        assert_eq!(log.text(), "::group::Assume role\ninside\n::endgroup::\n");
    }

    #[test]
    fn untrusted_text_cannot_break_a_line() {
        assert_eq!(
            untrusted("a\r::warning::x\n::error::y\t\u{1b}[31m\u{2028}\u{202e}é"),
            "a\\r::warning::x\\n::error::y\t\\u{1b}[31m\\u{2028}\\u{202e}é"
        );
    }

    /// The lines between each `::stop-commands::TOKEN` and its `::TOKEN::`, with the token.
    fn blocks(text: &str) -> Vec<(String, Vec<String>)> {
        let mut found = Vec::new();
        let mut open: Option<(String, Vec<String>)> = None;
        for line in text.lines() {
            match &mut open {
                Some((token, lines)) if line == format!("::{token}::") => {
                    found.push((token.clone(), std::mem::take(lines)));
                    open = None;
                }
                Some((_, lines)) => lines.push(line.to_string()),
                None => {
                    if let Some(token) = line.strip_prefix("::stop-commands::") {
                        open = Some((token.to_string(), Vec::new()));
                    }
                }
            }
        }
        assert!(open.is_none(), "a block left open: {text}");
        found
    }

    #[test]
    fn outside_text_is_printed_inside_fresh_stop_commands_blocks() {
        let (wf, log) = workflow(CommandFiles::default());
        {
            let out = wf.verbatim();
            out.line("::add-mask::x");
            out.line("step\r::warning::x");
            // The action's own command meanwhile ends the block, so the runner reads it...
            wf.mask("secret");
            // ... and the next outside line opens another, with a new token.
            out.line("::error::y\n::set-output name=a::b");
            wf.info("own line");
        }
        wf.verbatim().line("::stop-commands::z");
        let text = log.text();
        let found = blocks(&text);
        assert_eq!(found.len(), 3, "{text}");
        assert_eq!(found[0].1, ["::add-mask::x", "step\\r::warning::x"]);
        assert_eq!(
            found[1].1,
            ["::error::y", "::set-output name=a::b", "own line"]
        );
        assert_eq!(found[2].1, ["::stop-commands::z"]);
        let tokens: HashSet<&String> = found.iter().map(|(t, _)| t).collect();
        assert_eq!(tokens.len(), 3, "each block has its own token");
        assert!(text.contains("\n::add-mask::secret\n"), "{text}");
        assert!(found.iter().all(|(t, _)| t.len() == 32));
    }

    #[test]
    fn single_line_output_uses_name_equals_value() {
        let dir = tempfile::tempdir().unwrap();
        let (wf, _) = workflow(files_in(&dir));
        wf.set_output("registry", "127.0.0.1:5000").unwrap();
        wf.set_output("digest", "sha256:abc").unwrap();
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        assert_eq!(text, "registry=127.0.0.1:5000\ndigest=sha256:abc\n");
    }

    #[test]
    fn multi_line_output_uses_a_fresh_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let (wf, _) = workflow(files_in(&dir));
        wf.set_output("tags", "a\nb").unwrap();
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        let delimiter = lines[0].strip_prefix("tags<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(&lines[1..3], &["a", "b"]);
        assert_eq!(lines[3], delimiter);
    }

    #[test]
    fn output_without_runner_file_goes_to_the_log() {
        let (wf, log) = workflow(CommandFiles::default());
        wf.set_output("image", "x:1").unwrap();
        assert_eq!(log.text(), "image=x:1\n");
    }

    #[test]
    fn export_env_needs_the_runner_file() {
        let (wf, _) = workflow(CommandFiles::default());
        assert!(wf.export_env("A", "b").is_err());
        let dir = tempfile::tempdir().unwrap();
        let (wf, _) = workflow(files_in(&dir));
        wf.export_env("AWS_REGION", "eu-west-1").unwrap();
        let text = std::fs::read_to_string(dir.path().join("env")).unwrap();
        assert_eq!(text, "AWS_REGION=eu-west-1\n");
    }

    #[test]
    fn summary_appends_markdown() {
        let dir = tempfile::tempdir().unwrap();
        let (wf, _) = workflow(files_in(&dir));
        wf.summary("# one\n").unwrap();
        wf.summary("two\n").unwrap();
        let text = std::fs::read_to_string(dir.path().join("summary")).unwrap();
        assert_eq!(text, "# one\ntwo\n");
    }
}
