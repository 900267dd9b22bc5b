//! The MariaDB probes: a heartbeat writer and reader speaking the MySQL
//! protocol, and after recovery the check that every acknowledged write is
//! still there.
//!
//! They follow the PostgreSQL probes ([`crate::postgres`]) step for step.
//! Each attempt takes a session that just worked (see [`crate::idle`]) or
//! opens one; a session is thrown away on the first error or timeout so that
//! later attempts reconnect — through the VIP, to whichever server holds it
//! now. Every step is bounded: opening (TCP connect, handshake, login, the
//! writer's check that the server is not read-only, preparing the
//! statements) by `connect_timeout`, each query by `query_timeout`, because
//! the driver has no timeouts of its own and a query sent to a node that just
//! lost the VIP would otherwise hang.
//!
//! # Tables
//!
//! [`SCHEMA_SQL`] creates the same two InnoDB tables as for PostgreSQL:
//! `beat`, one row (`id = 1`) with the writer's latest `seq` for a reader
//! (possibly on a replica) to see how far replication got, and `writes`, one
//! row per write keyed by run, for the lost-write check.
//!
//! # The write
//!
//! MariaDB has no single statement that writes two tables, so attempt `seq`
//! is one explicit transaction on a session in autocommit mode:
//! `START TRANSACTION`, insert `(run, seq)` into `writes`, move the beat
//! forward, `COMMIT`. `Ok` means the server answered the `COMMIT`, which with
//! `innodb_flush_log_at_trx_commit = 1` it does only once the commit is in
//! the redo log on disk: that answer is the acknowledgement
//! [`check_mariadb_acknowledged`] later verifies survived. A write that fails
//! or times out part-way leaves its transaction open on a session that is
//! then closed, and the server rolls it back. The whole transaction is the
//! writer's query: it is bounded as a whole by one `query_timeout`, so an
//! attempt never takes longer than the connect plus the query timeout, as
//! [`crate::probe`] assumes. The hot `beat` row is written last so that its
//! lock is held for one statement and the commit only.

use std::fmt;
use std::time::Duration;

use futures_util::FutureExt;
use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, OptsBuilder, Row, Statement};
use tokio::time::Instant;

use crate::ack::{AckCheck, AckError, compare_and_log, ensure_writer};
use crate::error_chain::describe;
use crate::idle::Idle;
use crate::probe::Probe;
use crate::record::{Outcome, Recording};
use crate::session::{ConnectError, Needs};
use crate::settings::ProbeSettings;

/// Creates the heartbeat tables; idempotent, run by the heartbeat user (it
/// needs `CREATE` on the database) in the target database.
///
/// Two statements: run it with a client that sends several at once (the
/// `mariadb` command-line client, or a driver with multi-statements on).
///
/// `run` is `VARBINARY` so that run ids compare byte for byte, as `text`
/// does in PostgreSQL: a collation would make `Run-1`, `run-1` and `run-1 `
/// the same run. It holds [`MAX_RUN_ID_BYTES`].
pub const SCHEMA_SQL: &str = "\
CREATE TABLE IF NOT EXISTS beat (
    id INT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    run VARBINARY(255) NOT NULL,
    at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS writes (
    run VARBINARY(255) NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (run, seq)
) ENGINE=InnoDB;
";

/// Longest run id the `run` columns hold, in bytes. A writer with a longer
/// one fails every attempt rather than let a server in a non-strict SQL mode
/// store it cut short, where neither the reader nor the check would find it.
pub const MAX_RUN_ID_BYTES: usize = 255;

/// Records the write; it fails on a run's `seq` written before.
const INSERT_WRITE_SQL: &str = "INSERT INTO writes (run, seq) VALUES (?, ?)";

/// Moves the beat to this write, unless it is behind the beat of its run.
///
/// Attempts overlap, so writes of one run may commit out of order: the beat
/// only ever moves forward within a run, and a new run takes it over.
/// Assignments in `ON DUPLICATE KEY UPDATE` apply left to right and each
/// sees the columns as the ones before it left them, so `run` is assigned
/// last: `at` and `seq` must compare with the run the row had, not the one
/// being written.
const ADVANCE_BEAT_SQL: &str = "\
INSERT INTO beat (id, run, seq) VALUES (1, ?, ?)
ON DUPLICATE KEY UPDATE
    at = IF(run <> VALUES(run) OR seq < VALUES(seq), CURRENT_TIMESTAMP(6), at),
    seq = IF(run <> VALUES(run) OR seq < VALUES(seq), VALUES(seq), seq),
    run = VALUES(run)";

