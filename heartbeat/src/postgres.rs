//! The real probes: a heartbeat writer and reader for PostgreSQL.
//!
//! Each attempt takes a session that just worked (see [`crate::idle`]) or
//! opens one; a session is thrown away on the first error or timeout so that
//! later attempts reconnect — through the VIP, to whichever server holds it
//! now. Every step is bounded: opening
//! (connect, login, prepare) by `connect_timeout`, each query by
//! `query_timeout`, because tokio-postgres has no per-query timeout and a
//! query sent to a node that just lost the VIP would otherwise hang.
//!
//! The writer commits one row per attempt; an `Ok` outcome therefore means
//! "the server acknowledged this commit", which is what
//! [`check_acknowledged`](crate::check_acknowledged) later verifies survived.

use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Statement;
use tokio_postgres::types::{ToSql, Type};

use crate::error_chain::describe;
use crate::idle::Idle;
use crate::probe::Probe;
use crate::record::Outcome;
use crate::session::{self, Needs, Session};
use crate::settings::ProbeSettings;
use crate::target::Target;

/// Creates the heartbeat tables; idempotent, run by the heartbeat user.
///
/// * `beat` holds a single row (`id = 1`) with the writer's latest `seq`, so
///   a reader (possibly on a replica) can see how far replication got.
/// * `writes` holds one row per acknowledged-or-not write, keyed by run, so
///   lost acknowledged writes can be found after a failover.
pub const SCHEMA_SQL: &str = "\
CREATE TABLE IF NOT EXISTS beat (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    run text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS writes (
    run text NOT NULL,
    seq bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run, seq)
);
";

/// One atomic statement: record the write and move the beat forward.
///
/// Attempts overlap, so writes of one run may commit out of order: the beat
/// only ever moves forward within a run (a new run takes it over).
const WRITE_SQL: &str = "\
WITH w AS (INSERT INTO writes (run, seq) VALUES ($1, $2))
INSERT INTO beat (id, seq, run, at) VALUES (1, $2, $1, now())
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, run = excluded.run, at = excluded.at
WHERE beat.run <> excluded.run OR beat.seq < excluded.seq";

const READ_SQL: &str = "SELECT seq, run FROM beat WHERE id = 1";

/// A session with its prepared statement.
#[derive(Debug)]
struct Live {
    session: Session,
    statement: Statement,
}

/// Sessions for one statement, opened when no idle one is left.
#[derive(Debug)]
struct Link {
    target: Target,
    settings: ProbeSettings,
    needs: Needs,
    application_name: String,
    sql: &'static str,
    param_types: &'static [Type],
    idle: Idle<Live>,
}

impl Link {
    /// Takes an idle session out of the link, opening one if none is left.
    ///
    /// The caller puts it back with [`Link::keep`] only after a successful
    /// query, so an error, a timeout or a cancelled attempt all drop it.
    async fn take(&self) -> Result<Live, Outcome> {
        if let Some(live) = self.idle.take() {
            return Ok(live);
        }
        let deadline = Instant::now() + self.settings.connect_timeout;
        let session = session::open(&self.target, &self.settings, self.needs, &self.application_name)
            .await
            .map_err(|e| Outcome::ConnectFailed { error: e.to_string() })?;
        let preparing = session.client.prepare_typed(self.sql, self.param_types);
        let statement = match tokio::time::timeout_at(deadline, preparing).await {
            Ok(Ok(statement)) => statement,
            Ok(Err(e)) => {
                return Err(Outcome::ConnectFailed {
                    error: format!(
                        "preparing statement on {}:{} failed: {}",
                        self.target.host,
                        self.target.port,
                        describe(&e)
                    ),
                });
            }
            Err(_elapsed) => {
                return Err(Outcome::ConnectFailed {
                    error: format!(
                        "connecting to {}:{} timed out after {:?} while preparing statement",
                        self.target.host, self.target.port, self.settings.connect_timeout
                    ),
                });
            }
        };
        tracing::debug!(server = %self.target, "session opened");
        Ok(Live { session, statement })
    }

    /// Returns a session that just worked, for the next attempts.
    fn keep(&self, live: Live) {
        self.idle.keep(live);
    }

    fn query_timeout(&self) -> Duration {
        self.settings.query_timeout
    }
}

/// A query the server rejected or a session that broke under it.
fn query_failed(e: &tokio_postgres::Error) -> Outcome {
    Outcome::QueryFailed { error: describe(e) }
}

