//! A throwaway PostgreSQL 15 server for integration tests.
//!
//! The server runs as the `postgres` OS user (PostgreSQL refuses to run as
//! root) in a temporary directory, listens on 127.0.0.1 only on a free port,
//! and requires password (SCRAM) authentication. It is stopped when the guard
//! is dropped, including when a test panics, and its log is printed then so a
//! failure can be diagnosed.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heartbeat::{SCHEMA_SQL, Target};
use tempfile::TempDir;

use super::{ServerProcess, free_port, print_log_tail_if_panicking};

const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
const SUPERUSER: &str = "postgres";
const SUPERUSER_PASSWORD: &str = "superuser-test-password";
/// Role and database the probes use.
pub const USER: &str = "heartbeat";
const PASSWORD: &str = "heartbeat-test-password";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running (or deliberately killed) PostgreSQL server; stopped on drop.
#[derive(Debug)]
pub struct PgServer {
    // Declared before `dir` so the server stops before its directory goes.
    postmaster: Option<ServerProcess>,
    dir: TempDir,
    port: u16,
    owner: Option<(u32, u32)>,
}

impl PgServer {
    /// Initializes a cluster, starts it, creates the heartbeat role and
    /// database, and installs the schema (twice, to prove it idempotent).
    pub async fn start() -> Self {
        let bin = Path::new(BIN_DIR);
        assert!(
            bin.join("postgres").is_file() && bin.join("initdb").is_file(),
            "PostgreSQL 15 server binaries not found in {BIN_DIR}: \
             install the Debian package `postgresql` (apt-get install postgresql)"
        );
        let owner = server_owner();
        let dir = tempfile::Builder::new().prefix("heartbeat-pg-").tempdir().expect("create temporary directory");
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, SUPERUSER_PASSWORD).expect("write password file");
        if let Some((uid, gid)) = owner {
            for path in [dir.path(), pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut server = Self { port: free_port(), dir, owner, postmaster: None };
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(server.data_dir())
            .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--no-locale", "-E", "UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        server.spawn();
        server.wait_ready().await.expect("server did not start");
        server.create_user_and_schema().await;
        server
    }

    /// Where the probes should connect.
    pub fn target(&self) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.port,
            dbname: USER.into(),
            user: USER.into(),
            password: PASSWORD.into(),
        }
    }

    /// Sends SIGKILL to the postmaster, like a crashed node.
    pub fn kill9(&mut self) {
        self.postmaster.take().expect("server is running").kill9();
    }

    /// Starts the server again on the same data directory and waits until it
    /// accepts connections. Retries while orphaned backends of the killed
    /// postmaster still hold its shared memory.
    pub async fn restart(&mut self) {
        assert!(self.postmaster.is_none(), "server is still running");
        let mut last = String::new();
        for _ in 0..30 {
            self.spawn();
            match self.wait_ready().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            // Stops it if it still runs; reaps it either way.
            drop(self.postmaster.take());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("server did not restart: {last}");
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A command for a PostgreSQL binary, run as the server's owner.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(Path::new(BIN_DIR).join(program));
        command.current_dir(self.dir.path()).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn spawn(&mut self) {
        let mut command = self.command("postgres");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.path().display()))
            .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
            .args(["-c", "max_connections=20"]);
        // Immediate shutdown (SIGQUIT) takes the backends down with the
        // postmaster.
        self.postmaster = Some(ServerProcess::spawn("postgres", &mut command, &self.log_path(), "-QUIT"));
    }

    /// Polls until the superuser can log in, or the postmaster exits.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(postmaster) = self.postmaster.as_mut()
                && let Some(status) = postmaster.exited()
            {
                return Err(format!("postmaster exited with {status}"));
            }
            match self.superuser("postgres").await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() > deadline => {
                    return Err(format!("not ready after {READY_TIMEOUT:?}: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn superuser(&self, dbname: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        connect(self.port, SUPERUSER, SUPERUSER_PASSWORD, dbname).await
    }

    /// A fresh client logged in as the heartbeat role, for test-side queries.
    pub async fn heartbeat_client(&self) -> tokio_postgres::Client {
        connect(self.port, USER, PASSWORD, USER).await.expect("connect as heartbeat user")
    }

    async fn create_user_and_schema(&self) {
        let admin = self.superuser("postgres").await.expect("connect as superuser");
        // CREATE DATABASE refuses to run in the implicit transaction of a
        // multi-statement batch, hence two calls.
        admin
            .batch_execute(&format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"))
            .await
            .expect("create heartbeat role");
        admin.batch_execute(&format!("CREATE DATABASE {USER} OWNER {USER}")).await.expect("create heartbeat database");
        let client = self.heartbeat_client().await;
        for _ in 0..2 {
            client.batch_execute(SCHEMA_SQL).await.expect("schema applies (and re-applies)");
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        drop(self.postmaster.take());
        print_log_tail_if_panicking("postgres", &self.log_path());
    }
}

async fn connect(
    port: u16,
    user: &str,
    password: &str,
    dbname: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname(dbname)
        .connect_timeout(Duration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// uid and gid of the `postgres` OS user when running as root; `None` when
/// already unprivileged (the server then runs as the current user).
fn server_owner() -> Option<(u32, u32)> {
    if id(&["-u"]) != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"]), id(&["-g", "postgres"])))
}

fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().expect("run id");
    assert!(
        output.status.success(),
        "`id {}` failed: no `postgres` OS user? install the Debian package `postgresql`",
        args.join(" ")
    );
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("numeric id")
}
