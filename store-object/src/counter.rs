//! Requests made, by kind: what a broadcast really costs on a metered object store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of request an object store makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// GET object.
    Get,
    /// PUT object.
    Put,
    /// DELETE object.
    Delete,
    /// LIST objects (one page).
    List,
}

/// Shared counters; clones count into the same totals.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    /// One counter per [`RequestKind`], in declaration order.
    counts: Arc<[AtomicU64; 4]>,
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestSnapshot {
    /// GET requests.
    pub get: u64,
    /// PUT requests.
    pub put: u64,
    /// DELETE requests.
    pub delete: u64,
    /// LIST requests.
    pub list: u64,
}

impl RequestSnapshot {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.get + self.put + self.delete + self.list
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &RequestSnapshot) -> RequestSnapshot {
        RequestSnapshot {
            get: self.get - earlier.get,
            put: self.put - earlier.put,
            delete: self.delete - earlier.delete,
            list: self.list - earlier.list,
        }
    }
}

impl RequestCounts {
    /// Counts one request (every attempt, retries included).
    pub fn record(&self, kind: RequestKind) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> RequestSnapshot {
        let read = |kind: RequestKind| self.counts[kind as usize].load(Ordering::Relaxed);
        RequestSnapshot {
            get: read(RequestKind::Get),
            put: read(RequestKind::Put),
            delete: read(RequestKind::Delete),
            list: read(RequestKind::List),
        }
    }
}
