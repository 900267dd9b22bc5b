//! Kill -9 a real MariaDB under a running writer and reader, restart it, and
//! check what the probes recorded: one outage spanning the downtime,
//! recovery afterwards, and no acknowledged write lost (InnoDB flushes its
//! redo log at every commit). Also: a write blocked on the beat row times out
//! and the next attempt reconnects; a read-only server is refused to the
//! writer and the check; the beat only moves forward within a run.

mod support;

use std::time::Duration;

use heartbeat::{
    AckError, Attempt, MariadbReader, MariadbWriter, Outcome, Probe, ProbeSettings, check_mariadb_acknowledged,
};
use mysql_async::prelude::Queryable;
use support::kill_restart::{Plan, kill_and_restart, plan, settings};
use support::mariadb_server::MariadbServer;
use support::writer_recording;

const PLAN: Plan = plan(Duration::from_secs(60));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_restart_loses_no_acknowledged_write() {
    let mut server = MariadbServer::start().await;
    let target = server.target();
    let run_id = "kill9-restart";
    let writer = MariadbWriter::new(target.clone(), settings(), run_id);
    let reader = MariadbReader::new(target.clone(), settings(), run_id);
    let run = kill_and_restart(&mut server, writer, reader, run_id, PLAN).await;

    run.assert_one_writer_outage_over_the_downtime();
    let refused: Vec<&Attempt> = run
        .writer
        .attempts
        .iter()
        .filter(|a| a.started > run.killed_at && a.completed() < run.restarted_at)
        .filter(|a| matches!(a.outcome, Outcome::ConnectFailed { .. }))
        .collect();
    assert!(refused.len() >= 10, "a dead server must refuse connections, every attempt: {refused:?}");
    for attempt in &refused {
        let error = attempt.outcome.error().unwrap_or_default();
        assert!(error.contains(&format!("127.0.0.1:{}", target.port)), "{error}");
        assert!(!error.contains(server.password()), "password leaked: {error}");
    }
    run.assert_reader_saw_every_acknowledged_write();

    // innodb_flush_log_at_trx_commit = 1: every acknowledged commit survives kill -9.
    let check = check_mariadb_acknowledged(&target, &settings(), &run.writer).await.expect("check acknowledged writes");
    run.assert_no_acknowledged_write_lost(&check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_write_times_out_then_reconnects() {
    let server = MariadbServer::start().await;
    let target = server.target();
    let run_id = "blocked";
    // Long enough that a loaded CI machine opens a new session within it; the
    // lock holds until the test releases it, so the blocked write times out anyway.
    let quick = ProbeSettings { query_timeout: Duration::from_secs(1), ..settings() };
    let writer = MariadbWriter::new(target.clone(), quick.clone(), run_id);
    let reader = MariadbReader::new(target.clone(), quick.clone(), run_id);

    assert_eq!(writer.attempt(0).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, Some(0)));

    // Another session holds the beat row: the upsert blocks (InnoDB waits
    // innodb_lock_wait_timeout, 50 s, far beyond the query timeout).
    let mut locker = server.heartbeat_conn().await;
    locker.query_drop("START TRANSACTION").await.expect("begin");
    locker.query_drop("SELECT * FROM beat WHERE id = 1 FOR UPDATE").await.expect("lock beat row");
    assert_eq!(writer.attempt(1).await, (Outcome::Timeout, None));
    // Readers take no locks and still see write 0.
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, Some(0)));
    locker.query_drop("COMMIT").await.expect("unlock");

    // The timed-out session was dropped; the next attempt opens a new one.
    let connections = server.global_status("Connections").await;
    assert_eq!(writer.attempt(2).await, (Outcome::Ok, None));
    // The status query's own connection is counted as well.
    assert_eq!(server.global_status("Connections").await, connections + 2, "one new session for the writer");
    assert_eq!(reader.attempt(2).await, (Outcome::Ok, Some(2)));

    let recording = writer_recording(run_id, vec![Outcome::Ok, Outcome::Timeout, Outcome::Ok]);
    let check = check_mariadb_acknowledged(&target, &quick, &recording).await.expect("check acknowledged writes");
    assert_eq!((check.acknowledged, check.present), (2, 2));
    assert_eq!(check.lost, Vec::<u64>::new());
    // Write 1 never got its COMMIT: closing its session rolled it back (and
    // released the beat row, which write 2 had to wait for).
    assert_eq!(check.unacknowledged, Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beat_moves_forward_within_a_run_and_a_new_run_takes_it_over() {
    let server = MariadbServer::start().await;
    let target = server.target();
    let writer_a = MariadbWriter::new(target.clone(), settings(), "run-a");
    let reader_a = MariadbReader::new(target.clone(), settings(), "run-a");
    let reader_b = MariadbReader::new(target.clone(), settings(), "run-b");
    assert_eq!(reader_a.attempt(0).await, (Outcome::Ok, None), "no beat row yet");

    assert_eq!(writer_a.attempt(5).await, (Outcome::Ok, None));
    // An overlapping attempt that started earlier commits later: the beat stays.
    assert_eq!(writer_a.attempt(3).await, (Outcome::Ok, None));
    assert_eq!(reader_a.attempt(1).await, (Outcome::Ok, Some(5)));
    assert_eq!(reader_b.attempt(0).await, (Outcome::Ok, None), "beat of run-a");

    // A new run takes the beat over even with a lower seq.
    let writer_b = MariadbWriter::new(target.clone(), settings(), "run-b");
    assert_eq!(writer_b.attempt(1).await, (Outcome::Ok, None));
    assert_eq!(reader_b.attempt(1).await, (Outcome::Ok, Some(1)));
    assert_eq!(reader_a.attempt(2).await, (Outcome::Ok, None), "beat of run-b");

    // A seq written before fails (writes is keyed by run and seq) and
    // leaves nothing behind.
    let (again, _) = writer_b.attempt(1).await;
    assert!(matches!(&again, Outcome::QueryFailed { error } if error.contains("Duplicate entry")), "{again:?}");
    assert_eq!(reader_b.attempt(2).await, (Outcome::Ok, Some(1)));

    let recording = writer_recording("run-a", (0..6).map(|_| Outcome::Ok).collect());
    let check = check_mariadb_acknowledged(&target, &settings(), &recording).await.expect("check run-a");
    assert_eq!(check.lost, vec![0, 1, 2, 4], "only 3 and 5 were written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_server_is_refused_to_the_writer_and_the_check() {
    let server = MariadbServer::start().await;
    let target = server.target();
    let run_id = "read-only";
    let writer = MariadbWriter::new(target.clone(), settings(), run_id);
    let reader = MariadbReader::new(target.clone(), settings(), run_id);
    assert_eq!(writer.attempt(0).await, (Outcome::Ok, None));

    // As a demoted primary is: the writer's idle session is refused its write…
    let mut admin = server.admin().await;
    admin.query_drop("SET GLOBAL read_only = ON").await.expect("read-only");
    let (outcome, _) = writer.attempt(1).await;
    assert!(matches!(&outcome, Outcome::QueryFailed { error } if error.contains("--read-only")), "{outcome:?}");
    // …and a new session is not opened on it at all.
    let (outcome, _) = writer.attempt(2).await;
    let refused = format!("connecting to 127.0.0.1:{} failed: server is read-only (read_only = 1)", target.port);
    assert!(matches!(&outcome, Outcome::ConnectFailed { error } if error.starts_with(&refused)), "{outcome:?}");
    // A reader is fine on a read-only server.
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, Some(0)));

    let recording = writer_recording(run_id, vec![Outcome::Ok]);
    let err = check_mariadb_acknowledged(&target, &settings(), &recording).await.expect_err("not a primary");
    assert!(matches!(err, AckError::Connect(_)), "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");

    admin.query_drop("SET GLOBAL read_only = OFF").await.expect("read-write");
    assert_eq!(writer.attempt(3).await, (Outcome::Ok, None));
    let recording = writer_recording(run_id, vec![Outcome::Ok, Outcome::QueryFailed { error: String::new() }]);
    let check = check_mariadb_acknowledged(&target, &settings(), &recording).await.expect("check on a primary");
    assert_eq!((check.acknowledged, check.present, check.unacknowledged), (1, 1, vec![3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_connect_failure_that_does_not_show_it() {
    let server = MariadbServer::start().await;
    let mut target = server.target();
    target.password = "not-the-password".into();
    let (outcome, _) = MariadbReader::new(target.clone(), settings(), "r").attempt(0).await;
    let error = outcome.error().unwrap_or_default().to_owned();
    assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
    assert!(error.contains("Access denied for user 'heartbeat'"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");
}
