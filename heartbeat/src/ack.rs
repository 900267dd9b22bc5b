//! Did every acknowledged write survive?
//!
//! After the cluster recovers, the writes table on the (possibly new) primary
//! is compared with the writer's recording. A write the server acknowledged
//! (`Ok` outcome) but that is missing now was lost by the failover — the one
//! thing a synchronous-replication setup promises never happens. Writes that
//! were not acknowledged (timeouts, broken sessions) may or may not be
//! present; neither is a loss, but the ones present committed although
//! their client was told they failed (or never heard back): an application
//! that retries such a write writes it twice, so they are counted too.
//!
//! The same comparison serves every service: [`check_acknowledged`] reads the
//! `writes` table of a PostgreSQL primary, [`check_redis_acknowledged`] the
//! `heartbeat:writes:{run_id}` list of a Redis master, and
//! [`check_mariadb_acknowledged`](crate::check_mariadb_acknowledged) the
//! `writes` table of a MariaDB primary.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tokio_postgres::types::ToSql;

use crate::error_chain::describe;
use crate::record::Recording;
use crate::redis_probe::{self, RedisTarget};
use crate::role::Role;
use crate::session::{self, ConnectError, Needs};
use crate::settings::ProbeSettings;
use crate::target::Target;

/// Errors from checking acknowledged writes.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// Only a writer's recording has acknowledged writes.
    #[error("recording of probe {probe} is from a reader, not a writer")]
    NotAWriter {
        /// Name of the probe whose recording was passed.
        probe: String,
    },
    /// No read-write session (PostgreSQL, MariaDB) or connection (Redis,
    /// Beanstalkd, NFS with its mount) could be opened.
    #[error("checking acknowledged writes: {0}")]
    Connect(#[from] ConnectError),
    /// The Redis server reached is not a master, so its list of writes may
    /// lag behind what was acknowledged.
    #[error("checking acknowledged writes: {host}:{port} is a redis {role}, not a master")]
    NotAMaster {
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// What `ROLE` answered (`slave`, `sentinel`, …).
        role: String,
    },
    /// The query against `writes` (or the Redis list of writes) failed.
    #[error("reading writes of run {run_id} from {host}:{port} failed: {detail}")]
    Query {
        /// Run whose writes were read.
        run_id: String,
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// Flattened driver error.
        detail: String,
    },
    /// The query against `writes` (or the Redis list of writes) did not
    /// finish in time.
    #[error("reading writes of run {run_id} from {host}:{port} timed out after {timeout:?}")]
    QueryTimeout {
        /// Run whose writes were read.
        run_id: String,
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// The query timeout that expired.
        timeout: std::time::Duration,
    },
}

/// Result of comparing acknowledged writes with what the database holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AckCheck {
    /// Number of distinct acknowledged writes.
    pub acknowledged: u64,
    /// How many of the acknowledged writes were found
    /// (`acknowledged == present + lost.len()`).
    pub present: u64,
    /// Acknowledged sequence numbers not found, ascending.
    pub lost: Vec<u64>,
    /// Sequence numbers found that were never acknowledged, ascending: the
    /// write committed, but its attempt failed (a timeout after the commit,
    /// a connection broken before the reply) or was still in flight when
    /// the probe stopped.
    #[serde(default)]
    pub unacknowledged: Vec<u64>,
}

impl AckCheck {
    /// True when no acknowledged write was lost.
    pub fn is_intact(&self) -> bool {
        self.lost.is_empty()
    }
}

/// Compares acknowledged sequence numbers with those present in the
/// database. Order and duplicates in either input do not matter; rows present
/// but never acknowledged are listed apart.
pub fn compare(acknowledged: &[u64], present: &[u64]) -> AckCheck {
    let acknowledged: BTreeSet<u64> = acknowledged.iter().copied().collect();
    let present: BTreeSet<u64> = present.iter().copied().collect();
    let lost: Vec<u64> = acknowledged.difference(&present).copied().collect();
    let unacknowledged: Vec<u64> = present.difference(&acknowledged).copied().collect();
    let total = acknowledged.len() as u64;
    AckCheck { acknowledged: total, present: total - lost.len() as u64, lost, unacknowledged }
}

