//! GitHub's OIDC token service, as the runner exposes it to a job: `GET URL&audience=AUD` with
//! `Authorization: bearer REQUEST_TOKEN` answers `{"value": JWT}`. Tokens are real RS256 JWTs
//! with GitHub's claim set, signed with a test-only key.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::http::{serve, Served};

/// A key generated for these tests only; it signs nothing outside them.
const SIGNING_KEY: &[u8] = include_bytes!("../../fixtures/oidc-issuer-test-key.pem");

/// The claims that vary between runs; the rest follow GitHub's documented shape.
#[derive(Clone, Debug)]
pub struct RunClaims {
    pub repository: String,
    pub git_ref: String,
    pub environment: Option<String>,
    pub sub: Option<String>,
    pub job_workflow_ref: Option<String>,
}

impl Default for RunClaims {
    fn default() -> Self {
        Self {
            repository: "octo-org/web-app".into(),
            git_ref: "refs/heads/main".into(),
            environment: None,
            sub: None,
            job_workflow_ref: None,
        }
    }
}

impl RunClaims {
    fn sub(&self) -> String {
        if let Some(sub) = &self.sub {
            return sub.clone();
        }
        match &self.environment {
            Some(env) => format!("repo:{}:environment:{env}", self.repository),
            None => format!("repo:{}:ref:{}", self.repository, self.git_ref),
        }
    }
}

#[derive(Default)]
struct Issued {
    requests: usize,
    tokens: Vec<String>,
    /// HTTP statuses to answer with instead of a token, first one first.
    faults: Vec<u16>,
}

#[derive(Clone)]
struct IssuerState {
    request_token: String,
    claims: Arc<Mutex<RunClaims>>,
    issued: Arc<Mutex<Issued>>,
    issuer: String,
}

pub struct OidcIssuer {
    served: Served,
    pub request_token: String,
    state: IssuerState,
}

impl OidcIssuer {
    pub fn start(claims: RunClaims) -> Self {
        let request_token = format!("runtime-bearer-{:016x}", rand::random::<u64>());
        let state = IssuerState {
            request_token: request_token.clone(),
            claims: Arc::new(Mutex::new(claims)),
            issued: Arc::default(),
            issuer: "https://token.actions.githubusercontent.com".into(),
        };
        let router = Router::new()
            .route("/_apis/idtoken", get(token))
            .with_state(state.clone());
        OidcIssuer {
            served: serve(router),
            request_token,
            state,
        }
    }

    /// The value of `ACTIONS_ID_TOKEN_REQUEST_URL`: it already has a query, as GitHub's does.
    pub fn request_url(&self) -> String {
        format!("{}/_apis/idtoken?api-version=2.0", self.served.url)
    }

    /// The next requests are answered with these statuses instead of a token.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state
            .issued
            .lock()
            .unwrap()
            .faults
            .extend_from_slice(statuses);
    }

    pub fn requests(&self) -> usize {
        self.state.issued.lock().unwrap().requests
    }

    pub fn tokens(&self) -> Vec<String> {
        self.state.issued.lock().unwrap().tokens.clone()
    }
}

async fn token(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    {
        let mut issued = state.issued.lock().unwrap();
        issued.requests += 1;
        if !issued.faults.is_empty() {
            let status = issued.faults.remove(0);
            return StatusCode::from_u16(status).unwrap().into_response();
        }
    }
    let expected = format!("bearer {}", state.request_token);
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case(&expected) || v == expected);
    if !authorised || query.get("api-version").map(String::as_str) != Some("2.0") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let audience = query
        .get("audience")
        .cloned()
        .unwrap_or_else(|| "https://github.com/octo-org".into());
    let claims = state.claims.lock().unwrap().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (owner, _) = claims.repository.split_once('/').unwrap();
    let mut body: Value = json!({
        "jti": format!("{:032x}", rand::random::<u128>()),
        "sub": claims.sub(),
        "aud": audience,
        "ref": claims.git_ref,
        "sha": "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        "repository": claims.repository,
        "repository_owner": owner,
        "repository_owner_id": "1001",
        "repository_id": "2002",
        "repository_visibility": "private",
        "run_id": "7001",
        "run_number": "12",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "ship",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": claims.job_workflow_ref.clone().unwrap_or_else(|| format!(
            "{}/.github/workflows/ship.yml@{}", claims.repository, claims.git_ref
        )),
        "runner_environment": "github-hosted",
        "iss": state.issuer,
        "nbf": now - 5,
        "iat": now,
        "exp": now + 300,
    });
    if let Some(env) = &claims.environment {
        body["environment"] = json!(env);
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ship-to-ecr-test".into());
    let key = EncodingKey::from_rsa_pem(SIGNING_KEY).expect("test key");
    let jwt = jsonwebtoken::encode(&header, &body, &key).expect("signing");
    state.issued.lock().unwrap().tokens.push(jwt.clone());
    Json(json!({ "count": 1, "value": jwt })).into_response()
}
