//! `ship-to-ecr setup` and `ship-to-ecr check` end to end: the real binary with an
//! administrator's keys (the default chain) against moto's IAM, STS, ECR and ECS behind the
//! recording proxy, read back with plain calls.

use serde_json::{json, Value};
use support::{block_on, ActionResult, ActionRun, StandIns, ACCOUNT, REGION};

const REPO: &str = "octo-org/web-app";
const ROLE: &str = "github-octo-org-web-app-ecr";
const ISSUER: &str = "token.actions.githubusercontent.com";

/// The binary run as an administrator would, with `args`.
fn admin(s: &StandIns, args: &[&str]) -> ActionResult {
    let mut run = ActionRun::new()
        .env("AWS_ENDPOINT_URL", s.proxy.url())
        .env("AWS_ACCESS_KEY_ID", "AKIAADMINADMINADMIN0")
        .env("AWS_SECRET_ACCESS_KEY", "admin-secret")
        .env("AWS_REGION", REGION);
    for arg in args {
        run = run.arg(arg);
    }
    run.run()
}

fn setup(s: &StandIns, more: &[&str]) -> ActionResult {
    let mut args = vec!["setup", "--github-repo", REPO, "--repository", REPO];
    args.extend_from_slice(more);
    admin(s, &args)
}

/// A policy document as IAM returns it: URL-encoded (moto may send it plain).
fn decoded(text: &str) -> Value {
    let text = percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&text).expect("a JSON policy")
}

fn trust_policy(s: &StandIns, role: &str) -> Value {
    let answer = block_on(s.iam().get_role().role_name(role).send()).expect("the role");
    decoded(
        answer
            .role()
            .unwrap()
            .assume_role_policy_document()
            .unwrap(),
    )
}

fn inline_policy(s: &StandIns, role: &str) -> Value {
    let answer = block_on(
        s.iam()
            .get_role_policy()
            .role_name(role)
            .policy_name("ship-to-ecr")
            .send(),
    )
    .expect("the inline policy");
    decoded(answer.policy_document())
}

fn repository_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

#[test]
fn setup_makes_the_provider_the_role_its_policy_and_the_repositories_then_changes_nothing() {
    let s = StandIns::start();
    let flags = [
        "--repository",
        "octo-org/api",
        "--branch",
        "main",
        "--environment",
        "production",
        "--keep-images",
        "30",
    ];
    let first = setup(&s, &flags);
    first.expect_code(0);

    // The provider, for the audience.
    let providers = block_on(s.iam().list_open_id_connect_providers().send()).unwrap();
    let provider_arn = providers.open_id_connect_provider_list()[0]
        .arn()
        .unwrap()
        .to_string();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}")
    );
    let provider = block_on(
        s.iam()
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(&provider_arn)
            .send(),
    )
    .unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);

    // The trust policy admits exactly main and the production environment.
    assert_eq!(
        trust_policy(&s, ROLE),
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{ISSUER}:aud"): "sts.amazonaws.com",
                    format!("{ISSUER}:sub"): [
                        format!("repo:{REPO}:ref:refs/heads/main"),
                        format!("repo:{REPO}:environment:production")
                    ]
                }}
            }]
        })
    );

    // The inline policy: sign-in on *, exactly the push and lifecycle actions on the two
    // repositories, nothing else.
    let policy = inline_policy(&s, ROLE);
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{policy}");
    assert_eq!(statements[0]["Action"], "ecr:GetAuthorizationToken");
    assert_eq!(statements[0]["Resource"], "*");
    assert_eq!(
        statements[1]["Resource"],
        json!([repository_arn(REPO), repository_arn("octo-org/api")])
    );
    let actions: Vec<&str> = statements[1]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"ecr:PutImage") && actions.contains(&"ecr:PutLifecyclePolicy"),
        "{actions:?}"
    );
    assert!(!actions.contains(&"ecr:CreateRepository"), "{actions:?}");
    assert!(
        actions
            .iter()
            .all(|a| a.starts_with("ecr:") && !a.contains('*')),
        "{actions:?}"
    );

    let mut repositories = s.repositories();
    repositories.sort();
    assert_eq!(repositories, ["octo-org/api", REPO]);
    assert!(
        first.stdout.contains(&format!(
            "role-to-assume: arn:aws:iam::{ACCOUNT}:role/{ROLE}"
        )),
        "{first}"
    );
    assert!(first.stdout.contains("id-token: write"));

    // A second run reads, changes nothing, and says so.
    let writes = s.proxy.writes().len();
    let second = setup(&s, &flags);
    second.expect_code(0);
    assert!(second.stdout.contains("Nothing to change"), "{second}");
    assert_eq!(
        s.proxy.writes().len(),
        writes,
        "{:?}",
        &s.proxy.writes()[writes..]
    );
}

