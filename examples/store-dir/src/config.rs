//! Where a [`DirStore`](crate::DirStore) keeps its files, and its clock.

use std::path::PathBuf;

use store_core::{Result, SharedClock, StoreError, system_clock};

/// A directory and a namespace inside it (the suite gives every scenario its own), and the
/// clock: `DirStore::open(config)`.
#[derive(Debug, Clone)]
pub struct DirConfig {
    /// The directory every namespace lives under; created when missing.
    pub root: PathBuf,
    /// The subdirectory of this store, so that stores sharing a root never see each other.
    pub namespace: String,
    /// Decides liveness ([`system_clock`] unless [`with_clock`](DirConfig::with_clock) sets
    /// another: the conformance suite passes a manual one).
    pub clock: SharedClock,
}

impl DirConfig {
    /// The store under `root`, in namespace `default`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirConfig {
            root: root.into(),
            namespace: "default".into(),
            clock: system_clock(),
        }
    }

    /// The same root, another namespace: 1..=64 bytes of `[a-z0-9_-]`, so that it is one
    /// safe path component on every filesystem.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        let ok = !namespace.is_empty()
            && namespace.len() <= 64
            && namespace
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(StoreError::config(format!(
                "namespace {namespace:?}: use 1..=64 bytes of lowercase letters, digits, '_' or '-'"
            )));
        }
        self.namespace = namespace.to_owned();
        Ok(self)
    }

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The directory this store writes in.
    pub(crate) fn base(&self) -> PathBuf {
        self.root.join(&self.namespace)
    }
}
