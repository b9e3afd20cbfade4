//! One Alibaba channel connection: bound to a device by `RG#`, kept by `H1` heartbeats,
//! carrying API calls both ways and notifications (`NF#`) down.
//!
//! The channel records each bound device in its store (the device id is the connection
//! id; the rest of the record is [`DeviceRecords`](super::DeviceRecords)'), renews the lease
//! on every `H1`, and removes it when the socket ends (a node that dies leaves it to the
//! lease). `UNREGISTER` stops notifications (the record goes; pushes answer 410) until a
//! new `REGISTER`. A second connection of a device replaces the first, which gets `CR`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::response::Response;
use base64::Engine;
use lifecycle::{ConnectionInfo, EventKind, Payload};
use store_core::ConnectionId;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::Aliyun;
use super::calls::{self, Outcome};
use super::context::Context;
use super::frames::{self, CallKind, ClientFrame};
use crate::channel::UpgradeRequest;
use crate::close_code;
use crate::hub::{HeldConnection, Kick, Outbound, QueueBound};
use crate::ids::new_id;
use crate::invoke::event;
use crate::socket::{
    self, Core, Ending, Event, Framing, Goodbye, Message, RateLimit, Raw, SessionGuard,
    SideChannel, Socket, connection_info, refuse_if_full, span_of,
};

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

/// `OS` for a limit the client broke (rate, size), `CR` for any other close the node
/// starts: Alibaba's SDK ignores close frames and hears only these (else it notices at its
/// next failed heartbeat, tens of seconds later). Nothing when the socket is gone or
/// stuck, or the client closed.
fn farewell(ending: &Ending) -> Option<Message> {
    if !matches!(ending.goodbye, Goodbye::Close { .. }) || ending.code == close_code::TOO_SLOW {
        return None;
    }
    let command = match ending.code {
        close_code::POLICY | close_code::TOO_BIG => frames::OVER_LIMIT,
        _ => frames::RECONNECT,
    };
    Some(Message::Text(command.into()))
}

/// How long a link stays up after `CR`/`OS`: Alibaba's SDK closes it itself a second
/// later, and what is in flight (answers, notifications) still arrives meanwhile.
const LINGER: Duration = Duration::from_secs(1);