#[test]
fn a_dry_run_prints_the_documents_and_calls_no_write_api() {
    let s = StandIns::start();
    let result = setup(&s, &["--branch", "main", "--tag", "v*", "--dry-run"]);
    result.expect_code(0);
    assert!(
        result
            .stdout
            .contains("would create the role github-octo-org-web-app-ecr"),
        "{result}"
    );
    assert!(result
        .stdout
        .contains("would create the repository octo-org/web-app"));
    assert!(
        result.stdout.contains("\"StringLike\""),
        "a tag pattern needs StringLike: {result}"
    );
    assert!(s.proxy.writes().is_empty(), "{:?}", s.proxy.writes());
    assert!(block_on(s.iam().get_role().role_name(ROLE).send()).is_err());
}

#[test]
fn a_trust_policy_that_differs_is_updated_and_the_difference_shown() {
    let s = StandIns::start();
    setup(&s, &["--branch", "main"]).expect_code(0);
    let dry = setup(
        &s,
        &["--branch", "main", "--branch", "release", "--dry-run"],
    );
    dry.expect_code(0);
    let release = format!("\"repo:{REPO}:ref:refs/heads/release\"");
    assert!(
        dry.stdout
            .lines()
            .any(|l| l.starts_with("+ ") && l.contains(&release)),
        "{dry}"
    );
    let result = setup(&s, &["--branch", "main", "--branch", "release"]);
    result.expect_code(0);
    assert!(
        result.stdout.contains("Updated the trust policy"),
        "{result}"
    );
    let subjects = &trust_policy(&s, ROLE)["Statement"][0]["Condition"]["StringEquals"]
        [format!("{ISSUER}:sub")];
    assert_eq!(
        subjects,
        &json!([
            format!("repo:{REPO}:ref:refs/heads/main"),
            format!("repo:{REPO}:ref:refs/heads/release")
        ])
    );
}

#[test]
fn a_role_open_to_every_ref_needs_any_ref_and_bad_flags_call_nothing() {
    let s = StandIns::start();
    let open = setup(&s, &[]);
    open.expect_code(2);
    assert!(open.stderr.contains("--any-ref"), "{open}");
    let bad = setup(
        &s,
        &["--branch", "main", "--role-name", "no spaces allowed"],
    );
    bad.expect_code(2);
    assert!(bad.stderr.contains("--role-name"), "{bad}");
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    let any = setup(&s, &["--any-ref"]);
    any.expect_code(0);
    let subject =
        &trust_policy(&s, ROLE)["Statement"][0]["Condition"]["StringLike"][format!("{ISSUER}:sub")];
    assert_eq!(subject, &json!(format!("repo:{REPO}:*")));
}

#[test]
fn a_deploy_grants_the_service_and_pass_role_on_the_tasks_roles_only() {
    let s = StandIns::start();
    support::ecs::create_service(&s.ecs(), "web:1");
    setup(&s, &["--branch", "main", "--ecs-service", "production/web"]).expect_code(0);
    let policy = inline_policy(&s, ROLE);
    let pass = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Action"] == "iam:PassRole")
        .expect("PassRole");
    assert_eq!(
        pass["Resource"],
        json!([
            format!("arn:aws:iam::{ACCOUNT}:role/web-exec"),
            format!("arn:aws:iam::{ACCOUNT}:role/web-task")
        ])
    );
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
}

fn check(s: &StandIns, more: &[&str]) -> ActionResult {
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let mut args = vec!["check", "--role-arn", &role, "--github-repo", REPO];
    args.extend_from_slice(more);
    admin(s, &args)
}