/// The statements of one write, run in this order in one transaction, each
/// with the parameters `(run, seq)`.
const WRITE_SQL: [&str; 2] = [INSERT_WRITE_SQL, ADVANCE_BEAT_SQL];

const READ_SQL: &str = "SELECT seq, run FROM beat WHERE id = 1";

const WRITES_OF_RUN_SQL: &str = "SELECT seq FROM writes WHERE run = ?";

/// Whether the server refuses writes; asked at connect time by sessions
/// that need a primary.
const READ_ONLY_SQL: &str = "SELECT @@global.read_only";

/// Client-side packet limit, MariaDB's default. Set so that connecting does
/// not spend a round trip asking the server: heartbeat packets are tiny.
const MAX_ALLOWED_PACKET: usize = 16 * 1024 * 1024;

/// Client-side idle limit, MariaDB's default (8 h); the driver uses it only
/// for pooled connections. Set so that connecting does not ask the server.
const WAIT_TIMEOUT_S: usize = 28_800;

/// Where a MariaDB probe connects.
///
/// The password is redacted from `Debug` output because targets end up in
/// logs.
#[derive(Clone)]
pub struct MariadbTarget {
    /// Host name or IP address (the VIP, in the lab).
    pub host: String,
    /// TCP port of the MariaDB server (3306 by default).
    pub port: u16,
    /// User to log in as.
    pub user: String,
    /// Password of `user`; never printed by `Debug`.
    pub password: String,
    /// Database holding the heartbeat tables.
    pub database: String,
}

impl fmt::Debug for MariadbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MariadbTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .finish()
    }
}

impl fmt::Display for MariadbTarget {
    /// `user@host:port/database`, for log lines and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}/{}", self.user, self.host, self.port, self.database)
    }
}

/// Driver options for `target` with the probe's timeouts.
///
/// `program` is sent as the `program_name` connection attribute, so the
/// server's session list tells a writer from a reader and their run.
fn options(target: &MariadbTarget, settings: &ProbeSettings, program: &str) -> OptsBuilder {
    // Probe a quiet connection about as often as a query may take, never
    // faster than a second so a busy but healthy server is not declared dead.
    let liveness = settings.query_timeout.max(Duration::from_secs(1));
    OptsBuilder::default()
        .ip_or_hostname(target.host.as_str())
        .tcp_port(target.port)
        .user(Some(target.user.as_str()))
        .pass(Some(target.password.as_str()))
        .db_name(Some(target.database.as_str()))
        // On a loopback address the driver would otherwise look up the
        // server's Unix socket and switch to it: the probe must go where it
        // was pointed, over TCP.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(liveness))
        .max_allowed_packet(Some(MAX_ALLOWED_PACKET))
        .wait_timeout(Some(WAIT_TIMEOUT_S))
        .connect_attribute("program_name", program)
}

/// True when `@@global.read_only`, as the text protocol returns it, lets
/// ordinary users write: `0` (the boolean MariaDB and MySQL report) or `OFF`
/// (the setting's name for it, should a server report that instead).
fn accepts_writes(read_only: &str) -> bool {
    let read_only = read_only.trim();
    read_only == "0" || read_only.eq_ignore_ascii_case("off")
}

/// One open connection, closed — not merely abandoned — when dropped.
///
/// The driver, when a connection is dropped between its own operations,
/// spawns a task that reads whatever answer is still pending and rolls back
/// an open transaction before it says goodbye; on a connection to a dead VIP
/// that task would wait for as long as the kernel keeps the socket. Dropping
/// a session instead says goodbye if the socket takes it at once and closes
/// the socket either way, like dropping a PostgreSQL session.
struct Session {
    conn: Option<Conn>,
}

impl Session {
    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("only dropping a session takes its connection out")
    }
}

impl fmt::Debug for Session {
    /// The server's connection id only: the driver's own `Debug` shows the
    /// connection options, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("connection_id", &self.conn.as_ref().map(Conn::id)).finish()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // `disconnect` marks the connection closed before its first
            // await, so when the goodbye cannot be sent at once, dropping the
            // unfinished future drops the socket with nothing left behind.
            let _ = conn.disconnect().now_or_never();
        }
    }
}

