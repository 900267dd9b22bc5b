//! The ticker loop that drives a probe.
//!
//! The loop knows nothing about databases: it asks a [`Probe`] for one
//! attempt per tick, timestamps it against the run's [`Clock`], records it and
//! streams a copy to an optional live display. Keeping the loop generic lets
//! its timing be tested with a fake probe under `tokio::time::pause()`.
//!
//! # Open loop
//!
//! An attempt starts on every tick whether or not earlier ones have finished.
//! While a VIP is unreachable each attempt may block for a whole connect
//! timeout (1 s); a closed loop would then try only once per timeout, and the
//! moment service came back would be known only to about that second,
//! whatever the rate. Open loop, the first attempt that starts after the
//! service is back succeeds, so recovery is seen within one period.
//!
//! Attempts in flight are bounded ([`max_in_flight`]): enough to cover the
//! longest an attempt can take at the rate, so in practice no tick is
//! skipped; a tick that finds the bound reached is skipped and logged rather
//! than queueing up a burst. Missed ticks (a starved runtime) are skipped
//! too, never caught up with attempts that would all observe the same moment.

use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock::Clock;
use crate::record::{Attempt, Outcome, Recording};
use crate::role::Role;
use crate::settings::ProbeSettings;

/// Upper bound of [`max_in_flight`] whatever the settings.
pub const MAX_IN_FLIGHT: usize = 1000;

/// Something that can be tried once per tick, several times at once.
///
/// Implementations must bound each attempt in time themselves (the
/// PostgreSQL probes use their connect and query timeouts); the loop does not
/// impose a deadline so that a slow answer is measured, not cut short.
/// Attempts overlap when one takes longer than a period, hence `&self`: a
/// probe keeps its connections where concurrent attempts can share them
/// (see [`crate::idle`]).
pub trait Probe: Send + Sync {
    /// Performs attempt number `seq`; returns its outcome and, for readers,
    /// the writer sequence number observed.
    fn attempt(&self, seq: u64) -> impl Future<Output = (Outcome, Option<u64>)> + Send;
}

/// How many attempts may be in flight at once with `settings`: every attempt
/// that can still be running when the next tick comes (an attempt takes at
/// most its connect plus its query timeout), plus one, at most
/// [`MAX_IN_FLIGHT`].
pub fn max_in_flight(settings: &ProbeSettings) -> usize {
    let longest = (settings.connect_timeout + settings.query_timeout).as_secs_f64();
    let overlapping = (longest * settings.rate_hz).ceil();
    if overlapping.is_finite() && overlapping < MAX_IN_FLIGHT as f64 {
        // In range: a non-negative whole number below the bound.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let overlapping = overlapping as usize;
        (overlapping + 1).min(MAX_IN_FLIGHT)
    } else {
        MAX_IN_FLIGHT
    }
}

/// Runs `probe` at `settings.rate_hz` until `stop` becomes true, and returns
/// everything it recorded, in the order the attempts started.
///
/// * The first attempt starts immediately; `seq` counts attempts from 0 in
///   the order they start.
/// * Every completed attempt is recorded and, if `live` is given, a copy is
///   sent there as it completes (a closed live channel is ignored).
/// * Stopping is prompt: attempts in flight when `stop` becomes true are
///   abandoned and not recorded (their outcome is unknown, so for a writer
///   they are not acknowledged writes). Dropping the `stop` sender also stops.
///
/// # Panics
///
/// If `settings.rate_hz` is not a finite rate in `(0, MAX_RATE_HZ]`; validate
/// settings with [`ProbeSettings::validate`] first.
#[allow(clippy::too_many_arguments)]
pub async fn run<P: Probe>(
    probe: P,
    name: &str,
    role: Role,
    run_id: &str,
    settings: ProbeSettings,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
    live: Option<mpsc::UnboundedSender<Attempt>>,
) -> Recording {
    let period = match settings.period() {
        Ok(period) => period,
        Err(e) => panic!("probe {name}: {e}"),
    };
    let bound = max_in_flight(&settings);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let probe = &probe;
    let mut in_flight = FuturesUnordered::new();
    let mut attempts = Vec::new();
    let mut edges = Edges::default();
    let mut skipped = 0u64;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            Some(attempt) = in_flight.next(), if !in_flight.is_empty() => {
                edges.log(name, &attempt);
                if let Some(live) = &live {
                    // The display may have gone away; the recording is what matters.
                    let _ = live.send(attempt.clone());
                }
                attempts.push(attempt);
            }
            _ = ticker.tick() => {
                if in_flight.len() >= bound {
                    skipped += 1;
                    if skipped == 1 {
                        tracing::warn!(probe = name, in_flight = bound, "probe skips ticks: too many attempts in flight");
                    }
                    continue;
                }
                in_flight.push(timed(probe, seq, clock));
                seq += 1;
            }
        }
    }
    if skipped > 0 {
        tracing::warn!(probe = name, skipped, "ticks skipped with the in-flight bound reached");
    }
    attempts.sort_by_key(|a| a.seq);
    tracing::debug!(probe = name, attempts = attempts.len(), "probe stopped");
    Recording { probe: name.to_owned(), role, run_id: run_id.to_owned(), attempts }
}

