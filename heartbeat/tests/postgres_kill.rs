//! Kill -9 a real PostgreSQL 15 under a running writer and reader, restart
//! it, and check what the probes recorded: one outage spanning the downtime,
//! recovery afterwards, and no acknowledged write lost.

mod support;

use std::time::Duration;

use heartbeat::{
    Attempt, Clock, Outcome, PgReader, PgWriter, Probe, ProbeSettings, Recording, Role, check_acknowledged,
    first_ok_after, run,
};
use support::pg_server::PgServer;
use support::{assert_gapless, failures};
use tokio::sync::{mpsc, watch};

const RATE_HZ: f64 = 40.0;
const DOWNTIME: Duration = Duration::from_millis(1500);
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

fn settings() -> ProbeSettings {
    ProbeSettings { rate_hz: RATE_HZ, connect_timeout: Duration::from_secs(1), query_timeout: Duration::from_secs(1) }
}

/// Waits for `n` successful attempts that started at or after `after`.
async fn ok_attempts(live: &mut mpsc::UnboundedReceiver<Attempt>, n: usize, after: Duration) {
    support::ok_attempts(live, n, after, PHASE_TIMEOUT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_restart_loses_no_acknowledged_write() {
    let mut server = PgServer::start().await;
    let target = server.target();
    let run_id = "kill9-restart";
    let clock = Clock::start();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (live_tx, mut live_rx) = mpsc::unbounded_channel();
    let (reader_tx, mut reader_rx) = mpsc::unbounded_channel();

    let writer = tokio::spawn(run(
        PgWriter::new(target.clone(), settings(), run_id),
        "writer",
        Role::Writer,
        run_id,
        RATE_HZ,
        clock,
        stop_rx.clone(),
        Some(live_tx),
    ));
    let reader = tokio::spawn(run(
        PgReader::new(target.clone(), settings(), run_id),
        "reader",
        Role::Reader,
        run_id,
        RATE_HZ,
        clock,
        stop_rx,
        Some(reader_tx),
    ));

    ok_attempts(&mut live_rx, 20, Duration::ZERO).await;
    let killed_at = clock.elapsed();
    server.kill9();
    tokio::time::sleep(DOWNTIME).await;
    let restarted_at = clock.elapsed();
    server.restart().await;
    // Both probes must be back before they stop: each reconnects on its own.
    ok_attempts(&mut live_rx, 10, restarted_at).await;
    ok_attempts(&mut reader_rx, 10, restarted_at).await;
    stop_tx.send_replace(true);
    let writer = writer.await.expect("writer task");
    let reader = reader.await.expect("reader task");

    // The writer: every attempt recorded, failures while down, one outage.
    assert_gapless(&writer);
    assert!(failures(&writer) > 0, "no failed writes recorded");
    assert!(
        writer.attempts.iter().any(|a| matches!(a.outcome, Outcome::ConnectFailed { .. })),
        "a dead server must refuse connections"
    );
    let outages = writer.outages();
    eprintln!("writer outages: {outages:?} (killed at {killed_at:?}, restarted at {restarted_at:?})");
    assert_eq!(outages.len(), 1, "exactly one writer outage: {outages:?}");
    let outage = &outages[0];
    let first_failure =
        writer.attempts.iter().find(|a| a.started == outage.start).expect("outage starts at an attempt");
    assert!(
        first_failure.completed() >= killed_at,
        "the first failure ({first_failure:?}) cannot predate the kill at {killed_at:?}"
    );
    assert!(outage.start < restarted_at, "{outage:?} must begin while down");
    let end = outage.end.expect("writer recovered");
    assert!(end > restarted_at, "{outage:?} must end after the restart");
    assert_eq!(first_ok_after(&writer.attempts, restarted_at), Some(end));

    // The reader saw the same outage and, afterwards, every write that was
    // acknowledged before the kill.
    let reader_outages = reader.outages();
    assert!(failures(&reader) > 0, "no failed reads recorded");
    assert!(
        reader_outages.iter().any(|o| o.end.is_some_and(|end| end > restarted_at)),
        "reader outage ending after the restart: {reader_outages:?}"
    );
    let last_acked_before_kill = writer
        .attempts
        .iter()
        .filter(|a| a.outcome.is_ok() && a.completed() < killed_at)
        .map(|a| a.seq)
        .max()
        .expect("writes before the kill");
    let first_read_after_restart =
        reader.attempts.iter().find(|a| a.started >= restarted_at && a.outcome.is_ok()).expect("reader recovered");
    assert!(
        first_read_after_restart.observed_seq.is_some_and(|seen| seen >= last_acked_before_kill),
        "after restart the beat row must show at least seq {last_acked_before_kill}: \
         {first_read_after_restart:?}"
    );

    // fsync is on: every acknowledged commit survives kill -9.
    let check = check_acknowledged(&target, &settings(), &writer).await.expect("check acknowledged writes");
    eprintln!("ack check: {check:?}");
    assert!(check.acknowledged > 0);
    assert_eq!(check.acknowledged, writer.acknowledged_writes().len() as u64);
    assert_eq!(check.lost, Vec::<u64>::new());
    assert_eq!(check.present, check.acknowledged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_write_times_out_then_reconnects() {
    let server = PgServer::start().await;
    let target = server.target();
    let run_id = "blocked";
    let quick = ProbeSettings { query_timeout: Duration::from_millis(300), ..settings() };
    let mut writer = PgWriter::new(target.clone(), quick.clone(), run_id);
    let mut reader = PgReader::new(target.clone(), quick.clone(), run_id);

    assert_eq!(writer.attempt(0).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, Some(0)));

    // Another session holds the beat row: the upsert blocks.
    let locker = server.heartbeat_client().await;
    locker.batch_execute("BEGIN; SELECT * FROM beat WHERE id = 1 FOR UPDATE").await.expect("lock beat row");
    assert_eq!(writer.attempt(1).await, (Outcome::Timeout, None));
    // Readers are not blocked by row locks and still see write 0.
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, Some(0)));
    locker.batch_execute("COMMIT").await.expect("unlock");

    // The timed-out session was dropped; the next attempt opens a new one.
    assert_eq!(writer.attempt(2).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(2).await, (Outcome::Ok, Some(2)));

    let recording = Recording {
        probe: "writer".into(),
        role: Role::Writer,
        run_id: run_id.into(),
        attempts: [Outcome::Ok, Outcome::Timeout, Outcome::Ok]
            .into_iter()
            .zip(0u64..)
            .map(|(outcome, seq)| Attempt {
                seq,
                started: Duration::ZERO,
                latency: Duration::ZERO,
                outcome,
                observed_seq: None,
            })
            .collect(),
    };
    let check = check_acknowledged(&target, &quick, &recording).await.expect("check acknowledged writes");
    assert_eq!(check.acknowledged, 2);
    assert_eq!(check.lost, Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_another_run_are_invisible_to_a_reader() {
    let server = PgServer::start().await;
    let target = server.target();
    let mut writer = PgWriter::new(target.clone(), settings(), "run-a");
    let mut reader = PgReader::new(target.clone(), settings(), "run-b");
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, None), "no beat row yet");
    assert_eq!(writer.attempt(7).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, None), "beat of run-a");
}