/// Opens a session, giving up after `settings.connect_timeout`. With
/// [`Needs::ReadWrite`] a server whose `read_only` is on is refused, as a
/// PostgreSQL standby is.
async fn open(
    target: &MariadbTarget,
    settings: &ProbeSettings,
    needs: Needs,
    program: &str,
) -> Result<Session, ConnectError> {
    let failed = |detail: String| ConnectError::Failed { host: target.host.clone(), port: target.port, detail };
    let opening = async {
        let conn = Conn::new(options(target, settings, program)).await.map_err(|e| failed(describe(&e)))?;
        let mut session = Session { conn: Some(conn) };
        if needs == Needs::ReadWrite {
            let row: Option<Row> = session.conn().query_first(READ_ONLY_SQL).await.map_err(|e| failed(describe(&e)))?;
            let read_only: String = row
                .ok_or_else(|| failed(format!("{READ_ONLY_SQL} returned no row")))
                .and_then(|mut row| column(&mut row, 0).map_err(failed))?;
            if !accepts_writes(&read_only) {
                return Err(failed(format!("server is read-only (read_only = {read_only}), not a primary")));
            }
        }
        Ok(session)
    };
    match tokio::time::timeout(settings.connect_timeout, opening).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err(e)) => Err(e),
        Err(_elapsed) => Err(ConnectError::Timeout {
            host: target.host.clone(),
            port: target.port,
            timeout: settings.connect_timeout,
        }),
    }
}

/// Column `index` of `row` as a `T`, or why not. The driver's own
/// conversions panic on a value of another type.
fn column<T: FromValue>(row: &mut Row, index: usize) -> Result<T, String> {
    match row.take_opt::<T, usize>(index) {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(format!("column {index}: unexpected value {:?}", e.0)),
        None => Err(format!("column {index} missing")),
    }
}

/// A session with the `N` statements of its probe prepared.
#[derive(Debug)]
struct Live<const N: usize> {
    session: Session,
    statements: [Statement; N],
}

/// Sessions for one probe's statements, opened when no idle one is left.
#[derive(Debug)]
struct Link<const N: usize> {
    target: MariadbTarget,
    settings: ProbeSettings,
    needs: Needs,
    program: String,
    sql: [&'static str; N],
    idle: Idle<Live<N>>,
}

impl<const N: usize> Link<N> {
    /// Takes an idle session out of the link, opening one if none is left.
    ///
    /// The caller puts it back with [`Link::keep`] only after a successful
    /// query, so an error, a timeout or a cancelled attempt all drop it.
    async fn take(&self) -> Result<Live<N>, Outcome> {
        if let Some(live) = self.idle.take() {
            return Ok(live);
        }
        let deadline = Instant::now() + self.settings.connect_timeout;
        let mut session = open(&self.target, &self.settings, self.needs, &self.program)
            .await
            .map_err(|e| Outcome::ConnectFailed { error: e.to_string() })?;
        let preparing = async {
            let mut statements = Vec::with_capacity(N);
            for sql in self.sql {
                statements.push(session.conn().prep(sql).await?);
            }
            Ok::<_, mysql_async::Error>(statements)
        };
        let statements = match tokio::time::timeout_at(deadline, preparing).await {
            Ok(Ok(statements)) => statements,
            Ok(Err(e)) => return Err(self.preparing_failed(describe(&e))),
            Err(_elapsed) => {
                return Err(Outcome::ConnectFailed {
                    error: format!(
                        "connecting to {}:{} timed out after {:?} while preparing statements",
                        self.target.host, self.target.port, self.settings.connect_timeout
                    ),
                });
            }
        };
        let statements = <[Statement; N]>::try_from(statements)
            .map_err(|prepared| self.preparing_failed(format!("{} statements, expected {N}", prepared.len())))?;
        tracing::debug!(server = %self.target, "session opened");
        Ok(Live { session, statements })
    }

    fn preparing_failed(&self, detail: String) -> Outcome {
        Outcome::ConnectFailed {
            error: format!("preparing statements on {}:{} failed: {detail}", self.target.host, self.target.port),
        }
    }

    /// Returns a session that just worked, for the next attempts.
    fn keep(&self, live: Live<N>) {
        self.idle.keep(live);
    }

