//! What `setup` was asked for, as the roles and repositories to have: one role (`--branch`,
//! `--environment`, `--tag`, `--pull-requests`, `--any-ref`) or one per stage (`--stages`).
//! Pure: the live set-up and the templates are made from the same blueprint.

use aws_sdk_ecr::types::ImageTagMutability;
use clap::ArgMatches;

use super::args::{self, refused, value, values, GitHubRepo};
use crate::error::Failure;

/// What `setup` was asked for, checked.
#[derive(Debug, Clone)]
pub struct Setup {
    pub repo: GitHubRepo,
    pub region: String,
    pub audience: String,
    pub roles: Vec<RoleSpec>,
    pub repositories: Vec<RepositorySpec>,
    pub allow_create: bool,
    /// `(cluster, service)`.
    pub ecs_services: Vec<(String, String)>,
    pub scan_on_push: bool,
    pub keep_images: Option<i64>,
    pub dry_run: bool,
    /// Print this template instead of calling AWS.
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CloudFormation,
    Terraform,
}

/// A role and who may assume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    pub name: String,
    /// The stage it belongs to (`dev`, `main`, `release`), if any.
    pub stage: Option<&'static str>,
    /// The `sub` values it admits.
    pub subjects: Vec<String>,
    /// The repositories it pushes to.
    pub repositories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepositorySpec {
    pub name: String,
    pub tag_mutability: ImageTagMutability,
    /// Principals the repository's policy lets pull.
    pub pull_principals: Vec<String>,
}

/// The stages of seed 001's layout and who pushes to each: pull requests and every branch to
/// dev, `main` to main, the `release` environment to release.
const STAGES: [&str; 3] = ["dev", "main", "release"];

fn stage_subjects(stage: &str, prefix: &str) -> Vec<String> {
    match stage {
        "dev" => vec![
            format!("{prefix}:pull_request"),
            format!("{prefix}:ref:refs/heads/*"),
        ],
        "main" => vec![format!("{prefix}:ref:refs/heads/main")],
        _ => vec![format!("{prefix}:environment:release")],
    }
}

impl Setup {
    pub fn parse(matches: &ArgMatches, env: &[(String, String)]) -> Result<Self, Failure> {
        let repo = args::github_repo(matches)?;
        let names = args::repositories(matches)?;
        if names.is_empty() {
            return Err(refused(
                "repository",
                "is required: name the repositories the role pushes to",
                "team/web-app",
            ));
        }
        let base_role = match value(matches, "role-name") {
            Some(name) => role_name(&name)?,
            None => default_role_name(&repo),
        };
        let ecs_services = ecs_services(matches)?;
        let tag_mutability = match value(matches, "tag-mutability").as_deref() {
            None | Some("MUTABLE") => ImageTagMutability::Mutable,
            Some("IMMUTABLE") => ImageTagMutability::Immutable,
            Some(other) => {
                return Err(refused(
                    "tag-mutability",
                    format!("'{other}' must be MUTABLE or IMMUTABLE"),
                    "IMMUTABLE",
                ))
            }
        };
        let pull_principals = values(matches, "pull-principal")
            .into_iter()
            .map(|p| principal(&p))
            .collect::<Result<Vec<_>, _>>()?;
        let (roles, repositories) = match value(matches, "stages") {
            None => {
                let role = RoleSpec {
                    name: base_role,
                    stage: None,
                    subjects: subjects(matches, &repo)?,
                    repositories: names.clone(),
                };
                let repositories = names
                    .iter()
                    .map(|name| RepositorySpec {
                        name: name.clone(),
                        tag_mutability: tag_mutability.clone(),
                        pull_principals: pull_principals.clone(),
                    })
                    .collect();
                (vec![role], repositories)
            }
            Some(list) => {
                if let Some((flag, _)) = who_may_push(matches).into_iter().find(|(_, set)| *set) {
                    return Err(refused(
                        flag,
                        "cannot be combined with --stages, which says who pushes to each stage",
                        "(leave it out)",
                    ));
                }
                if !ecs_services.is_empty() {
                    return Err(refused(
                        "ecs-service",
                        "cannot be combined with --stages: run setup once more for the deploying role, with --role-name and --ecs-service",
                        "production/web",
                    ));
                }
                staged(
                    &list,
                    &repo,
                    &base_role,
                    &names,
                    tag_mutability,
                    &pull_principals,
                )?
            }
        };
        let format = match value(matches, "format").as_deref() {
            None => None,
            Some("cloudformation") => Some(Format::CloudFormation),
            Some("terraform") => Some(Format::Terraform),
            Some(other) => {
                return Err(refused(
                    "format",
                    format!("'{other}' must be cloudformation or terraform"),
                    "terraform",
                ))
            }
        };
        if format.is_some() && !ecs_services.is_empty() {
            return Err(refused(
                "ecs-service",
                "cannot be combined with --format: iam:PassRole names the roles of the service's task definition, which only a run against the account reads",
                "production/web",
            ));
        }
        let keep_images = value(matches, "keep-images")
            .map(|v| match v.parse::<i64>() {
                Ok(n) if (1..=10000).contains(&n) => Ok(n),
                _ => Err(refused(
                    "keep-images",
                    format!("'{v}' must be a whole number from 1 to 10000"),
                    "30",
                )),
            })
            .transpose()?;
        Ok(Setup {
            region: args::region(matches, env)?,
            audience: args::audience(matches)?,
            repo,
            roles,
            repositories,
            allow_create: matches.get_flag("allow-create"),
            ecs_services,
            scan_on_push: args::boolean(matches, "scan-on-push", true)?,
            keep_images,
            dry_run: matches.get_flag("dry-run"),
            format,
        })
    }
}

