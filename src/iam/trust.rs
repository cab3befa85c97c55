//! Trust policies for GitHub's OIDC tokens: the one `setup` writes (exactly the refs and
//! environments allowed), and the evaluation `check` runs of a role's trust policy against the
//! token a run would present, condition by condition.

use serde_json::{json, Value};

use super::condition::{self, Outcome};

/// GitHub's OIDC issuer, without its scheme: the prefix of every condition key.
pub const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";
pub const ASSUME_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// The provider's ARN in `account` of `partition`.
pub fn provider_arn(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:oidc-provider/{GITHUB_ISSUER}")
}

/// The trust policy that admits exactly these `sub` values with `audience`: `StringEquals`, or
/// `StringLike` when a subject has a wildcard (a tag pattern, `--any-ref`).
pub fn policy(provider: &str, audience: &str, subjects: &[String]) -> Value {
    let operator = if subjects.iter().any(|s| s.contains(['*', '?'])) {
        "StringLike"
    } else {
        "StringEquals"
    };
    let mut conditions = json!({
        "StringEquals": { format!("{GITHUB_ISSUER}:aud"): audience }
    });
    let subjects: Value = if subjects.len() == 1 {
        json!(subjects[0])
    } else {
        json!(subjects)
    };
    conditions
        .as_object_mut()
        .expect("an object")
        .entry(operator)
        .or_insert_with(|| json!({}))[format!("{GITHUB_ISSUER}:sub")] = subjects;
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": ASSUME_ACTION,
            "Condition": conditions
        }]
    })
}

/// The token a run would present, as condition keys see it (`sub`, `aud`, `repository`, ...).
#[derive(Debug, Clone, Default)]
pub struct Token {
    /// Claim name (without the issuer prefix) and its values.
    pub claims: Vec<(String, Vec<String>)>,
}

impl Token {
    pub fn with(mut self, claim: &str, value: &str) -> Self {
        self.claims
            .push((claim.to_string(), vec![value.to_string()]));
        self
    }

    /// A condition key's values; keys are case-insensitive, as in IAM.
    fn values(&self, key: &str) -> Option<&[String]> {
        let prefix = format!("{GITHUB_ISSUER}:");
        let claim = key
            .get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(&prefix))
            .and_then(|_| key.get(prefix.len()..))?;
        self.claims
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(claim))
            .map(|(_, values)| values.as_slice())
    }
}

/// One condition of one statement, applied.
#[derive(Debug, Clone)]
pub struct Checked {
    pub operator: String,
    pub key: String,
    pub expected: Vec<String>,
    /// What the token has for the key (`None`: not in the token).
    pub actual: Option<Vec<String>>,
    pub outcome: Outcome,
}

impl Checked {
    /// `StringEquals KEY: wants A or B; token: C`.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: wants {}; token: {}",
            self.operator,
            self.key,
            self.expected.join(" or "),
            self.actual
                .as_ref()
                .map_or("(absent)".to_string(), |a| a.join(", "))
        )
    }
}

/// One statement of the policy, applied.
#[derive(Debug, Clone)]
pub struct StatementResult {
    pub index: usize,
    pub sid: Option<String>,
    pub allow: bool,
    /// Why the statement does not concern this token at all (another principal, action).
    pub not_for_this: Option<String>,
    pub conditions: Vec<Checked>,
}

impl StatementResult {
    /// Every condition passes (and the statement concerns this token).
    pub fn matches(&self) -> bool {
        self.not_for_this.is_none() && self.conditions.iter().all(|c| c.outcome == Outcome::Pass)
    }
}

/// The verdict on a whole policy.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub statements: Vec<StatementResult>,
}

impl Evaluation {
    /// Admitted: an Allow statement matches and no Deny statement does.
    pub fn admitted(&self) -> bool {
        self.statements.iter().any(|s| s.allow && s.matches())
            && !self.statements.iter().any(|s| !s.allow && s.matches())
    }
}

/// Applies `policy` to a token from `provider` (its ARN).
pub fn evaluate(policy: &Value, provider: &str, token: &Token) -> Evaluation {
    let statements = one_or_many(&policy["Statement"]);
    Evaluation {
        statements: statements
            .iter()
            .enumerate()
            .map(|(index, statement)| statement_result(index, statement, provider, token))
            .collect(),
    }
}

fn statement_result(
    index: usize,
    statement: &Value,
    provider: &str,
    token: &Token,
) -> StatementResult {
    let allow = statement["Effect"].as_str() == Some("Allow");
    let actions = strings(&statement["Action"]);
    let federated = strings(&statement["Principal"]["Federated"]);
    let any_principal = statement["Principal"].as_str() == Some("*");
    let not_for_this = if !actions
        .iter()
        .any(|a| condition::wildcard(&a.to_ascii_lowercase(), &ASSUME_ACTION.to_ascii_lowercase()))
    {
        Some(format!(
            "its Action ({}) is not {ASSUME_ACTION}",
            actions.join(", ")
        ))
    } else if !any_principal && !federated.iter().any(|f| f == provider) {
        Some(format!(
            "its Principal.Federated ({}) is not the provider {provider}",
            if federated.is_empty() {
                "none".to_string()
            } else {
                federated.join(", ")
            }
        ))
    } else {
        None
    };
    let mut conditions = Vec::new();
    if let Some(operators) = statement["Condition"].as_object() {
        for (operator, keys) in operators {
            for (key, expected) in keys.as_object().into_iter().flatten() {
                let expected = strings(expected);
                let actual = token.values(key).map(<[String]>::to_vec);
                let outcome = condition::apply(operator, &expected, actual.as_deref());
                conditions.push(Checked {
                    operator: operator.clone(),
                    key: key.clone(),
                    expected,
                    actual,
                    outcome,
                });
            }
        }
    }
    StatementResult {
        index,
        sid: statement["Sid"].as_str().map(str::to_string),
        allow,
        not_for_this,
        conditions,
    }
}

fn one_or_many(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// A string or a list of strings (IAM accepts both; booleans and numbers as their text).
pub fn strings(value: &Value) -> Vec<String> {
    one_or_many(value)
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
