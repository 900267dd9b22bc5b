//! One monotonic time origin per run.
//!
//! Every probe and the fault injector of a run report instants as offsets from
//! the same origin, so "the writer failed 12 ms after the fault" can be read
//! straight off the recordings without correlating wall clocks. The clock is
//! tokio's [`Instant`], which is monotonic (immune to NTP steps) and honours
//! `tokio::time::pause()`, so tests can drive it deterministically.

use std::time::Duration;

use tokio::time::Instant;

/// A shared monotonic origin; cheap to copy into every task of a run.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// Starts a clock whose origin is now.
    pub fn start() -> Self {
        Self { origin: Instant::now() }
    }

    /// Time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        self.since_origin(Instant::now())
    }

    /// Offset of `t` from the origin; instants before the origin map to zero.
    pub fn since_origin(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn offsets_follow_the_tokio_clock() {
        let clock = Clock::start();
        assert_eq!(clock.elapsed(), Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(clock.elapsed(), Duration::from_millis(250));
        let later = Instant::now() + Duration::from_secs(1);
        assert_eq!(clock.since_origin(later), Duration::from_millis(1250));
    }

    #[tokio::test(start_paused = true)]
    async fn instants_before_the_origin_are_zero() {
        let before = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let clock = Clock::start();
        assert_eq!(clock.since_origin(before), Duration::ZERO);
    }
}
