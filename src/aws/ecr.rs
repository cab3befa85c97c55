//! ECR's control plane: make sure the repository exists with the asked settings, keep its
//! lifecycle policy as asked, and get registry credentials.
//!
//! Only calls that are needed are made, so a role limited to pushing (no `ecr:CreateRepository`,
//! no `ecr:PutLifecyclePolicy`) works on a repository that is already set up.

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository,
};
use aws_sdk_ecr::Client;
use base64::Engine;

use super::errors::AwsError;

/// A repository to create, with the settings it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRepository {
    pub name: String,
    /// The owning account; `None`: the caller's.
    pub registry_id: Option<String>,
    pub scan_on_push: bool,
    pub tag_mutability: ImageTagMutability,
    pub encryption: EncryptionType,
    pub kms_key: Option<String>,
}

/// The repository as found or created.
#[derive(Debug, Clone)]
pub struct RepositoryState {
    pub name: String,
    pub uri: String,
    pub registry_id: String,
    pub created: bool,
    pub scan_on_push: bool,
    pub tag_mutability: ImageTagMutability,
    /// Wildcard filters of `IMMUTABLE_WITH_EXCLUSION` / `MUTABLE_WITH_EXCLUSION`.
    pub mutability_exclusions: Vec<String>,
    pub encryption: EncryptionType,
}

impl RepositoryState {
    /// Whether ECR refuses to move `tag` once it exists, exclusions included.
    pub fn is_tag_immutable(&self, tag: &str) -> bool {
        let excluded = self
            .mutability_exclusions
            .iter()
            .any(|filter| wildcard_match(filter, tag));
        match self.tag_mutability {
            ImageTagMutability::Immutable => true,
            ImageTagMutability::ImmutableWithExclusion => !excluded,
            ImageTagMutability::MutableWithExclusion => excluded,
            _ => false,
        }
    }
}

/// ECR's exclusion filters: `*` matches any run of characters, everything else itself.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split gives at least one part");
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    if rest.is_empty() {
        return remaining.is_empty();
    }
    let (last, middle) = rest.split_last().expect("rest is not empty");
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// What happened to the lifecycle policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleChange {
    NotAsked,
    Unchanged,
    Applied,
}

use super::errors::failed;
/// An ECR call that failed, with the IAM action it needed.
pub use super::errors::CallFailure as EcrFailure;

fn state(repo: &Repository, created: bool) -> RepositoryState {
    RepositoryState {
        name: repo.repository_name().unwrap_or_default().to_string(),
        uri: repo.repository_uri().unwrap_or_default().to_string(),
        registry_id: repo.registry_id().unwrap_or_default().to_string(),
        created,
        scan_on_push: repo
            .image_scanning_configuration()
            .is_some_and(|c| c.scan_on_push()),
        tag_mutability: repo
            .image_tag_mutability()
            .cloned()
            .unwrap_or(ImageTagMutability::Mutable),
        mutability_exclusions: repo
            .image_tag_mutability_exclusion_filters()
            .iter()
            .map(|f| f.filter().to_string())
            .collect(),
        encryption: repo
            .encryption_configuration()
            .map(|e| e.encryption_type().clone())
            .unwrap_or(EncryptionType::Aes256),
    }
}

/// Finds the repository `name` in the account `registry_id` (`None`: the caller's).
/// `Ok(None)` when it does not exist.
pub async fn describe_repository(
    client: &Client,
    name: &str,
    registry_id: Option<&str>,
) -> Result<Option<RepositoryState>, EcrFailure> {
    let result = client
        .describe_repositories()
        .repository_names(name)
        .set_registry_id(registry_id.map(str::to_string))
        .send()
        .await;
    match result {
        Ok(out) => Ok(out.repositories().first().map(|r| state(r, false))),
        Err(e) => {
            let failure = failed("ecr:DescribeRepositories")(e);
            if failure.error.is("RepositoryNotFoundException") {
                Ok(None)
            } else {
                Err(failure)
            }
        }
    }
}

