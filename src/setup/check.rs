//! `ship-to-ecr check`: will a run of this repository, ref, event and environment be able to
//! assume the role and push? The role's trust policy is evaluated against the token that run
//! would present, condition by condition; then the role's policies against the repositories,
//! and its maximum session against the session the action asks for.

use clap::ArgMatches;

use super::args::{self, value, GitHubRepo};
use super::{call_failed, openings};
use crate::aws::config::{sdk_config, CredentialSource};
use crate::aws::iam;
use crate::error::Failure;
use crate::github::commands::{Level, Workflow};
use crate::iam::condition::Outcome;
use crate::iam::permissions::{self, Access};
use crate::iam::trust::{self, Token};
use crate::inputs::RoleArn;

/// What `check` was asked about, checked.
#[derive(Debug, Clone)]
pub struct Check {
    pub repo: GitHubRepo,
    pub region: String,
    pub audience: String,
    pub role: RoleArn,
    pub git_ref: String,
    pub event: String,
    pub environment: Option<String>,
    pub workflow_ref: Option<String>,
    /// A customised `sub`, used as given.
    pub sub: Option<String>,
    pub repositories: Vec<String>,
    pub duration_seconds: i32,
}

impl Check {
    pub fn parse(matches: &ArgMatches, env: &[(String, String)]) -> Result<Self, Failure> {
        let duration_seconds = match value(matches, "role-duration-seconds") {
            None => 3600,
            Some(v) => match v.parse::<i32>() {
                Ok(n) if (900..=43200).contains(&n) => n,
                _ => {
                    return Err(args::refused(
                        "role-duration-seconds",
                        format!("'{v}' must be a whole number from 900 to 43200"),
                        "3600",
                    ))
                }
            },
        };
        let git_ref = value(matches, "ref").unwrap_or_else(|| "refs/heads/main".into());
        if !git_ref.starts_with("refs/") {
            return Err(args::refused(
                "ref",
                format!("'{git_ref}' is not a full ref"),
                "refs/heads/main",
            ));
        }
        Ok(Check {
            repo: args::github_repo(matches)?,
            region: args::region(matches, env)?,
            audience: args::audience(matches)?,
            role: args::role_arn(matches)?,
            git_ref,
            event: value(matches, "event").unwrap_or_else(|| "push".into()),
            environment: value(matches, "environment"),
            workflow_ref: value(matches, "workflow-ref"),
            sub: value(matches, "sub"),
            repositories: args::repositories(matches)?,
            duration_seconds,
        })
    }

    /// The `sub` of the token the run would present, as GitHub sets it: the environment's wins,
    /// then a pull request's, then the ref's.
    pub fn subject(&self) -> String {
        let prefix = self.repo.subject_prefix();
        self.sub
            .clone()
            .unwrap_or_else(|| match (&self.environment, self.event.as_str()) {
                (Some(environment), _) => format!("{prefix}:environment:{environment}"),
                (None, "pull_request" | "pull_request_target") => {
                    format!("{prefix}:pull_request")
                }
                (None, _) => format!("{prefix}:ref:{}", self.git_ref),
            })
    }

    /// The claims of the token the run would present, as GitHub sets them.
    pub fn token(&self) -> Token {
        let mut token = Token::default()
            .with("sub", &self.subject())
            .with("aud", &self.audience)
            .with("repository", &self.repo.full_name())
            .with("repository_owner", &self.repo.owner)
            .with("ref", &self.git_ref)
            .with("event_name", &self.event);
        if let Some(environment) = &self.environment {
            token = token.with("environment", environment);
        }
        if let Some(workflow_ref) = &self.workflow_ref {
            token = token.with("job_workflow_ref", workflow_ref);
        }
        if let Some((owner, repo)) = self.repo.ids {
            token = token
                .with("repository_owner_id", &owner.to_string())
                .with("repository_id", &repo.to_string());
        }
        token
    }
}

