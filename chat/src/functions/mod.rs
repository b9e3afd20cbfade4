//! [`ChatFunctions`]: register, transport, cleanup, as one [`App`].
//!
//! Every frame the chat sends — the welcome, error notices, the room's lines — goes out
//! through the push-back API of the node holding the recipient, never in a function's
//! answer: Tencent ignores a transport answer's body, so this is the one way that works in
//! every dialect. The room and node of a connection come from its store record (AWS and
//! Tencent message events carry neither).
//!
//! Where the pusher keeps groups (the chat linked into a node), each connection joins its
//! room's group on register, and a chat line goes to the group: one call, no walk of the
//! room and no id per recipient. The store still says who is online: its count of the
//! room is the number of members the line must reach; when the group broadcast reached
//! fewer (members on nodes it does not reach), a walk of the room finds the rest, by
//! node, and the nodes that did not answer get the line by ids, as without groups. A
//! membership is leased with the record and renewed with it on each heartbeat (it lapses
//! a second before the record would), so a group never counts a member the store does
//! not; a connection whose node will not put it in the group is not let in. A line sent
//! while a member is joining (between its record and its membership) may miss it, as a
//! walk made just before its record was written would.
//!
//! A line's broadcast is sent in order with the sender's other lines, and the other nodes'
//! answers are read behind it (on a task of its own, [`MAX_LINES_CONFIRMING`] at once; past
//! that a line waits for its own): a sender's next line does not wait for them. So a
//! member the broadcast missed, reached by the walk behind it, may get the line after the
//! sender's next one; members their nodes' groups reach get a sender's lines in order. A
//! line that goes by ids (the link is down, its broadcast failed or fell short at once)
//! first waits for the lines read behind to be done, so it cannot overtake them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use lifecycle::{
    App, AppError, EventKind, LifecycleEvent, Payload, Published, PushError, Pusher, Reply,
};
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, ErrorKind, Metadata, Registration, RoomName,
    StoreError, system_clock,
};
use tokio::sync::Semaphore;

use crate::names::anonymous_name;
use crate::presence::{Batch, MAX_PLAIN, Notice, PendingNotices, next_window};
use crate::protocol::{ClientMessage, ServerMessage};

/// Longest chat line, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// The room of a connection that names none (`?room=`).
pub const DEFAULT_ROOM: &str = "lobby";
/// The close code asking a client whose lease is gone to reconnect.
pub const LEASE_LOST: u16 = 4410;
/// Gateway nodes a broadcast pushes to at once.
const FANOUT_CONCURRENCY: usize = 8;

/// The chat room's three functions over one store.
#[derive(Debug, Clone)]
pub struct ChatFunctions {
    /// Live connections, by room, with leases.
    store: Arc<dyn ConnectionStore>,
    /// Reaches connections through their gateway node.
    pusher: Arc<dyn Pusher>,
    /// Lease granted on register and each heartbeat.
    lease: Duration,
    /// How long join and leave notices gather before one flush sends them (zero: each at
    /// once).
    presence_window: Duration,
    /// The notices gathering, by room.
    pending: Arc<PendingNotices>,
    /// Whether the pusher keeps groups: true until it says it has none (then every line
    /// goes by walk and ids, with no count asked of the store first).
    groups: Arc<AtomicBool>,
    /// Places for lines whose group broadcast is sent and whose other nodes' answers are
    /// read behind it ([`MAX_LINES_CONFIRMING`]): a place is held through the pusher's
    /// bounded wait and the walk for the members the answers say were missed (bounded by
    /// the store's and the pushes' deadlines).
    confirming: Arc<Semaphore>,
}

/// Lines whose other nodes' answers are read behind them at once, over every room and
/// sender; a line finding no place waits for its own answers before its sender's next line
/// (a node whose link answers slowly slows its senders, instead of keeping ever more tasks
/// and subscriptions).
pub const MAX_LINES_CONFIRMING: usize = 256;

/// The default presence window: short enough to read as instant, long enough that a join
/// storm costs a few walks a second instead of one per join.
pub const PRESENCE_WINDOW: Duration = Duration::from_millis(50);