/// One role and one repository per stage (`NAME-STAGE`): ECR's IAM actions have no condition
/// on the tag pushed, so only separate repositories keep a dev build from overwriting a
/// release. Release repositories are IMMUTABLE; pull principals read the release repositories.
fn staged(
    list: &str,
    repo: &GitHubRepo,
    base_role: &str,
    names: &[String],
    tag_mutability: ImageTagMutability,
    pull_principals: &[String],
) -> Result<(Vec<RoleSpec>, Vec<RepositorySpec>), Failure> {
    let mut roles = Vec::new();
    let mut repositories = Vec::new();
    for stage in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(stage) = STAGES.iter().find(|s| **s == stage) else {
            return Err(refused(
                "stages",
                format!("'{stage}' is not a stage: use dev, main and release"),
                "dev,main,release",
            ));
        };
        if roles.iter().any(|r: &RoleSpec| r.stage == Some(*stage)) {
            return Err(refused(
                "stages",
                format!("lists {stage} twice"),
                "dev,main,release",
            ));
        }
        let staged_names: Vec<String> = names.iter().map(|n| format!("{n}-{stage}")).collect();
        for name in &staged_names {
            args::repository_name(name)?;
            let release = *stage == "release";
            repositories.push(RepositorySpec {
                name: name.clone(),
                tag_mutability: if release {
                    ImageTagMutability::Immutable
                } else {
                    tag_mutability.clone()
                },
                pull_principals: if release {
                    pull_principals.to_vec()
                } else {
                    Vec::new()
                },
            });
        }
        roles.push(RoleSpec {
            name: role_name(&format!("{base_role}-{stage}"))?,
            stage: Some(stage),
            subjects: stage_subjects(stage, &repo.subject_prefix()),
            repositories: staged_names,
        });
    }
    if roles.is_empty() {
        return Err(refused("stages", "names no stage", "dev,main,release"));
    }
    Ok((roles, repositories))
}

