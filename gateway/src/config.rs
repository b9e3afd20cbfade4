//! Gateway settings: addresses, function backend, limits. All have sane defaults.

use std::net::SocketAddr;
use std::time::Duration;

use chat::EventShape;

/// Per-connection and per-node limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message a client may send (bigger: close 1009).
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
    /// WebSocket ping interval; two missed pongs mean the network is gone.
    pub ping_interval: Duration,
    /// How long a function may take before it counts as failed.
    pub function_timeout: Duration,
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
            ping_interval: Duration::from_secs(20),
            function_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the functions run.
#[derive(Debug, Clone)]
pub enum FunctionMode {
    /// The chat functions linked into the gateway (the default).
    InProcess {
        /// Lease granted on register and heartbeat.
        lease: Duration,
    },
    /// POST each event to these URLs.
    Http {
        /// The register function.
        register: String,
        /// The transport function.
        transport: String,
        /// The cleanup function.
        cleanup: String,
        /// The event JSON shape.
        shape: EventShape,
    },
}

/// Everything a gateway node needs besides its listeners and store.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The push-back URL this node advertises in connection records.
    pub push_url: String,
    /// Bearer token the push-back API demands (required when it listens off loopback).
    pub push_token: Option<String>,
    /// Where functions run.
    pub functions: FunctionMode,
    /// Limits.
    pub limits: Limits,
}

impl GatewayConfig {
    /// In-process functions, default limits, advertising `push_addr`.
    pub fn local(push_addr: SocketAddr) -> Self {
        GatewayConfig {
            push_url: format!("http://{push_addr}"),
            push_token: None,
            functions: FunctionMode::InProcess {
                lease: Duration::from_secs(60),
            },
            limits: Limits::default(),
        }
    }
}
