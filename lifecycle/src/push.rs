//! Pushing data down to connections through a gateway node's push-back API: the node's
//! own batch call (`POST {push_url}/batch`, one payload to many of its connections) and the
//! AWS-style close (`DELETE {push_url}/@connections/{id}`). A pusher that can also keeps
//! groups: a node-local set of its connections per name (a room's members there), joined
//! once and broadcast to with one call and no ids ([`Pusher::join`], [`Pusher::publish`]).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Payload;
use crate::breaker::Breakers;

/// One payload to many connections of one node (`POST {push_url}/batch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// Recipients.
    pub ids: Vec<String>,
    /// The payload (base64 when `data_type` is `binary`).
    pub data: String,
    /// `text` (default) or `binary`.
    #[serde(default = "text_type", rename = "dataType")]
    pub data_type: String,
}

fn text_type() -> String {
    "text".to_owned()
}

impl BatchRequest {
    /// The wire form of `payload` to `ids`: text as it is, binary as base64.
    pub fn new(ids: &[String], payload: &Payload) -> Self {
        let (data, data_type) = match payload {
            Payload::Text(text) => (text.clone(), "text"),
            Payload::Binary(bytes) => (STANDARD.encode(bytes), "binary"),
        };
        BatchRequest {
            ids: ids.to_vec(),
            data,
            data_type: data_type.to_owned(),
        }
    }
}

/// Why a push did not happen (or its outcome is unknown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The node failed lately and is skipped for a while ([`Breakers`]).
    #[error("{node} skipped: it could not be reached lately (tried again in {retry_in_ms} ms)")]
    Skipped {
        /// The node's push URL.
        node: String,
        /// When it is tried again.
        retry_in_ms: u64,
    },
    /// The call did not get an answer (no connection, a timeout, a reset).
    #[error("push via {url}: {message}")]
    Unreachable {
        /// What was called.
        url: String,
        /// What failed.
        message: String,
    },
    /// The node answered with an error status.
    #[error("push via {url}: HTTP {status}")]
    Refused {
        /// What was called.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The node's answer could not be read.
    #[error("push via {url}: bad answer: {message}")]
    BadAnswer {
        /// What was called.
        url: String,
        /// What was wrong with it.
        message: String,
    },
    /// The payload is over the node's frame limit.
    #[error("the payload is over the frame limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The push URL is not one.
    #[error("`{url}` is not a push URL")]
    BadUrl {
        /// As given.
        url: String,
    },
    /// This pusher has no groups (the HTTP push-back API has none): nothing was done, and
    /// the caller reaches the members another way (a batch per node).
    #[error("this pusher has no groups")]
    NoGroups,
    /// The node would not put the connection in the group, with why (its name is empty
    /// or too long, or the connection is in as many groups as it may be).
    #[error("join refused: {reason}")]
    JoinRefused {
        /// Why.
        reason: String,
    },
}

/// What a group broadcast did ([`Pusher::publish`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// Members it was offered to, on every node that answered.
    pub reached: u64,
    /// The push URLs of the nodes that said they reached members (this one included when
    /// it did), within the broadcast's wait.
    pub nodes: Vec<String>,
}

/// A group broadcast that has been sent ([`Pusher::publish_sent`]): what it reached is
/// known at once, or when the other nodes' answers are in. Sent means in order: a group
/// broadcast sent after it through the same pusher reaches each member after it. A batch
/// by ids may not (it takes another way to the node): a caller that mixes the two reads
/// the answers of its broadcasts before it sends by ids.
#[must_use = "its answers say whom the broadcast missed"]
pub struct Publishing(Answers);

/// Where a [`Publishing`]'s answers are.
enum Answers {
    /// All in already.
    In(Published),
    /// To come, within the pusher's bounded wait.
    Coming(Pin<Box<dyn Future<Output = Published> + Send + 'static>>),
}

impl Publishing {
    /// A broadcast whose answers are all in (one that reached every member here, or a
    /// pusher that sends and waits in one step).
    pub fn answered(published: Published) -> Self {
        Publishing(Answers::In(published))
    }

    /// A broadcast whose answers `answers` collects; it must end within a bounded wait.
    pub fn coming(answers: impl Future<Output = Published> + Send + 'static) -> Self {
        Publishing(Answers::Coming(Box::pin(answers)))
    }

    /// What it reached, when the answers are all in already (nothing left to wait for).
    pub fn now(&self) -> Option<&Published> {
        match &self.0 {
            Answers::In(published) => Some(published),
            Answers::Coming(_) => None,
        }
    }

