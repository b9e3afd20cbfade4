//! [`RedisConfig`]: which server or Cluster, the key prefix, the timeouts, the clock.

use std::fmt;
use std::time::Duration;

use store_core::{Result, SharedClock, StoreConfig, StoreError, system_clock};
use url::Url;

use crate::RedisStore;

/// Default key prefix.
const DEFAULT_PREFIX: &str = "connstore";

/// How to reach Redis and where the store's keys live: `RedisStore::open(config)`.
#[derive(Clone)]
pub struct RedisConfig {
    /// One `redis://` / `rediss://` URL per seed node (one for a standalone server), with
    /// the credentials and database as redis-rs reads them. Never printed: it may hold a
    /// password.
    pub(crate) nodes: Vec<String>,
    /// A Cluster: keys are routed by hash slot and every node's URL is a seed.
    pub cluster: bool,
    /// Every key starts with `<prefix>:`; 1..=64 bytes of `[A-Za-z0-9_.:-]` (no braces: the
    /// hash tags that put a room's keys in one slot must be the first braces of a key).
    pub prefix: String,
    /// How long a connection attempt may take before the call answers `Unavailable`.
    pub connect_timeout: Duration,
    /// How long one command may wait for its reply before the call answers `Unavailable`.
    pub response_timeout: Duration,
    /// Decides liveness: leases are compared with this clock, never Redis's
    /// ([`system_clock`] unless [`with_clock`](RedisConfig::with_clock) sets another).
    pub clock: SharedClock,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|n| redact_node(n)).collect();
        f.debug_struct("RedisConfig")
            .field("nodes", &nodes)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("clock", &self.clock)
            .finish()
    }
}

/// `redis://user:***@host:port/db`: the node without its password.
fn redact_node(node: &str) -> String {
    match Url::parse(node) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => node.to_owned(),
    }
}

impl RedisConfig {
    /// A standalone server at `url` (`redis://…` or `rediss://…`, as redis-rs reads it),
    /// every option default.
    pub fn standalone(url: impl Into<String>) -> Self {
        RedisConfig {
            nodes: vec![url.into()],
            cluster: false,
            prefix: DEFAULT_PREFIX.into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            clock: system_clock(),
        }
    }

    /// A Cluster reached through `seeds` (`redis://host:port` each; any subset of its
    /// nodes), every option default.
    pub fn cluster(seeds: Vec<String>) -> Self {
        RedisConfig {
            nodes: seeds,
            cluster: true,
            ..RedisConfig::standalone("")
        }
    }

