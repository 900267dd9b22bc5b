//! A throwaway MariaDB server (Debian's `mariadb-server`) for integration
//! tests.
//!
//! `mariadb-install-db` creates a data directory in a temporary directory,
//! and `mariadbd` runs on it in the foreground as a child of the test
//! (never through systemd), with no configuration file read
//! (`--no-defaults`), listening on 127.0.0.1 only on a free port and on a Unix
//! socket in the temporary directory. InnoDB flushes its redo log at every
//! commit, so every commit the server acknowledged survives `kill -9`.
//!
//! The probes log in over TCP as `heartbeat` with a password made up for
//! each server, into the database `lab`, with the grants the lab gives them
//! on a cluster; the test itself administers the server as `root` over the
//! Unix socket. The server is stopped when the guard is dropped, including
//! when a test panics, and its log is printed then.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heartbeat::MariadbTarget;
use heartbeat::mariadb::SCHEMA_SQL;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tempfile::TempDir;

use super::{ServerProcess, free_port, print_log_tail_if_panicking};

const MARIADBD: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
/// User the probes log in as.
pub const USER: &str = "heartbeat";
/// Database holding the heartbeat tables.
pub const DATABASE: &str = "lab";
/// What the probes need, and no more: `CREATE` for [`SCHEMA_SQL`], `SELECT`
/// for the reader and the check, `INSERT` and `UPDATE` for the writer's
/// upsert (whose `UPDATE` part reads the row, hence `SELECT` too).
pub const GRANTS: &str = "SELECT, INSERT, UPDATE, CREATE";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Small, so that several servers start quickly side by side.
const SIZES: [&str; 2] = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"];

/// A running (or deliberately killed) MariaDB server; stopped on drop.
#[derive(Debug)]
pub struct MariadbServer {
    // Declared before `dir` so the server stops before its directory goes.
    process: Option<ServerProcess>,
    dir: TempDir,
    port: u16,
    password: String,
    /// `--user=root` when the tests run as root: mariadbd refuses to run as
    /// root unless told to.
    as_root: bool,
}

impl MariadbServer {
    /// Creates a data directory, starts the server, creates the heartbeat
    /// user and database, and installs the schema as that user (twice, to
    /// prove it idempotent and the grants sufficient).
    pub async fn start() -> Self {
        for binary in [MARIADBD, INSTALL_DB] {
            assert!(
                Path::new(binary).is_file(),
                "{binary} not found: install the Debian package `mariadb-server` (apt-get install mariadb-server)"
            );
        }
        let dir = tempfile::Builder::new().prefix("heartbeat-mariadb-").tempdir().expect("create temporary directory");
        let mut server =
            Self { process: None, dir, port: free_port(), password: random_password(), as_root: running_as_root() };
        server.install_db();
        server.spawn();
        server.wait_ready().await.unwrap_or_else(|e| panic!("mariadbd did not start: {e}"));
        server.create_user_and_schema().await;
        server
    }

