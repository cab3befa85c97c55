//! An HTTP stand-in in front of moto: it records every AWS call (`sts:AssumeRoleWithWebIdentity`,
//! `ecr:CreateRepository`, ...), keeps the credentials STS hands out (for the secret scan), and
//! answers chosen calls with an error instead of forwarding them (AccessDenied, throttling, 5xx),
//! which moto itself never does. It can also rewrite moto's answers to an action through a
//! script, to play what moto cannot (an ECS rollout: moto never starts a task), and keeps the
//! JSON bodies of the requests it forwarded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

use crate::http::{onward, relay, serve, Served};

/// An error answered instead of forwarding, `times` times, for one action.
#[derive(Clone, Debug)]
pub struct Fault {
    action: String,
    /// Calls to the action forwarded before the fault starts.
    after: usize,
    times: usize,
    status: u16,
    body: String,
    content_type: &'static str,
}

impl Fault {
    /// An STS (query protocol) error document.
    pub fn sts(action: &str, times: usize, status: u16, code: &str, message: &str) -> Self {
        Fault {
            action: format!("sts:{action}"),
            after: 0,
            times,
            status,
            body: format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
            ),
            content_type: "text/xml",
        }
    }

    /// A canned IAM (query protocol, XML) answer with HTTP 200: for a call moto does not
    /// implement (`SimulatePrincipalPolicy`).
    pub fn iam_answer(action: &str, times: usize, xml: &str) -> Self {
        Fault {
            action: format!("iam:{action}"),
            after: 0,
            times,
            status: 200,
            body: xml.to_string(),
            content_type: "text/xml",
        }
    }

    /// The same fault, starting after `calls` calls to the action were forwarded.
    pub fn after(self, calls: usize) -> Self {
        Fault {
            after: calls,
            ..self
        }
    }

    /// An ECR (JSON protocol) error.
    pub fn ecr(action: &str, times: usize, status: u16, code: &str, message: &str) -> Self {
        Self::json("ecr", action, times, status, code, message)
    }

    /// An ECS (JSON protocol) error.
    pub fn ecs(action: &str, times: usize, status: u16, code: &str, message: &str) -> Self {
        Self::json("ecs", action, times, status, code, message)
    }

    fn json(
        service: &str,
        action: &str,
        times: usize,
        status: u16,
        code: &str,
        message: &str,
    ) -> Self {
        Fault {
            action: format!("{service}:{action}"),
            after: 0,
            times,
            status,
            body: serde_json::json!({ "__type": code, "message": message }).to_string(),
            content_type: "application/x-amz-json-1.1",
        }
    }
}

/// Turns moto's JSON answer to an action into the one sent: given the request's JSON, moto's
/// answer and how many answers to that action this script gave before.
pub type Script = Arc<dyn Fn(&Value, Value, usize) -> Value + Send + Sync>;

struct Rewrite {
    action: String,
    answered: usize,
    script: Script,
}

#[derive(Default)]
struct Record {
    calls: Vec<(String, u16)>,
    signed: Vec<(String, bool)>,
    faults: Vec<Fault>,
    secrets: Vec<String>,
    rewrites: Vec<Rewrite>,
    /// The JSON bodies forwarded, by action.
    requests: Vec<(String, Value)>,
    /// How long the next sessions STS hands out last, and for how many more of them.
    session_ends: Option<(Duration, usize)>,
}

#[derive(Clone)]
struct ProxyState {
    target: String,
    client: reqwest::Client,
    record: Arc<Mutex<Record>>,
}

pub struct AwsProxy {
    served: Served,
    state: ProxyState,
}

impl AwsProxy {
    pub fn start(target: &str) -> Self {
        let state = ProxyState {
            target: target.to_string(),
            client: reqwest::Client::new(),
            record: Arc::default(),
        };
        let router = Router::new().fallback(forward).with_state(state.clone());
        AwsProxy {
            served: serve(router),
            state,
        }
    }

    pub fn url(&self) -> &str {
        &self.served.url
    }

    /// The next `times` sessions STS hands out end `left` from the moment they are issued
    /// (moto's end after the duration asked, 15 minutes at least): a run that outlasts its
    /// session, without waiting for it.
    pub fn sessions_end_in(&self, left: Duration, times: usize) {
        self.state.record.lock().unwrap().session_ends = Some((left, times));
    }

    pub fn inject(&self, fault: Fault) {
        self.state.record.lock().unwrap().faults.push(fault);
    }

    /// Rewrites every successful answer to `action` (`ecs:DescribeServices`) with `script`.
    pub fn rewrite(
        &self,
        action: &str,
        script: impl Fn(&Value, Value, usize) -> Value + Send + Sync + 'static,
    ) {
        self.state.record.lock().unwrap().rewrites.push(Rewrite {
            action: action.to_string(),
            answered: 0,
            script: Arc::new(script),
        });
    }

