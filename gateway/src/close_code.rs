//! Close codes the gateway uses (RFC 6455 §7.4.1, and one of the private range).

/// Normal closure (max age, closed by a function).
pub const NORMAL: u16 = 1000;
/// Server going away (graceful shutdown, idle timeout, lost pongs).
pub const GOING_AWAY: u16 = 1001;
/// Protocol error (reserved bits, an unmasked frame, a bad opcode or close payload).
pub const PROTOCOL: u16 = 1002;
/// A text message (or close reason) that is not UTF-8.
pub const INVALID_DATA: u16 = 1007;
/// Policy violation (rate limit, too many messages in flight).
pub const POLICY: u16 = 1008;
/// Message too big.
pub const TOO_BIG: u16 = 1009;
/// Server error (a Tencent transport function failed).
pub const SERVER_ERROR: u16 = 1011;
/// The client did not read fast enough (its outbound queue filled, or a write to it
/// outlived the write deadline).
pub const TOO_SLOW: u16 = 4408;
