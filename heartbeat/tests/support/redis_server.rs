//! A throwaway Redis server (Debian's `redis-server`) for integration tests.
//!
//! The server listens on 127.0.0.1 only, on a free port, requires a password,
//! keeps its data in a temporary directory with snapshots off and the AOF on
//! with `appendfsync always` — so every write it acknowledged survives
//! `kill -9` — and runs in the foreground as a child of the test. It is
//! stopped when the guard is dropped, including when a test panics, and its
//! log is printed then. A server can also be started as a replica of another.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heartbeat::RedisTarget;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use tempfile::TempDir;

use super::{ServerProcess, free_port, print_log_tail_if_panicking};

const BINARY: &str = "/usr/bin/redis-server";
/// `requirepass` of every test server (and `masterauth` of replicas).
pub const PASSWORD: &str = "redis-test-password";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or deliberately killed) Redis server; stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    // Declared before `dir` so the server stops before its directory goes.
    process: Option<ServerProcess>,
    dir: TempDir,
    port: u16,
    /// `--replicaof 127.0.0.1 <port>` when started as a replica.
    master_port: Option<u16>,
}

impl RedisServer {
    /// Starts a master and waits until it serves commands.
    pub async fn start() -> Self {
        Self::start_inner(None).await
    }

    /// Starts a read-only replica of `master` and waits until it serves
    /// commands (not until it has synchronized; see
    /// [`RedisServer::wait_in_sync`]).
    pub async fn start_replica_of(master: &RedisServer) -> Self {
        Self::start_inner(Some(master.port)).await
    }

    async fn start_inner(master_port: Option<u16>) -> Self {
        assert!(
            Path::new(BINARY).is_file(),
            "{BINARY} not found: install the Debian package `redis-server` (apt-get install redis-server)"
        );
        let dir = tempfile::Builder::new().prefix("heartbeat-redis-").tempdir().expect("create temporary directory");
        let mut server = Self { process: None, dir, port: free_port(), master_port };
        server.spawn();
        server.wait_ready().await.unwrap_or_else(|e| panic!("redis-server did not start: {e}"));
        server
    }

    /// Where the probes should connect.
    pub fn target(&self) -> RedisTarget {
        RedisTarget { host: "127.0.0.1".into(), port: self.port, password: PASSWORD.into() }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends SIGKILL to the server, like a crashed node.
    pub fn kill9(&mut self) {
        self.process.take().expect("redis-server is running").kill9();
    }

    /// Starts the server again on the same directory and port and waits
    /// until it has loaded its AOF and serves commands.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "redis-server is still running");
        self.spawn();
        self.wait_ready().await.unwrap_or_else(|e| panic!("redis-server did not restart: {e}"));
    }

    /// A fresh authenticated connection, for test-side commands.
    pub async fn admin(&self) -> MultiplexedConnection {
        self.try_admin().await.unwrap_or_else(|e| panic!("connect to redis-server on port {}: {e}", self.port))
    }

    /// Runs `args` as one command on a fresh admin connection.
    pub async fn command<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut admin = self.admin().await;
        let (name, rest) = args.split_first().expect("a command");
        let mut command = redis::cmd(name);
        command.arg(rest);
        command.query_async(&mut admin).await.unwrap_or_else(|e| panic!("redis {args:?}: {e}"))
    }

    /// A field of `INFO section`, e.g. `("replication", "role")`.
    pub async fn info_field(&self, section: &str, field: &str) -> String {
        let info: String = self.command(&["INFO", section]).await;
        info.lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {field} in INFO {section}: {info}"))
            .trim()
            .to_owned()
    }

    /// Waits until this replica's link to its master is up and the initial
    /// synchronization is done.
    pub async fn wait_in_sync(&self) {
        assert!(self.master_port.is_some(), "not a replica");
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let link = self.info_field("replication", "master_link_status").await;
            let syncing = self.info_field("replication", "master_sync_in_progress").await;
            if link == "up" && syncing == "0" {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "replica not in sync after {READY_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(self.data_dir()).expect("create data directory");
        let mut command = Command::new(BINARY);
        command
            .current_dir(self.dir.path())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.data_dir())
            .args(["--requirepass", PASSWORD, "--daemonize", "no"])
            // Serve a replica's full sync at once instead of after 5 s.
            .args(["--repl-diskless-sync-delay", "0"]);
        if let Some(master_port) = self.master_port {
            command.args(["--replicaof", "127.0.0.1", &master_port.to_string(), "--masterauth", PASSWORD]);
        }
        self.process = Some(ServerProcess::spawn("redis-server", &mut command, &self.log_path(), "-TERM"));
    }

    /// Polls until the server answers commands with its data loaded, or it
    /// exits.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(process) = self.process.as_mut()
                && let Some(status) = process.exited()
            {
                return Err(format!("redis-server exited with {status}"));
            }
            // DBSIZE is refused with LOADING until the AOF is loaded.
            let last = match self.try_admin().await {
                Ok(mut admin) => match redis::cmd("DBSIZE").query_async::<u64>(&mut admin).await {
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn try_admin(&self) -> redis::RedisResult<MultiplexedConnection> {
        let client = Client::open(format!("redis://:{PASSWORD}@127.0.0.1:{}/", self.port))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        client.get_multiplexed_async_connection_with_config(&config).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        drop(self.process.take());
        print_log_tail_if_panicking("redis-server", &self.log_path());
    }
}
