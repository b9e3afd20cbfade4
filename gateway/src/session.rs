//! One WebSocket connection, from upgrade to cleanup: limits, pings, timeouts, messages
//! handed to [`Transport`], and the close.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, StreamExt};
use lifecycle::{ConnectionInfo, EventKind, Payload};
use tokio::sync::{mpsc, watch};

use crate::Gateway;
use crate::close_code;
use crate::handshake::{Pending, event};
use crate::hub::{Handle, Hub, Kick, Outbound};
use crate::ids::now_ms;
use crate::transport::Transport;

/// Sends a close frame (the reason cut to the 123 bytes a close frame holds).
pub async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes on the wire.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason[..end].to_owned()),
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

/// Runs cleanup for a connection that ended with `code` / `reason`; a failure is logged
/// (the lease ends it instead).
pub async fn cleanup(gateway: &Gateway, info: &Arc<ConnectionInfo>, code: u16, reason: &str) {
    let kind = EventKind::Disconnect {
        status_code: code,
        reason: reason.to_owned(),
    };
    if let Err(err) = gateway
        .functions
        .invoke(
            &event(info, kind, None),
            gateway.config.limits.function_timeout,
        )
        .await
    {
        tracing::warn!(id = %info.id, %err, "cleanup failed; the lease will expire instead");
    }
}

/// Runs one upgraded connection until something ends it, then cleans up.
pub async fn run(
    pending: Pending,
    mut socket: WebSocket,
    handle: Handle,
    mut shutdown: watch::Receiver<bool>,
) {
    let (gateway, info, _alive) = pending.start();
    let held = handle.held.clone();
    let mut transport = Transport::new(gateway.clone(), info.clone());
    let ending = pump(
        &gateway,
        &mut socket,
        handle,
        |payload| transport.offer(payload),
        &mut shutdown,
        None,
        &PLAIN,
    )
    .await;
    // The client hears why at once; cleanup waits for the message in flight, if any.
    say_goodbye(&mut socket, &PLAIN, &ending).await;
    transport.finish().await;
    gateway.hub.remove_held(&held);
    crate::metrics::closed(ending.code);
    tracing::debug!(id = %info.id, code = ending.code, reason = %ending.reason, "closed");
    cleanup(&gateway, &info, ending.code, &ending.reason).await;
}

/// How a connection ended.
#[derive(Debug)]
pub struct Ending {
    /// The close code cleanup reports (the client's, ours, or 1006).
    pub code: u16,
    /// Why.
    pub reason: String,
    /// The close frame to send, if the socket can still take one.
    pub send_close: Option<(u16, String)>,
}

/// How frames look on one kind of channel.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// A frame pushed through the hub, as it goes on the wire (plain; Alibaba's `NF#`).
    pub pushed: fn(Outbound) -> Message,
    /// A frame to send just before the close frame (Alibaba's `CR`, `OS`).
    pub farewell: fn(&Ending) -> Option<Message>,
}

/// Plain WebSocket: frames as they are, nothing before the close.
pub const PLAIN: Framing = Framing {
    pushed: plain_frame,
    farewell: |_| None,
};

fn plain_frame(frame: Outbound) -> Message {
    match frame {
        Outbound::Text(text) => Message::Text(text),
        Outbound::Binary(bytes) => Message::Binary(bytes),
    }
}

/// Sends `ending`'s farewell and close frame, if the socket can still take them.
pub async fn say_goodbye(socket: &mut WebSocket, framing: &Framing, ending: &Ending) {
    if let Some((code, reason)) = &ending.send_close {
        if let Some(farewell) = (framing.farewell)(ending) {
            let _ = socket.send(farewell).await;
        }
        close(socket, *code, reason).await;
    }
}

impl Ending {
    /// We close with `code` / `reason`.
    pub fn ours(code: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Ending {
            code,
            send_close: Some((code, reason.clone())),
            reason,
        }
    }
}

/// Frames written per socket flush at most, so one busy connection still yields.
const FRAMES_PER_FLUSH: usize = 64;

/// Writes `first` and whatever else is already queued with one flush (up to
/// [`FRAMES_PER_FLUSH`] frames, and no more once `gather` bytes are in): a client that fell
/// behind during a burst catches up in a few writes, not one write per frame. The byte
/// bound matters for memory: the socket's write buffer grows to the most ever gathered in
/// it and never shrinks, so gathering 64 frames for a slow reader would leave every
/// connection holding 64 frames' worth for good.
async fn write_queued(
    socket: &mut WebSocket,
    first: Outbound,
    queue: &mut mpsc::Receiver<Outbound>,
    framing: &Framing,
    gather: usize,
) -> Result<(), axum::Error> {
    let mut gathered = first.len();
    socket.feed((framing.pushed)(first)).await?;
    for _ in 1..FRAMES_PER_FLUSH {
        if gathered >= gather {
            break;
        }
        match queue.try_recv() {
            Ok(frame) => {
                gathered += frame.len();
                socket.feed((framing.pushed)(frame)).await?;
            }
            Err(_) => break,
        }
    }
    socket.flush().await
}

