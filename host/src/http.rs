//! The HTTP API: calls and sends from outside, the actor table, health and
//! metrics.
//!
//! | route | what it does |
//! | --- | --- |
//! | `POST /v1/actors/{name}/call` | calls the actor registered as `name` with the body as the request; `200` with the answer as the body |
//! | `POST /v1/actors/{name}/send` | sends the body to `name` as a message; `202` once it is in the mailbox |
//! | `GET /v1/actors` | the actor table as JSON (see [`ActorInfo`](crate::ActorInfo)) |
//! | `GET /healthz` | `200 {"status":"ok"}` once start-up loading is done, `503 {"status":"starting"}` before |
//! | `GET /metrics` | the node's metrics in the Prometheus text format |
//!
//! A call whose request has `Content-Type: application/json` (parameters
//! such as `; charset=utf-8` allowed) is a JSON call: the body must be JSON
//! (or the answer is `400 bad-request` before the actor is involved), the
//! actor is told so by the call's ref (see the WIT's `record ref`), a typed
//! actor of the Rust SDK decodes it with serde_json, and the answer comes
//! back with `Content-Type: application/json`. Any other body goes to the
//! actor as it is, in its native encoding.
//!
//! `{name}` is a registered name, `name@node`, or a pid as the actor table
//! shows it: `<node.id.creation>` (percent-encoded: `%3Cnode.id.creation%3E`)
//! or, needing no escaping, `node.id.creation`. A call waits for the
//! node's call timeout unless the request has an [`TIMEOUT_HEADER`]
//! (milliseconds). Every call and send runs under a trace id: the one in the
//! request's [`trace::HEADER`](crate::core::trace::HEADER), or a new one; the
//! response carries it back in the same header.
//!
//! A failure is a JSON body `{"error": KIND, "message": TEXT}`. KIND is the
//! error's stable name (the same one the CLI prints and the metrics label
//! with), and the status follows it:
//!
//! | KIND | status |
//! | --- | --- |
//! | `bad-request` (bad name, malformed pid, bad header, a body that is not JSON, a request the actor could not decode) | 400 |
//! | `unauthorized` | 401 |
//! | `unknown-process`, `not-found` (no such route) | 404 |
//! | `not-allowed` | 409 |
//! | `payload-too-large` (checked before the actor is involved) | 413 |
//! | `response-ignored` | 500 |
//! | `terminated`, `remote` (the callee ended, or answered with an error) | 502 |
//! | `mailbox-full`, `no-connection` | 503 |
//! | `timeout` | 504 |
//!
//! The API listens on loopback by default. Listening on any other address
//! needs a bearer token ([`HttpConfig::token`]); with a token set, every
//! request must carry `Authorization: Bearer TOKEN` or gets `401`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::core::error::DeliveryError;
use crate::core::pid::Address;
use crate::core::trace::{self, TraceId};
use crate::node::Node;
use crate::process::names::Names;

/// Where the API listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7420";
/// The request header with a call's timeout in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-wactor-timeout-ms";
/// The environment variable the CLI reads the bearer token from.
pub const TOKEN_ENV: &str = "WACTOR_TOKEN";

/// Where and how the API listens.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The address to listen on; port 0 picks a free port (see
    /// [`HttpServer::local_addr`]).
    pub addr: SocketAddr,
    /// The bearer token every request must carry. Required when `addr` is
    /// not a loopback address.
    pub token: Option<String>,
}

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A non-loopback address without a token.
    #[error(
        "the HTTP API would listen on {0}, which is reachable from other machines, without a token; \
         set one with `--token TOKEN` or the {TOKEN_ENV} environment variable, or listen on 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another address with `--http ADDR`, or turn the API off with `--no-http`")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A failed request: its status and the JSON body that explains it.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "bad-request",
            message: message.into(),
        }
    }
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> ApiError {
        let status = match &e {
            DeliveryError::UnknownProcess => StatusCode::NOT_FOUND,
            DeliveryError::MailboxFull | DeliveryError::NoConnection => StatusCode::SERVICE_UNAVAILABLE,
            DeliveryError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            DeliveryError::Terminated(_) | DeliveryError::Remote(_) => StatusCode::BAD_GATEWAY,
            DeliveryError::NotAllowed(_) => StatusCode::CONFLICT,
            DeliveryError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DeliveryError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DeliveryError::ResponseIgnored => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.kind, "message": self.message });
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// What every handler shares.
#[derive(Clone)]
struct Api {
    node: Node,
    token: Option<Arc<str>>,
    ready: Arc<AtomicBool>,
}

