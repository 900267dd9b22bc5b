//! Outage windows from a list of attempts: pure arithmetic, no I/O.
//!
//! # Definition
//!
//! An **outage** is a maximal run of consecutive failed attempts (anything
//! but [`Outcome::Ok`](crate::Outcome::Ok)), on the timeline of when
//! requests were sent: it starts at the *start* of its first failed attempt
//! and ends at the *start* of the first `Ok` attempt after it. Requests sent
//! in between were let down; the one sent at the end was served (how long it
//! took is its latency, reported apart). An outage with no `Ok` attempt
//! after it never recovered and has no end.
//!
//! # How far the true edges can be
//!
//! A request sent at the start of the last `Ok` attempt before the window
//! was served and one sent at the start of its first failed attempt was
//! not, so the true start lies between those two starts, however long the
//! failure took to come back. Likewise the true end lies between the start
//! of the window's last failed attempt and the start of the first `Ok`
//! after it. Each outage carries how far its true start and end can be from
//! the reported ones (`start_uncertainty_us`, `end_uncertainty_us`).
//! Open-loop probes (see [`crate::probe`]) start an attempt every period
//! even while earlier ones block on a connect timeout, so both are about one
//! period; a closed loop that waits out each 1 s timeout knows the end only
//! to about that second, whatever the rate.
//!
//! # Stalls are not outages
//!
//! Gaps between attempts are *not* counted as failures. Every attempt is
//! bounded by the probe's timeouts, so a database that does not answer shows
//! up as failed attempts, not as silence; silence only comes from the prober
//! itself (starved runtime, suspended host). That is a measurement problem,
//! not evidence about the database, so it is reported separately by
//! [`stalls`], letting the caller flag a run whose time resolution was worse
//! than its probe rate instead of inventing an outage.
//!
//! Attempts are taken in the order recorded (which is start order).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::Attempt;

/// One window during which a probe's attempts failed.
///
/// Serialized with integer microseconds: `start_us`, `end_us` (`null` if
/// never recovered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// Start of the first failed attempt, since the clock origin.
    #[serde(rename = "start_us", with = "crate::duration_serde::micros")]
    pub start: Duration,
    /// Start of the first `Ok` attempt after the failures; `None` if the
    /// probe never succeeded again.
    #[serde(rename = "end_us", with = "crate::duration_serde::option_micros")]
    pub end: Option<Duration>,
    /// Number of consecutive failed attempts in the window.
    pub failed_attempts: u32,
    /// How far the true start can be from `start` (either way).
    #[serde(rename = "start_uncertainty_us", with = "crate::duration_serde::micros", default)]
    pub start_uncertainty: Duration,
    /// How far the true end can be before `end`; `None` with no end.
    #[serde(rename = "end_uncertainty_us", with = "crate::duration_serde::option_micros", default)]
    pub end_uncertainty: Option<Duration>,
}

impl Outage {
    /// Length of the window, or `None` if it never ended.
    pub fn duration(&self) -> Option<Duration> {
        self.end.map(|end| end.saturating_sub(self.start))
    }

    /// How far the true duration can be from [`Outage::duration`]: both
    /// edges' uncertainty.
    pub fn duration_uncertainty(&self) -> Option<Duration> {
        self.end_uncertainty.map(|end| end + self.start_uncertainty)
    }
}

/// All outage windows, in order.
pub fn outages(attempts: &[Attempt]) -> Vec<Outage> {
    let mut windows = Vec::new();
    let mut open: Option<Outage> = None;
    let mut last_ok_started: Option<Duration> = None;
    let mut last_failed_started = Duration::ZERO;
    for attempt in attempts {
        match (attempt.outcome.is_ok(), open.as_mut()) {
            (false, Some(window)) => {
                window.failed_attempts = window.failed_attempts.saturating_add(1);
                last_failed_started = attempt.started;
            }
            (false, None) => {
                // Served when the last success started, not at this start.
                let before = last_ok_started.map_or(Duration::ZERO, |ok| attempt.started.saturating_sub(ok));
                open = Some(Outage {
                    start: attempt.started,
                    end: None,
                    failed_attempts: 1,
                    start_uncertainty: before,
                    end_uncertainty: None,
                });
                last_failed_started = attempt.started;
            }
            (true, Some(_)) => {
                if let Some(mut window) = open.take() {
                    // Back after the last failure started, by this success's start.
                    window.end = Some(attempt.started);
                    window.end_uncertainty = Some(attempt.started.saturating_sub(last_failed_started));
                    windows.push(window);
                }
            }
            (true, None) => {}
        }
        if attempt.outcome.is_ok() {
            last_ok_started = Some(attempt.started);
        }
    }
    windows.extend(open);
    windows
}

