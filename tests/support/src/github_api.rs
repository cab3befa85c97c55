//! GitHub's REST API, the part the action talks to: a repository, the comments of an issue or
//! pull request (listed page by page, created, edited) and deployments with their statuses.
//!
//! Served at the root, as api.github.com serves it, or under a prefix (`/api/v3`), as GitHub
//! Enterprise Server does, so that a client that drops the prefix is caught. Every request is
//! recorded, and a chosen request can be answered with an error (rate limits, 5xx) instead,
//! which the real API gives at moments no test can choose.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, LINK};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::http::{serve, Served};

/// The user the workflow's `GITHUB_TOKEN` acts as: comments and deployments made through the
/// API are its.
const BOT_LOGIN: &str = "github-actions[bot]";
/// Who `add_comment` comments as: someone other than the action.
const HUMAN_LOGIN: &str = "octocat";
/// Ids of comments, deployments and statuses all come from one counter, so an id of one kind
/// never reaches a resource of another kind by accident.
const FIRST_ID: u64 = 1000;
const CREATED_AT: &str = "2024-05-01T12:00:00Z";
const EDITED_AT: &str = "2024-05-01T12:30:00Z";
const DOCUMENTATION_URL: &str = "https://docs.github.com/rest";
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;
const DEPLOYMENT_STATES: [&str; 7] = [
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// "GET", "POST", "PATCH", ...
    pub method: String,
    /// Without the prefix, with the query if any; a request outside the prefix keeps its
    /// whole path.
    pub path: String,
    /// The `Authorization` header exactly as sent.
    pub authorization: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

/// An error answered once instead of serving a request (see `GitHubApi::fail_next`); checked
/// when queued, so a mistyped status or header fails the test that queued it.
struct QueuedFault {
    method: String,
    path_prefix: String,
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    message: String,
}

impl QueuedFault {
    fn applies_to(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && path.starts_with(&self.path_prefix)
    }

    fn into_response(self) -> Response {
        let mut response = error(self.status, &self.message);
        response.headers_mut().extend(self.headers);
        response
    }
}

struct Comment {
    repo: String,
    issue: u64,
    object: Value,
}

struct Deployment {
    repo: String,
    id: u64,
    /// What GitHub answered with.
    object: Value,
    /// What the client sent: GitHub acts on fields it does not echo (`auto_merge`,
    /// `required_contexts`), and tests check those.
    request: Value,
    /// Each status as answered and as requested, oldest first.
    statuses: Vec<(Value, Value)>,
}

#[derive(Default)]
struct Api {
    /// The address clients use, prefix included, for the URLs inside answers.
    base: String,
    ids_issued: u64,
    calls: Vec<ApiCall>,
    faults: VecDeque<QueuedFault>,
    repositories: HashMap<String, Value>,
    /// All issues' comments, oldest first.
    comments: Vec<Comment>,
    deployments: Vec<Deployment>,
}

#[derive(Clone)]
struct ApiState {
    prefix: String,
    api: Arc<Mutex<Api>>,
}

pub struct GitHubApi {
    served: Served,
    prefix: String,
    api: Arc<Mutex<Api>>,
}

impl GitHubApi {
    /// Served at the root, as api.github.com.
    pub fn start() -> Self {
        Self::start_with_prefix("")
    }

    /// Served under `prefix` (`/api/v3`), as GitHub Enterprise Server; any other path is 404.
    pub fn start_with_prefix(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/').to_string();
        assert!(
            prefix.is_empty() || prefix.starts_with('/'),
            "an API prefix is a path: {prefix:?}"
        );
        let api = Arc::new(Mutex::new(Api::default()));
        let state = ApiState {
            prefix: prefix.clone(),
            api: api.clone(),
        };
        let served = serve(Router::new().fallback(handle).with_state(state));
        let github = GitHubApi {
            served,
            prefix,
            api,
        };
        github.lock().base = github.url();
        github
    }

    /// The value of `GITHUB_API_URL`: no trailing slash, as the runner sets it.
    pub fn url(&self) -> String {
        format!("{}{}", self.served.url, self.prefix)
    }

    /// What `GET /repos/{full_name}` answers with; without it, that is 404.
    pub fn set_repository(&self, full_name: &str, repo: Value) {
        self.lock().repositories.insert(repo_key(full_name), repo);
    }

    /// Seeds a comment by someone other than the action; returns its id.
    pub fn add_comment(&self, full_name: &str, issue: u64, body: &str) -> u64 {
        self.add_comment_as(full_name, issue, HUMAN_LOGIN, body)
    }

    /// Seeds a comment by `login` (`github-actions[bot]` for one an earlier run left); returns
    /// its id.
    pub fn add_comment_as(&self, full_name: &str, issue: u64, login: &str, body: &str) -> u64 {
        let mut api = self.lock();
        let comment = api.new_comment(full_name, issue, login, body);
        comment["id"].as_u64().expect("a comment has an id")
    }

    /// Every request received, in order, those answered with a fault or a 401 included.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.lock().calls.clone()
    }

    /// The comments of one issue or pull request now, oldest first.
    pub fn comments(&self, full_name: &str, issue: u64) -> Vec<Value> {
        self.lock().comments_of(full_name, issue).cloned().collect()
    }

    /// Every deployment created, in order: GitHub's answer, plus whatever else the request
    /// carried (`auto_merge`, `required_contexts`, ...).
    pub fn deployments(&self) -> Vec<Value> {
        self.lock()
            .deployments
            .iter()
            .map(|d| with_request_fields(&d.object, &d.request))
            .collect()
    }

    /// The statuses of one deployment, oldest first, each as answered plus whatever else the
    /// request carried (`auto_inactive`, ...).
    pub fn statuses(&self, deployment_id: u64) -> Vec<Value> {
        self.lock()
            .deployments
            .iter()
            .filter(|d| d.id == deployment_id)
            .flat_map(|d| &d.statuses)
            .map(|(object, request)| with_request_fields(object, request))
            .collect()
    }

    /// The next request with this method whose path (without prefix or query) starts with
    /// `path_prefix` is answered with `status`, these headers and a GitHub error body instead
    /// of being served. Faults are used once each, first queued first.
    pub fn fail_next(
        &self,
        method: &str,
        path_prefix: &str,
        status: u16,
        headers: &[(&str, &str)],
        message: &str,
    ) {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("fail_next: {status} is not an HTTP status"));
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::try_from(*name)
                    .unwrap_or_else(|_| panic!("fail_next: {name:?} is not a header name"));
                let value = HeaderValue::try_from(*value)
                    .unwrap_or_else(|_| panic!("fail_next: {value:?} is not a header value"));
                (name, value)
            })
            .collect();
        self.lock().faults.push_back(QueuedFault {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            status,
            headers,
            message: message.to_string(),
        });
    }

    fn lock(&self) -> MutexGuard<'_, Api> {
        self.api
            .lock()
            .expect("the GitHub API stand-in panicked while serving")
    }
}