pub async fn check(check: &Check, workflow: &Workflow) -> anyhow::Result<()> {
    let config = sdk_config(&check.region, CredentialSource::DefaultChain).await;
    let client = aws_sdk_iam::Client::new(&config);
    let partition = check.role.arn.split(':').nth(1).unwrap_or("aws");
    let mut problems: Vec<String> = Vec::new();

    let provider = iam::github_provider(&client).await.map_err(call_failed)?;
    let provider_arn = match &provider {
        None => {
            problems.push(format!("The account has no OIDC provider for https://{}: run `ship-to-ecr setup`, or add it in IAM.", trust::GITHUB_ISSUER));
            trust::provider_arn(partition, &check.role.account)
        }
        Some(p) => {
            if p.client_ids.contains(&check.audience) {
                workflow.info(&format!(
                    "OIDC provider {}: audience {} accepted.",
                    p.arn, check.audience
                ));
            } else {
                problems.push(format!("The OIDC provider {} does not list the audience {} (it lists: {}); add it as a client ID.", p.arn, check.audience, p.client_ids.join(", ")));
            }
            p.arn.clone()
        }
    };

    let name = check.role.arn.rsplit('/').next().unwrap_or_default();
    let Some(role) = iam::role(&client, name).await.map_err(call_failed)? else {
        return Err(Failure::new(
            "Role not found",
            format!("The account has no role {name} ({}).", check.role.arn),
        )
        .into());
    };
    problems.extend(trust_problems(
        check,
        &role.trust_policy,
        &provider_arn,
        workflow,
    ));

    if !check.repositories.is_empty() {
        let missing = missing_permissions(&client, check, &role.arn, name, workflow).await?;
        if missing.is_empty() {
            workflow.info(&format!(
                "Permissions: every call a push makes to {} is allowed.",
                check.repositories.join(", ")
            ));
        } else {
            problems.push(format!(
                "The role may not make these calls of a push: {}. `ship-to-ecr setup` writes a \
                 policy with exactly the calls a push makes.",
                missing.join("; ")
            ));
        }
    }

    if role.max_session_seconds < check.duration_seconds {
        problems.push(format!(
            "The role's maximum session is {} s, shorter than role-duration-seconds ({} s): raise the role's MaxSessionDuration or lower role-duration-seconds.",
            role.max_session_seconds, check.duration_seconds
        ));
    } else {
        workflow.info(&format!(
            "Session: the role allows {} s; the action asks for {} s.",
            role.max_session_seconds, check.duration_seconds
        ));
    }

    if problems.is_empty() {
        workflow.info("All checks passed.");
        return Ok(());
    }
    Err(Failure::new("Check failed", problems.join("\n")).into())
}

/// Whether the role's trust admits this run, and whether it admits runs it must not (another
/// repository's, another audience's: `check` fails), or pull requests beside a protected ref
/// (a warning).
fn trust_problems(
    check: &Check,
    policy: &serde_json::Value,
    provider_arn: &str,
    workflow: &Workflow,
) -> Vec<String> {
    let name = check.role.arn.rsplit('/').next().unwrap_or_default();
    let token = check.token();
    let evaluation = trust::evaluate(policy, provider_arn, &token);
    {
        let _group = workflow.group(&format!(
            "Trust policy of {name} against the token of this run"
        ));
        for (claim, values) in &token.claims {
            workflow.info(&format!("  token {claim:<20} {}", values.join(", ")));
        }
        for statement in &evaluation.statements {
            report_statement(statement, workflow);
        }
    }
    let mut problems = Vec::new();
    if evaluation.admitted() {
        workflow.info(&format!(
            "Admitted: a run of {} on {} may assume {}.",
            check.repo.full_name(),
            describe_run(check),
            check.role.arn
        ));
    } else {
        problems.push(format!(
            "The trust policy refuses a run of {} on {}{}. A statement that admits it: {}",
            check.repo.full_name(),
            describe_run(check),
            first_refusal(&evaluation).map_or(String::new(), |why| format!(" ({why})")),
            openings::admitting(check, provider_arn)
        ));
    }
    let open = openings::problems(check, policy, provider_arn);
    if open.is_empty() {
        workflow.info(
            "Closed: a token of an unrelated repository, or minted for another audience, is refused.",
        );
    }
    problems.extend(open);
    if let Some(warning) =
        openings::pull_requests_beside_protected_refs(check, policy, provider_arn)
    {
        workflow.annotate(Level::Warning, "Pull requests share the role", &warning);
    }
    problems
}

