//! [`NatsLink`]: nodes reach one another's connections over NATS. Each node subscribes to
//! its own subject (named after the push URL its records carry); a batch for another node
//! is one request to that node's subject (binary, [`codec`]), answered with what the node
//! did. The HTTP push-back API stays the way in for functions, and the way between nodes
//! when NATS cannot carry a call without doubt:
//! - the link is not connected (NATS down, reconnecting): the call goes over HTTP;
//! - no node listens on the subject (the node is not on the link, or restarting): NATS says
//!   so at once, nothing was delivered, the call goes over HTTP;
//! - the request was sent but not answered in time: it may have been delivered, so it is
//!   not sent again; the caller gets [`PushError::Unreachable`].
//!
//! Nothing is lost silently: every call ends delivered, refused or failed with an error,
//! and is counted (`wsgw_node_link_calls_total`).
//!
//! With groups (`--node-link-groups`), every node also serves the group subjects
//! (`wsgw.group.<group, hex>`) of the groups it holds members of, and only those: it
//! subscribes to a group's subject when the group gains its first member here and lets it
//! go with the last, so a broadcast reaches the nodes of its room and no other. Each offers
//! the frame to its own members and answers how many it reached (a node with none stays
//! silent). A broadcast is sent in order with the node's other messages, and its answers
//! are read after (`Pusher::publish_sent` returns once it is sent, so a sender need not
//! wait for one line's answers before its next): until the members it expects were
//! reached, a bounded while ([`GROUP_WAIT`]), or until NATS says no node serves the
//! subject; members it did not hear about are the caller's to reach another way (a batch
//! per node over the per-node subjects or HTTP), among them a member whose node's
//! subscription is still on its way to NATS. While the link is down a group broadcast does nothing and says so
//! ([`PushError::NoGroups`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, Event, RequestErrorKind, Subscriber};
use async_trait::async_trait;
use futures::StreamExt;
use lifecycle::{BatchOutcome, Delivery, Payload, Published, Publishing, PushError, Pusher};
use store_core::MAX_ID_LEN;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use super::codec::{self, Answer, Request};
use crate::hub::{GroupChanges, Hub, Kick, MAX_GROUP_LEN, Outbound};
use crate::ids::distinct_capped;
use crate::metrics;
use crate::push_api::batch::MAX_BATCH_IDS;

/// How long a node waits for another's answer (as the HTTP pusher's timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the first connection may take before the node refuses to start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests from other nodes waiting to be served, a subscription (the node's own subject,
/// and each group's it holds); past it NATS drops them for that subscriber (their senders
/// time out or walk), so what waits is bounded by the subscriptions, and those by the
/// groups this node's own connections are in.
const INBOX_CAPACITY: usize = 1024;

/// The longest pause between reconnection attempts: a restarted NATS server is used again
/// within about a second.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How often the link pings NATS: a dead connection or a stopped server is noticed within
/// two missed pings (calls go over HTTP from then on), not the client's default minutes.
const PING_INTERVAL: Duration = Duration::from_secs(3);

/// The subject every node's subject starts with.
const SUBJECT_PREFIX: &str = "wsgw.node.";

/// The subject every group's subject starts with.
const GROUP_PREFIX: &str = "wsgw.group.";

/// How long a group broadcast waits for the other nodes' answers: a node that answers
/// later still delivered, but the caller has reached its members another way by then.
pub const GROUP_WAIT: Duration = Duration::from_millis(500);

/// The longest a node goes without comparing its group subscriptions with the groups it
/// holds (it compares on every change too); a subscription that failed is tried again then.
const GROUP_RESYNC: Duration = Duration::from_secs(10);

/// Answers one group broadcast reads at most (one per node; more is a peer gone wrong).
const MAX_GROUP_ANSWERS: usize = 1024;

/// Why a link could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The option is not `http` nor a NATS URL.
    #[error("node link: {0}")]
    BadUrl(String),
    /// NATS did not answer (the URL shown without its credentials).
    #[error("node link {url}: cannot connect: {message}")]
    Connect {
        /// Where.
        url: String,
        /// What failed.
        message: String,
    },
}

