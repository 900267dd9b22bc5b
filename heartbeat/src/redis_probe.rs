//! The Redis probes: a heartbeat writer and reader for a Redis master behind
//! a floating IP.
//!
//! They follow the PostgreSQL probes ([`crate::postgres`]) step for step. Each
//! attempt takes a [`MultiplexedConnection`] that just worked (see
//! [`crate::idle`]) or opens one; it is thrown away on the first error, error
//! reply or timeout, so that later attempts reconnect — through the VIP, to whichever server holds it now. The
//! driver's `ConnectionManager` is deliberately not used: it reconnects only on
//! I/O errors, so a timed-out connection, or one to a demoted master that now
//! answers every write with `READONLY`, would be kept for ever.
//!
//! Every step is bounded: opening (TCP connect, `AUTH` when a password is set,
//! and a `PING`) by `connect_timeout`, each command by `query_timeout`. Both are
//! enforced with [`tokio::time::timeout`] and also handed to the driver as its
//! own connection and response timeouts; whichever fires first, the outcome is
//! the same.
//!
//! # Keys
//!
//! * `heartbeat:writes:{run_id}` ([`writes_key`]) — a list with the `seq` of
//!   every write of the run, so lost acknowledged writes can be found after a
//!   failover ([`check_redis_acknowledged`](crate::check_redis_acknowledged)).
//! * `heartbeat:beat` ([`BEAT_KEY`]) — the latest write as `"{run_id}:{seq}"`, so
//!   a reader (possibly on a replica) can see how far replication got.
//!
//! # Atomicity
//!
//! The writer sends `MULTI`, `RPUSH`, `SET`, `EXEC` in one round trip. Redis
//! runs the queued commands back to back with nothing interleaved, and
//! appends the whole transaction to the AOF as one unit (a torn tail is cut
//! off at startup), so the list and the beat never disagree about an
//! acknowledged write. A transaction was chosen over a Lua script because it
//! needs no script cache (no `NOSCRIPT` after a restart or failover) and a
//! replica rejects it up front: the queued `RPUSH` gets `READONLY` and `EXEC`
//! aborts, so nothing is half-applied. `Ok` means the `EXEC` reply arrived
//! without an error in it; that is the acknowledgement.
//!
//! Like a script, a transaction has no rollback: should one command fail at
//! run time (only possible if something else gave a heartbeat key the wrong
//! type), the other is still applied. The attempt is then `QueryFailed`, not
//! acknowledged, so the lost-write check is unaffected.

use std::fmt;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::error_chain::describe;
use crate::idle::Idle;
use crate::probe::Probe;
use crate::record::Outcome;
use crate::session::ConnectError;
use crate::settings::ProbeSettings;

/// Key holding the latest heartbeat, `"{run_id}:{seq}"`.
pub const BEAT_KEY: &str = "heartbeat:beat";

/// Key of the list of every write of run `run_id`.
pub fn writes_key(run_id: &str) -> String {
    format!("heartbeat:writes:{run_id}")
}

/// Where a Redis probe connects: host, port and the `requirepass` password.
///
/// The password is redacted from `Debug` output because targets end up in
/// logs. An empty password means "do not authenticate".
#[derive(Clone)]
pub struct RedisTarget {
    /// Host name or IP address (the VIP, in the lab).
    pub host: String,
    /// TCP port of the Redis server.
    pub port: u16,
    /// Password sent with `AUTH`; empty for none. Never printed by `Debug`.
    pub password: String,
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() { "<none>" } else { "<redacted>" };
        f.debug_struct("RedisTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("password", &password)
            .finish()
    }
}

