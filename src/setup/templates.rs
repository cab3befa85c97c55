//! `setup --format cloudformation|terraform`: the same provider, roles, policies and
//! repositories as a template, for teams that keep infrastructure in code. Nothing is called:
//! the account, partition and region are the template's own (`${AWS::AccountId}` in
//! CloudFormation, the `aws_caller_identity` data source in Terraform), and the provider is
//! created unless a parameter says the account has it.

use serde_json::{json, Map, Value};

use super::{Format, Setup, POLICY_NAME};
use crate::iam::permissions::{self, Needs};
use crate::iam::trust;
use crate::inputs::lifecycle;

/// Where the template's own partition, account and region go: marks no value can hold (a
/// flag or a variable cannot carry a NUL), put in as each format writes them once every value
/// around them is escaped for that format.
const PARTITION: &str = "\0partition\0";
const ACCOUNT: &str = "\0account\0";
const REGION: &str = "\0region\0";
const CLOUDFORMATION: [(&str, &str); 3] = [
    (PARTITION, "${AWS::Partition}"),
    (ACCOUNT, "${AWS::AccountId}"),
    (REGION, "${AWS::Region}"),
];
const TERRAFORM: [(&str, &str); 3] = [
    (PARTITION, "${data.aws_partition.current.partition}"),
    (ACCOUNT, "${data.aws_caller_identity.current.account_id}"),
    (REGION, "${data.aws_region.current.name}"),
];
/// GitHub's published thumbprint; IAM no longer checks it for this issuer.
const THUMBPRINT: &str = "6938fd4d98bab03faadb97b34396831e3780aea1";

pub fn render(setup: &Setup, format: Format) -> String {
    match format {
        Format::CloudFormation => {
            serde_json::to_string_pretty(&cloudformation(setup)).expect("JSON serialises")
        }
        Format::Terraform => terraform(setup),
    }
}

/// Each role's trust and permissions documents, with the template's own account.
fn documents(setup: &Setup) -> Vec<(String, Value, Value)> {
    let provider = trust::provider_arn(PARTITION, ACCOUNT);
    setup
        .roles
        .iter()
        .map(|role| {
            let needs = Needs {
                repositories: role
                    .repositories
                    .iter()
                    .map(|r| permissions::repository_arn(PARTITION, REGION, ACCOUNT, r))
                    .collect(),
                allow_create: setup.allow_create,
                lifecycle: setup.keep_images.is_some(),
                deploys: Vec::new(),
            };
            (
                role.name.clone(),
                trust::policy(&provider, &setup.audience, &role.subjects),
                permissions::policy(&needs),
            )
        })
        .collect()
}

/// A logical name from an index: `Role0`, `Repository1`.
fn logical(kind: &str, index: usize) -> String {
    format!("{kind}{index}")
}

fn cloudformation(setup: &Setup) -> Value {
    let mut resources = Map::new();
    resources.insert(
        "GitHubOidcProvider".into(),
        json!({
            "Type": "AWS::IAM::OIDCProvider",
            "Condition": "CreateProvider",
            "Properties": {
                "Url": format!("https://{}", trust::GITHUB_ISSUER),
                "ClientIdList": [setup.audience],
                "ThumbprintList": [THUMBPRINT]
            }
        }),
    );
    let mut outputs = Map::new();
    for (index, (name, trust_policy, permissions_policy)) in
        documents(setup).into_iter().enumerate()
    {
        let id = logical("Role", index);
        resources.insert(
            id.clone(),
            json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": name,
                    "AssumeRolePolicyDocument": substituted(trust_policy),
                    "Policies": [{"PolicyName": POLICY_NAME, "PolicyDocument": substituted(permissions_policy)}]
                }
            }),
        );
        outputs.insert(
            format!("{id}Arn"),
            json!({"Value": {"Fn::GetAtt": [id, "Arn"]}}),
        );
    }
    for (index, repository) in setup.repositories.iter().enumerate() {
        let mut properties = json!({
            "RepositoryName": repository.name,
            "ImageTagMutability": repository.tag_mutability.as_str(),
            "ImageScanningConfiguration": {"ScanOnPush": setup.scan_on_push}
        });
        if let Some(keep) = setup.keep_images {
            properties["LifecyclePolicy"] =
                json!({"LifecyclePolicyText": lifecycle::keep_newest(keep).text});
        }
        if !repository.pull_principals.is_empty() {
            properties["RepositoryPolicyText"] =
                permissions::pull_policy(&repository.pull_principals);
        }
        resources.insert(
            logical("Repository", index),
            json!({"Type": "AWS::ECR::Repository", "Properties": properties}),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("GitHub Actions of {} push to ECR (ship-to-ecr setup)", setup.repo.full_name()),
        "Parameters": {
            "CreateOidcProvider": {
                "Type": "String",
                "AllowedValues": ["true", "false"],
                "Default": "true",
                "Description": "false when the account already has GitHub's OIDC provider (an account has at most one per issuer)"
            }
        },
        "Conditions": {"CreateProvider": {"Fn::Equals": [{"Ref": "CreateOidcProvider"}, "true"]}},
        "Resources": resources,
        "Outputs": outputs
    })
}

