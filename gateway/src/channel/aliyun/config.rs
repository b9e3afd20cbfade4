//! The channel's settings.

use std::fmt;
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
    /// How backends are called: as HTTP services, or as Function Compute event functions.
    pub backend: BackendKind,
    /// Plain HTTP APIs on the channel's listener (the published chat's `/send`).
    pub http_apis: Vec<HttpApi>,
    /// Alibaba apps whose APP signatures the notify API and the HTTP APIs accept; with
    /// any, an unsigned notify is refused.
    pub app_keys: Vec<AppKey>,
    /// Most nonces of signed calls remembered at once (about 40 bytes each): past it,
    /// signed calls are refused (503) until older nonces leave their 15-minute window.
    pub max_nonces: usize,
}

impl AliyunConfig {
    /// True when API calls go to backends (else to the node's functions, as events).
    pub fn has_backends(&self) -> bool {
        self.register_url.is_some() || self.unregister_url.is_some() || self.api_url.is_some()
    }
}

/// How a backend is called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// An HTTP service: the request as it came, the answer as it is.
    #[default]
    Http,
    /// A Function Compute event function: API Gateway's FC event posted to its URL, its
    /// return read as the answer.
    Fc,
}

/// Who may call an HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAuth {
    /// Callers sign with an app's key (`X-Ca-Key`, `X-Ca-Signature`).
    App,
    /// Anyone (a browser page holds no secret).
    Anonymous,
}

/// A plain HTTP API: requests at `path` go to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    /// Where it answers on the channel's listener: exact, or ending in `/*` for every
    /// path under it (the rest is appended to the URL's path).
    pub path: String,
    /// The backend.
    pub url: String,
    /// Who may call it.
    pub auth: ApiAuth,
}

impl HttpApi {
    /// `PATH=URL`, optionally followed by `,auth=app` or `,auth=anonymous` (the default:
    /// APP when the node has app keys, else anonymous).
    pub fn parse(given: &str, has_keys: bool) -> Result<Self, AliyunConfigError> {
        let bad = |why: &str| AliyunConfigError::BadHttpApi {
            given: given.to_owned(),
            why: why.to_owned(),
        };
        let (rest, auth) = match given.rsplit_once(",auth=") {
            Some((rest, "app")) => (rest, ApiAuth::App),
            Some((rest, "anonymous")) => (rest, ApiAuth::Anonymous),
            Some(_) => return Err(bad("auth is app or anonymous")),
            None if has_keys => (given, ApiAuth::App),
            None => (given, ApiAuth::Anonymous),
        };
        let (path, url) = rest.split_once('=').ok_or_else(|| bad("PATH=URL"))?;
        Ok(HttpApi {
            path: path.trim().to_owned(),
            url: url.trim().to_owned(),
            auth,
        })
    }

    /// The path without its `/*`, and whether paths under it are served too.
    pub fn prefix(&self) -> (&str, bool) {
        match self.path.strip_suffix("/*") {
            Some(prefix) => (prefix, true),
            None => (&self.path, false),
        }
    }
}

/// An Alibaba app's key pair (the secret never shows in `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct AppKey {
    /// `X-Ca-Key`.
    pub key: String,
    /// What signatures are made with.
    pub secret: String,
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKey")
            .field("key", &self.key)
            .field("secret", &"***")
            .finish()
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
            backend: BackendKind::Http,
            http_apis: Vec::new(),
            app_keys: Vec::new(),
            max_nonces: 1_000_000,
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
    /// An HTTP API cannot be served.
    #[error("HTTP API `{given}`: {why}")]
    BadHttpApi {
        /// The API as given.
        given: String,
        /// Why not.
        why: String,
    },
    /// An app key or secret is empty, or a key is given twice.
    #[error("app key `{key}`: {why}")]
    BadAppKey {
        /// The key.
        key: String,
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
        for api in &self.http_apis {
            let bad = |why: &str| AliyunConfigError::BadHttpApi {
                given: format!("{}={}", api.path, api.url),
                why: why.to_owned(),
            };
            http_api_path_ok(api.prefix().0).map_err(bad)?;
            if self.http_apis.iter().filter(|a| a.path == api.path).count() > 1 {
                return Err(bad("given twice"));
            }
            if api.auth == ApiAuth::App && self.app_keys.is_empty() {
                return Err(bad(
                    "APP auth needs --aliyun-app-key and --aliyun-app-secret",
                ));
            }
        }
        for app in &self.app_keys {
            let bad = |why| AliyunConfigError::BadAppKey {
                key: app.key.clone(),
                why,
            };
            if app.key.trim().is_empty() || app.secret.trim().is_empty() {
                return Err(bad("a key and its secret are not empty"));
            }
            if self.app_keys.iter().filter(|a| a.key == app.key).count() > 1 {
                return Err(bad("given twice"));
            }
        }
        let http_apis = self.http_apis.iter().map(|api| &api.url);
        for url in [&self.register_url, &self.unregister_url, &self.api_url]
            .into_iter()
            .flatten()
            .chain(http_apis)
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

/// The channel listener's own paths, which an HTTP API may not take.
const CLIENT_TAKEN: [&str; 7] = [
    "/",
    "/ws",
    "/aliyun",
    "/websocket",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// `Err` when `path` is no plain absolute path, or one the channel listener serves.
fn http_api_path_ok(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') {
        return Err("a path starts with /, names something and does not end in /");
    }
    if path.contains(['{', '}', '*', '?', '#', '%', '\\']) || path.chars().any(char::is_control) {
        return Err("a plain path (ending in /* for every path under it)");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err("a path without . or .. segments");
    }
    if CLIENT_TAKEN.contains(&path) {
        return Err("the channel listener serves that path already");
    }
    Ok(())
}

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

    #[test]
    fn http_apis_parse_and_stay_off_the_listeners_paths() {
        let api = HttpApi::parse("/send=http://127.0.0.1:9/send", false).unwrap();
        assert_eq!((api.path.as_str(), api.auth), ("/send", ApiAuth::Anonymous));
        let api = HttpApi::parse("/send=http://h/x?a=1,auth=anonymous", true).unwrap();
        assert_eq!(
            (api.url.as_str(), api.auth),
            ("http://h/x?a=1", ApiAuth::Anonymous)
        );
        assert_eq!(
            HttpApi::parse("/s=http://h", true).unwrap().auth,
            ApiAuth::App
        );
        assert!(HttpApi::parse("/s=http://h,auth=maybe", true).is_err());
        assert!(HttpApi::parse("/s", false).is_err());
        let with = |given: &str| AliyunConfig {
            http_apis: vec![HttpApi::parse(given, false).unwrap()],
            ..AliyunConfig::default()
        };
        assert!(with("/send=http://127.0.0.1:9/send").validate().is_ok());
        assert!(with("/api/*=http://127.0.0.1:9/").validate().is_ok());
        for taken in [
            "/=http://h",
            "/ws=http://h",
            "/aliyun=http://h",
            "/a/../b=http://h",
            "/x=not a url",
        ] {
            assert!(with(taken).validate().is_err(), "{taken}");
        }
        let signed = AliyunConfig {
            http_apis: vec![HttpApi::parse("/s=http://h,auth=app", false).unwrap()],
            ..AliyunConfig::default()
        };
        assert!(signed.validate().is_err(), "APP auth without keys");
    }

    #[test]
    fn an_app_secret_never_shows() {
        let key = AppKey {
            key: "k".into(),
            secret: "s3cr3t".into(),
        };
        assert!(!format!("{key:?}").contains("s3cr3t"));
    }
}
