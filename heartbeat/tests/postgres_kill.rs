//! Kill -9 a real PostgreSQL 15 under a running writer and reader, restart
//! it, and check what the probes recorded: one outage spanning the downtime,
//! recovery afterwards, and no acknowledged write lost.

mod support;

use std::time::Duration;

use heartbeat::{Outcome, PgReader, PgWriter, Probe, ProbeSettings, check_acknowledged};
use support::kill_restart::{Plan, kill_and_restart, plan, settings};
use support::pg_server::PgServer;
use support::writer_recording;

const PLAN: Plan = plan(Duration::from_secs(60));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_restart_loses_no_acknowledged_write() {
    let mut server = PgServer::start().await;
    let target = server.target();
    let run_id = "kill9-restart";
    let writer = PgWriter::new(target.clone(), settings(), run_id);
    let reader = PgReader::new(target.clone(), settings(), run_id);
    let run = kill_and_restart(&mut server, writer, reader, run_id, PLAN).await;

    run.assert_one_writer_outage_over_the_downtime();
    assert!(
        run.writer.attempts.iter().any(|a| matches!(a.outcome, Outcome::ConnectFailed { .. })),
        "a dead server must refuse connections"
    );
    run.assert_reader_saw_every_acknowledged_write();

    // fsync is on: every acknowledged commit survives kill -9.
    let check = check_acknowledged(&target, &settings(), &run.writer).await.expect("check acknowledged writes");
    run.assert_no_acknowledged_write_lost(&check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_write_times_out_then_reconnects() {
    let server = PgServer::start().await;
    let target = server.target();
    let run_id = "blocked";
    // Long enough that a loaded CI machine opens a new session within it; the
    // lock holds until the test releases it, so the blocked write times out anyway.
    let quick = ProbeSettings { query_timeout: Duration::from_secs(1), ..settings() };
    let writer = PgWriter::new(target.clone(), quick.clone(), run_id);
    let reader = PgReader::new(target.clone(), quick.clone(), run_id);

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

    let recording = writer_recording(run_id, vec![Outcome::Ok, Outcome::Timeout, Outcome::Ok]);
    let check = check_acknowledged(&target, &quick, &recording).await.expect("check acknowledged writes");
    assert_eq!(check.acknowledged, 2);
    assert_eq!(check.lost, Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_another_run_are_invisible_to_a_reader() {
    let server = PgServer::start().await;
    let target = server.target();
    let writer = PgWriter::new(target.clone(), settings(), "run-a");
    let reader = PgReader::new(target.clone(), settings(), "run-b");
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, None), "no beat row yet");
    assert_eq!(writer.attempt(7).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, None), "beat of run-a");
}
