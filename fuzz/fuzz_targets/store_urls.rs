//! Store URLs: the scheme (`store::Scheme::of`), the redaction for logs (`store::redact`),
//! and the URL → config parser of the backend the scheme names, as `store::open_with`
//! dispatches it (without opening anything: `open` would create files or connect). Every
//! backend's parser is compiled in here (`store` itself with none), so every scheme is
//! reached. The input is the URL, and after a newline an optional namespace.
//!
//! Besides "never panics": a password in a URL of a backend that takes credentials never
//! shows in the config's `Debug`, in the error, or in the redacted URL.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use store::Scheme;
use store_core::Result;

/// The password of `scheme://user:password@host…` (or of a typo like `scheme:://…` or
/// `scheme:/…`), as a log reader would see it.
fn password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once(':')?;
    let rest = rest.trim_start_matches([':', '/']);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    // Long enough, nowhere else in the URL, and without `@` or `*` (which the redaction
    // writes itself), to tell it apart in what is printed.
    let plain = !password.contains(['@', '*']);
    (plain && password.len() >= 6 && url.matches(password).count() == 1).then_some(password)
}

fn check<C: Debug>(
    url: &str,
    namespace: Option<&str>,
    parsed: Result<C>,
    with_namespace: impl Fn(C, &str) -> Result<C>,
) {
    let secret = match Scheme::of(url) {
        Ok(Scheme::Sled | Scheme::Sqlite | Scheme::Memory) | Err(_) => None,
        // The namespace is echoed as given: a password found there too tells nothing.
        Ok(_) => password(url).filter(|p| namespace.is_none_or(|ns| !ns.contains(p))),
    };
    let shown = |what: String| {
        if let Some(secret) = secret {
            assert!(!what.contains(secret), "{url:?} shows its password: {what}");
        }
    };
    shown(store::redact(url));
    match parsed {
        Ok(config) => {
            shown(format!("{config:?}"));
            if let Some(namespace) = namespace {
                match with_namespace(config, namespace) {
                    Ok(config) => shown(format!("{config:?}")),
                    Err(e) => shown(e.to_string()),
                }
            }
        }
        Err(e) => shown(e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (url, namespace) = match text.split_once('\n') {
        Some((url, namespace)) => (url, Some(namespace)),
        None => (text.as_ref(), None),
    };
    let scheme = match Scheme::of(url) {
        Ok(scheme) => scheme,
        Err(e) => {
            let _ = e.to_string();
            let _ = store::redact(url);
            return;
        }
    };
    let _ = scheme.feature();
    match scheme {
        Scheme::Memory => {}
        Scheme::Sled => check(
            url,
            namespace,
            store_sled::SledConfig::with_url(url),
            |c, ns| c.with_namespace(ns),
        ),
        Scheme::Sqlite => check(
            url,
            namespace,
            store_sql::SqliteConfig::with_url(url),
            |c, ns| c.with_namespace(ns).and_then(|c| c.table_name().map(|_| c)),
        ),
        Scheme::Postgres | Scheme::Mysql => check(
            url,
            namespace,
            store_sql::SqlxConfig::with_url(url),
            |c, ns| c.with_namespace(ns).and_then(|c| c.table_name().map(|_| c)),
        ),
        Scheme::S3 => check(
            url,
            namespace,
            store_s3::S3Config::with_url(url),
            |c, ns| c.with_namespace(ns),
        ),
        Scheme::Oss => check(
            url,
            namespace,
            store_oss::OssConfig::with_url(url),
            |c, ns| c.with_namespace(ns),
        ),
        Scheme::Redis => check(
            url,
            namespace,
            store_redis::RedisConfig::with_url(url),
            |c, ns| c.with_namespace(ns),
        ),
        Scheme::Dynamodb => check(
            url,
            namespace,
            store_dynamodb::DynamoConfig::with_url(url),
            |c, ns| c.with_namespace(ns),
        ),
        _ => {}
    }
});
