//! One WebSocket connection, from upgrade to cleanup.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use chat::{Action, LifecycleEvent, Payload};
use futures::StreamExt;
use rand::RngCore;
use store_core::Clock;
use tokio::sync::{mpsc, watch};

use crate::Gateway;
use crate::hub::{ConnInfo, Hub, Kick, Outbound};

/// Close codes the gateway uses.
pub mod close_code {
    /// Normal closure (max age, closed by a function).
    pub const NORMAL: u16 = 1000;
    /// Server going away (graceful shutdown, idle timeout).
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation (rate limit, register refused).
    pub const POLICY: u16 = 1008;
    /// Message too big.
    pub const TOO_BIG: u16 = 1009;
    /// Server error (register failed or timed out).
    pub const SERVER_ERROR: u16 = 1011;
    /// The connection's lease is gone (heartbeat after expiry): reconnect.
    pub const LEASE_LOST: u16 = 4410;
    /// The client did not read fast enough.
    pub const TOO_SLOW: u16 = 4408;
}

/// A fresh, unguessable connection id: 128 random bits, hex.
fn new_connection_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> u64 {
    store_core::SystemClock.now_ms()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_owned()),
        })))
        .await;
}

/// A token bucket: `rate` per second, bursts of `2 * rate`.
struct RateLimit {
    /// Tokens left.
    tokens: f64,
    /// Refill per second.
    rate: f64,
    /// Last refill.
    at: Instant,
}