#[test]
fn check_admits_the_runs_the_trust_policy_allows_and_names_the_condition_that_refuses_others() {
    let s = StandIns::start();
    setup(&s, &["--branch", "main", "--environment", "production"]).expect_code(0);
    let writes = s.proxy.writes().len();

    let main = check(&s, &["--ref", "refs/heads/main", "--repository", REPO]);
    main.expect_code(0);
    assert!(main.stdout.contains("Admitted"), "{main}");
    assert!(main.stdout.contains("All checks passed"), "{main}");
    check(
        &s,
        &["--ref", "refs/heads/dev", "--environment", "production"],
    )
    .expect_code(0);

    for (what, args) in [
        ("another branch", vec!["--ref", "refs/heads/dev"]),
        ("another environment", vec!["--environment", "staging"]),
        (
            "a pull request",
            vec!["--event", "pull_request", "--ref", "refs/pull/7/merge"],
        ),
        (
            "the immutable subject",
            vec!["--owner-id", "1001", "--repo-id", "2002"],
        ),
    ] {
        let refused = check(&s, &args);
        refused.expect_code(1);
        let (title, message) = refused.errors()[0].clone();
        assert_eq!(title, "Check failed", "{what}");
        assert!(
            message.contains(&format!("StringEquals {ISSUER}:sub")),
            "{what}: {message}"
        );
        assert!(refused.stdout.contains("[FAIL]"), "{what}: {refused}");
    }
    let audience = check(&s, &["--audience", "sigstore"]);
    audience.expect_code(1);
    let message = &audience.errors()[0].1;
    assert!(
        message.contains("does not list the audience sigstore"),
        "{message}"
    );
    assert!(message.contains(&format!("{ISSUER}:aud")), "{message}");

    // The role may not push to a repository setup was not asked for.
    let other = check(&s, &["--repository", "octo-org/other"]);
    other.expect_code(1);
    assert!(
        other.errors()[0].1.contains("ecr:PutImage on arn:aws:ecr"),
        "{other}"
    );
    // A longer session than the role allows.
    let long = check(&s, &["--role-duration-seconds", "7200"]);
    long.expect_code(1);
    assert!(long.errors()[0].1.contains("MaxSessionDuration"), "{long}");
    assert_eq!(s.proxy.writes().len(), writes, "check only reads");
}

/// The template's strings with the pseudo-parameters of this account put in, and `Fn::Sub`
/// unwrapped: what the live set-up writes.
fn resolved(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => {
            let text = map["Fn::Sub"].as_str().unwrap();
            json!(text
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::AccountId}", ACCOUNT)
                .replace("${AWS::Region}", REGION))
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), resolved(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(resolved).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_templates_hold_the_same_resources_as_the_live_set_up_and_call_nothing() {
    let s = StandIns::start();
    let flags = [
        "--repository",
        "octo-org/api",
        "--branch",
        "main",
        "--tag",
        "v*",
        "--keep-images",
        "30",
    ];
    let mut with_format = flags.to_vec();
    with_format.extend(["--format", "cloudformation"]);
    let cloudformation = setup(&s, &with_format);
    cloudformation.expect_code(0);
    with_format.pop();
    with_format.push("terraform");
    let terraform = setup(&s, &with_format);
    terraform.expect_code(0);
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());

    let template: Value =
        serde_json::from_str(&cloudformation.stdout).expect("the template is JSON");
    let resources = template["Resources"].as_object().unwrap();
    let types: Vec<&str> = resources
        .values()
        .map(|r| r["Type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "AWS::IAM::OIDCProvider",
            "AWS::IAM::Role",
            "AWS::ECR::Repository",
            "AWS::ECR::Repository"
        ]
    );
    assert_eq!(
        resources["Repository1"]["Properties"]["RepositoryName"],
        "octo-org/api"
    );

    // Set up live, the role holds exactly the template's documents.
    setup(&s, &flags).expect_code(0);
    let role = &resources["Role0"]["Properties"];
    assert_eq!(role["RoleName"], ROLE);
    assert_eq!(
        resolved(&role["AssumeRolePolicyDocument"]),
        trust_policy(&s, ROLE)
    );
    assert_eq!(
        resolved(&role["Policies"][0]["PolicyDocument"]),
        inline_policy(&s, ROLE)
    );

    // The Terraform is HCL with the same resources.
    let body: hcl::Body = hcl::from_str(&terraform.stdout).expect("the Terraform is HCL");
    let mut blocks: Vec<String> = body
        .blocks()
        .filter(|b| b.identifier() == "resource")
        .map(|b| b.labels()[0].as_str().to_string())
        .collect();
    blocks.sort();
    assert_eq!(
        blocks,
        [
            "aws_ecr_lifecycle_policy",
            "aws_ecr_lifecycle_policy",
            "aws_ecr_repository",
            "aws_ecr_repository",
            "aws_iam_openid_connect_provider",
            "aws_iam_role",
            "aws_iam_role_policy"
        ]
    );
    assert!(terraform
        .stdout
        .contains("${data.aws_caller_identity.current.account_id}"));
}

