//! The ids and clock readings the Runtime API carries.

use rand::RngCore;

/// A Lambda request id: a random (version 4) UUID, as Lambda's are.
pub(crate) fn request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An X-Ray trace header (`Root=1-<epoch hex>-<96 random bits>;Parent=…;Sampled=0`), as
/// Lambda hands each invocation one.
pub(crate) fn trace_id() -> String {
    let mut root = [0u8; 12];
    let mut parent = [0u8; 8];
    rand::rng().fill_bytes(&mut root);
    rand::rng().fill_bytes(&mut parent);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        epoch_ms() / 1000,
        hex(&root),
        hex(&parent)
    )
}

/// Now, epoch ms.
pub(crate) fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A log stream name as Lambda gives one: `2026/12/06/[$LATEST]<32 hex>`.
pub(crate) fn log_stream() -> String {
    let format = time::macros::format_description!("[year]/[month]/[day]");
    let date = time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default();
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{date}/[$LATEST]{hex}")
}
