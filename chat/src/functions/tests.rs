//! The chat's functions over the in-memory store and a pusher that keeps groups the way a
//! node does: what goes by group, what by walk and ids, and who is let in.

use std::sync::Mutex;

use lifecycle::{BatchOutcome, ConnectionInfo, Published, Publishing};
use store_core::MemoryStore;

use super::*;

/// This node's push URL in the tests; the other node's.
const HERE: &str = "http://10.0.0.1:8081";
const THERE: &str = "http://10.0.0.2:8081";

/// Records every call; its group broadcast reaches `reach` members on `nodes`.
#[derive(Debug, Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    /// What a group broadcast answers.
    reach: Mutex<Published>,
    /// Joins are refused.
    refuse_joins: bool,
    /// Group broadcasts are answered later, by the senders kept here (in order), instead
    /// of at once with `reach`.
    deferred: Option<Mutex<Vec<tokio::sync::oneshot::Sender<Published>>>>,
    /// Batch calls so far, for a test to wait on the next.
    batches: tokio::sync::watch::Sender<usize>,
    /// The payload of every batch call, in order.
    batched: Mutex<Vec<String>>,
    /// With `deferred`: group broadcasts are answered at once with `reach` meanwhile.
    at_once: std::sync::atomic::AtomicBool,
}

impl Recorder {
    /// A pusher whose group broadcasts are answered when the test says.
    fn deferring() -> Self {
        Recorder {
            deferred: Some(Mutex::default()),
            ..Recorder::default()
        }
    }

    /// Answers the oldest unanswered group broadcast with `published`.
    fn answer(&self, published: Published) {
        let mut waiting = self.deferred.as_ref().unwrap().lock().unwrap();
        let _ = waiting.remove(0).send(published);
    }

    /// Answers the newest unanswered group broadcast with `published`.
    fn answer_newest(&self, published: Published) {
        let mut waiting = self.deferred.as_ref().unwrap().lock().unwrap();
        let _ = waiting.pop().unwrap().send(published);
    }
}

impl Recorder {
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl Pusher for Recorder {
    async fn batch(
        &self,
        push_url: &str,
        ids: &[String],
        payload: &Payload,
    ) -> Result<BatchOutcome, PushError> {
        if let Payload::Text(text) = payload {
            self.batched.lock().unwrap().push(text.clone());
        }
        let mut ids = ids.to_vec();
        ids.sort();
        let call = format!("batch {push_url} {}", ids.join(","));
        self.calls.lock().unwrap().push(call);
        self.batches.send_modify(|batches| *batches += 1);
        Ok(BatchOutcome {
            sent: ids.len(),
            undelivered: Vec::new(),
        })
    }

    async fn close(&self, _: &str, _: &str) -> Result<bool, PushError> {
        Ok(true)
    }

    async fn join(
        &self,
        _: &str,
        group: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, PushError> {
        let call = format!("join {group} {id} {}s", lease.as_secs());
        self.calls.lock().unwrap().push(call);
        if self.refuse_joins {
            return Err(PushError::JoinRefused {
                reason: "full".into(),
            });
        }
        Ok(true)
    }

    async fn publish_sent(
        &self,
        group: &str,
        except: Option<&str>,
        _: &Payload,
        expected: u64,
    ) -> Result<Publishing, PushError> {
        let call = format!("publish {group} -{} {expected}", except.unwrap_or(""));
        self.calls.lock().unwrap().push(call);
        let at_once = self.at_once.load(std::sync::atomic::Ordering::Relaxed);
        let Some(deferred) = self.deferred.as_ref().filter(|_| !at_once) else {
            return Ok(Publishing::answered(self.reach.lock().unwrap().clone()));
        };
        let (answer, answered) = tokio::sync::oneshot::channel();
        deferred.lock().unwrap().push(answer);
        Ok(Publishing::coming(async move {
            answered.await.unwrap_or_default()
        }))
    }
}

/// `call`'s output, unless it takes longer than a test should (then the error).
async fn within<F: Future>(call: F) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(10), call).await
}

/// Waits until every line's answers have been read (their places are back).
async fn answers_read(chat: &ChatFunctions) {
    let all_back = async {
        while chat.confirming.available_permits() < MAX_LINES_CONFIRMING {
            tokio::task::yield_now().await;
        }
    };
    within(all_back)
        .await
        .expect("every line's answers are read");
}

fn event(id: &str, kind: EventKind, payload: Option<&str>) -> LifecycleEvent {
    LifecycleEvent {
        kind,
        connection: Arc::new(ConnectionInfo {
            id: id.into(),
            push_url: HERE.into(),
            query: vec![("room".into(), "r".into())],
            ..ConnectionInfo::default()
        }),
        request_id: "req".into(),
        at_ms: 0,
        payload: payload.map(|text| Payload::Text(text.into())),
    }
}

fn message(id: &str, text: &str) -> LifecycleEvent {
    let route = "$default".to_owned();
    event(id, EventKind::Message { route }, Some(text))
}