#[test]
fn stages_make_a_role_and_a_repository_per_stage_with_the_seeds_split() {
    let s = StandIns::start();
    let reader = "arn:aws:iam::210987654321:root";
    let staged = || {
        admin(
            &s,
            &[
                "setup",
                "--github-repo",
                REPO,
                "--repository",
                "team/web",
                "--stages",
                "dev,main,release",
                "--pull-principal",
                reader,
            ],
        )
    };
    staged().expect_code(0);
    let mut repositories = s.repositories();
    repositories.sort();
    assert_eq!(
        repositories,
        ["team/web-dev", "team/web-main", "team/web-release"]
    );
    let release = block_on(
        s.ecr()
            .describe_repositories()
            .repository_names("team/web-release")
            .send(),
    )
    .unwrap();
    assert_eq!(
        release.repositories()[0]
            .image_tag_mutability()
            .unwrap()
            .as_str(),
        "IMMUTABLE"
    );

    for (stage, subjects) in [
        (
            "dev",
            json!([
                format!("repo:{REPO}:pull_request"),
                format!("repo:{REPO}:ref:refs/heads/*")
            ]),
        ),
        ("main", json!(format!("repo:{REPO}:ref:refs/heads/main"))),
        ("release", json!(format!("repo:{REPO}:environment:release"))),
    ] {
        let role = format!("{ROLE}-{stage}");
        let condition = &trust_policy(&s, &role)["Statement"][0]["Condition"];
        let sub = condition["StringEquals"]
            .get(format!("{ISSUER}:sub"))
            .or_else(|| condition["StringLike"].get(format!("{ISSUER}:sub")))
            .unwrap();
        assert_eq!(sub, &subjects, "{stage}");
        // Each role writes its own stage's repository and no other.
        let policy = inline_policy(&s, &role);
        assert_eq!(
            policy["Statement"][1]["Resource"],
            json!([repository_arn(&format!("team/web-{stage}"))]),
            "{stage}"
        );
    }
    let text = block_on(
        s.ecr()
            .get_repository_policy()
            .repository_name("team/web-release")
            .send(),
    )
    .unwrap()
    .policy_text()
    .unwrap()
    .to_string();
    let policy: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(policy["Statement"][0]["Principal"]["AWS"], json!([reader]));
    assert!(block_on(
        s.ecr()
            .get_repository_policy()
            .repository_name("team/web-main")
            .send()
    )
    .is_err());
    // A second run changes nothing.
    let writes = s.proxy.writes().len();
    staged().expect_code(0);
    assert_eq!(
        s.proxy.writes().len(),
        writes,
        "{:?}",
        &s.proxy.writes()[writes..]
    );
}

/// IAM's answer to a simulation of `actions`, each with its decision.
fn simulation(decisions: &[(&str, &str)]) -> String {
    let members: String = decisions
        .iter()
        .map(|(action, decision)| {
            format!("<member><EvalActionName>{action}</EvalActionName><EvalDecision>{decision}</EvalDecision><EvalResourceName>*</EvalResourceName><MatchedStatements/><MissingContextValues/></member>")
        })
        .collect();
    format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    )
}

#[test]
fn check_takes_iams_simulation_where_it_is_allowed_over_its_own_reading() {
    let s = StandIns::start();
    setup(&s, &["--branch", "main"]).expect_code(0);
    // The policy allows every call, but IAM's simulation (a permissions boundary, say) refuses
    // ecr:PutImage: the simulation wins.
    let repository_actions: Vec<(&str, &str)> = ship_to_ecr::iam::permissions::REPOSITORY_ACTIONS
        .iter()
        .map(|a| {
            (
                *a,
                if *a == "ecr:PutImage" {
                    "implicitDeny"
                } else {
                    "allowed"
                },
            )
        })
        .collect();
    s.proxy.inject(support::Fault::iam_answer(
        "SimulatePrincipalPolicy",
        1,
        &simulation(&[("ecr:GetAuthorizationToken", "allowed")]),
    ));
    s.proxy.inject(support::Fault::iam_answer(
        "SimulatePrincipalPolicy",
        1,
        &simulation(&repository_actions),
    ));
    let result = check(&s, &["--repository", REPO]);
    result.expect_code(1);
    assert!(
        result.stdout.contains("Permissions as IAM simulates them"),
        "{result}"
    );
    let message = &result.errors()[0].1;
    assert!(message.contains("ecr:PutImage on arn:aws:ecr"), "{message}");
    assert!(message.contains("simulated: implicitDeny"), "{message}");
    assert!(!message.contains("ecr:BatchGetImage"), "{message}");
    assert_eq!(s.proxy.count("iam:SimulatePrincipalPolicy"), 2);

    // Where the simulation fails (moto has none), the policies are read: they allow it all.
    let read = check(&s, &["--repository", REPO]);
    read.expect_code(0);
    assert!(
        read.stdout.contains("reading the role's policies instead"),
        "{read}"
    );
}

