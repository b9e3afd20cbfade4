//! One Alibaba channel connection: bound to a device by `RG#`, kept by `H1` heartbeats,
//! carrying API calls both ways and notifications (`NF#`) down.
//!
//! The node records each bound device in its presence store (the device id is the
//! connection id, its room the channel URL's `?room=`, default `lobby`), renews the lease on
//! every `H1`, and removes it when the socket ends (a node that dies leaves it to the
//! lease). `UNREGISTER` stops notifications (the record goes; pushes answer 410) until a
//! new `REGISTER`. A second connection of a device replaces the first, which gets `CR`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use base64::Engine;
use lifecycle::{ConnectionInfo, EventKind, Payload};
use store_core::{ConnectionId, Endpoint, ErrorKind, Metadata, Registration, RoomName};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::calls::{self, Outcome};
use super::frames::{self, CallKind, ClientFrame};
use crate::Gateway;
use crate::close_code;
use crate::handshake::{AppState, connection_info, event, refuse_if_full, span_of};
use crate::hub::{HeldConnection, Kick, Outbound};
use crate::ids::new_id;
use crate::session::{self, Framing, RateLimit};
use crate::sessions::SessionGuard;
use crate::socket::{self, Ending, Event, Socket};

/// The room of a device whose channel URL names none.
const DEFAULT_ROOM: &str = "lobby";

/// Alibaba framing: pushes go down as `NF#` (binary ones base64), and a close the server
/// starts is announced with `OS` (flow control) or `CR` (reconnect).
pub const FRAMING: Framing = Framing {
    pushed: notification,
    farewell,
};