/// The calls of a push the role may not make: as IAM simulates them where the caller may ask
/// (boundaries and conditions included), else as the role's policies read.
async fn missing_permissions(
    client: &aws_sdk_iam::Client,
    check: &Check,
    role_arn: &str,
    role_name: &str,
    workflow: &Workflow,
) -> Result<Vec<String>, Failure> {
    let partition = check.role.arn.split(':').nth(1).unwrap_or("aws");
    let mut needed: Vec<(Vec<&str>, Option<String>)> =
        vec![(vec![permissions::LOGIN_ACTION], None)];
    for repository in &check.repositories {
        let arn =
            permissions::repository_arn(partition, &check.region, &check.role.account, repository);
        needed.push((permissions::REPOSITORY_ACTIONS.to_vec(), Some(arn)));
    }
    let mut simulated = Vec::new();
    for (actions, resource) in &needed {
        match iam::simulate(client, role_arn, actions, resource.as_deref()).await {
            Ok(decisions) => simulated.push((resource.clone(), decisions)),
            Err(e) => {
                workflow.info(&format!(
                    "IAM's policy simulation is not available here ({e}): reading the role's \
                     policies instead (their conditions are not evaluated)."
                ));
                return read_policies(client, role_name, &needed, workflow).await;
            }
        }
    }
    workflow.info("Permissions as IAM simulates them (iam:SimulatePrincipalPolicy):");
    let mut missing = Vec::new();
    for (resource, decisions) in simulated {
        let resource = resource.unwrap_or_else(|| "*".into());
        for (action, decision) in decisions {
            if decision != "allowed" {
                missing.push(format!("{action} on {resource} (simulated: {decision})"));
            }
        }
    }
    Ok(missing)
}

async fn read_policies(
    client: &aws_sdk_iam::Client,
    role_name: &str,
    needed: &[(Vec<&str>, Option<String>)],
    workflow: &Workflow,
) -> Result<Vec<String>, Failure> {
    let documents = iam::role_policies(client, role_name)
        .await
        .map_err(call_failed)?;
    let mut missing = Vec::new();
    for (actions, resource) in needed {
        let resource = resource.as_deref().unwrap_or("*");
        for action in actions {
            match permissions::access(&documents, action, resource) {
                Access::Allowed => {}
                Access::AllowedIf => workflow.info(&format!(
                    "  {action} on {resource}: allowed under conditions (not evaluated)"
                )),
                Access::Denied => {
                    missing.push(format!("{action} on {resource} (explicitly denied)"))
                }
                Access::NotAllowed => missing.push(format!("{action} on {resource}")),
            }
        }
    }
    Ok(missing)
}

fn describe_run(check: &Check) -> String {
    let mut run = format!("{} ({})", check.git_ref, check.event);
    if let Some(environment) = &check.environment {
        run.push_str(&format!(" in the environment {environment}"));
    }
    if let Some(workflow_ref) = &check.workflow_ref {
        run.push_str(&format!(" through {workflow_ref}"));
    }
    run
}

/// The first refusing condition of an Allow statement that concerns this token.
fn first_refusal(evaluation: &trust::Evaluation) -> Option<String> {
    evaluation
        .statements
        .iter()
        .filter(|s| s.allow && s.not_for_this.is_none())
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.outcome != Outcome::Pass)
        .map(trust::Checked::describe)
}

fn report_statement(statement: &trust::StatementResult, workflow: &Workflow) {
    let name = statement
        .sid
        .clone()
        .unwrap_or_else(|| format!("#{}", statement.index + 1));
    let effect = if statement.allow { "Allow" } else { "Deny" };
    if let Some(why) = &statement.not_for_this {
        workflow.info(&format!(
            "Statement {name} ({effect}): does not apply: {why}."
        ));
        return;
    }
    let verdict = if statement.matches() {
        "matches"
    } else {
        "does not match"
    };
    workflow.info(&format!("Statement {name} ({effect}): {verdict}."));
    for c in &statement.conditions {
        let mark = match c.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Unknown => "not evaluated",
        };
        workflow.info(&format!("  [{mark}] {}", c.describe()));
    }
}