/// A role of `trust`'s conditions for GitHub's provider, made by hand as a console user might.
fn role_trusting(s: &StandIns, name: &str, conditions: Value) {
    let document = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": conditions
        }]
    });
    block_on(
        s.iam()
            .create_role()
            .role_name(name)
            .assume_role_policy_document(document.to_string())
            .send(),
    )
    .expect("the role");
}

fn check_role(s: &StandIns, role: &str) -> ActionResult {
    let role = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
    admin(s, &["check", "--role-arn", &role, "--github-repo", REPO])
}

#[test]
fn check_fails_a_trust_policy_open_to_every_repository_or_audience() {
    let s = StandIns::start();
    setup(&s, &["--branch", "main"]).expect_code(0);
    let made = check(&s, &[]);
    made.expect_code(0);
    assert!(
        made.stdout
            .contains("Closed: a token of an unrelated repository"),
        "{made}"
    );
    assert!(made.stdout.contains("All checks passed"), "{made}");

    let aud = format!("{ISSUER}:aud");
    let sub = format!("{ISSUER}:sub");
    role_trusting(
        &s,
        "only-aud",
        json!({"StringEquals": {&aud: "sts.amazonaws.com"}}),
    );
    role_trusting(
        &s,
        "any-repo",
        json!({"StringEquals": {&aud: "sts.amazonaws.com"}, "StringLike": {&sub: "repo:*"}}),
    );
    role_trusting(
        &s,
        "no-aud",
        json!({"StringEquals": {&sub: format!("repo:{REPO}:ref:refs/heads/main")}}),
    );
    let writes = s.proxy.writes().len();
    for (role, missing) in [
        (
            "only-aud",
            format!("It needs the condition {sub} restricted to this repository"),
        ),
        (
            "any-repo",
            format!("It needs the condition {sub} restricted to this repository"),
        ),
        (
            "no-aud",
            format!("It needs the condition StringEquals {aud}: sts.amazonaws.com"),
        ),
    ] {
        let result = check_role(&s, role);
        result.expect_code(1);
        assert!(result.stdout.contains("Admitted"), "{role}: {result}");
        assert!(
            !result.stdout.contains("All checks passed"),
            "{role}: {result}"
        );
        let (title, message) = result.errors()[0].clone();
        assert_eq!(title, "Check failed", "{role}");
        assert!(message.contains(&missing), "{role}: {message}");
        // The statement that fixes it admits this repository's run, for the audience.
        let fix = format!("\"{sub}\":\"repo:{REPO}:ref:refs/heads/main\"");
        assert!(message.contains(&fix), "{role}: {message}");
        assert!(
            message.contains(&format!("\"{aud}\":\"sts.amazonaws.com\"")),
            "{message}"
        );
    }
    assert_eq!(s.proxy.writes().len(), writes, "check only reads");
}

#[test]
fn pull_requests_sharing_a_role_with_a_branch_are_warned_of() {
    let s = StandIns::start();
    let shared = setup(&s, &["--branch", "main", "--pull-requests"]);
    shared.expect_code(0);
    let warnings = shared.annotations("warning");
    assert_eq!(warnings.len(), 1, "{shared}");
    assert_eq!(warnings[0].0, "Pull requests share the role");
    assert!(
        warnings[0].1.contains("--stages dev,main,release"),
        "{shared}"
    );
    let checked = check(&s, &[]);
    checked.expect_code(0);
    let warnings = checked.annotations("warning");
    assert_eq!(warnings.len(), 1, "{checked}");
    assert!(
        warnings[0]
            .1
            .contains(&format!("the runs of repo:{REPO}:ref:refs/heads/main")),
        "{checked}"
    );
    assert!(warnings[0].1.contains("--stages"), "{checked}");

    // A role of its own for main: no warning; nor from the stages' split.
    let s = StandIns::start();
    let alone = setup(&s, &["--branch", "main"]);
    assert!(alone.annotations("warning").is_empty(), "{alone}");
    assert!(check(&s, &[]).annotations("warning").is_empty());
    let staged = setup(&s, &["--stages", "dev,main,release"]);
    staged.expect_code(0);
    assert!(staged.annotations("warning").is_empty(), "{staged}");
}

