//! The ticker loop that drives a probe.
//!
//! The loop knows nothing about databases: it asks a [`Probe`] for one
//! attempt per tick, timestamps it against the run's [`Clock`], records it and
//! streams a copy to an optional live display. Keeping the loop generic lets
//! its timing be tested with a fake probe under `tokio::time::pause()`.
//!
//! Scheduling uses [`MissedTickBehavior::Delay`]: attempts never overlap, and
//! after a slow attempt (e.g. a 1 s timeout) the next one starts immediately
//! and the schedule continues from there, instead of a burst of catch-up
//! attempts that would all observe the same moment.

use std::future::Future;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::Clock;
use crate::record::{Attempt, Outcome, Recording};
use crate::role::Role;
use crate::settings::period_from_rate;

/// Something that can be tried once per tick.
///
/// Implementations must bound each attempt in time themselves (the
/// PostgreSQL probes use their connect and query timeouts); the loop does not
/// impose a deadline so that a slow answer is measured, not cut short.
pub trait Probe: Send {
    /// Performs attempt number `seq`; returns its outcome and, for readers,
    /// the writer sequence number observed.
    fn attempt(&mut self, seq: u64) -> impl Future<Output = (Outcome, Option<u64>)> + Send;
}

/// Runs `probe` at `rate_hz` until `stop` becomes true, and returns
/// everything it recorded.
///
/// * The first attempt starts immediately; `seq` counts attempts from 0.
/// * Every completed attempt is recorded and, if `live` is given, a copy is
///   sent there (a closed live channel is ignored).
/// * Stopping is prompt: an attempt in flight when `stop` becomes true is
///   abandoned and not recorded (its outcome is unknown, so for a writer it
///   is not an acknowledged write). Dropping the `stop` sender also stops.
///
/// # Panics
///
/// If `rate_hz` is not a finite rate in `(0, MAX_RATE_HZ]`; validate settings
/// with [`ProbeSettings::validate`](crate::ProbeSettings::validate) first.
#[allow(clippy::too_many_arguments)]
pub async fn run<P: Probe>(
    mut probe: P,
    name: &str,
    role: Role,
    run_id: &str,
    rate_hz: f64,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    live: Option<mpsc::UnboundedSender<Attempt>>,
) -> Recording {
    let period = match period_from_rate(rate_hz) {
        Ok(period) => period,
        Err(e) => panic!("probe {name}: {e}"),
    };
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let mut attempts = Vec::new();
    let mut failing = false;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            _ = ticker.tick() => {}
        }
        let started_at = Instant::now();
        let result = tokio::select! {
            biased;
            () = stopped(&mut stop) => None,
            result = probe.attempt(seq) => Some(result),
        };
        let Some((outcome, observed_seq)) = result else {
            break;
        };
        let attempt = Attempt {
            seq,
            started: clock.since_origin(started_at),
            latency: started_at.elapsed(),
            outcome,
            observed_seq,
        };
        log_transition(name, &attempt, &mut failing);
        if let Some(live) = &live {
            // The display may have gone away; the recording is what matters.
            let _ = live.send(attempt.clone());
        }
        attempts.push(attempt);
        seq += 1;
    }
    tracing::debug!(probe = name, attempts = attempts.len(), "probe stopped");
    Recording { probe: name.to_owned(), role, run_id: run_id.to_owned(), attempts }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: nobody can stop us any more,
    // so stopping now is the only safe reading.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Logs the edges between working and failing, not every attempt.
