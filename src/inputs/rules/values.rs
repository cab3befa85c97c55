//! Plain values: booleans, whole numbers, words from a fixed set, `KEY=VALUE` lines, registry
//! addresses, build stages, image names and platforms.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use reqwest::Url;

use super::{matching, regex};
use crate::error::InputError;
use crate::oci::Platform;

/// A whole number within `range`.
pub fn integer_in<T>(
    input: &'static str,
    value: &str,
    range: RangeInclusive<T>,
    example: &str,
) -> Result<T, InputError>
where
    T: FromStr + PartialOrd + Display,
{
    match value.parse::<T>() {
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
    // The registry's password goes with every request: in the clear only on this machine.
    if url.scheme() == "http" && !crate::http::is_loopback(&url) {
        return Err(InputError::new(
            input,
            format!(
                "'{value}' is plain HTTP to another machine, which would carry the registry \
                 password in the clear; use https://, or http:// only for localhost, \
                 127.0.0.0/8 or [::1]"
            ),
            "https://registry.example.com",
        ));
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

/// One of a fixed set of words, matched without regard to case; returns what the word stands
/// for.
pub fn one_of<T: Clone>(
    input: &'static str,
    value: &str,
    choices: &[(&'static str, T)],
) -> Result<T, InputError> {
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(value))
        .map(|(_, meaning)| meaning.clone())
        .ok_or_else(|| {
            let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
            InputError::new(
                input,
                format!("'{value}' must be one of {}", words.join(", ")),
                words.first().copied().unwrap_or_default(),
            )
        })
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

/// Platforms as `os/arch[/variant]`, separated by commas or lines; duplicates refused.
pub fn platforms(input: &'static str, value: &str) -> Result<Vec<Platform>, InputError> {
    let mut found: Vec<Platform> = Vec::new();
    for text in value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let platform = Platform::parse(text)
            .map_err(|why| InputError::new(input, why, "linux/amd64,linux/arm64"))?;
        if found.contains(&platform) {
            return Err(InputError::new(
                input,
                format!("names '{text}' twice"),
                "linux/amd64,linux/arm64",
            ));
        }
        found.push(platform);
    }
    Ok(found)
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
    fn plain_http_only_to_a_registry_on_this_machine() {
        for loopback in [
            "http://127.0.0.1:5001",
            "http://127.8.9.10",
            "http://localhost:5000",
            "http://[::1]:5000",
            "https://registry.example.com",
        ] {
            assert!(registry_url("u", loopback).is_ok(), "{loopback}");
        }
        for remote in [
            "http://127.0.0.1.nip.io:5001",
            "http://127.example.com",
            "http://registry.example.com",
            "http://10.0.0.1:5000",
        ] {
            let error = registry_url("registry-url", remote)
                .unwrap_err()
                .to_string();
            assert!(error.contains("plain HTTP to another machine"), "{error}");
            assert!(error.contains("registry-url"), "{error}");
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
        let words = [("MUTABLE", 1), ("IMMUTABLE", 2)];
        assert_eq!(one_of("m", "immutable", &words), Ok(2));
        assert_eq!(one_of("m", "Mutable", &words), Ok(1));
        let err = one_of("m", "frozen", &words).unwrap_err();
        assert_eq!(err.rule, "'frozen' must be one of MUTABLE, IMMUTABLE");
        assert_eq!(err.example, "MUTABLE");
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
            platforms("p", "linux/amd64, linux/arm64/v8\nlinux/arm/v7")
                .unwrap()
                .iter()
                .map(Platform::to_string)
                .collect::<Vec<_>>(),
            ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        );
        assert!(platforms("p", "amd64").is_err());
        assert!(platforms("p", "Linux/AMD64").is_err());
        assert!(platforms("p", "linux/amd64,linux/amd64").is_err());
    }

    #[test]
    fn whole_numbers_in_a_range() {
        assert_eq!(integer_in("n", "900", 900..=43200, "3600"), Ok(900i32));
        assert_eq!(integer_in("n", "30", 1..=10_000, "30"), Ok(30i64));
        for bad in ["899", "43201", "1h", "", "99999999999"] {
            let err = integer_in("n", bad, 900..=43200i32, "3600").unwrap_err();
            assert_eq!(
                err.rule,
                format!("'{bad}' must be a whole number from 900 to 43200")
            );
        }
    }
}
