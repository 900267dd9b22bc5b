//! How fast and how patiently a probe works.
//!
//! The rate sets the time resolution of an outage measurement (10 Hz measures
//! to ~100 ms, 100 Hz to ~10 ms). The timeouts decide what counts as "down":
//! a server that answers slower than `query_timeout` is unavailable as far as
//! a client is concerned, and a dead VIP must be detected in bounded time
//! rather than after the kernel's TCP retries (minutes).
//!
//! Serialized with the timeouts as integer milliseconds
//! (`connect_timeout_ms`, `query_timeout_ms`); missing fields take defaults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Highest accepted probe rate. Above this the scheduler, not the database,
/// dominates what is measured.
pub const MAX_RATE_HZ: f64 = 1000.0;

/// Errors from validating probe settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    /// The rate is not a finite number in `(0, MAX_RATE_HZ]`.
    #[error("probe rate {rate_hz} Hz is invalid: expected a finite rate above 0 and at most {MAX_RATE_HZ} Hz")]
    InvalidRate {
        /// The rejected rate.
        rate_hz: f64,
    },
    /// A timeout of zero would fail every attempt.
    #[error("{name} must be greater than zero")]
    ZeroTimeout {
        /// Which timeout (`connect_timeout` or `query_timeout`).
        name: &'static str,
    },
}

/// Rate and timeouts of one probe.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProbeSettings {
    /// Attempts per second (default 10).
    pub rate_hz: f64,
    /// Budget for establishing a session: TCP connect, authentication and
    /// statement preparation (default 1 s).
    #[serde(rename = "connect_timeout_ms", with = "crate::duration_serde::millis")]
    pub connect_timeout: Duration,
    /// Budget for one query on an established session (default 1 s).
    #[serde(rename = "query_timeout_ms", with = "crate::duration_serde::millis")]
    pub query_timeout: Duration,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self { rate_hz: 10.0, connect_timeout: Duration::from_secs(1), query_timeout: Duration::from_secs(1) }
    }
}

impl ProbeSettings {
    /// Checks the rate and timeouts; call this when loading a scenario.
    pub fn validate(&self) -> Result<(), SettingsError> {
        period_from_rate(self.rate_hz)?;
        if self.connect_timeout.is_zero() {
            return Err(SettingsError::ZeroTimeout { name: "connect_timeout" });
        }
        if self.query_timeout.is_zero() {
            return Err(SettingsError::ZeroTimeout { name: "query_timeout" });
        }
        Ok(())
    }

    /// Time between attempt starts at `rate_hz`.
    pub fn period(&self) -> Result<Duration, SettingsError> {
        period_from_rate(self.rate_hz)
    }
}

/// Converts a rate in Hz into the period between attempt starts.
pub fn period_from_rate(rate_hz: f64) -> Result<Duration, SettingsError> {
    if !(rate_hz.is_finite() && rate_hz > 0.0 && rate_hz <= MAX_RATE_HZ) {
        return Err(SettingsError::InvalidRate { rate_hz });
    }
    Duration::try_from_secs_f64(1.0 / rate_hz).map_err(|_| SettingsError::InvalidRate { rate_hz })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ten_hertz_and_one_second() {
        let s = ProbeSettings::default();
        assert_eq!(s.rate_hz, 10.0);
        assert_eq!(s.connect_timeout, Duration::from_secs(1));
        assert_eq!(s.query_timeout, Duration::from_secs(1));
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.period(), Ok(Duration::from_millis(100)));
    }

    #[test]
    fn hundred_hertz_is_ten_milliseconds() {
        assert_eq!(period_from_rate(100.0), Ok(Duration::from_millis(10)));
    }

    #[test]
    fn rejects_nonsense_rates() {
        for rate_hz in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_RATE_HZ * 2.0] {
            assert!(period_from_rate(rate_hz).is_err(), "{rate_hz} accepted");
        }
    }

    #[test]
    fn rejects_zero_timeouts() {
        let s = ProbeSettings { query_timeout: Duration::ZERO, ..ProbeSettings::default() };
        assert_eq!(s.validate(), Err(SettingsError::ZeroTimeout { name: "query_timeout" }));
    }

    #[test]
    fn serializes_timeouts_as_milliseconds() {
        let s = ProbeSettings {
            rate_hz: 100.0,
            connect_timeout: Duration::from_millis(500),
            query_timeout: Duration::from_millis(250),
        };
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json, serde_json::json!({"rate_hz": 100.0, "connect_timeout_ms": 500, "query_timeout_ms": 250}));
        assert_eq!(serde_json::from_value::<ProbeSettings>(json).expect("back"), s);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let s: ProbeSettings = serde_json::from_str(r#"{"rate_hz": 50}"#).expect("json");
        assert_eq!(s.rate_hz, 50.0);
        assert_eq!(s.query_timeout, Duration::from_secs(1));
    }
}
