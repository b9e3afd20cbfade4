//! AWS Signature V4 as the push API checks it: the canonical pieces (dot segments, the
//! query, the signed headers), the `Authorization` and `x-amz-date` parsers, and the whole
//! precheck + verify over an arbitrary request.
//!
//! The input is a request in a small text form, so seeds are real signed requests and the
//! mutations stay readable:
//!
//! ```text
//! METHOD PATH[?QUERY] [SKEW]      the clock is x-amz-date + SKEW seconds (default 60)
//! name: value                     headers, one a line
//!
//! body
//! ```

#![no_main]

use std::time::{Duration, SystemTime};

use gateway::SigV4Key;
use gateway::fuzzing::{
    SignedRequest, sigv4_canonical_headers, sigv4_canonical_query, sigv4_check,
    sigv4_parse_amz_date, sigv4_parse_authorization, sigv4_remove_dot_segments,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// The key of the botocore-signed seeds (the test key of `auth/sigv4.rs`).
fn key() -> SigV4Key {
    SigV4Key {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
    }
}

/// 2026-11-22T19:07:46Z, the seeds' signing time.
const SIGNED_AT: Duration = Duration::from_secs(1_795_374_466);

fn check_canonical_path(path: &str) {
    let normalized = sigv4_remove_dot_segments(path);
    assert!(normalized.starts_with('/'), "{path:?} -> {normalized:?}");
    assert!(
        !normalized.split('/').any(|s| s == "." || s == ".."),
        "{path:?} -> {normalized:?}"
    );
    assert_eq!(
        sigv4_remove_dot_segments(&normalized),
        normalized,
        "{path:?}"
    );
}

fn check_canonical_query(query: Option<&str>) {
    let canonical = sigv4_canonical_query(query);
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)),
        "{query:?} -> {canonical:?}"
    );
    let pairs: Vec<&str> = if canonical.is_empty() {
        Vec::new()
    } else {
        canonical.split('&').collect()
    };
    let split: Vec<(&str, &str)> = pairs
        .iter()
        .map(|p| p.split_once('=').expect("every canonical pair has ="))
        .collect();
    assert!(split.is_sorted(), "{query:?} -> {canonical:?}");
    assert_eq!(
        sigv4_canonical_query(Some(&canonical)),
        canonical,
        "{query:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let skew: i64 = words.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        // Only what hyper would have let through.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }

    check_canonical_path(path);
    check_canonical_query(query);

    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(request_line);
    if let Ok(fields) = sigv4_parse_authorization(authorization) {
        for field in fields {
            assert!(authorization.contains(field));
        }
        let _ = sigv4_canonical_headers(&headers, fields[1]);
    }

    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(request_line);
    let signed_at = sigv4_parse_amz_date(amz_date).unwrap_or(SystemTime::UNIX_EPOCH + SIGNED_AT);
    let offset = Duration::from_secs(skew.unsigned_abs());
    let now = if skew >= 0 {
        signed_at.checked_add(offset)
    } else {
        signed_at.checked_sub(offset)
    };
    let Some(now) = now else {
        return;
    };

    let request = SignedRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    if sigv4_check(&key(), now, &request).is_ok() {
        // A verified signature covers the body: one more byte must not verify.
        let longer = [body.as_bytes(), b"x"].concat();
        let altered = SignedRequest {
            body: &longer,
            ..request
        };
        assert!(sigv4_check(&key(), now, &altered).is_err());
    }
});
