//! Test aids shared by the object backends' test suites (feature `test-util`).
//!
//! A real race between two processes is a coin toss: it passes or fails with the
//! scheduler, and on a server whose conditional PUT is not atomic (s3s-fs checks the ETag,
//! then writes) it can fail whatever the store does. So the renew-vs-remove guarantee is
//! checked deterministically instead: [`Interrupting`] runs the other process's whole call
//! in the gap before the n-th request of this one, and
//! [`check_renew_remove_interleavings`] walks n over every gap of both calls.
//!
//! # Layout
//! - [`MemoryObjects`]: an in-memory [`ObjectClient`] with atomic `If-Match`, the model a
//!   real server must match.
//! - [`Interrupting`]: wraps a client; before its n-th request it awaits an action.
//! - [`check_renew_remove_interleavings`]: the check itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use store_core::{
    ConnectionId, ConnectionStore, Endpoint, ErrorKind, Metadata, Registration, Result, RoomName,
    StoreError, collect_room, system_clock,
};

use crate::client::{ListPage, ObjectClient, PutCondition, StoredObject};
use crate::store::ObjectStore;

/// An in-memory object store whose conditional PUT is atomic (one lock around the check
/// and the write), as S3's is — or, made with [`MemoryObjects::ignoring_if_match`], a
/// server that accepts `If-Match` and ignores it, as Garage does.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    /// Whether `If-Match` is ignored.
    ignore_if_match: bool,
    /// Key → (body, etag). A `BTreeMap` because listings are in key order.
    objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
    /// Source of fresh ETags: every write gets a new one, as on a real server.
    next_etag: AtomicUsize,
}

impl MemoryObjects {
    /// A server that takes `If-Match` on PUT and writes anyway.
    pub fn ignoring_if_match() -> Self {
        MemoryObjects {
            ignore_if_match: true,
            ..MemoryObjects::default()
        }
    }
}

#[async_trait]
impl ObjectClient for MemoryObjects {
    fn backend(&self) -> &'static str {
        "memory-objects"
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let objects = self.objects.lock().expect("poisoned");
        Ok(objects.get(key).map(|(body, etag)| StoredObject {
            body: body.clone(),
            etag: Some(etag.clone()),
        }))
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: PutCondition) -> Result<()> {
        let mut objects = self.objects.lock().expect("poisoned");
        if let PutCondition::IfMatch(expected) = &condition
            && !self.ignore_if_match
        {
            match objects.get(key) {
                None => return Err(StoreError::not_found(key)),
                Some((_, etag)) if etag != expected => {
                    return Err(StoreError::Conflict {
                        message: format!("etag of {key} changed"),
                    });
                }
                Some(_) => {}
            }
        }
        let etag = format!("\"{}\"", self.next_etag.fetch_add(1, Ordering::Relaxed));
        objects.insert(key.to_owned(), (body, etag));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.objects.lock().expect("poisoned").remove(key);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage> {
        let objects = self.objects.lock().expect("poisoned");
        let mut keys = objects
            .keys()
            .filter(|key| key.starts_with(prefix))
            .filter(|key| start_after.is_none_or(|start| key.as_str() > start))
            .take(max_keys + 1)
            .cloned()
            .collect::<Vec<_>>();
        let truncated = keys.len() > max_keys;
        keys.truncate(max_keys);
        Ok(ListPage { keys, truncated })
    }
}

/// What [`Interrupting`] runs in a gap: the other process's whole call.
pub type Action = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wraps a client and, just before its `at`-th request (1-based), awaits an action to
/// completion. Logs the kind of every request it forwards, so a test can tell which
/// requests came before the action.
#[derive(Debug)]
pub struct Interrupting {
    /// The client that makes the requests.
    inner: Arc<dyn ObjectClient>,
    /// The request (1-based) before which the action runs.
    at: usize,
    /// Requests seen since [`Interrupting::arm`].
    seen: AtomicUsize,
    /// Whether requests count yet (a store's one-time probe comes before).
    armed: std::sync::atomic::AtomicBool,
    /// The action, taken out once it runs (never held across an await).
    action: Mutex<Option<DebugAction>>,
    /// The requests forwarded, in order, by kind ("get", "put", "put-if-match", ...).
    log: Mutex<Vec<&'static str>>,
}

/// An [`Action`] that can sit in a `Debug` struct.
struct DebugAction(Action);

impl std::fmt::Debug for DebugAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<action>")
    }
}

impl Interrupting {
    /// Runs `action` before the `at`-th request made through `inner`.
    pub fn new(inner: Arc<dyn ObjectClient>, at: usize, action: Action) -> Self {
        Interrupting {
            inner,
            at,
            seen: AtomicUsize::new(0),
            armed: std::sync::atomic::AtomicBool::new(false),
            action: Mutex::new(Some(DebugAction(action))),
            log: Mutex::new(Vec::new()),
        }
    }

    /// Starts counting requests: the `at`-th from now gets the action first.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Runs the action now if it has not run yet (a call that made fewer than `at`
    /// requests). Returns whether it ran here.
    pub async fn finish(&self) -> bool {
        let action = self.action.lock().expect("poisoned").take();
        match action {
            Some(DebugAction(action)) => {
                action.await;
                true
            }
            None => false,
        }
    }

