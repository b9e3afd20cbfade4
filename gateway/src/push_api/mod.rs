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
//! | `POST /batch` | ours | `{"sent":n,"undelivered":{id:"gone"\|"overflow"}}` |
//!
//! Every body is read here, before its route sees it: at most the largest request the
//! route can legitimately take ([`FunctionWire::push_body_limit`]: the frame limit where the
//! body is the frame, six times it plus an envelope where the frame travels as a JSON
//! string, and [`batch::body_limit`] for `/batch`), so a `Content-Length` over it is a 413
//! before a byte is read and a chunked body is cut off there with 413; and it must arrive
//! whole within [`Limits::header_timeout`](crate::Limits) of the head, else 408 and the
//! connection is closed. A Signature V4 covers the body, so a signed caller's body is read
//! before it is known to hold the key: those bodies share one budget of
//! [`Limits::pre_auth_body_bytes`](crate::Limits) (a call that does not fit is answered 503
//! at once, unread, and its body may be no longer than the budget), and only after the
//! cheap checks (key id, scope, date) passed. A bearer token is checked on the head alone.
//! A channel's own scheme ([`PushSignature`]: Alibaba's APP signatures) is asked first on
//! its routes, read the same way as a SigV4 call, and with it those routes demand
//! credentials even where the node has none of its own.
//!
//! # Layout
//! - `mod.rs`: [`router`], the credential check (bearer token or SigV4).
//! - `body.rs`: reading a body under its limit and deadline; the pre-authentication budget.
//! - `batch.rs`: `POST /batch`, one payload to many connections.

pub(crate) mod batch;
mod body;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::{self, SigningKeys};
use crate::channel::{ClientChannel, PushCall, PushSignature};
use crate::config::{Limits, PushAuth};
use crate::socket::Core;
use crate::wire::{CredentialFailure, FunctionWire, PushError, PushTarget};
use body::{BodyError, PreAuthBudget, Reading};

/// Whose error shape a refused request gets.
#[derive(Debug, Clone)]
enum Shape {
    /// A function wire's.
    Wire(&'static dyn FunctionWire),
    /// A client channel's.
    Channel(Arc<dyn ClientChannel>),
    /// The batch call's own (401 + `{"error":…}`).
    Native,
}

impl Shape {
    fn error(&self, error: &PushError) -> Response {
        match self {
            Shape::Wire(wire) => wire.push_error(error),
            Shape::Channel(channel) => channel.push_error(error),
            Shape::Native => batch::error(error),
        }
    }

    /// The largest body these routes can legitimately take with frames of `max_frame`.
    fn body_limit(&self, max_frame: usize) -> usize {
        match self {
            Shape::Wire(wire) => wire.push_body_limit(max_frame),
            Shape::Channel(channel) => channel.push_body_limit(max_frame),
            Shape::Native => batch::body_limit(max_frame),
        }
    }

    /// The channel's own signature scheme, if these routes are a channel's that has one.
    fn signature(&self) -> Option<Arc<dyn PushSignature>> {
        match self {
            Shape::Channel(channel) => channel.push_signature(),
            Shape::Wire(_) | Shape::Native => None,
        }
    }
}

/// The credential check's state.
#[derive(Debug, Clone)]
struct Guard {
    /// What is accepted.
    auth: Arc<PushAuth>,
    /// The SigV4 signing keys `auth`'s secret derived, kept (shared by every route).
    signing_keys: Arc<SigningKeys>,
    /// How a refusal looks.
    shape: Shape,
    /// The largest body these routes take: longer is refused (413), not read.
    body_limit: usize,
    /// How long a body may take to arrive whole (slow bodies would hold a task and their
    /// bytes for ever).
    body_deadline: Duration,
    /// Bytes held for signed callers not yet verified, shared by every route.
    pre_auth: PreAuthBudget,
}

impl Guard {
    /// How a body with `headers` is read, under `limit`.
    fn reading(&self, headers: &HeaderMap, limit: usize) -> Reading {
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        Reading {
            limit,
            deadline: self.body_deadline,
            drain: !expects_continue,
        }
    }

    /// `why` in the routes' shape; a body error closes the connection (what is left of the
    /// body is never kept).
    fn refuse_body(&self, why: BodyError) -> Response {
        let mut response = self.shape.error(&why.push_error());
        let close = HeaderValue::from_static("close");
        response.headers_mut().insert(header::CONNECTION, close);
        response
    }

