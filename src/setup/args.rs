//! The flags of `ship-to-ecr setup` and `ship-to-ecr check`, read and checked before any call,
//! with the input rules the action itself uses (repository names, regions, role ARNs).

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::error::{Failure, InputError};
use crate::inputs::rules::aws;

/// `OWNER/REPO`, optionally with the numeric ids of GitHub's immutable subject form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubRepo {
    pub owner: String,
    pub name: String,
    /// `(owner id, repository id)`: subjects read `repo:OWNER@ID/REPO@ID:...`.
    pub ids: Option<(u64, u64)>,
}

impl GitHubRepo {
    /// The `repo:...` prefix of this repository's subjects.
    pub fn subject_prefix(&self) -> String {
        match self.ids {
            Some((owner, repo)) => format!("repo:{}@{owner}/{}@{repo}", self.owner, self.name),
            None => format!("repo:{}/{}", self.owner, self.name),
        }
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("VALUE").help(help)
}

fn many(name: &'static str, help: &'static str) -> Arg {
    flag(name, help).action(ArgAction::Append)
}

fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// The flags both commands share.
pub fn common(command: Command) -> Command {
    command
        .arg(flag(
            "github-repo",
            "OWNER/REPO of the workflows (required)",
        ))
        .arg(flag(
            "owner-id",
            "The owner's numeric id, for the immutable subject form repo:OWNER@ID/REPO@ID",
        ))
        .arg(flag(
            "repo-id",
            "The repository's numeric id, with --owner-id",
        ))
        .arg(flag(
            "region",
            "AWS region [default: AWS_REGION, then AWS_DEFAULT_REGION]",
        ))
        .arg(flag(
            "audience",
            "OIDC audience [default: sts.amazonaws.com]",
        ))
        .max_term_width(100)
}

pub fn setup_command() -> Command {
    common(Command::new("setup").about(
        "Creates or updates, idempotently: GitHub's OIDC provider, a role only the given refs may \
         assume, its least-privilege inline policy, and the repositories. Uses your own AWS \
         credentials (the default chain).",
    ))
    .arg(many(
        "repository",
        "An ECR repository the role pushes to (repeatable; at least one)",
    ))
    .arg(many(
        "branch",
        "A branch whose workflows may push (repeatable)",
    ))
    .arg(many(
        "environment",
        "A GitHub environment whose jobs may push (repeatable)",
    ))
    .arg(many(
        "tag",
        "A tag pattern whose workflows may push, e.g. 'v*' (repeatable)",
    ))
    .arg(switch(
        "pull-requests",
        "Pull requests (of this repository, not forks) may push",
    ))
    .arg(switch(
        "any-ref",
        "Every ref of the repository may push (instead of the above)",
    ))
    .arg(flag(
        "role-name",
        "The role's name [default: github-OWNER-REPO-ecr]",
    ))
    .arg(switch(
        "allow-create",
        "The role may create its repositories (ecr:CreateRepository)",
    ))
    .arg(many(
        "ecs-service",
        "CLUSTER/SERVICE the role may deploy to (repeatable)",
    ))
    .arg(flag(
        "scan-on-push",
        "true or false, for repositories created [default: true]",
    ))
    .arg(flag(
        "tag-mutability",
        "MUTABLE or IMMUTABLE, for repositories created [default: MUTABLE]",
    ))
    .arg(flag(
        "keep-images",
        "Keep the newest N images (a lifecycle policy on each repository)",
    ))
    .arg(flag(
        "stages",
        "Seed 001's layout: one role and repository per stage, of dev,main,release",
    ))
    .arg(many(
        "pull-principal",
        "An account id or IAM ARN that may pull (the release repositories with --stages) (repeatable)",
    ))
    .arg(flag(
        "format",
        "cloudformation or terraform: print the resources as a template instead of calling AWS",
    ))
    .arg(switch(
        "dry-run",
        "Print every document and what would change; call only read APIs",
    ))
}

pub fn check_command() -> Command {
    common(Command::new("check").about(
        "Checks an existing set-up before any workflow runs: the OIDC provider, whether the \
         role's trust policy admits a run of the given ref, event and environment (condition by \
         condition), whether its policies cover the repositories, and its session length.",
    ))
    .arg(flag("role-arn", "The role the workflow assumes (required)"))
    .arg(flag("ref", "The run's ref [default: refs/heads/main]"))
    .arg(flag(
        "event",
        "The run's event: push, pull_request, workflow_dispatch, ... [default: push]",
    ))
    .arg(flag("environment", "The job's environment, if it has one"))
    .arg(flag(
        "workflow-ref",
        "job_workflow_ref of a reusable workflow (OWNER/REPO/.github/workflows/F.yml@REF)",
    ))
    .arg(flag(
        "sub",
        "The token's sub when the repository customised its format",
    ))
    .arg(many(
        "repository",
        "An ECR repository the role must push to (repeatable)",
    ))
    .arg(flag(
        "role-duration-seconds",
        "The session length the action asks for [default: 3600]",
    ))
}

/// A bad flag, as one failure naming it, its rule and a good value.
pub fn refused(flag: &str, rule: impl Into<String>, example: &str) -> Failure {
    Failure::new(
        format!("Invalid flag --{flag}"),
        format!(
            "--{flag}: {}. Example of a good value: --{flag} {example}",
            rule.into()
        ),
    )
}

fn from_input(e: InputError) -> Failure {
    refused(e.input, e.rule, &e.example)
}

pub fn value(matches: &ArgMatches, name: &str) -> Option<String> {
    matches
        .get_one::<String>(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn values(matches: &ArgMatches, name: &str) -> Vec<String> {
    matches
        .get_many::<String>(name)
        .map(|v| {
            v.map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn github_repo(matches: &ArgMatches) -> Result<GitHubRepo, Failure> {
    let example = "octo-org/web-app";
    let Some(text) = value(matches, "github-repo") else {
        return Err(refused("github-repo", "is required", example));
    };
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let Some((owner, name)) = text.split_once('/').filter(|(o, n)| valid(o) && valid(n)) else {
        return Err(refused(
            "github-repo",
            format!("'{text}' is not OWNER/REPO"),
            example,
        ));
    };
    let id = |flag: &str| -> Result<Option<u64>, Failure> {
        value(matches, flag)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| refused(flag, format!("'{v}' is not a numeric id"), "1234567"))
            })
            .transpose()
    };
    let ids = match (id("owner-id")?, id("repo-id")?) {
        (Some(owner), Some(repo)) => Some((owner, repo)),
        (None, None) => None,
        _ => {
            return Err(refused(
                "repo-id",
                "--owner-id and --repo-id come together (the immutable subject names both)",
                "87654321",
            ))
        }
    };
    Ok(GitHubRepo {
        owner: owner.to_string(),
        name: name.to_string(),
        ids,
    })
}

pub fn region(matches: &ArgMatches, env: &[(String, String)]) -> Result<String, Failure> {
    let from_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| {
            env.iter()
                .find(|(k, v)| k == name && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        });
    let Some(region) = value(matches, "region").or(from_env) else {
        return Err(refused(
            "region",
            "is required (or set AWS_REGION)",
            "eu-west-1",
        ));
    };
    aws::region("region", &region).map_err(from_input)
}

pub fn audience(matches: &ArgMatches) -> Result<String, Failure> {
    let audience = value(matches, "audience").unwrap_or_else(|| "sts.amazonaws.com".into());
    aws::audience("audience", &audience).map_err(from_input)
}

/// One repository name, by ECR's rule.
pub fn repository_name(name: &str) -> Result<String, Failure> {
    aws::repository("repository", name).map_err(from_input)
}

pub fn repositories(matches: &ArgMatches) -> Result<Vec<String>, Failure> {
    values(matches, "repository")
        .iter()
        .map(|r| aws::repository("repository", r).map_err(from_input))
        .collect()
}

pub fn role_arn(matches: &ArgMatches) -> Result<crate::inputs::RoleArn, Failure> {
    let Some(text) = value(matches, "role-arn") else {
        return Err(refused(
            "role-arn",
            "is required",
            "arn:aws:iam::123456789012:role/github-ecr-push",
        ));
    };
    aws::role_arn("role-arn", &text).map_err(from_input)
}

pub fn boolean(matches: &ArgMatches, name: &'static str, default: bool) -> Result<bool, Failure> {
    match value(matches, name).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(refused(
            name,
            format!("'{other}' must be true or false"),
            "true",
        )),
    }
}
