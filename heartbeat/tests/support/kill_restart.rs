//! The kill -9 / restart experiment shared by the probe tests (PostgreSQL,
//! Redis, Beanstalkd, NFS, MariaDB): the same steps and the same expectations about
//! what the probes record, whatever the server.

use std::future::Future;
use std::time::Duration;

use heartbeat::{AckCheck, Clock, Probe, ProbeSettings, Recording, Role, first_ok_after, run};
use tokio::sync::{mpsc, watch};

use super::{assert_gapless, failures, ok_attempts};

/// A test server that can be killed with -9 and restarted in place.
pub trait Restartable {
    fn kill9(&mut self);
    fn restart(&mut self) -> impl Future<Output = ()>;
}

impl Restartable for super::pg_server::PgServer {
    fn kill9(&mut self) {
        super::pg_server::PgServer::kill9(self);
    }

    fn restart(&mut self) -> impl Future<Output = ()> {
        super::pg_server::PgServer::restart(self)
    }
}

impl Restartable for super::redis_server::RedisServer {
    fn kill9(&mut self) {
        super::redis_server::RedisServer::kill9(self);
    }

    fn restart(&mut self) -> impl Future<Output = ()> {
        super::redis_server::RedisServer::restart(self)
    }
}

impl Restartable for super::mariadb_server::MariadbServer {
    fn kill9(&mut self) {
        super::mariadb_server::MariadbServer::kill9(self);
    }

    fn restart(&mut self) -> impl Future<Output = ()> {
        super::mariadb_server::MariadbServer::restart(self)
    }
}

impl Restartable for super::nfs_server::NfsServer {
    fn kill9(&mut self) {
        super::nfs_server::NfsServer::kill9(self);
    }

    fn restart(&mut self) -> impl Future<Output = ()> {
        super::nfs_server::NfsServer::restart(self)
    }
}

impl Restartable for super::beanstalk_server::BeanstalkServer {
    fn kill9(&mut self) {
        super::beanstalk_server::BeanstalkServer::kill9(self);
    }

    fn restart(&mut self) -> impl Future<Output = ()> {
        super::beanstalk_server::BeanstalkServer::restart(self)
    }
}

/// Attempts per second of the probes in the kill tests.
pub const RATE_HZ: f64 = 40.0;

/// The kill tests' probe settings: 1 s to connect and to query.
pub fn settings() -> ProbeSettings {
    ProbeSettings { rate_hz: RATE_HZ, connect_timeout: Duration::from_secs(1), query_timeout: Duration::from_secs(1) }
}

/// A kill of 1.5 s, each phase waited for at most `phase_timeout`.
pub const fn plan(phase_timeout: Duration) -> Plan {
    Plan { rate_hz: RATE_HZ, downtime: Duration::from_millis(1500), phase_timeout }
}

/// How the experiment runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub rate_hz: f64,
    /// How long the server stays dead.
    pub downtime: Duration,
    /// Limit on each wait for successful attempts.
    pub phase_timeout: Duration,
}

/// What a writer and a reader recorded around the kill and the restart.
#[derive(Debug)]
pub struct KillRestart {
    pub writer: Recording,
    pub reader: Recording,
    pub killed_at: Duration,
    pub restarted_at: Duration,
}

/// Runs `writer` and `reader`, kills the server after 20 acknowledged
/// writes, keeps it down for `plan.downtime`, restarts it, and stops the
/// probes once both succeeded 10 times after the restart (each reconnects on
/// its own).
pub async fn kill_and_restart<W, R>(
    server: &mut impl Restartable,
    writer: W,
    reader: R,
    run_id: &str,
    plan: Plan,
) -> KillRestart
where
    W: Probe + 'static,
    R: Probe + 'static,
{
    let clock = Clock::start();
    let settings = ProbeSettings { rate_hz: plan.rate_hz, ..ProbeSettings::default() };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (writer_tx, mut writer_rx) = mpsc::unbounded_channel();
    let (reader_tx, mut reader_rx) = mpsc::unbounded_channel();
    let owned_run_id = run_id.to_owned();
    let writer = tokio::spawn({
        let (run_id, stop_rx, settings) = (owned_run_id.clone(), stop_rx.clone(), settings.clone());
        async move { run(writer, "writer", Role::Writer, &run_id, settings, clock, stop_rx, Some(writer_tx)).await }
    });
    let reader = tokio::spawn(async move {
        run(reader, "reader", Role::Reader, &owned_run_id, settings, clock, stop_rx, Some(reader_tx)).await
    });

    ok_attempts(&mut writer_rx, 20, Duration::ZERO, plan.phase_timeout).await;
    let killed_at = clock.elapsed();
    server.kill9();
    tokio::time::sleep(plan.downtime).await;
    let restarted_at = clock.elapsed();
    server.restart().await;
    ok_attempts(&mut writer_rx, 10, restarted_at, plan.phase_timeout).await;
    ok_attempts(&mut reader_rx, 10, restarted_at, plan.phase_timeout).await;
    stop_tx.send_replace(true);
    KillRestart {
        writer: writer.await.expect("writer task"),
        reader: reader.await.expect("reader task"),
        killed_at,
        restarted_at,
    }
}