/// Moves frames both ways until the connection should end: client frames (within the
/// limits) to `inbound` (`Full`: too many in flight; `Closed`: a function closed the
/// connection), pushed frames through `framing`, and `raw` frames (a dialect's own answers)
/// as they are.
pub async fn pump(
    gateway: &Gateway,
    socket: &mut WebSocket,
    mut handle: Handle,
    mut inbound: impl FnMut(Payload) -> Result<(), mpsc::error::TrySendError<Payload>>,
    shutdown: &mut watch::Receiver<bool>,
    mut raw: Option<&mut mpsc::Receiver<Message>>,
    framing: &Framing,
) -> Ending {
    let limits = &gateway.config.limits;
    let started = tokio::time::Instant::now();
    // Both timers live across iterations: frames touch neither (re-arming them per frame
    // was a large share of a broadcast's CPU). A message in only notes the time; when
    // `idle` fires early because of it, it is moved on then.
    let age = tokio::time::sleep_until(started + limits.max_connection_age);
    let idle = tokio::time::sleep_until(started + limits.idle_timeout);
    // Registered once, for the same reason.
    let kick = handle.kick.clone();
    let kicked = kick.notified();
    tokio::pin!(age, idle, kicked);
    let mut last_in = started;
    let mut ping = tokio::time::interval(limits.ping_interval);
    ping.reset();
    let mut unanswered_pings = 0u32;
    let mut rate = RateLimit::new(limits.messages_per_second);
    loop {
        tokio::select! {
            incoming = socket.next() => {
                let message = match incoming {
                    None => return Ending { code: 1006, reason: "connection lost".into(), send_close: None },
                    // Frames over the size limit surface here as protocol errors.
                    Some(Err(err)) => {
                        tracing::debug!(%err, "websocket read failed");
                        return Ending::ours(close_code::TOO_BIG, "message too big or malformed");
                    }
                    Some(Ok(message)) => message,
                };
                let payload = match message {
                    Message::Text(text) => Payload::Text(text.to_string()),
                    Message::Binary(bytes) => Payload::Binary(bytes.to_vec()),
                    Message::Pong(_) => { unanswered_pings = 0; continue; }
                    Message::Ping(_) => continue,
                    Message::Close(frame) => {
                        let (code, reason) = match frame {
                            Some(frame) => (frame.code, frame.reason.to_string()),
                            None => (1005, "Client-side close frame status not set".to_owned()),
                        };
                        return Ending { code, reason, send_close: Some((close_code::NORMAL, "closed by client".into())) };
                    }
                };
                if payload.len() > limits.max_message_bytes {
                    return Ending::ours(close_code::TOO_BIG, "message too big");
                }
                if !rate.allow() {
                    return Ending::ours(close_code::POLICY, "rate limit exceeded");
                }
                last_in = tokio::time::Instant::now();
                unanswered_pings = 0;
                Hub::touch(&handle.held, now_ms());
                match inbound(payload) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        return Ending::ours(close_code::POLICY, "too many messages in flight");
                    }
                    // Transport stopped because a function closed the connection: its
                    // close, not this frame, decides the code.
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        let kick = handle.kicked().unwrap_or_else(|| Kick::new(close_code::NORMAL, "closed by a function"));
                        return Ending::ours(kick.code, kick.reason);
                    }
                }
            }
            frame = handle.rx.recv() => {
                let Some(frame) = frame else { return Ending::ours(close_code::NORMAL, "closed"); };
                if write_queued(socket, frame, &mut handle.rx, framing, limits.write_buffer_bytes).await.is_err() {
                    return Ending { code: 1006, reason: "write failed".into(), send_close: None };
                }
            }
            // A plain connection has no raw frames (and no channel for them: memory).
            Some(message) = async {
                match raw.as_mut() {
                    Some(raw) => raw.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if socket.send(message).await.is_err() {
                    return Ending { code: 1006, reason: "write failed".into(), send_close: None };
                }
            }
            _ = ping.tick() => {
                if unanswered_pings >= 2 {
                    return Ending::ours(close_code::GOING_AWAY, "no pong: connection lost");
                }
                unanswered_pings += 1;
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return Ending { code: 1006, reason: "write failed".into(), send_close: None };
                }
            }
            () = &mut kicked => {
                let kick = handle.kicked().unwrap_or_else(|| Kick::new(close_code::NORMAL, "closed by the server"));
                return Ending::ours(kick.code, kick.reason);
            }
            () = &mut idle => {
                let due = last_in + limits.idle_timeout;
                if due > tokio::time::Instant::now() {
                    idle.as_mut().reset(due);
                    continue;
                }
                return Ending::ours(close_code::GOING_AWAY, "idle timeout");
            }
            () = &mut age => {
                return Ending::ours(close_code::NORMAL, "max connection age reached");
            }
            _ = shutdown.changed() => {
                return Ending::ours(close_code::GOING_AWAY, "server shutting down");
            }
        }
    }
}