/// The flags that say who may push to a single role, each with whether it is set.
fn who_may_push(matches: &ArgMatches) -> [(&'static str, bool); 5] {
    [
        ("branch", !values(matches, "branch").is_empty()),
        ("environment", !values(matches, "environment").is_empty()),
        ("tag", !values(matches, "tag").is_empty()),
        ("pull-requests", matches.get_flag("pull-requests")),
        ("any-ref", matches.get_flag("any-ref")),
    ]
}

/// The subjects of the allowed refs; at least one, and no open role unless `--any-ref`: a
/// pattern that matches every branch, environment or tag is taken only beside `--any-ref`,
/// which then says it on purpose.
fn subjects(matches: &ArgMatches, repo: &GitHubRepo) -> Result<Vec<String>, Failure> {
    let prefix = repo.subject_prefix();
    let any_ref = matches.get_flag("any-ref");
    let mut subjects: Vec<String> = Vec::new();
    let mut opens_every_ref = false;
    for (flag, kind, form) in [
        ("branch", "branch", "ref:refs/heads/"),
        ("environment", "environment", "environment:"),
        ("tag", "tag", "ref:refs/tags/"),
    ] {
        for pattern in values(matches, flag) {
            if matches_every_name(&pattern) {
                if !any_ref {
                    return Err(refused(
                        flag,
                        format!(
                            "'{pattern}' matches every {kind}, so any workflow on any {kind} \
                             could push: name the {kind}s that may (patterns with a fixed \
                             part, like release/*), or add --any-ref to open the role on purpose"
                        ),
                        if flag == "tag" { "'v*'" } else { "main" },
                    ));
                }
                opens_every_ref = true;
            }
            subjects.push(format!("{prefix}:{form}{pattern}"));
        }
    }
    if matches.get_flag("pull-requests") {
        subjects.push(format!("{prefix}:pull_request"));
    }
    match (any_ref, subjects.is_empty()) {
        (true, true) => Ok(vec![format!("{prefix}:*")]),
        (true, false) if !opens_every_ref => Err(refused(
            "any-ref",
            "admits every ref already; leave out --branch, --environment, --tag and --pull-requests, or --any-ref",
            "(no value: a switch)",
        )),
        (false, true) => Err(refused(
            "branch",
            "or --environment, --tag, --pull-requests (or --stages) is required: say who may push (a role open to every ref of the repository needs --any-ref)",
            "main",
        )),
        _ => Ok(subjects),
    }
}

/// A pattern of wildcards and slashes only (`*`, `**`, `*/*`, `?*`): IAM's `*` crosses `/`, so
/// it matches every name of its kind.
fn matches_every_name(pattern: &str) -> bool {
    pattern.contains('*') && pattern.chars().all(|c| matches!(c, '*' | '?' | '/'))
}

/// `CLUSTER/SERVICE`, both names (the policy grants exactly these, so no `*` or `?`).
fn ecs_services(matches: &ArgMatches) -> Result<Vec<(String, String)>, Failure> {
    let name = |part: &str| {
        (1..=255).contains(&part.len())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    };
    values(matches, "ecs-service")
        .iter()
        .map(|s| {
            s.split_once('/')
                .filter(|(c, v)| name(c) && name(v))
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .ok_or_else(|| {
                    refused(
                        "ecs-service",
                        format!(
                            "'{s}' is not CLUSTER/SERVICE: two names of letters, digits, \
                             hyphens and underscores (names, not patterns: the role may deploy \
                             exactly these services)"
                        ),
                        "production/web",
                    )
                })
        })
        .collect()
}

/// An IAM principal a repository policy can name: an account id or an IAM ARN.
fn principal(value: &str) -> Result<String, Failure> {
    let account = value.len() == 12 && value.chars().all(|c| c.is_ascii_digit());
    let arn =
        value.starts_with("arn:aws") && value.split(':').count() >= 6 && value.contains(":iam::");
    if account || arn {
        Ok(value.to_string())
    } else {
        Err(refused(
            "pull-principal",
            format!("'{value}' is neither a 12-digit account id nor an IAM ARN"),
            "arn:aws:iam::210987654321:root",
        ))
    }
}

/// IAM's rule for role names: 1-64 of `[A-Za-z0-9+=,.@_-]`.
fn role_name(name: &str) -> Result<String, Failure> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if valid {
        Ok(name.to_string())
    } else {
        Err(refused(
            "role-name",
            format!("'{name}' must be 1 to 64 of letters, digits and + = , . @ _ -"),
            "github-octo-web-ecr",
        ))
    }
}

/// `github-OWNER-REPO-ecr`, kept within IAM's rule (and room for a stage's suffix).
fn default_role_name(repo: &GitHubRepo) -> String {
    let raw = format!("github-{}-{}", repo.owner, repo.name);
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(52)
        .collect();
    name.push_str("-ecr");
    name
}
