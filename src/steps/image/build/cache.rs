//! Where a BuildKit build's cache comes from: with `cache: auto`, this repository's image for
//! the branch, then `latest`, whichever ECR has (a fresh runner has no cache of its own); with
//! explicit lines, the images they name. On the containerd image store `cache: auto` keeps a
//! registry cache of every stage under `buildcache` tags instead; on the classic store the cache
//! travels inline, in the pushed image's config.

use crate::engine::buildkit::progress::CacheUse;
use crate::engine::buildkit::RegistryCache;
use crate::github::commands::Workflow;
use crate::github::context::RunContext;
use crate::image::tags::sanitise;
use crate::inputs::cache::CACHE_TAG;
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
    /// The repository exists. It is created after a build succeeds, and until then nothing can
    /// be pushed to it, a cache neither.
    pub exists: bool,
    /// The registry cache's tag cannot be rewritten.
    pub cache_tag_immutable: bool,
    /// The digests of the images ECR says were pushed last, newest first: where a build of the
    /// same inputs is looked for after this run's own tags with `reuse: repository` (empty
    /// otherwise).
    pub recent: Vec<String>,
}

/// Where a BuildKit build keeps its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKind {
    /// Embedded in the pushed image's config: all the daemon's `/build` can export, and all
    /// the classic image store's BuildKit can.
    Inline,
    /// A registry cache of every stage beside the image: the containerd image store's BuildKit,
    /// through a solve.
    Registry(RegistryCache),
}

/// What the cache did, for the summary.
#[derive(Debug, Clone)]
pub struct CacheReport {
    pub kind: CacheKind,
    /// The references the cache was imported from.
    pub imported: Vec<String>,
    /// Whether the cache is exported for the next run.
    pub exported: bool,
    /// Why it is not, or why it is the kind it is.
    pub why: Option<&'static str>,
    pub used: CacheUse,
}

impl CacheReport {
    /// `imported from host/repo:buildcache; 3 of 5 steps cached; exported to
    /// host/repo:buildcache (registry cache, every stage)`.
    pub fn describe(&self) -> String {
        let from = if self.imported.is_empty() {
            "nothing to import".to_string()
        } else {
            format!("imported from {}", self.imported.join(", "))
        };
        let to = match (&self.kind, self.exported) {
            (
                CacheKind::Registry(RegistryCache {
                    export: Some(to), ..
                }),
                true,
            ) => {
                format!("exported to {to} (registry cache, every stage)")
            }
            (CacheKind::Inline, true) => "exported inline (in the pushed image)".to_string(),
            _ => "not exported".to_string(),
        };
        let why = self.why.map(|w| format!(": {w}")).unwrap_or_default();
        format!(
            "{from}; {} of {} steps cached; {to}{why}",
            self.used.cached, self.used.steps
        )
    }

    /// What the build is about to do with the cache, for the log.
    pub fn plan(&self) -> String {
        let kind = match &self.kind {
            CacheKind::Inline => "inline cache",
            CacheKind::Registry(_) => "registry cache of every stage (mode=max)",
        };
        let from = match self.imported.as_slice() {
            [] => "nothing to import yet".to_string(),
            refs => format!("importing {}", refs.join(", then ")),
        };
        let to = match (&self.kind, self.exported) {
            (
                CacheKind::Registry(RegistryCache {
                    export: Some(to), ..
                }),
                true,
            ) => {
                format!("exporting to {to}")
            }
            (CacheKind::Inline, true) => "embedding it in the pushed image".to_string(),
            _ => "not exporting".to_string(),
        };
        let why = self.why.map(|w| format!(" ({w})")).unwrap_or_default();
        format!("{kind}, {from}, {to}{why}")
    }

    /// The images whose inline cache `/build` may import, and whether to embed one.
    pub fn inline(&self) -> (Vec<String>, bool) {
        match self.kind {
            CacheKind::Inline => (self.imported.clone(), self.exported),
            CacheKind::Registry(_) => (Vec::new(), false),
        }
    }

