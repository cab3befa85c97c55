//! ECR lifecycle policies: read from JSON text or a file, checked before any call, or built from
//! the `keep-images` shorthand. The checks catch what ECR would reject with a vague message.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};

use super::cache::CACHE_TAG;
use super::rules::paths::{read_workspace_file, Candidate};
use crate::error::InputError;

const INPUT: &str = "lifecycle-policy";
const MAX_LEN: usize = 30_720;
/// A file's largest size: twice ECR's limit on the text (whitespace aside, it is refused then).
const MAX_FILE_BYTES: u64 = 64 * 1024;
const EXAMPLE: &str = r#"{"rules":[{"rulePriority":1,"description":"keep 30","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":30},"action":{"type":"expire"}}]}"#;

/// A lifecycle policy that passed the checks: the text sent to ECR, and its parsed value.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecyclePolicy {
    pub text: String,
    pub value: Value,
}

/// How many branch build caches (`buildcache-BRANCH`) the shorthand keeps, newest first.
const BRANCH_CACHES: i64 = 10;

/// Keep the newest `count` images, expire the rest; the build caches apart. The default
/// branch's registry cache (`buildcache`) is never expired, and the branch caches count among
/// themselves, so that a cache rewritten on every run neither pushes images out of the count
/// nor is pushed out by them. A rule with a lower number decides first, and an image that
/// matches one rule's tags is never expired by a later rule.
pub fn keep_newest(count: i64) -> LifecyclePolicy {
    let tagged = |priority: u32, pattern: &str, keep: i64, why: &str| {
        json!({
            "rulePriority": priority,
            "description": why,
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": [pattern],
                "countType": "imageCountMoreThan",
                "countNumber": keep
            },
            "action": { "type": "expire" }
        })
    };
    let value = json!({
        "rules": [
            tagged(1, CACHE_TAG, 1, "Keep the default branch's build cache (ship-to-ecr)"),
            tagged(
                2,
                &format!("{CACHE_TAG}-*"),
                BRANCH_CACHES,
                &format!("Keep the newest {BRANCH_CACHES} branch build caches (ship-to-ecr)")
            ),
            {
                "rulePriority": 3,
                "description": format!("Keep the newest {count} images (ship-to-ecr keep-images)"),
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": count
                },
                "action": { "type": "expire" }
            }
        ]
    });
    LifecyclePolicy {
        text: value.to_string(),
        value,
    }
}

/// The input is JSON when it starts with `{`, otherwise a path relative to the workspace.
pub fn parse(input: &str, workspace: &Path) -> Result<LifecyclePolicy, InputError> {
    let trimmed = input.trim();
    let text = if trimmed.starts_with('{') {
        trimmed.to_string()
    } else {
        read_workspace_file(
            &Candidate {
                input: INPUT,
                shown: trimmed,
                example: ".github/ecr-lifecycle.json",
            },
            workspace,
            MAX_FILE_BYTES,
            "lifecycle policy file",
        )?
    };
    check(&text)
}

fn bad(rule: impl Into<String>) -> InputError {
    InputError::new(INPUT, rule, EXAMPLE)
}

fn check(text: &str) -> Result<LifecyclePolicy, InputError> {
    if text.len() > MAX_LEN {
        return Err(bad(format!(
            "is {} characters long; ECR allows at most {MAX_LEN}",
            text.len()
        )));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("is not valid JSON ({e})")))?;
    let rules = value
        .get("rules")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("must be a JSON object with a non-empty \"rules\" array"))?;

    let mut priorities = HashSet::new();
    let mut highest = 0;
    let mut any_rule_priority = None;
    for (index, rule) in rules.iter().enumerate() {
        let n = index + 1;
        let priority = rule
            .get("rulePriority")
            .and_then(Value::as_u64)
            .filter(|p| *p >= 1)
            .ok_or_else(|| bad(format!("rule {n} needs a positive whole \"rulePriority\"")))?;
        if !priorities.insert(priority) {
            return Err(bad(format!(
                "rule {n} repeats rulePriority {priority}; each rule needs its own"
            )));
        }
        highest = highest.max(priority);
        if selects_any(n, rule)? {
            any_rule_priority = Some(priority);
        }
        // "transition" moves images to ECR's archive storage class.
        if !matches!(
            rule.get("action")
                .and_then(|a| a.get("type"))
                .and_then(Value::as_str),
            Some("expire" | "transition")
        ) {
            return Err(bad(format!(
                "rule {n} needs an action of type expire (or transition), e.g. {{\"type\":\"expire\"}}"
            )));
        }
    }
    if let Some(p) = any_rule_priority {
        if p != highest {
            return Err(bad(format!(
                "the rule with tagStatus \"any\" has priority {p} but must have the highest rulePriority ({highest} is higher)"
            )));
        }
    }
    Ok(LifecyclePolicy {
        text: text.to_string(),
        value,
    })
}

