//! The function wires: one module per cloud whose functions are HTTP (or runtime-hosted)
//! functions, each a [`FunctionCodec`] (its event JSON and answer semantics) plus its
//! push-back routes and their error shapes, over a narrow [`PushTarget`] (the hub and the
//! frame limit). Every wire's push routes are served side by side on the push listener;
//! the one a node's functions speak shapes their events.
//!
//! # Layout
//! - `mod.rs`: the [`FunctionWire`] trait, [`PushTarget`] (delivering a frame or a close and
//!   saying why not, written once for every wire), [`PushError`], [`json_frame_limit`],
//!   [`frame_of_data`], the built-in wires [`BUILT_IN`].
//! - `aws/`: AWS API Gateway WebSocket + Lambda: events, Lambda proxy answers,
//!   `@connections` (with or without a stage), REST-JSON errors.
//! - `tencent/`: Tencent API Gateway + SCF: register/transport/cleanup events, `errNo`
//!   answers, reverse push.
//!
//! Adding a wire, in this crate or another: a type implementing [`FunctionCodec`] and
//! [`FunctionWire`], handed to [`GatewayBuilder::wire`](crate::GatewayBuilder::wire).

pub mod aws;
#[cfg(test)]
mod sample;
pub mod tencent;

use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lifecycle::Delivery;

use crate::hub::{Hub, Kick, Outbound};
pub use crate::invoke::FunctionCodec;

/// The wires every node serves the push routes of.
pub const BUILT_IN: &[&dyn FunctionWire] = &[&aws::Aws, &tencent::Tencent];

/// The built-in wire called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn FunctionWire> {
    BUILT_IN.iter().copied().find(|w| w.name() == name)
}

/// The names of the built-in wires (for `--dialect`).
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILT_IN.iter().map(|w| w.name())
}

/// One cloud's function wire: how its functions are called (the codec) and how they push
/// back (routes on the push listener, errors in its shape).
pub trait FunctionWire: FunctionCodec {
    /// Its push-back routes.
    fn push_routes(&self) -> Router<PushTarget>;

    /// `error` in its shape.
    fn push_error(&self, error: &PushError) -> Response;

    /// The largest request body its push routes can legitimately take when frames are at
    /// most `max_frame` bytes; a longer one is refused (413) before or while it is read.
    /// The default: the body is the frame itself.
    fn push_body_limit(&self, max_frame: usize) -> usize {
        max_frame
    }
}

/// What push routes reach: this node's connections, and the largest frame a push may carry.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// This node's connections.
    pub hub: Arc<Hub>,
    /// Largest frame a push may carry (the node's message limit).
    pub max_frame: usize,
    /// The node's stage: a route naming another refuses the call.
    pub stage: Arc<str>,
}

impl PushTarget {
    /// Queues `frame` for `id`; why not, as every push route answers it.
    pub fn deliver(&self, id: &str, frame: Outbound) -> Result<(), PushError> {
        self.fits(&frame)?;
        delivered(self.hub.send(id, frame))
    }

    /// `Err` (413) when `frame` is over the frame limit.
    pub fn fits(&self, frame: &Outbound) -> Result<(), PushError> {
        match frame.len() > self.max_frame {
            true => Err(PushError::PayloadTooLarge(self.max_frame)),
            false => Ok(()),
        }
    }

    /// Closes `id` as a function asked (1000); `Gone` when it is not here.
    pub fn close(&self, id: &str) -> Result<(), PushError> {
        if self.hub.kick(id, Kick::by_function()) {
            Ok(())
        } else {
            Err(PushError::Gone)
        }
    }
}

/// A delivery as a push route answers it.
pub fn delivered(delivery: Delivery) -> Result<(), PushError> {
    match delivery {
        Delivery::Sent => Ok(()),
        Delivery::Gone => Err(PushError::Gone),
        Delivery::Overflow => Err(PushError::LimitExceeded(
            "the connection's outbound queue is full: it is closed as too slow".into(),
        )),
    }
}

/// The frame a JSON push carries as `data` with its `dataType` (`text`, the default, or
/// `binary` as base64): Tencent's reverse push and the batch call read it the same way.
pub fn frame_of_data(data: &str, data_type: Option<&str>) -> Result<Outbound, PushError> {
    match data_type {
        None | Some("text") => Ok(Outbound::text(data)),
        Some("binary") => STANDARD
            .decode(data)
            .map(Outbound::binary)
            .map_err(|e| PushError::BadRequest(format!("binary data is not base64: {e}"))),
        Some(other) => Err(PushError::BadRequest(format!(
            "dataType `{other}`: text or binary"
        ))),
    }
}

/// Why a push call failed; each dialect answers it in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// No such connection on this node (410).
    Gone,
    /// Missing or bad credentials (403; the native batch call answers 401).
    Forbidden(String),
    /// Credentials refused for a reason the clouds name (403; the batch call 401).
    Credentials(CredentialFailure),
    /// The frame is over the limit (413).
    PayloadTooLarge(usize),
    /// The connection cannot take more now (429): its queue was full and it was closed.
    LimitExceeded(String),
    /// The request is malformed (400).
    BadRequest(String),
    /// The request's body is over what its route can legitimately take (413), given as its
    /// limit: refused before it is read, or cut off there.
    BodyTooLarge(usize),
    /// The request's body did not arrive whole in time (408); the connection is closed.
    TimedOut,
    /// The node cannot take the request now (503): too many unauthenticated bodies are
    /// being read.
    Unavailable(String),
}

