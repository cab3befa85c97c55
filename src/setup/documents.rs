//! Policy documents compared as IAM reads them, the difference shown line by line, and the
//! workflow step `setup` prints at the end.

use serde_json::{Map, Value};

use super::Setup;

/// Whether two policy documents mean the same: key order, a single string against a list of
/// one, and the order of values in a list do not matter to IAM.
pub fn same(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// The document with every list of values sorted and every single value made a list of one;
/// statements keep their order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut sorted: Vec<(&String, &Value)> = map.iter().collect();
            sorted.sort_by(|x, y| x.0.cmp(y.0));
            let mut out = Map::new();
            for (key, value) in sorted {
                let value = match (key.as_str(), value) {
                    ("Version" | "Sid" | "Effect", v) => v.clone(),
                    ("Statement", Value::Object(_)) => Value::Array(vec![canonical(value)]),
                    ("Statement", Value::Array(items)) => {
                        Value::Array(items.iter().map(canonical).collect())
                    }
                    (_, Value::String(s)) => Value::Array(vec![Value::String(s.clone())]),
                    (_, Value::Array(items)) if items.iter().all(Value::is_string) => {
                        let mut items = items.clone();
                        items.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                        items.dedup();
                        Value::Array(items)
                    }
                    (_, other) => canonical(other),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The wanted document line by line, with the lines of `current` it drops (`-`) and those it
/// adds (`+`) in place: a longest common subsequence of the two pretty-printed canonical
/// documents. Empty when they mean the same.
pub fn diff(current: &Value, wanted: &Value) -> Vec<String> {
    let pretty = |v: &Value| -> Vec<String> {
        serde_json::to_string_pretty(&canonical(v))
            .expect("JSON serialises")
            .lines()
            .map(str::to_string)
            .collect()
    };
    if same(current, wanted) {
        return Vec::new();
    }
    let (a, b) = (pretty(current), pretty(wanted));
    // Policies are short: the quadratic table is a few thousand cells.
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || common[i][j + 1] >= common[i + 1][j]) {
            lines.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            lines.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    lines
}

/// The step to paste into a workflow, and the permissions it needs; with stages, each stage's
/// role first.
pub fn workflow_step(roles: &[(Option<&str>, String)], setup: &Setup) -> String {
    let deploy = setup
        .ecs_services
        .first()
        .map_or(String::new(), |(cluster, service)| {
            format!("\n          ecs-cluster: {cluster}\n          ecs-service: {service}")
        });
    let mut text = String::new();
    if roles.len() > 1 {
        text.push_str(
            "\nThe role of each stage (a job in the release environment assumes release's):\n",
        );
        for (stage, arn) in roles {
            text.push_str(&format!("  {:<8} {arn}\n", stage.unwrap_or("")));
        }
    }
    let repository = setup.roles[0].repositories[0].as_str();
    text.push_str(&format!(
        "\nThe workflow step, with the permissions it needs (see examples/workflows for whole files):\n\n\
         permissions:\n  id-token: write   # the OIDC token exchanged for the role's credentials\n  contents: read\n\n\
         jobs:\n  push:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      \
         - uses: ship-to-ecr/ship-to-ecr@v1\n        with:\n          aws-region: {}\n          \
         role-to-assume: {}\n          repository: {repository}{deploy}\n",
        setup.region, roles[0].1
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_equal_as_iam_reads_them() {
        let a = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ecr:PutImage", "Resource": ["b", "a"]}});
        let b = json!({"Statement": [{"Resource": ["a", "b"], "Action": ["ecr:PutImage"], "Effect": "Allow"}], "Version": "2012-10-17"});
        assert!(same(&a, &b));
        let c = json!({"Statement": [{"Resource": ["a"], "Action": ["ecr:PutImage"], "Effect": "Allow"}], "Version": "2012-10-17"});
        assert!(!same(&a, &c));
    }

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let current = json!({"Statement": [{"Action": ["ecr:PutImage", "ecr:DeleteRepository"]}]});
        let wanted = json!({"Statement": [{"Action": ["ecr:PutImage", "ecr:ListImages"]}]});
        let lines = diff(&current, &wanted);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with('-') && l.contains("ecr:DeleteRepository")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with('+') && l.contains("ecr:ListImages")),
            "{lines:?}"
        );
        // Unchanged lines are kept, as context.
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("  ") && l.contains("ecr:PutImage")),
            "{lines:?}"
        );
        assert!(diff(&current, &current).is_empty());
    }
}
