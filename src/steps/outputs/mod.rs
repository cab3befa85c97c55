//! The outputs step: the image's outputs once the image is where they say, the credentials for
//! later steps only when asked, and the job summary.

mod summary;

use std::time::Instant;

use crate::artifact::{Artifact, PushReport};
use crate::aws::ecr::{LifecycleChange, RepositoryState};
use crate::aws::session::AwsSession;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::outputs::{self, Output};

/// What the run did, for the outputs and the summary.
pub struct Published<'a> {
    pub session: &'a AwsSession,
    pub region: &'a str,
    pub account: &'a str,
    pub repository_name: &'a str,
    /// `None`: the repository does not exist and was not created (push: false).
    pub repository: Option<&'a RepositoryState>,
    pub lifecycle: LifecycleChange,
    pub registry_host: &'a str,
    pub repository_uri: &'a str,
    pub tags: &'a [String],
    pub artifact: &'a Artifact,
    /// A patch's base, pinned by digest.
    pub base: Option<&'a str>,
    /// The builder of a build (`BuildKit`, `classic`).
    pub builder: Option<&'a str>,
    /// What a build's cache did, in words (`off`, or what was imported and used).
    pub build_cache: Option<&'a str>,
    /// `None`: push was false.
    pub report: Option<&'a PushReport>,
    pub export_credentials: bool,
    pub started: Instant,
}

pub fn write(p: &Published<'_>, workflow: &Workflow) -> anyhow::Result<()> {
    // No tag: an image of the repository deployed by digest, with no tags asked for.
    let image_name = match (p.tags.first(), p.report) {
        (Some(tag), _) => format!("{}:{tag}", p.repository_uri),
        (None, Some(report)) => format!("{}@{}", p.repository_uri, report.digest),
        (None, None) => p.repository_uri.to_string(),
    };
    outputs::set(workflow, Output::Image, &image_name)?;
    outputs::set(workflow, Output::Tags, &p.tags.join("\n"))?;
    if let Some(report) = p.report {
        outputs::set(workflow, Output::Digest, report.digest.as_str())?;
        outputs::set(
            workflow,
            Output::ImageByDigest,
            &format!("{}@{}", p.repository_uri, report.digest),
        )?;
    }
    let pushed = p.report.is_some_and(PushReport::pushed);
    outputs::set(
        workflow,
        Output::Pushed,
        if pushed { "true" } else { "false" },
    )?;
    let superseded = p.report.is_some_and(|r| !r.superseded.is_empty());
    outputs::set(
        workflow,
        Output::Superseded,
        if superseded { "true" } else { "false" },
    )?;
    if p.export_credentials {
        export_credentials(workflow, p.session, p.region)?;
    }
    workflow.summary(&summary::markdown(p, &image_name))?;
    Ok(())
}

/// The session's credentials as environment variables for the later steps of the job (masked
/// already, on arrival).
fn export_credentials(
    workflow: &Workflow,
    session: &AwsSession,
    region: &str,
) -> anyhow::Result<()> {
    let Some(c) = &session.credentials else {
        workflow.annotate(
            Level::Notice,
            "Nothing to export",
            "export-credentials is true, but no role was assumed: later steps already see the \
             default credential chain.",
        );
        return Ok(());
    };
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", c.session_token.as_str()),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
    ] {
        workflow.export_env(name, value).map_err(|e| {
            Failure::new(
                "Cannot export credentials",
                format!("export-credentials is true, but {e}"),
            )
        })?;
    }
    workflow.info("Exported the temporary credentials to later steps of this job (masked).");
    Ok(())
}