impl KillRestart {
    /// Every write attempt recorded, failures while down, and exactly one
    /// outage over the downtime: starting no earlier than the kill, ending at
    /// the first write after the restart.
    ///
    /// On a loaded machine puts can queue behind a slow fsync: the kill then
    /// fails attempts that started before it while a newer one, on a
    /// connection the server answered first, had already succeeded. Those
    /// failures form a window of their own that ends before the kill; it is
    /// allowed only if every attempt in it was in flight at the kill.
    pub fn assert_one_writer_outage_over_the_downtime(&self) {
        let (writer, killed_at, restarted_at) = (&self.writer, self.killed_at, self.restarted_at);
        assert_gapless(writer);
        assert!(failures(writer) > 0, "no failed writes recorded");
        let outages = writer.outages();
        eprintln!("writer outages: {outages:?} (killed at {killed_at:?}, restarted at {restarted_at:?})");
        let failed_before_kill: Vec<_> =
            writer.attempts.iter().filter(|a| a.started < killed_at && !a.outcome.is_ok()).collect();
        for attempt in &failed_before_kill {
            eprintln!("started before the kill and failed: {attempt:?}");
        }
        // Nothing fails before the kill; an attempt in flight at the kill
        // may have started a moment before it, but cannot have failed before it.
        for attempt in &failed_before_kill {
            assert!(attempt.completed() >= killed_at, "{attempt:?} failed before the kill at {killed_at:?}");
        }
        let (caught_in_flight, over_downtime): (Vec<_>, Vec<_>) =
            outages.iter().partition(|o| o.end.is_some_and(|end| end <= killed_at));
        if over_downtime.len() != 1 {
            // What failed after the restart says why: still starting, or a
            // timeout of a starved machine.
            let late = writer.attempts.iter().filter(|a| a.started > restarted_at && !a.outcome.is_ok());
            for attempt in late.rev().take(5) {
                eprintln!("failed after the restart: {attempt:?}");
            }
        }
        assert_eq!(over_downtime.len(), 1, "exactly one writer outage over the downtime: {outages:?}");
        for window in caught_in_flight {
            // Its failures all started before its end, itself before the kill.
            let in_window = writer
                .attempts
                .iter()
                .filter(|a| a.started >= window.start && a.started < window.end.unwrap_or_default());
            assert!(
                in_window.clone().all(|a| !a.outcome.is_ok() && a.completed() >= killed_at),
                "{window:?} is not only writes cut by the kill"
            );
        }
        let outage = over_downtime[0];
        assert!(outage.start < restarted_at, "{outage:?} must begin while down");
        let end = outage.end.expect("writer recovered");
        assert!(end >= restarted_at, "{outage:?} must end after the restart");
        // It ends as the first write sent after the restart is sent.
        let first_ok = writer.attempts.iter().find(|a| a.started == end).expect("outage ends at an attempt");
        assert_eq!(first_ok_after(&writer.attempts, restarted_at), Some(first_ok.completed()));
    }

    /// The reader failed too, recovered after the restart, and then saw at
    /// least the last write acknowledged before the kill.
    pub fn assert_reader_saw_every_acknowledged_write(&self) {
        let (writer, reader) = (&self.writer, &self.reader);
        assert_gapless(reader);
        assert!(failures(reader) > 0, "no failed reads recorded");
        let reader_outages = reader.outages();
        assert!(
            reader_outages.iter().any(|o| o.end.is_some_and(|end| end > self.restarted_at)),
            "reader outage ending after the restart: {reader_outages:?}"
        );
        let last_acked_before_kill = writer
            .attempts
            .iter()
            .filter(|a| a.outcome.is_ok() && a.completed() < self.killed_at)
            .map(|a| a.seq)
            .max()
            .expect("writes before the kill");
        let first_read_after_restart = reader
            .attempts
            .iter()
            .find(|a| a.started >= self.restarted_at && a.outcome.is_ok())
            .expect("reader recovered");
        assert!(
            first_read_after_restart.observed_seq.is_some_and(|seen| seen >= last_acked_before_kill),
            "after the restart the reader must see at least seq {last_acked_before_kill}: {first_read_after_restart:?}"
        );
    }

    /// The lost-write check found every acknowledged write, and counted them all.
    pub fn assert_no_acknowledged_write_lost(&self, check: &AckCheck) {
        eprintln!("ack check: {check:?}");
        assert!(check.acknowledged > 0);
        assert_eq!(check.acknowledged, self.writer.acknowledged_writes().len() as u64);
        assert_eq!(check.lost, Vec::<u64>::new());
        assert_eq!(check.present, check.acknowledged);
    }
}