    /// Where the probes should connect.
    pub fn target(&self) -> MariadbTarget {
        MariadbTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user: USER.into(),
            password: self.password.clone(),
            database: DATABASE.into(),
        }
    }

    /// The heartbeat user's password, made up for this server.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Sends SIGKILL to the server, like a crashed node.
    pub fn kill9(&mut self) {
        self.process.take().expect("mariadbd is running").kill9();
    }

    /// Starts the server again on the same data directory and port and waits
    /// until InnoDB has recovered and it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "mariadbd is still running");
        let mut last = String::new();
        for _ in 0..5 {
            self.spawn();
            match self.wait_ready().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            // Stops it if it still runs; reaps it either way.
            drop(self.process.take());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("mariadbd did not restart: {last}");
    }

    /// A fresh connection as `root` over the Unix socket, for administering
    /// the server (`SET GLOBAL …`).
    pub async fn admin(&self) -> Conn {
        self.try_admin().await.unwrap_or_else(|e| panic!("connect as root to {}: {e}", self.socket().display()))
    }

    /// A fresh connection as the heartbeat user over TCP, for test-side
    /// queries with the probes' privileges.
    pub async fn heartbeat_conn(&self) -> Conn {
        let target = self.target();
        let opts = OptsBuilder::default()
            .ip_or_hostname(target.host)
            .tcp_port(target.port)
            .user(Some(target.user))
            .pass(Some(target.password))
            .db_name(Some(target.database))
            .prefer_socket(false);
        tokio::time::timeout(Duration::from_secs(10), Conn::new(opts))
            .await
            .expect("connect as the heartbeat user in time")
            .expect("connect as the heartbeat user")
    }

    /// A global status counter, e.g. `Connections` (connection attempts
    /// since the server started).
    pub async fn global_status(&self, name: &str) -> u64 {
        let mut admin = self.admin().await;
        let row: Option<(String, String)> =
            admin.query_first(format!("SHOW GLOBAL STATUS LIKE '{name}'")).await.expect("SHOW GLOBAL STATUS");
        let (_, value) = row.unwrap_or_else(|| panic!("no status variable {name}"));
        value.parse().unwrap_or_else(|e| panic!("{name} = {value}: {e}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mariadbd.log")
    }

    fn user_args(&self) -> &'static [&'static str] {
        if self.as_root { &["--user=root"] } else { &[] }
    }

    /// Creates the system tables; `root` may log in over the socket with no
    /// password (`normal`, rather than as the OS user through `unix_socket`).
    fn install_db(&self) {
        let output = Command::new(INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(self.user_args())
            .args(SIZES)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {INSTALL_DB}: {e}"));
        assert!(
            output.status.success(),
            "{INSTALL_DB} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn spawn(&mut self) {
        let mut command = Command::new(MARIADBD);
        // `--no-defaults` must come first.
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!("--pid-file={}", self.dir.path().join("mariadbd.pid").display()))
            .arg(format!("--port={}", self.port))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            // Durable at every commit: what the no-lost-write check relies on.
            .args(["--innodb-flush-log-at-trx-commit=1", "--innodb-doublewrite=ON"])
            .args(["--innodb-buffer-pool-load-at-startup=OFF", "--innodb-buffer-pool-dump-at-shutdown=OFF"])
            .args(SIZES)
            .args(self.user_args())
            .current_dir(self.dir.path());
        // No --log-error: the log goes to stderr, which is the log file.
        self.process = Some(ServerProcess::spawn("mariadbd", &mut command, &self.log_path(), "-TERM"));
    }

    /// Polls until root can log in and run a query, or the server exits.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(process) = self.process.as_mut()
                && let Some(status) = process.exited()
            {
                return Err(format!("mariadbd exited with {status}"));
            }
            let last = match self.try_admin().await {
                Ok(mut admin) => match admin.query_drop("SELECT 1").await {
                    Ok(()) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e,
            };
            if tokio::time::Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_admin(&self) -> Result<Conn, String> {
        let opts = OptsBuilder::default().socket(Some(self.socket().display().to_string())).user(Some("root"));
        match tokio::time::timeout(Duration::from_secs(5), Conn::new(opts)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_elapsed) => Err("connecting as root timed out".into()),
        }
    }

    async fn create_user_and_schema(&self) {
        let mut admin = self.admin().await;
        for sql in [
            format!("CREATE DATABASE {DATABASE}"),
            format!("CREATE USER '{USER}'@'%' IDENTIFIED BY '{}'", self.password),
            format!("GRANT {GRANTS} ON {DATABASE}.* TO '{USER}'@'%'"),
        ] {
            admin.query_drop(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let mut heartbeat = self.heartbeat_conn().await;
        for _ in 0..2 {
            heartbeat.query_drop(SCHEMA_SQL).await.expect("schema applies (and re-applies)");
        }
    }
}

impl Drop for MariadbServer {
    fn drop(&mut self) {
        drop(self.process.take());
        print_log_tail_if_panicking("mariadbd", &self.log_path());
    }
}

/// 32 hex digits from the standard library's randomly keyed hasher: a
/// password nobody configured, so a probe that logs in proves it sent it.
fn random_password() -> String {
    let state = RandomState::new();
    format!("{:016x}{:016x}", state.hash_one(1u8), state.hash_one(2u8))
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run id -u");
    assert!(output.status.success(), "`id -u` failed");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}
