//! The repository section: which ECR repository to push to, in which registry, whether to
//! create it and with which settings, and its lifecycle policy.

use aws_sdk_ecr::types::{EncryptionType, ImageTagMutability};
use reqwest::Url;

use super::lifecycle::{self, LifecyclePolicy};
use super::rules::{aws, values};
use super::{Errors, NewRepositorySettings, RawInputs, RepositoryPlan};
use crate::error::InputError;
use crate::github::context::RunContext;

/// The words `tag-mutability` accepts; the `*_WITH_EXCLUSION` modes need filters, which no
/// input gives.
const TAG_MUTABILITY: &[(&str, ImageTagMutability)] = &[
    ("MUTABLE", ImageTagMutability::Mutable),
    ("IMMUTABLE", ImageTagMutability::Immutable),
];

/// The words `encryption` accepts.
const ENCRYPTION: &[(&str, EncryptionType)] = &[
    ("AES256", EncryptionType::Aes256),
    ("KMS", EncryptionType::Kms),
];

/// Where the image goes: the repository, and the registry address when the user names one.
pub(super) struct Destination {
    pub repository: RepositoryPlan,
    pub registry_url: Option<Url>,
}

pub(super) fn parse(raw: &RawInputs, ctx: &RunContext, errors: &mut Errors) -> Option<Destination> {
    let name = errors.required(
        &raw.repository,
        InputError::new(
            "repository",
            "is required: the name of the ECR repository to push to",
            "team/web-app",
        ),
        |v| aws::repository("repository", v),
    );
    let registry_id = errors.optional(&raw.registry_id, None, |v| {
        aws::account_id("registry-id", v).map(Some)
    });
    let registry_url = errors.optional(&raw.registry_url, None, |v| {
        values::registry_url("registry-url", v).map(Some)
    });
    let create = errors.optional(&raw.create_repository, true, |v| {
        values::boolean("create-repository", v)
    });
    let settings = settings(raw, errors);
    let lifecycle_policy = lifecycle_policy(raw, ctx, errors);
    let (
        Some(name),
        Some(registry_id),
        Some(registry_url),
        Some(create),
        Some(settings),
        Some(lifecycle_policy),
    ) = (
        name,
        registry_id,
        registry_url,
        create,
        settings,
        lifecycle_policy,
    )
    else {
        return None;
    };
    Some(Destination {
        repository: RepositoryPlan {
            name,
            registry_id,
            create,
            settings,
            lifecycle_policy,
        },
        registry_url,
    })
}

fn settings(raw: &RawInputs, errors: &mut Errors) -> Option<NewRepositorySettings> {
    let scan_on_push = errors.optional(&raw.scan_on_push, true, |v| {
        values::boolean("scan-on-push", v)
    });
    let tag_mutability = errors.optional(&raw.tag_mutability, ImageTagMutability::Mutable, |v| {
        values::one_of("tag-mutability", v, TAG_MUTABILITY)
    });
    let encryption = errors.optional(&raw.encryption, EncryptionType::Aes256, |v| {
        values::one_of("encryption", v, ENCRYPTION)
    });
    let kms_key = errors.optional(&raw.kms_key, None, |v| aws::kms_key("kms-key", v).map(Some));
    if kms_key.as_ref().is_some_and(Option::is_some) && encryption == Some(EncryptionType::Aes256) {
        errors.refuse(InputError::new(
            "kms-key",
            "is only used with encryption: KMS (encryption is AES256)",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ));
    }
    let (Some(scan_on_push), Some(tag_mutability), Some(encryption), Some(kms_key)) =
        (scan_on_push, tag_mutability, encryption, kms_key)
    else {
        return None;
    };
    Some(NewRepositorySettings {
        scan_on_push,
        tag_mutability,
        encryption,
        kms_key,
    })
}

/// `lifecycle-policy` or its `keep-images` shorthand, never both; `Some(None)`: neither.
fn lifecycle_policy(
    raw: &RawInputs,
    ctx: &RunContext,
    errors: &mut Errors,
) -> Option<Option<LifecyclePolicy>> {
    let from_text = errors.optional(&raw.lifecycle_policy, None, |v| {
        lifecycle::parse(v, &ctx.workspace).map(Some)
    });
    let from_count = errors.optional(&raw.keep_images, None, |v| {
        values::integer_in("keep-images", v, 1..=10_000, "30")
            .map(|n| Some(lifecycle::keep_newest(n)))
    });
    match (from_text?, from_count?) {
        (Some(_), Some(_)) => {
            errors.refuse(InputError::new(
                "keep-images",
                "cannot be combined with lifecycle-policy; use one of the two",
                "30",
            ));
            None
        }
        (text, count) => Some(text.or(count)),
    }
}
