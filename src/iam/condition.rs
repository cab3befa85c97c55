//! IAM's string condition operators, as IAM applies them to a request's context: what the
//! `check` command needs to say which condition of a trust policy refuses a run.
//!
//! Rules (IAM's documentation, "Condition operators" and "Single-valued vs. multivalued context
//! keys"): values listed for one key are ORed; a key missing from the request fails every
//! operator but the negated ones and `...IfExists`; `ForAnyValue:` needs one request value to
//! match, `ForAllValues:` needs every request value to match (and passes with none);
//! `StringLike` matches `*` (any run of characters) and `?` (one character), case-sensitively;
//! `Null` tests whether the key is absent.

/// The outcome of one operator on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// An operator this evaluator does not know: the policy may admit or refuse.
    Unknown,
}

/// Applies `operator` (`StringEquals`, `ForAnyValue:StringLike`, `StringNotEqualsIfExists`,
/// `Null`, ...) with the policy's `expected` values to the request's `actual` values (`None`:
/// the key is not in the request).
pub fn apply(operator: &str, expected: &[String], actual: Option<&[String]>) -> Outcome {
    if operator == "Null" {
        let wants_absent = expected.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return pass_if(wants_absent == actual.is_none_or(<[String]>::is_empty));
    }
    let (set, rest) = match operator.split_once(':') {
        Some(("ForAnyValue", rest)) => (Some(false), rest),
        Some(("ForAllValues", rest)) => (Some(true), rest),
        Some(_) => return Outcome::Unknown,
        None => (None, operator),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let (negated, matches): (bool, fn(&str, &str) -> bool) = match base {
        "StringEquals" => (false, |e, a| e == a),
        "StringNotEquals" => (true, |e, a| e == a),
        "StringEqualsIgnoreCase" => (false, |e, a| e.eq_ignore_ascii_case(a)),
        "StringNotEqualsIgnoreCase" => (true, |e, a| e.eq_ignore_ascii_case(a)),
        "StringLike" => (false, wildcard),
        "StringNotLike" => (true, wildcard),
        _ => return Outcome::Unknown,
    };
    let values = actual.unwrap_or_default();
    let one = |value: &String| {
        let hit = expected.iter().any(|e| matches(e, value));
        hit != negated
    };
    match set {
        Some(true) => pass_if(values.iter().all(one)),
        Some(false) => pass_if(values.iter().any(one)),
        None if values.is_empty() => pass_if(if_exists || negated),
        None => pass_if(values.iter().any(one)),
    }
}

fn pass_if(condition: bool) -> Outcome {
    if condition {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

/// `StringLike`: `*` matches any run of characters (none included), `?` exactly one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_as_iam_reads_them() {
        assert!(wildcard("repo:o/r:*", "repo:o/r:ref:refs/heads/main"));
        assert!(wildcard(
            "repo:o/r:ref:refs/tags/v*",
            "repo:o/r:ref:refs/tags/v1.2.3"
        ));
        assert!(wildcard("v?.*", "v1.0"));
        assert!(!wildcard("v?.*", "v10.0"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("repo:o/r:*", "repo:o/other:ref:refs/heads/main"));
        assert!(!wildcard("Repo:o/r:*", "repo:o/r:x"), "case-sensitive");
        assert!(wildcard("a*b*c", "aXXbYYc"));
        assert!(!wildcard("a*b*c", "aXXbYY"));
    }

    #[test]
    fn single_valued_keys_or_the_listed_values() {
        let expected = v(&["repo:o/r:ref:refs/heads/main", "repo:o/r:environment:prod"]);
        let main = v(&["repo:o/r:ref:refs/heads/main"]);
        let dev = v(&["repo:o/r:ref:refs/heads/dev"]);
        assert_eq!(apply("StringEquals", &expected, Some(&main)), Outcome::Pass);
        assert_eq!(apply("StringEquals", &expected, Some(&dev)), Outcome::Fail);
        assert_eq!(apply("StringEquals", &expected, None), Outcome::Fail);
        assert_eq!(
            apply("StringNotEquals", &expected, Some(&dev)),
            Outcome::Pass
        );
        assert_eq!(apply("StringNotEquals", &expected, None), Outcome::Pass);
        assert_eq!(
            apply("StringEqualsIfExists", &expected, None),
            Outcome::Pass
        );
        let upper = v(&["REPO:O/R:REF:REFS/HEADS/MAIN"]);
        assert_eq!(
            apply("StringEquals", &expected, Some(&upper)),
            Outcome::Fail
        );
        assert_eq!(
            apply("StringEqualsIgnoreCase", &expected, Some(&upper)),
            Outcome::Pass
        );
    }

    #[test]
    fn set_operators_over_multivalued_keys() {
        let expected = v(&["sts.amazonaws.com"]);
        let both = v(&["sts.amazonaws.com", "other"]);
        assert_eq!(
            apply("ForAnyValue:StringEquals", &expected, Some(&both)),
            Outcome::Pass
        );
        assert_eq!(
            apply("ForAllValues:StringEquals", &expected, Some(&both)),
            Outcome::Fail
        );
        assert_eq!(
            apply("ForAllValues:StringEquals", &expected, None),
            Outcome::Pass
        );
        assert_eq!(
            apply("ForAnyValue:StringEquals", &expected, None),
            Outcome::Fail
        );
        assert_eq!(
            apply("ForAnyValue:StringLike", &v(&["sts.*"]), Some(&both)),
            Outcome::Pass
        );
    }

    #[test]
    fn null_and_unknown_operators() {
        let present = v(&["x"]);
        assert_eq!(apply("Null", &v(&["true"]), None), Outcome::Pass);
        assert_eq!(apply("Null", &v(&["true"]), Some(&present)), Outcome::Fail);
        assert_eq!(apply("Null", &v(&["false"]), Some(&present)), Outcome::Pass);
        assert_eq!(
            apply("DateGreaterThan", &present, Some(&present)),
            Outcome::Unknown
        );
        assert_eq!(
            apply("Other:StringEquals", &present, Some(&present)),
            Outcome::Unknown
        );
    }
}
