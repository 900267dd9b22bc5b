//! Throwaway database servers for integration tests, and helpers shared by
//! the tests that use them.
//!
//! Each server runs as a child process in a temporary directory on a free
//! loopback port (the NFS server on fixed ports, in a network namespace of
//! its test's own). [`ServerProcess`] stops it when dropped — including when a
//! test panics — and the server guards print the tail of its log then, so a
//! failure can be diagnosed.

#![allow(dead_code)]

pub mod beanstalk_server;
pub mod kill_restart;
pub mod mariadb_server;
pub mod nfs_server;
pub mod pg_server;
pub mod redis_server;

use std::fs::{self, File};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use heartbeat::{Attempt, Recording};
use tokio::sync::mpsc;

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it soon
/// after).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A server child process with stdout and stderr appended to a log file.
///
/// Dropping it stops the server: `stop_signal` first, SIGKILL if it is still
/// there after a few seconds. [`ServerProcess::kill9`] kills it at once, like
/// a crashed node.
#[derive(Debug)]
pub struct ServerProcess {
    name: &'static str,
    stop_signal: &'static str,
    child: Option<Child>,
}

impl ServerProcess {
    /// Spawns `command` with its output appended to `log`.
    pub fn spawn(name: &'static str, command: &mut Command, log: &Path, stop_signal: &'static str) -> Self {
        let log = File::options().create(true).append(true).open(log).expect("open server log");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Self { name, stop_signal, child: Some(child) }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap_or_else(|| panic!("{} is not running", self.name));
        child.kill().unwrap_or_else(|e| panic!("kill -9 {}: {e}", self.name));
        child.wait().unwrap_or_else(|e| panic!("reap {}: {e}", self.name));
    }

    /// The process id while it runs (as spawned: a command that execs keeps it).
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has exited (and was reaped) already.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().unwrap_or_else(|e| panic!("poll {}: {e}", self.name))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args([self.stop_signal, &child.id().to_string()]).status();
        for _ in 0..50 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Prints the last lines of a server log when the current thread panics;
/// call it from a server guard's `Drop`.
pub fn print_log_tail_if_panicking(label: &str, log: &Path) {
    if !std::thread::panicking() {
        return;
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    eprintln!("---- {label} log {} (last lines) ----", log.display());
    for line in tail.iter().rev() {
        eprintln!("{line}");
    }
}

/// Waits (at most `timeout`) for `n` successful attempts that started at or
/// after `after`, reading a probe's live channel.
pub async fn ok_attempts(live: &mut mpsc::UnboundedReceiver<Attempt>, n: usize, after: Duration, timeout: Duration) {
    let mut seen = 0;
    let waiting = async {
        while seen < n {
            let attempt = live.recv().await.expect("probe ended early");
            if attempt.outcome.is_ok() && attempt.started >= after {
                seen += 1;
            }
        }
    };
    tokio::time::timeout(timeout, waiting)
        .await
        .unwrap_or_else(|_| panic!("fewer than {n} ok attempts after {after:?}"));
}

/// Waits (at most `timeout`) for `n` attempts matching `wanted`, returning
/// them.
pub async fn attempts_where(
    live: &mut mpsc::UnboundedReceiver<Attempt>,
    n: usize,
    timeout: Duration,
    wanted: impl Fn(&Attempt) -> bool,
) -> Vec<Attempt> {
    let mut seen = Vec::new();
    let waiting = async {
        while seen.len() < n {
            let attempt = live.recv().await.expect("probe ended early");
            if wanted(&attempt) {
                seen.push(attempt);
            }
        }
    };
    let found = tokio::time::timeout(timeout, waiting).await;
    assert!(found.is_ok(), "only {} of {n} wanted attempts within {timeout:?}: {seen:?}", seen.len());
    seen
}

/// Number of failed attempts in a recording.
pub fn failures(r: &Recording) -> usize {
    r.attempts.iter().filter(|a| !a.outcome.is_ok()).count()
}

/// Asserts that attempts are numbered 0, 1, 2, … without gaps.
pub fn assert_gapless(r: &Recording) {
    let seqs: Vec<u64> = r.attempts.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "attempts of {} are not gapless", r.probe);
}

/// A writer recording made of `outcomes`, attempt `i` having seq `i`: what a
/// lost-write check needs, without running a probe.
pub fn writer_recording(run_id: &str, outcomes: Vec<heartbeat::Outcome>) -> Recording {
    Recording {
        probe: "writer".into(),
        role: heartbeat::Role::Writer,
        run_id: run_id.into(),
        attempts: outcomes
            .into_iter()
            .zip(0u64..)
            .map(|(outcome, seq)| Attempt {
                seq,
                started: Duration::ZERO,
                latency: Duration::ZERO,
                outcome,
                observed_seq: None,
            })
            .collect(),
    }
}