/// The NATS subject of the node whose push URL is `push_url`: the URL hex-encoded, as a
/// URL holds characters (`.`, `*`, `>`) a subject token may not.
pub fn subject_of(push_url: &str) -> String {
    hex_subject(SUBJECT_PREFIX, push_url.trim_end_matches('/'))
}

/// The NATS subject of group `group` (hex-encoded, as a node's).
pub fn group_subject(group: &str) -> String {
    hex_subject(GROUP_PREFIX, group)
}

fn hex_subject(prefix: &str, token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut subject = String::with_capacity(prefix.len() + 2 * token.len());
    subject.push_str(prefix);
    for byte in token.bytes() {
        subject.push(char::from(HEX[usize::from(byte >> 4)]));
        subject.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    subject
}

/// `url` without a password or token, for messages and logs.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A node's link to the others over NATS: a [`Pusher`] for batches and closes addressed to
/// other nodes, and the task serving the requests addressed to this one.
pub struct NatsLink {
    /// The connection to NATS (it reconnects by itself).
    client: Client,
    /// Where calls go while NATS cannot take them: the other nodes' push-back API.
    fallback: Arc<dyn Pusher>,
    /// The URL without credentials, for errors and logs.
    url: String,
    /// Whether this node serves and sends group broadcasts (every node of a deployment
    /// must, or a broadcast misses the members of those that do not).
    groups: bool,
    /// Serves other nodes' requests; ended with the link.
    serving: JoinHandle<()>,
    /// With groups: keeps the node subscribed to the subjects of the groups it holds, and
    /// serves them; ended (with every group's subscription) with the link.
    following: Option<JoinHandle<()>>,
}

impl fmt::Debug for NatsLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsLink")
            .field("url", &self.url)
            .field("groups", &self.groups)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl Drop for NatsLink {
    fn drop(&mut self) {
        self.serving.abort();
        if let Some(following) = &self.following {
            following.abort();
        }
    }
}

impl NatsLink {
    /// Connects to NATS at `url` and serves the requests for `own_push_url` (this node's
    /// advertised push URL) from `hub`, frames up to `max_frame` bytes, and the group
    /// subjects when `groups`; calls NATS cannot carry go through `fallback`.
    pub async fn connect(
        url: &str,
        own_push_url: &str,
        hub: Arc<Hub>,
        max_frame: usize,
        fallback: Arc<dyn Pusher>,
        groups: bool,
    ) -> Result<Self, LinkError> {
        if !url.starts_with("nats://") {
            return Err(LinkError::BadUrl(format!(
                "`{}` is not a nats:// URL",
                redacted(url)
            )));
        }
        let shown = redacted(url);
        let failed = |message: String| LinkError::Connect {
            url: shown.clone(),
            message,
        };
        let logged_url = shown.clone();
        let options = ConnectOptions::new()
            .name("wsgw-node")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .subscription_capacity(INBOX_CAPACITY)
            .ping_interval(PING_INTERVAL)
            // A node's own group broadcasts are not served back to it: its hub already
            // offered them to its members.
            .no_echo()
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts as u64).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(move |event| {
                let url = logged_url.clone();
                async move {
                    match event {
                        Event::Connected => {
                            metrics::node_link_connected(true);
                            tracing::info!(url = %url, "node link connected");
                        }
                        Event::Disconnected => {
                            metrics::node_link_connected(false);
                            tracing::warn!(url = %url, "node link disconnected: calls go over HTTP until it is back");
                        }
                        // One per dropped request: counted by the senders' timeouts, not
                        // logged one by one.
                        Event::SlowConsumer(_) => {
                            tracing::debug!(url = %url, "node link: a request dropped (inbox full)")
                        }
                        other => tracing::warn!(url = %url, event = %other, "node link"),
                    }
                }
            });
        let client = tokio::time::timeout(CONNECT_TIMEOUT, options.connect(url))
            .await
            .map_err(|_| failed(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|err| failed(err.to_string()))?;
        let subject = subject_of(own_push_url);
        let inbox = client
            .subscribe(subject.clone())
            .await
            .map_err(|err| failed(err.to_string()))?;
        // The subscription is on the server before the first broadcast can look for it.
        client
            .flush()
            .await
            .map_err(|err| failed(err.to_string()))?;
        metrics::zero_node_link();
        metrics::node_link_connected(true);
        tracing::info!(url = %shown, subject = %subject, groups, "node link over NATS");
        let node = Arc::new(Served {
            hub,
            max_frame,
            push_url: own_push_url.trim_end_matches('/').to_owned(),
        });
        let serving = tokio::spawn(serve(client.clone(), inbox, node.clone()));
        let following = groups.then(|| tokio::spawn(follow_groups(client.clone(), node)));
        Ok(NatsLink {
            client,
            fallback,
            url: shown,
            groups,
            serving,
            following,
        })
    }

    /// One request to the node at `push_url`; `None` when NATS cannot carry it without
    /// doubt (it goes over HTTP then).
    async fn request(
        &self,
        push_url: &str,
        message: bytes::Bytes,
    ) -> Option<Result<Answer, PushError>> {
        // The gauge follows what calls see too, should an event be lost.
        if self.client.connection_state() != State::Connected {
            metrics::node_link_connected(false);
            metrics::node_link_call("fallback_disconnected");
            return None;
        }
        // The whole call under the timeout: while the client's own queue is full (a link
        // that just went down), sending the request waits too.
        let request = self.client.request(subject_of(push_url), message);
        let answered = match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Ok(answered) => answered,
            Err(_) => {
                metrics::node_link_call("failed");
                return Some(Err(PushError::Unreachable {
                    url: push_url.to_owned(),
                    message: format!("over NATS: no answer within {REQUEST_TIMEOUT:?}"),
                }));
            }
        };
        match answered {
            Ok(answer) => Some(match codec::read_answer(&answer.payload) {
                Ok(answer) => {
                    metrics::node_link_call("ok");
                    Ok(answer)
                }
                Err(why) => {
                    metrics::node_link_call("failed");
                    Err(PushError::BadAnswer {
                        url: push_url.to_owned(),
                        message: format!("over NATS: {why}"),
                    })
                }
            }),
            Err(err) if err.kind() == RequestErrorKind::NoResponders => {
                metrics::node_link_call("fallback_no_responders");
                None
            }
            Err(err) if err.kind() == RequestErrorKind::MaxPayloadExceeded => {
                metrics::node_link_call("fallback_too_large");
                None
            }
            Err(err) => {
                metrics::node_link_call("failed");
                tracing::warn!(node = push_url, %err, "node link call failed");
                Some(Err(PushError::Unreachable {
                    url: push_url.to_owned(),
                    message: format!("over NATS: {err}"),
                }))
            }
        }
    }
}