/// The requests the stand-in serves; anything else is 404, as GitHub answers it.
enum Endpoint {
    Repository,
    ListComments(u64),
    CreateComment(u64),
    EditComment(u64),
    CreateDeployment,
    CreateStatus(u64),
    ListStatuses(u64),
}

impl Endpoint {
    /// `rest` is the path after `/repos/{owner}/{repo}`, split on `/`.
    fn of(method: &str, rest: &[&str]) -> Option<Self> {
        let number = |text: &str| text.parse::<u64>().ok();
        Some(match (method, rest) {
            ("GET", []) => Endpoint::Repository,
            ("GET", ["issues", n, "comments"]) => Endpoint::ListComments(number(n)?),
            ("POST", ["issues", n, "comments"]) => Endpoint::CreateComment(number(n)?),
            ("PATCH", ["issues", "comments", id]) => Endpoint::EditComment(number(id)?),
            ("POST", ["deployments"]) => Endpoint::CreateDeployment,
            ("POST", ["deployments", id, "statuses"]) => Endpoint::CreateStatus(number(id)?),
            ("GET", ["deployments", id, "statuses"]) => Endpoint::ListStatuses(number(id)?),
            _ => return None,
        })
    }
}

async fn handle(State(state): State<ApiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 16 << 20).await else {
        return error(StatusCode::BAD_REQUEST, "Problems reading the body");
    };
    let json: Result<Option<Value>, _> = if body.is_empty() {
        Ok(None)
    } else {
        serde_json::from_slice(&body).map(Some)
    };
    let method = parts.method.as_str();
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = parts.uri.query();
    let (path, inside_prefix) = match without_prefix(parts.uri.path(), &state.prefix) {
        Some(path) => (path, true),
        None => (parts.uri.path(), false),
    };

    let mut api = state
        .api
        .lock()
        .expect("the GitHub API stand-in panicked while serving");
    api.calls.push(ApiCall {
        method: method.to_string(),
        path: match query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        },
        authorization: authorization.clone(),
        body: json.as_ref().ok().cloned().flatten(),
    });
    if !inside_prefix {
        return not_found();
    }
    if let Some(fault) = api.take_fault(method, path) {
        return fault.into_response();
    }
    if authorization.is_none() {
        return error(StatusCode::UNAUTHORIZED, "Requires authentication");
    }
    let Ok(body) = json else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let body = body.unwrap_or(Value::Null);

    if (method, path) == ("GET", "/user") {
        // As GitHub answers an installation's token (the workflow's GITHUB_TOKEN), which acts
        // as `github-actions[bot]` but is no user.
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        );
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let ["repos", owner, name, rest @ ..] = segments.as_slice() else {
        return not_found();
    };
    let repo = format!("{owner}/{name}");
    match Endpoint::of(method, rest) {
        None => not_found(),
        Some(Endpoint::Repository) => match api.repositories.get(&repo_key(&repo)) {
            Some(found) => Json(found.clone()).into_response(),
            None => not_found(),
        },
        Some(Endpoint::ListComments(issue)) => api.list_comments(&repo, issue, query),
        Some(Endpoint::CreateComment(issue)) => match body.get("body").and_then(Value::as_str) {
            Some(text) => {
                let comment = api.new_comment(&repo, issue, BOT_LOGIN, text);
                (StatusCode::CREATED, Json(comment)).into_response()
            }
            None => invalid("\"body\" wasn't supplied."),
        },
        Some(Endpoint::EditComment(id)) => api.edit_comment(&repo, id, &body),
        Some(Endpoint::CreateDeployment) => api.create_deployment(&repo, body),
        Some(Endpoint::CreateStatus(id)) => api.create_status(&repo, id, body),
        Some(Endpoint::ListStatuses(id)) => match api.deployment(&repo, id) {
            // GitHub lists the newest first: clients read `[0]` as the current status.
            Some(d) => {
                Json(d.statuses.iter().rev().map(|(s, _)| s).collect::<Vec<_>>()).into_response()
            }
            None => not_found(),
        },
    }
}

