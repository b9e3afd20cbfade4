//! One WebSocket connection, from upgrade to cleanup: limits, pings, timeouts, messages
//! handed to [`Transport`], and the close.

use std::task::{Context, Poll};

use lifecycle::Payload;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Message;
use super::cleanup::cleanup;
use super::inbound::Inbound;
use super::pending::Pending;
use super::rate::RateLimit;
use super::transport::Transport;
use super::ws::{Ending, Event, Goodbye, Socket};
use super::{Core, span_of};
use crate::close_code;
use crate::hub::{Handle, Hub, Kick, Outbound};
use crate::ids::now_ms;

/// The shortest keep-alive ping interval a session uses (a zero one would ping on every
/// pass of its loop).
const MIN_PING_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs one upgraded connection until something ends it, then cleans up.
///
/// A plain function returning an `async move` block rather than an `async fn`: an async
/// fn keeps each argument twice in its task (rust-lang/rust#62958), and every idle
/// connection would pay for a second socket.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub(super) fn run(
    mut pending: Pending,
    mut socket: Socket,
    mut handle: Handle,
) -> impl Future<Output = ()> {
    async move {
        let alive = pending.start();
        let mut transport = Transport::new(pending.core.clone(), pending.info.clone());
        let ending = pump(
            &pending.core,
            &mut socket,
            &mut handle,
            &mut transport,
            None,
            &PLAIN,
        )
        .await;
        // In the connection's span, opened for the end only: an idle connection keeps none.
        end(&pending, &mut socket, &handle, transport, ending)
            .instrument(span_of(&pending.info))
            .await;
        drop(alive);
    }
}

/// After the pump: the close, the message in flight, the hub, cleanup. A future of its
/// own, so that `ending` lives in it alone: kept by `run` across its awaits, it would have
/// a slot beside the pump's future in every idle connection's task.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn end<'a>(
    pending: &'a Pending,
    socket: &'a mut Socket,
    handle: &'a Handle,
    transport: Transport,
    ending: Ending,
) -> impl Future<Output = ()> + 'a {
    async move {
        let (core, info) = (&pending.core, &pending.info);
        // The client hears why at once; cleanup waits for the message in flight, if any.
        socket.close(&ending, (PLAIN.farewell)(&ending)).await;
        transport.finish().await;
        core.hub.remove_held(&handle.held);
        crate::metrics::closed(ending.code);
        tracing::debug!(id = %info.id, code = ending.code, reason = %ending.reason, "closed");
        cleanup(core, info, ending.code, &ending.reason).await;
    }
}

/// What a channel hands its connection's pump besides pushes, in order.
#[derive(Debug)]
pub enum Raw {
    /// A frame written as it is (an answer to a call, `HO#`).
    Frame(Message),
    /// From here on, pushed frames wait in their queue (`true`) or flow again (`false`): a
    /// channel holds them while a registration is being answered, so they reach the
    /// client after its answer, and only when it was accepted.
    HoldPushes(bool),
    /// The pushed frames queued so far are dropped (a registration was refused).
    DropPushes,
}

/// A channel's own frames for one connection, and whether pushes are held back.
#[derive(Debug)]
pub struct SideChannel {
    /// Frames and switches, in the order the channel sent them.
    pub frames: mpsc::Receiver<Raw>,
    /// Pushed frames wait in their queue while this is true.
    pub holding: bool,
}

impl SideChannel {
    /// Applies a switch; `Some(frame)` when `raw` is a frame to write.
    fn apply(&mut self, raw: Raw, handle: &mut Handle) -> Option<Message> {
        match raw {
            Raw::Frame(message) => return Some(message),
            Raw::HoldPushes(hold) => self.holding = hold,
            // Bounded by the queue's own bound.
            Raw::DropPushes => while handle.try_next().is_some() {},
        }
        None
    }
}

