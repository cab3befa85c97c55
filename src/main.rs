//! Entry point: runs the pipeline and turns any error into an annotation and exit code 1.

use std::process::ExitCode;

use ship_to_ecr::github::commands::Workflow;
use ship_to_ecr::run;

fn main() -> ExitCode {
    let workflow = Workflow::from_env();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            run::report_error(&workflow, &e.into());
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(&workflow)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            run::report_error(&workflow, &error);
            ExitCode::FAILURE
        }
    }
}
