//! A client's frame rate: a token bucket.

use std::time::Instant;

/// A token bucket: `rate` per second, bursts of `2 * rate`.
#[derive(Debug)]
pub struct RateLimit {
    /// Tokens left.
    tokens: f64,
    /// Refill per second.
    rate: f64,
    /// Last refill.
    at: Instant,
}

impl RateLimit {
    /// A full bucket of `rate` frames per second (at least 1).
    pub fn new(rate: u32) -> Self {
        Self::starting(rate, Instant::now())
    }

    fn starting(rate: u32, at: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        RateLimit {
            tokens: rate * 2.0,
            rate,
            at,
        }
    }

    /// Takes a token for one frame now; false when none is left.
    pub fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> bool {
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.at).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_of_twice_the_rate_then_the_rate_sustained() {
        let start = Instant::now();
        let mut limit = RateLimit::starting(10, start);
        let burst = (0..30).filter(|_| limit.allow_at(start)).count();
        assert_eq!(burst, 20, "a full bucket holds twice the rate");
        assert!(!limit.allow_at(start));
        // A second later ten more tokens came, no more.
        let later = start + Duration::from_secs(1);
        let refilled = (0..30).filter(|_| limit.allow_at(later)).count();
        assert_eq!(refilled, 10);
        // A long pause fills the bucket only to its brim.
        let much_later = later + Duration::from_secs(60);
        let capped = (0..100).filter(|_| limit.allow_at(much_later)).count();
        assert_eq!(capped, 20);
    }

    #[test]
    fn a_zero_rate_still_lets_one_frame_a_second() {
        let start = Instant::now();
        let mut limit = RateLimit::starting(0, start);
        assert!(limit.allow_at(start) && limit.allow_at(start));
        assert!(!limit.allow_at(start));
        assert!(limit.allow_at(start + Duration::from_secs(1)));
    }
}