/// The API as an axum router, for embedding in a server of one's own.
/// `ready` is what `/healthz` reports.
pub fn router(node: Node, token: Option<String>, ready: Arc<AtomicBool>) -> Router {
    let api = Api {
        node,
        token: token.map(Arc::from),
        ready,
    };
    Router::new()
        .route("/v1/actors", get(list))
        .route("/v1/actors/{name}/call", post(call))
        .route("/v1/actors/{name}/send", post(send))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(api.clone(), authorize))
        .with_state(api)
}

/// A running API server.
pub struct HttpServer {
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Binds `config.addr` and serves the API for `node`. `/healthz` says
    /// `starting` until [`HttpServer::set_ready`].
    pub async fn start(node: Node, config: HttpConfig) -> Result<HttpServer, HttpError> {
        if !config.addr.ip().is_loopback() && config.token.is_none() {
            return Err(HttpError::TokenRequired(config.addr));
        }
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| HttpError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| HttpError::Bind {
            addr: config.addr,
            source,
        })?;
        let ready = Arc::new(AtomicBool::new(false));
        let app = router(node, config.token, ready.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(HttpServer {
            addr,
            ready,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on `/healthz` answers `200`.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Stops accepting connections and waits up to `grace` for the
    /// requests in flight.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server task failed"),
            Err(_) => {
                tracing::warn!("HTTP requests still running after {grace:?}; dropping them");
                self.task.abort();
            }
        }
    }
}

/// Checks the bearer token, when one is set.
async fn authorize(State(api): State<Api>, req: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
            return ApiError {
                status: StatusCode::UNAUTHORIZED,
                kind: "unauthorized",
                message: format!(
                    "this host requires a bearer token: send `Authorization: Bearer TOKEN` \
                     (with the CLI: `--token TOKEN` or the {TOKEN_ENV} environment variable)"
                ),
            }
            .into_response();
        }
    }
    next.run(req).await
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The address a `{name}` path segment names: a pid as `wactor ps` and the
/// actor table show it (`<node.id.creation>`, percent-encoded in a URL) or
/// without its brackets (`node.id.creation`), or a registered name.
fn address(name: Result<Path<String>, PathRejection>) -> Result<Address, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::bad_request(format!("bad actor name in the path: {e}")))?;
    let to = Address::parse(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Address::Name(name) = &to {
        for part in name.splitn(2, '@') {
            Names::validate(part).map_err(|e| {
                ApiError::bad_request(format!(
                    "`{name}` is not an actor name (`name` or `name@node`) nor a pid (`<node.id.creation>`): {e}"
                ))
            })?;
        }
    }
    Ok(to)
}

/// The error of a call or send to `to`, saying which actor was not found.
fn delivery_error(to: &Address, e: DeliveryError) -> ApiError {
    let unknown = matches!(e, DeliveryError::UnknownProcess);
    let mut error = ApiError::from(e);
    if unknown {
        let what = match to {
            Address::Pid(_) => "pid",
            Address::Name(_) => "name",
        };
        error.message = format!(
            "unknown process: no live actor has the {what} `{to}` (it may have ended; `GET /v1/actors` or `wactor ps` lists the live ones)"
        );
    }
    error
}

/// The request's trace id, or a new one.
fn trace_id(headers: &HeaderMap) -> Result<TraceId, ApiError> {
    match headers.get(trace::HEADER) {
        None => Ok(TraceId::new()),
        Some(v) => v.to_str().ok().and_then(|v| v.parse().ok()).ok_or_else(|| {
            ApiError::bad_request(format!("{}: a trace id is 32 hexadecimal digits", trace::HEADER))
        }),
    }
}

