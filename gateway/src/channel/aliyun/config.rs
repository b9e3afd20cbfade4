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