/// Outage windows that end strictly after `t` (or never end), e.g. the ones
/// that can be blamed on a fault injected at `t`. A window that started
/// before `t` but was still open at `t` is included.
pub fn outages_after(attempts: &[Attempt], t: Duration) -> Vec<Outage> {
    outages(attempts).into_iter().filter(|o| o.end.is_none_or(|end| end > t)).collect()
}

/// Completion time of the first `Ok` attempt that *started* at or after `t`.
///
/// Attempts already in flight at `t` are ignored: their success says nothing
/// about the state after `t` (e.g. after a restart).
pub fn first_ok_after(attempts: &[Attempt], t: Duration) -> Option<Duration> {
    attempts.iter().find(|a| a.started >= t && a.outcome.is_ok()).map(Attempt::completed)
}

/// A stretch during which the probe had no attempt in flight for longer than
/// expected: the prober, not the database, stalled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    /// The attempt after which the probe went quiet.
    pub after_seq: u64,
    /// Completion of that attempt.
    #[serde(rename = "from_us", with = "crate::duration_serde::micros")]
    pub from: Duration,
    /// Start of the next attempt.
    #[serde(rename = "to_us", with = "crate::duration_serde::micros")]
    pub to: Duration,
}

impl Stall {
    /// Time with no attempt in flight.
    pub fn gap(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }
}

