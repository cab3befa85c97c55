//! Getting AWS credentials: OIDC -> STS, its failures explained, retries with fresh tokens,
//! role chaining, the default chain, export to later steps, and the registry login check.

use support::{Fault, RunClaims, StandIns, ACCOUNT};

const DENIED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

#[test]
fn oidc_token_is_exchanged_and_every_secret_is_masked_and_hidden() {
    let s = StandIns::start();
    let result = s.action().run();
    result.expect_code(0);
    assert_eq!(s.oidc.requests(), 1);
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 1);
    let secrets = s.secrets();
    assert_eq!(
        secrets.len(),
        7,
        "token, bearer, 3 STS values, registry password, encoded"
    );
    result.assert_masked(&secrets);
    result.assert_no_secret_leaked(&secrets, true);
    assert!(result.env_file.is_empty(), "nothing exported unless asked");
}

#[test]
fn web_identity_is_unsigned_even_with_keys_in_the_environment() {
    let s = StandIns::start();
    let result = s
        .action()
        .env("AWS_ACCESS_KEY_ID", "AKIASTALEKEYFROMENV01")
        .env("AWS_SECRET_ACCESS_KEY", "stale-secret-from-an-earlier-step")
        .run();
    result.expect_code(0);
    let signed = s.proxy.signed();
    assert_eq!(
        signed[0],
        ("sts:AssumeRoleWithWebIdentity".to_string(), false)
    );
    assert!(signed[1..].iter().all(|(_, signed)| *signed), "{signed:?}");
}

#[test]
fn token_service_errors_are_retried_only_when_they_can_pass() {
    let s = StandIns::start();
    s.oidc.fail_next(&[503]);
    s.action().run().expect_code(0);
    assert_eq!(s.oidc.requests(), 2);

    let s = StandIns::start();
    s.oidc.fail_next(&[403]);
    let result = s.action().run();
    result.expect_code(1);
    assert_eq!(s.oidc.requests(), 1, "a 403 is final");
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Cannot get the OIDC token");
    assert!(message.contains("HTTP 403"), "{message}");
    assert!(s.proxy.calls().is_empty());
}

#[test]
fn audience_is_passed_to_the_token_service() {
    let s = StandIns::start();
    s.action()
        .input("audience", "my-aws-audience")
        .run()
        .expect_code(0);
    let token = &s.oidc.tokens()[0];
    let claims = ship_to_ecr::github::oidc::Claims::decode_unverified(token).unwrap();
    assert_eq!(claims.aud, ["my-aws-audience"]);
}

#[test]
fn missing_id_token_permission_shows_the_yaml_to_add() {
    let s = StandIns::start();
    let result = s
        .action()
        .remove_env("ACTIONS_ID_TOKEN_REQUEST_URL")
        .remove_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        .run();
    result.expect_code(1);
    let errors = result.errors();
    assert_eq!(errors.len(), 1, "{result}");
    let (title, message) = &errors[0];
    assert_eq!(title, "No OIDC token for this job");
    assert!(
        message.contains("permissions:\n  id-token: write"),
        "{message}"
    );
    assert!(
        message.contains("forks never get an OIDC token"),
        "{message}"
    );
    assert!(
        s.proxy.calls().is_empty(),
        "no AWS call: {:?}",
        s.proxy.calls()
    );
}

