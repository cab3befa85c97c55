//! ship-to-ecr: from `git push` to an image in Amazon ECR, keyless, in one step.
//!
//! Layers, lowest first (a module only uses those before it in this list; see ARCHITECTURE.md):
//! 1. `error`, `retry`: no project imports.
//! 2. `oci`: the image model, pure data.
//! 3. `github`, `image`, `ecs`, `iam`, `inputs`, `outputs`, `http`: the runner, describing images, the
//!    action's interface.
//! 4. `aws`, `registry`, `engine`: clients; they never print.
//! 5. `artifact`: the image every step makes and the push consumes.
//! 6. `steps`: credentials, image, repository, login, push, outputs.
//! 7. `run`, `setup` (the `setup` and `check` commands), `interrupt` (a cancelled job), `crash`
//!    (a panic ends as one error), `cli`.

pub mod artifact;
pub mod aws;
pub mod cli;
pub mod crash;
pub mod ecs;
pub mod engine;
pub mod error;
pub mod github;
pub mod http;
pub mod iam;
pub mod image;
pub mod inputs;
pub mod interrupt;
pub mod oci;
pub mod outputs;
pub mod registry;
pub mod retry;
pub mod run;
pub mod setup;
pub mod steps;
