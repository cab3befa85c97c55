use super::*;

const PROVIDER: &str =
    "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";

fn subjects(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The token of a run of `repo` with `sub`, for `sts.amazonaws.com`.
fn token(repo: &str, sub: &str) -> Token {
    Token::default()
        .with("sub", sub)
        .with("aud", "sts.amazonaws.com")
        .with("repository", repo)
}

/// What `setup --branch main --environment production --tag 'v*'` writes.
fn written() -> Value {
    policy(
        PROVIDER,
        "sts.amazonaws.com",
        &subjects(&[
            "repo:octo/web:ref:refs/heads/main",
            "repo:octo/web:environment:production",
            "repo:octo/web:ref:refs/tags/v*",
        ]),
    )
}

/// The refusing condition's key, or "admitted".
fn verdict(policy: &Value, token: &Token) -> String {
    let evaluation = evaluate(policy, PROVIDER, token);
    if evaluation.admitted() {
        return "admitted".to_string();
    }
    let statement = &evaluation.statements[0];
    if let Some(why) = &statement.not_for_this {
        return why.clone();
    }
    statement
        .conditions
        .iter()
        .find(|c| c.outcome != Outcome::Pass)
        .map_or("denied".to_string(), |c| c.key.clone())
}

#[test]
fn the_written_policy_is_exact_and_uses_string_like_only_for_patterns() {
    let exact = policy(
        PROVIDER,
        "sts.amazonaws.com",
        &subjects(&["repo:octo/web:ref:refs/heads/main"]),
    );
    assert_eq!(
        exact["Statement"][0]["Condition"],
        json!({"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:octo/web:ref:refs/heads/main"
        }})
    );
    let patterns = written();
    let condition = &patterns["Statement"][0]["Condition"];
    assert_eq!(
        condition["StringLike"]["token.actions.githubusercontent.com:sub"][2],
        "repo:octo/web:ref:refs/tags/v*"
    );
    assert_eq!(
        condition["StringEquals"]["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
}

#[test]
fn the_runs_the_policy_allows_are_admitted() {
    let policy = written();
    for sub in [
        "repo:octo/web:ref:refs/heads/main",
        "repo:octo/web:environment:production",
        "repo:octo/web:ref:refs/tags/v1.2.3",
    ] {
        assert_eq!(
            verdict(&policy, &token("octo/web", sub)),
            "admitted",
            "{sub}"
        );
    }
}

#[test]
fn the_runs_it_does_not_allow_are_refused_by_the_condition_that_fails() {
    let policy = written();
    let sub = "token.actions.githubusercontent.com:sub";
    let aud = "token.actions.githubusercontent.com:aud";
    let cases = [
        (
            "another repository",
            token("octo/api", "repo:octo/api:ref:refs/heads/main"),
            sub,
        ),
        (
            "a pull request",
            token("octo/web", "repo:octo/web:pull_request"),
            sub,
        ),
        (
            "another branch",
            token("octo/web", "repo:octo/web:ref:refs/heads/dev"),
            sub,
        ),
        (
            "another environment",
            token("octo/web", "repo:octo/web:environment:staging"),
            sub,
        ),
        (
            "a tag outside the pattern",
            token("octo/web", "repo:octo/web:ref:refs/tags/release-1"),
            sub,
        ),
        (
            "the immutable @ID form",
            token("octo/web", "repo:octo@1001/web@2002:ref:refs/heads/main"),
            sub,
        ),
        (
            "another case",
            token("octo/web", "repo:Octo/Web:ref:refs/heads/main"),
            sub,
        ),
        (
            "another audience",
            Token::default()
                .with("sub", "repo:octo/web:ref:refs/heads/main")
                .with("aud", "sigstore"),
            aud,
        ),
        (
            "no audience",
            Token::default().with("sub", "repo:octo/web:ref:refs/heads/main"),
            aud,
        ),
    ];
    for (what, token, key) in cases {
        assert_eq!(verdict(&policy, &token), key, "{what}");
    }
}

#[test]
fn an_environment_the_policy_requires_but_the_job_lacks_is_refused() {
    let only_production = policy(
        PROVIDER,
        "sts.amazonaws.com",
        &subjects(&["repo:octo/web:environment:production"]),
    );
    let no_environment = token("octo/web", "repo:octo/web:ref:refs/heads/main");
    assert_eq!(
        verdict(&only_production, &no_environment),
        "token.actions.githubusercontent.com:sub"
    );
}

#[test]
fn a_reusable_workflows_ref_is_a_condition_of_its_own() {
    let mut policy = policy(PROVIDER, "sts.amazonaws.com", &subjects(&["repo:octo/*"]));
    policy["Statement"][0]["Condition"]["StringEquals"]
        ["token.actions.githubusercontent.com:job_workflow_ref"] =
        json!("octo/shared/.github/workflows/push.yml@refs/heads/main");
    let caller = token("octo/web", "repo:octo/web:ref:refs/heads/main");
    let right = caller.clone().with(
        "job_workflow_ref",
        "octo/shared/.github/workflows/push.yml@refs/heads/main",
    );
    let wrong = caller.clone().with(
        "job_workflow_ref",
        "octo/shared/.github/workflows/push.yml@refs/heads/dev",
    );
    assert_eq!(verdict(&policy, &right), "admitted");
    assert_eq!(
        verdict(&policy, &wrong),
        "token.actions.githubusercontent.com:job_workflow_ref"
    );
    assert_eq!(
        verdict(&policy, &caller),
        "token.actions.githubusercontent.com:job_workflow_ref"
    );
}

#[test]
fn another_provider_or_action_is_not_this_tokens_statement_and_a_deny_wins() {
    let mut other = written();
    other["Statement"][0]["Principal"]["Federated"] =
        json!("arn:aws:iam::999999999999:oidc-provider/token.actions.githubusercontent.com");
    let main = token("octo/web", "repo:octo/web:ref:refs/heads/main");
    assert!(verdict(&other, &main).contains("is not the provider"));
    let mut action = written();
    action["Statement"][0]["Action"] = json!("sts:AssumeRole");
    assert!(verdict(&action, &main).contains("is not sts:AssumeRoleWithWebIdentity"));
    let mut denied = written();
    denied["Statement"].as_array_mut().unwrap().push(json!({
        "Effect": "Deny",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:*",
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "*:ref:refs/heads/main"}}
    }));
    assert!(!evaluate(&denied, PROVIDER, &main).admitted());
    let production = token("octo/web", "repo:octo/web:environment:production");
    assert!(evaluate(&denied, PROVIDER, &production).admitted());
}

#[test]
fn condition_keys_are_case_insensitive() {
    let mut policy = written();
    let condition = policy["Statement"][0]["Condition"]["StringEquals"]
        .as_object_mut()
        .unwrap();
    let aud = condition
        .remove("token.actions.githubusercontent.com:aud")
        .unwrap();
    condition.insert("Token.Actions.GitHubUserContent.com:AUD".into(), aud);
    let main = token("octo/web", "repo:octo/web:ref:refs/heads/main");
    assert_eq!(verdict(&policy, &main), "admitted");
}
