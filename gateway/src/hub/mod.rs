//! The connections this node holds, and how to reach each one: [`Hub`] (one lock, held for
//! map operations only), each connection's bounded outbound queue ([`QueueBound`]) of
//! shared frames ([`Outbound`]), and the [`Handle`] its session reads them from.
//!
//! # Layout
//! - `mod.rs`: the hub, its frames and kicks, the session's handle.
//! - `mailbox.rs`: one connection's queue, bounds and kick, in one allocation.
//! - `groups.rs`: named sets of this node's connections, for broadcasts without ids.

mod groups;
mod mailbox;

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use groups::Groups;
pub use groups::{
    GroupChanges, Joined, MAX_GROUP_LEN, MAX_GROUPS_PER_CONNECTION, MAX_PENDING_CHANGES,
};
use lifecycle::{BatchOutcome, ConnectionInfo, Delivery};
use mailbox::{Mailbox, Offered};
use tungstenite::Utf8Bytes;

use crate::config::Limits;
use crate::metrics;

/// How much sooner than its lease a group membership lapses (see [`Hub::join`]).
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// A frame on its way down to a client. The payload is shared: a broadcast queues the same
/// bytes for every recipient (a clone is a reference count), and the socket writes them
/// without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl Outbound {
    /// A text frame of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Outbound::Text(Utf8Bytes::from(text.into()))
    }

    /// A request body as a frame: text when it is UTF-8, else binary (the AWS and Alibaba
    /// push calls carry raw bytes). No copy either way.
    pub fn from_body(body: Bytes) -> Self {
        match Utf8Bytes::try_from(body.clone()) {
            Ok(text) => Outbound::Text(text),
            Err(_) => Outbound::Binary(body),
        }
    }

    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Outbound::Text(text) => text.as_bytes(),
            Outbound::Binary(bytes) => bytes,
        }
    }

    /// A binary frame of `bytes`.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Outbound::Binary(bytes.into())
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Outbound::Text(text) => text.len(),
            Outbound::Binary(bytes) => bytes.len(),
        }
    }

    /// True when it carries no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<lifecycle::Payload> for Outbound {
    fn from(payload: lifecycle::Payload) -> Self {
        match payload {
            lifecycle::Payload::Text(text) => Outbound::text(text),
            lifecycle::Payload::Binary(bytes) => Outbound::binary(bytes),
        }
    }
}

/// Why the server closes a connection on its own: the close frame it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

impl Kick {
    /// A kick with `code` and `reason`.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Kick {
            code,
            reason: reason.into(),
        }
    }

    /// The close a function asks for through a push API or its pusher (1000).
    pub fn by_function() -> Self {
        Kick::new(crate::close_code::NORMAL, "closed by a function")
    }
}

/// How much one connection's outbound queue may hold: frames, and bytes (a client that
/// falls this far behind is closed as too slow, 4408). Both matter: frames bound a
/// broadcast's many small notices, bytes bound what callers pushing large frames to a
/// client that stopped reading can make the node hold (256 frames of 128 KiB would be
/// 32 MiB for one connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBound {
    /// Frames queued at most.
    pub frames: usize,
    /// Bytes queued at most (a frame alone is always let in: the frame limit bounds it).
    pub bytes: usize,
}

impl QueueBound {
    /// The bound `limits` set for every connection.
    pub fn of(limits: &Limits) -> Self {
        QueueBound {
            frames: limits.outbound_queue,
            bytes: limits.outbound_queue_bytes,
        }
    }

    /// `frames` frames, whatever their size.
    pub fn frames(frames: usize) -> Self {
        QueueBound {
            frames,
            bytes: usize::MAX,
        }
    }
}

/// What the node knows about one connection.
#[derive(Debug)]
pub struct HeldConnection {
    /// Its handshake, as the functions saw it.
    pub info: Arc<ConnectionInfo>,
    /// Last message from the client, epoch ms (AWS `lastActiveAt`).
    pub last_active_ms: AtomicU64,
    /// Whether pushes reach it: a channel may pause a connection (an Alibaba device that
    /// unregistered takes none, and its pushes answer 410).
    pub takes_pushes: AtomicBool,
    /// Its id was chosen by the client (a channel's device id), so it may only ever
    /// replace another client-named connection, never one the gateway named.
    pub client_named: bool,
}