/// Writes one heartbeat per attempt on a read-write server.
///
/// Attempt `seq` inserts `(run_id, seq)` into `writes` and sets the `beat`
/// row to `seq`, atomically. `Ok` means the commit was acknowledged.
#[derive(Debug)]
pub struct PgWriter {
    link: Link,
    run_id: String,
}

impl PgWriter {
    /// A writer for `target`; nothing is connected until the first attempt.
    pub fn new(target: Target, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        Self {
            link: Link {
                target,
                settings,
                needs: Needs::ReadWrite,
                application_name: format!("heartbeat-writer {run_id}"),
                sql: WRITE_SQL,
                param_types: &[Type::TEXT, Type::INT8],
                idle: Idle::default(),
            },
            run_id,
        }
    }
}

impl Probe for PgWriter {
    async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
        let Ok(seq) = i64::try_from(seq) else {
            let error = format!("sequence number {seq} does not fit a bigint");
            return (Outcome::QueryFailed { error }, None);
        };
        let live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let params: [&(dyn ToSql + Sync); 2] = [&self.run_id, &seq];
        let writing = live.session.client.execute(&live.statement, &params);
        match tokio::time::timeout(self.link.query_timeout(), writing).await {
            Ok(Ok(_rows)) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Ok(Err(e)) => (query_failed(&e), None),
            Err(_elapsed) => (Outcome::Timeout, None),
        }
    }
}

/// Reads the heartbeat row on any server, primary or replica.
///
/// `Ok` with `observed_seq = Some(n)` means the server has seen write `n` of
/// this run; `None` means the beat row is missing or belongs to another run.
#[derive(Debug)]
pub struct PgReader {
    link: Link,
    run_id: String,
}

impl PgReader {
    /// A reader for `target`; nothing is connected until the first attempt.
    pub fn new(target: Target, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        Self {
            link: Link {
                target,
                settings,
                needs: Needs::Any,
                application_name: format!("heartbeat-reader {run_id}"),
                sql: READ_SQL,
                param_types: &[],
                idle: Idle::default(),
            },
            run_id,
        }
    }

    fn observed(&self, row: Option<&tokio_postgres::Row>) -> Result<Option<u64>, Outcome> {
        let Some(row) = row else {
            return Ok(None);
        };
        let seq: i64 = row.try_get(0).map_err(|e| query_failed(&e))?;
        let run: String = row.try_get(1).map_err(|e| query_failed(&e))?;
        if run != self.run_id {
            return Ok(None);
        }
        Ok(u64::try_from(seq).ok())
    }
}

impl Probe for PgReader {
    async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
        let live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let reading = live.session.client.query_opt(&live.statement, &[]);
        match tokio::time::timeout(self.link.query_timeout(), reading).await {
            Ok(Ok(row)) => match self.observed(row.as_ref()) {
                Ok(observed) => {
                    self.link.keep(live);
                    (Outcome::Ok, observed)
                }
                Err(outcome) => (outcome, None),
            },
            Ok(Err(e)) => (query_failed(&e), None),
            Err(_elapsed) => (Outcome::Timeout, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_servers::{closed_port, quick, silent_server};

    fn target(port: u16) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port,
            dbname: "none".into(),
            user: "nobody".into(),
            password: "secret".into(),
        }
    }

    #[tokio::test]
    async fn refused_connection_is_connect_failed_with_host_and_port() {
        let port = closed_port().await;
        let writer = PgWriter::new(target(port), quick(), "r");
        let (outcome, observed) = writer.attempt(0).await;
        let error = outcome.error().expect("a connect error").to_owned();
        assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert_eq!(observed, None);
    }

    #[tokio::test]
    async fn silent_server_times_out_within_connect_timeout() {
        // Accepts TCP but never speaks PostgreSQL: only the timeout can end it.
        let (port, hold) = silent_server().await;
        let reader = PgReader::new(target(port), quick(), "r");
        let (outcome, _) = reader.attempt(0).await;
        let error = outcome.error().expect("a connect error").to_owned();
        assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
        assert!(error.contains("timed out after 200ms"), "{error}");
        // The next attempt tries again instead of reusing a broken session.
        let (again, _) = reader.attempt(1).await;
        assert!(!again.is_ok());
        hold.abort();
    }
}