/// Reads `writes` for the recording's run on a read-write server reached
/// through `target` and compares it with the writer's acknowledged writes.
pub async fn check_acknowledged(
    target: &Target,
    settings: &ProbeSettings,
    recording: &Recording,
) -> Result<AckCheck, AckError> {
    ensure_writer(recording)?;
    let run_id = &recording.run_id;
    let session = session::open(target, settings, Needs::ReadWrite, "heartbeat-ack-check").await?;
    let params: [&(dyn ToSql + Sync); 1] = [run_id];
    let reading = session.client.query("SELECT seq FROM writes WHERE run = $1", &params);
    let rows = match tokio::time::timeout(settings.query_timeout, reading).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            return Err(AckError::Query {
                run_id: run_id.clone(),
                host: target.host.clone(),
                port: target.port,
                detail: describe(&e),
            });
        }
        Err(_elapsed) => {
            return Err(AckError::QueryTimeout {
                run_id: run_id.clone(),
                host: target.host.clone(),
                port: target.port,
                timeout: settings.query_timeout,
            });
        }
    };
    let mut present = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get(0).map_err(|e| AckError::Query {
            run_id: run_id.clone(),
            host: target.host.clone(),
            port: target.port,
            detail: describe(&e),
        })?;
        // Negative numbers are never written; skip rather than wrap them.
        present.extend(u64::try_from(seq).ok());
    }
    Ok(compare_and_log(recording, &present))
}

/// Reads the list `heartbeat:writes:{run_id}` for the recording's run on the
/// Redis master reached through `target` and compares it with the writer's
/// acknowledged writes.
///
/// `ROLE` and `LRANGE` go in one round trip within `settings.query_timeout`;
/// a server that is not a master is refused ([`AckError::NotAMaster`]), as a
/// replica may not have every acknowledged write yet.
pub async fn check_redis_acknowledged(
    target: &RedisTarget,
    settings: &ProbeSettings,
    recording: &Recording,
) -> Result<AckCheck, AckError> {
    ensure_writer(recording)?;
    let run_id = &recording.run_id;
    let query_failed = |detail: String| AckError::Query {
        run_id: run_id.clone(),
        host: target.host.clone(),
        port: target.port,
        detail,
    };
    let mut connection = redis_probe::connect(target, settings).await?;
    let mut reading = redis::pipe();
    reading.cmd("ROLE").cmd("LRANGE").arg(redis_probe::writes_key(run_id)).arg(0).arg(-1);
    let query = reading.query_async::<(Vec<redis::Value>, Vec<String>)>(&mut connection);
    let (role, writes) = match tokio::time::timeout(settings.query_timeout, query).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) if !e.is_timeout() => return Err(query_failed(redis_probe::describe_redis(&e))),
        Ok(Err(_)) | Err(_) => {
            return Err(AckError::QueryTimeout {
                run_id: run_id.clone(),
                host: target.host.clone(),
                port: target.port,
                timeout: settings.query_timeout,
            });
        }
    };
    let role = match role.first() {
        Some(redis::Value::BulkString(name)) => String::from_utf8_lossy(name).into_owned(),
        Some(redis::Value::SimpleString(name)) => name.clone(),
        other => return Err(query_failed(format!("unexpected reply to ROLE: {other:?}"))),
    };
    if role != "master" {
        return Err(AckError::NotAMaster { host: target.host.clone(), port: target.port, role });
    }
    // The writer pushes nothing but decimal sequence numbers; anything else
    // cannot prove a write present, so skipping it can only report more
    // losses, never fewer.
    let present: Vec<u64> = writes.iter().filter_map(|seq| seq.parse().ok()).collect();
    Ok(compare_and_log(recording, &present))
}

/// Only a writer's recording has acknowledged writes.
pub(crate) fn ensure_writer(recording: &Recording) -> Result<(), AckError> {
    if recording.role != Role::Writer {
        return Err(AckError::NotAWriter { probe: recording.probe.clone() });
    }
    Ok(())
}

