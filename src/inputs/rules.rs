//! One parser per kind of input value. Each returns the typed value or an [`InputError`] that
//! names the input, the rule and a value that would work. No parser touches the network.

use std::sync::LazyLock;

use std::path::{Component, Path, PathBuf};

use regex::Regex;
use reqwest::Url;

use crate::error::InputError;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("pattern is valid")
}

/// The value when it matches `pattern`; else an error whose rule is `why` (it may use the
/// value, e.g. "'{value}' must be ...").
fn matching(
    pattern: &Regex,
    input: &'static str,
    value: &str,
    why: impl Into<String>,
    example: &str,
) -> Result<String, InputError> {
    if pattern.is_match(value) {
        Ok(value.to_string())
    } else {
        Err(InputError::new(input, why, example))
    }
}

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

pub fn integer_in(
    input: &'static str,
    value: &str,
    range: std::ops::RangeInclusive<i64>,
    example: &str,
) -> Result<i64, InputError> {
    match value.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(InputError::new(
            input,
            format!(
                "'{value}' must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
            example,
        )),
    }
}

/// Booleans as the Actions toolkit reads them (YAML 1.2 core schema).
pub fn boolean(input: &'static str, value: &str) -> Result<bool, InputError> {
    match value {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        _ => Err(InputError::new(
            input,
            format!("'{value}' must be true or false"),
            "true",
        )),
    }
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

/// A registry base address: scheme and host, optional port, nothing else.
pub fn registry_url(input: &'static str, value: &str) -> Result<Url, InputError> {
    let example = "http://127.0.0.1:5001";
    let bad = |why: &str| InputError::new(input, format!("'{value}' {why}"), example);
    let url = Url::parse(value).map_err(|_| {
        bad("is not a URL; give the scheme and host, with a port if it is not the default")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not carry credentials; the registry password comes from ECR",
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "must be only scheme, host and port: no path (not even /v2), query or fragment",
        ));
    }
    Ok(url)
}

/// One of a fixed set of words, matched without regard to case; returns the canonical word.
pub fn one_of(
    input: &'static str,
    value: &str,
    allowed: &[&'static str],
) -> Result<&'static str, InputError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .copied()
        .ok_or_else(|| {
            InputError::new(
                input,
                format!("'{value}' must be one of {}", allowed.join(", ")),
                allowed[0],
            )
        })
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

static TARGET: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"));
static IMAGE_NAME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,511}$"));

/// A build stage name.
pub fn target(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &TARGET,
        input,
        value,
        format!("'{value}' is not a build stage name (letters, digits, '.', '_', '-')"),
        "runtime",
    )
}

/// An image in the daemon: `name[:tag]`, `name@sha256:...` or an image id.
pub fn image_name(input: &'static str, value: &str) -> Result<String, InputError> {
    matching(
        &IMAGE_NAME,
        input,
        value,
        format!("'{value}' is not an image name, reference or id"),
        "web-app:build-42",
    )
}

static PLATFORM: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"));

/// Platforms as `os/arch[/variant]`, separated by commas or lines; duplicates refused.
pub fn platforms(input: &'static str, value: &str) -> Result<Vec<String>, InputError> {
    let mut found: Vec<String> = Vec::new();
    for platform in value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !PLATFORM.is_match(platform) {
            return Err(InputError::new(
                input,
                format!("'{platform}' is not a platform: os/architecture[/variant], lower-case"),
                "linux/amd64,linux/arm64",
            ));
        }
        if found.iter().any(|p| p == platform) {
            return Err(InputError::new(
                input,
                format!("names '{platform}' twice"),
                "linux/amd64,linux/arm64",
            ));
        }
        found.push(platform.to_string());
    }
    Ok(found)
}

/// What a workspace path must point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    File,
    Folder,
    /// A file or a folder.
    Any,
}