impl Api {
    fn new_id(&mut self) -> u64 {
        self.ids_issued += 1;
        FIRST_ID + self.ids_issued - 1
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<QueuedFault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.applies_to(method, path))?;
        self.faults.remove(index)
    }

    fn comments_of(&self, repo: &str, issue: u64) -> impl Iterator<Item = &Value> {
        let repo = repo_key(repo);
        self.comments
            .iter()
            .filter(move |c| c.repo == repo && c.issue == issue)
            .map(|c| &c.object)
    }

    fn new_comment(&mut self, repo: &str, issue: u64, login: &str, body: &str) -> Value {
        let id = self.new_id();
        let object = json!({
            "id": id,
            "node_id": format!("IC_kwDOTest{id}"),
            "url": format!("{}/repos/{repo}/issues/comments/{id}", self.base),
            "html_url": format!("https://github.com/{repo}/issues/{issue}#issuecomment-{id}"),
            "body": body,
            "user": user(login),
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "issue_url": format!("{}/repos/{repo}/issues/{issue}", self.base),
        });
        self.comments.push(Comment {
            repo: repo_key(repo),
            issue,
            object: object.clone(),
        });
        object
    }

    /// One page of an issue's comments, with the `Link` header GitHub sends: `prev`, `next`,
    /// `last`, `first`, each only when it applies, in GitHub's order.
    fn list_comments(&self, repo: &str, issue: u64, query: Option<&str>) -> Response {
        let per_page =
            query_number(query, "per_page").map_or(DEFAULT_PER_PAGE, |n| n.clamp(1, MAX_PER_PAGE));
        let page = query_number(query, "page").unwrap_or(1).max(1);
        let all: Vec<&Value> = self.comments_of(repo, issue).collect();
        let last = all.len().div_ceil(per_page).max(1);
        let items: Vec<&Value> = all
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();

        let link = |page: usize, rel: &str| {
            format!(
                "<{}/repos/{repo}/issues/{issue}/comments?per_page={per_page}&page={page}>; rel=\"{rel}\"",
                self.base
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }

        let mut response = Json(items).into_response();
        if !links.is_empty() {
            let value = HeaderValue::try_from(links.join(", "))
                .expect("a Link header made of the request's own path");
            response.headers_mut().insert(LINK, value);
        }
        response
    }

    fn edit_comment(&mut self, repo: &str, id: u64, body: &Value) -> Response {
        let Some(text) = body.get("body").and_then(Value::as_str) else {
            return invalid("\"body\" wasn't supplied.");
        };
        let repo = repo_key(repo);
        let Some(comment) = self
            .comments
            .iter_mut()
            .find(|c| c.repo == repo && c.object["id"] == id)
        else {
            return not_found();
        };
        comment.object["body"] = json!(text);
        comment.object["updated_at"] = json!(EDITED_AT);
        Json(comment.object.clone()).into_response()
    }

    fn deployment(&self, repo: &str, id: u64) -> Option<&Deployment> {
        let repo = repo_key(repo);
        self.deployments
            .iter()
            .find(|d| d.repo == repo && d.id == id)
    }

    fn create_deployment(&mut self, repo: &str, request: Value) -> Response {
        let Some(git_ref) = request.get("ref").and_then(Value::as_str) else {
            return invalid("\"ref\" wasn't supplied.");
        };
        let text = |field: &str, default: &str| {
            request
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string()
        };
        let environment = text("environment", "production");
        let id = self.new_id();
        let url = format!("{}/repos/{repo}/deployments/{id}", self.base);
        let object = json!({
            "id": id,
            "node_id": format!("DE_kwDOTest{id}"),
            "url": url,
            // GitHub resolves the ref to its commit; the ref stands in for it here.
            "sha": git_ref,
            "ref": git_ref,
            "task": text("task", "deploy"),
            "payload": request.get("payload").cloned().unwrap_or_else(|| json!({})),
            "original_environment": environment,
            "environment": environment,
            "description": request.get("description").cloned().unwrap_or(Value::Null),
            "creator": user(BOT_LOGIN),
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "statuses_url": format!("{url}/statuses"),
            "repository_url": format!("{}/repos/{repo}", self.base),
        });
        self.deployments.push(Deployment {
            repo: repo_key(repo),
            id,
            object: object.clone(),
            request,
            statuses: Vec::new(),
        });
        (StatusCode::CREATED, Json(object)).into_response()
    }

    fn create_status(&mut self, repo: &str, deployment_id: u64, request: Value) -> Response {
        let Some(environment) = self
            .deployment(repo, deployment_id)
            .map(|d| d.object["environment"].clone())
        else {
            return not_found();
        };
        let state = request.get("state").and_then(Value::as_str);
        let Some(state) = state.filter(|s| DEPLOYMENT_STATES.contains(s)) else {
            return invalid(&format!(
                "\"state\" must be one of {}.",
                DEPLOYMENT_STATES.join(", ")
            ));
        };
        let text = |field: &str| request.get(field).and_then(Value::as_str).unwrap_or("");
        let id = self.new_id();
        let deployment_url = format!("{}/repos/{repo}/deployments/{deployment_id}", self.base);
        let object = json!({
            "id": id,
            "node_id": format!("DES_kwDOTest{id}"),
            "url": format!("{deployment_url}/statuses/{id}"),
            "state": state,
            "creator": user(BOT_LOGIN),
            "description": text("description"),
            "environment": request.get("environment").cloned().unwrap_or(environment),
            "environment_url": text("environment_url"),
            "log_url": text("log_url"),
            // The older name of `log_url`, which GitHub still fills.
            "target_url": text("log_url"),
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "deployment_url": deployment_url,
            "repository_url": format!("{}/repos/{repo}", self.base),
        });
        let key = repo_key(repo);
        let deployment = self
            .deployments
            .iter_mut()
            .find(|d| d.repo == key && d.id == deployment_id)
            .expect("the deployment found above");
        deployment.statuses.push((object.clone(), request));
        (StatusCode::CREATED, Json(object)).into_response()
    }
}

