//! Kill -9 a real Redis under a running writer and reader, restart it, and
//! check what the probes recorded: one outage spanning the downtime, recovery
//! afterwards, and no acknowledged write lost (the AOF is fsynced on every
//! write). Also: a writer pointed at a read-only replica records `READONLY`
//! failures, reconnects on every attempt and succeeds once the replica is
//! promoted; a paused server makes writes time out without wedging the probe.

mod support;

use std::time::Duration;

use heartbeat::{
    AckError, Attempt, Clock, Outcome, Probe, ProbeSettings, RedisReader, RedisTarget, RedisWriter, Role,
    check_redis_acknowledged, run,
};
use support::kill_restart::{Plan, kill_and_restart, plan, settings};
use support::redis_server::{self, RedisServer};
use support::{assert_gapless, attempts_where, ok_attempts, writer_recording};
use tokio::sync::{mpsc, watch};

const PHASE_TIMEOUT: Duration = Duration::from_secs(30);
const PLAN: Plan = plan(PHASE_TIMEOUT);

/// Connections the server has accepted since it started.
async fn connections_received(server: &RedisServer) -> u64 {
    server.info_field("stats", "total_connections_received").await.parse().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_restart_loses_no_acknowledged_write() {
    let mut server = RedisServer::start().await;
    let target = server.target();
    let run_id = "kill9-restart";
    let writer = RedisWriter::new(target.clone(), settings(), run_id);
    let reader = RedisReader::new(target.clone(), settings(), run_id);
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
        assert!(error.contains(&format!("127.0.0.1:{}", server.port())), "{error}");
        assert!(!error.contains(redis_server::PASSWORD), "password leaked: {error}");
    }
    // The AOF survived kill -9.
    run.assert_reader_saw_every_acknowledged_write();

    // appendfsync always: every acknowledged write survives kill -9.
    let check = check_redis_acknowledged(&target, &settings(), &run.writer).await.expect("check acknowledged writes");
    run.assert_no_acknowledged_write_lost(&check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_replica_fails_writes_until_promoted() {
    let master = RedisServer::start().await;
    let replica = RedisServer::start_replica_of(&master).await;
    replica.wait_in_sync().await;

    // A reader on the replica follows the master's writes.
    let master_writer = RedisWriter::new(master.target(), settings(), "via-master");
    for seq in 0..3 {
        assert_eq!(master_writer.attempt(seq).await, (Outcome::Ok, None));
    }
    let replica_reader = RedisReader::new(replica.target(), settings(), "via-master");
    let replicated = async {
        loop {
            match replica_reader.attempt(0).await {
                (Outcome::Ok, Some(2)) => return,
                (Outcome::Ok, _) => tokio::time::sleep(Duration::from_millis(20)).await,
                other => panic!("reading the replica failed: {other:?}"),
            }
        }
    };
    tokio::time::timeout(PHASE_TIMEOUT, replicated).await.expect("write 2 replicated");

    // The lost-write check refuses a replica: it may lag behind the master.
    let master_run = writer_recording("via-master", vec![Outcome::Ok; 3]);
    let err = check_redis_acknowledged(&replica.target(), &settings(), &master_run)
        .await
        .expect_err("a replica is not a master");
    assert!(matches!(&err, AckError::NotAMaster { role, .. } if role == "slave"), "{err}");
    let check = check_redis_acknowledged(&master.target(), &settings(), &master_run).await.expect("check on master");
    assert_eq!((check.acknowledged, check.present), (3, 3));

    // A writer pointed at the replica, as through a VIP that still points at
    // a demoted master.
    let run_id = "via-replica";
    let clock = Clock::start();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (live_tx, mut live_rx) = mpsc::unbounded_channel();
    let connections_before = connections_received(&replica).await;
    let writer = tokio::spawn(run(
        RedisWriter::new(replica.target(), settings(), run_id),
        "writer",
        Role::Writer,
        run_id,
        settings(),
        clock,
        stop_rx,
        Some(live_tx),
    ));
    let refused = attempts_where(&mut live_rx, 10, PHASE_TIMEOUT, |a| !a.outcome.is_ok()).await;
    for attempt in &refused {
        assert!(
            matches!(&attempt.outcome, Outcome::QueryFailed { error } if error.contains("READONLY")),
            "a replica refuses writes with READONLY: {attempt:?}"
        );
    }
    // Each refused attempt threw its connection away and opened a new one
    // (the last +1 is the connection asking).
    let connections_after = connections_received(&replica).await;
    let probe_connections = connections_after - connections_before - 1;
    assert!(
        probe_connections >= refused.len() as u64,
        "{} refused attempts but only {probe_connections} connections: the probe kept a READONLY connection",
        refused.len()
    );

    // Promotion: the same probe, without a restart, writes again.
    let promoted_at = clock.elapsed();
    let reply: String = replica.command(&["REPLICAOF", "NO", "ONE"]).await;
    assert_eq!(reply, "OK");
    ok_attempts(&mut live_rx, 10, promoted_at, PHASE_TIMEOUT).await;
    stop_tx.send_replace(true);
    let writer = writer.await.expect("writer task");

    assert_gapless(&writer);
    assert!(!writer.attempts[0].outcome.is_ok(), "the first write on a replica must fail");
    for attempt in writer.attempts.iter().filter(|a| !a.outcome.is_ok()) {
        assert!(
            matches!(&attempt.outcome, Outcome::QueryFailed { error } if error.contains("READONLY")),
            "only READONLY failures expected: {attempt:?}"
        );
        assert!(attempt.started < promoted_at + Duration::from_secs(1), "still refused long after promotion");
    }
    let outages = writer.outages();
    assert_eq!(outages.len(), 1, "one outage, from the start to the promotion: {outages:?}");
    assert_eq!(outages[0].start, writer.attempts[0].started);
    assert!(outages[0].end.is_some_and(|end| end > promoted_at), "{outages:?}");

    // The promoted replica holds every write acknowledged after promotion,
    // and still the master's replicated ones.
    let check = check_redis_acknowledged(&replica.target(), &settings(), &writer).await.expect("check on promoted");
    assert!(check.acknowledged >= 10);
    assert_eq!(check.lost, Vec::<u64>::new());
    let check = check_redis_acknowledged(&replica.target(), &settings(), &master_run).await.expect("check old run");
    assert!(check.is_intact(), "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_writes_time_out_then_reconnect() {
    let server = RedisServer::start().await;
    let run_id = "paused";
    // A timeout long enough that a loaded CI machine still answers within it;
    // the pause is far longer and ends only when the test says so.
    let quick = ProbeSettings { query_timeout: Duration::from_secs(1), ..settings() };
    let writer = RedisWriter::new(server.target(), quick.clone(), run_id);
    let reader = RedisReader::new(server.target(), quick.clone(), run_id);

    assert_eq!(writer.attempt(0).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, Some(0)));

    // Writes (EXEC of a transaction with writes) block; reads do not.
    let connections_before = connections_received(&server).await;
    let reply: String = server.command(&["CLIENT", "PAUSE", "60000", "WRITE"]).await;
    assert_eq!(reply, "OK");
    assert_eq!(writer.attempt(1).await, (Outcome::Timeout, None));
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, Some(0)));
    let reply: String = server.command(&["CLIENT", "UNPAUSE"]).await;
    assert_eq!(reply, "OK");

    // The timed-out connection was dropped; the next attempt opens a new one.
    assert_eq!(writer.attempt(2).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(2).await, (Outcome::Ok, Some(2)));
    let connections_after = connections_received(&server).await;
    // before's own, CLIENT PAUSE's, CLIENT UNPAUSE's, after's own: anything more is the writer.
    assert_eq!(connections_after - connections_before, 4, "the writer reconnected once, the reader never");

    let recording = writer_recording(run_id, vec![Outcome::Ok, Outcome::Timeout, Outcome::Ok]);
    let check = check_redis_acknowledged(&server.target(), &quick, &recording).await.expect("check");
    assert_eq!((check.acknowledged, check.present), (2, 2));
    assert_eq!(check.lost, Vec::<u64>::new());

    // The check can fail: a write claimed acknowledged that is not there.
    let mut claimed = writer_recording(run_id, vec![Outcome::Ok, Outcome::Timeout, Outcome::Ok]);
    claimed.attempts.push(Attempt { seq: 99, ..claimed.attempts[0].clone() });
    let check = check_redis_acknowledged(&server.target(), &quick, &claimed).await.expect("check");
    assert_eq!(check.lost, vec![99]);
    assert_eq!((check.acknowledged, check.present), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_of_another_run_or_garbage_are_invisible_to_a_reader() {
    let server = RedisServer::start().await;
    let writer = RedisWriter::new(server.target(), settings(), "run-a");
    let reader = RedisReader::new(server.target(), settings(), "run-b");
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, None), "no beat yet");
    assert_eq!(writer.attempt(7).await, (Outcome::Ok, None));
    assert_eq!(reader.attempt(1).await, (Outcome::Ok, None), "beat of run-a");
    let reply: String = server.command(&["SET", "heartbeat:beat", "run-b:not-a-number"]).await;
    assert_eq!(reply, "OK");
    assert_eq!(reader.attempt(2).await, (Outcome::Ok, None), "garbage beat");
    let reply: String = server.command(&["SET", "heartbeat:beat", "run-b:12"]).await;
    assert_eq!(reply, "OK");
    assert_eq!(reader.attempt(3).await, (Outcome::Ok, Some(12)));

    // The list of writes holds exactly what the writer pushed.
    let writes: Vec<String> = server.command(&["LRANGE", "heartbeat:writes:run-a", "0", "-1"]).await;
    assert_eq!(writes, vec!["7"]);

    // A beat of the wrong type is an error reply: QueryFailed, then reconnect.
    let deleted: u64 = server.command(&["DEL", "heartbeat:beat"]).await;
    assert_eq!(deleted, 1);
    let pushed: u64 = server.command(&["RPUSH", "heartbeat:beat", "x"]).await;
    assert_eq!(pushed, 1);
    let (outcome, observed) = reader.attempt(4).await;
    assert!(matches!(&outcome, Outcome::QueryFailed { error } if error.contains("WRONGTYPE")), "{outcome:?}");
    assert_eq!(observed, None);

    // Same for the writer when its list has the wrong type. MULTI/EXEC has no
    // rollback: the SET after the failed RPUSH is applied, but the write was
    // not acknowledged, so it counts neither way.
    let reply: String = server.command(&["SET", "heartbeat:writes:run-c", "not a list"]).await;
    assert_eq!(reply, "OK");
    let broken = RedisWriter::new(server.target(), settings(), "run-c");
    let (outcome, _) = broken.attempt(3).await;
    assert!(matches!(&outcome, Outcome::QueryFailed { error } if error.contains("WRONGTYPE")), "{outcome:?}");
    let beat: String = server.command(&["GET", "heartbeat:beat"]).await;
    assert_eq!(beat, "run-c:3");
    // The failed transaction dropped the connection; run-a's writer is fine.
    assert_eq!(writer.attempt(8).await, (Outcome::Ok, None));
    let writes: Vec<String> = server.command(&["LRANGE", "heartbeat:writes:run-a", "0", "-1"]).await;
    assert_eq!(writes, vec!["7", "8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_password_is_connect_failed() {
    let server = RedisServer::start().await;
    // The driver reports a refused AUTH in its own words; a missing AUTH is
    // noticed by the PING that ends every connect.
    for (password, expected) in [("not-the-password", "authentication failed"), ("", "NOAUTH")] {
        let target = RedisTarget { password: password.into(), ..server.target() };
        let writer = RedisWriter::new(target.clone(), settings(), "auth");
        let reader = RedisReader::new(target, settings(), "auth");
        for (outcome, _) in [writer.attempt(0).await, reader.attempt(0).await, writer.attempt(1).await] {
            let error = outcome.error().unwrap_or_default();
            assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
            assert!(error.to_lowercase().contains(&expected.to_lowercase()), "{error}");
            assert!(error.contains(&format!("connecting to 127.0.0.1:{}", server.port())), "{error}");
            assert!(password.is_empty() || !error.contains(password), "password leaked: {error}");
        }
    }
}
