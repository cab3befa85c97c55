//! The demo behind `scripts/demo`: starts the local stand-ins (moto for STS and ECR, a registry,
//! GitHub's OIDC token service), runs the action binary as the runner would, and shows what a
//! workflow run would show: the log, the outputs and the job summary.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{parse_file_commands, StandIns};

fn main() {
    println!("Starting the stand-ins (moto, docker-registry, OIDC issuer) on loopback...");
    let stand_ins = StandIns::start();
    println!("  moto (STS, ECR): {}", stand_ins.moto.url);
    println!("  registry:        {}", stand_ins.registry.url);
    println!("  OIDC issuer:     {}\n", stand_ins.oidc.request_url());

    println!("Running ship-to-ecr as a workflow step would:\n");
    let result = stand_ins
        .action()
        .input("repository", "demo/hello")
        .input("tag-mutability", "IMMUTABLE")
        .input("keep-images", "20")
        .run();
    for line in result.stdout.lines() {
        // The runner hides masked values and these commands; show them as it would.
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
    println!("\nOutputs (GITHUB_OUTPUT):");
    for (name, value) in parse_file_commands(&result.output_file) {
        println!("  {name} = {value}");
    }
    println!("\nJob summary (GITHUB_STEP_SUMMARY):\n{}", result.summary);
    println!("Repositories now in moto: {:?}", stand_ins.repositories());
    println!(
        "\nBuilding and pushing an image: coming with image building (the next issue). \
         This demo stops after credentials, the repository and the registry login."
    );
}