    /// What it reached, once the answers are in.
    pub async fn answers(self) -> Published {
        match self.0 {
            Answers::In(published) => published,
            Answers::Coming(answers) => answers.await,
        }
    }

    /// The same broadcast with `more` (what was reached elsewhere, at once) added to what
    /// its answers say.
    pub fn plus(self, more: Published) -> Self {
        match self.0 {
            Answers::In(published) => Publishing::answered(more.plus(published)),
            Answers::Coming(answers) => Publishing::coming(async move { more.plus(answers.await) }),
        }
    }
}

impl Debug for Publishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Answers::In(published) => f.debug_tuple("Publishing").field(published).finish(),
            Answers::Coming(_) => f.write_str("Publishing(answers coming)"),
        }
    }
}

impl Published {
    /// Both broadcasts' reach together (`self`'s nodes first).
    pub fn plus(mut self, other: Published) -> Published {
        self.reached += other.reached;
        self.nodes.extend(other.nodes);
        self
    }
}

/// What happened to each recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Queued for the socket.
    Sent,
    /// No such connection on this node (410 for a single push).
    Gone,
    /// The connection's outbound queue was full: it was closed as too slow.
    Overflow,
}

/// The batch answer: how many recipients the frame was queued for, and the others, each
/// with why (a broadcast to thousands answers a count, not thousands of names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// Recipients whose frame was queued.
    pub sent: usize,
    /// The others, by connection id: `gone` or `overflow`.
    pub undelivered: BTreeMap<String, Delivery>,
}

impl From<BatchOutcome> for BatchResult {
    fn from(outcome: BatchOutcome) -> Self {
        BatchResult {
            sent: outcome.sent,
            undelivered: outcome.undelivered.into_iter().collect(),
        }
    }
}

/// What a batch did, as a caller acts on it: how many were queued, and the recipients
/// that were not (most batches have none, so the common case allocates nothing per id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Recipients whose frame was queued.
    pub sent: usize,
    /// The others, each with why.
    pub undelivered: Vec<(String, Delivery)>,
}

impl BatchOutcome {
    /// Counts `delivery` for `id` (kept only when it was not sent).
    pub fn record(&mut self, id: &str, delivery: Delivery) {
        match delivery {
            Delivery::Sent => self.sent += 1,
            other => self.undelivered.push((id.to_owned(), other)),
        }
    }
}

impl From<BatchResult> for BatchOutcome {
    fn from(result: BatchResult) -> Self {
        BatchOutcome {
            sent: result.sent,
            undelivered: result.undelivered.into_iter().collect(),
        }
    }
}

/// Reaches connections through the gateway node that holds them.
#[async_trait]
pub trait Pusher: Debug + Send + Sync + 'static {
    /// Delivers `payload` to each of `ids` through the node at `push_url`; the outcome
    /// names the recipients it did not reach.
    async fn batch(
        &self,
        push_url: &str,
        ids: &[String],
        payload: &Payload,
    ) -> Result<BatchOutcome, PushError>;

    /// Closes connection `id` held by the node at `push_url`; `Ok(false)` when the node no
    /// longer holds it.
    async fn close(&self, push_url: &str, id: &str) -> Result<bool, PushError>;

    /// Puts connection `id`, held by the node at `push_url`, in group `group` for `lease`
    /// (joining again renews it; the membership ends sooner if the connection closes), as
    /// a store record is leased: a caller joins with the lease it registers the record
    /// with, and joins again when it renews it, so a group never counts a member whose
    /// record has ended. `Ok(false)` when the node does not hold the connection.
    /// [`PushError::NoGroups`] from a pusher without groups.
    async fn join(
        &self,
        push_url: &str,
        group: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, PushError> {
        let _ = (push_url, group, id, lease);
        Err(PushError::NoGroups)
    }

    /// Offers `payload` to every member of `group` but `except`, on every node this pusher
    /// reaches with one call, and waits (a bounded while) for their answers until
    /// `expected` members were reached. What it reached is in [`Published`]: members on a
    /// node it does not name were not reached as far as it knows (a node whose answer
    /// came after the wait did reach its own), and the caller reaches them another way.
    /// [`PushError::NoGroups`], having done nothing, from a pusher without groups. It is
    /// [`Pusher::publish_sent`] and its answers, in one step.
    async fn publish(
        &self,
        group: &str,
        except: Option<&str>,
        payload: &Payload,
        expected: u64,
    ) -> Result<Published, PushError> {
        let sent = self.publish_sent(group, except, payload, expected).await?;
        Ok(sent.answers().await)
    }

    /// [`Pusher::publish`] in two steps, the one a pusher with groups implements: returns
    /// once the broadcast is sent, in order with this pusher's later group broadcasts, and
    /// the answers come with [`Publishing::answers`]. A caller that sends in order (a
    /// sender's chat lines) need not wait for one line's answers before it sends the next.
    /// [`PushError::NoGroups`], having done nothing, from a pusher without groups.
    async fn publish_sent(
        &self,
        group: &str,
        except: Option<&str>,
        payload: &Payload,
        expected: u64,
    ) -> Result<Publishing, PushError> {
        let _ = (group, except, payload, expected);
        Err(PushError::NoGroups)
    }
}

