//! Settings, as plain data: per-connection and per-node limits, push API credentials, the
//! names a node gives itself in events. All have sane defaults. (Where functions run is
//! the invoking floor's [`FunctionMode`](crate::FunctionMode); the whole node's settings are
//! [`GatewayConfig`](crate::GatewayConfig).)

use std::fmt;
use std::time::Duration;

/// Per-connection and per-node limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message a client may send (bigger: close 1009), and largest frame a push
    /// may carry (bigger: 413).
    pub max_message_bytes: usize,
    /// A connection that sends nothing (not even a heartbeat) this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed after this long, whatever it does (clients reconnect).
    pub max_connection_age: Duration,
    /// Messages per second a client may send, sustained (bursts of twice that).
    pub messages_per_second: u32,
    /// Open connections per node; more are refused with HTTP 503.
    pub max_connections: usize,
    /// Frames queued for one client; a client that lets it fill is closed as too slow.
    pub outbound_queue: usize,
    /// Bytes queued for one client, the same way: frames bound a broadcast's small notices,
    /// bytes what callers pushing large frames to a client that stopped reading can make
    /// the node hold (256 frames of 128 KiB would be 32 MiB for one connection).
    pub outbound_queue_bytes: usize,
    /// WebSocket ping interval; two missed pongs mean the network is gone.
    pub ping_interval: Duration,
    /// How long a function may take before it counts as failed (504 at a handshake).
    pub function_timeout: Duration,
    /// Bytes a socket reads at a time. Small by default: the WebSocket library zero-fills
    /// this much before every read and keeps it for the connection's life, so it is most of
    /// an idle connection's memory and, at 128 KiB, most of a broadcast's CPU. A larger
    /// message is still read whole (the buffer grows to the message's announced length).
    /// 1 KiB holds a few chat-sized frames; a 128 KiB message takes 128 reads (the rate
    /// limit bounds how often a client can ask for that).
    pub read_buffer_bytes: usize,
    /// Bytes of outgoing frames gathered into one socket write, at most (every frame is
    /// written once queued frames run out, so this only batches bursts; 64 frames are the
    /// other bound). Frames are written from their shared payloads, with one vectored
    /// write, and nothing is kept once written: gathering more costs no memory per
    /// connection, only the references to what it gathered while it is written.
    pub write_buffer_bytes: usize,
    /// How long a client may take to send a whole request head (a handshake, a push call)
    /// once its connection is ready for one; then it is closed (slowloris). A push call's
    /// body must arrive whole within as long again once its head is in (else 408, closed).
    pub header_timeout: Duration,
    /// How long a write to a client may stay pending (the client takes nothing of it);
    /// then the connection is closed as too slow (4408, or dropped when not even a close
    /// frame can go). Without it one client that stops reading pins its session.
    pub write_timeout: Duration,
    /// Bytes of push request bodies held at once for callers not yet authenticated (a
    /// Signature V4 covers the body, so the body is read before the signature is checked);
    /// a signed call that would go over is answered 503 at once, without reading. Also the
    /// largest body such a call may have (413 above it). Without it anyone who knows the
    /// access key id (it travels in clear) could make the node hold bodies.
    pub pre_auth_body_bytes: usize,
    /// Messages of one connection whose functions run at once, where the dialect invokes
    /// them concurrently (AWS); with all of them running, the node reads nothing more
    /// from that client until one is done (TCP pushes back; the client is not closed).
    pub max_inflight_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(120),
            max_connection_age: Duration::from_secs(2 * 3600),
            messages_per_second: 20,
            max_connections: 10_000,
            outbound_queue: 256,
            outbound_queue_bytes: 1024 * 1024,
            ping_interval: Duration::from_secs(20),
            function_timeout: Duration::from_secs(5),
            read_buffer_bytes: 1024,
            write_buffer_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            pre_auth_body_bytes: 32 * 1024 * 1024,
            max_inflight_per_connection: 10,
        }
    }
}

impl Limits {
    /// What in these limits defeats another of them (said as a warning when a node
    /// starts; none is an error, since each works on its own).
    pub fn doubts(&self) -> Vec<String> {
        let mut doubts = Vec::new();
        if self.ping_interval >= self.idle_timeout {
            // A pong is not the client's activity: the idle timeout ends the connection
            // before a missed pong could tell a dead network.
            doubts.push(format!(
                "the ping interval ({:?}) is not shorter than the idle timeout ({:?}): a \
                 dead network is found by the idle timeout, not by the pings",
                self.ping_interval, self.idle_timeout
            ));
        }
        doubts
    }
}