    /// The JSON bodies of the requests to `action` that were forwarded, in order.
    pub fn requests(&self, action: &str) -> Vec<Value> {
        self.state
            .record
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Every call made so far as `service:Action`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls_with_status()
            .into_iter()
            .map(|(a, _)| a)
            .collect()
    }

    pub fn calls_with_status(&self) -> Vec<(String, u16)> {
        self.state.record.lock().unwrap().calls.clone()
    }

    /// The calls that change something in AWS: all but the reads (`Describe*`, `Get*`,
    /// `List*`, `BatchGet*`, `BatchCheck*`, `Simulate*`) and signing in (`sts:AssumeRole*`).
    pub fn writes(&self) -> Vec<String> {
        const READS: [&str; 7] = [
            "Describe",
            "Get",
            "List",
            "BatchGet",
            "BatchCheck",
            "Simulate",
            "AssumeRole",
        ];
        self.calls()
            .into_iter()
            .filter(|call| {
                let action = call.split_once(':').map_or(call.as_str(), |(_, a)| a);
                !READS.iter().any(|read| action.starts_with(read))
            })
            .collect()
    }

    pub fn count(&self, action: &str) -> usize {
        self.calls().iter().filter(|a| *a == action).count()
    }

    /// For each call, whether it carried an `Authorization` header (a SigV4 signature).
    pub fn signed(&self) -> Vec<(String, bool)> {
        self.state.record.lock().unwrap().signed.clone()
    }

    /// Access key ids, secret keys and session tokens that STS answers carried.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state.record.lock().unwrap().secrets.clone()
    }
}

fn action_of(target: Option<&str>, body: &[u8]) -> String {
    if let Some(target) = target {
        let (service, op) = target.split_once('.').unwrap_or(("", target));
        let service = match service {
            s if s.starts_with("AmazonEC2ContainerRegistry") => "ecr",
            s if s.starts_with("AmazonEC2ContainerService") => "ecs",
            s if s.starts_with("AWSSecurityTokenService") => "sts",
            other => other,
        };
        return format!("{service}:{op}");
    }
    // The query protocol: STS and IAM, told apart by their API version.
    let form = String::from_utf8_lossy(body);
    let param = |name: &str| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
    };
    let service = if param("Version") == Some("2010-05-08") {
        "iam"
    } else {
        "sts"
    };
    format!("{service}:{}", param("Action").unwrap_or("unknown"))
}

fn xml_values(text: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    text.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

async fn forward(State(state): State<ProxyState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let action = action_of(target, &body);
    let signed = parts.headers.contains_key("authorization");
    state
        .record
        .lock()
        .unwrap()
        .signed
        .push((action.clone(), signed));

    let fault = {
        let mut record = state.record.lock().unwrap();
        let fault = record
            .faults
            .iter_mut()
            .find(|f| f.action == action && f.times > 0)
            .and_then(|f| {
                if f.after > 0 {
                    f.after -= 1;
                    return None;
                }
                f.times -= 1;
                Some(f.clone())
            });
        if let Some(f) = &fault {
            record.calls.push((action.clone(), f.status));
        }
        fault
    };
    if let Some(fault) = fault {
        let mut response = (
            StatusCode::from_u16(fault.status).unwrap(),
            fault.body.clone(),
        )
            .into_response();
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static(fault.content_type));
        return response;
    }

    let upstream = onward(&state.client, &state.target, &parts, &body, false);
    let answer = match upstream.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let mut bytes = answer.bytes().await.unwrap_or_default();
    {
        let mut record = state.record.lock().unwrap();
        record.calls.push((action.clone(), status));
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !request.is_null() {
            record.requests.push((action.clone(), request.clone()));
        }
        if let Some(rewrite) = record
            .rewrites
            .iter_mut()
            .find(|r| r.action == action && status == 200)
        {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let rewritten = (rewrite.script)(&request, answer, rewrite.answered);
            rewrite.answered += 1;
            bytes = serde_json::to_vec(&rewritten).unwrap().into();
        }
        if action.starts_with("sts:AssumeRole") && status == 200 {
            if let Some((left, times)) = record.session_ends.as_mut().filter(|(_, n)| *n > 0) {
                *times -= 1;
                bytes = with_expiration(&bytes, *left).into();
            }
        }
        if action.starts_with("sts:AssumeRole") {
            let text = String::from_utf8_lossy(&bytes);
            for tag in ["AccessKeyId", "SecretAccessKey", "SessionToken"] {
                record.secrets.extend(xml_values(&text, tag));
            }
        }
    }
    relay(status, &headers, bytes)
}

/// An STS answer whose credentials end `left` from now.
fn with_expiration(answer: &[u8], left: Duration) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let end = chrono::Utc::now() + left;
    let end = end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (Some(start), Some(stop)) = (text.find("<Expiration>"), text.find("</Expiration>")) else {
        panic!("an STS answer without an Expiration: {text}");
    };
    format!("{}<Expiration>{end}{}", &text[..start], &text[stop..]).into_bytes()
}