#[test]
fn access_denied_is_explained_with_the_claims_and_a_matching_condition() {
    let s = StandIns::with_claims(RunClaims {
        environment: Some("production".into()),
        ..RunClaims::default()
    });
    s.proxy.inject(Fault::sts(
        "AssumeRoleWithWebIdentity",
        1,
        403,
        "AccessDenied",
        DENIED,
    ));
    let result = s.action().run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Role assumption refused");
    for expected in [
        DENIED,
        "sub               repo:octo-org/web-app:environment:production",
        "aud               sts.amazonaws.com",
        "environment       production",
        "job_workflow_ref  octo-org/web-app/.github/workflows/ship.yml@refs/heads/main",
        &format!(
            "\"Federated\": \"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com\""
        ),
        "\"token.actions.githubusercontent.com:sub\": \"repo:octo-org/web-app:environment:production\"",
        "This job runs in the environment 'production'",
    ] {
        assert!(message.contains(expected), "missing {expected:?} in:\n{message}");
    }
    // A refusal is final: no retry, no later call.
    assert_eq!(s.proxy.calls(), ["sts:AssumeRoleWithWebIdentity"]);
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn immutable_subject_form_gets_its_own_hint() {
    let s = StandIns::with_claims(RunClaims {
        sub: Some("repo:octo-org@1001/web-app@2002:ref:refs/heads/main".into()),
        ..RunClaims::default()
    });
    s.proxy.inject(Fault::sts(
        "AssumeRoleWithWebIdentity",
        1,
        400,
        "InvalidIdentityToken",
        "No OpenIDConnect provider found in your account",
    ));
    let result = s.action().run();
    result.expect_code(1);
    let (_, message) = &result.errors()[0];
    assert!(message.contains("InvalidIdentityToken"), "{message}");
    assert!(message.contains("immutable form"), "{message}");
}

#[test]
fn throttling_is_retried_each_time_with_a_fresh_token() {
    let s = StandIns::start();
    s.proxy.inject(Fault::sts(
        "AssumeRoleWithWebIdentity",
        1,
        400,
        "Throttling",
        "Rate exceeded",
    ));
    s.proxy.inject(Fault::sts(
        "AssumeRoleWithWebIdentity",
        1,
        503,
        "ServiceUnavailable",
        "busy",
    ));
    let result = s.action().run();
    result.expect_code(0);
    let statuses: Vec<u16> = s
        .proxy
        .calls_with_status()
        .into_iter()
        .filter(|(a, _)| a == "sts:AssumeRoleWithWebIdentity")
        .map(|(_, status)| status)
        .collect();
    assert_eq!(statuses, [400, 503, 200]);
    let tokens = s.oidc.tokens();
    assert_eq!(tokens.len(), 3, "one fresh token per attempt");
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2]);
    assert_eq!(
        result.stdout.matches("::warning title=Retrying::").count(),
        2,
        "{result}"
    );
    result.assert_masked(&s.secrets());
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn retries_stop_within_the_bound() {
    let s = StandIns::start();
    s.proxy.inject(Fault::sts(
        "AssumeRoleWithWebIdentity",
        100,
        500,
        "InternalFailure",
        "down",
    ));
    let result = s.action().run();
    result.expect_code(1);
    let attempts = s.proxy.count("sts:AssumeRoleWithWebIdentity");
    assert!((2..=6).contains(&attempts), "{attempts} attempts");
    // The bound in time, as the log shows it: every retry is announced with its wait, and the
    // waits add up to no more than the minute the retries are allowed.
    let waits = announced_waits(&result.stdout);
    assert_eq!(waits.len(), attempts - 1, "{result}");
    let waited: std::time::Duration = waits.iter().sum();
    assert!(
        waited <= RETRY_BUDGET,
        "{waited:?} of waits announced: {result}"
    );
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "AssumeRoleWithWebIdentity failed");
    assert!(message.contains("InternalFailure"), "{message}");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

/// How long the action keeps retrying a failing call before it gives up (its retry budget).
const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The waits the `Retrying` warnings announce ("... trying again with a fresh token in 1.3s"),
/// each rounded up to the precision it is printed with, so that their sum is an upper bound.
fn announced_waits(log: &str) -> Vec<std::time::Duration> {
    log.lines()
        .filter(|l| l.starts_with("::warning title=Retrying::"))
        .map(|l| {
            let wait = l.rsplit_once(" in ").map(|(_, w)| w.trim()).unwrap_or(l);
            let split = wait
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or_else(|| panic!("a wait with a unit: {l}"));
            let (number, unit) = wait.split_at(split);
            let seconds_per_unit = match unit {
                "s" => 1.0,
                "ms" => 1e-3,
                "µs" => 1e-6,
                "ns" => 1e-9,
                _ => panic!("a wait with a unit: {l}"),
            };
            let number: f64 = number.parse().unwrap_or_else(|_| panic!("a wait: {l}"));
            std::time::Duration::from_secs_f64((number + 0.05) * seconds_per_unit)
        })
        .collect()
}

