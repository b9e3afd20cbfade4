//! [`IdLocks`]: serialises the calls on one connection id within a process.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::types::ConnectionId;

/// Stripes: enough that unrelated ids rarely wait on each other, few enough to allocate
/// once per store.
const STRIPES: usize = 64;

/// A striped lock by connection id, for a backend whose call on one id is several
/// requests (a record, then a room's index) that must not interleave with another call
/// on the same id in this process. An async mutex per stripe, meant to be held across
/// those requests; ids hash to stripes, so two ids may share one (they then wait, never
/// deadlock: a call holds one stripe at a time). Cheap to clone (one shared table).
#[derive(Debug, Clone)]
pub struct IdLocks {
    /// The stripes, shared by every clone of the store.
    stripes: Arc<[Mutex<()>]>,
}

impl Default for IdLocks {
    fn default() -> Self {
        IdLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl IdLocks {
    /// Waits for `id`'s stripe; the call on `id` runs while the guard lives.
    pub async fn lock(&self, id: &ConnectionId) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        self.stripes[(hasher.finish() as usize) % self.stripes.len()]
            .lock()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_id_waits_for_its_holder_and_another_id_does_not() {
        let locks = IdLocks::default();
        let a = ConnectionId::new("a").unwrap();
        let held = locks.lock(&a).await;
        let again = locks.clone();
        let waiter = tokio::spawn(async move { drop(again.lock(&a).await) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the same id got in while held");
        // Some id on another stripe goes through meanwhile.
        let other = (0..1000)
            .map(|i| ConnectionId::new(format!("b{i}")).unwrap())
            .find(|id| locks.stripes[stripe_of(id)].try_lock().is_ok())
            .expect("an id on a free stripe");
        drop(locks.lock(&other).await);
        drop(held);
        waiter.await.unwrap();
    }

    fn stripe_of(id: &ConnectionId) -> usize {
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }
}