    fn query_timeout(&self) -> Duration {
        self.settings.query_timeout
    }
}

/// A query the server rejected or a session that broke under it.
fn query_failed(e: &mysql_async::Error) -> Outcome {
    Outcome::QueryFailed { error: describe(e) }
}

/// Why a writer with `run_id` cannot write at all, if it cannot.
fn unwritable_run_id(run_id: &str) -> Option<String> {
    (run_id.len() > MAX_RUN_ID_BYTES)
        .then(|| format!("run id is {} bytes, longer than the {MAX_RUN_ID_BYTES} the run columns hold", run_id.len()))
}

/// Writes one heartbeat per attempt on a primary (a server with `read_only`
/// off).
///
/// Attempt `seq` inserts `(run_id, seq)` into `writes` and moves the `beat`
/// row to `seq`, in one transaction. `Ok` means the `COMMIT` was
/// acknowledged.
#[derive(Debug)]
pub struct MariadbWriter {
    link: Link<2>,
    run_id: String,
}

impl MariadbWriter {
    /// A writer for `target`; nothing is connected until the first attempt.
    pub fn new(target: MariadbTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        Self {
            link: Link {
                target,
                settings,
                needs: Needs::ReadWrite,
                program: format!("heartbeat-writer {run_id}"),
                sql: WRITE_SQL,
                idle: Idle::default(),
            },
            run_id,
        }
    }
}

/// Commits write `seq` of `run_id` on `live`'s session.
async fn commit_write(live: &mut Live<2>, run_id: &str, seq: i64) -> Result<(), mysql_async::Error> {
    let conn = live.session.conn();
    conn.query_drop("START TRANSACTION").await?;
    for statement in &live.statements {
        conn.exec_drop(statement, (run_id, seq)).await?;
    }
    conn.query_drop("COMMIT").await
}

impl Probe for MariadbWriter {
    async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
        if let Some(error) = unwritable_run_id(&self.run_id) {
            return (Outcome::QueryFailed { error }, None);
        }
        let Ok(seq) = i64::try_from(seq) else {
            let error = format!("sequence number {seq} does not fit a BIGINT");
            return (Outcome::QueryFailed { error }, None);
        };
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let writing = commit_write(&mut live, &self.run_id, seq);
        match tokio::time::timeout(self.link.query_timeout(), writing).await {
            Ok(Ok(())) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Ok(Err(e)) => (query_failed(&e), None),
            Err(_elapsed) => (Outcome::Timeout, None),
        }
    }
}

/// The writer `seq` of a beat row `(seq, run)`, if the row belongs to
/// `run_id`; `None` for another run's beat (or a negative `seq`, which no
/// writer writes).
fn beat_of_run(seq: i64, run: &[u8], run_id: &str) -> Option<u64> {
    if run != run_id.as_bytes() {
        return None;
    }
    u64::try_from(seq).ok()
}

/// Reads the heartbeat row on any server, primary or replica.
///
/// `Ok` with `observed_seq = Some(n)` means the server has seen write `n` of
/// this run; `None` means the beat row is missing or belongs to another run.
/// Each read is a transaction of its own (autocommit), so it sees the latest
/// committed beat, and it takes no lock: a writer blocked on the beat row
/// does not block it.
#[derive(Debug)]
pub struct MariadbReader {
    link: Link<1>,
    run_id: String,
}

impl MariadbReader {
    /// A reader for `target`; nothing is connected until the first attempt.
    pub fn new(target: MariadbTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        Self {
            link: Link {
                target,
                settings,
                needs: Needs::Any,
                program: format!("heartbeat-reader {run_id}"),
                sql: [READ_SQL],
                idle: Idle::default(),
            },
            run_id,
        }
    }

    fn observed(&self, row: Option<Row>) -> Result<Option<u64>, Outcome> {
        let Some(mut row) = row else {
            return Ok(None);
        };
        let invalid = |error: String| Outcome::QueryFailed { error: format!("reading the beat row: {error}") };
        let seq: i64 = column(&mut row, 0).map_err(invalid)?;
        let run: Vec<u8> = column(&mut row, 1).map_err(invalid)?;
        Ok(beat_of_run(seq, &run, &self.run_id))
    }
}