/// One held connection, as the hub's map and its groups reach it.
#[derive(Debug, Clone)]
struct Conn {
    /// Frames for the socket task (bounded so a slow client cannot grow memory), and its
    /// kick.
    mailbox: Arc<Mailbox>,
    /// Facts for `GET @connections/{id}`.
    held: Arc<HeldConnection>,
}

impl Conn {
    /// The connection's key in a group: its mailbox's address, unique while it is held.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.mailbox) as usize
    }
}

/// A connection in the hub's map.
#[derive(Debug)]
struct Entry {
    /// How to reach it.
    conn: Conn,
    /// The groups it is in (taken out of each when it is forgotten); empty, and not
    /// allocated, for a connection in none.
    groups: Vec<Arc<str>>,
}

/// What the hub's lock guards.
#[derive(Debug, Default)]
struct Inner {
    /// By connection id.
    conns: HashMap<String, Entry>,
    /// Named sets of the connections above.
    groups: Groups,
    /// Set once the node shuts down: every connection held then was kicked with it, and
    /// every one inserted later is kicked with it as it is inserted (its session closes it
    /// at its first pass), so no session needs a shutdown signal of its own beside its
    /// kick.
    closing: Option<Kick>,
}

impl Inner {
    /// Forgets the connection under `id` (and its memberships); its entry, if it had one.
    fn forget(&mut self, id: &str) -> Option<Conn> {
        let entry = self.conns.remove(id)?;
        self.groups.leave_all(&entry.conn, &entry.groups);
        Some(entry.conn)
    }

    /// Holds `conn` under its id (kicked at once if the node is shutting down); the
    /// connection it replaced, if any, forgotten.
    fn hold(&mut self, conn: Conn) -> Option<Conn> {
        if let Some(why) = &self.closing {
            conn.mailbox.kick_for_shutdown(why.clone());
        }
        let replaced = self.forget(&conn.held.info.id);
        let entry = Entry {
            conn,
            groups: Vec::new(),
        };
        self.conns.insert(entry.conn.held.info.id.clone(), entry);
        replaced
    }

    fn conn(&self, id: &str) -> Option<&Conn> {
        self.conns.get(id).map(|entry| &entry.conn)
    }
}

/// All connections of this node. The lock is only held for map operations, never across
/// an `.await`: a send queues or fails at once.
#[derive(Debug, Default)]
pub struct Hub {
    /// The connections and their groups.
    inner: Mutex<Inner>,
}

impl Drop for Hub {
    // The sessions of a hub that is gone hear that their queue ended.
    fn drop(&mut self) {
        for entry in self.lock().conns.values() {
            entry.conn.mailbox.close();
        }
    }
}

/// What the socket task keeps to hear from the hub. Dropping it closes the connection's
/// queue: what is pushed to it afterwards is gone (410), not queued for nobody.
#[derive(Debug)]
pub struct Handle {
    /// Frames to write (queued from the moment of the handshake, so frames pushed while
    /// register runs wait here for the upgrade), taken with [`Handle::next`] and
    /// [`Handle::try_next`]; and the kick ([`Handle::kicks`], [`Handle::kicked`]).
    mailbox: Arc<Mailbox>,
    /// Shared facts.
    pub held: Arc<HeldConnection>,
}

impl Drop for Handle {
    // The session is gone: what is queued will never be written, and is let go now rather
    // than when the hub forgets the connection.
    fn drop(&mut self) {
        self.mailbox.abandon();
    }
}

impl Handle {
    /// The next frame to write; `None` once the hub forgot the connection (and what was
    /// queued before was taken). Cancel-safe: a frame is only taken when it is returned.
    pub async fn next(&mut self) -> Option<Outbound> {
        poll_fn(|cx| self.mailbox.poll_take(cx)).await
    }

    /// The next frame already queued, if any.
    pub fn try_next(&mut self) -> Option<Outbound> {
        self.mailbox.take()
    }

    /// True when a frame is queued.
    pub fn has_more(&self) -> bool {
        self.mailbox.has_more()
    }

    /// The close frame the hub asked for, if any.
    pub fn kicked(&self) -> Option<Kick> {
        self.mailbox.kicked()
    }