impl PushError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            PushError::Gone => 410,
            PushError::Forbidden(_) | PushError::Credentials(_) => 403,
            PushError::PayloadTooLarge(_) => 413,
            PushError::LimitExceeded(_) => 429,
            PushError::BadRequest(_) => 400,
            PushError::BodyTooLarge(_) => 413,
            PushError::TimedOut => 408,
            PushError::Unavailable(_) => 503,
        }
    }

    /// In words.
    pub fn message(&self) -> String {
        match self {
            PushError::Gone => "no such connection on this node".to_owned(),
            PushError::Credentials(failure) => failure.message().to_owned(),
            PushError::Forbidden(why)
            | PushError::LimitExceeded(why)
            | PushError::BadRequest(why)
            | PushError::Unavailable(why) => why.clone(),
            PushError::PayloadTooLarge(limit) => {
                format!("the payload is over the frame limit of {limit} bytes")
            }
            PushError::BodyTooLarge(limit) => {
                format!("the request body is over this route's limit of {limit} bytes")
            }
            PushError::TimedOut => "the request body did not arrive in time".to_owned(),
        }
    }
}

/// Why credentials were refused, as AWS tells its SDKs apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFailure {
    /// None came.
    Missing,
    /// The key id is not one the node knows.
    UnknownKey,
    /// The signature does not match (or the request is not signed as SigV4 asks).
    BadSignature,
    /// The signature's time is too far from the node's clock.
    Expired,
}

impl CredentialFailure {
    /// AWS's message for it.
    pub fn message(self) -> &'static str {
        match self {
            CredentialFailure::Missing => "Missing Authentication Token",
            CredentialFailure::UnknownKey => {
                "The security token included in the request is invalid."
            }
            CredentialFailure::BadSignature => {
                "The request signature we calculated does not match the signature you \
                 provided. Check your AWS Secret Access Key and signing method. Consult the \
                 service documentation for details."
            }
            CredentialFailure::Expired => {
                "Signature expired: the request is more than 15 minutes away from the \
                 server's clock."
            }
        }
    }

    /// AWS's error type for it (`x-amzn-ErrorType`).
    pub fn aws_type(self) -> &'static str {
        match self {
            CredentialFailure::Missing => "MissingAuthenticationTokenException",
            CredentialFailure::UnknownKey => "UnrecognizedClientException",
            CredentialFailure::BadSignature | CredentialFailure::Expired => {
                "InvalidSignatureException"
            }
        }
    }
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for PushError {}

/// Bytes a JSON request carrying one frame of `max_frame` bytes as a string may take: every
/// byte of a text escaped (`\u001f`, six bytes: more than base64's four per three), plus
/// an envelope (keys, an id, whitespace) of a few KiB.
pub fn json_frame_limit(max_frame: usize) -> usize {
    /// Bytes a JSON string may take per byte of the text it carries.
    const ESCAPED: usize = 6;
    /// Bytes for everything around the frame.
    const ENVELOPE: usize = 4 * 1024;
    max_frame.saturating_mul(ESCAPED).saturating_add(ENVELOPE)
}

#[cfg(test)]
mod tests {
    use lifecycle::ConnectionInfo;

    use super::*;
    use crate::hub::QueueBound;

    #[test]
    fn data_becomes_a_frame_by_its_type() {
        assert_eq!(frame_of_data("hi", None).unwrap(), Outbound::text("hi"));
        assert_eq!(
            frame_of_data("hi", Some("text")).unwrap(),
            Outbound::text("hi")
        );
        let binary = frame_of_data("AAE=", Some("binary")).unwrap();
        assert_eq!(binary, Outbound::binary(vec![0u8, 1]));
        for (data, kind) in [("not base64!", "binary"), ("hi", "xml")] {
            let refused = frame_of_data(data, Some(kind)).unwrap_err();
            assert_eq!(refused.status(), 400, "{refused}");
        }
    }

    #[test]
    fn a_push_target_delivers_refuses_and_closes_as_every_route_answers() {
        let hub = Arc::new(Hub::default());
        let info = Arc::new(ConnectionInfo {
            id: "c".into(),
            ..ConnectionInfo::default()
        });
        let mut handle = hub.insert(info, QueueBound::frames(1));
        let target = PushTarget {
            hub,
            max_frame: 4,
            stage: Arc::from("production"),
        };
        target.deliver("c", Outbound::text("1234")).unwrap();
        assert_eq!(handle.try_next().unwrap(), Outbound::text("1234"));
        let big = target.deliver("c", Outbound::text("12345")).unwrap_err();
        assert_eq!(big, PushError::PayloadTooLarge(4));
        assert_eq!(
            target.deliver("nobody", Outbound::text("x")),
            Err(PushError::Gone)
        );
        target.deliver("c", Outbound::text("a")).unwrap();
        let full = target.deliver("c", Outbound::text("b")).unwrap_err();
        assert_eq!(full.status(), 429);
        target.close("c").unwrap();
        assert_eq!(handle.kicked().unwrap(), Kick::by_function());
        assert_eq!(target.close("nobody"), Err(PushError::Gone));
    }

    #[test]
    fn a_json_frame_limit_holds_the_worst_escaped_frame() {
        let frame = "\u{1f}".repeat(1000);
        let body = serde_json::json!({ "data": frame, "id": "x".repeat(128) }).to_string();
        assert!(body.len() <= json_frame_limit(1000), "{} bytes", body.len());
        assert_eq!(json_frame_limit(usize::MAX), usize::MAX);
    }
}
