//! One PostgreSQL session, opened within a deadline.
//!
//! A probe owns exactly one connection (no pool: a pool would hide the moment
//! a connection breaks behind a silent reconnect). Opening it is bounded as a
//! whole by `connect_timeout` — the kernel would otherwise retry SYNs to a
//! dead VIP for minutes — and TCP keepalives plus `TCP_USER_TIMEOUT` make a
//! half-dead connection fail in seconds even between queries. The connection
//! task is aborted when the session is dropped, so dropping a session really
//! closes the socket.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres::{Client, Config, NoTls};

use crate::error_chain::describe;
use crate::settings::ProbeSettings;
use crate::target::Target;

/// Errors from opening a session (or, for the Redis probes and
/// [`check_redis_acknowledged`](crate::check_redis_acknowledged), a Redis
/// connection; for the MariaDB, Beanstalkd and NFS probes, theirs: for NFS,
/// every step until the run's file is found, the portmapper's and mountd's
/// answers included).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server did not complete the connection and login in time.
    #[error("connecting to {host}:{port} timed out after {timeout:?}")]
    Timeout {
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// The connect timeout that expired.
        timeout: Duration,
    },
    /// The connection or login failed (refused, authentication, not a
    /// read-write server, …).
    #[error("connecting to {host}:{port} failed: {detail}")]
    Failed {
        /// Target host.
        host: String,
        /// Target port.
        port: u16,
        /// The driver error with its whole source chain, flattened.
        detail: String,
    },
}

/// Which kind of server a session must land on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Any server; replicas are fine.
    Any,
    /// A server that accepts writes (PostgreSQL: `target_session_attrs=read-write`;
    /// MariaDB: `read_only` off).
    ReadWrite,
}

/// An open client whose connection task dies with it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: Client,
    _task: AbortOnDrop,
}

/// Aborts the connection task when dropped, including when the future that
/// was opening the session is cancelled by a timeout.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Driver configuration for `target` with the probe's timeouts.
pub(crate) fn config(target: &Target, settings: &ProbeSettings, needs: Needs, application_name: &str) -> Config {
    // Detect a dead peer within about one query timeout, never faster than
    // a second so a busy but healthy server is not declared dead.
    let liveness = settings.query_timeout.max(Duration::from_secs(1));
    let mut config = Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .dbname(&target.dbname)
        .user(&target.user)
        .password(&target.password)
        .application_name(application_name)
        .ssl_mode(SslMode::Disable)
        .connect_timeout(settings.connect_timeout)
        .tcp_user_timeout(liveness)
        .keepalives(true)
        .keepalives_idle(liveness)
        .keepalives_interval(liveness)
        .keepalives_retries(3)
        .target_session_attrs(match needs {
            Needs::Any => TargetSessionAttrs::Any,
            Needs::ReadWrite => TargetSessionAttrs::ReadWrite,
        });
    config
}

/// Opens a session, giving up after `settings.connect_timeout`.
pub(crate) async fn open(
    target: &Target,
    settings: &ProbeSettings,
    needs: Needs,
    application_name: &str,
) -> Result<Session, ConnectError> {
    let config = config(target, settings, needs, application_name);
    let connecting = config.connect(NoTls);
    match tokio::time::timeout(settings.connect_timeout, connecting).await {
        Err(_elapsed) => Err(ConnectError::Timeout {
            host: target.host.clone(),
            port: target.port,
            timeout: settings.connect_timeout,
        }),
        Ok(Err(e)) => Err(ConnectError::Failed { host: target.host.clone(), port: target.port, detail: describe(&e) }),
        Ok(Ok((client, connection))) => {
            let host = target.host.clone();
            let port = target.port;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(%host, port, error = %describe(&e), "connection ended");
                }
            });
            Ok(Session { client, _task: AbortOnDrop(task) })
        }
    }
}