/// The digests of the `limit` images last pushed to the repository, newest first. ECR lists
/// images in no order, so every page is read, up to [`MOST_PAGES`] of 1000 images. A
/// repository that does not exist has none.
pub async fn recent_images(
    client: &Client,
    name: &str,
    registry_id: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, EcrFailure> {
    let mut pages = client
        .describe_images()
        .repository_name(name)
        .set_registry_id(registry_id.map(str::to_string))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut images = Vec::new();
    let mut read = 0;
    while let Some(page) = pages.next().await {
        let out = match page {
            Ok(out) => out,
            Err(e) => {
                let failure = failed("ecr:DescribeImages")(e);
                if failure.error.is("RepositoryNotFoundException") {
                    return Ok(Vec::new());
                }
                return Err(failure);
            }
        };
        images.extend(
            out.image_details()
                .iter()
                .filter_map(|d| Some((d.image_pushed_at()?.secs(), d.image_digest()?.to_string()))),
        );
        read += 1;
        if read == MOST_PAGES {
            break;
        }
    }
    images.sort_by_key(|(pushed, _)| std::cmp::Reverse(*pushed));
    Ok(images.into_iter().take(limit).map(|(_, d)| d).collect())
}

/// How many pages of `DescribeImages` are read at most: 10,000 images.
const MOST_PAGES: usize = 10;

/// Creates the repository with its settings. When another job created it in the meantime,
/// the existing one is returned instead.
pub async fn create_repository(
    client: &Client,
    new: &NewRepository,
) -> Result<RepositoryState, EcrFailure> {
    let encryption = EncryptionConfiguration::builder()
        .encryption_type(new.encryption.clone())
        .set_kms_key(new.kms_key.clone())
        .build()
        .expect("encryption type is set");
    let result = client
        .create_repository()
        .repository_name(&new.name)
        .set_registry_id(new.registry_id.clone())
        .image_tag_mutability(new.tag_mutability.clone())
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(new.scan_on_push)
                .build(),
        )
        .encryption_configuration(encryption)
        .send()
        .await;
    match result {
        Ok(out) => out
            .repository()
            .map(|r| state(r, true))
            .ok_or_else(|| EcrFailure {
                action: "ecr:CreateRepository",
                error: AwsError {
                    code: None,
                    message: "ECR answered without the repository".into(),
                    retryable: false,
                    no_credentials: false,
                },
            }),
        Err(e) => {
            let failure = failed("ecr:CreateRepository")(e);
            if failure.error.is("RepositoryAlreadyExistsException") {
                let existing =
                    describe_repository(client, &new.name, new.registry_id.as_deref()).await?;
                if let Some(existing) = existing {
                    return Ok(existing);
                }
            }
            Err(failure)
        }
    }
}

/// Puts the policy (its JSON text) unless the repository already has the same one.
/// The repository's policy, if it has one.
pub async fn repository_policy(
    client: &Client,
    name: &str,
) -> Result<Option<serde_json::Value>, EcrFailure> {
    const ACTION: &str = "ecr:GetRepositoryPolicy";
    match client
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(answer) => Ok(answer
            .policy_text()
            .and_then(|text| serde_json::from_str(text).ok())),
        Err(e) => {
            let failure = failed(ACTION)(e);
            if failure.error.is("RepositoryPolicyNotFoundException") {
                Ok(None)
            } else {
                Err(failure)
            }
        }
    }
}

pub async fn set_repository_policy(
    client: &Client,
    name: &str,
    policy: &serde_json::Value,
) -> Result<(), EcrFailure> {
    client
        .set_repository_policy()
        .repository_name(name)
        .policy_text(policy.to_string())
        .send()
        .await
        .map_err(failed("ecr:SetRepositoryPolicy"))?;
    Ok(())
}

pub async fn apply_lifecycle_policy(
    client: &Client,
    repo: &RepositoryState,
    policy: Option<&str>,
) -> Result<LifecycleChange, EcrFailure> {
    let Some(policy) = policy else {
        return Ok(LifecycleChange::NotAsked);
    };
    if !repo.created {
        let current = client
            .get_lifecycle_policy()
            .repository_name(&repo.name)
            .set_registry_id(non_empty(&repo.registry_id))
            .send()
            .await;
        match current {
            Ok(out) => {
                if out
                    .lifecycle_policy_text()
                    .is_some_and(|stored| same_policy(policy, stored))
                {
                    return Ok(LifecycleChange::Unchanged);
                }
            }
            Err(e) => {
                let failure = failed("ecr:GetLifecyclePolicy")(e);
                if !failure.error.is("LifecyclePolicyNotFoundException") {
                    return Err(failure);
                }
            }
        }
    }
    client
        .put_lifecycle_policy()
        .repository_name(&repo.name)
        .set_registry_id(non_empty(&repo.registry_id))
        .lifecycle_policy_text(policy)
        .send()
        .await
        .map_err(failed("ecr:PutLifecyclePolicy"))?;
    Ok(LifecycleChange::Applied)
}