/// GitHub matches owner and repository names whatever their case.
fn repo_key(full_name: &str) -> String {
    full_name.to_ascii_lowercase()
}

/// The path under `prefix`, or `None` if it is outside it (`/api/v3x` is outside `/api/v3`).
fn without_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    match path.strip_prefix(prefix)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

fn query_number(query: Option<&str>, name: &str) -> Option<usize> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

/// A user as GitHub embeds one in comments and deployments.
fn user(login: &str) -> Value {
    let id = match login {
        BOT_LOGIN => 41898282,
        HUMAN_LOGIN => 583231,
        // Any other account: an id of its own that stays the same for the whole run.
        other => {
            other
                .bytes()
                .fold(7u64, |id, b| id.wrapping_mul(31).wrapping_add(u64::from(b)))
                % 100_000_000
        }
    };
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({ "login": login, "id": id, "type": kind })
}

/// The answer as `deployments()` and `statuses()` give it: the request's fields, overridden by
/// the answer's.
fn with_request_fields(answer: &Value, request: &Value) -> Value {
    let mut merged = request.as_object().cloned().unwrap_or_default();
    if let Some(answer) = answer.as_object() {
        merged.extend(answer.clone());
    }
    Value::Object(merged)
}

/// GitHub's error body.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "message": message, "documentation_url": DOCUMENTATION_URL });
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn invalid(detail: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n{detail}"),
    )
}