    /// What the session listens on for a kick (kept apart from the handle, which the
    /// session lends out while it waits).
    pub fn kicks(&self) -> Kicks {
        Kicks(self.mailbox.clone())
    }
}

/// A connection's kicks, for its session to wait on.
#[derive(Debug, Clone)]
pub struct Kicks(Arc<Mailbox>);

impl Kicks {
    /// Resolves at the connection's kick; a kick before the first poll is kept.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.kick_notified()
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open connections (handshakes in progress included).
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a connection (its id is the gateway's own) with an outbound queue of `queue`.
    pub fn insert(&self, info: Arc<ConnectionInfo>, queue: QueueBound) -> Handle {
        let (handle, conn) = Self::entry(info, queue, false);
        let open = {
            let mut inner = self.lock();
            // Ids the gateway makes are unique; a clash would leave a queue nobody closes.
            if let Some(old) = inner.hold(conn) {
                old.mailbox.close();
            }
            inner.conns.len()
        };
        metrics::connections_open(open);
        handle
    }

    /// Kicks every connection with `why`, and from now on every connection inserted
    /// too, as soon as it is (a handshake that was under way when the node began to shut
    /// down). Idempotent: the first `why` stays.
    pub fn shut_down(&self, why: Kick) {
        let held: Vec<Conn> = {
            let mut inner = self.lock();
            if inner.closing.is_some() {
                return;
            }
            inner.closing = Some(why.clone());
            inner
                .conns
                .values()
                .map(|entry| entry.conn.clone())
                .collect()
        };
        // Kicked outside the lock: each wakes a session, which takes the lock to leave.
        for conn in &held {
            conn.mailbox.kick_for_shutdown(why.clone());
        }
    }

    /// Adds a connection whose id the client chose (a channel's device id). One already
    /// held under the id is closed with `replaced`; `None` when the id belongs to a
    /// connection the gateway named.
    pub fn insert_client_named(
        &self,
        info: Arc<ConnectionInfo>,
        queue: QueueBound,
        replaced: Kick,
    ) -> Option<Handle> {
        let (handle, conn) = Self::entry(info, queue, true);
        let old = {
            let mut inner = self.lock();
            if inner
                .conn(&handle.held.info.id)
                .is_some_and(|c| !c.held.client_named)
            {
                return None;
            }
            let old = inner.hold(conn);
            metrics::connections_open(inner.conns.len());
            old
        };
        if let Some(old) = old {
            // Kicked first: its session, woken by the close, must find why.
            kick(&old, replaced);
            old.mailbox.close();
        }
        Some(handle)
    }

    fn entry(info: Arc<ConnectionInfo>, queue: QueueBound, client_named: bool) -> (Handle, Conn) {
        let mailbox = Arc::new(Mailbox::new(queue));
        let held = Arc::new(HeldConnection {
            last_active_ms: AtomicU64::new(info.connected_at_ms),
            takes_pushes: AtomicBool::new(true),
            client_named,
            info,
        });
        let conn = Conn {
            mailbox: mailbox.clone(),
            held: held.clone(),
        };
        (Handle { mailbox, held }, conn)
    }

    /// True when `held` is still the connection held under its id.
    pub fn is_current(&self, held: &Arc<HeldConnection>) -> bool {
        self.lock()
            .conn(&held.info.id)
            .is_some_and(|conn| Arc::ptr_eq(&conn.held, held))
    }

    /// Forgets a connection.
    pub fn remove(&self, id: &str) {
        let open = {
            let mut inner = self.lock();
            if let Some(conn) = inner.forget(id) {
                conn.mailbox.close();
            }
            inner.conns.len()
        };
        metrics::connections_open(open);
    }

    /// Forgets `held`'s connection unless a newer one replaced it; true when it was removed.
    pub fn remove_held(&self, held: &Arc<HeldConnection>) -> bool {
        let mut inner = self.lock();
        let current = inner
            .conn(&held.info.id)
            .is_some_and(|conn| Arc::ptr_eq(&conn.held, held));
        if !current {
            return false;
        }
        if let Some(conn) = inner.forget(&held.info.id) {
            conn.mailbox.close();
        }
        let open = inner.conns.len();
        drop(inner);
        metrics::connections_open(open);
        true
    }

    /// Puts connection `id` in group `group` for `lease`, or moves the end of its
    /// membership there (see [`Joined`] for why it may not be). The membership lapses a
    /// little before the lease would (a second, or half a short lease): a caller that
    /// renews a store record with the same lease renews the membership after the record,
    /// and the group must never count a member whose record has ended.
    pub fn join(&self, group: &str, id: &str, lease: Duration) -> Joined {
        let until = Instant::now() + lease.saturating_sub(LEASE_MARGIN.min(lease / 2));
        let mut inner = self.lock();
        let Inner { conns, groups, .. } = &mut *inner;
        match conns.get_mut(id) {
            Some(entry) => groups.join(group, &entry.conn, &mut entry.groups, until),
            None => Joined::NotHeld,
        }
    }

    /// Takes connection `id` out of group `group`; false when it was not in it.
    pub fn leave(&self, group: &str, id: &str) -> bool {
        let mut inner = self.lock();
        let Inner { conns, groups, .. } = &mut *inner;
        match conns.get_mut(id) {
            Some(entry) => groups.leave(group, &entry.conn, &mut entry.groups),
            None => false,
        }
    }

    /// Starts noting which groups gain their first member here or lose their last (for a
    /// node link that subscribes only to the groups this node holds): the `Notify` is
    /// woken when one does, and [`Hub::group_changes`] says which. The first look gives
    /// every group already held.
    pub fn watch_groups(&self) -> Arc<tokio::sync::Notify> {
        self.lock().groups.watch()
    }

    /// The name of every group held here.
    pub fn group_names(&self) -> Vec<Arc<str>> {
        self.lock().groups.names()
    }

    /// What changed in the groups held here since the last call.
    pub fn group_changes(&self) -> GroupChanges {
        self.lock().groups.changes()
    }

    /// Groups with a member on this node.
    pub fn groups(&self) -> usize {
        self.lock().groups.len()
    }

    /// Queues one shared `frame` for every member of `group` but `except` whose membership
    /// has not lapsed, under one lock and with no id looked up per member; returns how many
    /// members it reached: queued, or found too slow and closed (not one whose session
    /// already ended, nor one that takes no pushes). Members whose queue was full are
    /// closed as too slow after the lock is released, as in [`Hub::send_many`].
    pub fn publish(&self, group: &str, except: Option<&str>, frame: &Outbound) -> u64 {
        let mut slow = Vec::new();
        let mut tally = [0u64; 3];
        {
            let inner = self.lock();
            let Some(members) = inner.groups.members(group) else {
                return 0;
            };
            let skipped = except.and_then(|id| inner.conn(id)).map(Conn::key);
            let now = Instant::now();
            for (key, member) in members {
                if Some(*key) == skipped || member.until <= now {
                    continue;
                }
                let conn = &member.conn;
                let (delivery, overflowed) = offer(conn, frame.clone());
                if overflowed {
                    slow.push(conn.clone());
                }
                tally[tally_slot(delivery)] += 1;
            }
        }
        metrics::recipients(tally[0], tally[1], tally[2]);
        for conn in &slow {
            kick_too_slow(conn);
        }
        tally[0] + tally[2]
    }

    /// Queues a frame for `id`. A full queue closes the connection (backpressure: one slow
    /// client never stalls the others).
    pub fn send(&self, id: &str, frame: Outbound) -> Delivery {
        let Some(conn) = self.lock().conn(id).cloned() else {
            count(Delivery::Gone, 1);
            return Delivery::Gone;
        };
        let (delivery, overflowed) = offer(&conn, frame);
        if overflowed {
            kick_too_slow(&conn);
        }
        count(delivery, 1);
        delivery
    }

    /// Queues one shared `frame` for each of `ids`, taking the hub's lock once for the
    /// whole batch (a broadcast to thousands costs one lock, not one per recipient), and
    /// adds each result to `outcome`. Connections whose queue was full are closed as too
    /// slow after the lock is released.
    pub fn send_many<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        frame: &Outbound,
        outcome: &mut BatchOutcome,
    ) {
        let mut slow = Vec::new();
        // Counted here and recorded once: a metric update per recipient would cost a
        // registry lookup each.
        let mut tally = [0u64; 3];
        {
            let inner = self.lock();
            for id in ids {
                let delivery = match inner.conn(id) {
                    None => Delivery::Gone,
                    Some(conn) => {
                        let (delivery, overflowed) = offer(conn, frame.clone());
                        if overflowed {
                            slow.push(conn.clone());
                        }
                        delivery
                    }
                };
                tally[tally_slot(delivery)] += 1;
                outcome.record(id, delivery);
            }
        }
        metrics::recipients(tally[0], tally[1], tally[2]);
        for conn in &slow {
            kick_too_slow(conn);
        }
    }