fn store_failure(err: StoreError) -> AppError {
    if err.is_temporary() {
        AppError::unavailable(err.to_string())
    } else {
        AppError::failed(err.to_string())
    }
}

/// Failed flushes of one batch of notices before they are dropped.
const MAX_FLUSH_RETRIES: u32 = 3;

/// Adds a run of `node`'s members to `by_node` (the run's own list when it is the node's
/// first).
fn add_run(by_node: &mut HashMap<Endpoint, Vec<String>>, node: Endpoint, ids: Vec<String>) {
    match by_node.entry(node) {
        std::collections::hash_map::Entry::Vacant(entry) => {
            entry.insert(ids);
        }
        std::collections::hash_map::Entry::Occupied(mut entry) => entry.get_mut().extend(ids),
    }
}

/// True when push URLs `reached` and `node` name one node (a trailing slash aside).
fn same_node(reached: &str, node: &Endpoint) -> bool {
    reached.trim_end_matches('/') == node.as_str().trim_end_matches('/')
}

/// The plain frame of one notice.
fn single_notice(notice: Notice, online: u64) -> ServerMessage {
    match notice {
        Notice::Joined { name, .. } => ServerMessage::Join { name, online },
        Notice::Left { name } => ServerMessage::Leave { name, online },
    }
}

/// The answer that makes the gateway close a connection whose lease is gone; the client
/// reconnects (and registers again).
fn lease_lost() -> Reply {
    Reply::status(410).closing(LEASE_LOST, "lease lost: reconnect")
}

#[async_trait]
impl App for ChatFunctions {
    async fn handle(&self, event: &LifecycleEvent) -> Result<Reply, AppError> {
        let Ok(id) = ConnectionId::new(event.connection_id()) else {
            return Ok(Reply::status(400));
        };
        let outcome = match &event.kind {
            EventKind::Connect => self.register(&id, event).await,
            EventKind::Message { .. } => self.transport(&id, event).await,
            EventKind::Disconnect { .. } => {
                // On a task of its own: a cleanup whose caller gives up (the function's
                // deadline, when a crowd leaves at once and the store's pool queues) still
                // removes its record and tells its room. Each of its store calls has the
                // store's deadline, so it ends.
                let (this, id) = (self.clone(), id.clone());
                let (answer, answered) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let outcome = this.cleanup(&id).await;
                    if let Err(Err(err)) = answer.send(outcome) {
                        // Its caller is gone: said here, or never.
                        tracing::warn!(id = id.as_str(), %err, "a cleanup whose caller gave up failed; the lease ends the record");
                    }
                });
                match answered.await {
                    Ok(outcome) => outcome,
                    // It panicked (reported as a task's panic), or the node is stopping.
                    Err(_) => return Err(AppError::failed("the cleanup did not finish")),
                }
            }
        };
        outcome.map_err(store_failure)
    }
}

impl ChatFunctions {
    /// Functions over `store`, pushing with `pusher`, granting `lease` (60 s is the default
    /// the gateway uses; clients heartbeat every 15 s).
    pub fn new(store: Arc<dyn ConnectionStore>, pusher: Arc<dyn Pusher>, lease: Duration) -> Self {
        ChatFunctions {
            store,
            pusher,
            lease,
            presence_window: PRESENCE_WINDOW,
            pending: Arc::default(),
            groups: Arc::new(AtomicBool::new(true)),
            confirming: Arc::new(Semaphore::new(MAX_LINES_CONFIRMING)),
        }
    }

    /// With join and leave notices gathered for `window` (see [`crate::presence`]); zero
    /// sends each at once, inside the function (for hosts that freeze a function between
    /// invocations).
    pub fn with_presence_window(mut self, window: Duration) -> Self {
        self.presence_window = window;
        self
    }

    /// The store (tests and housekeeping use it).
    pub fn store(&self) -> &Arc<dyn ConnectionStore> {
        &self.store
    }

