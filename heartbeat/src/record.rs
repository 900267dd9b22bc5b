//! What a probe saw, attempt by attempt.
//!
//! Recordings are raw observations, not conclusions: every attempt is kept
//! with its start (relative to the run's [`Clock`](crate::Clock)), latency and
//! outcome, so outages and lost writes can be recomputed from the JSON later
//! with different rules. Durations are integer microseconds in fields
//! suffixed `_us` (`started_us`, `latency_us`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outage::{self, Outage};
use crate::role::Role;

/// One probe attempt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// Attempt number within the recording: 0, 1, 2, … without gaps.
    pub seq: u64,
    /// When the attempt started, since the run's clock origin.
    #[serde(rename = "started_us", with = "crate::duration_serde::micros")]
    pub started: Duration,
    /// How long the attempt took, success or not.
    #[serde(rename = "latency_us", with = "crate::duration_serde::micros")]
    pub latency: Duration,
    /// What happened.
    pub outcome: Outcome,
    /// Reader only: the writer's `seq` found in the beat row of this run.
    pub observed_seq: Option<u64>,
}

impl Attempt {
    /// When the attempt finished: `started + latency`.
    pub fn completed(&self) -> Duration {
        self.started.saturating_add(self.latency)
    }
}

/// Result of one attempt.
///
/// Serialized internally tagged: `{"kind":"ok"}`,
/// `{"kind":"connect_failed","error":"…"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The database answered correctly; for a writer, the write is acknowledged.
    Ok,
    /// The query did not complete within the query timeout on an established
    /// session. For a writer the write may or may not have committed.
    Timeout,
    /// No session could be established (refused, unreachable, authentication,
    /// not a read-write server, or connect timeout).
    ConnectFailed {
        /// Human-readable cause, including its source chain.
        error: String,
    },
    /// The session existed but the query failed (connection reset, read-only
    /// transaction, server shutting down, …).
    QueryFailed {
        /// Human-readable cause, including its source chain.
        error: String,
    },
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// The error text of a failed attempt, if any.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::ConnectFailed { error } | Outcome::QueryFailed { error } => Some(error),
            Outcome::Ok | Outcome::Timeout => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::ConnectFailed { error } => write!(f, "connect failed: {error}"),
            Outcome::QueryFailed { error } => write!(f, "query failed: {error}"),
        }
    }
}

/// A name of run `run_id` on a server (a tube, a file): `heartbeat-` and the
/// run id with every character other than ASCII letters, digits and those in
/// `also_allowed` replaced by `-`, at most 200 characters. Only ASCII is
/// left, so that is 200 bytes too.
pub(crate) fn name_of_run(run_id: &str, also_allowed: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || also_allowed.contains(c);
    let name: String = run_id.chars().map(|c| if allowed(c) { c } else { '-' }).collect();
    format!("heartbeat-{name}").chars().take(200).collect()
}

/// Everything one probe recorded during a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recording {
    /// Name of the probe (e.g. `writer`, `reader`).
    pub probe: String,
    /// What the probe did.
    pub role: Role,
    /// Run identifier, also written into the database by the writer.
    pub run_id: String,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl Recording {
    /// Sequence numbers of writes the database acknowledged: the `seq` of
    /// every `Ok` attempt of a writer. Empty for a reader.
    pub fn acknowledged_writes(&self) -> Vec<u64> {
        if self.role != Role::Writer {
            return Vec::new();
        }
        self.attempts.iter().filter(|a| a.outcome.is_ok()).map(|a| a.seq).collect()
    }

    /// Outage windows of this recording; see [`outage::outages`].
    pub fn outages(&self) -> Vec<Outage> {
        outage::outages(&self.attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(seq: u64, outcome: Outcome) -> Attempt {
        Attempt {
            seq,
            started: Duration::from_millis(seq * 100),
            latency: Duration::from_micros(1500),
            outcome,
            observed_seq: None,
        }
    }

    fn recording(role: Role) -> Recording {
        Recording {
            probe: "p".into(),
            role,
            run_id: "r1".into(),
            attempts: vec![
                attempt(0, Outcome::Ok),
                attempt(1, Outcome::Timeout),
                attempt(2, Outcome::QueryFailed { error: "boom".into() }),
                attempt(3, Outcome::Ok),
            ],
        }
    }

    #[test]
    fn writer_acknowledges_only_ok_attempts() {
        assert_eq!(recording(Role::Writer).acknowledged_writes(), vec![0, 3]);
    }

    #[test]
    fn reader_acknowledges_nothing() {
        assert!(recording(Role::Reader).acknowledged_writes().is_empty());
    }

    #[test]
    fn outages_delegate_to_outage_math() {
        let outages = recording(Role::Writer).outages();
        assert_eq!(outages.len(), 1);
        assert_eq!(outages[0].failed_attempts, 2);
        assert_eq!(outages[0].start, Duration::from_millis(100));
    }

    #[test]
    fn attempt_json_uses_microseconds_and_tagged_outcomes() {
        let a = Attempt {
            seq: 7,
            started: Duration::from_micros(1_234_567),
            latency: Duration::from_micros(890),
            outcome: Outcome::ConnectFailed { error: "refused".into() },
            observed_seq: Some(5),
        };
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "seq": 7,
                "started_us": 1_234_567,
                "latency_us": 890,
                "outcome": {"kind": "connect_failed", "error": "refused"},
                "observed_seq": 5
            })
        );
        assert_eq!(serde_json::from_value::<Attempt>(json).expect("back"), a);
    }

    #[test]
    fn unit_outcomes_serialize_as_bare_kinds() {
        assert_eq!(serde_json::to_string(&Outcome::Ok).expect("json"), r#"{"kind":"ok"}"#);
        assert_eq!(serde_json::to_string(&Outcome::Timeout).expect("json"), r#"{"kind":"timeout"}"#);
    }

    #[test]
    fn outcome_helpers() {
        assert!(Outcome::Ok.is_ok());
        assert!(!Outcome::Timeout.is_ok());
        let failed = Outcome::QueryFailed { error: "x".into() };
        assert!(!failed.is_ok());
        assert_eq!(failed.error(), Some("x"));
        assert_eq!(failed.to_string(), "query failed: x");
    }

    #[test]
    fn recording_round_trips_through_json() {
        let r = recording(Role::Writer);
        let json = serde_json::to_string(&r).expect("json");
        let back: Recording = serde_json::from_str(&json).expect("back");
        assert_eq!(back.attempts, r.attempts);
        assert_eq!(back.role, Role::Writer);
        assert!(json.contains(r#""role":"writer""#), "{json}");
    }
}