    /// Closes `id` from the server side; false if unknown.
    pub fn kick(&self, id: &str, why: Kick) -> bool {
        let conn = self.lock().conn(id).cloned();
        match conn {
            Some(conn) => {
                kick(&conn, why);
                true
            }
            None => false,
        }
    }

    /// Facts about `id`.
    pub fn held(&self, id: &str) -> Option<Arc<HeldConnection>> {
        self.lock().conn(id).map(|c| c.held.clone())
    }

    /// Touches a connection's last-active time.
    pub fn touch(held: &HeldConnection, now_ms: u64) {
        held.last_active_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// Queues `frame` for `conn` without waiting; the flag is true when its queue was full,
/// in frames or bytes (the caller closes it, outside the hub's lock).
fn offer(conn: &Conn, frame: Outbound) -> (Delivery, bool) {
    if !conn.held.takes_pushes.load(Ordering::Relaxed) {
        return (Delivery::Gone, false);
    }
    match conn.mailbox.offer(frame) {
        Offered::Queued => (Delivery::Sent, false),
        Offered::Full => (Delivery::Overflow, true),
        Offered::Closed => (Delivery::Gone, false),
    }
}

/// Where a tally of deliveries counts `delivery`: sent, gone, overflow.
fn tally_slot(delivery: Delivery) -> usize {
    match delivery {
        Delivery::Sent => 0,
        Delivery::Gone => 1,
        Delivery::Overflow => 2,
    }
}

/// Records `n` deliveries of one kind.
fn count(delivery: Delivery, n: u64) {
    match delivery {
        Delivery::Sent => metrics::recipients(n, 0, 0),
        Delivery::Gone => metrics::recipients(0, n, 0),
        Delivery::Overflow => metrics::recipients(0, 0, n),
    }
}

fn kick_too_slow(conn: &Conn) {
    kick(
        conn,
        Kick::new(crate::close_code::TOO_SLOW, "too slow: outbound queue full"),
    );
}

fn kick(conn: &Conn, why: Kick) {
    conn.mailbox.kick(why);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A membership's lease in these tests (none lapses while they run).
    const LEASE: Duration = Duration::from_secs(60);

    fn info(id: &str) -> Arc<ConnectionInfo> {
        Arc::new(ConnectionInfo {
            id: id.into(),
            ..ConnectionInfo::default()
        })
    }

    #[test]
    fn a_full_queue_overflows_and_kicks_as_too_slow() {
        let hub = Hub::default();
        let handle = hub.insert(info("c"), QueueBound::frames(1));
        assert_eq!(hub.send("c", Outbound::text("1")), Delivery::Sent);
        assert_eq!(hub.send("c", Outbound::text("2")), Delivery::Overflow);
        assert_eq!(handle.kicked().unwrap().code, crate::close_code::TOO_SLOW);
        assert_eq!(hub.send("nobody", Outbound::text("x")), Delivery::Gone);
    }

    #[test]
    fn a_queue_full_of_bytes_overflows_and_taking_frames_makes_room() {
        let hub = Hub::default();
        let bound = QueueBound {
            frames: 100,
            bytes: 10,
        };
        let mut handle = hub.insert(info("c"), bound);
        // A frame alone always goes in, whatever its size.
        assert_eq!(
            hub.send("c", Outbound::text("x".repeat(50))),
            Delivery::Sent
        );
        assert_eq!(hub.send("c", Outbound::text("y")), Delivery::Overflow);
        assert_eq!(handle.kicked().unwrap().code, crate::close_code::TOO_SLOW);
        assert_eq!(handle.try_next().unwrap().len(), 50);
        for _ in 0..10 {
            assert_eq!(hub.send("c", Outbound::text("z")), Delivery::Sent);
        }
        assert_eq!(hub.send("c", Outbound::text("z")), Delivery::Overflow);
    }

    #[test]
    fn a_batch_reports_only_what_it_could_not_deliver_and_kicks_the_slow() {
        let hub = Hub::default();
        let mut fast = hub.insert(info("fast"), QueueBound::frames(4));
        let slow = hub.insert(info("slow"), QueueBound::frames(1));
        assert_eq!(hub.send("slow", Outbound::text("0")), Delivery::Sent);
        let mut outcome = BatchOutcome::default();
        let frame = Outbound::text("hello");
        hub.send_many(["fast", "slow", "nobody"], &frame, &mut outcome);
        assert_eq!(outcome.sent, 1);
        assert_eq!(
            outcome.undelivered,
            vec![
                ("slow".to_owned(), Delivery::Overflow),
                ("nobody".to_owned(), Delivery::Gone)
            ]
        );
        assert_eq!(fast.try_next().unwrap(), frame);
        assert_eq!(slow.kicked().unwrap().code, crate::close_code::TOO_SLOW);
        assert!(fast.kicked().is_none());
    }

    #[test]
    fn a_group_broadcast_reaches_its_members_but_the_sender_and_ends_with_them() {
        let hub = Hub::default();
        let mut a = hub.insert(info("a"), QueueBound::frames(4));
        let mut b = hub.insert(info("b"), QueueBound::frames(4));
        let mut c = hub.insert(info("c"), QueueBound::frames(4));
        assert_eq!(hub.join("room", "a", LEASE), Joined::Yes);
        assert_eq!(hub.join("room", "b", LEASE), Joined::Yes);
        assert_eq!(
            hub.join("room", "b", LEASE),
            Joined::Yes,
            "joining twice is one membership"
        );
        assert_eq!(hub.join("other", "c", LEASE), Joined::Yes);
        assert_eq!(hub.join("room", "nobody", LEASE), Joined::NotHeld);
        assert_eq!(hub.groups(), 2);

        let frame = Outbound::text("hi");
        assert_eq!(hub.publish("room", Some("a"), &frame), 1);
        assert!(a.try_next().is_none(), "the sender is skipped");
        assert_eq!(b.try_next().unwrap(), frame);
        assert!(c.try_next().is_none(), "another group's member");
        assert_eq!(hub.publish("room", None, &frame), 2);
        assert_eq!(hub.publish("nowhere", None, &frame), 0);

        // Leaving, and being forgotten, end memberships; an empty group is dropped.
        assert!(hub.leave("room", "b"));
        assert!(!hub.leave("room", "b"));
        assert_eq!(hub.publish("room", None, &frame), 1);
        hub.remove("a");
        assert_eq!(hub.publish("room", None, &frame), 0);
        assert_eq!(hub.groups(), 1);
        assert!(hub.remove_held(&c.held));
        assert_eq!(hub.groups(), 0);
        drop((a.try_next(), b.try_next(), c.try_next()));
    }

    #[tokio::test]
    async fn a_watcher_hears_which_groups_open_and_close_and_every_group_past_the_bound() {
        let hub = Hub::default();
        let _a = hub.insert(info("a"), QueueBound::frames(4));
        let _b = hub.insert(info("b"), QueueBound::frames(4));
        // Unwatched, nothing is noted.
        assert_eq!(hub.join("before", "a", LEASE), Joined::Yes);
        assert_eq!(hub.group_changes(), GroupChanges::Some(Vec::new()));

        let changed = hub.watch_groups();
        // The first look is every group already held.
        changed.notified().await;
        assert_eq!(
            hub.group_changes(),
            GroupChanges::All(vec!["before".into()])
        );
        assert_eq!(hub.group_changes(), GroupChanges::Some(Vec::new()));

        // A second member, or a renewal, changes nothing; a first member opens a group.
        assert_eq!(hub.join("before", "b", LEASE), Joined::Yes);
        assert_eq!(hub.join("before", "a", LEASE), Joined::Yes);
        assert_eq!(hub.group_changes(), GroupChanges::Some(Vec::new()));
        assert_eq!(hub.join("room", "a", LEASE), Joined::Yes);
        changed.notified().await;
        assert_eq!(
            hub.group_changes(),
            GroupChanges::Some(vec![("room".into(), true)])
        );
        // The last member leaving (or forgotten) closes it.
        assert!(hub.leave("room", "a"));
        changed.notified().await;
        assert_eq!(
            hub.group_changes(),
            GroupChanges::Some(vec![("room".into(), false)])
        );
        hub.remove("a");
        assert_eq!(
            hub.group_changes(),
            GroupChanges::Some(Vec::new()),
            "b is in it"
        );
        hub.remove("b");
        assert_eq!(
            hub.group_changes(),
            GroupChanges::Some(vec![("before".into(), false)])
        );
        // Opened and closed between two looks: noted once, as it is now.
        let _c = hub.insert(info("c"), QueueBound::frames(4));
        assert_eq!(hub.join("brief", "c", LEASE), Joined::Yes);
        assert!(hub.leave("brief", "c"));
        assert_eq!(
            hub.group_changes(),
            GroupChanges::Some(vec![("brief".into(), false)])
        );

        // Past the bound, the note is dropped and the next look is every group held.
        let conns: Vec<Handle> = (0..=MAX_PENDING_CHANGES / MAX_GROUPS_PER_CONNECTION)
            .map(|n| hub.insert(info(&format!("m{n}")), QueueBound::frames(1)))
            .collect();
        for n in 0..=MAX_PENDING_CHANGES {
            let id = format!("m{}", n / MAX_GROUPS_PER_CONNECTION);
            assert_eq!(hub.join(&format!("g{n}"), &id, LEASE), Joined::Yes);
        }
        let GroupChanges::All(names) = hub.group_changes() else {
            panic!("over the bound, every group is given");
        };
        assert_eq!(names.len(), MAX_PENDING_CHANGES + 1);
        assert_eq!(hub.group_changes(), GroupChanges::Some(Vec::new()));
        drop(conns);
    }

    #[test]
    fn group_bounds_hold_and_a_replaced_connection_leaves_its_groups() {
        let hub = Hub::default();
        let _a = hub.insert(info("a"), QueueBound::frames(4));
        for n in 0..MAX_GROUPS_PER_CONNECTION {
            assert_eq!(hub.join(&format!("g{n}"), "a", LEASE), Joined::Yes);
        }
        assert_eq!(hub.join("one-more", "a", LEASE), Joined::TooMany);
        assert_eq!(hub.join("", "a", LEASE), Joined::BadName);
        assert_eq!(
            hub.join(&"x".repeat(MAX_GROUP_LEN + 1), "a", LEASE),
            Joined::BadName
        );
        assert_eq!(hub.groups(), MAX_GROUPS_PER_CONNECTION);

        let replaced = Kick::new(1000, "replaced");
        let old = hub
            .insert_client_named(info("dev"), QueueBound::frames(4), replaced.clone())
            .unwrap();
        assert_eq!(hub.join("devices", "dev", LEASE), Joined::Yes);
        let mut new = hub
            .insert_client_named(info("dev"), QueueBound::frames(4), replaced)
            .unwrap();
        // The new connection under the id is in no group until it joins one.
        assert_eq!(hub.publish("devices", None, &Outbound::text("x")), 0);
        assert!(old.kicked().is_some());
        assert_eq!(hub.join("devices", "dev", LEASE), Joined::Yes);
        assert_eq!(hub.publish("devices", None, &Outbound::text("y")), 1);
        assert_eq!(new.try_next().unwrap(), Outbound::text("y"));
    }

    #[test]
    fn a_lapsed_or_paused_member_is_neither_sent_to_nor_counted() {
        let hub = Hub::default();
        let mut a = hub.insert(info("a"), QueueBound::frames(4));
        let b = hub.insert(info("b"), QueueBound::frames(4));
        assert_eq!(hub.join("room", "a", Duration::ZERO), Joined::Yes);
        assert_eq!(hub.join("room", "b", LEASE), Joined::Yes);
        b.held.takes_pushes.store(false, Ordering::Relaxed);
        assert_eq!(hub.publish("room", None, &Outbound::text("x")), 0);
        assert!(a.try_next().is_none(), "a lapsed membership is skipped");
        // Joining again renews it.
        assert_eq!(hub.join("room", "a", LEASE), Joined::Yes);
        assert_eq!(hub.publish("room", None, &Outbound::text("y")), 1);
        assert_eq!(a.try_next().unwrap(), Outbound::text("y"));
    }

    #[test]
    fn a_slow_group_member_is_closed_and_the_others_still_get_the_frame() {
        let hub = Hub::default();
        let slow = hub.insert(info("slow"), QueueBound::frames(1));
        let mut fast = hub.insert(info("fast"), QueueBound::frames(4));
        hub.join("room", "slow", LEASE);
        hub.join("room", "fast", LEASE);
        assert_eq!(hub.publish("room", None, &Outbound::text("1")), 2);
        assert_eq!(hub.publish("room", None, &Outbound::text("2")), 2);
        assert_eq!(slow.kicked().unwrap().code, crate::close_code::TOO_SLOW);
        assert_eq!(fast.try_next().unwrap(), Outbound::text("1"));
        assert_eq!(fast.try_next().unwrap(), Outbound::text("2"));
    }

    #[test]
    fn a_replaced_connection_is_kicked_and_cannot_remove_its_successor() {
        let hub = Hub::default();
        let old = hub
            .insert_client_named(
                info("dev"),
                QueueBound::frames(4),
                Kick::new(1000, "replaced"),
            )
            .unwrap();
        let new = hub
            .insert_client_named(
                info("dev"),
                QueueBound::frames(4),
                Kick::new(1000, "replaced"),
            )
            .unwrap();
        assert_eq!(old.kicked().unwrap().reason, "replaced");
        assert!(
            !hub.remove_held(&old.held),
            "the old session must not remove the new one"
        );
        assert_eq!(hub.len(), 1);
        new.held.takes_pushes.store(false, Ordering::Relaxed);
        assert_eq!(hub.send("dev", Outbound::text("x")), Delivery::Gone);
        assert!(hub.remove_held(&new.held));
        assert!(hub.is_empty());
        // A device id never takes over a gateway-named connection.
        let plain = hub.insert(info("c1"), QueueBound::frames(4));
        assert!(
            hub.insert_client_named(
                info("c1"),
                QueueBound::frames(4),
                Kick::new(1000, "replaced")
            )
            .is_none()
        );
        assert!(plain.kicked().is_none() && hub.is_current(&plain.held));
    }

    #[tokio::test]
    async fn a_shut_down_hub_kicks_every_connection_held_and_every_one_held_later() {
        let hub = Hub::default();
        let kicked_first = hub.insert(info("a"), QueueBound::frames(4));
        hub.kick("a", Kick::by_function());
        let idle = hub.insert(info("b"), QueueBound::frames(4));
        let kicks = idle.kicks();
        let notified = kicks.notified();
        assert!(idle.kicked().is_none());
        hub.shut_down(Kick::new(1001, "server shutting down"));
        // The session registered for its kick before it came: it wakes.
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("the held connection's session was woken");
        assert_eq!(idle.kicked().unwrap().code, 1001);
        assert_eq!(
            kicked_first.kicked().unwrap(),
            Kick::by_function(),
            "a kick before the shutdown keeps its reason"
        );
        // A handshake under way when the node began to shut down: kicked as it is held,
        // and its session, registering later, still hears it.
        let late = hub.insert(info("c"), QueueBound::frames(4));
        let device = hub
            .insert_client_named(info("dev"), QueueBound::frames(4), Kick::new(1000, "x"))
            .unwrap();
        for handle in [&late, &device] {
            assert_eq!(handle.kicked().unwrap().code, 1001);
            let kicks = handle.kicks();
            tokio::time::timeout(Duration::from_secs(5), kicks.notified())
                .await
                .expect("a kick before the first poll is kept");
        }
        // Shutting down again changes nothing.
        hub.shut_down(Kick::new(1000, "again"));
        assert_eq!(late.kicked().unwrap().reason, "server shutting down");
        // Nor does a kick while the connections drain (a full queue, a function's close):
        // the session reads why it was woken.
        hub.kick("b", Kick::by_function());
        assert_eq!(idle.kicked().unwrap().code, 1001);
    }
}