impl fmt::Display for RedisTarget {
    /// `host:port`, for log lines and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The beat value the writer stores for write `seq` of `run_id`.
fn beat_value(run_id: &str, seq: u64) -> String {
    format!("{run_id}:{seq}")
}

/// The writer `seq` in a beat value, if the value belongs to `run_id`.
///
/// The run id may itself contain `:`, so the value is split at its last one.
/// A value of another run, one whose sequence number is not a plain decimal
/// `u64`, or one that is not UTF-8 at all is not this run's beat: `None`.
pub(crate) fn parse_beat(value: &[u8], run_id: &str) -> Option<u64> {
    let value = std::str::from_utf8(value).ok()?;
    let (run, seq) = value.rsplit_once(':')?;
    if run != run_id || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// A Redis error as the server sent it, for recordings and error messages.
///
/// The driver shows a server error under its own name for the kind
/// (`ReadOnly: You can't write …`); recordings keep the server's code
/// (`READONLY You can't write …`), as `redis-cli` and the server log show it.
/// A transaction refused as a whole (`EXECABORT`) is described by the errors
/// of its commands. Errors that did not come from the server (I/O, protocol,
/// authentication) keep the driver's text with its source chain.
pub(crate) fn describe_redis(e: &redis::RedisError) -> String {
    let aborted = e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort);
    let errors = match e.clone().into_server_errors() {
        Some(errors) if !errors.is_empty() => errors,
        _ => return describe(e),
    };
    let mut messages: Vec<String> = Vec::new();
    for (_index, error) in errors.iter() {
        let message = match error.details() {
            Some(details) => format!("{} {details}", error.code()),
            None => error.code().to_owned(),
        };
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    let text = messages.join("; ");
    if aborted && !errors.iter().any(|(_index, error)| error.code() == "EXECABORT") {
        format!("transaction aborted: {text}")
    } else {
        text
    }
}

/// Driver configuration for `target` with the probe's timeouts.
fn connection_info(target: &RedisTarget, settings: &ProbeSettings) -> Result<ConnectionInfo, redis::RedisError> {
    // Detect a dead peer within about one query timeout, never faster than a
    // second so a busy but healthy server is not declared dead.
    let liveness = settings.query_timeout.max(Duration::from_secs(1));
    let mut redis = RedisConnectionInfo::default().set_skip_set_lib_name();
    if !target.password.is_empty() {
        redis = redis.set_password(&target.password);
    }
    Ok(ConnectionAddr::Tcp(target.host.clone(), target.port)
        .into_connection_info()?
        .set_redis_settings(redis)
        .set_tcp_settings(TcpSettings::default().set_nodelay(true).set_user_timeout(liveness)))
}

/// Opens a connection (TCP, `AUTH` if a password is set, `PING`), giving up
/// after `settings.connect_timeout`.
///
/// The driver's task for the connection ends when the returned connection is
/// dropped, which closes the socket.
pub(crate) async fn connect(
    target: &RedisTarget,
    settings: &ProbeSettings,
) -> Result<MultiplexedConnection, ConnectError> {
    let failed = |e: &redis::RedisError| {
        if e.is_timeout() {
            ConnectError::Timeout { host: target.host.clone(), port: target.port, timeout: settings.connect_timeout }
        } else {
            ConnectError::Failed { host: target.host.clone(), port: target.port, detail: describe_redis(e) }
        }
    };
    let client = connection_info(target, settings).and_then(Client::open).map_err(|e| failed(&e))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.connect_timeout))
        .set_response_timeout(Some(settings.query_timeout));
    let opening = async {
        let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        // Without a password the driver sends nothing while connecting; the
        // PING makes "connected" mean "a Redis server answered", as it does
        // for PostgreSQL.
        redis::cmd("PING").query_async::<()>(&mut connection).await?;
        Ok::<_, redis::RedisError>(connection)
    };
    match tokio::time::timeout(settings.connect_timeout, opening).await {
        Ok(Ok(connection)) => {
            tracing::debug!(server = %target, "redis connection opened");
            Ok(connection)
        }
        Ok(Err(e)) => Err(failed(&e)),
        Err(_elapsed) => Err(ConnectError::Timeout {
            host: target.host.clone(),
            port: target.port,
            timeout: settings.connect_timeout,
        }),
    }
}

/// What one command on an established connection came to.
fn command_outcome<T>(result: Result<Result<T, redis::RedisError>, tokio::time::error::Elapsed>) -> Result<T, Outcome> {
    match result {
        Ok(Ok(value)) => Ok(value),
        // The driver's own response timeout may win the race with ours.
        Ok(Err(e)) if e.is_timeout() => Err(Outcome::Timeout),
        Ok(Err(e)) => Err(Outcome::QueryFailed { error: describe_redis(&e) }),
        Err(_elapsed) => Err(Outcome::Timeout),
    }
}

/// Connections of one probe, opened when no idle one is left.
#[derive(Debug)]
struct Link {
    target: RedisTarget,
    settings: ProbeSettings,
    idle: Idle<MultiplexedConnection>,
}

impl Link {
    fn new(target: RedisTarget, settings: ProbeSettings) -> Self {
        Self { target, settings, idle: Idle::default() }
    }

    /// Takes an idle connection out of the link, opening one if none is left.
    ///
    /// The caller puts it back with [`Link::keep`] only after a successful
    /// command, so an error, an error reply (`READONLY`, `LOADING`, …), a
    /// timeout or a cancelled attempt all drop it.
    async fn take(&self) -> Result<MultiplexedConnection, Outcome> {
        if let Some(live) = self.idle.take() {
            return Ok(live);
        }
        connect(&self.target, &self.settings).await.map_err(|e| Outcome::ConnectFailed { error: e.to_string() })
    }