    /// A refused signature, with `why` for the log only (the caller hears which kind of
    /// failure, as AWS tells it: an unknown key, a stale signature, a wrong one).
    fn refuse_signature(&self, why: &str) -> Response {
        tracing::debug!(%why, "push call refused");
        let failure = match why {
            auth::sigv4::UNKNOWN_KEY => CredentialFailure::UnknownKey,
            auth::sigv4::SKEWED => CredentialFailure::Expired,
            _ => CredentialFailure::BadSignature,
        };
        self.shape.error(&PushError::Credentials(failure))
    }
}

/// The push-back routes of the batch call, every wire in `wires` and every channel in
/// `channels` that has some, each behind the credential check `auth`, reaching `core`.
pub fn router(
    core: &Arc<Core>,
    auth: PushAuth,
    wires: &[&'static dyn FunctionWire],
    channels: &[Arc<dyn ClientChannel>],
) -> Router {
    let auth = Arc::new(auth);
    let signing_keys = Arc::new(SigningKeys::default());
    let limits: &Limits = &core.limits;
    let pre_auth = PreAuthBudget::new(limits.pre_auth_body_bytes);
    let (max_frame, body_deadline) = (limits.max_message_bytes, limits.header_timeout);
    let guarded = |routes: Router, shape: Shape| {
        let guard = Guard {
            auth: auth.clone(),
            signing_keys: signing_keys.clone(),
            body_limit: shape.body_limit(max_frame),
            shape,
            body_deadline,
            pre_auth: pre_auth.clone(),
        };
        routes.route_layer(middleware::from_fn_with_state(guard, check))
    };
    let target = PushTarget {
        hub: core.hub.clone(),
        max_frame,
        stage: core.stage.clone(),
    };
    let mut router = guarded(batch::routes().with_state(target.clone()), Shape::Native);
    for wire in wires {
        let routes = wire.push_routes().with_state(target.clone());
        router = router.merge(guarded(routes, Shape::Wire(*wire)));
    }
    for channel in channels {
        if let Some(routes) = channel.clone().push_routes(core.clone()) {
            router = router.merge(guarded(routes, Shape::Channel(channel.clone())));
        }
    }
    // The guard has read every body (within its route's limit) before the routes run.
    router.layer(DefaultBodyLimit::disable())
}

/// Lets a request through with the bearer token, a valid SigV4 signature or a valid
/// signature of the channel's own scheme (when any credential is configured), its body
/// read whole within the limit and the deadline; refuses it in the route's dialect
/// otherwise.
async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let own = guard.shape.signature();
    if let Some(scheme) = &own
        && scheme.claims(request.headers())
    {
        return pass_own_signed(&guard, scheme.as_ref(), request, next).await;
    }
    let required = guard.auth.is_required() || own.is_some();
    if !required || auth::has_token(&guard.auth, request.headers()) {
        return pass_trusted(&guard, request, next).await;
    }
    if !auth::is_signed(request.headers()) {
        return match own {
            Some(scheme) => scheme.missing(),
            None => guard
                .shape
                .error(&PushError::Credentials(CredentialFailure::Missing)),
        };
    }
    pass_signed(&guard, request, next).await
}

/// A call signed in the channel's own scheme: its checks that need no body, its body
/// within the pre-authentication budget, the signature over it, then its route.
async fn pass_own_signed(
    guard: &Guard,
    scheme: &dyn PushSignature,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refusal) = scheme.precheck(request.headers()) {
        return *refusal;
    }
    let (parts, body) = request.into_parts();
    let reading = guard.reading(&parts.headers, guard.pre_auth.limit(guard.body_limit));
    let (bytes, room) = match read_unverified(guard, body, reading).await {
        Ok(read) => read,
        Err(why) => return guard.refuse_body(why),
    };
    let call = PushCall {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &bytes,
    };
    let verified = scheme.verify(&call);
    drop(room);
    match verified {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => *refusal,
    }
}

/// A call whose credentials are known good (or not asked for): its body, then its route.
async fn pass_trusted(guard: &Guard, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let reading = guard.reading(&parts.headers, guard.body_limit);
    match body::read(body, reading).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(why) => guard.refuse_body(why),
    }
}

/// A call with a Signature V4: the checks that need no body (key, scope, date: a caller
/// without them gets nothing buffered), its body within the budget, the signature over it,
/// then its route.
async fn pass_signed(guard: &Guard, request: Request, next: Next) -> Response {
    let claim = match auth::precheck_signature(&guard.auth, request.headers()) {
        Ok(claim) => claim,
        Err(why) => return guard.refuse_signature(&why),
    };
    let (parts, body) = request.into_parts();
    let reading = guard.reading(&parts.headers, guard.pre_auth.limit(guard.body_limit));
    let (bytes, room) = match read_unverified(guard, body, reading).await {
        Ok(read) => read,
        Err(why) => return guard.refuse_body(why),
    };
    let path = (parts.uri.path(), parts.uri.query());
    let (method, headers) = (&parts.method, &parts.headers);
    let keys = &guard.signing_keys;
    let verified = auth::check_signature(&guard.auth, keys, &claim, method, path, headers, &bytes);
    // Verified or not, the body is no longer a stranger's.
    drop(room);
    match verified {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(why) => guard.refuse_signature(&why),
    }
}

/// The body of a call whose signature is still unchecked, with its room in the budget
/// (held until the signature is checked): refused (413) when it declares more than the
/// route or the budget allows, refused at once (503) when the budget has not that much
/// room left, else read under the limit and the deadline.
async fn read_unverified(
    guard: &Guard,
    body: Body,
    reading: Reading,
) -> Result<(Bytes, OwnedSemaphorePermit), BodyError> {
    let room = body::check_declared(&body, reading.limit)
        .and_then(|()| guard.pre_auth.reserve(&body, reading.limit));
    let room = match room {
        Ok(room) => room,
        Err(why) => {
            body::refused(body.into_data_stream(), reading);
            return Err(why);
        }
    };
    Ok((body::read(body, reading).await?, room))
}