    /// The registry cache a solve imports and exports.
    pub fn registry(&self) -> Option<RegistryCache> {
        match &self.kind {
            CacheKind::Registry(cache) => Some(cache.clone()),
            CacheKind::Inline => None,
        }
    }
}

/// Where the cache comes from and goes; `None` when the cache is off. `registry_cache`: the
/// daemon's BuildKit can export a registry cache (the containerd image store).
pub async fn sources(
    plan: &CachePlan,
    ctx: &RunContext,
    home: Option<&BuildHome>,
    registry_cache: bool,
    workflow: &Workflow,
) -> Option<CacheReport> {
    let inline = |imported, exported, why| CacheReport {
        kind: CacheKind::Inline,
        imported,
        exported,
        why,
        used: CacheUse::default(),
    };
    match plan {
        CachePlan::Off => None,
        CachePlan::Explicit { from, inline: to } => Some(inline(from.clone(), *to, None)),
        CachePlan::Auto => {
            let Some(home) = home else {
                return Some(inline(Vec::new(), true, None));
            };
            Some(if registry_cache {
                registry(ctx, home, workflow).await
            } else {
                let found = existing(home, &inline_tags(ctx), workflow).await;
                let why = if home.immutable {
                    Some("the tags are immutable, and an image that carries its cache differs from run to run")
                } else {
                    Some("the classic image store's BuildKit exports no registry cache")
                };
                inline(found, !home.immutable, why)
            })
        }
    }
}

/// This branch's tag, then the default branch's `latest`: where an inline cache is found.
fn inline_tags(ctx: &RunContext) -> Vec<String> {
    let mut tags: Vec<String> = ctx
        .event
        .branch()
        .map(|b| sanitise(&b))
        .into_iter()
        .collect();
    tags.push("latest".into());
    tags.dedup();
    tags
}

/// The registry cache of this branch, then the default branch's; written to this branch's.
/// The default branch's cache is written only by runs on the default branch, so that no other
/// branch or pull request decides what its builds reuse.
async fn registry(ctx: &RunContext, home: &BuildHome, workflow: &Workflow) -> CacheReport {
    let own = cache_tag(ctx);
    let mut tags: Vec<String> = own.iter().cloned().collect();
    if !tags.iter().any(|t| t == CACHE_TAG) {
        tags.push(CACHE_TAG.into());
    }
    let imported = existing(home, &tags, workflow).await;
    let uri = home.ecr.repository_uri();
    let why = if !home.exists {
        Some("the repository is created once the build succeeds; the next run exports the cache")
    } else if home.cache_tag_immutable {
        Some(
            "the repository's tags are immutable, so the cache's tag cannot be rewritten \
             (IMMUTABLE_WITH_EXCLUSION with buildcache* excluded keeps one)",
        )
    } else if own.is_none() {
        Some("this run builds no branch (a tag or another ref)")
    } else {
        None
    };
    let export = own
        .filter(|_| why.is_none())
        .map(|tag| format!("{uri}:{tag}"));
    CacheReport {
        kind: CacheKind::Registry(RegistryCache {
            import: imported.clone(),
            export: export.clone(),
        }),
        imported,
        exported: export.is_some(),
        why,
        used: CacheUse::default(),
    }
}

/// The tag this run's registry cache goes to: `buildcache` on the default branch,
/// `buildcache-BRANCH` on another; none for a run on a tag.
fn cache_tag(ctx: &RunContext) -> Option<String> {
    if ctx.event.on_default_branch() {
        return Some(CACHE_TAG.into());
    }
    let branch = ctx.event.branch()?;
    Some(sanitise(&format!("{CACHE_TAG}-{branch}")))
}

/// `repository:tag` for each of `tags` that ECR has. A tag that is not there, or that cannot be
/// read, only means less cache.
async fn existing(home: &BuildHome, tags: &[String], workflow: &Workflow) -> Vec<String> {
    let ecr = &home.ecr;
    let mut found = Vec::new();
    for tag in tags {
        let there = ecr
            .client
            .get_manifest(&ecr.repository, tag, workflow.retry_notice())
            .await;
        if let Ok(Some(_)) = there {
            found.push(format!("{}:{tag}", ecr.repository_uri()));
        }
    }
    found
}