/// What a rule counts by.
const COUNT_TYPES: [&str; 4] = [
    "imageCountMoreThan",
    "sinceImagePushed",
    "sinceImagePulled",
    "sinceImageTransitioned",
];

/// ECR's limit on the wildcards of one tag pattern.
const MOST_WILDCARDS: usize = 4;

/// A tagged rule's lists: one of `tagPrefixList` and `tagPatternList`, not both, each a
/// non-empty list of non-empty strings; a pattern has at most four `*`.
fn tag_lists(n: usize, selection: &Value) -> Result<(), InputError> {
    let list = |key: &str| -> Result<Option<Vec<&str>>, InputError> {
        let Some(value) = selection.get(key) else {
            return Ok(None);
        };
        let items: Option<Vec<&str>> = value
            .as_array()
            .filter(|l| !l.is_empty())
            .and_then(|l| l.iter().map(Value::as_str).collect());
        match items {
            Some(items) if items.iter().all(|i| !i.is_empty()) => Ok(Some(items)),
            _ => Err(bad(format!(
                "rule {n} has a {key} that is not a non-empty list of non-empty strings"
            ))),
        }
    };
    match (list("tagPrefixList")?, list("tagPatternList")?) {
        (None, None) => Err(bad(format!(
            "rule {n} selects tagged images but has no tagPrefixList or tagPatternList"
        ))),
        (Some(_), Some(_)) => Err(bad(format!(
            "rule {n} has both tagPrefixList and tagPatternList; ECR takes one of the two per \
             rule (split it into two rules)"
        ))),
        (None, Some(patterns)) => {
            match patterns
                .iter()
                .find(|p| p.matches('*').count() > MOST_WILDCARDS)
            {
                Some(pattern) => Err(bad(format!(
                    "rule {n} has the tag pattern \"{pattern}\" with more than \
                     {MOST_WILDCARDS} wildcards; ECR allows at most {MOST_WILDCARDS} per pattern"
                ))),
                None => Ok(()),
            }
        }
        (Some(_), None) => Ok(()),
    }
}

