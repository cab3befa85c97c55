//! The GitHub section: the API token, the pull-request comment, the deployment's environment.

use super::rules::values;
use super::{Errors, GitHubPlan, RawInputs};
use crate::error::InputError;
use crate::inputs::raw::present;

/// GitHub's limit on an environment's name.
const MOST_ENVIRONMENT_CHARS: usize = 255;

pub(super) fn parse(raw: &RawInputs, errors: &mut Errors) -> Option<GitHubPlan> {
    let pr_comment = errors.optional(&raw.pr_comment, None, |v| {
        values::boolean("pr-comment", v).map(Some)
    });
    let deployment_environment = errors.optional(&raw.deployment_environment, None, |v| {
        environment("deployment-environment", v).map(Some)
    });
    Some(GitHubPlan {
        token: present(&raw.github_token).map(str::to_string),
        pr_comment: pr_comment?,
        deployment_environment: deployment_environment?,
    })
}

/// An environment's name as GitHub accepts it: one line of at most 255 characters.
fn environment(input: &'static str, value: &str) -> Result<String, InputError> {
    let bad = |rule: &str| Err(InputError::new(input, rule, "production"));
    if value.chars().count() > MOST_ENVIRONMENT_CHARS {
        return bad("must be at most 255 characters (GitHub's limit for an environment's name)");
    }
    if value.chars().any(char::is_control) {
        return bad("must be one line, with no control characters");
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::raw::vars;

    fn parse_vars(pairs: &[(&str, &str)]) -> (Option<GitHubPlan>, Vec<InputError>) {
        let raw = RawInputs::from_vars(vars(pairs)).unwrap();
        let mut errors = Errors::default();
        let plan = parse(&raw, &mut errors);
        (plan, errors.0)
    }

    #[test]
    fn an_empty_token_turns_the_api_off_and_unset_switches_stay_unset() {
        let (plan, errors) = parse_vars(&[("INPUT_GITHUB-TOKEN", "  ")]);
        let plan = plan.unwrap();
        assert!(errors.is_empty());
        assert_eq!(plan.token, None);
        assert_eq!(plan.pr_comment, None);
        assert_eq!(plan.deployment_environment, None);
    }

    #[test]
    fn the_token_is_never_in_the_plans_debug_form() {
        let (plan, _) = parse_vars(&[
            ("INPUT_GITHUB-TOKEN", "ghs_secretsecretsecret"),
            ("INPUT_PR-COMMENT", "false"),
            ("INPUT_DEPLOYMENT-ENVIRONMENT", "staging"),
        ]);
        let plan = plan.unwrap();
        assert_eq!(plan.token.as_deref(), Some("ghs_secretsecretsecret"));
        assert_eq!(plan.pr_comment, Some(false));
        assert_eq!(plan.deployment_environment.as_deref(), Some("staging"));
        assert!(!format!("{plan:?}").contains("ghs_"));
    }

    #[test]
    fn bad_switches_and_names_are_refused_with_an_example() {
        let long = "e".repeat(256);
        let (plan, errors) = parse_vars(&[
            ("INPUT_PR-COMMENT", "sometimes"),
            ("INPUT_DEPLOYMENT-ENVIRONMENT", &long),
        ]);
        assert!(plan.is_none());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].input, "pr-comment");
        assert_eq!(errors[1].input, "deployment-environment");
        assert_eq!(errors[1].example, "production");
        let (_, errors) = parse_vars(&[("INPUT_DEPLOYMENT-ENVIRONMENT", "prod\u{7}")]);
        assert!(errors[0].rule.contains("one line"), "{errors:?}");
    }
}
