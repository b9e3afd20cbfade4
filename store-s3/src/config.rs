//! [`S3Config`]: bucket, prefix, endpoint, credentials, clock.

use std::fmt;
use std::sync::Arc;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};
use store_object::{ObjectStore, join_prefix, normalize_prefix};
use url::Url;

use crate::S3Client;

/// How to reach one bucket: `S3Store::open(config)`.
#[derive(Clone)]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// Key prefix inside the bucket (e.g. `chat/prod`).
    pub prefix: String,
    /// An extra prefix segment keeping this store apart from others (tests, tenants).
    pub namespace: Option<String>,
    /// Region (default `us-east-1`; Garage uses `garage`).
    pub region: Option<String>,
    /// Endpoint URL for non-AWS servers (`http://127.0.0.1:3900`).
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted servers.
    pub path_style: bool,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key — never printed.
    pub secret_access_key: Option<String>,
    /// Session token — never printed.
    pub session_token: Option<String>,
    /// Whether renew may use `If-Match` (default true; the store probes once whether the
    /// server honours it and verifies by re-reading where it does not).
    pub conditional_writes: bool,
    /// Leases are computed from this clock ([`system_clock`] unless
    /// [`with_clock`](S3Config::with_clock) sets another).
    pub clock: SharedClock,
}

impl Default for S3Config {
    /// No bucket, no credentials, `If-Match` off, the system clock.
    fn default() -> Self {
        S3Config {
            bucket: String::new(),
            prefix: String::new(),
            namespace: None,
            region: None,
            endpoint: None,
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            conditional_writes: false,
            clock: system_clock(),
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("namespace", &self.namespace)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("conditional_writes", &self.conditional_writes)
            .field("clock", &self.clock)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl S3Config {
    /// A config for `bucket`, everything else default (credentials still needed).
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            conditional_writes: true,
            ..S3Config::default()
        }
    }

    /// Reads the usual `AWS_*` variables (see the crate docs).
    pub fn from_env() -> Self {
        S3Config {
            bucket: env("AWS_BUCKET").unwrap_or_default(),
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            endpoint: env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
            path_style: env("AWS_S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true"),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            conditional_writes: true,
            ..S3Config::default()
        }
    }

    /// Parses `s3://bucket/prefix?…` or `cos://bucket/prefix?region=…` on top of
    /// [`S3Config::from_env`] (see the crate docs for the options).
    pub fn with_url(url: &str) -> Result<Self> {
        let parsed = Url::parse(url)
            // Not echoed: a URL that does not parse may hold a secret where it should not.
            .map_err(|e| StoreError::config(format!("bad object-store URL: {e}")))?;
        let mut config = S3Config::from_env();
        let cos = match parsed.scheme() {
            "s3" => false,
            "cos" => true,
            other => {
                return Err(StoreError::config(format!(
                    "`{other}://` is not an S3 URL (use s3:// or cos://)"
                )));
            }
        };
        config.bucket = parsed.host_str().unwrap_or_default().to_owned();
        config.prefix = parsed.path().trim_start_matches('/').to_owned();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "region" => config.region = Some(value.into_owned()),
                "endpoint" => config.endpoint = Some(value.into_owned()),
                "path_style" => config.path_style = flag(&key, &value)?,
                "conditional_writes" => config.conditional_writes = flag(&key, &value)?,
                "namespace" => config.namespace = Some(value.into_owned()),
                _ => {
                    return Err(StoreError::config(format!(
                        "unknown S3 URL option `{key}` (known: region, endpoint, path_style, \
                         conditional_writes, namespace)"
                    )));
                }
            }
        }
        if cos {
            let region = config.region.clone().ok_or_else(|| {
                StoreError::config("a cos:// URL needs ?region= (e.g. ap-guangzhou)")
            })?;
            config
                .endpoint
                .get_or_insert_with(|| format!("https://cos.{region}.myqcloud.com"));
            config.path_style = false;
            config.access_key_id = env("COS_SECRET_ID").or(config.access_key_id);
            config.secret_access_key = env("COS_SECRET_KEY").or(config.secret_access_key);
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets the namespace segment.
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        self.namespace = Some(namespace.to_owned());
        self.validate()?;
        Ok(self)
    }