    /// Returns a connection that just worked, for the next attempts.
    fn keep(&self, live: MultiplexedConnection) {
        self.idle.keep(live);
    }

    fn query_timeout(&self) -> Duration {
        self.settings.query_timeout
    }
}

/// Writes one heartbeat per attempt on a Redis master.
///
/// Attempt `seq` runs `RPUSH heartbeat:writes:{run_id} seq` and
/// `SET heartbeat:beat "{run_id}:{seq}"` in one `MULTI`/`EXEC` transaction.
/// `Ok` means the `EXEC` reply arrived without errors: the write is
/// acknowledged. On a replica the transaction is refused with `READONLY`
/// (recorded as `QueryFailed`) and the connection is dropped.
#[derive(Debug)]
pub struct RedisWriter {
    link: Link,
    run_id: String,
    writes_key: String,
}

impl RedisWriter {
    /// A writer for `target`; nothing is connected until the first attempt.
    pub fn new(target: RedisTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        Self { link: Link::new(target, settings), writes_key: writes_key(&run_id), run_id }
    }
}

impl Probe for RedisWriter {
    async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let mut transaction = redis::pipe();
        transaction
            .atomic()
            .cmd("RPUSH")
            .arg(&self.writes_key)
            .arg(seq)
            .ignore()
            .cmd("SET")
            .arg(BEAT_KEY)
            .arg(beat_value(&self.run_id, seq))
            .ignore();
        let writing = transaction.query_async::<()>(&mut live);
        match command_outcome(tokio::time::timeout(self.link.query_timeout(), writing).await) {
            Ok(()) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Err(outcome) => (outcome, None),
        }
    }
}

/// Reads the heartbeat on any server, master or replica.
///
/// `Ok` with `observed_seq = Some(n)` means the server has seen write `n` of
/// this run; `None` means the beat is missing or belongs to another run.
#[derive(Debug)]
pub struct RedisReader {
    link: Link,
    run_id: String,
}

impl RedisReader {
    /// A reader for `target`; nothing is connected until the first attempt.
    pub fn new(target: RedisTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        Self { link: Link::new(target, settings), run_id: run_id.into() }
    }
}

