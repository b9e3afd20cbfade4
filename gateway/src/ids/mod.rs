//! Fresh ids and the node's clock in the formats events carry; lists of ids a call names,
//! capped before any work.
//!
//! # Layout
//! - `mod.rs`: [`new_id`], [`request_id`], [`now_ms`], the time formats.
//! - `lists.rs`: [`distinct_capped`], [`capped_strings`].

mod lists;

pub use lists::{capped_strings, distinct_capped};

use rand::RngCore;
use store_core::Clock;

/// A fresh, unguessable id: 128 random bits, hex (connection ids, request ids).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh request id in API Gateway's form for WebSocket APIs (`cVNbxF8doAMF8wQ=`:
/// 88 random bits, base64), as events carry it in `requestContext.requestId` and the
/// handshake's answer in `x-amzn-RequestId`.
pub fn request_id() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 11];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Now, epoch ms.
pub fn now_ms() -> u64 {
    store_core::SystemClock.now_ms()
}

fn datetime(epoch_ms: u64) -> time::OffsetDateTime {
    let nanos = i128::from(epoch_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-22T18:31:12.123Z`: ISO-8601 in UTC with milliseconds, as AWS's GetConnection
/// answers (and every SDK parses).
pub fn iso8601(epoch_ms: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    datetime(epoch_ms).format(format).unwrap_or_default()
}

/// `22/Nov/2026:18:31:12 +0000`: AWS's `requestContext.requestTime`.
pub fn request_time(epoch_ms: u64) -> String {
    let format = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    datetime(epoch_ms).format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_as_aws_does() {
        assert_eq!(
            super::iso8601(1_705_751_697_419),
            "2024-01-20T11:54:57.419Z"
        );
        assert_eq!(
            super::request_time(1_705_751_700_453),
            "20/Jan/2024:11:55:00 +0000"
        );
    }
}