/// A path relative to the workspace that stays inside it (no absolute path, no `..`, no
/// symlink leading out) and exists as the asked kind. Returns the joined path.
pub fn workspace_path(
    input: &'static str,
    value: &str,
    workspace: &Path,
    kind: PathKind,
    example: &str,
) -> Result<PathBuf, InputError> {
    let bad = |why: String| InputError::new(input, why, example);
    let relative = Path::new(value);
    if relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
        return Err(bad(format!(
            "'{value}' must be a path inside the workspace (relative, without '..')"
        )));
    }
    let path = workspace.join(relative);
    let real = path.canonicalize().map_err(|_| {
        bad(format!(
            "'{value}' does not exist in the workspace ({})",
            workspace.display()
        ))
    })?;
    if let Ok(root) = workspace.canonicalize() {
        if !real.starts_with(&root) {
            return Err(bad(format!(
                "'{value}' leads outside the workspace through a symlink"
            )));
        }
    }
    let right_kind = match kind {
        PathKind::File => real.is_file(),
        PathKind::Folder => real.is_dir(),
        PathKind::Any => real.is_file() || real.is_dir(),
    };
    if !right_kind {
        let want = match kind {
            PathKind::File => "a file",
            PathKind::Folder => "a folder",
            PathKind::Any => "a file or a folder",
        };
        return Err(bad(format!("'{value}' is not {want}")));
    }
    Ok(path)
}

/// `KEY=VALUE` lines (blank lines skipped); keys are non-empty and without spaces.
pub fn key_values(
    input: &'static str,
    value: &str,
    example: &str,
) -> Result<Vec<(String, String)>, InputError> {
    let mut pairs = Vec::new();
    for (index, line) in value.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((key, v))
                if !key.trim().is_empty() && !key.trim().contains(char::is_whitespace) =>
            {
                pairs.push((key.trim().to_string(), v.to_string()));
            }
            _ => {
                return Err(InputError::new(
                    input,
                    format!("line {} ('{line}') must be KEY=VALUE", index + 1),
                    example,
                ))
            }
        }
    }
    Ok(pairs)
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
    fn registry_urls_are_bare_bases() {
        assert_eq!(
            registry_url("u", "http://127.0.0.1:5001").unwrap().as_str(),
            "http://127.0.0.1:5001/"
        );
        for bad in [
            "127.0.0.1:5001",
            "ftp://x",
            "http://u:p@x",
            "http://x/v2/",
            "http://x?a=b",
        ] {
            assert!(registry_url("u", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans_like_the_toolkit() {
        assert_eq!(boolean("b", "TRUE"), Ok(true));
        assert_eq!(boolean("b", "False"), Ok(false));
        assert!(boolean("b", "yes").is_err());
    }

    #[test]
    fn words_match_without_case() {
        assert_eq!(
            one_of("m", "immutable", &["MUTABLE", "IMMUTABLE"]),
            Ok("IMMUTABLE")
        );
        assert!(one_of("m", "frozen", &["MUTABLE", "IMMUTABLE"]).is_err());
    }

    #[test]
    fn workspace_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch").unwrap();
        let ws = dir.path();
        assert!(workspace_path("c", "app", ws, PathKind::Folder, "app").is_ok());
        assert!(workspace_path("d", "app/Dockerfile", ws, PathKind::File, "x").is_ok());
        for (value, why) in [
            ("../app", "inside the workspace"),
            ("/etc", "inside the workspace"),
            ("nope", "does not exist"),
            ("app/Dockerfile", "not a folder"),
        ] {
            let err = workspace_path("c", value, ws, PathKind::Folder, "app").unwrap_err();
            assert!(err.rule.contains(why), "{value}: {}", err.rule);
        }
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        let err = workspace_path("c", "link", ws, PathKind::Folder, "app").unwrap_err();
        assert!(err.rule.contains("symlink"), "{}", err.rule);
    }

    #[test]
    fn key_value_lines() {
        let pairs = key_values("b", "A=1\n\n B = x=y \nEMPTY=", "A=1").unwrap();
        assert_eq!(
            pairs,
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), " x=y".to_string()),
                ("EMPTY".to_string(), String::new())
            ]
        );
        assert!(key_values("b", "NOVALUE", "A=1")
            .unwrap_err()
            .rule
            .contains("line 1"));
        assert!(key_values("b", "=x", "A=1").is_err());
    }

    #[test]
    fn platform_lists() {
        assert_eq!(
            platforms("p", "linux/amd64, linux/arm64/v8\nlinux/arm/v7").unwrap(),
            ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        );
        assert!(platforms("p", "amd64").is_err());
        assert!(platforms("p", "Linux/AMD64").is_err());
        assert!(platforms("p", "linux/amd64,linux/amd64").is_err());
    }

    #[test]
    fn kms_keys() {
        assert!(kms_key("k", "alias/ecr").is_ok());
        assert!(kms_key("k", "1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
        assert!(kms_key("k", "arn:aws:kms:eu-west-1:123456789012:key/abc").is_ok());
        assert!(kms_key("k", "my key").is_err());
    }
}