#[test]
fn chained_role_is_assumed_with_the_first_roles_credentials() {
    let s = StandIns::start();
    let target = format!("arn:aws:iam::{ACCOUNT}:role/deploy-target");
    let result = s
        .action()
        .input("chain-role-to-assume", &target)
        .input("role-duration-seconds", "7200")
        .run();
    result.expect_code(0);
    let calls = s.proxy.calls();
    assert_eq!(
        &calls[..2],
        ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"]
    );
    // Then, at once, the caller's identity and the registry's credentials.
    let mut next = calls[2..4].to_vec();
    next.sort();
    assert_eq!(next, ["ecr:GetAuthorizationToken", "sts:GetCallerIdentity"]);
    assert!(
        result
            .stdout
            .contains("limits chained role sessions to one hour"),
        "{result}"
    );
    assert!(result.summary.contains(&target), "{result}");
    let secrets = s.secrets();
    assert_eq!(secrets.len(), 10, "two sets of STS credentials");
    result.assert_masked(&secrets);
    result.assert_no_secret_leaked(&secrets, true);
}

#[test]
fn refused_chain_says_which_two_policies_must_agree() {
    let s = StandIns::start();
    s.proxy.inject(Fault::sts(
        "AssumeRole",
        1,
        403,
        "AccessDenied",
        "not authorized",
    ));
    let result = s
        .action()
        .input(
            "chain-role-to-assume",
            "arn:aws:iam::210987654321:role/other",
        )
        .run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Chained role assumption failed");
    assert!(
        message.contains("trust policy of arn:aws:iam::210987654321:role/other"),
        "{message}"
    );
    assert!(s.repositories().is_empty());
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn export_credentials_writes_them_for_later_steps_only_when_asked() {
    let s = StandIns::start();
    let result = s.action().input("export-credentials", "true").run();
    result.expect_code(0);
    let env = support::parse_file_commands(&result.env_file);
    let issued = s.proxy.issued_secrets();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], issued[0]);
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], issued[1]);
    assert_eq!(env["AWS_SESSION_TOKEN"], issued[2]);
    assert_eq!(env["AWS_REGION"], support::REGION);
    result.assert_masked(&issued);
    // Everything but the env file the user asked for stays clean.
    result.assert_no_secret_leaked(&s.secrets(), false);
}

#[test]
fn without_a_role_the_default_chain_is_used() {
    let s = StandIns::start();
    let result = s
        .action()
        .remove_input("role-to-assume")
        .env("AWS_ACCESS_KEY_ID", "AKIAEARLIERSTEPKEY01")
        .env("AWS_SECRET_ACCESS_KEY", "secret-from-an-earlier-step")
        .run();
    result.expect_code(0);
    assert_eq!(s.oidc.requests(), 0);
    assert_eq!(s.proxy.count("sts:AssumeRoleWithWebIdentity"), 0);
    assert_eq!(result.output("aws-account-id").as_deref(), Some(ACCOUNT));
    assert_eq!(s.repositories(), ["octo-org/web-app"]);
}

#[test]
fn without_a_role_or_keys_the_error_says_how_to_get_credentials() {
    let s = StandIns::start();
    let result = s.action().remove_input("role-to-assume").run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "No AWS credentials", "{result}");
    assert!(message.contains("Set role-to-assume"), "{message}");
}

#[test]
fn a_registry_url_that_does_not_answer_fails_clearly() {
    let s = StandIns::start();
    let nothing_there = support::ClosedPort::hold();
    let url = nothing_there.url();
    let result = s.action().input("registry-url", &url).run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Registry login failed");
    assert!(
        message.contains(&format!("cannot reach the registry at {url}")),
        "{message}"
    );
    assert!(message.contains("registry-url"), "{message}");
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn a_registry_that_refuses_the_credentials_fails_clearly() {
    let s = StandIns::start();
    let other = support::processes::registry(Some(("AWS", "another-password")));
    let result = s.action().input("registry-url", &other.url).run();
    result.expect_code(1);
    let (title, message) = &result.errors()[0];
    assert_eq!(title, "Registry login failed");
    assert!(
        message.contains("refused the ECR credentials (HTTP 401"),
        "{message}"
    );
    result.assert_no_secret_leaked(&s.secrets(), true);
}

#[test]
fn cli_style_run_prints_outputs_when_no_output_file() {
    let s = StandIns::start();
    let result = s.action().remove_env("GITHUB_OUTPUT").run();
    result.expect_code(0);
    assert!(
        result
            .stdout
            .contains(&format!("aws-account-id={ACCOUNT}\n")),
        "{result}"
    );
}
