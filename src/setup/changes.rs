//! The changes `setup` makes, in the order it makes them: what each is, in words before and
//! after, and the call that makes it.

use aws_sdk_ecr::types::EncryptionType;
use serde_json::Value;

use super::{call_failed, Setup, POLICY_NAME};
use crate::aws::ecr::{self, NewRepository};
use crate::aws::iam;
use crate::error::Failure;
use crate::iam::trust;

/// One change `setup` makes, in order.
pub enum Change {
    CreateProvider,
    AddAudience(String),
    CreateRole,
    UpdateTrustPolicy,
    PutPolicy,
    CreateRepository(String),
}

pub async fn apply(
    change: &Change,
    setup: &Setup,
    iam_client: &aws_sdk_iam::Client,
    ecr_client: &aws_sdk_ecr::Client,
    trust_policy: &Value,
    permissions_policy: &Value,
) -> Result<(), Failure> {
    match change {
        Change::CreateProvider => iam::create_github_provider(iam_client, &setup.audience)
            .await
            .map(|_| ()),
        Change::AddAudience(arn) => iam::add_audience(iam_client, arn, &setup.audience).await,
        Change::CreateRole => {
            let description = format!(
                "GitHub Actions of {} push to ECR (ship-to-ecr setup)",
                setup.repo.full_name()
            );
            iam::create_role(iam_client, &setup.role_name, trust_policy, &description)
                .await
                .map(|_| ())
        }
        Change::UpdateTrustPolicy => {
            iam::update_trust_policy(iam_client, &setup.role_name, trust_policy).await
        }
        Change::PutPolicy => {
            iam::put_inline_policy(
                iam_client,
                &setup.role_name,
                POLICY_NAME,
                permissions_policy,
            )
            .await
        }
        Change::CreateRepository(name) => {
            let new = NewRepository {
                name: name.clone(),
                registry_id: None,
                scan_on_push: setup.scan_on_push,
                tag_mutability: setup.tag_mutability.clone(),
                encryption: EncryptionType::Aes256,
                kms_key: None,
            };
            ecr::create_repository(ecr_client, &new).await.map(|_| ())
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
        Change::CreateRole => format!("create the role {}", setup.role_name),
        Change::UpdateTrustPolicy => format!("update the trust policy of {}", setup.role_name),
        Change::PutPolicy => format!(
            "write the inline policy {POLICY_NAME} of {}",
            setup.role_name
        ),
        Change::CreateRepository(name) => format!("create the repository {name}"),
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
        Change::CreateRole => format!("created the role {} with its trust policy", setup.role_name),
        Change::UpdateTrustPolicy => format!("updated the trust policy of {}", setup.role_name),
        Change::PutPolicy => format!(
            "wrote the inline policy {POLICY_NAME} of {}",
            setup.role_name
        ),
        Change::CreateRepository(name) => format!("created the repository {name}"),
    }
}
