//! A throwaway Beanstalkd (Debian's `beanstalkd`) for integration tests: on
//! 127.0.0.1, a free port, its binlog in a temporary directory fsynced on
//! every write (`-f 0`), so every job it acknowledged survives `kill -9`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heartbeat::BeanstalkTarget;
use tempfile::TempDir;

use super::{ServerProcess, free_port, print_log_tail_if_panicking};

const BINARY: &str = "/usr/bin/beanstalkd";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or deliberately killed) beanstalkd; stopped on drop.
#[derive(Debug)]
pub struct BeanstalkServer {
    // Declared before `dir` so the server stops before its directory goes.
    process: Option<ServerProcess>,
    dir: TempDir,
    port: u16,
}

impl BeanstalkServer {
    /// Starts a server and waits until it accepts connections.
    pub async fn start() -> Self {
        assert!(Path::new(BINARY).is_file(), "{BINARY} not found: apt-get install beanstalkd");
        let dir = tempfile::Builder::new().prefix("heartbeat-beanstalk-").tempdir().expect("temporary directory");
        let mut server = BeanstalkServer { process: None, dir, port: free_port() };
        server.spawn();
        server.wait_ready().await;
        server
    }

    pub fn target(&self) -> BeanstalkTarget {
        BeanstalkTarget { host: "127.0.0.1".into(), port: self.port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILL, like a crashed node.
    pub fn kill9(&mut self) {
        self.process.take().expect("beanstalkd is running").kill9();
    }

    /// Starts again on the same binlog and port.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "beanstalkd is still running");
        self.spawn();
        self.wait_ready().await;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("beanstalkd.log")
    }

    fn spawn(&mut self) {
        let binlog = self.dir.path().join("binlog");
        std::fs::create_dir_all(&binlog).expect("binlog directory");
        let mut command = Command::new(BINARY);
        command.args(["-l", "127.0.0.1", "-p", &self.port.to_string(), "-f", "0", "-b"]).arg(&binlog);
        self.process = Some(ServerProcess::spawn("beanstalkd", &mut command, &self.log_path(), "-TERM"));
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "beanstalkd not listening after {READY_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BeanstalkServer {
    fn drop(&mut self) {
        print_log_tail_if_panicking("beanstalkd", &self.log_path());
    }
}
