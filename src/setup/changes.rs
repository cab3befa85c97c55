//! The changes `setup` makes, in the order it makes them: what each is, in words before and
//! after, and the call that makes it.

use aws_sdk_ecr::types::EncryptionType;
use serde_json::Value;

use super::{call_failed, Clients, RepositorySpec, Setup, POLICY_NAME};
use crate::aws::ecr::{self, NewRepository};
use crate::aws::iam;
use crate::error::Failure;
use crate::iam::trust;

/// One change `setup` makes, in order.
pub enum Change {
    CreateProvider,
    AddAudience(String),
    CreateRole { role: String, trust: Value },
    UpdateTrustPolicy { role: String, trust: Value },
    PutPolicy { role: String, policy: Value },
    CreateRepository(RepositorySpec),
    SetRepositoryPolicy { repository: String, policy: Value },
}

pub async fn apply(change: &Change, setup: &Setup, clients: &Clients) -> Result<(), Failure> {
    match change {
        Change::CreateProvider => iam::create_github_provider(&clients.iam, &setup.audience)
            .await
            .map(|_| ()),
        Change::AddAudience(arn) => iam::add_audience(&clients.iam, arn, &setup.audience).await,
        Change::CreateRole { role, trust } => {
            let description = format!(
                "GitHub Actions of {} push to ECR (ship-to-ecr setup)",
                setup.repo.full_name()
            );
            iam::create_role(&clients.iam, role, trust, &description)
                .await
                .map(|_| ())
        }
        Change::UpdateTrustPolicy { role, trust } => {
            iam::update_trust_policy(&clients.iam, role, trust).await
        }
        Change::PutPolicy { role, policy } => {
            iam::put_inline_policy(&clients.iam, role, POLICY_NAME, policy).await
        }
        Change::CreateRepository(spec) => {
            let new = NewRepository {
                name: spec.name.clone(),
                registry_id: None,
                scan_on_push: setup.scan_on_push,
                tag_mutability: spec.tag_mutability.clone(),
                encryption: EncryptionType::Aes256,
                kms_key: None,
            };
            ecr::create_repository(&clients.ecr, &new).await.map(|_| ())
        }
        Change::SetRepositoryPolicy { repository, policy } => {
            ecr::set_repository_policy(&clients.ecr, repository, policy).await
        }
    }
    .map_err(call_failed)
}

pub fn describe(change: &Change, setup: &Setup) -> String {
    match change {
        Change::CreateProvider => format!(
            "create the OIDC provider https://{} for {}",
            trust::GITHUB_ISSUER,
            setup.audience
        ),
        Change::AddAudience(_) => {
            format!("add the audience {} to the OIDC provider", setup.audience)
        }
        Change::CreateRole { role, .. } => format!("create the role {role}"),
        Change::UpdateTrustPolicy { role, .. } => format!("update the trust policy of {role}"),
        Change::PutPolicy { role, .. } => {
            format!("write the inline policy {POLICY_NAME} of {role}")
        }
        Change::CreateRepository(spec) => format!("create the repository {}", spec.name),
        Change::SetRepositoryPolicy { repository, .. } => {
            format!("write the repository policy of {repository}")
        }
    }
}

pub fn describe_done(change: &Change, setup: &Setup) -> String {
    match change {
        Change::CreateProvider => {
            format!("created the OIDC provider https://{}", trust::GITHUB_ISSUER)
        }
        Change::AddAudience(_) => {
            format!("added the audience {} to the OIDC provider", setup.audience)
        }
        Change::CreateRole { role, .. } => format!("created the role {role} with its trust policy"),
        Change::UpdateTrustPolicy { role, .. } => format!("updated the trust policy of {role}"),
        Change::PutPolicy { role, .. } => {
            format!("wrote the inline policy {POLICY_NAME} of {role}")
        }
        Change::CreateRepository(spec) => format!(
            "created the repository {} (tags {})",
            spec.name,
            spec.tag_mutability.as_str()
        ),
        Change::SetRepositoryPolicy { repository, .. } => {
            format!("wrote the repository policy of {repository}")
        }
    }
}