/// A chat over a fresh store, with `me` registered here and `others` registered on the
/// other node directly in the store.
async fn chat(pusher: Arc<Recorder>, me: &str, others: &[&str]) -> ChatFunctions {
    let store: Arc<dyn ConnectionStore> = Arc::new(MemoryStore::new());
    let chat = ChatFunctions::new(store.clone(), pusher.clone(), Duration::from_secs(60))
        .with_presence_window(Duration::ZERO);
    let reply = chat.handle(&event(me, EventKind::Connect, None)).await;
    assert_eq!(reply.unwrap().status, 200);
    for id in others {
        let registration = Registration {
            room: RoomName::new("r").unwrap(),
            endpoint: Endpoint::new(THERE).unwrap(),
            metadata: Metadata::new(),
            ttl: Duration::from_secs(60),
        };
        let id = ConnectionId::new(*id).unwrap();
        store.register(&id, &registration).await.unwrap();
    }
    pusher.calls();
    chat
}

#[tokio::test]
async fn a_line_that_its_group_broadcast_brought_to_everyone_needs_no_walk() {
    let pusher = Arc::new(Recorder::default());
    *pusher.reach.lock().unwrap() = Published {
        reached: 2,
        nodes: vec![THERE.into()],
    };
    let chat = chat(pusher.clone(), "me", &["a", "b"]).await;
    chat.handle(&message("me", r#"{"text":"hi"}"#))
        .await
        .unwrap();
    assert_eq!(pusher.calls(), vec!["publish r -me 2"]);
}

#[tokio::test]
async fn a_line_its_group_broadcast_fell_short_of_goes_by_ids_to_nodes_that_did_not_answer() {
    let pusher = Arc::new(Recorder::default());
    let chat = chat(pusher.clone(), "me", &["a", "b"]).await;
    // Nobody answered: the other node gets it by ids.
    chat.handle(&message("me", r#"{"text":"hi"}"#))
        .await
        .unwrap();
    assert_eq!(
        pusher.calls(),
        vec!["publish r -me 2", &format!("batch {THERE} a,b")]
    );
    // The other node answered, short of the count (a third member is on a node that did
    // not): that node is not sent it again.
    *pusher.reach.lock().unwrap() = Published {
        reached: 1,
        nodes: vec![format!("{THERE}/")],
    };
    chat.handle(&message("me", r#"{"text":"again"}"#))
        .await
        .unwrap();
    assert_eq!(pusher.calls(), vec!["publish r -me 2"]);
}

#[tokio::test]
async fn a_line_does_not_wait_for_other_nodes_answers_and_the_walk_reaches_whom_they_missed() {
    let pusher = Arc::new(Recorder::deferring());
    let chat = chat(pusher.clone(), "me", &["a", "b"]).await;
    // Both lines are sent while the first one's answers are still to come.
    within(chat.handle(&message("me", r#"{"text":"one"}"#)))
        .await
        .expect("the line is done once sent")
        .unwrap();
    within(chat.handle(&message("me", r#"{"text":"two"}"#)))
        .await
        .expect("the next line is not held by the first one's answers")
        .unwrap();
    assert_eq!(pusher.calls(), vec!["publish r -me 2", "publish r -me 2"]);
    // Nobody answered the first: the other node gets it by ids, behind the reply.
    let mut batches = pusher.batches.subscribe();
    pusher.answer(Published::default());
    within(batches.changed())
        .await
        .expect("the walk's batch is sent")
        .unwrap();
    assert_eq!(pusher.calls(), vec![format!("batch {THERE} a,b")]);
    // The other node answered the second for both: nothing more is sent.
    pusher.answer(Published {
        reached: 2,
        nodes: vec![THERE.into()],
    });
    answers_read(&chat).await;
    assert_eq!(pusher.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn past_the_most_lines_read_behind_a_line_waits_for_its_own_answers() {
    let pusher = Arc::new(Recorder::deferring());
    let chat = chat(pusher.clone(), "me", &["a"]).await;
    for _ in 0..MAX_LINES_CONFIRMING {
        within(chat.handle(&message("me", r#"{"text":"hi"}"#)))
            .await
            .expect("a line within the bound is done once sent")
            .unwrap();
    }
    assert_eq!(chat.confirming.available_permits(), 0);
    let one_more = message("me", r#"{"text":"one more"}"#);
    let mut next = std::pin::pin!(chat.handle(&one_more));
    assert!(
        futures::poll!(next.as_mut()).is_pending(),
        "a line past the bound waits for its answers"
    );
    assert_eq!(pusher.calls().len(), MAX_LINES_CONFIRMING + 1);
    // Its own answers, not a place, let it go: the others still hold theirs.
    pusher.answer_newest(Published {
        reached: 1,
        nodes: vec![THERE.into()],
    });
    within(next)
        .await
        .expect("the line is done once its answers are in")
        .unwrap();
    assert_eq!(chat.confirming.available_permits(), 0);
    assert_eq!(pusher.calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_line_that_goes_by_ids_waits_for_the_lines_read_behind_it() {
    let pusher = Arc::new(Recorder::deferring());
    let chat = chat(pusher.clone(), "me", &["a"]).await;
    // The welcome.
    pusher.batched.lock().unwrap().clear();
    within(chat.handle(&message("me", "first line")))
        .await
        .expect("the line is done once sent")
        .unwrap();
    // The next broadcast falls short at once (its node's link is down, say): it goes by
    // ids, and must not overtake the first line, whose answers are still to come.
    pusher
        .at_once
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let two = message("me", "second line");
    let mut next = std::pin::pin!(chat.handle(&two));
    assert!(
        futures::poll!(next.as_mut()).is_pending(),
        "a line by ids waits for the line read behind"
    );
    assert!(pusher.batched.lock().unwrap().is_empty());
    // Nobody answered the first: its walk sends it by ids, then the second goes.
    pusher.answer(Published::default());
    within(next)
        .await
        .expect("the line goes once the first is done")
        .unwrap();
    let batched = std::mem::take(&mut *pusher.batched.lock().unwrap());
    assert_eq!(batched.len(), 2, "{batched:?}");
    assert!(batched[0].contains("first line"), "{batched:?}");
    assert!(batched[1].contains("second line"), "{batched:?}");
}

#[tokio::test]
async fn a_heartbeat_renews_the_membership_with_the_record() {
    let pusher = Arc::new(Recorder::default());
    let chat = chat(pusher.clone(), "me", &[]).await;
    let reply = chat
        .handle(&message("me", r#"{"type":"heartbeat"}"#))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(pusher.calls(), vec!["join r me 60s"]);
}

#[tokio::test]
async fn a_connection_its_node_will_not_put_in_the_group_is_not_let_in() {
    let pusher = Arc::new(Recorder {
        refuse_joins: true,
        ..Recorder::default()
    });
    let store: Arc<dyn ConnectionStore> = Arc::new(MemoryStore::new());
    let chat = ChatFunctions::new(store.clone(), pusher.clone(), Duration::from_secs(60));
    let reply = chat
        .handle(&event("me", EventKind::Connect, None))
        .await
        .unwrap();
    assert_eq!(reply.status, 503);
    let id = ConnectionId::new("me").unwrap();
    assert!(store.get(&id).await.unwrap().is_none(), "its record stays");
}

#[tokio::test]
async fn a_pusher_without_groups_leaves_every_line_to_the_walk() {
    #[derive(Debug, Default)]
    struct Plain(Recorder);
    #[async_trait]
    impl Pusher for Plain {
        async fn batch(
            &self,
            push_url: &str,
            ids: &[String],
            payload: &Payload,
        ) -> Result<BatchOutcome, PushError> {
            self.0.batch(push_url, ids, payload).await
        }
        async fn close(&self, _: &str, _: &str) -> Result<bool, PushError> {
            Ok(true)
        }
    }
    let plain = Arc::new(Plain::default());
    let store: Arc<dyn ConnectionStore> = Arc::new(MemoryStore::new());
    let chat = ChatFunctions::new(store.clone(), plain.clone(), Duration::from_secs(60))
        .with_presence_window(Duration::ZERO);
    for id in ["me", "you"] {
        let reply = chat.handle(&event(id, EventKind::Connect, None)).await;
        assert_eq!(reply.unwrap().status, 200);
    }
    plain.0.calls();
    chat.handle(&message("me", r#"{"text":"hi"}"#))
        .await
        .unwrap();
    assert_eq!(plain.0.calls(), vec![format!("batch {HERE} you")]);
}

#[tokio::test]
async fn a_cleanup_whose_caller_gives_up_still_removes_the_record() {
    let gated = store_core::Gated::new(Arc::new(MemoryStore::new()));
    let store: Arc<dyn ConnectionStore> = Arc::new(gated.clone());
    let pusher = Arc::new(Recorder::default());
    let chat = ChatFunctions::new(store.clone(), pusher, Duration::from_secs(60))
        .with_presence_window(Duration::ZERO);
    let reply = chat.handle(&event("me", EventKind::Connect, None)).await;
    assert_eq!(reply.unwrap().status, 200);

    // The store stalls (its pool queued behind a crowd that left at once); the gateway's
    // deadline drops the cleanup.
    gated.shut();
    let disconnect = event(
        "me",
        EventKind::Disconnect {
            status_code: 1001,
            reason: "gone".into(),
        },
        None,
    );
    let gave_up = tokio::time::timeout(Duration::from_millis(50), chat.handle(&disconnect)).await;
    assert!(gave_up.is_err(), "the store could not have answered");

    gated.open();
    let me = ConnectionId::new("me").unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while store.get(&me).await.unwrap().is_some() {
        assert!(std::time::Instant::now() < give_up, "the record stayed");
        tokio::task::yield_now().await;
    }
}