/// Idle gaps longer than `threshold` between the completion of one attempt
/// and the start of the next.
///
/// A slow attempt is not a stall (its time is accounted for by its latency
/// and outcome); only time with nothing in flight is. With a healthy prober
/// the idle time is below one period, so a threshold of a few periods flags
/// runs whose measurements are coarser than the rate promises.
pub fn stalls(attempts: &[Attempt], threshold: Duration) -> Vec<Stall> {
    attempts
        .windows(2)
        .filter_map(|pair| {
            let (before, after) = (&pair[0], &pair[1]);
            let from = before.completed();
            (after.started.saturating_sub(from) > threshold).then_some(Stall {
                after_seq: before.seq,
                from,
                to: after.started,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    const PERIOD_MS: u64 = 100;
    const LATENCY_MS: u64 = 2;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Attempts every 100 ms taking 2 ms each; `pattern` has one char per
    /// attempt: `.` ok, `t` timeout, `c` connect failed, `q` query failed.
    fn attempts(pattern: &str) -> Vec<Attempt> {
        pattern
            .chars()
            .zip(0u64..)
            .map(|(c, seq)| Attempt {
                seq,
                started: ms(seq * PERIOD_MS),
                latency: ms(LATENCY_MS),
                outcome: match c {
                    '.' => Outcome::Ok,
                    't' => Outcome::Timeout,
                    'c' => Outcome::ConnectFailed { error: "refused".into() },
                    'q' => Outcome::QueryFailed { error: "reset".into() },
                    other => panic!("bad pattern char {other:?}"),
                },
                observed_seq: None,
            })
            .collect()
    }

    #[test]
    fn no_attempts_no_outages() {
        assert!(outages(&[]).is_empty());
    }

    #[test]
    fn all_ok_no_outages() {
        assert!(outages(&attempts("..........")).is_empty());
    }

    #[test]
    fn single_blip() {
        assert_eq!(
            outages(&attempts("...t..")),
            vec![Outage {
                start: ms(300),
                end: Some(ms(400)),
                failed_attempts: 1,
                start_uncertainty: ms(PERIOD_MS),
                end_uncertainty: Some(ms(PERIOD_MS)),
            }]
        );
    }

    #[test]
    fn long_window_of_mixed_failures_is_one_outage() {
        let found = outages(&attempts("..qccccccct.."));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].start, ms(200));
        assert_eq!(found[0].end, Some(ms(1100)));
        assert_eq!(found[0].failed_attempts, 9);
        assert_eq!(found[0].duration(), Some(ms(900)));
    }

    #[test]
    fn separate_windows_stay_separate() {
        let found = outages(&attempts(".cc..t."));
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].start, found[0].failed_attempts), (ms(100), 2));
        assert_eq!((found[1].start, found[1].failed_attempts), (ms(500), 1));
    }

    #[test]
    fn failing_from_the_first_attempt() {
        let found = outages(&attempts("cc."));
        assert_eq!(found[0].start, Duration::ZERO);
        assert_eq!(found[0].end, Some(ms(200)));
    }

    #[test]
    fn never_recovered_has_no_end() {
        let found = outages(&attempts("..ttt"));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end, found[0].failed_attempts), (ms(200), None, 3));
        assert_eq!(found[0].end_uncertainty, None);
        assert_eq!(found[0].duration(), None);
    }

    /// The case a closed loop makes: a failed attempt blocks for the whole
    /// 1 s connect timeout and the next starts only then, so the recovery is
    /// known to ~1 s only. The start stays known to the period.
    #[test]
    fn a_blocking_failed_attempt_makes_the_end_uncertain_by_its_length() {
        let mut list = attempts("..c.");
        list[2].latency = ms(1001);
        list[3].started = ms(1201);
        let found = outages(&list);
        assert_eq!(found[0].end, Some(ms(1201)));
        assert_eq!(found[0].end_uncertainty, Some(ms(1001)), "from the failure's start to the success's start");
        assert_eq!(found[0].start_uncertainty, ms(PERIOD_MS), "from the last success's start");
        assert_eq!(found[0].duration_uncertainty(), Some(ms(1001 + PERIOD_MS)));
    }

    /// A slow first success (a SYN retransmitted after a VIP moved) does
    /// not lengthen the outage: its request was sent when the service was
    /// back; its latency is its own.
    #[test]
    fn end_is_the_start_of_the_recovering_attempt() {
        let mut list = attempts(".c.");
        list[2].latency = ms(1000);
        let found = outages(&list);
        assert_eq!(found[0].end, Some(ms(200)));
        assert_eq!(found[0].end_uncertainty, Some(ms(PERIOD_MS)));
    }

    #[test]
    fn outages_after_keeps_windows_ending_after_t() {
        // windows: [100, 200), [500, 700) and [900, open)
        let list = attempts(".c...cc..c");
        let after = outages_after(&list, ms(400));
        assert_eq!(after.len(), 2);
        assert_eq!(after[0].start, ms(500));
        assert_eq!(after[1].end, None);
    }

    #[test]
    fn outages_after_includes_a_window_open_at_t() {
        let list = attempts(".ccc.");
        let after = outages_after(&list, ms(250));
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].start, ms(100));
    }

    #[test]
    fn outages_after_excludes_a_window_ending_exactly_at_t() {
        let list = attempts(".c.");
        assert!(outages_after(&list, ms(200)).is_empty());
        assert_eq!(outages_after(&list, ms(199)).len(), 1);
    }

    #[test]
    fn first_ok_after_skips_failures_and_earlier_successes() {
        let list = attempts("..ccc..");
        assert_eq!(first_ok_after(&list, ms(150)), Some(ms(500 + LATENCY_MS)));
        assert_eq!(first_ok_after(&list, Duration::ZERO), Some(ms(LATENCY_MS)));
    }

    #[test]
    fn first_ok_after_ignores_attempts_in_flight_at_t() {
        let mut list = attempts("...");
        list[1].latency = ms(80); // runs 100..180, in flight at 150
        assert_eq!(first_ok_after(&list, ms(150)), Some(ms(200 + LATENCY_MS)));
    }

    #[test]
    fn first_ok_after_none_when_never_ok() {
        assert_eq!(first_ok_after(&attempts(".ccc"), ms(50)), None);
    }

    #[test]
    fn stall_is_reported_but_not_an_outage() {
        let mut list = attempts("....");
        // the prober went quiet for 2 s between attempt 1 and 2
        list[2].started = ms(2100);
        list[3].started = ms(2200);
        assert!(outages(&list).is_empty());
        let found = stalls(&list, ms(300));
        assert_eq!(found, vec![Stall { after_seq: 1, from: ms(100 + LATENCY_MS), to: ms(2100) }]);
        assert_eq!(found[0].gap(), ms(2000 - LATENCY_MS));
    }

    #[test]
    fn slow_attempt_is_not_a_stall() {
        let mut list = attempts("...");
        // attempt 1 takes 950 ms (e.g. up to a 1 s timeout); the next one
        // starts right after it completes
        list[1].latency = ms(950);
        list[2].started = ms(1050);
        assert!(stalls(&list, ms(300)).is_empty());
    }

    #[test]
    fn regular_schedule_has_no_stalls() {
        assert!(stalls(&attempts("..cc.."), ms(300)).is_empty());
        assert_eq!(stalls(&attempts("..cc.."), ms(50)).len(), 5);
    }

    #[test]
    fn outage_json_uses_microseconds() {
        let o = Outage { start: ms(1), end: None, failed_attempts: 3, start_uncertainty: ms(2), end_uncertainty: None };
        let json = serde_json::to_value(&o).expect("json");
        let expected = serde_json::json!({"start_us": 1000, "end_us": null, "failed_attempts": 3,
            "start_uncertainty_us": 2000, "end_uncertainty_us": null});
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_value::<Outage>(json).expect("back"), o);
        let older = serde_json::json!({"start_us": 1000, "end_us": 5000, "failed_attempts": 3});
        let read = serde_json::from_value::<Outage>(older).expect("a file from before uncertainties");
        assert_eq!((read.start_uncertainty, read.end_uncertainty), (Duration::ZERO, None));
    }
}
