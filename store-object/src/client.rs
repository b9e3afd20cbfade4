//! [`ObjectClient`]: what an object backend must provide.

use std::fmt::Debug;

use async_trait::async_trait;
use store_core::Result;

/// An object as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The body.
    pub body: Vec<u8>,
    /// The entity tag, for a conditional write back (`None` if the server sent none).
    pub etag: Option<String>,
}

/// A precondition on a PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// Write unconditionally.
    None,
    /// Write only if the object still has this ETag (`If-Match`); otherwise `Conflict`
    /// (HTTP 412), or `NotFound` if the object is gone.
    IfMatch(String),
}

/// One page of keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Full keys, in ascending byte order.
    pub keys: Vec<String>,
    /// True when more keys follow this page.
    pub truncated: bool,
}

/// The requests a connection store needs from object storage. Each method is ONE request
/// (no retries inside: [`ObjectStore`](crate::ObjectStore) retries and counts), and maps
/// errors with its backend's `parse_error` (404 → `NotFound`, 412/409 → `Conflict`,
/// 403 → `PermissionDenied`, 429/5xx/connection → `Unavailable`).
#[async_trait]
pub trait ObjectClient: Debug + Send + Sync + 'static {
    /// The backend's name (`"s3"`, `"oss"`).
    fn backend(&self) -> &'static str;

    /// Reads an object; `Ok(None)` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<StoredObject>>;

    /// Writes an object.
    async fn put(&self, key: &str, body: Vec<u8>, condition: PutCondition) -> Result<()>;

    /// Deletes an object; deleting a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Lists at most `max_keys` (<= 1000) keys under `prefix` that sort after `start_after`.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage>;
}
