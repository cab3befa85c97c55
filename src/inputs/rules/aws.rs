//! AWS names and identifiers: regions, role ARNs, session names, OIDC audiences, account ids,
//! ECR repository names and KMS keys, each by the rule AWS applies to it.

use std::sync::LazyLock;

use regex::Regex;

use super::{matching, regex};
use crate::error::InputError;

static REGION: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$"));
static ROLE_ARN: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^arn:aws(-[a-z]+)*:iam::([0-9]{12}):role/([A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$",
    )
});
static SESSION_NAME: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9_+=,.@-]{2,64}$"));
static REPOSITORY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"));
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]{12}$"));
static AUDIENCE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[\x21-\x7e]{1,255}$"));
static KMS_KEY: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"^(arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9_/+=,.@-]+",
        r"|alias/[A-Za-z0-9_/+=,.@-]+",
        r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        r"|mrk-[0-9a-f]{32})$"
    ))
});

pub fn region(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &REGION,
        input,
        value,
        format!("'{value}' is not an AWS region name (lower-case, like us-east-1)"),
        "eu-west-1",
    )
}

/// The partition a region belongs to: ARNs of resources used from that region must name it.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// An ARN's partition must be the region's: a role in `aws-cn` cannot be assumed from
/// `eu-west-1`, and STS would answer with a message that does not say so.
pub fn same_partition(input: &'static str, arn: &str, region: &str) -> Result<(), InputError> {
    let partition = arn.split(':').nth(1).unwrap_or_default();
    let expected = partition_of(region);
    if partition == expected {
        return Ok(());
    }
    let fixed = arn.replacen(&format!("arn:{partition}:"), &format!("arn:{expected}:"), 1);
    Err(InputError::new(
        input,
        format!(
            "'{arn}' is in the partition {partition}, but aws-region {region} is in {expected}: \
             a role is assumed, and a repository reached, within one partition"
        ),
        fixed,
    ))
}

/// A role ARN; returns it with the account that owns the role.
pub fn role_arn(input: &'static str, value: &str) -> Result<RoleArn, InputError> {
    let example = "arn:aws:iam::123456789012:role/github-actions-ecr-push";
    let Some(caps) = ROLE_ARN.captures(value) else {
        let why = if ACCOUNT.is_match(value) {
            "is an account id; give the full ARN of a role in it".to_string()
        } else if value.contains(":user/") {
            "names an IAM user; give the ARN of a role the workflow may assume".to_string()
        } else if !value.starts_with("arn:") {
            "is not an ARN; give the role's full ARN as shown in the IAM console".to_string()
        } else {
            "is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)".to_string()
        };
        return Err(InputError::new(input, format!("'{value}' {why}"), example));
    };
    if value.len() > 2048 {
        return Err(InputError::new(
            input,
            "is longer than 2048 characters",
            example,
        ));
    }
    Ok(RoleArn {
        arn: value.to_string(),
        account: caps[2].to_string(),
    })
}

/// An IAM role ARN and the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub account: String,
}

pub fn session_name(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &SESSION_NAME,
        input,
        value,
        format!("'{value}' must be 2 to 64 characters of letters, digits and +=,.@_- (no spaces)"),
        "deploy-from-github",
    )
}

/// A session name built from run metadata: characters outside the rule become `-`, cut to 64.
pub fn sanitised_session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

pub fn repository(input: &'static str, value: &str) -> Result<String, InputError> {
    let example = "team/web-app";
    if !(2..=256).contains(&value.len()) {
        return Err(InputError::new(
            input,
            format!("'{value}' must be 2 to 256 characters long"),
            example,
        ));
    }
    if REPOSITORY.is_match(value) {
        return Ok(value.to_string());
    }
    let why = if value.contains(".dkr.ecr.") || value.contains(':') {
        "looks like an image URI; give only the repository name (the part after the registry host, without a tag)"
    } else if value.chars().any(|c| c.is_ascii_uppercase()) {
        "has upper-case letters; ECR repository names are lower-case"
    } else {
        "is not an ECR repository name: lower-case letters and digits, separated by single . _ - or /"
    };
    Err(InputError::new(input, format!("'{value}' {why}"), example))
}

