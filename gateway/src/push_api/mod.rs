//! The push-back API functions call to reach connections held by this node: every
//! dialect's routes side by side, plus the node's own batch call, behind one credential
//! check.
//!
//! | call | dialect | answer |
//! |---|---|---|
//! | `POST /` | Tencent reverse push | `{"errNo":0,"errMsg":"ok"}`; errNo = status on failure |
//! | `POST [/{stage}]/@connections/{id}` | AWS PostToConnection | 200; 410/413/429/403 typed |
//! | `GET [/{stage}]/@connections/{id}` | AWS GetConnection | ISO-8601 `connectedAt`, `lastActiveAt`, `identity` |
//! | `DELETE [/{stage}]/@connections/{id}` | AWS DeleteConnection | 204 |
//! | `POST /batch` | ours | `{"results":{id:"sent"\|"gone"\|"overflow"}}` |
//!
//! # Layout
//! - `mod.rs`: [`PushState`], [`router`], the credential check (bearer token or SigV4).
//! - `batch.rs`: `POST /batch`, one payload to many connections.

pub(crate) mod batch;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::Gateway;
use crate::auth;
use crate::config::PushAuth;
use crate::dialect::{self, Dialect, PushError};
use crate::hub::Hub;

/// Largest push request body read (a batch to thousands of ids); single frames are held to
/// the frame limit by each route.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What the push routes need.
#[derive(Debug, Clone)]
pub struct PushState {
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// Largest frame a push may carry (the node's message limit).
    pub max_frame: usize,
    /// The node (its presence store, push URL, HTTP client for forwarding).
    pub gateway: Arc<Gateway>,
}

/// Whose error shape a refused request gets.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A cloud dialect's.
    Dialect(&'static dyn Dialect),
    /// The batch call's own (401 + `{"error":…}`).
    Native,
}

impl Shape {
    fn error(self, error: &PushError) -> Response {
        match self {
            Shape::Dialect(dialect) => dialect.push_error(error),
            Shape::Native => batch::error(error),
        }
    }
}

/// The credential check's state.
#[derive(Debug, Clone)]
struct Guard {
    /// What is accepted.
    auth: Arc<PushAuth>,
    /// How a refusal looks.
    shape: Shape,
}

/// The push-back routes of every dialect and the batch call.
pub fn router(state: PushState, auth: PushAuth) -> Router {
    let auth = Arc::new(auth);
    let guarded = |routes: Router<PushState>, shape: Shape| {
        let guard = Guard {
            auth: auth.clone(),
            shape,
        };
        routes.route_layer(middleware::from_fn_with_state(guard, check))
    };
    let mut router = guarded(batch::routes(), Shape::Native);
    for dialect in dialect::ALL {
        router = router.merge(guarded(dialect.push_routes(), Shape::Dialect(*dialect)));
    }
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Lets a request through with the bearer token or a valid SigV4 signature (when any
/// credential is configured); refuses it in the route's dialect otherwise.
async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if !guard.auth.is_required() || auth::has_token(&guard.auth, request.headers()) {
        return next.run(request).await;
    }
    if !auth::is_signed(request.headers()) {
        return guard.shape.error(&PushError::Forbidden(
            "missing credentials: a bearer token or an AWS Signature V4".into(),
        ));
    }
    // Key, scope and date first: a caller without them gets nothing buffered.
    let refused = |why: String| {
        tracing::debug!(%why, "push call refused");
        guard
            .shape
            .error(&PushError::Forbidden("the signature was refused".into()))
    };
    let claim = match auth::precheck_signature(&guard.auth, request.headers()) {
        Ok(claim) => claim,
        Err(why) => return refused(why),
    };
    // The signature covers the body: read it, check, and hand the same bytes on.
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return guard.shape.error(&PushError::PayloadTooLarge(BODY_LIMIT));
    };
    let path = (parts.uri.path(), parts.uri.query());
    match auth::check_signature(
        &guard.auth,
        &claim,
        &parts.method,
        path,
        &parts.headers,
        &bytes,
    ) {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(why) => refused(why),
    }
}