#[test]
fn patterns_that_match_every_ref_need_any_ref_and_services_are_names() {
    let s = StandIns::start();
    for (flag, value) in [
        ("--branch", "*"),
        ("--branch", "**"),
        ("--branch", "*/*"),
        ("--tag", "*"),
        ("--environment", "?*"),
    ] {
        let open = setup(&s, &[flag, value]);
        open.expect_code(2);
        assert!(
            open.stderr
                .contains(&format!("{flag}: '{value}' matches every")),
            "{open}"
        );
        assert!(open.stderr.contains("--any-ref"), "{open}");
    }
    for service in ["production/*", "*/*", "prod?/web", "production/web*"] {
        let pattern = setup(&s, &["--branch", "main", "--ecs-service", service]);
        pattern.expect_code(2);
        assert!(pattern.stderr.contains("names, not patterns"), "{pattern}");
    }
    assert!(s.proxy.calls().is_empty(), "{:?}", s.proxy.calls());
    // Said on purpose, every branch is admitted (and only branches).
    setup(&s, &["--branch", "*", "--any-ref"]).expect_code(0);
    let subject =
        &trust_policy(&s, ROLE)["Statement"][0]["Condition"]["StringLike"][format!("{ISSUER}:sub")];
    assert_eq!(subject, &json!(format!("repo:{REPO}:ref:refs/heads/*")));
    // A pattern with a fixed part needs nothing more.
    setup(&s, &["--branch", "release/*"]).expect_code(0);
}

/// The Terraform's trust policy of the first role, evaluated as Terraform would, with the
/// data sources' values put in.
fn terraform_trust_policy(text: &str) -> Value {
    use hcl::eval::Evaluate;
    let body: hcl::Body = hcl::from_str(text).expect("the Terraform is HCL");
    let role = body
        .blocks()
        .find(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "aws_iam_role")
        .expect("a role");
    let policy = role
        .body()
        .attributes()
        .find(|a| a.key() == "assume_role_policy")
        .expect("its trust policy");
    let hcl::Expression::FuncCall(call) = policy.expr() else {
        panic!("jsonencode(...): {:?}", policy.expr());
    };
    let data: hcl::Value = serde_json::from_value(json!({
        "aws_partition": {"current": {"partition": "aws"}},
        "aws_caller_identity": {"current": {"account_id": ACCOUNT}},
        "aws_region": {"current": {"name": REGION}}
    }))
    .unwrap();
    let mut context = hcl::eval::Context::new();
    context.declare_var("data", data);
    let value = call.args[0]
        .evaluate(&context)
        .expect("the document evaluates");
    serde_json::to_value(value).unwrap()
}

#[test]
fn template_values_are_escaped_for_their_format() {
    let s = StandIns::start();
    let environment = "deploy-${var.x}-%{if true}-${AWS::Region}";
    let sub = format!("repo:{REPO}:environment:{environment}");
    let terraform = setup(&s, &["--environment", environment, "--format", "terraform"]);
    terraform.expect_code(0);
    let policy = terraform_trust_policy(&terraform.stdout);
    let statement = &policy["Statement"][0];
    assert_eq!(
        statement["Condition"]["StringEquals"][format!("{ISSUER}:sub")],
        sub
    );
    assert_eq!(
        statement["Principal"]["Federated"],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}")
    );

    let cloudformation = setup(
        &s,
        &["--environment", environment, "--format", "cloudformation"],
    );
    cloudformation.expect_code(0);
    let template: Value = serde_json::from_str(&cloudformation.stdout).unwrap();
    let trust = &template["Resources"]["Role0"]["Properties"]["AssumeRolePolicyDocument"];
    // A plain string, never an Fn::Sub that would put the region in.
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"][format!("{ISSUER}:sub")],
        json!(sub)
    );
    assert!(s.proxy.calls().is_empty());
}
