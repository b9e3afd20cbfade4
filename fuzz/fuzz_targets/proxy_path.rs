//! Alibaba's API proxy: the path of a device's API call, checked and set under a
//! backend's base URL (`calls.rs`, `backend_url`), and the same check on the path that
//! routes a call to the functions (`check_path`). The input: one byte picks the base, the
//! rest is the path (any text: it comes from the call's JSON, where `\u0000` is fine).
//!
//! Besides "never panics": whatever the check accepts, the URL the node will send keeps
//! the base's scheme, host and port, its path stays under the base path with no `.`/`..`
//! segment (even percent-encoded) and no backslash, it holds no control character (raw
//! or percent-encoded), and it reads back the same when parsed again.

#![no_main]

use gateway::fuzzing::{aliyun_backend_url, aliyun_check_path};
use libfuzzer_sys::fuzz_target;
use url::Url;

/// Backend base URLs as an operator would configure them.
const BASES: [&str; 7] = [
    "http://10.0.0.1:9000/api/",
    "http://10.0.0.1:9000/api",
    "http://backend",
    "http://backend/",
    "https://backend.internal/v1/gw/",
    "http://[::1]:8080/a%2Fb/",
    "http://h/api?token=x",
];

fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// A segment a server may resolve upwards, after one percent-decoding.
fn climbs(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.contains('\\') || decoded.split('/').any(|s| s == "." || s == "..")
}

fuzz_target!(|data: &[u8]| {
    let Some((pick, path)) = data.split_first() else {
        return;
    };
    let path = String::from_utf8_lossy(path);
    let base = Url::parse(BASES[usize::from(*pick) % BASES.len()]).unwrap();
    let base_path = base.path().trim_end_matches('/');

    if aliyun_check_path(&path).is_ok() {
        assert!(path.starts_with('/'), "{path:?}");
        assert!(!has_control(path.as_bytes()), "{path:?}");
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(&path).collect();
        assert!(!has_control(&decoded), "{path:?}");
        assert!(!climbs(&path), "{path:?}");
    }

    let Ok(url) = aliyun_backend_url(base.as_str(), &path) else {
        return;
    };
    let shown = url.as_str();
    assert_eq!(
        (url.scheme(), url.host_str(), url.port()),
        (base.scheme(), base.host_str(), base.port()),
        "{path:?} -> {shown}"
    );
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{shown}"
    );
    assert_eq!(url.query(), base.query(), "{path:?} -> {shown}");
    assert_eq!(url.fragment(), None, "{path:?} -> {shown}");
    let rest = url
        .path()
        .strip_prefix(base_path)
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or_else(|| panic!("{path:?} -> {shown}: not under {base_path:?}"));
    assert!(!climbs(rest), "{path:?} -> {shown}");
    assert!(!has_control(shown.as_bytes()), "{path:?} -> {shown}");
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(url.path()).collect();
    assert!(!has_control(&decoded), "{path:?} -> {shown}");
    assert_eq!(Url::parse(shown).as_ref(), Ok(&url), "{path:?}");
});