/// Every string with a pseudo-parameter becomes an `Fn::Sub`, in which the value's own `${`
/// is written `${!` (CloudFormation's literal); other strings are plain JSON, taken as they are.
fn substituted(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains('\0') => {
            let text = CLOUDFORMATION
                .iter()
                .fold(s.replace("${", "${!"), |text, (mark, parameter)| {
                    text.replace(mark, parameter)
                });
            json!({ "Fn::Sub": text })
        }
        Value::Array(items) => Value::Array(items.into_iter().map(substituted).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, substituted(v))).collect())
        }
        other => other,
    }
}

/// A JSON document as an HCL expression: HCL's object constructor takes `"key": value`, so
/// pretty JSON is valid HCL once every string is a literal in HCL's template syntax (`$${`
/// and `%%{` for a value's own `${` and `%{`); then the marks become Terraform's
/// interpolations.
fn hcl_json(value: &Value, indent: &str) -> String {
    let text = hcl_literal(&serde_json::to_string_pretty(value).expect("JSON serialises"));
    let text = TERRAFORM.iter().fold(text, |text, (mark, interpolation)| {
        text.replace(&json_escaped(mark), interpolation)
    });
    format!("jsonencode({})", text.replace('\n', &format!("\n{indent}")))
}

/// A value as an HCL quoted string that reads back as the value.
fn hcl_string(value: &str) -> String {
    hcl_literal(&serde_json::to_string(value).expect("a string serialises"))
}

/// JSON string syntax is HCL's but for templates: a value's `${` and `%{` are escaped.
fn hcl_literal(json: &str) -> String {
    json.replace("${", "$${").replace("%{", "%%{")
}

/// A mark as it is inside a JSON string.
fn json_escaped(mark: &str) -> String {
    let quoted = serde_json::to_string(mark).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_string()
}

fn terraform(setup: &Setup) -> String {
    let mut out = format!(
        "# GitHub Actions of {} push to ECR (ship-to-ecr setup).\n\n\
         data \"aws_caller_identity\" \"current\" {{}}\n\
         data \"aws_partition\" \"current\" {{}}\n\
         data \"aws_region\" \"current\" {{}}\n\n\
         variable \"create_oidc_provider\" {{\n  description = \"false when the account already has GitHub's OIDC provider\"\n  type        = bool\n  default     = true\n}}\n\n\
         resource \"aws_iam_openid_connect_provider\" \"github\" {{\n  count           = var.create_oidc_provider ? 1 : 0\n  url             = \"https://{}\"\n  client_id_list  = [{}]\n  thumbprint_list = [\"{THUMBPRINT}\"]\n}}\n",
        setup.repo.full_name(),
        trust::GITHUB_ISSUER,
        hcl_string(&setup.audience)
    );
    for (index, (name, trust_policy, permissions_policy)) in
        documents(setup).into_iter().enumerate()
    {
        let id = format!("role{index}");
        out.push_str(&format!(
            "\nresource \"aws_iam_role\" \"{id}\" {{\n  name               = {}\n  assume_role_policy = {}\n}}\n\n\
             resource \"aws_iam_role_policy\" \"{id}\" {{\n  name   = \"{POLICY_NAME}\"\n  role   = aws_iam_role.{id}.id\n  policy = {}\n}}\n\n\
             output \"{id}_arn\" {{\n  value = aws_iam_role.{id}.arn\n}}\n",
            hcl_string(&name),
            hcl_json(&trust_policy, "  "),
            hcl_json(&permissions_policy, "  ")
        ));
    }
    for (index, repository) in setup.repositories.iter().enumerate() {
        let id = format!("repository{index}");
        out.push_str(&format!(
            "\nresource \"aws_ecr_repository\" \"{id}\" {{\n  name                 = {}\n  image_tag_mutability = \"{}\"\n  image_scanning_configuration {{\n    scan_on_push = {}\n  }}\n}}\n",
            hcl_string(&repository.name),
            repository.tag_mutability.as_str(),
            setup.scan_on_push
        ));
        if let Some(keep) = setup.keep_images {
            out.push_str(&format!(
                "\nresource \"aws_ecr_lifecycle_policy\" \"{id}\" {{\n  repository = aws_ecr_repository.{id}.name\n  policy     = {}\n}}\n",
                hcl_json(&lifecycle::keep_newest(keep).value, "  ")
            ));
        }
        if !repository.pull_principals.is_empty() {
            out.push_str(&format!(
                "\nresource \"aws_ecr_repository_policy\" \"{id}\" {{\n  repository = aws_ecr_repository.{id}.name\n  policy     = {}\n}}\n",
                hcl_json(&permissions::pull_policy(&repository.pull_principals), "  ")
            ));
        }
    }
    out
}