impl RateLimit {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        RateLimit {
            tokens: rate * 2.0,
            rate,
            at: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Runs one connection: register, then read/write until something ends it, then cleanup.
pub async fn run(
    gateway: Arc<Gateway>,
    mut socket: WebSocket,
    room: String,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _alive = gateway.sessions.enter();
    let limits = gateway.config.limits.clone();
    let id = new_connection_id();
    let connected_at_ms = now_ms();
    let event = |action, payload| LifecycleEvent {
        action,
        connection_id: id.clone(),
        room: room.clone(),
        source_ip: Some(peer.ip().to_string()),
        push_url: gateway.config.push_url.clone(),
        connected_at_ms,
        payload,
    };

    // The hub entry exists before register runs, so the welcome and join pushes that the
    // register function sends back through the push API find this connection.
    let handle = gateway.hub.insert(
        ConnInfo {
            id: id.clone(),
            room: room.clone(),
            source_ip: peer.ip().to_string(),
            connected_at_ms,
            last_active_ms: connected_at_ms.into(),
        },
        limits.outbound_queue,
    );
    match gateway
        .functions
        .invoke(&event(Action::Connecting, None), limits.function_timeout)
        .await
    {
        Ok(reply) if (200..300).contains(&reply.status) => {
            if let Some(body) = reply.body {
                let _ = socket.send(Message::Text(body.into())).await;
            }
        }
        Ok(reply) => {
            gateway.hub.remove(&id);
            let reason = format!("register refused (status {})", reply.status);
            close(&mut socket, close_code::POLICY, &reason).await;
            return;
        }
        Err(err) => {
            gateway.hub.remove(&id);
            tracing::warn!(%err, "register failed");
            close(&mut socket, close_code::SERVER_ERROR, "register failed").await;
            return;
        }
    }

    // Messages run through transport one at a time, in order, on their own task, so a
    // slow function never stops this connection's outbound frames.
    let (inbound_tx, mut inbound_rx) = mpsc::channel::<Payload>(32);
    let transport = {
        let (gateway, event_for) = (gateway.clone(), event(Action::Message, None));
        tokio::spawn(async move {
            while let Some(payload) = inbound_rx.recv().await {
                let event = LifecycleEvent {
                    payload: Some(payload),
                    ..event_for.clone()
                };
                match gateway
                    .functions
                    .invoke(&event, limits.function_timeout)
                    .await
                {
                    Ok(reply) => {
                        if let Some(body) = reply.body {
                            gateway.hub.send(&event.connection_id, Outbound::Text(body));
                        }
                        if reply.status == 410 {
                            gateway.hub.kick(&event.connection_id, Kick::LeaseLost);
                            return;
                        }
                    }
                    Err(err) => tracing::warn!(%err, "transport failed"),
                }
            }
        })
    };
    let (close_with, reason) = pump(&gateway, &mut socket, handle, inbound_tx, &mut shutdown).await;
    let _ = transport.await;
    gateway.hub.remove(&id);
    close(&mut socket, close_with, reason).await;
    if let Err(err) = gateway
        .functions
        .invoke(&event(Action::Closing, None), limits.function_timeout)
        .await
    {
        tracing::warn!(%err, "cleanup failed; the lease will expire instead");
    }
}

/// Moves frames both ways until the connection should end; returns the close code and
/// reason. Dropping `inbound` lets the transport task finish.
async fn pump(
    gateway: &Gateway,
    socket: &mut WebSocket,
    mut handle: crate::hub::Handle,
    inbound: mpsc::Sender<Payload>,
    shutdown: &mut watch::Receiver<bool>,
) -> (u16, &'static str) {
    let limits = &gateway.config.limits;
    let started = tokio::time::Instant::now();
    let age_deadline = started + limits.max_connection_age;
    let mut idle_deadline = started + limits.idle_timeout;
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.reset();
    let mut unanswered_pings = 0u32;
    let mut rate = RateLimit::new(limits.messages_per_second);
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let message = match incoming {
                    None => return (close_code::NORMAL, "closed"),
                    // Frames over the size limit surface here as protocol errors.
                    Some(Err(err)) => {
                        tracing::debug!(%err, "websocket read failed");
                        return (close_code::TOO_BIG, "message too big or malformed");
                    }
                    Some(Ok(message)) => message,
                };
                let payload = match message {
                    Message::Text(text) => Payload::Text(text.to_string()),
                    Message::Binary(bytes) => Payload::Binary(bytes.to_vec()),
                    Message::Pong(_) => { unanswered_pings = 0; continue; }
                    Message::Ping(_) => continue,
                    Message::Close(_) => return (close_code::NORMAL, "closed by client"),
                };
                let size = match &payload { Payload::Text(t) => t.len(), Payload::Binary(b) => b.len() };
                if size > limits.max_message_bytes {
                    return (close_code::TOO_BIG, "message too big");
                }
                if !rate.allow() {
                    return (close_code::POLICY, "rate limit exceeded");
                }
                idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                unanswered_pings = 0;
                Hub::touch(&handle.info, now_ms());
                if inbound.try_send(payload).is_err() {
                    return (close_code::POLICY, "too many messages in flight");
                }
            }
            frame = handle.rx.recv() => {
                let Some(frame) = frame else { return (close_code::NORMAL, "closed"); };
                let message = match frame {
                    Outbound::Text(text) => Message::Text(text.into()),
                    Outbound::Binary(bytes) => Message::Binary(bytes.into()),
                };
                if socket.send(message).await.is_err() {
                    return (close_code::NORMAL, "write failed");
                }
            }
            _ = ping.tick() => {
                if unanswered_pings >= 2 {
                    return (close_code::GOING_AWAY, "no pong: connection lost");
                }
                unanswered_pings += 1;
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return (close_code::NORMAL, "write failed");
                }
            }
            _ = handle.kick.notified() => {
                let why = *handle.reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                return match why {
                    Some(Kick::TooSlow) => (close_code::TOO_SLOW, "too slow: outbound queue full"),
                    Some(Kick::LeaseLost) => (close_code::LEASE_LOST, "lease lost: reconnect"),
                    _ => (close_code::NORMAL, "closed by the server"),
                };
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                return (close_code::GOING_AWAY, "idle timeout");
            }
            _ = tokio::time::sleep_until(age_deadline) => {
                return (close_code::NORMAL, "max connection age reached");
            }
            _ = shutdown.changed() => {
                return (close_code::GOING_AWAY, "server shutting down");
            }
        }
    }
}
