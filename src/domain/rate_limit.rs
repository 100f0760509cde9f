//! Per-directory request rate limit: one bucket per directory, kept in
//! this process (`governor`'s keyed GCRA limiter: the burst at once, then
//! one request per `1 / per_sec`). Several server instances each allow
//! the configured rate, so the limit a directory sees is per instance.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};
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

    fn quota(self) -> Quota {
        // One request every `1 / per_sec` (at least a nanosecond apart).
        let period = Duration::from_secs_f64(1.0 / self.per_sec).max(Duration::from_nanos(1));
        let burst =
            NonZeroU32::new(self.burst.min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| unreachable!("a period of at least 1 ns"))
            .allow_burst(burst)
    }
}

/// The buckets of every directory that made a request to this instance.
pub struct RateLimiter<C: Clock = MonotonicClock> {
    limiter: Gcra<Uuid, DashMapStateStore<Uuid>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, MonotonicClock)
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(rate: Rate, clock: C) -> Self {
        Self {
            limiter: Gcra::dashmap_with_clock(rate.quota(), clock.clone()),
            clock,
        }
    }

    /// Counts a request of `directory`. Refused: the whole seconds to wait
    /// (at least 1), for `Retry-After`.
    pub fn check(&self, directory: Uuid) -> Result<(), u64> {
        self.limiter.check_key(&directory).map_err(|refused| {
            let wait = refused.wait_time_from(self.clock.now()).as_secs_f64();
            // The epsilon keeps float noise (4.0000000001) from adding a second.
            (wait - 1e-6).ceil().clamp(1.0, 86_400.0) as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn zero_means_no_limit() {
        assert!(Rate::new(0.0, Some(5)).is_none());
        assert_eq!(Rate::new(2.5, None).map(|r| r.burst), Some(3.0));
        assert_eq!(Rate::new(0.2, None).map(|r| r.burst), Some(1.0));
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(Rate::new(1.0, Some(3)).unwrap(), clock.clone());
        let dir = Uuid::now_v7();
        for _ in 0..3 {
            assert_eq!(limiter.check(dir), Ok(()));
        }
        assert_eq!(limiter.check(dir), Err(1));
        // Another directory has its own bucket.
        assert_eq!(limiter.check(Uuid::now_v7()), Ok(()));
        clock.advance(Duration::from_millis(1100));
        assert_eq!(limiter.check(dir), Ok(()));
        clock.advance(Duration::from_millis(100));
        assert!(limiter.check(dir).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(Rate::new(0.1, Some(1)).unwrap(), clock.clone());
        let dir = Uuid::now_v7();
        assert_eq!(limiter.check(dir), Ok(()));
        assert_eq!(limiter.check(dir), Err(10));
        clock.advance(Duration::from_secs(5));
        assert_eq!(limiter.check(dir), Err(5));
    }

    #[test]
    fn a_rate_far_above_a_request_a_nanosecond_still_limits_its_burst() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(Rate::new(1e12, Some(2)).unwrap(), clock.clone());
        let dir = Uuid::now_v7();
        assert_eq!(limiter.check(dir), Ok(()));
        assert_eq!(limiter.check(dir), Ok(()));
        assert_eq!(limiter.check(dir), Err(1));
    }
}