    /// The pusher (the HTTP server closes connections with it).
    pub fn pusher(&self) -> &Arc<dyn Pusher> {
        &self.pusher
    }

    /// register: record the connection with a lease in the room of `?room=`, welcome it,
    /// tell the room. A bad room refuses the handshake with 400.
    async fn register(
        &self,
        id: &ConnectionId,
        event: &LifecycleEvent,
    ) -> Result<Reply, StoreError> {
        let connection = &event.connection;
        let Ok(room) = RoomName::new(connection.query("room").unwrap_or(DEFAULT_ROOM)) else {
            return Ok(Reply::status(400));
        };
        let Ok(endpoint) = Endpoint::new(connection.push_url.as_str()) else {
            return Ok(Reply::status(400));
        };
        let mut metadata =
            Metadata::new().with("connected_at", connection.connected_at_ms.to_string())?;
        if !connection.source_ip.is_empty() {
            metadata = metadata.with("source_ip", connection.source_ip.as_str())?;
        }
        let registration = Registration {
            room: room.clone(),
            endpoint: endpoint.clone(),
            metadata,
            ttl: self.lease,
        };
        self.store.register(id, &registration).await?;
        if !self.join_group(&endpoint, &room, id).await {
            // Its node's broadcasts would pass it by: it is not let in.
            self.store.remove(id).await?;
            return Ok(Reply::status(503));
        }
        let name = anonymous_name(id.as_str());
        let notice = Notice::Joined {
            id: id.as_str().to_owned(),
            name: name.clone(),
            exact: true,
        };
        let online = if self.presence_window.is_zero() {
            let (online, others) = self.members(&room, Some(id)).await?;
            self.welcome(&endpoint, id, name, online).await;
            self.deliver(others, online, single_notice(notice, online))
                .await?
        } else if let Some(estimate) = self.pending.estimate_join(&room) {
            // A storm: the welcome goes first, then the notice, whose flush sends this
            // connection the exact count too.
            let notice = Notice::Joined {
                id: id.as_str().to_owned(),
                name: name.clone(),
                exact: false,
            };
            self.welcome(&endpoint, id, name, estimate).await;
            self.gather(&room, notice, None);
            estimate
        } else {
            let online = self.store.count(&room).await?;
            self.welcome(&endpoint, id, name, online).await;
            self.gather(&room, notice, Some(online));
            online
        };
        tracing::debug!(id = id.as_str(), room = room.as_str(), online, "registered");
        Ok(Reply::ok())
    }

