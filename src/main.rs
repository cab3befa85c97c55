//! Entry point: reads the command line (none in Actions), runs the pipeline, and turns any
//! error into an annotation and exit code 1.

use std::process::ExitCode;

use ship_to_ecr::cli::{self, Invocation};
use ship_to_ecr::github::commands::Workflow;
use ship_to_ecr::run;

fn main() -> ExitCode {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let vars = match cli::parse(std::env::args().skip(1).collect(), env) {
        Invocation::Run(vars) => vars,
        Invocation::Exit { text, code } => {
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            return ExitCode::from(code);
        }
    };
    let workflow = Workflow::from_env();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            workflow.report_error(&e.into());
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(&workflow, vars)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            workflow.report_error(&error);
            ExitCode::FAILURE
        }
    }
}
