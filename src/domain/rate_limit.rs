//! Per-directory request rate limit: one token bucket per directory, kept
//! in this process. Several server instances each allow the configured
//! rate, so the limit a directory sees is per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

/// Sustained rate and burst of a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_sec: f64,
    burst: f64,
}

impl Rate {
    /// `None` when `per_sec` is 0 (no limit). Without a burst, the rate
    /// rounded up (at least 1) may be spent at once.
    pub fn new(per_sec: f64, burst: Option<u32>) -> Option<Self> {
        if !per_sec.is_finite() || per_sec <= 0.0 {
            return None;
        }
        let burst = burst.map_or(per_sec.ceil().max(1.0), |b| f64::from(b.max(1)));
        Some(Self { per_sec, burst })
    }
}

/// A token bucket: full at first, refilled at `per_sec`, at most `burst`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            at: now,
        }
    }

    /// Takes one token, or tells how many seconds until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), f64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(rate.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.tokens) / rate.per_sec)
        }
    }
}

/// The buckets of every directory that made a request to this instance.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `directory`. Refused: the whole seconds to wait
    /// (at least 1), for `Retry-After`.
    pub fn check(&self, directory: Uuid) -> Result<(), u64> {
        self.check_at(directory, Instant::now())
    }

    fn check_at(&self, directory: Uuid, now: Instant) -> Result<(), u64> {
        // A panic while holding the lock leaves the map consistent (every
        // update is a single assignment), so a poisoned lock is usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry(directory)
            .or_insert_with(|| Bucket::full(self.rate, now))
            .take(self.rate, now)
            // The epsilon keeps float noise (4.0000000001) from adding a second.
            .map_err(|wait| (wait - 1e-6).ceil().clamp(1.0, 86_400.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn zero_means_no_limit() {
        assert!(Rate::new(0.0, Some(5)).is_none());
        assert_eq!(Rate::new(2.5, None).map(|r| r.burst), Some(3.0));
        assert_eq!(Rate::new(0.2, None).map(|r| r.burst), Some(1.0));
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(Rate::new(1.0, Some(3)).unwrap());
        let dir = Uuid::now_v7();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(dir, t0), Ok(()));
        }
        assert_eq!(limiter.check_at(dir, t0), Err(1));
        // Another directory has its own bucket.
        assert_eq!(limiter.check_at(Uuid::now_v7(), t0), Ok(()));
        assert_eq!(
            limiter.check_at(dir, t0 + Duration::from_millis(1100)),
            Ok(())
        );
        assert!(
            limiter
                .check_at(dir, t0 + Duration::from_millis(1200))
                .is_err()
        );
    }

    #[test]
    fn retry_after_counts_whole_seconds() {
        let limiter = RateLimiter::new(Rate::new(0.1, Some(1)).unwrap());
        let dir = Uuid::now_v7();
        let t0 = Instant::now();
        assert_eq!(limiter.check_at(dir, t0), Ok(()));
        assert_eq!(limiter.check_at(dir, t0), Err(10));
        assert_eq!(limiter.check_at(dir, t0 + Duration::from_secs(5)), Err(5));
    }
}
