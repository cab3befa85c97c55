//! The command line, for runs outside GitHub Actions: every input is a `--kebab-case` flag with
//! `action.yml`'s description, and a flag is just another way to set `INPUT_<NAME>`, so both
//! ways run exactly the same code. Inside Actions the runner passes no arguments.

use clap::{Arg, ArgAction, Command};
use yaml_rust2::{Yaml, YamlLoader};

use crate::inputs::INPUTS;

/// `action.yml`, the one place inputs are described.
const ACTION_YML: &str = include_str!("../action.yml");

/// The inputs' descriptions from `action.yml`, by name.
fn descriptions() -> Vec<(String, String)> {
    let docs = YamlLoader::load_from_str(ACTION_YML).unwrap_or_default();
    let Some(Yaml::Hash(inputs)) = docs.first().map(|d| d["inputs"].clone()) else {
        return Vec::new();
    };
    inputs
        .iter()
        .filter_map(|(name, spec)| {
            Some((
                name.as_str()?.to_string(),
                spec["description"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn command() -> Command {
    let descriptions = descriptions();
    let mut command = Command::new("ship-to-ecr")
        .version(env!("CARGO_PKG_VERSION"))
        .about("From git push to an image in Amazon ECR, keyless, in one step.")
        .long_about(
            "From git push to an image in Amazon ECR, keyless, in one step.\n\n\
             Runs as a GitHub Action (inputs from INPUT_* variables) or from a shell with the \
             flags below; each flag sets the same input as its INPUT_<NAME> variable and wins \
             over it. Multi-line inputs (tags, labels, files, env, build-args, build-secrets, cache) \
             take one line per flag, repeated. Outside Actions, outputs are printed as name=value lines.",
        )
        .max_term_width(100);
    for input in INPUTS {
        let name = input.name;
        let description = descriptions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        let mut notes = vec![format!("env: INPUT_{}", name.to_uppercase())];
        if !input.env_fallbacks.is_empty() {
            notes.push(format!("then {}", input.env_fallbacks.join(", then ")));
        }
        if input.default.starts_with("${{") {
            // The runner evaluates it; the command line has no such default.
            notes.push(format!("default in a workflow: {}", input.default));
        } else if !input.default.is_empty() {
            notes.push(format!("default: {}", input.default));
        }
        command = command.arg(
            Arg::new(name)
                .long(name)
                .value_name("VALUE")
                .action(ArgAction::Append)
                .help(format!("{description} [{}]", notes.join("; "))),
        );
    }
    command
}

/// What the command line asks for.
pub enum Invocation {
    /// Run with these variables (the environment, with the flags as `INPUT_*` over it).
    Run(Vec<(String, String)>),
    /// `ship-to-ecr setup ...`: the AWS side, set up once.
    Setup(Box<crate::setup::Setup>),
    /// `ship-to-ecr check ...`: the AWS side, checked for a run.
    Check(Box<crate::setup::check::Check>),
    /// `--help`, `--version` or a bad flag: print this and exit with this code.
    Exit { text: String, code: u8 },
}

/// Reads the arguments (without the program name) over the environment's variables.
pub fn parse(args: Vec<String>, env: Vec<(String, String)>) -> Invocation {
    // The runner passes no arguments: nothing to parse, so no flag table to build.
    if args.is_empty() {
        return Invocation::Run(env);
    }
    if matches!(args[0].as_str(), "setup" | "check") {
        return admin(args, &env);
    }
    let matches = match command()
        .try_get_matches_from(std::iter::once("ship-to-ecr".to_string()).chain(args))
    {
        Ok(matches) => matches,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            return Invocation::Exit {
                text: e.render().to_string(),
                code,
            };
        }
    };
    let mut vars = env;
    for input in INPUTS {
        let name = input.name;
        if let Some(values) = matches.get_many::<String>(name) {
            let value = values.cloned().collect::<Vec<_>>().join("\n");
            let key = format!("INPUT_{}", name.to_uppercase());
            vars.retain(|(k, _)| k != &key);
            vars.push((key, value));
        }
    }
    Invocation::Run(vars)
}

/// The `setup` and `check` subcommands: clap's flags, then our rules; a bad flag exits 2 with
/// the rule and a good value, as clap's own errors do.
fn admin(args: Vec<String>, env: &[(String, String)]) -> Invocation {
    let setup = args[0] == "setup";
    let command = if setup {
        crate::setup::args::setup_command()
    } else {
        crate::setup::args::check_command()
    };
    let matches = match command
        .bin_name(format!("ship-to-ecr {}", args[0]))
        .try_get_matches_from(args)
    {
        Ok(matches) => matches,
        Err(e) => {
            return Invocation::Exit {
                text: e.render().to_string(),
                code: if e.use_stderr() { 2 } else { 0 },
            }
        }
    };
    let parsed = if setup {
        crate::setup::Setup::parse(&matches, env).map(|s| Invocation::Setup(Box::new(s)))
    } else {
        crate::setup::check::Check::parse(&matches, env).map(|c| Invocation::Check(Box::new(c)))
    };
    parsed.unwrap_or_else(|failure| Invocation::Exit {
        text: format!("error: {}\n", failure.message),
        code: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn every_input_is_a_flag_with_its_description() {
        let Invocation::Exit { text, code } = parse(args(&["--help"]), Vec::new()) else {
            panic!("--help exits");
        };
        assert_eq!(code, 0);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for name in INPUTS.iter().map(|input| input.name) {
            assert!(
                text.contains(&format!("--{name} <VALUE>")),
                "--{name} in:\n{text}"
            );
        }
        assert!(
            text.contains("then AWS_REGION, then AWS_DEFAULT_REGION"),
            "{text}"
        );
        assert!(text.contains("then ROLE_TO_ASSUME"), "{text}");
        assert!(text.contains("AWS region of the ECR repository"), "{text}");
    }

    #[test]
    fn flags_become_inputs_and_win_over_the_environment() {
        let env = vec![
            ("INPUT_REPOSITORY".to_string(), "from-env".to_string()),
            ("INPUT_PUSH".to_string(), "false".to_string()),
        ];
        let Invocation::Run(vars) = parse(
            args(&[
                "--repository",
                "team/app",
                "--tags",
                "v1",
                "--tags",
                "latest",
            ]),
            env,
        ) else {
            panic!("runs");
        };
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("INPUT_REPOSITORY"), Some("team/app"));
        assert_eq!(get("INPUT_TAGS"), Some("v1\nlatest"));
        assert_eq!(get("INPUT_PUSH"), Some("false"));
    }

    #[test]
    fn version_and_bad_flags() {
        let Invocation::Exit { text, code } = parse(args(&["--version"]), Vec::new()) else {
            panic!("exits");
        };
        assert_eq!(
            (text.trim(), code),
            (concat!("ship-to-ecr ", env!("CARGO_PKG_VERSION")), 0)
        );
        let Invocation::Exit { code, .. } = parse(args(&["--regoin", "x"]), Vec::new()) else {
            panic!("exits");
        };
        assert_eq!(code, 2);
    }
}
