//! Where a [`DirStore`](crate::DirStore) keeps its files.

use std::path::PathBuf;

use store_core::{Result, StoreError};

/// A directory and a namespace inside it (the suite gives every scenario its own).
#[derive(Debug, Clone)]
pub struct DirConfig {
    /// The directory every namespace lives under; created when missing.
    pub root: PathBuf,
    /// The subdirectory of this store, so that stores sharing a root never see each other.
    pub namespace: String,
}

impl DirConfig {
    /// The store under `root`, in namespace `default`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirConfig {
            root: root.into(),
            namespace: "default".into(),
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

    /// The directory this store writes in.
    pub(crate) fn base(&self) -> PathBuf {
        self.root.join(&self.namespace)
    }
}
