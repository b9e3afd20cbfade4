//! The nonces of APP-signed calls, remembered while their signature could still be
//! replayed: Alibaba refuses a `X-Ca-Nonce` seen before within the timestamp window.
//!
//! Bounded: at most `cap` nonces are remembered (16 bytes each in the set and 16 in the
//! queue, as 64-bit hashes keyed at start, so a caller cannot aim for collisions); when
//! the window holds more live ones than that, new calls are refused until some expire,
//! never let through unchecked.

use std::collections::{HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefused {
    /// Seen within the window: a replay.
    Used,
    /// The window already holds as many nonces as the node remembers.
    Full,
}

/// Nonces seen within the window.
#[derive(Debug)]
pub struct Nonces {
    /// The set and the order they expire in.
    seen: Mutex<Seen>,
    /// Hashes (app key, nonce) with a key chosen at start.
    hasher: std::collections::hash_map::RandomState,
    /// Most nonces remembered at once.
    cap: usize,
    /// How long a signature stays valid after (or before) its timestamp, in ms.
    window_ms: u64,
}

#[derive(Debug, Default)]
struct Seen {
    /// Hashes of live nonces.
    live: HashSet<u64>,
    /// (expires at ms, hash), in the order they were recorded; expiry times are not
    /// monotonic (timestamps differ), so an entry is dropped once it and all before it
    /// expired: a late one holds the ones behind it a little longer, never less.
    order: VecDeque<(u64, u64)>,
}

impl Nonces {
    /// Remembers up to `cap` nonces for `window_ms` past their timestamp.
    pub fn new(cap: usize, window_ms: u64) -> Self {
        Nonces {
            seen: Mutex::new(Seen::default()),
            hasher: std::collections::hash_map::RandomState::new(),
            cap,
            window_ms,
        }
    }

    /// Records `nonce` of `app_key` signed at `timestamp_ms`, at `now_ms`; `Err` when seen
    /// within the window, or when the window is full.
    pub fn record(
        &self,
        app_key: &str,
        nonce: &str,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), NonceRefused> {
        let hash = self.hasher.hash_one((app_key, nonce));
        // A signature stays valid until its timestamp leaves the window; so does its nonce.
        let expires = timestamp_ms.max(now_ms).saturating_add(self.window_ms);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Amortised: each entry is pushed once and popped once.
        while let Some(&(at, old)) = seen.order.front() {
            if at > now_ms {
                break;
            }
            seen.order.pop_front();
            seen.live.remove(&old);
        }
        if seen.live.contains(&hash) {
            return Err(NonceRefused::Used);
        }
        if seen.live.len() >= self.cap {
            return Err(NonceRefused::Full);
        }
        seen.live.insert(hash);
        seen.order.push_back((expires, hash));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u64 = 15 * 60 * 1000;

    #[test]
    fn a_nonce_is_refused_again_until_its_window_ends() {
        let nonces = Nonces::new(10, WINDOW);
        assert_eq!(nonces.record("app", "n1", 1_000, 1_000), Ok(()));
        assert_eq!(
            nonces.record("app", "n1", 1_000, 2_000),
            Err(NonceRefused::Used)
        );
        // Another app's nonce is its own.
        assert_eq!(nonces.record("other", "n1", 1_000, 2_000), Ok(()));
        assert_eq!(
            nonces.record("app", "n1", 1_000, 1_000 + WINDOW + 1),
            Ok(())
        );
    }

    #[test]
    fn a_future_timestamp_keeps_its_nonce_longer() {
        let nonces = Nonces::new(10, WINDOW);
        let ahead = 10 * 60 * 1000;
        assert_eq!(nonces.record("app", "n", ahead, 0), Ok(()));
        assert_eq!(
            nonces.record("app", "n", ahead, WINDOW + 1),
            Err(NonceRefused::Used)
        );
    }

    #[test]
    fn a_full_window_refuses_rather_than_forgets() {
        let nonces = Nonces::new(2, WINDOW);
        assert_eq!(nonces.record("app", "a", 0, 0), Ok(()));
        assert_eq!(nonces.record("app", "b", 0, 0), Ok(()));
        assert_eq!(nonces.record("app", "c", 0, 0), Err(NonceRefused::Full));
        assert_eq!(nonces.record("app", "a", 0, 0), Err(NonceRefused::Used));
        assert_eq!(nonces.record("app", "c", 0, WINDOW + 1), Ok(()));
    }
}
