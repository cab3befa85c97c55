//! The demo behind `scripts/demo`: starts the local stand-ins (moto for STS and ECR, a registry,
//! GitHub's OIDC token service), then runs the action binary as the runner would on a push to
//! `main`: it builds `examples/app` and pushes it. A second run with nothing changed shows that
//! nothing is sent again.

use support::{images, parse_file_commands, project_path, ActionResult, StandIns};

fn main() {
    println!("Making the base image locally (nothing can be pulled here)...");
    images::base_image();
    println!("Starting the stand-ins (moto, docker-registry, OIDC issuer) on loopback...");
    let stand_ins = StandIns::start();
    println!("  moto (STS, ECR): {}", stand_ins.moto.url);
    println!("  registry:        {}", stand_ins.registry.url);
    println!("  OIDC issuer:     {}\n", stand_ins.oidc.request_url());

    let run = || {
        stand_ins
            .action()
            .copy_dir(&project_path("examples/app"), "app")
            .input("repository", "demo/hello")
            .input("context", "app")
            .input("tag-mutability", "IMMUTABLE")
            .input("keep-images", "20")
            .run()
    };
    println!("Run 1: a push to main, as a workflow step would run it:\n");
    show(&run());
    println!("\nRun 2: the same commit again (nothing changed):\n");
    show(&run());
    println!(
        "Registry now holds demo/hello with tags {:?}",
        stand_ins.reader().tags("demo/hello")
    );
}

fn show(result: &ActionResult) {
    for line in result.stdout.lines() {
        // The runner hides these commands and the masked values; show the log as it would.
        if line.starts_with("::add-mask::") {
            continue;
        }
        println!("  | {line}");
    }
    if result.code != 0 {
        eprintln!("{}", result.stderr);
        eprintln!("ship-to-ecr exited with {}", result.code);
        std::process::exit(1);
    }
    println!("\n  Outputs (GITHUB_OUTPUT):");
    for (name, value) in parse_file_commands(&result.output_file) {
        println!("    {name} = {}", value.replace('\n', ", "));
    }
    println!("\n  Job summary (GITHUB_STEP_SUMMARY):");
    for line in result.summary.lines() {
        println!("    {line}");
    }
}
