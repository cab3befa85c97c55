//! ECS for the deploy tests: a cluster and a two-container service made in moto, and rollouts
//! played by the recording proxy. moto registers task definitions and updates services, but
//! never starts a task and never starts a new deployment: the proxy's scripts answer
//! `UpdateService` and `DescribeServices` as ECS would during a rollout, on top of moto's state.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, Tag,
};
use serde_json::{json, Value};

use crate::{block_on, AwsProxy};

pub const CLUSTER: &str = "production";
pub const SERVICE: &str = "web";
pub const FAMILY: &str = "web";
/// The id the scripted rollout gives the deployment the update starts.
pub const DEPLOYMENT_ID: &str = "ecs-svc/5318008421337";

/// The cluster, the task definition `web:1` (container `app` on `app_image`, and `proxy` on
/// nginx, with roles, environment, ports and tags) and the service `web` running it.
pub fn create_service(client: &aws_sdk_ecs::Client, app_image: &str) {
    block_on(client.create_cluster().cluster_name(CLUSTER).send()).expect("create cluster");
    block_on(
        client
            .register_task_definition()
            .family(FAMILY)
            .execution_role_arn(format!("arn:aws:iam::{}:role/web-exec", crate::ACCOUNT))
            .task_role_arn(format!("arn:aws:iam::{}:role/web-task", crate::ACCOUNT))
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image(app_image)
                    .memory(256)
                    .environment(KeyValuePair::builder().name("MODE").value("live").build())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("proxy")
                    .image("public.ecr.aws/nginx/nginx:1.27")
                    .memory(128)
                    .build(),
            )
            .tags(Tag::builder().key("team").value("shop").build())
            .send(),
    )
    .expect("register task definition");
    block_on(
        client
            .create_service()
            .cluster(CLUSTER)
            .service_name(SERVICE)
            .task_definition(format!("{FAMILY}:1"))
            .desired_count(2)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(true)
                            .build(),
                    )
                    .build(),
            )
            .send(),
    )
    .expect("create service");
}

/// One look at the service during a scripted rollout.
#[derive(Debug, Clone)]
pub enum Step {
    /// This deployment is PRIMARY and IN_PROGRESS with these counts; the old one drains.
    Rolling {
        running: i32,
        pending: i32,
        failed: i32,
    },
    Completed,
    /// ECS marks this deployment FAILED with this reason; the events say why.
    Failed(&'static str),
    /// The circuit breaker rolled back: a new PRIMARY deployment of the old revision, ours gone.
    RolledBack,
}

impl Step {
    pub fn rolling(running: i32, pending: i32, failed: i32) -> Self {
        Step::Rolling {
            running,
            pending,
            failed,
        }
    }
}

/// Plays `steps` (the last one repeats) for the `DescribeServices` calls after the update;
/// `events` are the service's events from the update on, newest first.
pub fn script_rollout(proxy: &AwsProxy, steps: Vec<Step>, events: Vec<&'static str>) {
    // The revision the update asked for, and the one it replaced.
    let revisions: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let updated = revisions.clone();
    proxy.rewrite("ecs:UpdateService", move |request, mut answer, _| {
        let ours = request["taskDefinition"].as_str().unwrap().to_string();
        let old = answer["service"]["deployments"][0]["taskDefinition"]
            .as_str()
            .unwrap()
            .to_string();
        answer["service"]["deployments"] = json!([
            deployment(DEPLOYMENT_ID, "PRIMARY", &ours, "IN_PROGRESS", 0, 0, 0),
            deployment("ecs-svc/old", "ACTIVE", &old, "COMPLETED", 2, 0, 0),
        ]);
        *updated.lock().unwrap() = Some((ours, old));
        answer
    });
    let looks = Arc::new(Mutex::new(0usize));
    proxy.rewrite("ecs:DescribeServices", move |_, mut answer, _| {
        let Some((ours, old)) = revisions.lock().unwrap().clone() else {
            return answer;
        };
        let mut look = looks.lock().unwrap();
        let step = steps[(*look).min(steps.len() - 1)].clone();
        *look += 1;
        let draining = deployment("ecs-svc/old", "ACTIVE", &old, "COMPLETED", 2, 0, 0);
        let deployments = match step {
            Step::Rolling {
                running,
                pending,
                failed,
            } => json!([
                deployment(DEPLOYMENT_ID, "PRIMARY", &ours, "IN_PROGRESS", running, pending, failed),
                draining
            ]),
            Step::Completed => json!([deployment(
                DEPLOYMENT_ID,
                "PRIMARY",
                &ours,
                "COMPLETED",
                2,
                0,
                0
            )]),
            Step::Failed(reason) => {
                let mut failed =
                    deployment(DEPLOYMENT_ID, "PRIMARY", &ours, "FAILED", 0, 0, 2);
                failed["rolloutStateReason"] = json!(reason);
                json!([failed, draining])
            }
            Step::RolledBack => json!([deployment(
                "ecs-svc/rollback",
                "PRIMARY",
                &old,
                "COMPLETED",
                2,
                0,
                0
            )]),
        };
        let service = &mut answer["services"][0];
        service["deployments"] = deployments;
        service["events"] = events
            .iter()
            .enumerate()
            .map(|(i, message)| {
                json!({"id": format!("event-{i}"), "createdAt": 1_796_000_000 - i as i64, "message": message})
            })
            .collect();
        answer
    });
}

/// Stopped tasks for the diagnosis: `ListTasks` and `DescribeTasks` answer with one task that
/// stopped for `reason`, its `app` container with `exit_code`.
pub fn script_stopped_task(proxy: &AwsProxy, reason: &'static str, exit_code: Option<i32>) {
    let arn = format!(
        "arn:aws:ecs:{}:{}:task/{CLUSTER}/0f1e2d3c4b5a",
        crate::REGION,
        crate::ACCOUNT
    );
    let listed = arn.clone();
    proxy.rewrite(
        "ecs:ListTasks",
        move |_, _, _| json!({ "taskArns": [listed] }),
    );
    proxy.rewrite("ecs:DescribeTasks", move |_, _, _| {
        json!({
            "tasks": [{
                "taskArn": arn,
                "lastStatus": "STOPPED",
                "stopCode": "TaskFailedToStart",
                "stoppedReason": reason,
                "containers": [{"name": "app", "exitCode": exit_code, "lastStatus": "STOPPED"}]
            }],
            "failures": []
        })
    });
}

fn deployment(
    id: &str,
    status: &str,
    task_definition: &str,
    state: &str,
    running: i32,
    pending: i32,
    failed: i32,
) -> Value {
    json!({
        "id": id,
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": 2,
        "runningCount": running,
        "pendingCount": pending,
        "failedTasks": failed,
        "rolloutState": state,
        "rolloutStateReason": format!("ECS deployment {id} {state}"),
        "createdAt": 1_796_000_000,
    })
}
