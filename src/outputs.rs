//! Every output the action writes, declared once (as `inputs!` declares the inputs): the code
//! writes outputs only through [`Output`], and `action.yml` is checked against [`OUTPUTS`].

use crate::github::commands::Workflow;

macro_rules! outputs {
    ($($variant:ident: $name:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Output {
            $($variant,)*
        }

        /// Every output's name, in the order `action.yml` lists them.
        pub const OUTPUTS: &[&str] = &[$($name,)*];

        impl Output {
            pub fn name(self) -> &'static str {
                match self {
                    $(Output::$variant => $name,)*
                }
            }
        }
    };
}

outputs! {
    AwsAccountId: "aws-account-id",
    Registry: "registry",
    RepositoryUri: "repository-uri",
    Image: "image",
    Digest: "digest",
    ImageByDigest: "image-by-digest",
    Tags: "tags",
    BaseDigest: "base-digest",
    Pushed: "pushed",
    Superseded: "superseded",
    TaskDefinitionArn: "task-definition-arn",
    EcsDeploymentId: "ecs-deployment-id",
    EcsRolloutState: "ecs-rollout-state",
}

/// Writes `output` for later steps (or prints it, outside a runner).
pub fn set(workflow: &Workflow, output: Output, value: &str) -> anyhow::Result<()> {
    Ok(workflow.set_output(output.name(), value)?)
}