#[async_trait]
impl Pusher for NatsLink {
    async fn batch(
        &self,
        push_url: &str,
        ids: &[String],
        payload: &Payload,
    ) -> Result<BatchOutcome, PushError> {
        let frame = Outbound::from(payload.clone());
        let max_payload = self.client.max_payload();
        // A frame NATS cannot carry with even one id: the whole batch in one HTTP call.
        if codec::BATCH_HEADER + frame.len() + 1 + MAX_ID_LEN > max_payload {
            metrics::node_link_call("fallback_too_large");
            return self.fallback.batch(push_url, ids, payload).await;
        }
        let mut outcome = BatchOutcome::default();
        // No connection has an id the codec cannot carry: such a recipient is gone.
        let (ids, impossible): (Vec<&String>, Vec<&String>) = ids
            .iter()
            .partition(|id| !id.is_empty() && id.len() <= MAX_ID_LEN);
        for id in impossible {
            outcome.record(id, Delivery::Gone);
        }
        // As many ids per message as NATS takes: one message per node for any room a
        // broadcast meets in practice (a megabyte of ids).
        for chunk in chunks(&ids, frame.len(), max_payload) {
            let message = codec::batch(&chunk, &frame);
            let answer = match self.request(push_url, message).await {
                Some(answer) => answer?,
                None => {
                    let chunk: Vec<String> = chunk.iter().map(|id| (*id).to_owned()).collect();
                    let over_http = self.fallback.batch(push_url, &chunk, payload).await?;
                    outcome.sent += over_http.sent;
                    outcome.undelivered.extend(over_http.undelivered);
                    continue;
                }
            };
            match answer {
                Answer::Batch(part) => {
                    outcome.sent += part.sent;
                    outcome.undelivered.extend(part.undelivered);
                }
                Answer::Refused(why) => return Err(refusal(push_url, &why)),
                Answer::Closed(_) | Answer::Group { .. } => return Err(mismatch(push_url)),
            }
        }
        Ok(outcome)
    }