    /// Sets the endpoint and path-style addressing (self-hosted servers).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>, path_style: bool) -> Self {
        self.endpoint = Some(endpoint.into());
        self.path_style = path_style;
        self
    }

    /// Sets static credentials.
    pub fn with_credentials(
        mut self,
        key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(key_id.into());
        self.secret_access_key = Some(secret.into());
        self
    }

    /// Sets the region.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The prefix the store writes under: `prefix/namespace/`.
    pub fn full_prefix(&self) -> String {
        join_prefix(&self.prefix, self.namespace.as_deref())
    }

    /// Checks everything that can be checked without a request.
    pub fn validate(&self) -> Result<()> {
        let bucket_ok = (3..=63).contains(&self.bucket.len())
            && self
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(StoreError::config(format!(
                "bucket `{}`: 3..=63 of [a-z0-9.-]",
                self.bucket
            )));
        }
        normalize_prefix(&self.full_prefix())?;
        if let Some(endpoint) = &self.endpoint {
            let parsed = Url::parse(endpoint)
                .map_err(|e| StoreError::config(format!("endpoint `{endpoint}`: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(StoreError::config(format!(
                    "endpoint `{endpoint}` must be http:// or https://"
                )));
            }
        }
        Ok(())
    }
}

#[store_core::async_trait]
impl StoreConfig for S3Config {
    type Store = ObjectStore;

    fn with_url(url: &str) -> Result<Self> {
        S3Config::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        S3Config::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        S3Config::with_clock(self, clock)
    }

    /// Builds the S3 client (no request yet) and the store on it.
    async fn open(self) -> Result<ObjectStore> {
        let client = S3Client::new(&self)?;
        Ok(
            ObjectStore::new(Arc::new(client), &self.full_prefix(), self.clock)?
                .with_conditional_writes(self.conditional_writes),
        )
    }
}

fn flag(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(StoreError::config(format!(
            "URL option `{key}`: `{value}` is not true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/` (store_urls): a URL that did not parse was echoed whole, with the
    /// password someone put in it.
    #[test]
    fn a_bad_url_is_not_echoed() {
        let shown = S3Config::with_url("s3://u:hunter2@bad host/")
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn parses_s3_urls() {
        let c = S3Config::with_url(
            "s3://conns/chat/prod?endpoint=http://127.0.0.1:3900&region=garage&path_style=true&namespace=t1",
        )
        .unwrap();
        assert_eq!(c.bucket, "conns");
        assert_eq!(c.full_prefix(), "chat/prod/t1");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(c.region.as_deref(), Some("garage"));
        assert!(c.path_style);
        assert!(c.conditional_writes);
    }

    #[test]
    fn cos_urls_use_the_regional_virtual_hosted_endpoint() {
        let c = S3Config::with_url("cos://conns-1250000000/chat?region=ap-guangzhou").unwrap();
        assert_eq!(
            c.endpoint.as_deref(),
            Some("https://cos.ap-guangzhou.myqcloud.com")
        );
        assert!(!c.path_style);
        assert!(S3Config::with_url("cos://conns-1250000000/chat").is_err());
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "s3://B/x",
            "s3://ok-bucket/a//b",
            "s3://ok-bucket/x?path_style=maybe",
            "s3://ok-bucket/x?secret=1",
            "s3://ok-bucket/x?endpoint=ftp://h",
            "gs://bucket/x",
        ] {
            let err = S3Config::with_url(bad).expect_err(bad);
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut c = S3Config::new("b").with_credentials("AKID", "very-secret");
        c.session_token = Some("token-secret".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("token-secret"),
            "{shown}"
        );
        assert!(shown.contains("AKID"));
    }
}