pub fn account_id(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &ACCOUNT,
        input,
        value,
        format!("'{value}' must be a 12-digit AWS account id"),
        "123456789012",
    )
}

pub fn audience(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &AUDIENCE,
        input,
        value,
        format!("'{value}' must be 1 to 255 printable characters without spaces"),
        "sts.amazonaws.com",
    )
}

pub fn kms_key(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &KMS_KEY,
        input,
        value,
        format!("'{value}' is not a KMS key ARN, key id or alias"),
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn regions_map_to_their_partitions() {
        for (region, partition) in [
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
        ] {
            assert_eq!(partition_of(region), partition, "{region}");
        }
    }

    #[test]
    fn an_arn_of_another_partition_is_refused_with_the_fixed_arn() {
        let error = same_partition(
            "role-to-assume",
            "arn:aws-cn:iam::123456789012:role/x",
            "eu-west-1",
        )
        .unwrap_err();
        assert!(error.rule.contains("partition aws-cn"), "{error}");
        assert_eq!(error.example, "arn:aws:iam::123456789012:role/x");
        assert!(same_partition("r", "arn:aws-cn:iam::123456789012:role/x", "cn-north-1").is_ok());
        assert!(same_partition("r", "arn:aws:iam::123456789012:role/x", "us-gov-west-1").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"] {
            assert!(region("aws-region", good).is_ok(), "{good}");
        }
        for bad in ["US-EAST-1", "us-east", "useast1", "eu west 1", "us-east-1a"] {
            assert!(region("aws-region", bad).is_err(), "{bad}");
        }
        let err = region("aws-region", "Europe").unwrap_err();
        assert!(err.rule.starts_with("'Europe' is not"), "{}", err.rule);
    }

    #[test]
    fn role_arns_and_their_account() {
        let role = role_arn("r", "arn:aws:iam::123456789012:role/path/deploy").unwrap();
        assert_eq!(role.account, "123456789012");
        assert!(role_arn("r", "arn:aws-cn:iam::123456789012:role/x").is_ok());
        let err = role_arn("r", "123456789012").unwrap_err();
        assert!(err.rule.contains("account id"), "{}", err.rule);
        let err = role_arn("r", "arn:aws:iam::123456789012:user/bob").unwrap_err();
        assert!(err.rule.contains("IAM user"), "{}", err.rule);
        assert!(role_arn("r", "arn:aws:iam::12345:role/x").is_err());
    }

    #[test]
    fn session_names_are_sanitised_for_defaults() {
        assert_eq!(
            sanitised_session_name("GitHubActions-12/3 4"),
            "GitHubActions-12-3-4"
        );
        assert_eq!(sanitised_session_name(&"x".repeat(80)).len(), 64);
        assert_eq!(sanitised_session_name("a"), "a-");
        assert!(session_name("s", "has space").is_err());
        assert!(session_name("s", "ok_name@1").is_ok());
        assert!(
            session_name("s", "déploiement").is_err(),
            "IAM names are ASCII"
        );
    }

    #[test]
    fn repository_names_follow_ecr() {
        for good in ["ab", "team/web-app", "a.b_c-d/e"] {
            assert!(repository("repository", good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "Team/app",
            "app/",
            "/app",
            "a//b",
            "a--b-",
            "x.dkr.ecr.y/app:1",
        ] {
            assert!(repository("repository", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kms_keys() {
        assert!(kms_key("k", "alias/ecr").is_ok());
        assert!(kms_key("k", "1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
        assert!(kms_key("k", "arn:aws:kms:eu-west-1:123456789012:key/abc").is_ok());
        assert!(kms_key("k", "my key").is_err());
    }
}