    async fn close(&self, push_url: &str, id: &str) -> Result<bool, PushError> {
        match self.request(push_url, codec::close(id)).await {
            Some(Ok(Answer::Closed(held))) => Ok(held),
            Some(Ok(Answer::Refused(why))) => Err(refusal(push_url, &why)),
            Some(Ok(Answer::Batch(_) | Answer::Group { .. })) => Err(mismatch(push_url)),
            Some(Err(err)) => Err(err),
            None => self.fallback.close(push_url, id).await,
        }
    }

    async fn publish_sent(
        &self,
        group: &str,
        except: Option<&str>,
        payload: &Payload,
        expected: u64,
    ) -> Result<Publishing, PushError> {
        if !self.groups {
            return Err(PushError::NoGroups);
        }
        if self.client.connection_state() != State::Connected {
            metrics::node_link_connected(false);
            metrics::node_link_call("fallback_disconnected");
            return Err(PushError::NoGroups);
        }
        let frame = Outbound::from(payload.clone());
        let too_long = group.is_empty()
            || group.len() > MAX_GROUP_LEN
            || except.is_some_and(|id| id.is_empty() || id.len() > MAX_ID_LEN);
        let size = codec::group_header_len(group, except) + frame.len();
        if too_long || size > self.client.max_payload() {
            metrics::node_link_call("fallback_too_large");
            return Err(PushError::NoGroups);
        }
        let failed = |err: String| {
            metrics::node_link_call("failed");
            PushError::Unreachable {
                url: format!("{} (group {group})", self.url),
                message: err,
            }
        };
        // The answers' inbox is subscribed before the broadcast goes (one connection keeps
        // its order), and let go when the answers are read. The whole broadcast, sending
        // included (the client's queue may be full as a link goes down), is bounded by the
        // wait.
        let deadline = tokio::time::Instant::now() + GROUP_WAIT;
        let late = || failed(format!("not sent within {GROUP_WAIT:?}"));
        let inbox = self.client.new_inbox();
        let answers = tokio::time::timeout_at(deadline, self.client.subscribe(inbox.clone()))
            .await
            .map_err(|_| late())?
            .map_err(|err| failed(err.to_string()))?;
        let message = codec::group(group, except, &frame);
        // Sent once it is in the client's queue, behind every message sent before it.
        let sent = self
            .client
            .publish_with_reply(group_subject(group), inbox, message);
        tokio::time::timeout_at(deadline, sent)
            .await
            .map_err(|_| late())?
            .map_err(|err| failed(err.to_string()))?;
        let group = group.to_owned();
        Ok(Publishing::coming(read_answers(
            answers, group, expected, deadline,
        )))
    }
}

/// What the nodes that answered group broadcast `group` reached, read from `answers`
/// until `expected` members were reached, NATS says no node serves the subject, or
/// `deadline` passes.
async fn read_answers(
    mut answers: Subscriber,
    group: String,
    expected: u64,
    deadline: tokio::time::Instant,
) -> Published {
    let mut published = Published::default();
    let mut read = 0;
    while published.reached < expected && read < MAX_GROUP_ANSWERS {
        let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await else {
            break;
        };
        read += 1;
        // NATS's own answer when no other node serves the subject (every member was
        // here, or none is on a node of the link): no one else will answer.
        if answer.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            break;
        }
        match codec::read_answer(&answer.payload) {
            Ok(Answer::Group { reached, node }) => {
                published.reached += reached;
                published.nodes.push(node);
            }
            other => {
                tracing::debug!(group, answer = ?other, "node link: a group answer that is not one")
            }
        }
    }
    metrics::node_link_call(if published.reached >= expected {
        "group"
    } else {
        "group_short"
    });
    published
}