/// True when ECR's stored policy text means the wanted one, whatever its formatting.
fn same_policy(wanted: &str, stored: &str) -> bool {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    matches!((parse(wanted), parse(stored)), (Some(a), Some(b)) if a == b)
}

fn non_empty(value: &str) -> Option<String> {
    Some(value.to_string()).filter(|v| !v.is_empty())
}

/// Basic-auth credentials for the registry. `Debug` never shows the password.
#[derive(Clone)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: String,
    /// The token as ECR sent it (base64 of `user:password`): also a secret.
    pub encoded: String,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com` as ECR reports it.
    pub proxy_endpoint: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .finish_non_exhaustive()
    }
}

/// `GetAuthorizationToken`. The token's `expiresAt` is not checked: it is valid for 12 hours
/// on AWS, far longer than a run, and emulators report dates in the past.
pub async fn registry_credentials(client: &Client) -> Result<RegistryCredentials, EcrFailure> {
    let out = client
        .get_authorization_token()
        .send()
        .await
        .map_err(failed("ecr:GetAuthorizationToken"))?;
    let malformed = |why: &str| EcrFailure {
        action: "ecr:GetAuthorizationToken",
        error: AwsError {
            code: None,
            message: format!("ECR's authorization token is malformed: {why}"),
            retryable: false,
            no_credentials: false,
        },
    };
    let data = out
        .authorization_data()
        .first()
        .ok_or_else(|| malformed("no authorization data"))?;
    let encoded = data
        .authorization_token()
        .ok_or_else(|| malformed("no token"))?
        .to_string();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| malformed("not base64 text"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("no ':' between user and password"))?;
    Ok(RegistryCredentials {
        username: username.to_string(),
        password: password.to_string(),
        encoded,
        proxy_endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(mutability: ImageTagMutability, exclusions: &[&str]) -> RepositoryState {
        RepositoryState {
            name: "app".into(),
            uri: "x/app".into(),
            registry_id: "1".into(),
            created: false,
            scan_on_push: false,
            tag_mutability: mutability,
            mutability_exclusions: exclusions.iter().map(|e| e.to_string()).collect(),
            encryption: EncryptionType::Aes256,
        }
    }

    #[test]
    fn immutability_with_exclusions() {
        assert!(repo(ImageTagMutability::Immutable, &[]).is_tag_immutable("latest"));
        assert!(!repo(ImageTagMutability::Mutable, &[]).is_tag_immutable("v1"));
        let r = repo(
            ImageTagMutability::ImmutableWithExclusion,
            &["latest", "dev-*"],
        );
        assert!(!r.is_tag_immutable("latest"));
        assert!(!r.is_tag_immutable("dev-42"));
        assert!(r.is_tag_immutable("v1.0"));
        let r = repo(
            ImageTagMutability::MutableWithExclusion,
            &["release-*-final"],
        );
        assert!(r.is_tag_immutable("release-2-final"));
        assert!(!r.is_tag_immutable("release-2"));
    }

    #[test]
    fn a_mutability_this_version_does_not_know_is_taken_as_mutable() {
        let r = repo(ImageTagMutability::from("FROZEN_SOMETIMES"), &[]);
        assert!(!r.is_tag_immutable("v1"));
    }

    #[test]
    fn described_settings_are_read_into_the_sdk_enums() {
        let described = Repository::builder()
            .repository_name("app")
            .image_tag_mutability(ImageTagMutability::ImmutableWithExclusion)
            .encryption_configuration(
                EncryptionConfiguration::builder()
                    .encryption_type(EncryptionType::Kms)
                    .build()
                    .unwrap(),
            )
            .build();
        let found = state(&described, false);
        assert_eq!(
            found.tag_mutability,
            ImageTagMutability::ImmutableWithExclusion
        );
        assert_eq!(found.tag_mutability.as_str(), "IMMUTABLE_WITH_EXCLUSION");
        assert_eq!(found.encryption, EncryptionType::Kms);
        // ECR leaves out what was never set: the defaults it applies.
        let bare = state(&Repository::builder().repository_name("app").build(), true);
        assert_eq!(bare.tag_mutability, ImageTagMutability::Mutable);
        assert_eq!(bare.encryption, EncryptionType::Aes256);
    }

    #[test]
    fn lifecycle_policies_compare_by_meaning_not_formatting() {
        let wanted = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},"action":{"type":"expire"}}]}"#;
        let reformatted = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(wanted).unwrap(),
        )
        .unwrap();
        assert!(same_policy(wanted, &reformatted));
        assert!(!same_policy(wanted, &wanted.replace("30", "5")));
        assert!(!same_policy(wanted, "not json"));
    }
}