#[cfg(test)]
mod tests {
    use reqwest::blocking::{Client, RequestBuilder, Response};

    use super::*;

    const REPO: &str = "octo-org/web-app";
    const TOKEN: &str = "Bearer ghs_test-token";

    fn get(url: &str) -> RequestBuilder {
        Client::new().get(url).header("authorization", TOKEN)
    }

    fn post(url: &str, body: Value) -> RequestBuilder {
        Client::new()
            .post(url)
            .header("authorization", TOKEN)
            .json(&body)
    }

    fn send(request: RequestBuilder) -> Response {
        request.send().expect("the stand-in answers")
    }

    fn json_of(response: Response) -> Value {
        response.json().expect("a JSON answer")
    }

    fn rel_next(response: &Response) -> Option<String> {
        let link = response.headers().get("link")?.to_str().ok()?;
        link.split(", ").find_map(|part| {
            let (url, rel) = part.split_once("; ")?;
            (rel == "rel=\"next\"").then(|| url.trim_matches(['<', '>']).to_string())
        })
    }

    #[test]
    fn comments_are_listed_page_by_page_following_link_next() {
        let api = GitHubApi::start();
        for n in 1..=5 {
            api.add_comment(REPO, 42, &format!("comment {n}"));
        }
        api.add_comment(REPO, 43, "another pull request");

        let first = format!(
            "{}/repos/{REPO}/issues/42/comments?per_page=2&page=1",
            api.url()
        );
        let mut next = Some(first);
        let mut pages = Vec::new();
        while let Some(url) = next {
            let response = send(get(&url));
            assert_eq!(response.status(), 200);
            next = rel_next(&response);
            let page: Vec<String> = json_of(response)
                .as_array()
                .expect("a list")
                .iter()
                .map(|c| c["body"].as_str().expect("a body").to_string())
                .collect();
            pages.push(page);
        }

        assert_eq!(
            pages,
            [
                vec!["comment 1", "comment 2"],
                vec!["comment 3", "comment 4"],
                vec!["comment 5"]
            ]
        );
        let paths: Vec<String> = api.calls().into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths[2],
            format!("/repos/{REPO}/issues/42/comments?per_page=2&page=3")
        );
        let everything = json_of(send(get(&format!(
            "{}/repos/{REPO}/issues/42/comments",
            api.url()
        ))));
        assert_eq!(everything.as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn comments_are_created_and_edited_as_the_bot() {
        let api = GitHubApi::start();
        let human = api.add_comment(REPO, 7, "looks good");
        let url = format!("{}/repos/{REPO}/issues/7/comments", api.url());

        let created = send(post(&url, json!({ "body": "shipped" })));
        assert_eq!(created.status(), 201);
        let created = json_of(created);
        assert_eq!(created["user"]["login"], BOT_LOGIN);
        let id = created["id"].as_u64().expect("an id");
        assert!(id > human);

        let edit_url = format!("{}/repos/{REPO}/issues/comments/{id}", api.url());
        let edited = send(
            Client::new()
                .patch(&edit_url)
                .header("authorization", TOKEN)
                .json(&json!({ "body": "shipped again" })),
        );
        assert_eq!(edited.status(), 200);
        assert_eq!(json_of(edited)["updated_at"], EDITED_AT);

        let bodies: Vec<Value> = api
            .comments(REPO, 7)
            .into_iter()
            .map(|c| c["body"].clone())
            .collect();
        assert_eq!(bodies, [json!("looks good"), json!("shipped again")]);
        assert_eq!(send(post(&url, json!({ "body": 1 }))).status(), 422);
        let unknown = format!("{}/repos/{REPO}/issues/comments/1", api.url());
        let missing = Client::new()
            .patch(&unknown)
            .header("authorization", TOKEN)
            .json(&json!({ "body": "x" }));
        assert_eq!(send(missing).status(), 404);
    }

    #[test]
    fn deployments_keep_their_request_and_statuses() {
        let api = GitHubApi::start();
        let url = format!("{}/repos/{REPO}/deployments", api.url());
        let request = json!({
            "ref": "refs/heads/main",
            "environment": "staging",
            "auto_merge": false,
            "required_contexts": [],
        });
        let created = send(post(&url, request));
        assert_eq!(created.status(), 201);
        let id = json_of(created)["id"].as_u64().expect("an id");
        assert_eq!(
            send(post(&url, json!({ "environment": "x" }))).status(),
            422
        );

        let statuses_url = format!("{url}/{id}/statuses");
        for state in ["in_progress", "success"] {
            let status = send(post(&statuses_url, json!({ "state": state })));
            assert_eq!(status.status(), 201);
        }
        let bad = send(post(&statuses_url, json!({ "state": "done" })));
        assert_eq!(bad.status(), 422);
        let unknown = send(post(
            &format!("{url}/1/statuses"),
            json!({ "state": "success" }),
        ));
        assert_eq!(unknown.status(), 404);

        let deployments = api.deployments();
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0]["environment"], "staging");
        assert_eq!(deployments[0]["required_contexts"], json!([]));
        let states: Vec<Value> = api
            .statuses(id)
            .into_iter()
            .map(|s| s["state"].clone())
            .collect();
        assert_eq!(states, [json!("in_progress"), json!("success")]);
        let listed = json_of(send(get(&statuses_url)));
        assert_eq!(
            listed[0]["state"], "success",
            "newest first, as GitHub lists them"
        );
    }

    #[test]
    fn a_prefix_is_honoured_and_nothing_is_served_outside_it() {
        let api = GitHubApi::start_with_prefix("/api/v3");
        assert!(api.url().ends_with("/api/v3"), "{}", api.url());
        api.set_repository(REPO, json!({ "full_name": REPO, "private": true }));
        api.add_comment(REPO, 1, "one");
        api.add_comment(REPO, 1, "two");

        let repository = send(get(&format!("{}/repos/{REPO}", api.url())));
        assert_eq!(repository.status(), 200);
        assert_eq!(json_of(repository)["private"], true);

        let page = send(get(&format!(
            "{}/repos/{REPO}/issues/1/comments?per_page=1",
            api.url()
        )));
        assert_eq!(
            rel_next(&page),
            Some(format!(
                "{}/repos/{REPO}/issues/1/comments?per_page=1&page=2",
                api.url()
            ))
        );

        let root = api.url().trim_end_matches("/api/v3").to_string();
        let outside = send(get(&format!("{root}/repos/{REPO}")));
        assert_eq!(outside.status(), 404);
        assert_eq!(json_of(outside)["message"], "Not Found");
        let paths: Vec<String> = api.calls().into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            [
                format!("/repos/{REPO}"),
                format!("/repos/{REPO}/issues/1/comments?per_page=1"),
                format!("/repos/{REPO}"),
            ]
        );
    }

    #[test]
    fn a_queued_fault_is_answered_once_then_requests_are_served() {
        let api = GitHubApi::start();
        api.fail_next(
            "POST",
            "/repos/octo-org/web-app/issues/",
            429,
            &[("Retry-After", "1")],
            "API rate limit exceeded",
        );
        let url = format!("{}/repos/{REPO}/issues/9/comments", api.url());

        let limited = send(post(&url, json!({ "body": "hi" })));
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "1");
        let error = json_of(limited);
        assert_eq!(error["message"], "API rate limit exceeded");
        assert_eq!(error["documentation_url"], DOCUMENTATION_URL);

        assert_eq!(send(post(&url, json!({ "body": "hi" }))).status(), 201);
        assert_eq!(api.comments(REPO, 9).len(), 1);
        let calls = api.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].body, Some(json!({ "body": "hi" })));
    }

    #[test]
    fn the_workflow_s_token_is_no_user() {
        let api = GitHubApi::start();
        let response = send(get(&format!("{}/user", api.url())));
        assert_eq!(response.status(), 403);
        assert_eq!(
            json_of(response)["message"],
            "Resource not accessible by integration"
        );
    }

    #[test]
    fn a_request_without_authorization_is_401_and_still_recorded() {
        let api = GitHubApi::start();
        api.set_repository(REPO, json!({ "full_name": REPO }));
        let response = send(Client::new().get(format!("{}/repos/{REPO}", api.url())));
        assert_eq!(response.status(), 401);
        assert_eq!(json_of(response)["message"], "Requires authentication");

        send(get(&format!("{}/repos/{REPO}", api.url())));
        let authorizations: Vec<Option<String>> =
            api.calls().into_iter().map(|c| c.authorization).collect();
        assert_eq!(authorizations, [None, Some(TOKEN.to_string())]);
    }
}
