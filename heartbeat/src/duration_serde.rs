//! How durations appear in JSON and TOML.
//!
//! Measurements (attempt start, latency, outage bounds) are integer
//! **microseconds** in fields suffixed `_us`: exact, sortable, and free of
//! float rounding when the analysis subtracts them. Settings (timeouts) are
//! integer **milliseconds** in fields suffixed `_ms`, which is what a person
//! writes in a scenario file. Durations beyond `u64::MAX` microseconds
//! (about 584 000 years) saturate.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

fn saturating_u64(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// `Duration` as integer microseconds.
pub(crate) mod micros {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(saturating_u64(d.as_micros()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// `Option<Duration>` as integer microseconds or `null`.
pub(crate) mod option_micros {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&saturating_u64(d.as_micros())),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_micros))
    }
}

/// `Duration` as integer milliseconds (sub-millisecond parts are truncated).
pub(crate) mod millis {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(saturating_u64(d.as_millis()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