fn log_transition(name: &str, attempt: &Attempt, failing: &mut bool) {
    match (attempt.outcome.is_ok(), *failing) {
        (false, false) => {
            *failing = true;
            tracing::warn!(probe = name, seq = attempt.seq, outcome = %attempt.outcome, "probe failing");
        }
        (true, true) => {
            *failing = false;
            tracing::info!(probe = name, seq = attempt.seq, "probe recovered");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;

    /// Plays back a script of (latency, outcome); Ok once the script runs out.
    struct Scripted {
        script: VecDeque<(Duration, Outcome)>,
        seqs: Vec<u64>,
    }

    impl Scripted {
        fn new(script: Vec<(u64, Outcome)>) -> Self {
            Self {
                script: script.into_iter().map(|(ms, o)| (Duration::from_millis(ms), o)).collect(),
                seqs: Vec::new(),
            }
        }
    }

    impl Probe for &mut Scripted {
        async fn attempt(&mut self, seq: u64) -> (Outcome, Option<u64>) {
            self.seqs.push(seq);
            let (latency, outcome) = self.script.pop_front().unwrap_or((Duration::from_millis(1), Outcome::Ok));
            tokio::time::sleep(latency).await;
            (outcome, Some(seq * 10))
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn starts(r: &Recording) -> Vec<Duration> {
        r.attempts.iter().map(|a| a.started).collect()
    }

    /// Runs `probe` at `rate_hz` and stops it after `for_` of virtual time.
    async fn run_for(probe: &mut Scripted, rate_hz: f64, for_: Duration) -> Recording {
        let clock = Clock::start();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(for_).await;
            stop_tx.send_replace(true);
        };
        let (recording, ()) =
            tokio::join!(run(probe, "fake", Role::Writer, "run-1", rate_hz, clock, stop_rx, None), stopper);
        recording
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_follow_the_rate() {
        let mut probe = Scripted::new(vec![]);
        let r = run_for(&mut probe, 100.0, ms(95)).await;
        assert_eq!(starts(&r), (0..10).map(|i| ms(i * 10)).collect::<Vec<_>>());
        assert!(r.attempts.iter().all(|a| a.latency == ms(1)));
        assert_eq!(r.probe, "fake");
        assert_eq!(r.run_id, "run-1");
        assert_eq!(r.role, Role::Writer);
    }

    #[tokio::test(start_paused = true)]
    async fn seq_counts_every_attempt_including_failures() {
        let mut probe = Scripted::new(vec![
            (1, Outcome::Ok),
            (1, Outcome::Timeout),
            (1, Outcome::ConnectFailed { error: "x".into() }),
            (1, Outcome::Ok),
        ]);
        let r = run_for(&mut probe, 100.0, ms(55)).await;
        let seqs: Vec<u64> = r.attempts.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(probe.seqs, seqs, "probe is called with the recorded seq");
        assert_eq!(r.attempts[1].outcome, Outcome::Timeout);
        assert_eq!(r.attempts[2].observed_seq, Some(20));
        assert_eq!(r.acknowledged_writes(), vec![0, 3, 4, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_attempt_delays_the_schedule_without_a_burst() {
        // 10 ms period; attempt 1 (started at 10 ms) takes 35 ms.
        let mut probe = Scripted::new(vec![(1, Outcome::Ok), (35, Outcome::Timeout)]);
        let r = run_for(&mut probe, 100.0, ms(70)).await;
        assert_eq!(r.attempts[1].latency, ms(35));
        assert_eq!(
            starts(&r),
            vec![ms(0), ms(10), ms(45), ms(55), ms(65)],
            "after a slow attempt the next starts at once, then every period"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_abandons_an_attempt_in_flight() {
        let mut probe = Scripted::new(vec![(1, Outcome::Ok), (60_000, Outcome::Ok)]);
        let before = Instant::now();
        let r = run_for(&mut probe, 100.0, ms(15)).await;
        assert_eq!(Instant::now() - before, ms(15), "run returned at once");
        assert_eq!(r.attempts.len(), 1, "the hung attempt is not recorded");
        assert_eq!(probe.seqs, vec![0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_set_before_start_runs_nothing() {
        let mut probe = Scripted::new(vec![]);
        let (_tx, rx) = watch::channel(true);
        let r = run(&mut probe, "p", Role::Reader, "r", 10.0, Clock::start(), rx, None).await;
        assert!(r.attempts.is_empty());
        assert!(probe.seqs.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_stop_sender_stops_the_probe() {
        let mut probe = Scripted::new(vec![]);
        let (tx, rx) = watch::channel(false);
        let dropper = async {
            tokio::time::sleep(ms(250)).await;
            drop(tx);
        };
        let (r, ()) = tokio::join!(run(&mut probe, "p", Role::Reader, "r", 10.0, Clock::start(), rx, None), dropper);
        assert_eq!(r.attempts.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn live_channel_gets_a_copy_of_every_attempt() {
        let mut probe = Scripted::new(vec![(1, Outcome::Ok), (1, Outcome::Timeout)]);
        let (live_tx, mut live_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(45)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(
            run(&mut probe, "p", Role::Writer, "r", 100.0, Clock::start(), stop_rx, Some(live_tx)),
            stopper
        );
        let mut seen = Vec::new();
        while let Some(a) = live_rx.recv().await {
            seen.push(a);
        }
        assert_eq!(r.attempts.len(), 5);
        assert_eq!(seen, r.attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn closed_live_channel_does_not_stop_recording() {
        let mut probe = Scripted::new(vec![]);
        let (live_tx, live_rx) = mpsc::unbounded_channel();
        drop(live_rx);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(25)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(
            run(&mut probe, "p", Role::Writer, "r", 100.0, Clock::start(), stop_rx, Some(live_tx)),
            stopper
        );
        assert_eq!(r.attempts.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_relative_to_the_shared_clock() {
        let clock = Clock::start();
        tokio::time::sleep(ms(500)).await;
        let mut probe = Scripted::new(vec![]);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(150)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(run(&mut probe, "p", Role::Writer, "r", 10.0, clock, stop_rx, None), stopper);
        assert_eq!(starts(&r), vec![ms(500), ms(600)]);
    }

    #[tokio::test(start_paused = true)]
    async fn outages_from_a_probed_run() {
        let mut probe = Scripted::new(vec![
            (1, Outcome::Ok),
            (1, Outcome::QueryFailed { error: "x".into() }),
            (5, Outcome::Timeout),
            (1, Outcome::Ok),
        ]);
        let r = run_for(&mut probe, 100.0, ms(45)).await;
        let outages = r.outages();
        assert_eq!(outages.len(), 1);
        assert_eq!(outages[0].start, ms(10));
        assert_eq!(outages[0].end, Some(ms(31)));
        assert_eq!(outages[0].failed_attempts, 2);
    }

    #[test]
    #[should_panic(expected = "probe rate")]
    fn invalid_rate_panics_with_a_clear_message() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let (_tx, rx) = watch::channel(false);
        let mut probe = Scripted::new(vec![]);
        rt.block_on(run(&mut probe, "p", Role::Writer, "r", 0.0, Clock::start(), rx, None));
    }

    struct Nothing;
    impl Probe for Nothing {
        async fn attempt(&mut self, _seq: u64) -> (Outcome, Option<u64>) {
            (Outcome::Ok, None)
        }
    }

    #[tokio::test]
    async fn run_can_be_spawned_on_a_multi_thread_runtime() {
        let (tx, rx) = watch::channel(false);
        let handle =
            tokio::spawn(async move { run(Nothing, "p", Role::Reader, "r", 100.0, Clock::start(), rx, None).await });
        tx.send_replace(true);
        handle.await.expect("join");
    }
}