/// One attempt, timed on the run's clock from its start to its completion
/// (when it completes, not when the loop gets round to it).
async fn timed<P: Probe>(probe: &P, seq: u64, clock: Clock) -> Attempt {
    let started_at = Instant::now();
    let (outcome, observed_seq) = probe.attempt(seq).await;
    Attempt { seq, started: clock.since_origin(started_at), latency: started_at.elapsed(), outcome, observed_seq }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: nobody can stop us any more,
    // so stopping now is the only safe reading.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Logs the edges between working and failing, not every attempt.
///
/// Attempts complete out of order when they overlap; an edge is logged when
/// the newest attempt seen so far (by `seq`) changes between ok and failing,
/// so a slow failure completing after a newer success is not a new outage.
#[derive(Debug, Default)]
struct Edges {
    failing: bool,
    newest: Option<u64>,
}

impl Edges {
    fn log(&mut self, name: &str, attempt: &Attempt) {
        if self.newest.is_some_and(|newest| attempt.seq < newest) {
            return;
        }
        self.newest = Some(attempt.seq);
        match (attempt.outcome.is_ok(), self.failing) {
            (false, false) => {
                self.failing = true;
                tracing::warn!(probe = name, seq = attempt.seq, outcome = %attempt.outcome, "probe failing");
            }
            (true, true) => {
                self.failing = false;
                tracing::info!(probe = name, seq = attempt.seq, "probe recovered");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;

    /// Plays back a script of (latency, outcome), one entry per attempt in
    /// the order attempts start; Ok in 1 ms once the script runs out.
    struct Scripted {
        script: std::sync::Mutex<VecDeque<(Duration, Outcome)>>,
        seqs: std::sync::Mutex<Vec<u64>>,
    }

    impl Scripted {
        fn new(script: Vec<(u64, Outcome)>) -> Self {
            Self {
                script: std::sync::Mutex::new(
                    script.into_iter().map(|(ms, o)| (Duration::from_millis(ms), o)).collect(),
                ),
                seqs: std::sync::Mutex::new(Vec::new()),
            }
        }

        fn seqs(&self) -> Vec<u64> {
            self.seqs.lock().expect("seqs").clone()
        }
    }

    impl Probe for &Scripted {
        async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
            self.seqs.lock().expect("seqs").push(seq);
            let next = self.script.lock().expect("script").pop_front();
            let (latency, outcome) = next.unwrap_or((Duration::from_millis(1), Outcome::Ok));
            tokio::time::sleep(latency).await;
            (outcome, Some(seq * 10))
        }
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Settings at `rate_hz` with 1 s timeouts.
    fn at(rate_hz: f64) -> ProbeSettings {
        ProbeSettings { rate_hz, ..ProbeSettings::default() }
    }

    fn starts(r: &Recording) -> Vec<Duration> {
        r.attempts.iter().map(|a| a.started).collect()
    }

    /// Runs `probe` at `rate_hz` and stops it after `for_` of virtual time.
    async fn run_for(probe: &Scripted, rate_hz: f64, for_: Duration) -> Recording {
        let clock = Clock::start();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(for_).await;
            stop_tx.send_replace(true);
        };
        let (recording, ()) =
            tokio::join!(run(probe, "fake", Role::Writer, "run-1", at(rate_hz), clock, stop_rx, None), stopper);
        recording
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_follow_the_rate() {
        let probe = Scripted::new(vec![]);
        let r = run_for(&probe, 100.0, ms(95)).await;
        assert_eq!(starts(&r), (0..10).map(|i| ms(i * 10)).collect::<Vec<_>>());
        assert!(r.attempts.iter().all(|a| a.latency == ms(1)));
        assert_eq!(r.probe, "fake");
        assert_eq!(r.run_id, "run-1");
        assert_eq!(r.role, Role::Writer);
    }

    #[tokio::test(start_paused = true)]
    async fn seq_counts_every_attempt_including_failures() {
        let probe = Scripted::new(vec![
            (1, Outcome::Ok),
            (1, Outcome::Timeout),
            (1, Outcome::ConnectFailed { error: "x".into() }),
            (1, Outcome::Ok),
        ]);
        let r = run_for(&probe, 100.0, ms(55)).await;
        let seqs: Vec<u64> = r.attempts.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(probe.seqs(), seqs, "probe is called with the recorded seq");
        assert_eq!(r.attempts[1].outcome, Outcome::Timeout);
        assert_eq!(r.attempts[2].observed_seq, Some(20));
        assert_eq!(r.acknowledged_writes(), vec![0, 3, 4, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_does_not_delay_the_next() {
        // 10 ms period; attempt 1 (started at 10 ms) takes 35 ms.
        let probe = Scripted::new(vec![(1, Outcome::Ok), (35, Outcome::Timeout)]);
        let r = run_for(&probe, 100.0, ms(65)).await;
        assert_eq!(r.attempts[1].latency, ms(35));
        assert_eq!(r.attempts[1].outcome, Outcome::Timeout);
        assert_eq!(starts(&r), (0..7).map(|i| ms(i * 10)).collect::<Vec<_>>(), "one attempt per tick");
        let seqs: Vec<u64> = r.attempts.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, (0..7).collect::<Vec<_>>(), "recorded in start order, not completion order");
    }

    /// Down (every attempt blocks for a 1 s connect timeout) during
    /// `down`, answering in 1 ms otherwise.
    struct Vip {
        clock: Clock,
        down: std::ops::Range<Duration>,
    }

    impl Probe for Vip {
        async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
            if self.down.contains(&self.clock.elapsed()) {
                tokio::time::sleep(ms(1000)).await;
                (Outcome::ConnectFailed { error: "timed out".into() }, None)
            } else {
                tokio::time::sleep(ms(1)).await;
                (Outcome::Ok, None)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_is_seen_within_one_period_while_attempts_block() {
        let clock = Clock::start();
        let vip = Vip { clock, down: ms(100)..ms(1055) };
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(2500)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(run(vip, "w", Role::Writer, "r", at(100.0), clock, stop_rx, None), stopper);
        assert_eq!(r.attempts.len(), 250, "the rate is kept through the outage");
        let outages = r.outages();
        assert_eq!(outages.len(), 1, "{outages:?}");
        let outage = &outages[0];
        assert_eq!(outage.start, ms(100));
        assert_eq!(outage.end, Some(ms(1060)), "the first attempt after 1055 ms starts at 1060 ms");
        assert_eq!(outage.end_uncertainty, Some(ms(10)), "from the last failure's start at 1050 ms");
        assert_eq!(outage.start_uncertainty, ms(10), "from the last success's start at 90 ms");
        assert_eq!(outage.failed_attempts, 96);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_in_flight_are_bounded() {
        // Every attempt hangs for a minute: only the bound's worth start.
        let probe = Scripted::new((0..200).map(|_| (60_000, Outcome::Timeout)).collect());
        let settings = ProbeSettings { rate_hz: 100.0, connect_timeout: ms(200), query_timeout: ms(100) };
        assert_eq!(max_in_flight(&settings), 31);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(1000)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) =
            tokio::join!(run(&probe, "p", Role::Writer, "r", settings, Clock::start(), stop_rx, None), stopper);
        assert!(r.attempts.is_empty());
        assert_eq!(probe.seqs(), (0..31).collect::<Vec<_>>());
    }

    #[test]
    fn the_bound_covers_the_longest_attempt_at_the_rate() {
        let at = |rate_hz, timeout_ms| ProbeSettings {
            rate_hz,
            connect_timeout: ms(timeout_ms),
            query_timeout: ms(timeout_ms),
        };
        assert_eq!(max_in_flight(&at(10.0, 1000)), 21);
        assert_eq!(max_in_flight(&at(100.0, 1000)), 201);
        assert_eq!(max_in_flight(&at(0.5, 100)), 2);
        assert_eq!(max_in_flight(&at(1000.0, 60_000)), MAX_IN_FLIGHT);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_abandons_an_attempt_in_flight() {
        let probe = Scripted::new(vec![(1, Outcome::Ok), (60_000, Outcome::Ok)]);
        let before = Instant::now();
        let r = run_for(&probe, 100.0, ms(25)).await;
        assert_eq!(Instant::now() - before, ms(25), "run returned at once");
        assert_eq!(r.attempts.len(), 2, "the hung attempt is not recorded");
        assert_eq!(r.attempts.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(probe.seqs(), vec![0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_set_before_start_runs_nothing() {
        let probe = Scripted::new(vec![]);
        let (_tx, rx) = watch::channel(true);
        let r = run(&probe, "p", Role::Reader, "r", at(10.0), Clock::start(), rx, None).await;
        assert!(r.attempts.is_empty());
        assert!(probe.seqs().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_stop_sender_stops_the_probe() {
        let probe = Scripted::new(vec![]);
        let (tx, rx) = watch::channel(false);
        let dropper = async {
            tokio::time::sleep(ms(250)).await;
            drop(tx);
        };
        let (r, ()) = tokio::join!(run(&probe, "p", Role::Reader, "r", at(10.0), Clock::start(), rx, None), dropper);
        assert_eq!(r.attempts.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn live_channel_gets_a_copy_of_every_attempt() {
        let probe = Scripted::new(vec![(1, Outcome::Ok), (1, Outcome::Timeout)]);
        let (live_tx, mut live_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(45)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(
            run(&probe, "p", Role::Writer, "r", at(100.0), Clock::start(), stop_rx, Some(live_tx)),
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
        let probe = Scripted::new(vec![]);
        let (live_tx, live_rx) = mpsc::unbounded_channel();
        drop(live_rx);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(25)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(
            run(&probe, "p", Role::Writer, "r", at(100.0), Clock::start(), stop_rx, Some(live_tx)),
            stopper
        );
        assert_eq!(r.attempts.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_relative_to_the_shared_clock() {
        let clock = Clock::start();
        tokio::time::sleep(ms(500)).await;
        let probe = Scripted::new(vec![]);
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopper = async {
            tokio::time::sleep(ms(150)).await;
            stop_tx.send_replace(true);
        };
        let (r, ()) = tokio::join!(run(&probe, "p", Role::Writer, "r", at(10.0), clock, stop_rx, None), stopper);
        assert_eq!(starts(&r), vec![ms(500), ms(600)]);
    }

    #[tokio::test(start_paused = true)]
    async fn outages_from_a_probed_run() {
        let probe = Scripted::new(vec![
            (1, Outcome::Ok),
            (1, Outcome::QueryFailed { error: "x".into() }),
            (5, Outcome::Timeout),
            (1, Outcome::Ok),
        ]);
        let r = run_for(&probe, 100.0, ms(45)).await;
        let outages = r.outages();
        assert_eq!(outages.len(), 1);
        assert_eq!(outages[0].start, ms(10));
        assert_eq!(outages[0].end, Some(ms(30)));
        assert_eq!(outages[0].failed_attempts, 2);
    }

    #[test]
    #[should_panic(expected = "probe rate")]
    fn invalid_rate_panics_with_a_clear_message() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let (_tx, rx) = watch::channel(false);
        let probe = Scripted::new(vec![]);
        rt.block_on(run(&probe, "p", Role::Writer, "r", at(0.0), Clock::start(), rx, None));
    }

    struct Nothing;
    impl Probe for Nothing {
        async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
            (Outcome::Ok, None)
        }
    }

    #[tokio::test]
    async fn run_can_be_spawned_on_a_multi_thread_runtime() {
        let (tx, rx) = watch::channel(false);
        let handle =
            tokio::spawn(
                async move { run(Nothing, "p", Role::Reader, "r", at(100.0), Clock::start(), rx, None).await },
            );
        tx.send_replace(true);
        handle.await.expect("join");
    }
}