/// True when pushed frames wait (a side channel holds them).
fn holding(side: &Option<&mut SideChannel>) -> bool {
    side.as_ref().is_some_and(|side| side.holding)
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

/// Frames written per socket flush at most, so one busy connection still yields.
const FRAMES_PER_FLUSH: usize = 64;

/// Feeds `first` and whatever else is already queued for one write (up to
/// [`FRAMES_PER_FLUSH`] frames, no more once `gather` bytes are in): a client that fell
/// behind during a burst catches up in a few writes, not one write per frame, and a
/// broadcast's frames leave each socket in one vectored write of their shared payloads.
fn write_queued(
    socket: &mut Socket,
    cx: &mut Context<'_>,
    first: Outbound,
    handle: &mut Handle,
    framing: &Framing,
    gather: usize,
) -> Result<(), Ending> {
    let mut gathered = first.len();
    let mut frames = 1;
    let more = || {
        if gathered >= gather || frames >= FRAMES_PER_FLUSH {
            return None;
        }
        let frame = handle.try_next()?;
        gathered += frame.len();
        frames += 1;
        Some((framing.pushed)(frame))
    };
    socket.feed_now(cx, (framing.pushed)(first), more)
}

/// Moves frames both ways until the connection should end: client frames (within the
/// limits) to `inbound` (without room, reading stops until it has some: the client is
/// pushed back, not closed; `Closed`: a function closed the connection), pushed frames
/// through `framing` (unless the side channel holds them), and the side channel's frames
/// (a dialect's own answers) as they are. Nothing here waits on the client: a write in
/// progress is one more thing the loop watches (its deadline beside kicks and timers), and
/// while it is in progress nothing more is fed (pushed frames wait in their bounded queue).
/// The node's shutdown comes as a kick (see [`Hub::shut_down`]).
///
/// A plain function returning an `async move` block, for the reason the session's `run` gives.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub fn pump<'a>(
    core: &'a Core,
    socket: &'a mut Socket,
    handle: &'a mut Handle,
    mut inbound: impl Inbound + 'a,
    mut side: Option<&'a mut SideChannel>,
    framing: &'a Framing,
) -> impl Future<Output = Ending> + 'a {
    async move {
        let limits = &core.limits;
        let started = tokio::time::Instant::now();
        // One timer for every deadline (max age, idle, the pending write), living across
        // iterations: frames touch it not at all (re-arming timers per frame was a large share
        // of a broadcast's CPU, and each timer is 112 bytes of every idle connection's task). A
        // message in only notes the time; when the timer fires, each deadline is checked and
        // the timer moved on to the earliest one left. A write that starts moves it earlier
        // only when it was set later than the write's deadline: about once a deadline on a busy
        // connection, not once a write.
        // The keep-alive ping is one more deadline of the same timer (a timer of its own
        // kept a boxed one more in every idle connection).
        let ping_every = limits.ping_interval.max(MIN_PING_INTERVAL);
        let mut ping_due = started + ping_every;
        let age_due = started + limits.max_connection_age;
        let watchdog =
            tokio::time::sleep_until(age_due.min(started + limits.idle_timeout).min(ping_due));
        // Registered once, for the same reason. The node's shutdown comes this way too.
        let kicks = handle.kicks();
        let kicked = kicks.notified();
        tokio::pin!(watchdog, kicked);
        let mut last_in = started;
        let mut unanswered_pings = 0u32;
        let mut rate = RateLimit::new(limits.messages_per_second);
        // A message with no room yet: nothing more is read until it is taken.
        let mut waiting: Option<Payload> = None;
        loop {
            if let Some(due) = socket.write_due()
                && due < watchdog.deadline()
            {
                watchdog.as_mut().reset(due);
            }
            let held_back = holding(&side);
            let reading = waiting.is_none();
            // What to write is decided here and written below, out of the `select!`: a
            // branch that awaited would keep the select's output in every idle connection's
            // task, for its whole life, beside the branches' futures.
            let write = tokio::select! {
                event = async {
                    if reading { socket.next().await } else { socket.flushed().await }
                } => {
                    let message = match event {
                        Event::Frame(message) => message,
                        Event::Flushed => continue,
                        Event::Ended(ending) => return ending,
                    };
                    // Every frame counts, control frames too: a ping flood is a flood.
                    if !rate.allow() {
                        return Ending::ours(close_code::POLICY, "rate limit exceeded");
                    }
                    let payload = match message {
                        Message::Text(text) => Payload::Text(text.to_string()),
                        Message::Binary(bytes) => Payload::Binary(bytes.to_vec()),
                        Message::Pong(_) => { unanswered_pings = 0; continue; }
                        // Answered by the WebSocket library, through the socket's bounded
                        // write queue (past its bound, the latest ping only). A raw frame is
                        // never read.
                        Message::Ping(_) | Message::Close(_) | Message::Frame(_) => continue,
                    };
                    if payload.len() > limits.max_message_bytes {
                        return Ending::ours(close_code::TOO_BIG, "message too big");
                    }
                    last_in = tokio::time::Instant::now();
                    unanswered_pings = 0;
                    Hub::touch(&handle.held, now_ms());
                    if let Err(ending) = hand_on(&mut inbound, payload, &mut waiting, handle) {
                        return ending;
                    }
                    Write::Nothing
                }
                // Boxed when awaited (only while a message waits for room, which is rare):
                // inline, its 150 bytes would be in every idle connection's task.
                () = async { Box::pin(inbound.room()).await }, if !reading => {
                    // Time spent waiting for room is not the client's idleness.
                    last_in = tokio::time::Instant::now();
                    if let Some(payload) = waiting.take()
                        && let Err(ending) = hand_on(&mut inbound, payload, &mut waiting, handle)
                    {
                        return ending;
                    }
                    Write::Nothing
                }
                frame = handle.next(), if !socket.is_flushing() && !held_back => {
                    let Some(frame) = frame else { return Ending::ours(close_code::NORMAL, "closed"); };
                    Write::Pushed(frame)
                }
                // A plain connection has no side channel (and no queue for one: memory).
                Some(raw) = async {
                    match side.as_mut() {
                        Some(side) => side.frames.recv().await,
                        None => std::future::pending().await,
                    }
                }, if !socket.is_flushing() => {
                    match side.as_mut().and_then(|side| side.apply(raw, handle)) {
                        Some(message) => Write::Frame(message),
                        None => Write::Nothing,
                    }
                }
                () = &mut watchdog => {
                    let now = tokio::time::Instant::now();
                    let idle_due = last_in + limits.idle_timeout;
                    if age_due <= now {
                        return Ending::ours(close_code::NORMAL, "max connection age reached");
                    }
                    if idle_due <= now {
                        return Ending::ours(close_code::GOING_AWAY, "idle timeout");
                    }
                    let write_due = socket.write_due();
                    if write_due.is_some_and(|due| due <= now) {
                        return Ending::too_slow();
                    }
                    let mut write = Write::Nothing;
                    if ping_due <= now {
                        ping_due = now + ping_every;
                        // A write still pending is watched by its own deadline; while
                        // nothing is read, no pong can be seen.
                        if !socket.is_flushing() && waiting.is_none() {
                            if unanswered_pings >= 2 {
                                return Ending::ours(close_code::GOING_AWAY, "no pong: connection lost");
                            }
                            unanswered_pings += 1;
                            write = Write::Frame(Message::Ping(Default::default()));
                        }
                    }
                    let next = write_due.map_or(idle_due, |due| due.min(idle_due));
                    watchdog.as_mut().reset(next.min(age_due).min(ping_due));
                    write
                }
                () = &mut kicked => {
                    let kick = handle.kicked().unwrap_or_else(|| Kick::new(close_code::NORMAL, "closed by the server"));
                    return Ending::ours(kick.code, kick.reason);
                }
            };
            if let Err(ending) =
                perform(socket, handle, framing, limits.write_buffer_bytes, write).await
            {
                return ending;
            }
        }
    }
}