impl Probe for RedisReader {
    async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let mut get = redis::cmd("GET");
        get.arg(BEAT_KEY);
        let reading = get.query_async::<Option<Vec<u8>>>(&mut live);
        match command_outcome(tokio::time::timeout(self.link.query_timeout(), reading).await) {
            Ok(value) => {
                self.link.keep(live);
                (Outcome::Ok, value.and_then(|value| parse_beat(&value, &self.run_id)))
            }
            Err(outcome) => (outcome, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_servers::{closed_port, quick, silent_server};

    fn target(port: u16) -> RedisTarget {
        RedisTarget { host: "127.0.0.1".into(), port, password: "secret".into() }
    }

    #[test]
    fn beat_of_this_run_gives_its_seq() {
        assert_eq!(parse_beat(b"run-1:0", "run-1"), Some(0));
        assert_eq!(parse_beat(b"run-1:42", "run-1"), Some(42));
        assert_eq!(parse_beat(b"run-1:18446744073709551615", "run-1"), Some(u64::MAX));
    }

    #[test]
    fn beat_round_trips_through_the_written_value() {
        for (run_id, seq) in [("r", 0), ("kill9-restart", 7), ("a:b:c", 123), ("", 5)] {
            assert_eq!(parse_beat(beat_value(run_id, seq).as_bytes(), run_id), Some(seq), "{run_id}");
        }
    }

    #[test]
    fn run_ids_with_colons_split_at_the_last_one() {
        assert_eq!(parse_beat(b"lab:2024:run:9", "lab:2024:run"), Some(9));
        assert_eq!(parse_beat(b"lab:2024:run:9", "lab:2024"), None);
        assert_eq!(parse_beat(b"lab:2024:run:9", "lab"), None);
    }

    #[test]
    fn beat_of_another_run_is_not_observed() {
        assert_eq!(parse_beat(b"run-a:7", "run-b"), None);
        assert_eq!(parse_beat(b"run-1:7", "run-10"), None);
        assert_eq!(parse_beat(b"run-10:7", "run-1"), None);
        assert_eq!(parse_beat(b"prefix-run-1:7", "run-1"), None);
    }

    #[test]
    fn garbage_is_not_observed() {
        for value in [
            &b""[..],
            b"run-1",
            b"run-1:",
            b":7",
            b"run-1:abc",
            b"run-1:-1",
            b"run-1:+1",
            b"run-1: 1",
            b"run-1:1 ",
            b"run-1:1.5",
            b"run-1:18446744073709551616",
            b"\xff\xfe:1",
            b"run-1:\xff",
        ] {
            assert_eq!(parse_beat(value, "run-1"), None, "{:?}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn writes_key_names_the_run() {
        assert_eq!(writes_key("kill9"), "heartbeat:writes:kill9");
    }

    #[test]
    fn debug_redacts_the_password() {
        let shown = format!("{:?}", target(6379));
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("127.0.0.1") && shown.contains("6379"), "{shown}");
        let open = RedisTarget { password: String::new(), ..target(6379) };
        assert!(format!("{open:?}").contains("<none>"));
    }

    #[test]
    fn debug_of_a_probe_redacts_the_password_too() {
        let shown = format!("{:?}", RedisWriter::new(target(6379), quick(), "r"));
        assert!(!shown.contains("secret"), "{shown}");
        let shown = format!("{:?}", RedisReader::new(target(6379), quick(), "r"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn display_is_host_and_port() {
        assert_eq!(target(6380).to_string(), "127.0.0.1:6380");
    }

    #[test]
    fn timeouts_and_errors_map_to_outcomes() {
        let refused = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(command_outcome::<()>(Ok(Err(refused))), Err(Outcome::QueryFailed { .. })));
        let timed_out = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(command_outcome::<()>(Ok(Err(timed_out))), Err(Outcome::Timeout));
        assert_eq!(command_outcome(Ok(Ok(3))), Ok(3));
    }

    fn server_error(resp: &[u8]) -> redis::RedisError {
        match redis::parse_redis_value(resp) {
            Ok(redis::Value::ServerError(error)) => error.into(),
            other => panic!("not a server error: {other:?}"),
        }
    }

    #[test]
    fn server_errors_keep_the_servers_code() {
        let readonly = server_error(b"-READONLY You can't write against a read only replica.\r\n");
        assert_eq!(describe_redis(&readonly), "READONLY You can't write against a read only replica.");
        let loading = server_error(b"-LOADING Redis is loading the dataset in memory\r\n");
        assert_eq!(describe_redis(&loading), "LOADING Redis is loading the dataset in memory");
        let custom = redis::make_extension_error("NOTKNOWN".into(), Some("to the driver".into()));
        assert_eq!(describe_redis(&custom), "NOTKNOWN to the driver");
        let bare = redis::make_extension_error("BARE".into(), None);
        assert_eq!(describe_redis(&bare), "BARE");
    }

    #[test]
    fn readonly_reply_is_query_failed() {
        let readonly = server_error(b"-READONLY You can't write against a read only replica.\r\n");
        let outcome = command_outcome::<()>(Ok(Err(readonly)));
        assert_eq!(
            outcome,
            Err(Outcome::QueryFailed { error: "READONLY You can't write against a read only replica.".into() })
        );
    }

    #[test]
    fn other_errors_keep_the_driver_text() {
        let reset = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(describe_redis(&reset).contains("reset"), "{}", describe_redis(&reset));
    }

    #[tokio::test]
    async fn refused_connection_is_connect_failed_with_host_and_port() {
        let port = closed_port().await;
        let writer = RedisWriter::new(target(port), quick(), "r");
        let (outcome, observed) = writer.attempt(0).await;
        let error = outcome.error().expect("a connect error").to_owned();
        assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert_eq!(observed, None);
    }

    #[tokio::test]
    async fn silent_server_times_out_within_connect_timeout() {
        // Accepts TCP but never speaks Redis: only the timeout can end it.
        let (port, hold) = silent_server().await;
        for password in ["secret", ""] {
            let reader = RedisReader::new(RedisTarget { password: password.into(), ..target(port) }, quick(), "r");
            let started = tokio::time::Instant::now();
            let (outcome, _) = reader.attempt(0).await;
            let error = outcome.error().expect("a connect error").to_owned();
            assert!(matches!(outcome, Outcome::ConnectFailed { .. }), "{outcome:?}");
            assert!(error.contains("timed out after 200ms"), "{error}");
            assert!(started.elapsed() < Duration::from_secs(1), "bounded by the connect timeout");
            // The next attempt tries again instead of reusing a broken connection.
            let (again, _) = reader.attempt(1).await;
            assert!(matches!(again, Outcome::ConnectFailed { .. }), "{again:?}");
        }
        hold.abort();
    }
}
