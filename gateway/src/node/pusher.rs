//! [`NodePusher`]: how an app linked into a node pushes. A batch addressed to this node's
//! own push URL goes straight to its hub — no HTTP round trip, no JSON of thousands of ids,
//! one shared payload for every recipient; batches for other nodes go through their
//! push-back API as before. Groups are this node's hub's: a join is made where the
//! connection is held, and a group broadcast reaches this node's members from the hub and
//! other nodes' through the link, when it has groups (NATS's group subjects).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lifecycle::{BatchOutcome, Payload, Published, Publishing, PushError, Pusher};

use crate::hub::{Hub, Joined, Kick, MAX_GROUP_LEN, MAX_GROUPS_PER_CONNECTION, Outbound};

/// The push client of an app linked into a node.
pub struct NodePusher {
    /// The node's connections, reached directly.
    hub: Arc<Hub>,
    /// The push URL this node advertises: records made through it carry this endpoint, so
    /// an equal URL means "here".
    own_url: String,
    /// Largest frame the node's push API accepts: both paths refuse the same frames.
    max_frame: usize,
    /// Other nodes, over their push-back API.
    remote: Arc<dyn Pusher>,
}

impl fmt::Debug for NodePusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodePusher")
            .field("own_url", &self.own_url)
            .field("max_frame", &self.max_frame)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl NodePusher {
    /// Pushes to `hub` for `own_url` (the node's advertised push URL), with frames up to
    /// `max_frame` bytes, and through `remote` for every other node.
    pub fn new(
        hub: Arc<Hub>,
        own_url: impl Into<String>,
        max_frame: usize,
        remote: Arc<dyn Pusher>,
    ) -> Self {
        NodePusher {
            hub,
            own_url: own_url.into(),
            max_frame,
            remote,
        }
    }

    fn is_here(&self, push_url: &str) -> bool {
        push_url.trim_end_matches('/') == self.own_url.trim_end_matches('/')
    }
}

#[async_trait]
impl Pusher for NodePusher {
    async fn batch(
        &self,
        push_url: &str,
        ids: &[String],
        payload: &Payload,
    ) -> Result<BatchOutcome, PushError> {
        if !self.is_here(push_url) {
            return self.remote.batch(push_url, ids, payload).await;
        }
        if payload.len() > self.max_frame {
            return Err(PushError::TooLarge {
                limit: self.max_frame,
            });
        }
        let frame = Outbound::from(payload.clone());
        let mut outcome = BatchOutcome::default();
        self.hub
            .send_many(ids.iter().map(String::as_str), &frame, &mut outcome);
        Ok(outcome)
    }

    async fn close(&self, push_url: &str, id: &str) -> Result<bool, PushError> {
        if !self.is_here(push_url) {
            return self.remote.close(push_url, id).await;
        }
        Ok(self.hub.kick(id, Kick::by_function()))
    }

