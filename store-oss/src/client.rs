//! The OSS [`ObjectClient`], on OpenDAL's OSS service (no retry layer: the store retries
//! and counts every attempt).

use async_trait::async_trait;
use futures::TryStreamExt;
use opendal::Operator;
use opendal::services::Oss;
use store_core::{ErrorKind, Result, StoreError};
use store_object::{ListPage, ObjectClient, PutCondition, StoredObject};

use crate::config::OssConfig;
use crate::error::parse_error;

/// Talks to one bucket.
#[derive(Debug, Clone)]
pub struct OssClient {
    /// The OpenDAL operator, rooted at the bucket's top.
    op: Operator,
}

impl OssClient {
    /// Builds the operator from `config`.
    pub fn new(config: &OssConfig) -> Result<Self> {
        config.validate()?;
        // Installs OpenDAL's reqwest HTTP transport once per process (first install wins;
        // we keep `auto-register-services` off, so nothing else installs one).
        opendal::install_default();
        let (Some(key_id), Some(secret)) = (&config.access_key_id, &config.access_key_secret)
        else {
            return Err(StoreError::config(
                "oss: no credentials; set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET",
            ));
        };
        let mut builder = Oss::default()
            .bucket(&config.bucket)
            .root("/")
            .endpoint(config.endpoint.as_deref().unwrap_or_default())
            .access_key_id(key_id)
            .access_key_secret(secret);
        if let Some(token) = &config.security_token {
            builder = builder.security_token(token);
        }
        if config.path_style {
            builder = builder.addressing_style("path");
        }
        Ok(OssClient {
            op: Operator::new(builder).map_err(parse_error)?,
        })
    }
}

#[async_trait]
impl ObjectClient for OssClient {
    fn backend(&self) -> &'static str {
        "oss"
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        match self.op.read(key).await {
            Ok(buffer) => Ok(Some(StoredObject {
                body: buffer.to_vec(),
                etag: None,
            })),
            Err(err) => match parse_error(err) {
                err if err.kind() == ErrorKind::NotFound => Ok(None),
                err => Err(err),
            },
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, _condition: PutCondition) -> Result<()> {
        // OSS has no If-Match on PUT (see the crate docs); the store sends none.
        self.op.write(key, body).await.map_err(parse_error)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.op.delete(key).await.map_err(parse_error)
    }

    /// One ListObjectsV2 request: `limit(max_keys)` is the page size, and taking no more
    /// than `max_keys` entries keeps OpenDAL from asking for the next page. A full page is
    /// reported as truncated (OpenDAL does not expose the flag), so a walk whose last page
    /// is exactly full costs one more (empty) list request.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage> {
        let mut request = self.op.lister_with(prefix).recursive(true).limit(max_keys);
        if let Some(start) = start_after {
            request = request.start_after(start);
        }
        let mut lister = request.await.map_err(parse_error)?;
        let mut keys = Vec::with_capacity(max_keys.min(1000));
        let mut seen = 0;
        while seen < max_keys {
            let Some(entry) = lister.try_next().await.map_err(parse_error)? else {
                return Ok(ListPage {
                    keys,
                    truncated: false,
                });
            };
            seen += 1;
            // OpenDAL reports the listed "directory" itself; keys never end in `/`.
            if !entry.path().ends_with('/') {
                keys.push(entry.path().to_owned());
            }
        }
        Ok(ListPage {
            keys,
            truncated: true,
        })
    }
}