    /// The kinds of the requests forwarded before the action ran.
    pub fn before_action(&self) -> Vec<&'static str> {
        let log = self.log.lock().expect("poisoned");
        log.iter().take(self.at - 1).copied().collect()
    }

    async fn request(&self, kind: &'static str) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
            self.finish().await;
        }
        self.log.lock().expect("poisoned").push(kind);
    }
}

#[async_trait]
impl ObjectClient for Interrupting {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        self.request("get").await;
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: PutCondition) -> Result<()> {
        let kind = match condition {
            PutCondition::None => "put",
            PutCondition::IfMatch(_) => "put-if-match",
        };
        self.request(kind).await;
        self.inner.put(key, body, condition).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.request("delete").await;
        self.inner.delete(key).await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage> {
        self.request("list").await;
        self.inner.list(prefix, start_after, max_keys).await
    }
}

/// The most requests one renew or remove of a single-key connection makes; gaps past the
/// last request run the action after the call, which checks the sequential case too.
const MAX_GAPS: usize = 8;

/// Checks, over every gap between the requests of a renew, that a remove by another
/// process (its own client and locks) run in that gap never lets the connection come back:
/// afterwards `get` answers `None` and the room lists nothing; the renew answers `Ok` (it
/// came first) or `NotFound`, and `NotFound` whenever the remove began before the renew
/// wrote the record. Then the same with the roles swapped: a whole renew in every gap of
/// a remove, which must still leave the connection gone.
///
/// `client` makes a fresh client on the server under test, `prefix` is a fresh prefix.
/// Holds whether the server's `If-Match` is atomic or ignored (the store then verifies
/// by re-reading); panics with the gap on a failure.
pub async fn check_renew_remove_interleavings(
    client: &dyn Fn() -> Arc<dyn ObjectClient>,
    prefix: &str,
) {
    let room = RoomName::new("race").expect("valid");
    let registration = Registration {
        room: room.clone(),
        endpoint: Endpoint::new("http://gw.test/push").expect("valid"),
        metadata: Metadata::default(),
        ttl: Duration::from_secs(60),
    };
    let ttl = Duration::from_secs(60);
    let open = |client: Arc<dyn ObjectClient>| {
        ObjectStore::new(client, prefix, system_clock()).expect("valid prefix")
    };
    for at in 1..=MAX_GAPS {
        // A remove in gap `at` of a renew.
        let id = ConnectionId::new(format!("renew-gap-{at}")).expect("valid");
        let other = open(client());
        other.register(&id, &registration).await.expect("register");
        let remove = {
            let (other, id) = (other.clone(), id.clone());
            Box::pin(async move {
                assert!(other.remove(&id).await.expect("remove"), "was live");
            })
        };
        let interrupting = Arc::new(Interrupting::new(client(), at, remove));
        let this = open(interrupting.clone());
        this.conditional_writes_honoured().await.expect("probe");
        interrupting.arm();
        let renewed = this.renew(&id, ttl).await;
        let ran_after = interrupting.finish().await;
        let before = interrupting.before_action();
        match &renewed {
            // The record write is the renew's second PUT (the first is its room key).
            Ok(_) => assert!(
                ran_after || before.iter().filter(|k| k.starts_with("put")).count() >= 2,
                "gap {at}: renew succeeded though the remove came before its write {before:?}"
            ),
            Err(err) => assert_eq!(err.kind(), ErrorKind::NotFound, "gap {at}: {err}"),
        }
        assert_gone(
            &other,
            &id,
            &room,
            &format!("remove in renew gap {at} {before:?}"),
        )
        .await;

        // A renew in gap `at` of a remove.
        let id = ConnectionId::new(format!("remove-gap-{at}")).expect("valid");
        let other = open(client());
        other.register(&id, &registration).await.expect("register");
        let renew = {
            let (other, id) = (other.clone(), id.clone());
            Box::pin(async move {
                // Before the remove deleted the record it renews; after, it finds nothing.
                if let Err(err) = other.renew(&id, ttl).await {
                    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
                }
            })
        };
        let interrupting = Arc::new(Interrupting::new(client(), at, renew));
        let this = open(interrupting.clone());
        this.conditional_writes_honoured().await.expect("probe");
        interrupting.arm();
        assert!(
            this.remove(&id).await.expect("remove"),
            "gap {at}: was live"
        );
        interrupting.finish().await;
        let before = interrupting.before_action();
        assert_gone(
            &other,
            &id,
            &room,
            &format!("renew in remove gap {at} {before:?}"),
        )
        .await;
    }
}

async fn assert_gone(store: &ObjectStore, id: &ConnectionId, room: &RoomName, what: &str) {
    assert!(
        store.get(id).await.expect("get").is_none(),
        "{what}: the connection came back"
    );
    let members = collect_room(store, room, 100).await.expect("list");
    assert!(
        members.iter().all(|member| member.id != *id),
        "{what}: the room still lists it"
    );
}
