//! Plain HTTP APIs on the channel's listener (`--aliyun-http-api PATH=URL`), as an API
//! group serves its normal APIs beside the WebSocket channel: the published chat's client
//! POSTs each line to one (`/send`, with its own `x-ca-deviceid`).
//!
//! A request's method, path, query, headers (the client's `x-ca-deviceid` included; the
//! connection's own and the forwarding ones not) and body go to the backend (an HTTP
//! service or an FC function); its status, headers and body come back, with an
//! `x-ca-request-id`. An API whose auth is APP checks the caller's signature first. CORS
//! preflights are answered and answers allow any origin, as API Gateway does by default
//! (the published client is a browser page). Bounded: the body (the frame limit, within
//! the header timeout), the query (256 parameters), the backend (the function timeout,
//! 1 MiB answers); an API path under a prefix is checked as a channel call's is.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use super::Aliyun;
use super::app_auth;
use super::backend;
use super::calls::{METHODS, backend_url, check_path, is_forwarding_header};
use super::config::{ApiAuth, BackendKind, HttpApi};
use super::signature::Signed;
use crate::socket::Core;

/// Most query parameters a request to an HTTP API may carry.
const MAX_QUERY: usize = 256;

/// What one API's handler works with.
#[derive(Debug, Clone)]
struct ApiState {
    /// The channel (its HTTP client, backend kind, APP keys).
    channel: Arc<Aliyun>,
    /// The node's core (its limits).
    core: Arc<Core>,
    /// The API.
    api: Arc<HttpApi>,
}

/// The routes of every HTTP API of `channel`; `None` when it has none.
pub(super) fn routes(channel: &Arc<Aliyun>, core: &Arc<Core>) -> Option<Router> {
    let apis = &channel.config.http_apis;
    if apis.is_empty() {
        return None;
    }
    let mut router = Router::new();
    for api in apis {
        let state = ApiState {
            channel: channel.clone(),
            core: core.clone(),
            api: Arc::new(api.clone()),
        };
        let (path, under) = api.prefix();
        let mut routes = Router::new().route(path, any(serve));
        if under {
            routes = routes.route(&format!("{path}/{{*rest}}"), any(serve));
        }
        router = router.merge(routes.with_state(state));
    }
    Some(router)
}

/// Every answer goes out with a request id, and open to any origin.
fn finish(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    app_auth::with_request_id(response)
}

async fn serve(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    finish(answer(state, peer, request).await)
}

async fn answer(state: ApiState, peer: SocketAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::OPTIONS
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&parts.headers);
    }
    if !METHODS.contains(&parts.method.as_str()) {
        return app_auth::error(405, "Unsupported Method");
    }
    let limits = &state.core.limits;
    let body = match read(body, limits.max_message_bytes, limits.header_timeout).await {
        Ok(body) => body,
        Err(refusal) => return *refusal,
    };
    let (path, query) = (parts.uri.path(), parts.uri.query());
    if state.api.auth == ApiAuth::App {
        let Some(apps) = &state.channel.app_auth else {
            return app_auth::error(403, "Unauthorized");
        };
        let signed = Signed {
            method: &parts.method,
            path,
            query,
            headers: &parts.headers,
            body: &body,
        };
        if let Err(refusal) = apps.check(&signed) {
            return *refusal;
        }
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .take(MAX_QUERY + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.len() > MAX_QUERY {
        return app_auth::error(400, "Too many query parameters");
    }
    let config = &state.channel.config;
    let url = match target(&state.api, path, config.backend) {
        Ok(url) => url,
        Err(why) => return app_auth::error(400, why),
    };
    let call = backend::Call {
        url,
        method: parts.method.clone(),
        path,
        query: &pairs,
        headers: forwarded(&parts.headers, peer),
        body: body.to_vec(),
    };
    let timeout = limits.function_timeout;
    match backend::call(&state.channel.http, config.backend, call, timeout).await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = (status, answer.body).into_response();
            for (name, value) in answer.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            response
        }
        Err(failure) => app_auth::error(failure.status(), failure.message()),
    }
}

/// The backend URL for a request at `path`: the API's URL (a function's, or an exact
/// API's), or, under a prefix, the rest of the path under the URL's own, checked as a
/// channel call's path is.
fn target(api: &HttpApi, path: &str, kind: BackendKind) -> Result<reqwest::Url, &'static str> {
    let (prefix, under) = api.prefix();
    let rest = path
        .strip_prefix(prefix)
        .filter(|rest| under && !rest.is_empty());
    match rest {
        Some(rest) => {
            check_path(rest)?;
            let rest = (kind == BackendKind::Http).then_some(rest);
            backend_url(&api.url, rest)
        }
        None => backend_url(&api.url, None),
    }
}

/// The client's headers as the backend gets them: without the connection's own and the
/// forwarding ones, which only the gateway sets (`x-forwarded-for`: the client's address).
fn forwarded(headers: &HeaderMap, peer: SocketAddr) -> Vec<(HeaderName, HeaderValue)> {
    let mut kept: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .filter(|(name, _)| !is_forwarding_header(name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Ok(ip) = HeaderValue::from_str(&peer.ip().to_string()) {
        kept.push((HeaderName::from_static("x-forwarded-for"), ip));
    }
    kept
}

/// A body read whole, within `limit` bytes and `deadline`; else the refusal (413, 408).
async fn read(
    body: Body,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, Box<Response>> {
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(Box::new(app_auth::error(413, "Request Body Too Large"))),
        Err(_) => Err(Box::new(app_auth::error(408, "Request Timeout"))),
    }
}

/// A CORS preflight: any origin, the API's methods, the headers asked for (within the
/// bound a header value already has), cached two days.
fn preflight(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH"),
    );
    if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("172800"),
    );
    response
}
