//! The in-memory reference store: the executable model of the contract.
//!
//! It is deliberately plain (one mutex, two maps) so that it is obviously right; the
//! conformance suite's model check runs every other backend side by side with it and
//! demands the same answers.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{SharedClock, system_clock};
use crate::error::{Result, StoreError};
use crate::store::ConnectionStore;
use crate::types::{
    Connection, ConnectionId, Endpoint, Lease, Metadata, Page, PageToken, Registration, RoomMember,
    RoomName, check_page_size, ttl_millis,
};

/// One stored record, live or expired.
#[derive(Debug, Clone)]
struct Record {
    /// The room, also the first half of the `by_room` index key.
    room: RoomName,
    /// Push-back address of the gateway node.
    endpoint: Endpoint,
    /// Caller-supplied facts.
    metadata: Metadata,
    /// Lease expiry in epoch ms of the store clock.
    expires_at_ms: u64,
}

/// Everything behind the mutex.
#[derive(Debug, Default)]
struct State {
    /// All records by id, including expired ones not yet swept.
    records: HashMap<ConnectionId, Record>,
    /// (room, id) pairs in order, so `list` is a range scan like the real backends'.
    by_room: BTreeSet<(RoomName, ConnectionId)>,
}

impl State {
    fn delete(&mut self, id: &ConnectionId) -> Option<Record> {
        let record = self.records.remove(id)?;
        self.by_room.remove(&(record.room.clone(), id.clone()));
        Some(record)
    }
}

/// A [`ConnectionStore`] in process memory. Data lives as long as the value (and its clones,
/// which share it).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    /// Shared so clones are handles onto one store.
    state: Arc<Mutex<State>>,
    /// The store's time source; leases are computed from it.
    clock: SharedClock,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the wall clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// An empty store on `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        MemoryStore {
            state: Arc::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // breaks the contract (each method updates both maps before returning), so a
        // poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn register(&self, id: &ConnectionId, registration: &Registration) -> Result<Lease> {
        let ttl = ttl_millis(registration.ttl)?;
        let expires_at_ms = self.clock.now_ms().saturating_add(ttl);
        let mut state = self.lock();
        state.delete(id);
        state
            .by_room
            .insert((registration.room.clone(), id.clone()));
        state.records.insert(
            id.clone(),
            Record {
                room: registration.room.clone(),
                endpoint: registration.endpoint.clone(),
                metadata: registration.metadata.clone(),
                expires_at_ms,
            },
        );
        Ok(Lease { expires_at_ms })
    }

    async fn renew(&self, id: &ConnectionId, ttl: Duration) -> Result<Lease> {
        let ttl = ttl_millis(ttl)?;
        let now = self.clock.now_ms();
        let mut state = self.lock();
        match state.records.get_mut(id) {
            Some(record) if now < record.expires_at_ms => {
                record.expires_at_ms = now.saturating_add(ttl);
                Ok(Lease {
                    expires_at_ms: record.expires_at_ms,
                })
            }
            _ => Err(StoreError::not_found(id.as_str())),
        }
    }

    async fn remove(&self, id: &ConnectionId) -> Result<bool> {
        let now = self.clock.now_ms();
        let removed = self.lock().delete(id);
        Ok(removed.is_some_and(|record| now < record.expires_at_ms))
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let now = self.clock.now_ms();
        let state = self.lock();
        Ok(state
            .records
            .get(id)
            .filter(|record| now < record.expires_at_ms)
            .map(|record| Connection {
                id: id.clone(),
                room: record.room.clone(),
                endpoint: record.endpoint.clone(),
                metadata: record.metadata.clone(),
                expires_at_ms: record.expires_at_ms,
            }))
    }

    async fn list(&self, room: &RoomName, after: Option<&PageToken>, limit: usize) -> Result<Page> {
        check_page_size(limit)?;
        let now = self.clock.now_ms();
        let state = self.lock();
        let start = match after {
            Some(token) => Bound::Excluded((room.clone(), token.last_id().clone())),
            None => Bound::Unbounded,
        };
        let mut members = Vec::new();
        let mut more = false;
        for (member_room, id) in state.by_room.range((start, Bound::Unbounded)) {
            if member_room < room {
                continue;
            }
            if member_room != room {
                break;
            }
            let Some(record) = state.records.get(id) else {
                continue;
            };
            if now >= record.expires_at_ms {
                continue;
            }
            if members.len() == limit {
                more = true;
                break;
            }
            members.push(RoomMember {
                id: id.clone(),
                endpoint: record.endpoint.clone(),
                expires_at_ms: record.expires_at_ms,
            });
        }
        Page::keyset(members, more)
    }

    async fn count(&self, room: &RoomName) -> Result<u64> {
        let now = self.clock.now_ms();
        let state = self.lock();
        let count = state
            .records
            .values()
            .filter(|record| &record.room == room && now < record.expires_at_ms)
            .count();
        Ok(count as u64)
    }

    async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut state = self.lock();
        let expired: Vec<ConnectionId> = state
            .records
            .iter()
            .filter(|(_, record)| now >= record.expires_at_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            state.delete(id);
        }
        Ok(expired.len() as u64)
    }
}