/// A write a pass of the pump's loop decided on.
enum Write {
    /// Nothing to write.
    Nothing,
    /// A pushed frame (with whatever else is queued behind it, see [`write_queued`]).
    Pushed(Outbound),
    /// A frame written as it is: a ping, a side channel's frame.
    Frame(Message),
}

/// Writes `write`. A future of its own, moved into once, so that nothing of the choice
/// outlives the write in the pump's task; and a `poll_fn` of a few words, not an async
/// fn's state machine (its slot in every idle connection's task is as large as the
/// largest future the pump awaits).
///
/// A pushed frame alone in its queue waits one turn of the scheduler before it is
/// written (the task wakes itself: no timer, no wait for anything else). The other
/// sessions the same broadcast woke run first, and during a burst the next line often
/// arrives meanwhile, so one write carries more frames: at 5,000 clients, 13 % fewer
/// `writev` calls and 1.53 → 1.39 µs of the node's CPU per delivery (medians of four
/// alternating runs), the latency unchanged.
fn perform<'a>(
    socket: &'a mut Socket,
    handle: &'a mut Handle,
    framing: &'a Framing,
    gather: usize,
    write: Write,
) -> impl Future<Output = Result<(), Ending>> + 'a {
    let mut write = Some(write);
    // Whether a lone pushed frame has had its one turn.
    let mut yielded = false;
    // Ready at its first poll but for that one turn: a write never waits here (see
    // `Socket::feed_now`).
    std::future::poll_fn(move |cx| {
        if !yielded && let Some(Write::Pushed(_)) = &write {
            yielded = true;
            if !handle.has_more() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        Poll::Ready(match write.take() {
            None | Some(Write::Nothing) => Ok(()),
            Some(Write::Pushed(frame)) => write_queued(socket, cx, frame, handle, framing, gather),
            Some(Write::Frame(message)) => socket.feed_now(cx, message, || None),
        })
    })
}