    /// transport: heartbeats renew the lease; anything else is a chat line for everyone
    /// else in the room.
    async fn transport(
        &self,
        id: &ConnectionId,
        event: &LifecycleEvent,
    ) -> Result<Reply, StoreError> {
        let message = match event.payload.as_ref() {
            Some(Payload::Text(text)) => ClientMessage::parse(text),
            Some(Payload::Binary(_)) | None => {
                return self
                    .refuse(id, "binary frames are not supported: send text")
                    .await;
            }
        };
        let text = match message {
            ClientMessage::Heartbeat => {
                return match self.store.renew(id, self.lease).await {
                    Ok(_) => {
                        self.renew_group(id, event).await;
                        Ok(Reply::ok())
                    }
                    // The lease ran out (or the record was cleaned): this connection is no
                    // longer online.
                    Err(err) if err.kind() == ErrorKind::NotFound => Ok(lease_lost()),
                    Err(err) => Err(err),
                };
            }
            ClientMessage::Chat { text } => text,
        };
        let Some(me) = self.store.get(id).await? else {
            return Ok(lease_lost());
        };
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            let why = format!("a chat line has 1..={MAX_TEXT_CHARS} characters");
            self.send_to(&me.endpoint, id, ServerMessage::Error { message: why })
                .await;
            return Ok(Reply::ok());
        }
        let from = anonymous_name(id.as_str());
        let at = store_core::Clock::now_ms(system_clock().as_ref());
        let line = |online| ServerMessage::Chat {
            from: from.clone(),
            text: text.to_owned(),
            at,
            online,
        };
        if self.groups.load(Ordering::Relaxed) {
            let online = self.store.count(&me.room).await?;
            let message = line(online);
            let payload = Payload::Text(message.to_json());
            // Everyone but the sender, who is online too.
            let expected = online.saturating_sub(1);
            match self
                .pusher
                .publish_sent(me.room.as_str(), Some(id.as_str()), &payload, expected)
                .await
            {
                Ok(sent) => {
                    // Its answers still to come, and a place free: they are read behind it,
                    // so the sender's next line need not wait for them. Answered already,
                    // or with no place free, it is finished in line, as every line once
                    // was: one room whose answers always fall short slows its own senders,
                    // not every room's.
                    let place = match sent.now() {
                        Some(_) => None,
                        None => self.confirming.clone().try_acquire_owned().ok(),
                    };
                    let Some(place) = place else {
                        let published = sent.answers().await;
                        if published.reached < expected {
                            self.lines_in_flight_done().await;
                            self.reach_the_rest(&me.room, id, online, message, &published)
                                .await?;
                        }
                        return Ok(Reply::ok());
                    };
                    let (this, room, id) = (self.clone(), me.room.clone(), id.clone());
                    tokio::spawn(async move {
                        let published = sent.answers().await;
                        if published.reached < expected
                            && let Err(err) = this
                                .reach_the_rest(&room, &id, online, message, &published)
                                .await
                        {
                            tracing::warn!(%err, room = room.as_str(), "a line's walk for the members its broadcast missed failed");
                        }
                        drop(place);
                    });
                    return Ok(Reply::ok());
                }
                Err(PushError::NoGroups) => self.groups.store(false, Ordering::Relaxed),
                Err(err) => tracing::warn!(%err, "group broadcast failed; sending by ids"),
            }
            self.lines_in_flight_done().await;
        }
        let (online, others) = self.members(&me.room, Some(id)).await?;
        self.deliver(others, online, line(online)).await?;
        Ok(Reply::ok())
    }

    /// Waits until every line whose answers are being read behind it is done (its walk
    /// included). A line that goes by ids waits so first: by ids it could reach a member
    /// before an earlier line of its sender that the member's node is still to get from
    /// its group, or that the walk behind it is still to bring.
    async fn lines_in_flight_done(&self) {
        // Every place at once: granted once the lines holding them have let them go.
        let all = MAX_LINES_CONFIRMING as u32;
        let Ok(_all) = self.confirming.acquire_many(all).await else {
            unreachable!("the semaphore is never closed")
        };
    }

    /// Sends a line its group broadcast did not bring to every member (`published` says
    /// who it reached) to the rest: a walk of the room finds them, and the nodes that
    /// answered are not sent the line again.
    async fn reach_the_rest(
        &self,
        room: &RoomName,
        sender: &ConnectionId,
        online: u64,
        message: ServerMessage,
        published: &Published,
    ) -> Result<(), StoreError> {
        let (_, mut others) = self.members(room, Some(sender)).await?;
        others.retain(|node, _| {
            !published
                .nodes
                .iter()
                .any(|reached| same_node(reached, node))
        });
        self.deliver(others, online, message).await.map(drop)
    }

    /// Puts a registered connection in its room's group for its lease, where the pusher
    /// keeps groups; false when the pusher has groups and would not put it in (a member
    /// left out would miss every line its node's group gets).
    async fn join_group(&self, node: &Endpoint, room: &RoomName, id: &ConnectionId) -> bool {
        if !self.groups.load(Ordering::Relaxed) {
            return true;
        }
        let joined = self
            .pusher
            .join(node.as_str(), room.as_str(), id.as_str(), self.lease)
            .await;
        match joined {
            Ok(true) => true,
            Ok(false) => false,
            // Every line goes by walk and ids from now on: a pusher without groups has
            // none for anyone.
            Err(PushError::NoGroups) => {
                self.groups.store(false, Ordering::Relaxed);
                true
            }
            Err(err) => {
                tracing::warn!(%err, id = id.as_str(), "could not join the room's group");
                false
            }
        }
    }

    /// Renews a connection's membership of its room's group with its record (a heartbeat
    /// renewed the record's lease); the room and node come from its handshake, as on
    /// register. It fails only for a connection its node no longer holds.
    async fn renew_group(&self, id: &ConnectionId, event: &LifecycleEvent) {
        let connection = &event.connection;
        let room = connection.query("room").unwrap_or(DEFAULT_ROOM);
        if !self.groups.load(Ordering::Relaxed) || connection.push_url.is_empty() {
            return;
        }
        let renewed = self
            .pusher
            .join(&connection.push_url, room, id.as_str(), self.lease)
            .await;
        if let Err(err) = renewed {
            tracing::debug!(%err, id = id.as_str(), "group membership not renewed");
        }
    }

    /// Tells the sender why its frame went nowhere (when it still has a record to find its
    /// node by; else its lease is gone).
    async fn refuse(&self, id: &ConnectionId, why: &str) -> Result<Reply, StoreError> {
        let Some(me) = self.store.get(id).await? else {
            return Ok(lease_lost());
        };
        let message = ServerMessage::Error {
            message: why.to_owned(),
        };
        self.send_to(&me.endpoint, id, message).await;
        Ok(Reply::ok())
    }

    /// cleanup: forget the connection and tell its room.
    async fn cleanup(&self, id: &ConnectionId) -> Result<Reply, StoreError> {
        let Some(me) = self.store.get(id).await? else {
            // Already gone (its lease ended, or a broadcast found it gone).
            self.store.remove(id).await?;
            return Ok(Reply::ok());
        };
        if self.store.remove(id).await? {
            let notice = Notice::Left {
                name: anonymous_name(id.as_str()),
            };
            if self.presence_window.is_zero() {
                let (online, others) = self.members(&me.room, None).await?;
                self.deliver(others, online, single_notice(notice, online))
                    .await?;
            } else {
                self.gather(&me.room, notice, None);
            }
        }
        Ok(Reply::ok())
    }

    async fn welcome(&self, node: &Endpoint, id: &ConnectionId, name: String, online: u64) {
        self.send_to(node, id, ServerMessage::Welcome { name, online })
            .await;
    }

    /// Queues `notice` for `room` (`online` if known), starting the room's flusher if
    /// none runs.
    fn gather(&self, room: &RoomName, notice: Notice, online: Option<u64>) {
        if self.pending.push(room, notice, online) {
            let this = self.clone();
            let room = room.clone();
            tokio::spawn(async move { this.flush_notices(room).await });
        }
    }

    /// The room's flusher: waits a window, sends what gathered, until nothing is left.
    async fn flush_notices(self, room: RoomName) {
        let mut window = self.presence_window;
        let mut failures = 0;
        loop {
            tokio::time::sleep(window).await;
            let Some(batch) = self.pending.take(&room) else {
                return;
            };
            let started = std::time::Instant::now();
            match self.send_notices(&room, &batch).await {
                Ok(()) => failures = 0,
                // The store is down: the notices wait for the next window (a welcome's
                // estimate waits for the exact count they bring), a few times at most.
                Err(err) if failures < MAX_FLUSH_RETRIES => {
                    failures += 1;
                    tracing::warn!(room = room.as_str(), %err, failures, "presence notices not sent; retrying");
                    self.pending.requeue(&room, batch);
                }
                Err(err) => {
                    failures = 0;
                    tracing::warn!(room = room.as_str(), %err, dropped = batch.len(), "presence notices not sent; dropped");
                }
            }
            window = next_window(self.presence_window, started.elapsed() * (1 + failures));
        }
    }

    /// One walk; then each notice as its plain frame (up to [`MAX_PLAIN`]; a join not to
    /// the one who joined, when its welcome was exact), or all of them as one `presence`
    /// frame to every member.
    async fn send_notices(&self, room: &RoomName, batch: &Batch) -> Result<(), StoreError> {
        let (online, everyone) = self.members(room, None).await?;
        self.pending.walked(room, online);
        if batch.len() > MAX_PLAIN as u64 {
            let (joined, left) = batch.names();
            let message = ServerMessage::Presence {
                joined,
                more_joined: batch.more_joined,
                left,
                more_left: batch.more_left,
                online,
            };
            return self.deliver(everyone, online, message).await.map(drop);
        }
        let mut online = online;
        for notice in &batch.notices {
            let except = match &notice {
                Notice::Joined {
                    id, exact: true, ..
                } => Some(id.clone()),
                _ => None,
            };
            let recipients = everyone
                .iter()
                .map(|(node, ids)| {
                    let ids = ids.iter().filter(|id| Some(*id) != except.as_ref());
                    (node.clone(), ids.cloned().collect())
                })
                .collect();
            online = self
                .deliver(recipients, online, single_notice(notice.clone(), online))
                .await?;
        }
        Ok(())
    }

    /// One walk of `room`: the online count, and the members but `except` grouped by the
    /// node holding them.
    async fn members(
        &self,
        room: &RoomName,
        except: Option<&ConnectionId>,
    ) -> Result<(u64, HashMap<Endpoint, Vec<String>>), StoreError> {
        let mut by_node: HashMap<Endpoint, Vec<String>> = HashMap::new();
        let mut online = 0u64;
        // A store hands out one shared endpoint per node and keeps a node's members
        // together, so a run of members of one node is gathered without hashing the
        // endpoint of each (that hashing was a visible share of a broadcast's CPU).
        let mut run: Option<(Endpoint, Vec<String>)> = None;
        // The whole room in as few store calls as it can make (one scan, one statement).
        for member in self.store.list_room(room).await? {
            online += 1;
            if except.is_some_and(|except| *except == member.id) {
                continue;
            }
            match &mut run {
                Some((node, ids)) if *node == member.endpoint => ids.push(member.id.into()),
                _ => {
                    let started = (member.endpoint, vec![member.id.into()]);
                    if let Some((node, ids)) = run.replace(started) {
                        add_run(&mut by_node, node, ids);
                    }
                }
            }
        }
        if let Some((node, ids)) = run {
            add_run(&mut by_node, node, ids);
        }
        Ok((online, by_node))
    }

    /// Pushes one frame to one connection; a failure is logged (the frame is advisory).
    async fn send_to(&self, node: &Endpoint, id: &ConnectionId, message: ServerMessage) {
        let ids = [id.as_str().to_owned()];
        let payload = Payload::Text(message.to_json());
        if let Err(err) = self.pusher.batch(node.as_str(), &ids, &payload).await {
            tracing::warn!(%err, id = id.as_str(), "push to the caller failed");
        }
    }

    /// Sends `message` to `by_node`: one batch call per node, a few nodes at a time.
    /// Recipients a node calls gone are removed on the spot. Returns `online` less them.
    async fn deliver(
        &self,
        by_node: HashMap<Endpoint, Vec<String>>,
        mut online: u64,
        message: ServerMessage,
    ) -> Result<u64, StoreError> {
        let payload = Payload::Text(message.to_json());
        let gone: Vec<String> = stream::iter(by_node)
            .map(|(node, ids)| {
                let payload = &payload;
                async move {
                    match self.pusher.batch(node.as_str(), &ids, payload).await {
                        Ok(outcome) => outcome.undelivered.into_iter().map(|(id, _)| id).collect(),
                        Err(err) => {
                            // A node that cannot be reached keeps its connections: their
                            // leases end on their own if the node is really gone.
                            tracing::warn!(%err, node = node.as_str(), "push failed");
                            Vec::new()
                        }
                    }
                }
            })
            .buffer_unordered(FANOUT_CONCURRENCY)
            .flat_map(stream::iter)
            .collect()
            .await;
        for id in gone {
            // Counted once, by whoever removes it (several notices of one flush may all
            // find the same connection gone).
            if let Ok(id) = ConnectionId::new(id)
                && self.store.remove(&id).await?
            {
                online = online.saturating_sub(1);
            }
        }
        Ok(online)
    }
}

#[cfg(test)]
mod tests;
