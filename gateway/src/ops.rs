//! The routes an operator's tools call: `/healthz` (the process serves), `/readyz` (it
//! should get new connections: not draining, and its store answers in time) and `/metrics`
//! (Prometheus text, on the push listener only). None of them needs the push API's
//! credentials: probes and scrapers rarely carry any, and none of them changes anything.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use store_core::{ConnectionStore, RoomName};
use tokio::sync::watch;

/// How long the store may take to answer a readiness probe before the node reports itself
/// not ready (a probe must answer well within a load balancer's own timeout).
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What the probes look at.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// The store the node's connections live in: not ready while it does not answer.
    pub store: Option<Arc<dyn ConnectionStore>>,
    /// Renders this process's metrics; none answers 404 at `/metrics`.
    pub metrics: Option<PrometheusHandle>,
}

/// What the routes read: what to probe, and whether the node is draining.
#[derive(Clone)]
struct OpsState {
    /// What to probe.
    probes: Probes,
    /// True once shutdown began.
    draining: watch::Receiver<bool>,
}

/// `/healthz` and `/readyz`, plus `/metrics` when `with_metrics` (the push listener).
pub fn router(probes: Probes, draining: watch::Receiver<bool>, with_metrics: bool) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if with_metrics {
        router = router.route("/metrics", get(render));
    }
    router.with_state(OpsState { probes, draining })
}

/// Alive: the process answers (also while draining, so a supervisor does not kill a node
/// that is finishing its cleanups).
async fn healthz() -> &'static str {
    "ok"
}

/// Ready: 200 when the node takes connections and its store (if it has one) answered a
/// count within [`READY_TIMEOUT`] and has no call stuck past its deadline (such calls may
/// pin the blocking threads an embedded store runs on); 503, with the reason, otherwise.
async fn readyz(State(state): State<OpsState>) -> Response {
    if *state.draining.borrow() {
        return not_ready("draining", None);
    }
    if let Some(store) = &state.probes.store {
        if let Some(stuck) = store.stuck_calls().filter(|stuck| stuck.count > 0) {
            return not_ready("store timed out", Some(stuck.to_string()));
        }
        let probe = RoomName::new("readyz-probe").expect("a valid room name");
        match tokio::time::timeout(READY_TIMEOUT, store.count(&probe)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => return not_ready("store failed", Some(err.to_string())),
            Err(_) => return not_ready("store timed out", None),
        }
    }
    (StatusCode::OK, axum::Json(json!({ "ready": true }))).into_response()
}

/// 503 with `why` (a fixed phrase a probe may match) and, when known, `detail`.
fn not_ready(why: &str, detail: Option<String>) -> Response {
    tracing::debug!(why, detail = detail.as_deref().unwrap_or(""), "not ready");
    let mut body = json!({ "ready": false, "why": why });
    if let Some(detail) = detail {
        body["detail"] = detail.into();
    }
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// `/metrics`: every metric of this process in Prometheus's text format; 404 when no
/// recorder was installed (a library user's node).
async fn render(State(state): State<OpsState>) -> Response {
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    crate::metrics::tasks_alive(tasks);
    match &state.probes.metrics {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder in this process").into_response(),
    }
}

/// Counts a push-back API request by its route template and status (never its path: the
/// path holds a connection id).
pub async fn count_push_call(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    crate::metrics::push_call(route, response.status().as_u16());
    response
}
