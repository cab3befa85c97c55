//! One test's stand-ins together: moto behind the recording proxy, the OIDC issuer and the
//! ECR registry, and a run of the action already pointed at them.

use crate::images::{self, RegistryReader};
use crate::processes::{self, Server};
use crate::{b64, block_on, registry_password, ActionRun, AwsProxy, OidcIssuer, RunClaims};
use crate::{ACCOUNT, REGION};

pub struct StandIns {
    pub moto: Server,
    pub proxy: AwsProxy,
    pub oidc: OidcIssuer,
    pub registry: Server,
    /// This test's own word, written into the files it builds, so that two tests never build
    /// the same image (registry names are not enough: ports are reused over time).
    pub nonce: String,
    /// A busybox base of this test's own (see `images::unique_base`), removed on drop.
    pub base: String,
}

impl StandIns {
    pub fn start() -> Self {
        Self::with_claims(RunClaims::default())
    }

    pub fn with_claims(claims: RunClaims) -> Self {
        let moto = processes::moto();
        let proxy = AwsProxy::start(&moto.url);
        let oidc = OidcIssuer::start(claims);
        let registry = processes::registry(Some(("AWS", &registry_password())));
        let nonce = format!("{:016x}", rand::random::<u64>());
        let base = images::unique_base(&format!("ship-to-ecr-local/base-{nonce}:1"), &nonce);
        StandIns {
            moto,
            proxy,
            oidc,
            registry,
            nonce,
            base,
        }
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/github-ecr-push")
    }

    /// The registry's host:port, as image names use it.
    pub fn registry_host(&self) -> String {
        self.registry.url.trim_start_matches("http://").to_string()
    }

    /// The registry, read with plain HTTP and ECR's credentials.
    pub fn reader(&self) -> RegistryReader {
        RegistryReader::new(&self.registry.url, "AWS", &registry_password())
    }

    /// A run with the runner's variables and the inputs every run needs; its workspace holds a
    /// tiny Dockerfile (this test's base and one file), so a run builds and pushes in a moment.
    pub fn action(&self) -> ActionRun {
        ActionRun::new()
            .write_file(
                "Dockerfile",
                &format!("FROM {}\nCOPY hello.txt /hello.txt\n", self.base),
            )
            .write_file(
                "hello.txt",
                &format!("hello from ship-to-ecr, test {}\n", self.nonce),
            )
            .env("AWS_ENDPOINT_URL", self.proxy.url())
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &self.oidc.request_url())
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &self.oidc.request_token)
            .input("aws-region", REGION)
            .input("role-to-assume", &self.role_arn())
            .input("repository", "octo-org/web-app")
            .input("registry-url", &self.registry.url)
    }

    /// ECR as the tests see it: straight to moto, not through the action's code.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.moto_config())
    }

    /// ECS as the tests see it: straight to moto.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.moto_config())
    }

    /// IAM as the tests see it: straight to moto.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.moto_config())
    }

    fn moto_config(&self) -> aws_types::SdkConfig {
        use aws_sdk_ecs::config::{
            BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
        };
        let keys = Credentials::new("AKIATESTTESTTESTTEST", "test-secret", None, None, "tests");
        aws_types::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.moto.url)
            .credentials_provider(SharedCredentialsProvider::new(keys))
            .build()
    }

    /// Every secret this run could have handled: OIDC tokens, the token service's bearer,
    /// STS credentials, the registry password and ECR's encoded token.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.oidc.tokens();
        secrets.push(self.oidc.request_token.clone());
        secrets.extend(self.proxy.issued_secrets());
        secrets.push(registry_password());
        secrets.push(b64(&format!("AWS:{}", registry_password())));
        secrets
    }

    /// The names of the repositories in moto.
    pub fn repositories(&self) -> Vec<String> {
        block_on(self.ecr().describe_repositories().send())
            .expect("describe repositories")
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name().map(str::to_string))
            .collect()
    }
}

impl Drop for StandIns {
    /// The images this test pushed are named after its registry: remove them from the daemon,
    /// then the test's base.
    fn drop(&mut self) {
        images::remove_images_under(&format!("{}/", self.registry_host()));
        images::docker(&["rmi", "--force", &self.base]);
    }
}
