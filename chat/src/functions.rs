//! [`ChatFunctions`]: register, transport, cleanup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, ErrorKind, Metadata, Registration, RoomName,
    StoreError, system_clock, walk_room,
};

use crate::event::{Action, LifecycleEvent, Payload};
use crate::names::anonymous_name;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::push::{BatchRequest, Delivery, Pusher};

/// Longest chat line, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Gateway nodes a broadcast pushes to at once.
const FANOUT_CONCURRENCY: usize = 8;
/// Room members fetched per list call.
const PAGE: usize = 1_000;

/// What a function answers the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP-like status: 2xx accepts (a register), 410 means the lease is gone (the
    /// gateway closes the connection), 4xx otherwise reports a bad message.
    pub status: u16,
    /// A text frame for the calling connection only (welcome, error), if any.
    pub body: Option<String>,
}

impl Reply {
    fn ok(body: Option<String>) -> Self {
        Reply { status: 200, body }
    }
}

/// Why a function failed as a whole (the gateway refuses or reports it).
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// The event itself was unusable (bad id or room).
    #[error("bad event: {0}")]
    BadEvent(String),
    /// The connection store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The chat room's three functions over one store.
#[derive(Debug, Clone)]
pub struct ChatFunctions {
    /// Live connections, by room, with leases.
    store: Arc<dyn ConnectionStore>,
    /// Reaches connections through their gateway node.
    pusher: Arc<dyn Pusher>,
    /// Lease granted on register and each heartbeat.
    lease: Duration,
}

impl ChatFunctions {
    /// Functions over `store`, pushing with `pusher`, granting `lease` (60 s is the default
    /// the gateway uses; clients heartbeat every 15 s).
    pub fn new(store: Arc<dyn ConnectionStore>, pusher: Arc<dyn Pusher>, lease: Duration) -> Self {
        ChatFunctions {
            store,
            pusher,
            lease,
        }
    }

    /// The store (tests and the gateway's housekeeping use it).
    pub fn store(&self) -> &Arc<dyn ConnectionStore> {
        &self.store
    }

    /// Dispatches one event to its function.
    pub async fn handle(&self, event: &LifecycleEvent) -> Result<Reply, FunctionError> {
        let id = ConnectionId::new(event.connection_id.as_str())
            .map_err(|e| FunctionError::BadEvent(e.to_string()))?;
        let room = RoomName::new(event.room.as_str())
            .map_err(|e| FunctionError::BadEvent(e.to_string()))?;
        match event.action {
            Action::Connecting => self.register(&id, &room, event).await,
            Action::Message => self.transport(&id, &room, event.payload.as_ref()).await,
            Action::Closing => self.cleanup(&id, &room).await,
        }
    }

    /// register: record the connection with a lease, welcome it, tell the room.
    async fn register(
        &self,
        id: &ConnectionId,
        room: &RoomName,
        event: &LifecycleEvent,
    ) -> Result<Reply, FunctionError> {
        let mut metadata =
            Metadata::new().with("connected_at", event.connected_at_ms.to_string())?;
        if let Some(ip) = &event.source_ip {
            metadata = metadata.with("source_ip", ip.as_str())?;
        }
        let registration = Registration {
            room: room.clone(),
            endpoint: Endpoint::new(event.push_url.as_str())
                .map_err(|e| FunctionError::BadEvent(e.to_string()))?,
            metadata,
            ttl: self.lease,
        };
        self.store.register(id, &registration).await?;
        let name = anonymous_name(id.as_str());
        let online = self
            .broadcast(room, Some(id), |online| ServerMessage::Join {
                name: name.clone(),
                online,
            })
            .await?;
        Ok(Reply::ok(Some(
            ServerMessage::Welcome { name, online }.to_json(),
        )))
    }

    /// transport: heartbeats renew the lease; chat lines go to everyone else in the room.
    async fn transport(
        &self,
        id: &ConnectionId,
        room: &RoomName,
        payload: Option<&Payload>,
    ) -> Result<Reply, FunctionError> {
        let refuse = |message: &str| Reply {
            status: 400,
            body: Some(
                ServerMessage::Error {
                    message: message.to_owned(),
                }
                .to_json(),
            ),
        };
        let text = match payload {
            Some(Payload::Text(text)) => text,
            Some(Payload::Binary(_)) => return Ok(refuse("binary frames are not supported")),
            None => return Ok(refuse("empty message")),
        };
        let message: ClientMessage = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(_) => {
                return Ok(refuse(
                    r#"expected {"type":"chat","text":"…"} or {"type":"heartbeat"}"#,
                ));
            }
        };
        match message {
            ClientMessage::Heartbeat => match self.store.renew(id, self.lease).await {
                Ok(_) => Ok(Reply::ok(None)),
                // The lease ran out (or the record was cleaned): this connection is no
                // longer online; the gateway closes it and the client reconnects.
                Err(err) if err.kind() == ErrorKind::NotFound => Ok(Reply {
                    status: 410,
                    body: None,
                }),
                Err(err) => Err(err.into()),
            },
            ClientMessage::Chat { text } => {
                let text = text.trim();
                if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                    return Ok(refuse(&format!(
                        "a chat line has 1..={MAX_TEXT_CHARS} characters"
                    )));
                }
                let from = anonymous_name(id.as_str());
                let at = store_core::Clock::now_ms(system_clock().as_ref());
                self.broadcast(room, Some(id), |online| ServerMessage::Chat {
                    from: from.clone(),
                    text: text.to_owned(),
                    at,
                    online,
                })
                .await?;
                Ok(Reply::ok(None))
            }
        }
    }

    /// cleanup: forget the connection and tell the room.
    async fn cleanup(&self, id: &ConnectionId, room: &RoomName) -> Result<Reply, FunctionError> {
        if self.store.remove(id).await? {
            let name = anonymous_name(id.as_str());
            self.broadcast(room, None, |online| ServerMessage::Leave {
                name: name.clone(),
                online,
            })
            .await?;
        }
        Ok(Reply::ok(None))
    }

    /// Sends `message(online)` to every live member of `room` but `except`: one walk of the
    /// room (which also gives the online count), grouped by gateway node, one batch call
    /// per node, a few nodes at a time. Recipients a node calls gone are removed on the
    /// spot. Returns the online count.
    async fn broadcast(
        &self,
        room: &RoomName,
        except: Option<&ConnectionId>,
        message: impl Fn(u64) -> ServerMessage,
    ) -> Result<u64, StoreError> {
        let mut by_node: HashMap<Endpoint, Vec<String>> = HashMap::new();
        let mut online = 0u64;
        let mut members = std::pin::pin!(walk_room(self.store.as_ref(), room, PAGE));
        while let Some(member) = members.next().await {
            let member = member?;
            online += 1;
            if Some(&member.id) != except {
                by_node
                    .entry(member.endpoint)
                    .or_default()
                    .push(member.id.as_str().to_owned());
            }
        }
        let data = message(online).to_json();
        let gone: Vec<String> = stream::iter(by_node)
            .map(|(node, ids)| {
                let request = BatchRequest {
                    ids,
                    data: data.clone(),
                    data_type: "text".into(),
                };
                async move {
                    match self.pusher.batch(node.as_str(), &request).await {
                        Ok(result) => result
                            .results
                            .into_iter()
                            .filter(|(_, d)| *d != Delivery::Sent)
                            .map(|(id, _)| id)
                            .collect(),
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
            if let Ok(id) = ConnectionId::new(id) {
                self.store.remove(&id).await?;
                online = online.saturating_sub(1);
            }
        }
        Ok(online)
    }
}