impl Probe for MariadbReader {
    async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let [read] = &live.statements;
        let reading = live.session.conn().exec_first::<Row, _, _>(read, ());
        match tokio::time::timeout(self.link.query_timeout(), reading).await {
            Ok(Ok(row)) => match self.observed(row) {
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

/// Reads `writes` for the recording's run on a primary reached through
/// `target` (a server with `read_only` on is refused: a replica may not
/// have every acknowledged write yet) and compares it with the writer's
/// acknowledged writes.
///
/// Opening is bounded by `settings.connect_timeout`, the query by
/// `settings.query_timeout`.
pub async fn check_mariadb_acknowledged(
    target: &MariadbTarget,
    settings: &ProbeSettings,
    recording: &Recording,
) -> Result<AckCheck, AckError> {
    ensure_writer(recording)?;
    let run_id = &recording.run_id;
    let failed = |detail: String| AckError::Query {
        run_id: run_id.clone(),
        host: target.host.clone(),
        port: target.port,
        detail,
    };
    let mut session = open(target, settings, Needs::ReadWrite, "heartbeat-ack-check").await?;
    let reading = session.conn().exec::<Row, _, _>(WRITES_OF_RUN_SQL, (run_id.as_str(),));
    let rows = match tokio::time::timeout(settings.query_timeout, reading).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return Err(failed(describe(&e))),
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
    for mut row in rows {
        let seq: i64 = column(&mut row, 0).map_err(failed)?;
        // Negative numbers are never written; skip rather than wrap them.
        present.extend(u64::try_from(seq).ok());
    }
    Ok(compare_and_log(recording, &present))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
    use crate::test_servers::{closed_port, quick, silent_server};

    fn target(port: u16) -> MariadbTarget {
        MariadbTarget {
            host: "127.0.0.1".into(),
            port,
            user: "heartbeat".into(),
            password: "hunter2".into(),
            database: "lab".into(),
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let shown = format!("{:?}", target(3306));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1") && shown.contains("lab"), "{shown}");
        let writer = format!("{:?}", MariadbWriter::new(target(3306), quick(), "r"));
        assert!(!writer.contains("hunter2"), "{writer}");
    }

    #[test]
    fn display_names_user_host_port_and_database() {
        assert_eq!(target(3306).to_string(), "heartbeat@127.0.0.1:3306/lab");
    }

    #[test]
    fn options_go_over_tcp_where_pointed_with_the_credentials() {
        let opts = mysql_async::Opts::from(options(&target(3307), &quick(), "heartbeat-writer r"));
        assert_eq!((opts.ip_or_hostname(), opts.tcp_port()), ("127.0.0.1", 3307));
        assert!(!opts.prefer_socket(), "a loopback target must not switch to the Unix socket");
        assert_eq!(opts.socket(), None);
        assert_eq!((opts.user(), opts.pass(), opts.db_name()), (Some("heartbeat"), Some("hunter2"), Some("lab")));
        // Set, so that connecting asks the server nothing the probe does not need.
        assert_eq!(opts.max_allowed_packet(), Some(MAX_ALLOWED_PACKET));
        assert_eq!(opts.wait_timeout(), Some(WAIT_TIMEOUT_S));
        assert_eq!(opts.tcp_keepalive(), Some(Duration::from_secs(1)), "never below a second");
        let attributes = opts.connect_attributes().expect("attributes");
        assert_eq!(attributes.get("program_name").map(String::as_str), Some("heartbeat-writer r"));
    }

    #[test]
    fn read_only_off_accepts_writes() {
        for writable in ["0", "OFF", "off", " 0\n"] {
            assert!(accepts_writes(writable), "{writable:?}");
        }
        for read_only in ["1", "ON", "NO_LOCK", ""] {
            assert!(!accepts_writes(read_only), "{read_only:?}");
        }
    }

    #[test]
    fn beat_counts_only_for_its_own_run() {
        assert_eq!(beat_of_run(7, b"run-a", "run-a"), Some(7));
        assert_eq!(beat_of_run(7, b"run-b", "run-a"), None);
        // Byte for byte: no collation folds case or trailing spaces.
        assert_eq!(beat_of_run(7, b"Run-a", "run-a"), None);
        assert_eq!(beat_of_run(7, b"run-a ", "run-a"), None);
        assert_eq!(beat_of_run(-1, b"run-a", "run-a"), None);
    }

    #[test]
    fn the_beat_upsert_compares_with_the_old_run_before_replacing_it() {
        // MariaDB applies the assignments left to right, each seeing the
        // ones before it: assigning `run` before `seq` would make the
        // condition see the new run and keep a finished run's higher seq.
        let update = ADVANCE_BEAT_SQL.split("ON DUPLICATE KEY UPDATE").nth(1).expect("an upsert");
        let position = |needle: &str| update.find(needle).unwrap_or_else(|| panic!("{needle} in {update}"));
        assert!(position("seq = IF(run <> VALUES(run)") < position("run = VALUES(run)"));
        assert!(position("at = IF(run <> VALUES(run)") < position("run = VALUES(run)"));
        assert_eq!(update.matches(" = ").count(), 3, "at, seq and run only: {update}");
        // Both statements of a write take the same parameters, (run, seq).
        assert!(INSERT_WRITE_SQL.contains("(run, seq) VALUES (?, ?)"));
        assert!(ADVANCE_BEAT_SQL.contains("(id, run, seq) VALUES (1, ?, ?)"));
        assert_eq!(SCHEMA_SQL.matches("ENGINE=InnoDB").count(), 2, "transactional tables only");
    }

    #[test]
    fn run_ids_longer_than_the_column_are_refused_up_front() {
        assert_eq!(unwritable_run_id(&"r".repeat(MAX_RUN_ID_BYTES)), None);
        let error = unwritable_run_id(&"é".repeat(128)).expect("256 bytes");
        assert_eq!(error, "run id is 256 bytes, longer than the 255 the run columns hold");
    }

    #[tokio::test]
    async fn an_overlong_run_id_fails_without_connecting() {
        let writer = MariadbWriter::new(target(closed_port().await), quick(), "r".repeat(256));
        let (outcome, observed) = writer.attempt(0).await;
        assert!(matches!(&outcome, Outcome::QueryFailed { error } if error.contains("256 bytes")), "{outcome:?}");
        assert_eq!(observed, None);
    }

    #[tokio::test]
    async fn refused_connection_is_connect_failed_with_host_and_port() {
        let port = closed_port().await;
        let writer = MariadbWriter::new(target(port), quick(), "r");
        let (outcome, observed) = writer.attempt(0).await;
        let error = outcome.error().expect("a connect error").to_owned();
        assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
        assert!(error.starts_with(&format!("connecting to 127.0.0.1:{port} failed: ")), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(observed, None);
    }

    #[tokio::test]
    async fn silent_server_times_out_within_connect_timeout() {
        // Accepts TCP but never sends a handshake: only the timeout can end it.
        let (port, hold) = silent_server().await;
        let reader = MariadbReader::new(target(port), quick(), "r");
        let started = Instant::now();
        let (outcome, _) = reader.attempt(0).await;
        let error = outcome.error().expect("a connect error").to_owned();
        assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
        assert_eq!(error, format!("connecting to 127.0.0.1:{port} timed out after 200ms"));
        assert!(started.elapsed() < Duration::from_secs(2), "bounded by the connect timeout");
        // The next attempt tries again instead of reusing a broken session.
        let (again, _) = reader.attempt(1).await;
        assert!(!again.is_ok());
        hold.abort();
    }

    #[tokio::test]
    async fn reader_recordings_are_rejected_before_connecting() {
        let recording = Recording { probe: "reader".into(), role: Role::Reader, run_id: "r".into(), attempts: vec![] };
        let err = check_mariadb_acknowledged(&target(1), &ProbeSettings::default(), &recording)
            .await
            .expect_err("a reader has no acknowledged writes");
        assert!(matches!(err, AckError::NotAWriter { .. }), "{err}");
    }

    #[tokio::test]
    async fn unreachable_server_is_a_connect_error_naming_host_and_port() {
        let port = closed_port().await;
        let recording = Recording { probe: "writer".into(), role: Role::Writer, run_id: "r".into(), attempts: vec![] };
        let err = check_mariadb_acknowledged(&target(port), &quick(), &recording).await.expect_err("nothing there");
        let text = err.to_string();
        assert!(matches!(err, AckError::Connect(_)), "{text}");
        assert!(
            text.starts_with(&format!("checking acknowledged writes: connecting to 127.0.0.1:{port} failed")),
            "{text}"
        );
    }
}
