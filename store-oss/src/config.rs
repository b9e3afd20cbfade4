//! [`OssConfig`]: bucket, prefix, endpoint, credentials, clock.

use std::fmt;
use std::sync::Arc;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};
use store_object::{ObjectStore, join_prefix, normalize_prefix};
use url::Url;

use crate::OssClient;

/// How to reach one OSS bucket: `OssStore::open(config)`.
#[derive(Clone)]
pub struct OssConfig {
    /// The bucket.
    pub bucket: String,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// An extra prefix segment keeping this store apart from others.
    pub namespace: Option<String>,
    /// Endpoint, e.g. `https://oss-cn-hangzhou.aliyuncs.com`.
    pub endpoint: Option<String>,
    /// Path-style addressing (test servers); OSS itself is virtual-hosted.
    pub path_style: bool,
    /// AccessKey id.
    pub access_key_id: Option<String>,
    /// AccessKey secret — never printed.
    pub access_key_secret: Option<String>,
    /// STS token — never printed.
    pub security_token: Option<String>,
    /// Leases are computed from this clock ([`system_clock`] unless
    /// [`with_clock`](OssConfig::with_clock) sets another).
    pub clock: SharedClock,
}

impl Default for OssConfig {
    /// No bucket, endpoint or credentials, the system clock.
    fn default() -> Self {
        OssConfig {
            bucket: String::new(),
            prefix: String::new(),
            namespace: None,
            endpoint: None,
            path_style: false,
            access_key_id: None,
            access_key_secret: None,
            security_token: None,
            clock: system_clock(),
        }
    }
}

impl fmt::Debug for OssConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("OssConfig")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("namespace", &self.namespace)
            .field("endpoint", &self.endpoint)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &hidden(&self.access_key_secret))
            .field("security_token", &hidden(&self.security_token))
            .field("clock", &self.clock)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl OssConfig {
    /// A config for `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        OssConfig {
            bucket: bucket.into(),
            ..OssConfig::default()
        }
    }

    /// Reads the `OSS_*` variables (see the crate docs).
    pub fn from_env() -> Self {
        OssConfig {
            bucket: env("OSS_BUCKET").unwrap_or_default(),
            endpoint: env("OSS_ENDPOINT"),
            access_key_id: env("OSS_ACCESS_KEY_ID"),
            access_key_secret: env("OSS_ACCESS_KEY_SECRET"),
            security_token: env("OSS_SECURITY_TOKEN"),
            ..OssConfig::default()
        }
    }

    /// Parses `oss://bucket/prefix?endpoint=…&path_style=…&namespace=…` on top of
    /// [`OssConfig::from_env`].
    pub fn with_url(url: &str) -> Result<Self> {
        // Not echoed: a URL that does not parse may hold a secret where it should not.
        let parsed =
            Url::parse(url).map_err(|e| StoreError::config(format!("bad OSS URL: {e}")))?;
        if parsed.scheme() != "oss" {
            return Err(StoreError::config(format!(
                "`{}://` is not an OSS URL",
                parsed.scheme()
            )));
        }
        let mut config = OssConfig::from_env();
        config.bucket = parsed.host_str().unwrap_or_default().to_owned();
        config.prefix = parsed.path().trim_start_matches('/').to_owned();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "endpoint" => config.endpoint = Some(value.into_owned()),
                "path_style" => {
                    config.path_style = match value.as_ref() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => {
                            return Err(StoreError::config(format!(
                                "URL option `path_style`: `{other}` is not true or false"
                            )));
                        }
                    }
                }
                "namespace" => config.namespace = Some(value.into_owned()),
                _ => {
                    return Err(StoreError::config(format!(
                        "unknown OSS URL option `{key}` (known: endpoint, path_style, namespace)"
                    )));
                }
            }
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

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The prefix the store writes under.
    pub fn full_prefix(&self) -> String {
        join_prefix(&self.prefix, self.namespace.as_deref())
    }

    /// Checks what can be checked without a request.
    pub fn validate(&self) -> Result<()> {
        let bucket_ok = (3..=63).contains(&self.bucket.len())
            && self
                .bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !bucket_ok {
            return Err(StoreError::config(format!(
                "OSS bucket `{}`: 3..=63 of [a-z0-9-]",
                self.bucket
            )));
        }
        match &self.endpoint {
            None => {
                return Err(StoreError::config(
                    "OSS needs an endpoint (?endpoint=https://oss-<region>.aliyuncs.com or OSS_ENDPOINT)",
                ));
            }
            Some(endpoint) => {
                let parsed = Url::parse(endpoint)
                    .map_err(|e| StoreError::config(format!("endpoint `{endpoint}`: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(StoreError::config(format!(
                        "endpoint `{endpoint}` must be http:// or https://"
                    )));
                }
            }
        }
        normalize_prefix(&self.full_prefix())?;
        Ok(())
    }
}

#[store_core::async_trait]
impl StoreConfig for OssConfig {
    type Store = ObjectStore;

    fn with_url(url: &str) -> Result<Self> {
        OssConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        OssConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        OssConfig::with_clock(self, clock)
    }

    /// Builds the OSS client (no request yet) and the store on it.
    async fn open(self) -> Result<ObjectStore> {
        let client = OssClient::new(&self)?;
        Ok(
            ObjectStore::new(Arc::new(client), &self.full_prefix(), self.clock)?
                // OSS ignores nothing here: it has no conditional PUT, so send none.
                .with_conditional_writes(false),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/` (store_urls): a URL that did not parse was echoed whole, with the
    /// password someone put in it.
    #[test]
    fn a_bad_url_is_not_echoed() {
        let shown = OssConfig::with_url("oss://u:hunter2@bad host/")
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn parses_oss_urls() {
        let c = OssConfig::with_url(
            "oss://conns/chat?endpoint=http://127.0.0.1:5000&path_style=true&namespace=n1",
        )
        .unwrap();
        assert_eq!(c.bucket, "conns");
        assert_eq!(c.full_prefix(), "chat/n1");
        assert!(c.path_style);
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "oss://conns/chat",
            "oss://Conns/chat?endpoint=https://x",
            "oss://conns/a//b?endpoint=https://x",
            "oss://conns/x?endpoint=https://x&secret=y",
            "s3://conns/x?endpoint=https://x",
        ] {
            let err = OssConfig::with_url(bad).expect_err(bad);
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut c = OssConfig::new("conns");
        c.access_key_secret = Some("very-secret".into());
        c.security_token = Some("sts-secret".into());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("sts-secret"),
            "{shown}"
        );
    }
}