/// `ids` in runs whose batch message, with a frame of `frame_len` bytes, fits in
/// `max_payload` (one id per run at least: NATS refuses an oversized one, and the call goes
/// over HTTP).
fn chunks<'a>(ids: &[&'a String], frame_len: usize, max_payload: usize) -> Vec<Vec<&'a str>> {
    let room = max_payload.saturating_sub(codec::BATCH_HEADER + frame_len);
    let mut runs = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let mut size = 0;
    for id in ids {
        let id_size = codec::id_size(id);
        if !run.is_empty() && (size + id_size > room || run.len() == MAX_BATCH_IDS) {
            runs.push(std::mem::take(&mut run));
            size = 0;
        }
        run.push(id.as_str());
        size += id_size;
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn refusal(push_url: &str, why: &str) -> PushError {
    PushError::BadAnswer {
        url: push_url.to_owned(),
        message: format!("refused over NATS: {why}"),
    }
}

fn mismatch(push_url: &str) -> PushError {
    PushError::BadAnswer {
        url: push_url.to_owned(),
        message: "over NATS: an answer to another kind of request".to_owned(),
    }
}

/// What a node serves other nodes' requests from.
struct Served {
    /// Its connections.
    hub: Arc<Hub>,
    /// Its frame limit.
    max_frame: usize,
    /// Its push URL, as group answers name it.
    push_url: String,
}

/// Serves the requests of one subscription (this node's subject, or one group's) one at a
/// time (each is a few microseconds of queueing frames), until the subscription ends.
async fn serve(client: Client, mut inbox: Subscriber, node: Arc<Served>) {
    while let Some(message) = inbox.next().await {
        // A request always names where its answer goes; anything else is not a request,
        // and is not acted on.
        let Some(reply) = message.reply else {
            metrics::node_link_served("refused");
            continue;
        };
        let Some(answer) = answer(&node, &message.payload) else {
            continue;
        };
        // Bounded as a request is: a link going down cannot hold this loop.
        match tokio::time::timeout(REQUEST_TIMEOUT, client.publish(reply, answer)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "node link: an answer could not be sent"),
            Err(_) => tracing::warn!("node link: an answer could not be sent in time"),
        }
    }
}

/// Keeps this node subscribed to the subjects of the groups it holds members of, and of no
/// other: one subscription (and one task serving it) a group, taken when the hub says a
/// group opened, let go when it closed, and compared with the whole set at least every
/// [`GROUP_RESYNC`] (a subscription that failed, or whose task ended, is taken again then).
/// NATS keeps the subscriptions across a reconnection.
async fn follow_groups(client: Client, node: Arc<Served>) {
    let changed = node.hub.watch_groups();
    let mut subscribed: HashMap<Arc<str>, AbortHandle> = HashMap::new();
    // Dropped with this task, and every group's task with it.
    let mut serving = JoinSet::new();
    let mut missed = false;
    let mut last_full = tokio::time::Instant::now();
    loop {
        if !std::mem::take(&mut missed) {
            let _ = tokio::time::timeout_at(last_full + GROUP_RESYNC, changed.notified()).await;
        }
        let full = tokio::time::Instant::now() >= last_full + GROUP_RESYNC;
        let changes = if full {
            last_full = tokio::time::Instant::now();
            GroupChanges::All(node.hub.group_names())
        } else {
            node.hub.group_changes()
        };
        while serving.try_join_next().is_some() {}
        // A group whose subscription ended by itself is subscribed again by a full look.
        subscribed.retain(|_, task| !task.is_finished());
        let changes = match changes {
            GroupChanges::Some(changes) => changes,
            GroupChanges::All(held) => {
                let held: HashSet<Arc<str>> = held.into_iter().collect();
                let gone = subscribed
                    .keys()
                    .filter(|name| !held.contains(*name))
                    .cloned();
                let gone: Vec<(Arc<str>, bool)> = gone.map(|name| (name, false)).collect();
                gone.into_iter()
                    .chain(held.into_iter().map(|name| (name, true)))
                    .collect()
            }
        };
        for (name, held) in changes {
            if !held {
                if let Some(task) = subscribed.remove(&name) {
                    // Its subscriber is dropped with it, which unsubscribes.
                    task.abort();
                }
                continue;
            }
            if subscribed.contains_key(&name) {
                continue;
            }
            let subject = group_subject(&name);
            match tokio::time::timeout(REQUEST_TIMEOUT, client.subscribe(subject)).await {
                Ok(Ok(inbox)) => {
                    let task = serving.spawn(serve(client.clone(), inbox, node.clone()));
                    subscribed.insert(name, task);
                }
                failed => {
                    let why = match failed {
                        Ok(Err(err)) => err.to_string(),
                        _ => format!("no answer within {REQUEST_TIMEOUT:?}"),
                    };
                    tracing::warn!(group = %name, %why, "node link: a group's subject could not be subscribed; tried again within {GROUP_RESYNC:?}");
                    // The rest would wait as long: the full look after the pause does them.
                    missed = true;
                    break;
                }
            }
        }
        metrics::node_link_groups(subscribed.len());
        if missed {
            // Not at once: whatever failed would fail again.
            tokio::time::sleep(GROUP_RESYNC).await;
        }
    }
}

