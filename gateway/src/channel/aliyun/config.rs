//! The channel's settings.

use std::time::Duration;

/// Alibaba's bidirectional channel (`/aliyun`): where clients' API calls go, and how
/// devices are kept.
#[derive(Debug, Clone)]
pub struct AliyunConfig {
    /// The backend of API calls marked `x-ca-websocket_api_type: REGISTER`.
    pub register_url: Option<String>,
    /// The backend of API calls marked `UNREGISTER`.
    pub unregister_url: Option<String>,
    /// The base URL other API calls go to (their path appended).
    pub api_url: Option<String>,
    /// The heartbeat interval the gateway tells clients (`RO#…#<ms>`).
    pub keepalive: Duration,
    /// The lease of a device's record; each `H1` renews it.
    pub lease: Duration,
    /// More paths the notify API answers at on the push listener (Alibaba lets each API
    /// choose its path: the published chat's is `/notify`); `/aliyun/notify` always
    /// answers, for node-to-node forwarding.
    pub notify_paths: Vec<String>,
}

impl AliyunConfig {
    /// True when API calls go to HTTP backends (else to the node's functions, as events).
    pub fn has_backends(&self) -> bool {
        self.register_url.is_some() || self.unregister_url.is_some() || self.api_url.is_some()
    }
}

impl Default for AliyunConfig {
    fn default() -> Self {
        AliyunConfig {
            register_url: None,
            unregister_url: None,
            api_url: None,
            keepalive: Duration::from_secs(25),
            lease: Duration::from_secs(60),
            notify_paths: Vec::new(),
        }
    }
}

/// A setting of the channel that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliyunConfigError {
    /// The heartbeat interval is zero, or not below the lease (devices would expire
    /// between heartbeats).
    #[error("the keepalive ({keepalive:?}) must be above 0 and below the lease ({lease:?})")]
    Keepalive {
        /// The heartbeat interval.
        keepalive: Duration,
        /// The lease.
        lease: Duration,
    },
    /// A notify path cannot be served.
    #[error("notify path `{path}`: {why}")]
    BadNotifyPath {
        /// The path as given.
        path: String,
        /// Why not.
        why: &'static str,
    },
    /// A backend URL does not parse.
    #[error("backend URL `{url}`: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// The parser's complaint.
        why: String,
    },
}

impl AliyunConfig {
    /// `Err` when the keepalive is not within the lease, or a backend URL does not parse.
    pub fn validate(&self) -> Result<(), AliyunConfigError> {
        if self.keepalive.is_zero() || self.keepalive >= self.lease {
            return Err(AliyunConfigError::Keepalive {
                keepalive: self.keepalive,
                lease: self.lease,
            });
        }
        for path in &self.notify_paths {
            let bad = |why| AliyunConfigError::BadNotifyPath {
                path: path.clone(),
                why,
            };
            notify_path_ok(path).map_err(bad)?;
            if self.notify_paths.iter().filter(|p| *p == path).count() > 1 {
                return Err(bad("given twice"));
            }
        }
        for url in [&self.register_url, &self.unregister_url, &self.api_url]
            .into_iter()
            .flatten()
        {
            reqwest::Url::parse(url).map_err(|e| AliyunConfigError::BadUrl {
                url: url.clone(),
                why: e.to_string(),
            })?;
        }
        Ok(())
    }
}

/// The push listener's own paths, which a notify path may not take.
const TAKEN: [&str; 6] = [
    "/",
    "/batch",
    "/aliyun/notify",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// `Err` when `path` is no plain absolute path, or one the push listener already serves.
fn notify_path_ok(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') || path.len() < 2 {
        return Err("a path starts with / and names something");
    }
    if path.contains(['{', '}', '*', '?', '#']) || path.chars().any(char::is_control) {
        return Err("a plain path: no pattern, query or control character");
    }
    if TAKEN.contains(&path) || path.contains("@connections") {
        return Err("the push listener serves that path already");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_paths_are_plain_and_free() {
        let with = |paths: &[&str]| AliyunConfig {
            notify_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            ..AliyunConfig::default()
        };
        assert!(with(&["/notify", "/api/notify"]).validate().is_ok());
        for bad in [
            "notify",
            "/",
            "/batch",
            "/aliyun/notify",
            "/{id}",
            "/a/@connections/b",
            "/metrics",
        ] {
            let refused = with(&[bad]).validate().unwrap_err();
            assert!(
                matches!(refused, AliyunConfigError::BadNotifyPath { .. }),
                "{bad}: {refused}"
            );
        }
        assert!(with(&["/notify", "/notify"]).validate().is_err());
    }
}
