//! A circuit breaker per push endpoint: after a node could not be reached (refused, timed
//! out, hung), calls to it are skipped for a pause instead of each paying the timeout
//! again; one call is let through when the pause ends, and a success closes the breaker.
//! A node that died is tried about once per pause until its connections' leases end and
//! no broadcast names it any more.
//!
//! Pauses double from [`FIRST_PAUSE`] up to [`MAX_PAUSE`] while the node keeps failing;
//! while a trial call is out, the others keep skipping. A call abandoned by its caller (a
//! function's own timeout) after [`SLOW`] without an answer counts as a failure: a hung
//! node is cut short by the caller's timeout more often than by the pusher's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The pause after a first failure: about one push timeout, so that a hung node costs at
/// most every other broadcast window one timeout.
pub const FIRST_PAUSE: Duration = Duration::from_secs(5);

/// The longest pause.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// A call abandoned unanswered after this long counts as a failure.
pub const SLOW: Duration = Duration::from_secs(1);

/// Endpoints tracked at most (nodes that failed recently); beyond it a failing endpoint is
/// simply not paused, so a flood of distinct bad URLs cannot grow the map.
const MAX_TRACKED: usize = 10_000;

/// The breakers of every endpoint a pusher calls.
#[derive(Debug, Default)]
pub struct Breakers {
    /// Endpoints that failed and have not succeeded since.
    failing: Mutex<HashMap<String, Failing>>,
}

/// An endpoint that failed.
#[derive(Debug, Clone, Copy)]
struct Failing {
    /// Failures in a row.
    failures: u32,
    /// Calls are skipped until then.
    paused_until: Instant,
}

impl Breakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failing>> {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(left)` while calls to `endpoint` are skipped (for `left` more); `Ok` when a
    /// call may go: the breaker is closed, or its pause is over and this is the one trial
    /// call (the others keep skipping until it is answered or another pause has passed).
    pub fn admit(&self, endpoint: &str, now: Instant) -> Result<(), Duration> {
        match self.lock().get_mut(endpoint) {
            None => Ok(()),
            Some(failing) if now < failing.paused_until => Err(failing.paused_until - now),
            Some(failing) => {
                failing.paused_until = now + pause_after(failing.failures);
                Ok(())
            }
        }
    }

    /// `endpoint` could not be reached: pause it (longer each time in a row). Returns the
    /// pause.
    pub fn failed(&self, endpoint: &str, now: Instant) -> Duration {
        let mut failing = self.lock();
        if failing.len() >= MAX_TRACKED && !failing.contains_key(endpoint) {
            return Duration::ZERO;
        }
        let entry = failing.entry(endpoint.to_owned()).or_insert(Failing {
            failures: 0,
            paused_until: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        let pause = pause_after(entry.failures);
        entry.paused_until = now + pause;
        pause
    }

    /// `endpoint` answered: close its breaker.
    pub fn succeeded(&self, endpoint: &str) {
        let mut failing = self.lock();
        if !failing.is_empty() {
            failing.remove(endpoint);
        }
    }
}

/// The pause after `failures` failures in a row.
fn pause_after(failures: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1 << failures.saturating_sub(1).min(8))
        .min(MAX_PAUSE)
}

/// Watches one call to an endpoint: dropped before [`CallGuard::answered`], after
/// [`SLOW`], the call counts as failed.
#[derive(Debug)]
pub struct CallGuard<'a> {
    /// Whose call.
    breakers: &'a Breakers,
    /// To whom.
    endpoint: &'a str,
    /// When it went out.
    started: Instant,
    /// Set once an answer (or an error) came.
    done: bool,
}

impl Breakers {
    /// Starts watching a call to `endpoint`.
    pub fn watch<'a>(&'a self, endpoint: &'a str) -> CallGuard<'a> {
        CallGuard {
            breakers: self,
            endpoint,
            started: Instant::now(),
            done: false,
        }
    }
}

impl CallGuard<'_> {
    /// The call ended (either way; the caller reports which).
    pub fn answered(mut self) {
        self.done = true;
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if !self.done && self.started.elapsed() >= SLOW {
            let pause = self.breakers.failed(self.endpoint, Instant::now());
            tracing::warn!(
                node = self.endpoint,
                pause_ms = pause.as_millis() as u64,
                "a push was abandoned unanswered; skipping the node for a while"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_endpoint_is_paused_then_tried_again_and_closed_by_a_success() {
        let breakers = Breakers::default();
        let t0 = Instant::now();
        assert_eq!(breakers.admit("http://a", t0), Ok(()));
        assert_eq!(breakers.failed("http://a", t0), FIRST_PAUSE);
        assert!(breakers.admit("http://a", t0).is_err());
        assert_eq!(
            breakers.admit("http://b", t0),
            Ok(()),
            "others are unaffected"
        );
        // The pause over, one trial goes and the others still skip; it fails again: a
        // longer pause.
        let t1 = t0 + FIRST_PAUSE;
        assert_eq!(breakers.admit("http://a", t1), Ok(()));
        assert!(
            breakers.admit("http://a", t1).is_err(),
            "one trial at a time"
        );
        assert_eq!(breakers.failed("http://a", t1), FIRST_PAUSE * 2);
        assert!(breakers.admit("http://a", t1 + FIRST_PAUSE).is_err());
        breakers.succeeded("http://a");
        assert_eq!(breakers.admit("http://a", t1), Ok(()));
        assert_eq!(
            breakers.failed("http://a", t1),
            FIRST_PAUSE,
            "counting starts over"
        );
    }

    #[test]
    fn a_call_abandoned_after_a_long_wait_counts_as_a_failure() {
        let breakers = Breakers::default();
        let quick = breakers.watch("http://a");
        drop(quick);
        assert_eq!(
            breakers.admit("http://a", Instant::now()),
            Ok(()),
            "abandoned at once: not the node's fault"
        );
        let mut slow = breakers.watch("http://a");
        slow.started -= SLOW;
        drop(slow);
        assert!(breakers.admit("http://a", Instant::now()).is_err());
        let answered = breakers.watch("http://b");
        answered.answered();
        assert_eq!(breakers.admit("http://b", Instant::now()), Ok(()));
    }

    #[test]
    fn pauses_stop_growing_at_the_maximum() {
        let breakers = Breakers::default();
        let now = Instant::now();
        let mut pause = Duration::ZERO;
        for _ in 0..40 {
            pause = breakers.failed("http://a", now);
        }
        assert_eq!(pause, MAX_PAUSE);
    }
}
