//! IAM for `setup` and `check`: GitHub's OIDC provider, a role with its trust policy, its inline
//! policy, and what policies a role holds, read into plain data. Policy documents come back from
//! IAM URL-encoded; they are returned as JSON.

use aws_sdk_iam::Client;
use serde_json::Value;

use super::errors::{failed, AwsError, CallFailure};
use crate::iam::trust::GITHUB_ISSUER;

/// GitHub's provider as IAM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub arn: String,
    /// Its audiences.
    pub client_ids: Vec<String>,
}

/// A role as IAM holds it.
#[derive(Debug, Clone)]
pub struct Role {
    pub arn: String,
    pub trust_policy: Value,
    pub max_session_seconds: i32,
}

fn not_json(action: &'static str, what: &str) -> CallFailure {
    CallFailure {
        action,
        error: AwsError {
            code: Some("UnreadableAnswer".into()),
            message: format!("{what} is not a JSON policy document"),
            retryable: false,
            no_credentials: false,
        },
    }
}

/// A policy document as IAM returns it: URL-encoded JSON (some emulators send it plain).
fn document(action: &'static str, text: &str) -> Result<Value, CallFailure> {
    let decoded = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|_| not_json(action, "the answer"))?
            .into_owned()
    };
    serde_json::from_str(&decoded).map_err(|_| not_json(action, "the answer"))
}

/// GitHub's provider in this account, if there is one.
pub async fn github_provider(client: &Client) -> Result<Option<Provider>, CallFailure> {
    const LIST: &str = "iam:ListOpenIDConnectProviders";
    const GET: &str = "iam:GetOpenIDConnectProvider";
    let listed = client
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(failed(LIST))?;
    for entry in listed.open_id_connect_provider_list() {
        let Some(arn) = entry.arn() else { continue };
        if !arn.ends_with(&format!("oidc-provider/{GITHUB_ISSUER}")) {
            continue;
        }
        let provider = client
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(failed(GET))?;
        return Ok(Some(Provider {
            arn: arn.to_string(),
            client_ids: provider.client_id_list().to_vec(),
        }));
    }
    Ok(None)
}

/// Creates GitHub's provider with `audience`; its ARN.
pub async fn create_github_provider(
    client: &Client,
    audience: &str,
) -> Result<String, CallFailure> {
    const ACTION: &str = "iam:CreateOpenIDConnectProvider";
    let created = client
        .create_open_id_connect_provider()
        .url(format!("https://{GITHUB_ISSUER}"))
        .client_id_list(audience)
        // IAM no longer checks it for GitHub's issuer (it trusts its root CAs), but older API
        // versions and some partitions still require one: GitHub's published thumbprint.
        .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
        .send()
        .await
        .map_err(failed(ACTION))?;
    Ok(created
        .open_id_connect_provider_arn()
        .unwrap_or_default()
        .to_string())
}

pub async fn add_audience(
    client: &Client,
    provider: &str,
    audience: &str,
) -> Result<(), CallFailure> {
    client
        .add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(provider)
        .client_id(audience)
        .send()
        .await
        .map_err(failed("iam:AddClientIDToOpenIDConnectProvider"))?;
    Ok(())
}

/// The role, or `None` when there is no role of that name.
pub async fn role(client: &Client, name: &str) -> Result<Option<Role>, CallFailure> {
    const ACTION: &str = "iam:GetRole";
    let answer = match client.get_role().role_name(name).send().await {
        Ok(answer) => answer,
        Err(e) => {
            let failure = failed(ACTION)(e);
            if failure.error.is("NoSuchEntity") || failure.error.is("NoSuchEntityException") {
                return Ok(None);
            }
            return Err(failure);
        }
    };
    let Some(role) = answer.role() else {
        return Ok(None);
    };
    Ok(Some(Role {
        arn: role.arn().to_string(),
        trust_policy: document(ACTION, role.assume_role_policy_document().unwrap_or("{}"))?,
        max_session_seconds: role.max_session_duration().unwrap_or(3600),
    }))
}

pub async fn create_role(
    client: &Client,
    name: &str,
    trust_policy: &Value,
    description: &str,
) -> Result<String, CallFailure> {
    let created = client
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy.to_string())
        .description(description)
        .send()
        .await
        .map_err(failed("iam:CreateRole"))?;
    Ok(created
        .role()
        .map(|r| r.arn().to_string())
        .unwrap_or_default())
}

pub async fn update_trust_policy(
    client: &Client,
    name: &str,
    policy: &Value,
) -> Result<(), CallFailure> {
    client
        .update_assume_role_policy()
        .role_name(name)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(failed("iam:UpdateAssumeRolePolicy"))?;
    Ok(())
}

/// The role's inline policy of that name, if it has one.
pub async fn inline_policy(
    client: &Client,
    role: &str,
    name: &str,
) -> Result<Option<Value>, CallFailure> {
    const ACTION: &str = "iam:GetRolePolicy";
    match client
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
    {
        Ok(answer) => document(ACTION, answer.policy_document()).map(Some),
        Err(e) => {
            let failure = failed(ACTION)(e);
            if failure.error.is("NoSuchEntity") || failure.error.is("NoSuchEntityException") {
                Ok(None)
            } else {
                Err(failure)
            }
        }
    }
}

pub async fn put_inline_policy(
    client: &Client,
    role: &str,
    name: &str,
    policy: &Value,
) -> Result<(), CallFailure> {
    client
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(failed("iam:PutRolePolicy"))?;
    Ok(())
}

/// Every identity policy the role holds: its inline policies, then the default version of each
/// attached managed policy.
pub async fn role_policies(client: &Client, role: &str) -> Result<Vec<Value>, CallFailure> {
    let mut documents = Vec::new();
    let inline = client
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(failed("iam:ListRolePolicies"))?;
    for name in inline.policy_names() {
        documents.extend(inline_policy(client, role, name).await?);
    }
    let attached = client
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(failed("iam:ListAttachedRolePolicies"))?;
    for policy in attached.attached_policies() {
        let Some(arn) = policy.policy_arn() else {
            continue;
        };
        let described = client
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(failed("iam:GetPolicy"))?;
        let Some(version) = described.policy().and_then(|p| p.default_version_id()) else {
            continue;
        };
        let answer = client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(failed("iam:GetPolicyVersion"))?;
        if let Some(text) = answer.policy_version().and_then(|v| v.document()) {
            documents.push(document("iam:GetPolicyVersion", text)?);
        }
    }
    Ok(documents)
}

/// IAM's own evaluation of `actions` on `resource` (`None`: `*`) for `role`, with everything
/// that applies to it (boundaries and conditions included): each action's decision
/// (`allowed`, `explicitDeny`, `implicitDeny`). Tried once: where the caller may not simulate,
/// or the service cannot, the caller reads the policies instead.
pub async fn simulate(
    client: &Client,
    role: &str,
    actions: &[&str],
    resource: Option<&str>,
) -> Result<Vec<(String, String)>, CallFailure> {
    let once = aws_sdk_iam::config::Builder::default()
        .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled());
    let answer = client
        .simulate_principal_policy()
        .policy_source_arn(role)
        .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
        .set_resource_arns(resource.map(|r| vec![r.to_string()]))
        .customize()
        .config_override(once)
        .send()
        .await
        .map_err(failed("iam:SimulatePrincipalPolicy"))?;
    Ok(answer
        .evaluation_results()
        .iter()
        .map(|r| {
            (
                r.eval_action_name().to_string(),
                r.eval_decision().as_str().to_string(),
            )
        })
        .collect())
}