/// Checks rule `n`'s selection; true when it selects any image (tagged or not).
fn selects_any(n: usize, rule: &Value) -> Result<bool, InputError> {
    let selection = rule
        .get("selection")
        .filter(|s| s.is_object())
        .ok_or_else(|| bad(format!("rule {n} needs a \"selection\" object")))?;
    let has = |key: &str| selection.get(key).is_some();
    let status = selection.get("tagStatus").and_then(Value::as_str);
    let any = match status {
        Some(status @ ("any" | "untagged")) => {
            if has("tagPrefixList") || has("tagPatternList") {
                return Err(bad(format!(
                    "rule {n} selects tagStatus \"{status}\", which takes no tagPrefixList or \
                     tagPatternList (those lists select among tagged images: use tagStatus \
                     \"tagged\")"
                )));
            }
            status == "any"
        }
        Some("tagged") => {
            tag_lists(n, selection)?;
            false
        }
        _ => {
            return Err(bad(format!(
                "rule {n} needs selection.tagStatus of tagged, untagged or any"
            )))
        }
    };
    let count_type = selection
        .get("countType")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("rule {n} needs selection.countType")))?;
    if !COUNT_TYPES.contains(&count_type) {
        return Err(bad(format!(
            "rule {n} has selection.countType \"{count_type}\"; ECR knows {}",
            COUNT_TYPES.join(", ")
        )));
    }
    if let Some(unit) = selection.get("countUnit") {
        if unit.as_str() != Some("days") {
            return Err(bad(format!(
                "rule {n} has selection.countUnit {unit}; the only unit is \"days\""
            )));
        }
    }
    if count_type.starts_with("since") && selection.get("countUnit").is_none() {
        return Err(bad(format!(
            "rule {n} counts {count_type} and so needs selection.countUnit (\"days\")"
        )));
    }
    if count_type == "imageCountMoreThan" && selection.get("countUnit").is_some() {
        return Err(bad(format!(
            "rule {n} counts imageCountMoreThan, which takes no selection.countUnit"
        )));
    }
    if selection
        .get("countNumber")
        .and_then(Value::as_u64)
        .is_none_or(|c| c == 0)
    {
        return Err(bad(format!(
            "rule {n} needs a positive whole selection.countNumber"
        )));
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_example_and_the_shorthand() {
        assert!(check(EXAMPLE).is_ok());
        let shorthand = keep_newest(10);
        assert!(check(&shorthand.text).is_ok());
        assert_eq!(shorthand.value["rules"][2]["selection"]["countNumber"], 10);
        let kept = &shorthand.value["rules"][0]["selection"];
        assert_eq!(kept["tagPatternList"][0], "buildcache");
    }

    #[test]
    fn rejects_what_ecr_would() {
        let cases = [
            ("{", "not valid JSON"),
            ("{}", "\"rules\""),
            (r#"{"rules":[]}"#, "\"rules\""),
            (r#"{"rules":[{"selection":{}}]}"#, "rulePriority"),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "tagPrefixList",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1},"action":{"type":"expire"}}]}"#,
                "countUnit",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "highest",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"delete"}}]}"#,
                "type expire",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}"#,
                "takes no selection.countUnit",
            ),
            (
                r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":[],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#,
                "tagPrefixList",
            ),
        ];
        for (text, expected) in cases {
            let err = check(text).unwrap_err();
            assert!(err.rule.contains(expected), "{text}: {}", err.rule);
        }
    }

    /// A one-rule policy with this selection.
    fn rule(selection: &str) -> String {
        format!(
            r#"{{"rules":[{{"rulePriority":1,"selection":{selection},"action":{{"type":"expire"}}}}]}}"#
        )
    }

    #[test]
    fn tag_lists_follow_ecrs_rules() {
        let cases = [
            (
                r#"{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1}"#,
                "takes no tagPrefixList",
            ),
            (
                r#"{"tagStatus":"any","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#,
                "takes no tagPrefixList",
            ),
            (
                r#"{"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#,
                "both tagPrefixList and tagPatternList",
            ),
            (
                r#"{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],"countType":"imageCountMoreThan","countNumber":1}"#,
                "more than 4 wildcards",
            ),
            (
                r#"{"tagStatus":"tagged","tagPatternList":["ok", ""],"countType":"imageCountMoreThan","countNumber":1}"#,
                "non-empty strings",
            ),
            (
                r#"{"tagStatus":"tagged","tagPrefixList":[7],"countType":"imageCountMoreThan","countNumber":1}"#,
                "non-empty strings",
            ),
            (
                r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"weeks","countNumber":1}"#,
                "the only unit is \"days\"",
            ),
            (
                r#"{"tagStatus":"untagged","countType":"imageCountLessThan","countNumber":1}"#,
                "ECR knows",
            ),
        ];
        for (selection, expected) in cases {
            let err = check(&rule(selection)).unwrap_err();
            assert!(err.rule.contains(expected), "{selection}: {}", err.rule);
        }
        for good in [
            r#"{"tagStatus":"tagged","tagPatternList":["*a*b*c*d"],"countType":"imageCountMoreThan","countNumber":1}"#,
            r#"{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"sinceImagePushed","countUnit":"days","countNumber":90}"#,
        ] {
            assert!(check(&rule(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn reads_a_file_relative_to_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("policy.json"), EXAMPLE).unwrap();
        assert!(parse("policy.json", dir.path()).is_ok());
        for outside in ["../policy.json", "/etc/passwd"] {
            let err = parse(outside, dir.path()).unwrap_err();
            assert!(err.rule.contains("inside the workspace"), "{}", err.rule);
        }
        let err = parse("missing.json", dir.path()).unwrap_err();
        assert!(err.rule.contains("missing.json"), "{}", err.rule);
    }
}
