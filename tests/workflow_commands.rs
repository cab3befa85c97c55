//! Text that does not come from the action can run no workflow command (issue 30, row 2):
//! build output, a daemon's lines and labels read from images are printed inside
//! `::stop-commands::` blocks with fresh tokens, their control characters escaped. End to end
//! on this machine's daemon, with BuildKit and with the classic builder.

use support::{ActionResult, ActionRun, StandIns};

/// What a Dockerfile's `RUN` (and a label) tries to make the runner do.
const INJECTED: [&str; 5] = [
    "::add-mask::x",
    "::error::x",
    "::set-output name=a::b",
    "::stop-commands::x",
    "::warning::x",
];

/// The commands the action writes of its own.
const OWN: [&str; 6] = [
    "::add-mask::",
    "::group::",
    "::endgroup::",
    "::error title=",
    "::warning title=",
    "::notice title=",
];

/// A Dockerfile whose one step prints every injection, one behind a bare carriage return.
fn hostile_build(s: &StandIns) -> ActionRun {
    s.action().write_file(
        "Dockerfile",
        &format!(
            "FROM {}\nRUN echo {} && echo '::add-mask::x' && echo '::error::x' && \
             echo '::set-output name=a::b' && echo '::stop-commands::x' && \
             printf 'progress 50%%\\r::warning::x\\n'\n",
            s.base, s.nonce
        ),
    )
}

/// Every line of stdout that starts with `::` is the action's own, or inside a stop-commands
/// block whose token (32 hex digits) was never printed before the block opened.
fn assert_no_outside_command(result: &ActionResult) {
    let stdout = &result.stdout;
    assert!(!stdout.contains('\r'), "a bare carriage return: {result}");
    let mut open: Option<String> = None;
    let mut before = String::new();
    for line in stdout.lines() {
        match &open {
            Some(token) if line == format!("::{token}::") => open = None,
            Some(_) => {}
            None => {
                if let Some(token) = line.strip_prefix("::stop-commands::") {
                    assert!(
                        token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
                        "a block opened by someone else: {line:?}\n{result}"
                    );
                    assert!(!before.contains(token), "a token seen before: {line:?}");
                    open = Some(token.to_string());
                } else if line.starts_with("::") {
                    assert!(
                        OWN.iter().any(|own| line.starts_with(own)) && !INJECTED.contains(&line),
                        "a command the action did not write, outside any block: {line:?}\n{result}"
                    );
                }
            }
        }
        before.push_str(line);
        before.push('\n');
    }
    assert!(open.is_none(), "a block left open: {result}");
}

fn assert_printed_inert(result: &ActionResult) {
    for injected in ["::add-mask::x", "::error::x", "::stop-commands::x"] {
        assert!(
            result.stdout.contains(injected),
            "the build's output is shown: {injected}\n{result}"
        );
    }
    assert!(result.stdout.contains("\\r::warning::x"), "{result}");
    assert_no_outside_command(result);
    assert!(result.errors().is_empty(), "{result}");
}

#[test]
fn build_output_and_labels_cannot_run_workflow_commands() {
    let s = StandIns::start();
    // The run's id ends up in the image's built-by label, which a later run that reuses the
    // image prints: a label holding a newline and a command.
    let run_id = "7001\n::error::from-a-label";
    let first = hostile_build(&s).env("GITHUB_RUN_ID", run_id).run();
    first.expect_code(0);
    assert_printed_inert(&first);
    first.assert_no_secret_leaked(&s.secrets(), true);

    let again = hostile_build(&s).run();
    again.expect_code(0);
    assert!(again.stdout.contains("Reused sha256:"), "{again}");
    assert!(again.stdout.contains("\\n::error::from-a-label"), "{again}");
    assert_no_outside_command(&again);
    assert!(again.errors().is_empty(), "{again}");
}

#[test]
fn the_classic_builder_s_output_cannot_run_workflow_commands() {
    let s = StandIns::start();
    let result = hostile_build(&s).input("builder", "classic").run();
    result.expect_code(0);
    assert_printed_inert(&result);
}