/// AWS credentials the push API accepts Signature V4 requests from.
#[derive(Clone)]
pub struct SigV4Key {
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// Its secret — never printed.
    pub secret_access_key: String,
}

impl SigV4Key {
    /// A key from its id and secret; `Err` when either is empty or only whitespace (an
    /// empty secret lets anyone who knows the id sign, and the id travels in clear).
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Result<Self, CredentialError> {
        let key = SigV4Key {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        };
        key.validate()?;
        Ok(key)
    }

    /// `Err` when the id or the secret is empty or only whitespace.
    pub fn validate(&self) -> Result<(), CredentialError> {
        if is_blank(&self.access_key_id) {
            return Err(CredentialError::EmptyAccessKeyId);
        }
        if is_blank(&self.secret_access_key) {
            return Err(CredentialError::EmptySecret);
        }
        Ok(())
    }
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Why push API credentials were refused: each of these would let callers in that hold no
/// secret, so a node refuses to start with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The bearer token is empty or only whitespace.
    #[error("the push token is empty: set a real one, or none")]
    EmptyToken,
    /// The AWS access key id is empty or only whitespace.
    #[error("the AWS access key id is empty")]
    EmptyAccessKeyId,
    /// The AWS secret access key is empty or only whitespace.
    #[error("the AWS secret access key is empty: anyone could sign with it")]
    EmptySecret,
    /// An access key id was given without its secret.
    #[error("an AWS access key id without its secret access key")]
    MissingSecret,
    /// A secret was given without its access key id.
    #[error("an AWS secret access key without its access key id")]
    MissingAccessKeyId,
}

impl fmt::Debug for SigV4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Key")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// Who may call the push API. With neither set it is open (loopback only, the binary
/// enforces that); with both, either one suffices.
#[derive(Clone, Default)]
pub struct PushAuth {
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// AWS Signature V4 (service `execute-api`, any region), as the clouds' SDKs sign.
    pub sigv4: Option<SigV4Key>,
    /// Every call needs a credential even when neither of the above is set: the node's
    /// only credentials are a channel's own (Alibaba's app keys, checked on its routes),
    /// so every other route is closed rather than open.
    pub closed: bool,
}

impl fmt::Debug for PushAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushAuth")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("sigv4", &self.sigv4)
            .field("closed", &self.closed)
            .finish()
    }
}

impl PushAuth {
    /// The credentials as flags or environment variables give them: a token, and an AWS
    /// key id and secret (both or neither); `Err` when any given one is empty or only
    /// whitespace, or one of the key's halves comes without the other.
    pub fn new(
        token: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
    ) -> Result<Self, CredentialError> {
        let sigv4 = match (access_key_id, secret_access_key) {
            (Some(id), Some(secret)) => Some(SigV4Key::new(id, secret)?),
            (Some(_), None) => return Err(CredentialError::MissingSecret),
            (None, Some(_)) => return Err(CredentialError::MissingAccessKeyId),
            (None, None) => None,
        };
        let auth = PushAuth {
            token,
            sigv4,
            closed: false,
        };
        auth.validate()?;
        Ok(auth)
    }

    /// `Err` when a credential is set but empty or only whitespace (for a `PushAuth` built
    /// field by field; [`PushAuth::new`] checks it).
    pub fn validate(&self) -> Result<(), CredentialError> {
        if self.token.as_deref().is_some_and(is_blank) {
            return Err(CredentialError::EmptyToken);
        }
        self.sigv4.as_ref().map_or(Ok(()), SigV4Key::validate)
    }

    /// True when any credential is demanded.
    pub fn is_required(&self) -> bool {
        self.token.is_some() || self.sigv4.is_some() || self.closed
    }
}

/// How this node names itself in the events it sends (the clouds' `stage`, `apiId`,
/// `serviceName`).
#[derive(Debug, Clone)]
pub struct Naming {
    /// The stage (AWS `requestContext.stage`, Tencent `requestContext.stage`).
    pub stage: String,
    /// AWS `requestContext.apiId`; Tencent `requestContext.serviceName`.
    pub api_id: String,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            stage: "production".into(),
            api_id: "local".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Limits;

    #[test]
    fn pings_no_sooner_than_the_idle_timeout_are_doubted() {
        assert!(Limits::default().doubts().is_empty());
        let late_pings = Limits {
            ping_interval: Duration::from_secs(120),
            ..Limits::default()
        };
        let doubts = late_pings.doubts();
        assert_eq!(doubts.len(), 1);
        assert!(doubts[0].contains("idle timeout"), "{doubts:?}");
    }
}