/// What this node does with `message` from another, and its answer (none to a group
/// broadcast that reached no member here).
fn answer(node: &Served, message: &bytes::Bytes) -> Option<bytes::Bytes> {
    let (hub, max_frame) = (&node.hub, node.max_frame);
    Some(match codec::read_request(message) {
        Err(why) => {
            metrics::node_link_served("refused");
            codec::refused(why.0)
        }
        Ok(Request::Batch { frame, .. }) if frame.len() > max_frame => {
            metrics::node_link_served("refused");
            codec::refused("the frame is over this node's limit")
        }
        Ok(Request::Batch { ids, frame }) => {
            // As the push API: a repeated id gets one frame (the codec capped the count).
            let Ok(ids) = distinct_capped(ids.iter().map(String::as_str), MAX_BATCH_IDS) else {
                metrics::node_link_served("refused");
                return Some(codec::refused("too many ids"));
            };
            let mut outcome = BatchOutcome::default();
            hub.send_many(ids, &frame, &mut outcome);
            metrics::node_link_served("batch");
            codec::batch_answer(&outcome)
        }
        Ok(Request::Close { id }) => {
            metrics::node_link_served("close");
            codec::close_answer(hub.kick(&id, Kick::by_function()))
        }
        Ok(Request::Group { frame, .. }) if frame.len() > max_frame => {
            metrics::node_link_served("refused");
            codec::refused("the frame is over this node's limit")
        }
        Ok(Request::Group {
            group,
            except,
            frame,
        }) => {
            metrics::node_link_served("group");
            let reached = hub.publish(&group, except.as_deref(), &frame);
            if reached == 0 {
                return None;
            }
            codec::group_answer(reached, &node.push_url)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_token_per_node_whatever_the_url_holds() {
        let subject = subject_of("http://10.0.0.2:8081/");
        assert_eq!(subject, subject_of("http://10.0.0.2:8081"));
        let token = subject.strip_prefix(SUBJECT_PREFIX).unwrap();
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        assert_ne!(subject, subject_of("http://10.0.0.2:8082"));
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redacted("nats://user:secret@127.0.0.1:4222"),
            "nats://***@127.0.0.1:4222"
        );
        assert_eq!(redacted("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }

    #[test]
    fn batches_are_cut_to_what_nats_takes() {
        let owned: Vec<String> = (0..10).map(|i| format!("id{i}")).collect();
        let ids: Vec<&String> = owned.iter().collect();
        // Each id takes 4 bytes; 6 of header, 10 of frame: 24 bytes leave room for two.
        let runs = chunks(&ids, 10, 6 + 10 + 8);
        assert_eq!(runs.len(), 5);
        assert!(runs.iter().all(|run| run.len() == 2));
        assert_eq!(chunks(&ids, 10, 1 << 20).len(), 1);
        // Not even one fits: one per message (NATS refuses them, HTTP carries them).
        assert_eq!(chunks(&ids, 100, 50).len(), 10);
        assert!(chunks(&[], 10, 100).is_empty());
    }
}