fn notification(frame: Outbound) -> Message {
    let payload = match frame {
        Outbound::Text(text) => text.to_string(),
        Outbound::Binary(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    Message::Text(frames::notification(&payload).into())
}

fn farewell(ending: &Ending) -> Option<Message> {
    let command = match ending.code {
        close_code::POLICY => frames::OVER_LIMIT,
        close_code::TOO_BIG => return None,
        _ => frames::RECONNECT,
    };
    Some(Message::Text(command.into()))
}

/// `GET /aliyun` (and a WebSocket upgrade at `/`): the channel.
pub async fn upgrade(
    State((gateway, shutdown)): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(full) = refuse_if_full(&gateway) {
        return full;
    }
    let base = connection_info(&gateway, peer, &uri, &headers);
    let alive = gateway.sessions.enter();
    // Its `id` becomes the device's once it binds.
    let span = span_of(&base);
    socket::sized(ws, &gateway.config.limits).on_upgrade(move |socket| {
        // Wrapped here: an argument moved out inside `run` would stay part of its task.
        let socket = Socket::new(socket, &gateway.config.limits);
        run(gateway, socket, base, shutdown, alive).instrument(span)
    })
}

async fn send(socket: &mut Socket, text: String) -> Result<(), Ending> {
    socket.send(Message::Text(text.into())).await
}

/// Reads frames until one binds a device (`RG#` with a valid id); how the connection
/// ended when it ends first, or does not bind within the idle timeout (every wait, sends
/// included, is inside that bound), or sends frames (pings too) faster than the rate
/// limit.
async fn bind(
    gateway: &Gateway,
    socket: &mut Socket,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<ConnectionId, Ending> {
    let limits = &gateway.config.limits;
    let deadline = tokio::time::Instant::now() + limits.idle_timeout;
    let mut rate = RateLimit::new(limits.messages_per_second);
    let binding = async {
        loop {
            let message = match socket.next().await {
                Event::Frame(message) => message,
                Event::Flushed => continue,
                Event::Ended(ending) => return Err(ending),
            };
            if !rate.allow() {
                return Err(Ending::ours(close_code::POLICY, "rate limit exceeded"));
            }
            let Message::Text(text) = message else {
                continue;
            };
            match frames::parse(&text) {
                Ok(ClientFrame::Register(device)) => match ConnectionId::new(device) {
                    Ok(id) => return Ok(id),
                    Err(err) => {
                        let why = format!("bad device id: {err}");
                        send(socket, frames::register_failed(&why)).await?;
                    }
                },
                Ok(ClientFrame::Call(call)) => {
                    let why = "bind a device first: RG#<deviceId>";
                    send(socket, frames::error_answer(401, call.seq(), why)).await?;
                }
                Ok(_) => {}
                Err(why) => {
                    let answer = frames::error_answer(400, frames::seq_of(&text), &why);
                    send(socket, answer).await?;
                }
            }
        }
    };
    tokio::select! {
        bound = tokio::time::timeout_at(deadline, binding) => bound.unwrap_or_else(|_| {
            Err(Ending::ours(close_code::GOING_AWAY, "idle timeout: no RG# came"))
        }),
        _ = shutdown.changed() => Err(Ending::ours(close_code::GOING_AWAY, "server shutting down")),
    }
}

/// The record of `info`'s device: its room (the channel URL's `?room=`), this node, a
/// lease. `Err` when the room is bad.
fn registration(
    gateway: &Gateway,
    info: &ConnectionInfo,
) -> Result<(ConnectionId, Registration), String> {
    let id = ConnectionId::new(info.id.as_str()).map_err(|e| e.to_string())?;
    let room = RoomName::new(info.query("room").unwrap_or(DEFAULT_ROOM))
        .map_err(|e| format!("bad room: {e}"))?;
    let endpoint = Endpoint::new(gateway.config.push_url.as_str()).map_err(|e| e.to_string())?;
    let mut metadata = Metadata::new();
    if !info.source_ip.is_empty() {
        metadata = metadata
            .with("source_ip", info.source_ip.as_str())
            .map_err(|e| e.to_string())?;
    }
    let registration = Registration {
        room,
        endpoint,
        metadata,
        ttl: gateway.config.aliyun.lease,
    };
    Ok((id, registration))
}

/// Records the device in the presence store (when the node has one).
async fn record(gateway: &Gateway, info: &ConnectionInfo) -> Result<(), String> {
    let Some(presence) = &gateway.config.presence else {
        return Ok(());
    };
    let (id, registration) = registration(gateway, info)?;
    presence
        .register(&id, &registration)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renews the device's lease; a record that ran out meanwhile (the store was down) is
/// recorded again, since the device is demonstrably here.
async fn renew(gateway: &Gateway, info: &ConnectionInfo) {
    let Some(presence) = &gateway.config.presence else {
        return;
    };
    let Ok(id) = ConnectionId::new(info.id.as_str()) else {
        return;
    };
    match presence.renew(&id, gateway.config.aliyun.lease).await {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {
            if let Err(err) = record(gateway, info).await {
                tracing::warn!(device = %info.id, %err, "re-recording the device failed");
            }
        }
        Err(err) => tracing::warn!(device = %info.id, %err, "renewing the device failed"),
    }
}

/// Removes the device's record, unless it names another node (the device moved there) or
/// a newer connection of it holds it here.
async fn forget(gateway: &Gateway, held: &Arc<HeldConnection>) {
    let info = &held.info;
    let (Some(presence), Ok(id)) = (
        &gateway.config.presence,
        ConnectionId::new(info.id.as_str()),
    ) else {
        return;
    };
    let outcome = async {
        match presence.get(&id).await? {
            Some(record) if record.endpoint.as_str() == gateway.config.push_url => {}
            _ => return Ok(()),
        }
        match gateway.hub.held(&info.id) {
            Some(current) if !Arc::ptr_eq(&current, held) => Ok(()),
            _ => presence.remove(&id).await.map(|_| ()),
        }
    };
    if let Err(err) = outcome.await {
        tracing::warn!(device = %info.id, %err, "removing the device failed; its lease ends it");
    }
}

/// Runs one channel connection. (A plain function returning an `async move` block, so
/// its arguments are not kept twice in its task: see [`session::run`].)
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn run(
    gateway: Arc<Gateway>,
    mut socket: Socket,
    base: ConnectionInfo,
    mut shutdown: watch::Receiver<bool>,
    alive: SessionGuard,
) -> impl Future<Output = ()> {
    async move {
        let _alive = alive;
        let device = match bind(&gateway, &mut socket, &mut shutdown).await {
            Ok(device) => device,
            Err(ending) => {
                crate::metrics::closed(ending.code);
                tracing::debug!(code = ending.code, reason = %ending.reason, "closed before binding");
                socket.close(&ending, None).await;
                return;
            }
        };
        let info = Arc::new(ConnectionInfo {
            id: device.as_str().to_owned(),
            ..base
        });
        tracing::Span::current().record("id", info.id.as_str());
        // Checked before any older connection of the device is replaced.
        if let Err(why) = registration(&gateway, &info) {
            let _ = send(&mut socket, frames::register_failed(&why)).await;
            return;
        }
        let replaced = Kick::new(
            close_code::NORMAL,
            "replaced by a newer connection of the device",
        );
        let queue = gateway.config.limits.queue_bound();
        let Some(handle) = gateway.hub.insert_device(info.clone(), queue, replaced) else {
            let why = "that id belongs to another connection";
            let _ = send(&mut socket, frames::register_failed(why)).await;
            return;
        };
        let held = handle.held.clone();
        if let Err(why) = record(&gateway, &info).await {
            tracing::warn!(device = %info.id, %why, "binding the device failed");
            gateway.hub.remove_held(&held);
            let failed = frames::register_failed("the device could not be recorded");
            if send(&mut socket, failed).await.is_ok() {
                let ending = Ending::ours(close_code::SERVER_ERROR, "device not recorded");
                socket.close(&ending, None).await;
            }
            return;
        }
        let credential = new_id();
        let keepalive = gateway.config.aliyun.keepalive.as_millis();
        if send(&mut socket, frames::registered(&credential, keepalive))
            .await
            .is_err()
        {
            finish(&gateway, &held, false, &Ending::lost("write failed")).await;
            return;
        }
        tracing::debug!(device = %info.id, "device bound");
        let (inbound_tx, inbound_rx) = mpsc::channel::<Payload>(32);
        let (raw_tx, mut raw) = mpsc::channel::<Message>(32);
        let ended = Arc::new(AtomicBool::new(false));
        let device = Device {
            gateway: gateway.clone(),
            held: held.clone(),
            credential,
            raw: raw_tx,
            ended: ended.clone(),
        };
        let calls = tokio::spawn(device.serve(inbound_rx).in_current_span());
        let ending = session::pump(
            &gateway,
            &mut socket,
            handle,
            // Moved in: when the pump returns, the queue closes and `serve` ends.
            move |payload| inbound_tx.try_send(payload),
            &mut shutdown,
            Some(&mut raw),
            &FRAMING,
        )
        .await;
        socket.close(&ending, farewell(&ending)).await;
        // Nothing reads answers any more: frames still queued are dropped, and the one in
        // flight finishes without waiting on a full queue.
        ended.store(true, Ordering::Relaxed);
        drop(raw);
        let registered = calls.await.unwrap_or(false);
        crate::metrics::closed(ending.code);
        tracing::debug!(device = %info.id, code = ending.code, reason = %ending.reason, "device gone");
        finish(&gateway, &held, registered, &ending).await;
    }
}

/// The socket is gone (as `ending` says): unless a newer connection of the device took
/// over, the app hears of it (functions run as events) and the record goes.
async fn finish(gateway: &Gateway, held: &Arc<HeldConnection>, registered: bool, ending: &Ending) {
    if !gateway.hub.remove_held(held) {
        return;
    }
    let info = &held.info;
    if registered && !gateway.config.aliyun.has_backends() {
        let kind = EventKind::Disconnect {
            status_code: ending.code,
            reason: ending.reason.clone(),
        };
        let timeout = gateway.config.limits.function_timeout;
        if let Err(err) = gateway
            .functions
            .invoke(&event(info, kind, None), timeout)
            .await
        {
            tracing::warn!(device = %info.id, %err, "cleanup failed");
        }
    }
    forget(gateway, held).await;
}

/// A bound device's side of the channel: what its frames do.
struct Device {
    /// The node.
    gateway: Arc<Gateway>,
    /// Its hub entry (its connection, the notification switch).
    held: Arc<HeldConnection>,
    /// Echoed in `HO#`.
    credential: String,
    /// Frames written as they are (answers, `HO#`).
    raw: mpsc::Sender<Message>,
    /// Set once the socket is gone: queued frames are dropped.
    ended: Arc<AtomicBool>,
}

impl Device {
    async fn reply(&self, text: String) {
        let _ = self.raw.send(Message::Text(text.into())).await;
    }

    /// True while this connection is the device's current one (a replaced connection
    /// writes nothing to the store any more).
    fn current(&self) -> bool {
        self.gateway.hub.is_current(&self.held)
    }

    /// Serves the device's frames in order until the connection ends; returns whether the
    /// device is registered with the backend at the end.
    async fn serve(self, mut inbound: mpsc::Receiver<Payload>) -> bool {
        let info = self.held.info.clone();
        let mut registered = false;
        while let Some(payload) = inbound.recv().await {
            if self.ended.load(Ordering::Relaxed) {
                break;
            }
            let Payload::Text(text) = payload else {
                continue;
            };
            match frames::parse(&text) {
                Ok(ClientFrame::Heartbeat) => {
                    // An unregistered device stays out of the store until it registers.
                    if self.current() && self.held.notifications.load(Ordering::Relaxed) {
                        renew(&self.gateway, &info).await;
                    }
                    self.reply(frames::heartbeat_ok(&self.credential)).await;
                }
                Ok(ClientFrame::Register(device)) if device == info.id => {
                    let keepalive = self.gateway.config.aliyun.keepalive.as_millis();
                    self.reply(frames::registered(&self.credential, keepalive))
                        .await;
                }
                Ok(ClientFrame::Register(_)) => {
                    let why = "this connection is bound to another device: reconnect";
                    self.reply(frames::register_failed(why)).await;
                }
                Ok(ClientFrame::Call(call)) => {
                    let Outcome { frame, status } =
                        calls::handle(&self.gateway, &info, &call).await;
                    let accepted = (200..300).contains(&status);
                    match call.kind() {
                        CallKind::Register if accepted && self.current() => {
                            let was_unregistered =
                                !self.held.notifications.swap(true, Ordering::Relaxed);
                            if was_unregistered && let Err(why) = record(&self.gateway, &info).await
                            {
                                tracing::warn!(device = %info.id, %why, "re-recording failed");
                            }
                            registered = true;
                        }
                        CallKind::Unregister if accepted && self.current() => {
                            self.held.notifications.store(false, Ordering::Relaxed);
                            forget(&self.gateway, &self.held).await;
                            registered = false;
                        }
                        _ => {}
                    }
                    self.reply(frame).await;
                }
                Ok(ClientFrame::Ack | ClientFrame::Other) => {}
                Err(why) => {
                    let answer = frames::error_answer(400, frames::seq_of(&text), &why);
                    self.reply(answer).await;
                }
            }
        }
        registered
    }
}
