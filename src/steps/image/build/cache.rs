//! Where a BuildKit build's cache comes from: with `cache: auto`, this repository's image for
//! the branch, then `latest`, whichever ECR has (a fresh runner has no cache of its own); with
//! explicit lines, the images they name. The cache travels inline, in the pushed image's config.

use crate::engine::buildkit::progress::CacheUse;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::tags::sanitise;
use crate::inputs::CachePlan;
use crate::registry::destination::Destination;

/// This repository in ECR, signed in: where a build looks for an image of the same inputs, and
/// where `cache: auto` finds and leaves the cache.
pub struct BuildHome {
    pub ecr: Destination,
    /// The image's first tag cannot move once written. The inline cache records where its
    /// steps came from, so a re-run of the same commit that imported it is a different image,
    /// which an immutable tag would refuse: there the cache is imported, never exported.
    pub immutable: bool,
    /// The digests of the images ECR says were pushed last, newest first: where a build of the
    /// same inputs is looked for after this run's own tags with `reuse: repository` (empty
    /// otherwise).
    pub recent: Vec<String>,
}

/// What the cache did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct CacheReport {
    /// The images the cache was imported from.
    pub imported: Vec<String>,
    /// Whether the pushed image carries the cache for the next run.
    pub inline: bool,
    /// Why it does not, when `cache: auto` chose so.
    pub not_exported: Option<&'static str>,
    pub used: CacheUse,
}

impl CacheReport {
    /// `imported from host/repo:main; 3 of 5 steps cached; exported inline`.
    pub fn describe(&self) -> String {
        let from = if self.imported.is_empty() {
            "nothing to import".to_string()
        } else {
            format!("imported from {}", self.imported.join(", "))
        };
        format!(
            "{from}; {} of {} steps cached{}",
            self.used.cached,
            self.used.steps,
            match (self.inline, self.not_exported) {
                (true, _) => "; exported inline".to_string(),
                (false, Some(why)) => format!("; not exported: {why}"),
                (false, None) => String::new(),
            }
        )
    }
}

/// Where the cache comes from and goes; `None` when the cache is off.
pub async fn sources(
    plan: &CachePlan,
    ctx: &RunContext,
    home: Option<&BuildHome>,
    workflow: &Workflow,
) -> Option<CacheReport> {
    let report = |imported, inline, not_exported| CacheReport {
        imported,
        inline,
        not_exported,
        used: CacheUse::default(),
    };
    match plan {
        CachePlan::Off => None,
        CachePlan::Explicit { from, inline } => Some(report(from.clone(), *inline, None)),
        CachePlan::Auto => {
            let Some(home) = home else {
                return Some(report(Vec::new(), true, None));
            };
            let ecr = &home.ecr;
            let mut tags: Vec<String> = ctx
                .event
                .branch()
                .map(|b| sanitise(&b))
                .into_iter()
                .collect();
            tags.push("latest".into());
            tags.dedup();
            let mut found = Vec::new();
            for tag in tags {
                // A tag that is not there, or that cannot be read, only means less cache.
                let there = ecr
                    .client
                    .get_manifest(&ecr.repository, &tag, workflow.retry_notice())
                    .await;
                if let Ok(Some(_)) = there {
                    found.push(format!("{}:{tag}", ecr.repository_uri()));
                }
            }
            Some(if home.immutable {
                report(found, false, Some("the tags are immutable"))
            } else {
                report(found, true, None)
            })
        }
    }
}