/// `GET /aliyun` (and a WebSocket upgrade at `/`): the channel.
pub(super) fn upgrade(channel: Arc<Aliyun>, core: Arc<Core>, request: UpgradeRequest) -> Response {
    if let Some(full) = refuse_if_full(&core) {
        return full;
    }
    let UpgradeRequest {
        peer,
        uri,
        headers,
        ws,
        shutdown,
    } = request;
    // A device's events carry its calls' headers, never the handshake's: keep what a
    // connection keeps once its handshake is answered.
    let base = connection_info(&core, peer, &uri, &headers).held();
    let alive = core.sessions.enter();
    // Its `id` becomes the device's once it binds.
    let span = span_of(&base);
    let limits = core.limits.clone();
    ws.on_upgrade(&limits, move |socket| {
        let node = Context { channel, core };
        // Boxed: its ten fields would each keep a slot in the task for the device's life.
        let base = Box::new(base);
        run(node, socket, base, shutdown, alive).instrument(span)
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
    core: &Core,
    socket: &mut Socket,
    // Owned: once bound, the device hears the node's shutdown as its hub kick, and keeps
    // no receiver for its life.
    mut shutdown: watch::Receiver<bool>,
) -> Result<ConnectionId, Ending> {
    let limits = &core.limits;
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

/// Runs one channel connection. (A plain function returning an `async move` block, so
/// its arguments are not kept twice in its task, as the socket core's session does.)
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn run(
    node: Context,
    mut socket: Socket,
    base: Box<ConnectionInfo>,
    shutdown: watch::Receiver<bool>,
    alive: SessionGuard,
) -> impl Future<Output = ()> {
    async move {
        let _alive = alive;
        let core = &node.core;
        let device = match bind(core, &mut socket, shutdown).await {
            Ok(device) => device,
            Err(ending) => {
                crate::metrics::closed(ending.code);
                tracing::debug!(code = ending.code, reason = %ending.reason, "closed before binding");
                socket.close(&ending, farewell(&ending)).await;
                return;
            }
        };
        // The box is let go here (moved into this block), not kept to the task's end.
        let info = Arc::new({
            let base = base;
            ConnectionInfo {
                id: device.as_str().to_owned(),
                ..*base
            }
        });
        tracing::Span::current().record("id", info.id.as_str());
        // Checked before any older connection of the device is replaced.
        if let Err(why) = node.channel.devices.registration(&info, &core.push_url) {
            let _ = send(&mut socket, frames::register_failed(&why.to_string())).await;
            return;
        }
        let replaced = Kick::new(
            close_code::NORMAL,
            "replaced by a newer connection of the device",
        );
        let queue = QueueBound::of(&core.limits);
        let Some(handle) = core.hub.insert_client_named(info.clone(), queue, replaced) else {
            let why = "that id belongs to another connection";
            let _ = send(&mut socket, frames::register_failed(why)).await;
            return;
        };
        let mut handle = handle;
        let held = handle.held.clone();
        // With a register backend, a device is notified only once its REGISTER is
        // answered 200 (Alibaba's rule): until then pushes to it answer 410.
        let gated = node.channel.config.register_url.is_some();
        held.takes_pushes.store(!gated, Ordering::Relaxed);
        if let Err(why) = node.record(&info).await {
            tracing::warn!(device = %info.id, %why, "binding the device failed");
            core.hub.remove_held(&held);
            let failed = frames::register_failed("the device could not be recorded");
            if send(&mut socket, failed).await.is_ok() {
                let ending = Ending::ours(close_code::SERVER_ERROR, "device not recorded");
                socket.close(&ending, None).await;
            }
            return;
        }
        let credential = new_id();
        let keepalive = node.channel.config.keepalive.as_millis();
        if send(&mut socket, frames::registered(&credential, keepalive))
            .await
            .is_err()
        {
            finish(&node, &held, false, &Ending::lost("write failed")).await;
            return;
        }
        tracing::debug!(device = %info.id, "device bound");
        let (inbound_tx, inbound_rx) = mpsc::channel::<Payload>(32);
        let (raw_tx, raw) = mpsc::channel::<Raw>(32);
        let mut side = SideChannel {
            frames: raw,
            holding: gated,
        };
        let ended = Arc::new(AtomicBool::new(false));
        let device = Device {
            node: node.clone(),
            held: held.clone(),
            credential,
            raw: raw_tx,
            ended: ended.clone(),
            gated,
        };
        let calls = tokio::spawn(device.serve(inbound_rx).in_current_span());
        let ending = socket::pump(
            core,
            &mut socket,
            &mut handle,
            // Moved in: when the pump returns, the queue closes and `serve` ends.
            inbound_tx,
            Some(&mut side),
            &FRAMING,
        )
        .await;
        let closing = match farewell(&ending) {
            Some(farewell) => {
                let lingered = socket::linger(
                    &mut socket,
                    &mut handle,
                    Some(&mut side),
                    &FRAMING,
                    farewell,
                    LINGER,
                );
                lingered.await.unwrap_or_else(|| ending.clone())
            }
            None => ending.clone(),
        };
        socket.close(&closing, None).await;
        // Nothing reads answers any more: frames still queued are dropped, and the one in
        // flight finishes without waiting on a full queue.
        ended.store(true, Ordering::Relaxed);
        drop(side);
        let registered = calls.await.unwrap_or(false);
        crate::metrics::closed(ending.code);
        tracing::debug!(device = %info.id, code = ending.code, reason = %ending.reason, "device gone");
        finish(&node, &held, registered, &ending).await;
    }
}

/// The socket is gone (as `ending` says): unless a newer connection of the device took
/// over, the app hears of it (functions run as events) and the record goes.
async fn finish(node: &Context, held: &Arc<HeldConnection>, registered: bool, ending: &Ending) {
    let core = &node.core;
    if !core.hub.remove_held(held) {
        return;
    }
    let info = &held.info;
    if registered && !node.channel.config.has_backends() {
        let kind = EventKind::Disconnect {
            status_code: ending.code,
            reason: ending.reason.clone(),
        };
        let timeout = core.limits.function_timeout;
        if let Err(err) = core
            .functions
            .invoke(&event(info, kind, None), timeout)
            .await
        {
            tracing::warn!(device = %info.id, %err, "cleanup failed");
        }
    }
    node.forget(held).await;
}

/// A bound device's side of the channel: what its frames do.
struct Device {
    /// The channel and the node's core.
    node: Context,
    /// Its hub entry (its connection, the notification switch).
    held: Arc<HeldConnection>,
    /// Echoed in `HO#`.
    credential: String,
    /// Frames written as they are (answers, `HO#`), and the switch holding pushes back.
    raw: mpsc::Sender<Raw>,
    /// Set once the socket is gone: queued frames are dropped.
    ended: Arc<AtomicBool>,
    /// A register backend decides when the device is notified (after REGISTER's 200).
    gated: bool,
}

impl Device {
    async fn reply(&self, text: String) {
        let _ = self.raw.send(Raw::Frame(Message::Text(text.into()))).await;
    }

    async fn switch(&self, raw: Raw) {
        let _ = self.raw.send(raw).await;
    }

    /// True while this connection is the device's current one (a replaced connection
    /// writes nothing to the store any more).
    fn current(&self) -> bool {
        self.node.core.hub.is_current(&self.held)
    }

    /// Answers one API call; whether the device is registered after it. With a register
    /// backend, pushes that come while an unregistered device's REGISTER runs are held and
    /// reach it after the answer, only when it is 200; refused, they are dropped.
    async fn call(
        &self,
        info: &Arc<ConnectionInfo>,
        call: &frames::ApiCall,
        registered: bool,
    ) -> bool {
        let kind = call.kind();
        let unregistered = !self.held.takes_pushes.load(Ordering::Relaxed);
        let holding = self.gated && kind == CallKind::Register && unregistered;
        if holding {
            // The side channel already holds pushes (since the bind, or the unregister).
            self.held.takes_pushes.store(true, Ordering::Relaxed);
        }
        let Outcome { frame, status } = calls::handle(&self.node, info, call).await;
        let accepted = (200..300).contains(&status) && self.current();
        let registered = match kind {
            CallKind::Register if accepted => {
                if unregistered && let Err(why) = self.node.record(info).await {
                    tracing::warn!(device = %info.id, %why, "re-recording failed");
                }
                self.held.takes_pushes.store(true, Ordering::Relaxed);
                self.reply(frame).await;
                if holding {
                    self.switch(Raw::HoldPushes(false)).await;
                }
                return true;
            }
            CallKind::Unregister if accepted => {
                self.held.takes_pushes.store(false, Ordering::Relaxed);
                self.node.forget(&self.held).await;
                if self.gated {
                    self.switch(Raw::HoldPushes(true)).await;
                }
                false
            }
            _ => registered,
        };
        if holding {
            self.held.takes_pushes.store(false, Ordering::Relaxed);
            self.reply(frame).await;
            self.switch(Raw::DropPushes).await;
            return registered;
        }
        self.reply(frame).await;
        registered
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
                    if self.current() && self.held.takes_pushes.load(Ordering::Relaxed) {
                        let push_url = &self.node.core.push_url;
                        self.node.channel.devices.renew(&info, push_url).await;
                    }
                    self.reply(frames::heartbeat_ok(&self.credential)).await;
                }
                Ok(ClientFrame::Register(device)) if device == info.id => {
                    let keepalive = self.node.channel.config.keepalive.as_millis();
                    self.reply(frames::registered(&self.credential, keepalive))
                        .await;
                }
                Ok(ClientFrame::Register(_)) => {
                    let why = "this connection is bound to another device: reconnect";
                    self.reply(frames::register_failed(why)).await;
                }
                Ok(ClientFrame::Call(call)) => {
                    registered = self.call(&info, &call, registered).await;
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