/// The HTTP pusher (reqwest), with a bearer token when the push API needs one. A node it
/// could not reach is skipped for a while ([`Breakers`]): a broadcast does not wait for a
/// dead or hung node's timeout on every message until its connections' leases end.
#[derive(Clone)]
pub struct HttpPusher {
    /// Pooled client with a request timeout.
    client: reqwest::Client,
    /// Bearer token for the push API — never printed.
    token: Option<String>,
    /// Nodes that failed recently, shared by the clones.
    breakers: Arc<Breakers>,
}

impl Debug for HttpPusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPusher")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl HttpPusher {
    /// A pusher with a 5 s timeout per call; `Err` when no HTTP client can be made (no
    /// TLS roots).
    pub fn new(token: Option<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(HttpPusher {
            client,
            token,
            breakers: Arc::default(),
        })
    }

    /// Sends `call` to the node at `push_url`, unless its breaker is open; a node that
    /// cannot be reached (no connection, no answer in time) opens it.
    async fn send(
        &self,
        push_url: &str,
        url: &str,
        call: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PushError> {
        if let Err(left) = self.breakers.admit(push_url, Instant::now()) {
            return Err(PushError::Skipped {
                node: push_url.to_owned(),
                retry_in_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            });
        }
        let watch = self.breakers.watch(push_url);
        let sent = self.authorized(call).send().await;
        watch.answered();
        match sent {
            Ok(response) => {
                self.breakers.succeeded(push_url);
                Ok(response)
            }
            Err(err) => {
                if err.is_connect() || err.is_timeout() {
                    let pause = self.breakers.failed(push_url, Instant::now());
                    tracing::warn!(node = push_url, %err, pause_ms = pause.as_millis() as u64, "node unreachable; skipping it for a while");
                }
                Err(PushError::Unreachable {
                    url: url.to_owned(),
                    message: err.to_string(),
                })
            }
        }
    }

    /// `call` with the bearer token, when there is one.
    fn authorized(&self, call: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => call.bearer_auth(token),
            None => call,
        }
    }
}

#[async_trait]
impl Pusher for HttpPusher {
    async fn batch(
        &self,
        push_url: &str,
        ids: &[String],
        payload: &Payload,
    ) -> Result<BatchOutcome, PushError> {
        let url = format!("{}/batch", push_url.trim_end_matches('/'));
        let request = BatchRequest::new(ids, payload);
        let response = self
            .send(push_url, &url, self.client.post(&url).json(&request))
            .await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            return Err(PushError::Refused { url, status });
        }
        let result: BatchResult = response.json().await.map_err(|e| PushError::BadAnswer {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(result.into())
    }

    async fn close(&self, push_url: &str, id: &str) -> Result<bool, PushError> {
        let bad_url = || PushError::BadUrl {
            url: push_url.to_owned(),
        };
        let mut url = reqwest::Url::parse(push_url).map_err(|_| bad_url())?;
        url.path_segments_mut()
            .map_err(|()| bad_url())?
            .pop_if_empty()
            .extend(["@connections", id]);
        let shown = url.to_string();
        let response = self.send(push_url, &shown, self.client.delete(url)).await?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            410 => Ok(false),
            status => Err(PushError::Refused { url: shown, status }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(reached: u64, node: &str) -> Published {
        Published {
            reached,
            nodes: vec![node.to_owned()],
        }
    }

    #[test]
    fn a_broadcast_answered_at_once_adds_what_was_reached_here_first() {
        let there = Publishing::answered(reach(2, "b"));
        let all = there.plus(reach(1, "a"));
        assert_eq!(
            all.now(),
            Some(&Published {
                reached: 3,
                nodes: vec!["a".to_owned(), "b".to_owned()],
            })
        );
        let coming = Publishing::coming(async { reach(2, "b") }).plus(reach(1, "a"));
        assert!(coming.now().is_none(), "its answers are still to come");
    }
}
