//! Entry point: reads the command line (none in Actions), runs the pipeline (or the `setup` and
//! `check` commands), and turns any error into an annotation and exit code 1.

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use futures_util::FutureExt;
use ship_to_ecr::cli::{self, Invocation};
use ship_to_ecr::github::commands::Workflow;
use ship_to_ecr::{crash, interrupt, run, setup};

fn main() -> ExitCode {
    crash::install_hook();
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let invocation = cli::parse(std::env::args().skip(1).collect(), env);
    if let Invocation::Exit { text, code } = &invocation {
        if *code == 0 {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
        return ExitCode::from(*code);
    }
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
    let work = async {
        match invocation {
            Invocation::Setup(args) => setup::setup(&args, &workflow).await,
            Invocation::Check(args) => setup::check::check(&args, &workflow).await,
            Invocation::Run(vars) => run::run(&workflow, vars).await,
            // Answered before the runtime was built.
            Invocation::Exit { .. } => Ok(()),
        }
    };
    let outcome = runtime.block_on(async {
        // At a signal the work is dropped where it stands (see `interrupt`); a panic in it
        // still ends as one error (see `crash`).
        tokio::select! {
            outcome = AssertUnwindSafe(work).catch_unwind() => Ok(outcome),
            signal = interrupt::signalled() => Err(signal),
        }
    });
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => {
            runtime.block_on(crash::report(panic.as_ref(), &workflow));
            return ExitCode::FAILURE;
        }
        Err(signal) => {
            runtime.block_on(interrupt::clean_up(signal, &workflow));
            return ExitCode::from(signal.exit_code());
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            workflow.report_error(&error);
            ExitCode::FAILURE
        }
    }
}