    async fn join(
        &self,
        push_url: &str,
        group: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, PushError> {
        if !self.is_here(push_url) {
            return self.remote.join(push_url, group, id, lease).await;
        }
        match self.hub.join(group, id, lease) {
            Joined::Yes => Ok(true),
            Joined::NotHeld => Ok(false),
            Joined::TooMany => Err(PushError::JoinRefused {
                reason: format!("a connection is in {MAX_GROUPS_PER_CONNECTION} groups at most"),
            }),
            Joined::BadName => Err(PushError::JoinRefused {
                reason: format!("a group's name has 1..={MAX_GROUP_LEN} bytes"),
            }),
        }
    }

    async fn publish_sent(
        &self,
        group: &str,
        except: Option<&str>,
        payload: &Payload,
        expected: u64,
    ) -> Result<Publishing, PushError> {
        if payload.len() > self.max_frame {
            return Err(PushError::TooLarge {
                limit: self.max_frame,
            });
        }
        let reached = self
            .hub
            .publish(group, except, &Outbound::from(payload.clone()));
        let mut here = Published {
            reached,
            nodes: Vec::new(),
        };
        if reached > 0 {
            here.nodes.push(self.own_url.clone());
        }
        if reached >= expected {
            return Ok(Publishing::answered(here));
        }
        // The rest are on other nodes: through the link when it has groups. When it has
        // none, or failed, the caller reaches the others another way: this node's members
        // are not offered the frame twice.
        match self
            .remote
            .publish_sent(group, except, payload, expected - reached)
            .await
        {
            Ok(there) => Ok(there.plus(here)),
            Err(PushError::NoGroups) => Ok(Publishing::answered(here)),
            Err(err) => {
                tracing::warn!(%err, group, "group broadcast to other nodes failed");
                Ok(Publishing::answered(here))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lifecycle::{ConnectionInfo, Delivery};

    use super::*;

    /// Records the calls that went to other nodes.
    #[derive(Debug, Default)]
    struct Remote(Mutex<Vec<String>>);

    #[async_trait]
    impl Pusher for Remote {
        async fn batch(
            &self,
            url: &str,
            _: &[String],
            _: &Payload,
        ) -> Result<BatchOutcome, PushError> {
            self.0.lock().unwrap().push(format!("batch {url}"));
            Ok(BatchOutcome::default())
        }
        async fn close(&self, url: &str, id: &str) -> Result<bool, PushError> {
            self.0.lock().unwrap().push(format!("close {url} {id}"));
            Ok(true)
        }
        async fn publish_sent(
            &self,
            group: &str,
            _: Option<&str>,
            _: &Payload,
            expected: u64,
        ) -> Result<Publishing, PushError> {
            self.0
                .lock()
                .unwrap()
                .push(format!("publish {group} {expected}"));
            Ok(Publishing::answered(Published {
                reached: 2,
                nodes: vec!["http://10.0.0.2:8081".into()],
            }))
        }
    }

    /// A link whose group answers come when the test sends them.
    #[derive(Debug)]
    struct Later(Mutex<Option<tokio::sync::oneshot::Receiver<Published>>>);

    #[async_trait]
    impl Pusher for Later {
        async fn batch(
            &self,
            _: &str,
            _: &[String],
            _: &Payload,
        ) -> Result<BatchOutcome, PushError> {
            Ok(BatchOutcome::default())
        }
        async fn close(&self, _: &str, _: &str) -> Result<bool, PushError> {
            Ok(true)
        }
        async fn publish_sent(
            &self,
            _: &str,
            _: Option<&str>,
            _: &Payload,
            _: u64,
        ) -> Result<Publishing, PushError> {
            let answered = self.0.lock().unwrap().take().expect("one broadcast");
            Ok(Publishing::coming(async move {
                answered.await.unwrap_or_default()
            }))
        }
    }

    const LEASE: Duration = Duration::from_secs(60);

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    fn text(text: &str) -> Payload {
        Payload::Text(text.to_owned())
    }

    #[tokio::test]
    async fn a_group_broadcast_asks_other_nodes_only_for_the_members_not_here() {
        let hub = Arc::new(Hub::default());
        let held = |id: &str| {
            Arc::new(ConnectionInfo {
                id: id.into(),
                ..ConnectionInfo::default()
            })
        };
        let mut a = hub.insert(held("a"), crate::hub::QueueBound::frames(8));
        let mut b = hub.insert(held("b"), crate::hub::QueueBound::frames(8));
        let remote = Arc::new(Remote::default());
        let pusher = NodePusher::new(hub.clone(), "http://127.0.0.1:1", 16, remote.clone());
        assert!(
            pusher
                .join("http://127.0.0.1:1/", "room", "a", LEASE)
                .await
                .unwrap()
        );
        assert!(
            pusher
                .join("http://127.0.0.1:1", "room", "b", LEASE)
                .await
                .unwrap()
        );
        assert!(
            !pusher
                .join("http://127.0.0.1:1", "room", "gone", LEASE)
                .await
                .unwrap()
        );
        assert!(matches!(
            pusher.join("http://127.0.0.1:1", "", "a", LEASE).await,
            Err(PushError::JoinRefused { .. })
        ));

        // Everyone expected is here: no other node is asked.
        let here = pusher
            .publish("room", Some("a"), &text("hi"), 1)
            .await
            .unwrap();
        assert_eq!(here.reached, 1);
        assert_eq!(here.nodes, vec!["http://127.0.0.1:1".to_owned()]);
        assert!(a.try_next().is_none());
        assert_eq!(b.try_next().unwrap(), Outbound::text("hi"));
        assert!(remote.0.lock().unwrap().is_empty());

        // Three more are expected: the link is asked for them, and its answer added.
        let all = pusher.publish("room", None, &text("yo"), 5).await.unwrap();
        assert_eq!(all.reached, 4);
        assert_eq!(
            all.nodes,
            vec!["http://127.0.0.1:1", "http://10.0.0.2:8081"]
        );
        assert_eq!(*remote.0.lock().unwrap(), vec!["publish room 3"]);
        assert!(matches!(
            pusher
                .publish("room", None, &text(&"x".repeat(17)), 1)
                .await,
            Err(PushError::TooLarge { limit: 16 })
        ));
    }

    #[tokio::test]
    async fn a_group_broadcast_is_offered_here_before_the_other_nodes_answer() {
        let hub = Arc::new(Hub::default());
        let info = Arc::new(ConnectionInfo {
            id: "a".into(),
            ..ConnectionInfo::default()
        });
        let mut a = hub.insert(info, crate::hub::QueueBound::frames(8));
        let (answer, answered) = tokio::sync::oneshot::channel();
        let link = Arc::new(Later(Mutex::new(Some(answered))));
        let pusher = NodePusher::new(hub, "http://127.0.0.1:1", 16, link);
        assert!(
            pusher
                .join("http://127.0.0.1:1", "room", "a", LEASE)
                .await
                .unwrap()
        );

        let sent = pusher
            .publish_sent("room", None, &text("hi"), 3)
            .await
            .unwrap();
        assert!(sent.now().is_none(), "the other nodes' answers are to come");
        assert_eq!(a.try_next().unwrap(), Outbound::text("hi"));
        answer
            .send(Published {
                reached: 2,
                nodes: vec!["http://10.0.0.2:8081".into()],
            })
            .unwrap();
        let published = sent.answers().await;
        assert_eq!(published.reached, 3);
        assert_eq!(
            published.nodes,
            vec!["http://127.0.0.1:1", "http://10.0.0.2:8081"]
        );
    }

    #[tokio::test]
    async fn its_own_node_is_served_from_the_hub_and_others_over_the_remote() {
        let hub = Arc::new(Hub::default());
        let info = Arc::new(ConnectionInfo {
            id: "a".into(),
            ..ConnectionInfo::default()
        });
        let mut a = hub.insert(info, crate::hub::QueueBound::frames(8));
        let remote = Arc::new(Remote::default());
        let pusher = NodePusher::new(hub.clone(), "http://127.0.0.1:1/", 16, remote.clone());

        let outcome = pusher
            .batch("http://127.0.0.1:1", &ids(&["a", "b"]), &text("hi"))
            .await
            .unwrap();
        assert_eq!(outcome.sent, 1);
        assert_eq!(outcome.undelivered, vec![("b".to_owned(), Delivery::Gone)]);
        assert_eq!(a.try_next().unwrap(), Outbound::text("hi"));
        let binary = pusher
            .batch(
                "http://127.0.0.1:1",
                &ids(&["a"]),
                &Payload::Binary(vec![0, 1]),
            )
            .await
            .unwrap();
        assert_eq!(binary.sent, 1);
        assert_eq!(a.try_next().unwrap(), Outbound::binary(vec![0u8, 1]));

        // Refused as the push API refuses them.
        let big = "x".repeat(17);
        assert!(
            pusher
                .batch("http://127.0.0.1:1", &ids(&["a"]), &text(&big))
                .await
                .is_err()
        );
        assert!(a.try_next().is_none());

        pusher
            .batch("http://10.0.0.2:8081", &ids(&["z"]), &text("hi"))
            .await
            .unwrap();
        assert!(pusher.close("http://10.0.0.2:8081", "z").await.unwrap());
        assert!(pusher.close("http://127.0.0.1:1", "a").await.unwrap());
        assert!(!pusher.close("http://127.0.0.1:1", "nobody").await.unwrap());
        assert_eq!(a.kicked().unwrap().code, crate::close_code::NORMAL);
        assert_eq!(
            *remote.0.lock().unwrap(),
            vec!["batch http://10.0.0.2:8081", "close http://10.0.0.2:8081 z"]
        );
    }
}