/// The call timeout the request asks for, if any.
fn timeout(headers: &HeaderMap) -> Result<Option<Duration>, ApiError> {
    let Some(v) = headers.get(TIMEOUT_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(format!(
            "{TIMEOUT_HEADER} must be a whole number of milliseconds, at least 1; got {v:?}"
        ))
    };
    match v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
        _ => Err(bad()),
    }
}

/// Reads the request body, refusing one over the node's payload limit
/// before the actor is involved.
async fn payload(api: &Api, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let max = api.node.config().max_message_bytes;
    let too_large = || {
        ApiError::from(DeliveryError::PayloadTooLarge(
            u32::try_from(max).unwrap_or(u32::MAX),
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// True when the request's body is JSON (`Content-Type: application/json`,
/// with or without parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a JSON call whose body is not JSON, before the actor sees it.
fn check_json(body: &[u8]) -> Result<(), ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not JSON ({e}), but the request says `Content-Type: application/json`"
            ))
        })
}

/// Adds the trace id to a response.
fn traced(trace: TraceId, res: impl IntoResponse) -> Response {
    let mut res = res.into_response();
    if let Ok(v) = HeaderValue::from_str(&trace.to_string()) {
        res.headers_mut().insert(trace::HEADER, v);
    }
    res
}

async fn call(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let trace = match trace_id(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let json = is_json(&headers);
    let result = async {
        let to = address(name)?;
        let timeout = timeout(&headers)?;
        let request = payload(&api, &headers, body).await?;
        let answer = if json {
            check_json(&request)?;
            trace::scope(trace, api.node.call_json(to.clone(), request.to_vec(), timeout)).await
        } else {
            trace::scope(trace, api.node.call(to.clone(), request.to_vec(), timeout)).await
        }
        .map_err(|e| delivery_error(&to, e))?;
        Ok::<_, ApiError>(answer)
    }
    .await;
    if let Err(e) = &result {
        tracing::debug!(%trace, kind = e.kind, "HTTP call failed");
    }
    let answered = result.map(|answer| {
        let mut res = (StatusCode::OK, answer).into_response();
        if json {
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        res
    });
    traced(trace, answered)
}

async fn send(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let trace = match trace_id(&headers) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let to = address(name)?;
        let message = payload(&api, &headers, body).await?;
        trace::sync_scope(trace, || api.node.send(to.clone(), message.to_vec()))
            .map_err(|e| delivery_error(&to, e))?;
        Ok::<_, ApiError>(StatusCode::ACCEPTED)
    }
    .await;
    traced(trace, result)
}

async fn list(State(api): State<Api>) -> Response {
    Json(api.node.actors()).into_response()
}

async fn health(State(api): State<Api>) -> Response {
    if api.ready.load(Ordering::SeqCst) {
        let live = api.node.actors().len();
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "actors": live })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "starting" })),
        )
            .into_response()
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        api.node.metrics_text(),
    )
        .into_response()
}

async fn not_found(req: Request) -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not-found",
        message: format!(
            "no route {} {}; the API has POST /v1/actors/NAME/call, POST /v1/actors/NAME/send, \
             GET /v1/actors, GET /healthz and GET /metrics",
            req.method(),
            req.uri().path()
        ),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_delivery_error_has_its_status_and_kind() {
        let cases = [
            (DeliveryError::UnknownProcess, 404, "unknown-process"),
            (DeliveryError::MailboxFull, 503, "mailbox-full"),
            (DeliveryError::Timeout, 504, "timeout"),
            (DeliveryError::NoConnection, 503, "no-connection"),
            (DeliveryError::ResponseIgnored, 500, "response-ignored"),
            (DeliveryError::Terminated("r".into()), 502, "terminated"),
            (DeliveryError::Remote("r".into()), 502, "remote"),
            (DeliveryError::NotAllowed("r".into()), 409, "not-allowed"),
            (DeliveryError::PayloadTooLarge(1), 413, "payload-too-large"),
            (DeliveryError::BadRequest("r".into()), 400, "bad-request"),
        ];
        for (e, status, kind) in cases {
            let text = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.kind), (status, kind));
            assert_eq!(api.message, text);
        }
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("application/octet-stream"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
