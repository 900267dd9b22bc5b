//! Kill -9 a real Beanstalkd under a running writer and reader, restart it
//! on its binlog, and check what the probes recorded: one outage spanning
//! the downtime, recovery afterwards, and every acknowledged put still
//! queued (the binlog is fsynced on every write). The lost-job check can
//! fail, and sees only its own run's jobs.

mod support;

use std::time::Duration;

use heartbeat::{
    Attempt, BeanstalkReader, BeanstalkTarget, BeanstalkWriter, Outcome, Probe, check_beanstalk_acknowledged,
};
use support::beanstalk_server::BeanstalkServer;
use support::kill_restart::{Plan, kill_and_restart, plan, settings};
use support::writer_recording;

const PLAN: Plan = plan(Duration::from_secs(30));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_then_restart_loses_no_acknowledged_job() {
    let mut server = BeanstalkServer::start().await;
    let target = server.target();
    let run_id = "kill9:restart";
    let writer = BeanstalkWriter::new(target.clone(), settings(), run_id);
    let reader = BeanstalkReader::new(target.clone(), settings(), run_id);
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
    assert!(refused[0].outcome.error().unwrap_or_default().contains(&format!("127.0.0.1:{}", server.port())));

    // -f 0: every acknowledged put survives kill -9.
    let check = check_beanstalk_acknowledged(&target, &settings(), &run.writer).await.expect("check");
    run.assert_no_acknowledged_write_lost(&check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_fails_on_a_missing_job_and_ignores_other_runs() {
    let server = BeanstalkServer::start().await;
    let other = BeanstalkWriter::new(server.target(), settings(), "other-run");
    assert_eq!(other.attempt(0).await, (Outcome::Ok, None));
    let writer = BeanstalkWriter::new(server.target(), settings(), "mine");
    let reader = BeanstalkReader::new(server.target(), settings(), "mine");
    for seq in 0..3 {
        assert_eq!(writer.attempt(seq).await, (Outcome::Ok, None));
    }
    assert_eq!(reader.attempt(0).await, (Outcome::Ok, None));

    // A put claimed acknowledged that the queue never had.
    let mut claimed = writer_recording("mine", vec![Outcome::Ok, Outcome::Ok, Outcome::Ok]);
    claimed.attempts.push(Attempt { seq: 99, ..claimed.attempts[0].clone() });
    let check = check_beanstalk_acknowledged(&server.target(), &settings(), &claimed).await.expect("check");
    assert_eq!(check.lost, vec![99]);
    assert_eq!((check.acknowledged, check.present), (4, 3));

    // The other run's job stayed in its own tube.
    let recording = writer_recording("other-run", vec![Outcome::Ok]);
    let check = check_beanstalk_acknowledged(&server.target(), &settings(), &recording).await.expect("check");
    assert!(check.is_intact() && check.acknowledged == 1, "{check:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_listening_is_connect_failed() {
    let closed = BeanstalkTarget { host: "127.0.0.1".into(), port: support::free_port() };
    let writer = BeanstalkWriter::new(closed.clone(), settings(), "x");
    assert!(matches!(writer.attempt(0).await.0, Outcome::ConnectFailed { .. }));
    let reader = BeanstalkReader::new(closed, settings(), "x");
    assert!(matches!(reader.attempt(0).await.0, Outcome::ConnectFailed { .. }));
}