/// Hands `payload` to `inbound`; without room it waits in `waiting`. `Err` when nothing
/// takes messages any more (a function closed the connection: its close, not this frame,
/// decides the code).
fn hand_on(
    inbound: &mut impl Inbound,
    payload: Payload,
    waiting: &mut Option<Payload>,
    handle: &Handle,
) -> Result<(), Ending> {
    match inbound.offer(payload) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(payload)) => {
            *waiting = Some(payload);
            Ok(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            let kick = handle.kicked().unwrap_or_else(Kick::by_function);
            Err(Ending::ours(kick.code, kick.reason))
        }
    }
}

/// After `farewell` (a channel's `CR`: reconnect), the connection stays up for `linger`
/// so what is in flight still arrives: the side channel's answers, and pushed frames
/// unless held (or the hub forgot the connection: a newer one of the device took its
/// pushes). The client's own frames are read and dropped; once the read side fails (a
/// frame over the limit leaves nothing readable) only writes go on. Returns how the
/// connection ended if it did first: the client's Close (answered, not ours sent), or a
/// failed write.
pub async fn linger(
    socket: &mut Socket,
    handle: &mut Handle,
    mut side: Option<&mut SideChannel>,
    framing: &Framing,
    farewell: Message,
    linger: std::time::Duration,
) -> Option<Ending> {
    let deadline = tokio::time::Instant::now() + linger;
    let mut farewell = Some(farewell);
    let (mut reading, mut pushes) = (true, true);
    let lingering = async {
        loop {
            if !socket.is_flushing()
                && let Some(farewell) = farewell.take()
                && let Err(ending) = socket.feed(farewell, || None).await
            {
                return Some(ending);
            }
            let held_back = farewell.is_some() || holding(&side) || !pushes;
            tokio::select! {
                event = async {
                    if reading { socket.next().await } else { socket.flushed().await }
                } => match event {
                    Event::Ended(ending) if ending.goodbye == Goodbye::Echo || !reading => {
                        return Some(ending);
                    }
                    // A failed write shows again on the next flush; a failed read leaves
                    // the writes.
                    Event::Ended(_) => reading = false,
                    Event::Frame(_) | Event::Flushed => {}
                },
                frame = handle.next(), if !socket.is_flushing() && !held_back => match frame {
                    Some(frame) => {
                        if let Err(ending) = socket.feed((framing.pushed)(frame), || None).await {
                            return Some(ending);
                        }
                    }
                    None => pushes = false,
                },
                Some(raw) = async {
                    match side.as_mut() {
                        Some(side) => side.frames.recv().await,
                        None => std::future::pending().await,
                    }
                }, if !socket.is_flushing() && farewell.is_none() => {
                    let message = side.as_mut().and_then(|side| side.apply(raw, handle));
                    if let Some(message) = message
                        && let Err(ending) = socket.feed(message, || None).await
                    {
                        return Some(ending);
                    }
                }
            }
        }
    };
    // `timeout`: its deadline holds even while a flooding client keeps the read ready.
    tokio::time::timeout_at(deadline, lingering)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, R>(_: fn(A, B, C) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// What a tokio task keeps besides its future on x86_64: the header (32 bytes), the
    /// scheduler's handle, the task's id and the stage's tag (8 each), the trailer (48).
    /// The whole is rounded up to 128 bytes (tokio aligns a task to a cache-line pair);
    /// 1,280 is a multiple of 128, so a task within it stays within it once rounded.
    const TASK_OVERHEAD: usize = 32 + 8 + 8 + 8 + 48;

    /// Every idle connection keeps one session task (its future, in a task of its own,
    /// with no span): the task must stay within jemalloc's 1,280-byte size class. It was
    /// in the 2,048 class while the session ran inside the upgrade's task and kept the
    /// select's output and its ending beside the pump; in the 1,536 class while the pump
    /// awaited its writes through async fns and kept the inbound queue's `room()` future
    /// inline. A field or timer added to the session shows up here first.
    #[test]
    fn an_idle_connections_task_stays_small() {
        let size = future_size(run as fn(_, _, _) -> _);
        assert!(
            size + TASK_OVERHEAD <= 1280,
            "a session's task is {} bytes",
            size + TASK_OVERHEAD
        );
    }
}