pub(crate) fn compare_and_log(recording: &Recording, present: &[u64]) -> AckCheck {
    let check = compare(&recording.acknowledged_writes(), present);
    tracing::info!(
        run_id = %recording.run_id,
        acknowledged = check.acknowledged,
        present = check.present,
        lost = check.lost.len(),
        unacknowledged = check.unacknowledged.len(),
        "acknowledged writes checked"
    );
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_acknowledged_nothing_lost() {
        assert_eq!(
            compare(&[], &[1, 2]),
            AckCheck { acknowledged: 0, present: 0, lost: vec![], unacknowledged: vec![1, 2] }
        );
    }

    #[test]
    fn all_present() {
        let check = compare(&[1, 2, 3], &[3, 2, 1]);
        assert_eq!((check.acknowledged, check.present), (3, 3));
        assert!(check.is_intact());
    }

    #[test]
    fn missing_acknowledged_writes_are_lost_in_order() {
        let check = compare(&[9, 1, 2, 3, 4], &[1, 3]);
        assert_eq!(check, AckCheck { acknowledged: 5, present: 2, lost: vec![2, 4, 9], unacknowledged: vec![] });
        assert!(!check.is_intact());
    }

    #[test]
    fn unacknowledged_rows_are_counted_apart() {
        // 5 and 3 timed out on the client but committed on the server.
        let check = compare(&[1, 2], &[5, 1, 2, 3]);
        assert_eq!((check.acknowledged, check.present), (2, 2));
        assert!(check.lost.is_empty());
        assert_eq!(check.unacknowledged, vec![3, 5]);
    }

    #[test]
    fn results_without_unacknowledged_writes_still_read() {
        let check: AckCheck =
            serde_json::from_str(r#"{"acknowledged": 2, "present": 2, "lost": []}"#).expect("older results");
        assert!(check.unacknowledged.is_empty());
    }

    #[test]
    fn duplicates_are_counted_once() {
        let check = compare(&[1, 1, 2], &[2, 2]);
        assert_eq!(check, AckCheck { acknowledged: 2, present: 1, lost: vec![1], unacknowledged: vec![] });
    }

    #[test]
    fn everything_lost() {
        let check = compare(&[4, 5], &[]);
        assert_eq!(check.lost, vec![4, 5]);
        assert_eq!(check.present, 0);
    }

    #[tokio::test]
    async fn reader_recordings_are_rejected() {
        let recording = Recording { probe: "reader".into(), role: Role::Reader, run_id: "r".into(), attempts: vec![] };
        let target =
            Target { host: "127.0.0.1".into(), port: 1, dbname: "d".into(), user: "u".into(), password: "p".into() };
        let err = check_acknowledged(&target, &ProbeSettings::default(), &recording)
            .await
            .expect_err("a reader has no acknowledged writes");
        assert_eq!(err.to_string(), "recording of probe reader is from a reader, not a writer");
    }

    #[tokio::test]
    async fn reader_recordings_are_rejected_for_redis_too() {
        let recording = Recording { probe: "reader".into(), role: Role::Reader, run_id: "r".into(), attempts: vec![] };
        // Nothing listens on port 1: the role is checked before connecting.
        let target = RedisTarget { host: "127.0.0.1".into(), port: 1, password: "p".into() };
        let err = check_redis_acknowledged(&target, &ProbeSettings::default(), &recording)
            .await
            .expect_err("a reader has no acknowledged writes");
        assert!(matches!(err, AckError::NotAWriter { .. }), "{err}");
    }

    #[tokio::test]
    async fn unreachable_redis_is_a_connect_error_naming_host_and_port() {
        let port = crate::test_servers::closed_port().await;
        let recording = Recording { probe: "writer".into(), role: Role::Writer, run_id: "r".into(), attempts: vec![] };
        let target = RedisTarget { host: "127.0.0.1".into(), port, password: "p".into() };
        let err = check_redis_acknowledged(&target, &ProbeSettings::default(), &recording)
            .await
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(matches!(err, AckError::Connect(_)), "{text}");
        assert!(
            text.starts_with(&format!("checking acknowledged writes: connecting to 127.0.0.1:{port} failed")),
            "{text}"
        );
    }

    #[test]
    fn not_a_master_message_names_the_server_and_its_role() {
        let err = AckError::NotAMaster { host: "10.0.0.5".into(), port: 6379, role: "slave".into() };
        assert_eq!(err.to_string(), "checking acknowledged writes: 10.0.0.5:6379 is a redis slave, not a master");
    }
}