    /// Parses a store URL:
    ///
    /// - `redis://[user:password@]host[:port][/db][?options]`, `rediss://…` (TLS): one
    ///   server;
    /// - `redis+cluster://[user:password@]host1:port1,host2:port2,…[?options]`,
    ///   `rediss+cluster://…`: a Cluster, every listed node a seed.
    ///
    /// Options: `prefix` (default `connstore`), `connect_timeout_ms` and
    /// `response_timeout_ms` (default 2000 each). Anything else is a `Config` error.
    pub fn with_url(url: &str) -> Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| StoreError::config("a Redis URL starts with redis:// or rediss://"))?;
        let (node_scheme, cluster) = match scheme {
            "redis" => ("redis", false),
            "rediss" => ("rediss", false),
            "redis+cluster" => ("redis", true),
            "rediss+cluster" => ("rediss", true),
            other => {
                // Only a plain scheme is echoed: in a mistyped URL (`redis:/u:pw@h?x=a://`)
                // what stands before `://` may hold a password.
                let plain = other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
                let named = if plain { other } else { "that" };
                return Err(StoreError::config(format!(
                    "`{named}://` is not a Redis URL (use redis://, rediss://, redis+cluster:// \
                     or rediss+cluster://)"
                )));
            }
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(at) => before_query.split_at(at),
            None => (before_query, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        if hosts.is_empty() {
            return Err(StoreError::config("a Redis URL needs a host"));
        }
        let hosts: Vec<&str> = hosts.split(',').collect();
        if !cluster && hosts.len() > 1 {
            return Err(StoreError::config(
                "several hosts are a Cluster: use redis+cluster://host1:port1,host2:port2",
            ));
        }
        if cluster && !matches!(path, "" | "/" | "/0") {
            return Err(StoreError::config(
                "a Redis Cluster has only database 0: drop the path",
            ));
        }
        let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let nodes = hosts
            .iter()
            .map(|host| {
                let node = format!("{node_scheme}://{userinfo}{host}{path}");
                // Checked here, so a bad host is a clear error before any connection.
                Url::parse(&node)
                    .map_err(|e| StoreError::config(format!("bad Redis host `{host}`: {e}")))?;
                Ok(node)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut config = RedisConfig {
            nodes,
            cluster,
            ..RedisConfig::standalone("")
        };
        let query = Url::parse(&format!("redis://x/?{query}"))
            .map_err(|e| StoreError::config(format!("bad Redis URL options: {e}")))?;
        for (key, value) in query.query_pairs() {
            match key.as_ref() {
                "prefix" => config.prefix = value.into_owned(),
                "connect_timeout_ms" => config.connect_timeout = millis(&key, &value)?,
                "response_timeout_ms" => config.response_timeout = millis(&key, &value)?,
                _ => {
                    return Err(StoreError::config(format!(
                        "unknown Redis URL option `{key}` (known: prefix, connect_timeout_ms, \
                         response_timeout_ms)"
                    )));
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Puts the keys under `<prefix>:<namespace>`, apart from every other namespace (the
    /// conformance suite gives each scenario its own).
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self> {
        self.prefix = format!("{}:{namespace}", self.prefix);
        self.validate()?;
        Ok(self)
    }

    /// Computes leases on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks what can be checked without a connection.
    pub fn validate(&self) -> Result<()> {
        let ok = (1..=64).contains(&self.prefix.len())
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !ok {
            return Err(StoreError::config(format!(
                "key prefix `{}`: 1..=64 bytes of letters, digits, '_', '.', ':' or '-'",
                self.prefix
            )));
        }
        if self.nodes.is_empty() {
            return Err(StoreError::config("no Redis node to connect to"));
        }
        if self.connect_timeout.is_zero() || self.response_timeout.is_zero() {
            return Err(StoreError::config("Redis timeouts must be above 0 ms"));
        }
        Ok(())
    }
}

#[store_core::async_trait]
impl StoreConfig for RedisConfig {
    type Store = RedisStore;

    fn with_url(url: &str) -> Result<Self> {
        RedisConfig::with_url(url)
    }

    fn with_namespace(self, namespace: &str) -> Result<Self> {
        RedisConfig::with_namespace(self, namespace)
    }

    fn with_clock(self, clock: SharedClock) -> Self {
        RedisConfig::with_clock(self, clock)
    }

    async fn open(self) -> Result<RedisStore> {
        RedisStore::open(self).await
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

    /// Found by `fuzz/` (store_urls): a URL mistyped before its `://` was echoed up to
    /// there, password included.
    #[test]
    fn a_mistyped_scheme_is_not_echoed() {
        let shown = RedisConfig::with_url("redis:/u:hunter2@h?a=x://y")
            .unwrap_err()
            .to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = RedisConfig::with_url("http://h").unwrap_err().to_string();
        assert!(shown.contains("`http://`"), "{shown}");
    }

    #[test]
    fn a_standalone_url_keeps_credentials_and_database() {
        let config = RedisConfig::with_url("redis://u:secret@127.0.0.1:6379/3?prefix=app").unwrap();
        assert_eq!(config.nodes, ["redis://u:secret@127.0.0.1:6379/3"]);
        assert!(!config.cluster);
        assert_eq!(config.prefix, "app");
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn a_cluster_url_lists_every_seed() {
        let config = RedisConfig::with_url(
            "rediss+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001?response_timeout_ms=500",
        )
        .unwrap();
        assert_eq!(
            config.nodes,
            ["rediss://:pw@10.0.0.1:7000", "rediss://:pw@10.0.0.2:7001"]
        );
        assert!(config.cluster);
        assert_eq!(config.response_timeout, Duration::from_millis(500));
        assert!(!format!("{config:?}").contains("pw"));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for bad in [
            "redis://",
            "http://h",
            "redis://h1:1,h2:2",
            "redis+cluster://h:1/2",
            "redis://h?prefix=a{b}",
            "redis://h?colour=blue",
            "redis://h?response_timeout_ms=soon",
            "redis://h?connect_timeout_ms=0",
        ] {
            let err = RedisConfig::with_url(bad).unwrap_err();
            assert_eq!(err.kind(), store_core::ErrorKind::Config, "{bad}");
        }
    }
}
