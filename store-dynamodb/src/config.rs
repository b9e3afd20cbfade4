//! [`DynamoConfig`]: the table, the endpoint and region, credentials, whether to create the
//! table, the clock.

use std::fmt;
use std::time::Duration;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};
use url::Url;

use crate::DynamoStore;

/// How to reach the table: `DynamoStore::open(config)`.
#[derive(Clone)]
pub struct DynamoConfig {
    /// The table: 3..=255 bytes of `[A-Za-z0-9_.-]` (DynamoDB's rule).
    pub table: String,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Endpoint URL for a DynamoDB-compatible server or a VPC endpoint
    /// (`http://127.0.0.1:8000`); `None` is AWS's regional endpoint.
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key — never printed.
    pub secret_access_key: Option<String>,
    /// Session token — never printed.
    pub session_token: Option<String>,
    /// Creates the table (on-demand capacity, TTL on `t`) when it does not exist. Off for
    /// an IAM role without `dynamodb:CreateTable`: the table must then exist.
    pub create_table: bool,
    /// How long one attempt of a request may take; the SDK retries throttling and
    /// server errors (3 attempts in all) within [`DynamoConfig::operation_timeout`].
    pub attempt_timeout: Duration,
    /// How long one request may take with its retries before the call answers
    /// `Unavailable`.
    pub operation_timeout: Duration,
    /// Decides liveness: leases are compared with this clock, never DynamoDB's
    /// ([`system_clock`] unless [`with_clock`](DynamoConfig::with_clock) sets another). It
    /// must be wall-clock time, within the hour: DynamoDB's TTL deletes by it.
    pub clock: SharedClock,
}

impl fmt::Debug for DynamoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("DynamoConfig")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("create_table", &self.create_table)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("clock", &self.clock)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl DynamoConfig {
    /// The table `table`, everything else default (credentials still needed).
    pub fn new(table: impl Into<String>) -> Self {
        DynamoConfig {
            table: table.into(),
            region: None,
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            create_table: true,
            attempt_timeout: Duration::from_secs(3),
            operation_timeout: Duration::from_secs(10),
            clock: system_clock(),
        }
    }

    /// The table `table` with the usual `AWS_*` variables: `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    pub fn from_env(table: impl Into<String>) -> Self {
        DynamoConfig {
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            endpoint: env("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| env("AWS_ENDPOINT_URL")),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            ..DynamoConfig::new(table)
        }
    }

    /// Parses `dynamodb://table?endpoint=…&region=…` on top of [`DynamoConfig::from_env`].
    ///
    /// Options: `endpoint`, `region`, `create` (`true`/`false`, default true),
    /// `attempt_timeout_ms` (3000), `operation_timeout_ms` (10000). Credentials come
    /// from the environment only, never from a URL (URLs end up in logs and shell
    /// histories). Anything else is a `Config` error.
    pub fn with_url(url: &str) -> Result<Self> {
        let parsed = Url::parse(url)
            // Not echoed: a URL that does not parse may hold a secret where it should not.
            .map_err(|e| StoreError::config(format!("bad DynamoDB URL: {e}")))?;
        if parsed.scheme() != "dynamodb" {
            return Err(StoreError::config(format!(
                "`{}://` is not a DynamoDB URL (use dynamodb://table)",
                parsed.scheme()
            )));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(StoreError::config(
                "a DynamoDB URL carries no credentials: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY",
            ));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(StoreError::config(
                "a DynamoDB URL names only a table: dynamodb://table?options",
            ));
        }
        let mut config = DynamoConfig::from_env(parsed.host_str().unwrap_or_default());
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "endpoint" => config.endpoint = Some(value.into_owned()),
                "region" => config.region = Some(value.into_owned()),
                "create" => config.create_table = flag(&key, &value)?,
                "attempt_timeout_ms" => config.attempt_timeout = millis(&key, &value)?,
                "operation_timeout_ms" => config.operation_timeout = millis(&key, &value)?,
                _ => {
                    return Err(StoreError::config(format!(
                        "unknown DynamoDB URL option `{key}` (known: endpoint, region, create, \
                         attempt_timeout_ms, operation_timeout_ms)"
                    )));
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Uses the table `<table>_<namespace>`, apart from every other namespace (the
    /// conformance suite gives each scenario its own, and drops it afterwards).
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        self.table = format!("{}_{namespace}", self.table);
        self.validate()?;
        Ok(self)
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

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks what can be checked without a request.
    pub fn validate(&self) -> Result<()> {
        let ok = (3..=255).contains(&self.table.len())
            && self
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(StoreError::config(format!(
                "DynamoDB table name `{}`: 3..=255 bytes of letters, digits, '_', '.' or '-'",
                self.table
            )));
        }
        if let Some(endpoint) = &self.endpoint {
            let parsed = Url::parse(endpoint).map_err(|e| {
                StoreError::config(format!("bad DynamoDB endpoint `{endpoint}`: {e}"))
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(StoreError::config(format!(
                    "DynamoDB endpoint `{endpoint}`: http:// or https:// expected"
                )));
            }
        }
        if self.attempt_timeout.is_zero() || self.operation_timeout < self.attempt_timeout {
            return Err(StoreError::config(
                "DynamoDB timeouts: attempt_timeout_ms above 0 and operation_timeout_ms at \
                 least as long",
            ));
        }
        Ok(())
    }
}

#[store_core::async_trait]
impl StoreConfig for DynamoConfig {
    type Store = DynamoStore;

    fn with_url(url: &str) -> Result<Self> {
        DynamoConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        DynamoConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        DynamoConfig::with_clock(self, clock)
    }

    async fn open(self) -> Result<DynamoStore> {
        DynamoStore::open(self).await
    }
}

fn flag(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(StoreError::config(format!("`{key}` must be true or false"))),
    }
}

fn millis(key: &str, value: &str) -> Result<Duration> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| StoreError::config(format!("`{key}` must be a number of milliseconds")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_the_table_and_its_options() {
        let config = DynamoConfig::with_url(
            "dynamodb://conns?endpoint=http://127.0.0.1:8000&region=eu-west-1&create=false\
             &operation_timeout_ms=4000",
        )
        .unwrap();
        assert_eq!(config.table, "conns");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        assert!(!config.create_table);
        assert_eq!(config.operation_timeout, Duration::from_secs(4));
        let config = config.with_namespace("ct0123").unwrap();
        assert_eq!(config.table, "conns_ct0123");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config = DynamoConfig::new("conns").with_credentials("AKIDEXAMPLE", "s3cr3t-value");
        let shown = format!("{config:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(!shown.contains("s3cr3t-value"));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "dynamodb://",
            "dynamodb://ab",
            "dynamodb://t%20able",
            "redis://table",
            "dynamodb://key:secret@table",
            "dynamodb://table/extra",
            "dynamodb://table?colour=blue",
            "dynamodb://table?create=maybe",
            "dynamodb://table?endpoint=ftp://h",
            "dynamodb://table?attempt_timeout_ms=0",
            "dynamodb://table?attempt_timeout_ms=5000&operation_timeout_ms=1000",
        ] {
            let err = DynamoConfig::with_url(bad).unwrap_err();
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }
}
