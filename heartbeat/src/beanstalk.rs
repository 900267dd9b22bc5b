//! The Beanstalkd probes: a writer that puts one numbered job per attempt,
//! a reader that asks the queue how many jobs it holds, and after recovery
//! the check that every job whose `put` was acknowledged is still queued.
//!
//! Beanstalkd speaks a line protocol over TCP (`put`, `INSERTED`, ...), so
//! the probes talk it directly on a [`TcpStream`], with the same rules as
//! the other probes: an attempt takes a connection that just worked (see
//! [`crate::idle`]) or opens one, and drops it on any error or timeout so
//! that later attempts reconnect through the VIP;
//! connecting is bounded by `connect_timeout`, each command by
//! `query_timeout`.
//!
//! # Jobs
//!
//! Every job of run `run_id` goes to the tube [`tube`]`(run_id)` with the body
//! `"{run_id}:{seq}"`. `INSERTED <id>` is the acknowledgement: a Beanstalkd
//! started with its binlog fsynced on every write (`-b DIR -f 0`) has the
//! job on disk when it answers. The check reserves and deletes every job of
//! the tube, so it runs once, at the end.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use crate::ack::{AckCheck, AckError, compare_and_log, ensure_writer};
use crate::idle::Idle;
use crate::probe::Probe;
use crate::record::{Outcome, Recording, name_of_run};
use crate::redis_probe::parse_beat;
use crate::session::ConnectError;
use crate::settings::ProbeSettings;

/// Where a Beanstalkd probe connects. Beanstalkd has no authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeanstalkTarget {
    /// Host name or IP address (the VIP, in the lab).
    pub host: String,
    /// TCP port of beanstalkd (11300 by default).
    pub port: u16,
}

impl fmt::Display for BeanstalkTarget {
    /// `host:port`, for log lines and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The tube of run `run_id`: `heartbeat-` and the run id with every
/// character a tube name may not hold replaced by `-` (names are at most 200
/// bytes of `A-Za-z0-9-+/;.$_()`).
pub fn tube(run_id: &str) -> String {
    name_of_run(run_id, "-+/;.$_()")
}

/// One connection speaking the protocol.
#[derive(Debug)]
struct Connection {
    stream: BufStream<TcpStream>,
}

impl Connection {
    /// Connects within `settings.connect_timeout`.
    async fn open(target: &BeanstalkTarget, settings: &ProbeSettings) -> Result<Self, ConnectError> {
        let connecting = TcpStream::connect((target.host.as_str(), target.port));
        match tokio::time::timeout(settings.connect_timeout, connecting).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                Ok(Connection { stream: BufStream::new(stream) })
            }
            Ok(Err(e)) => {
                Err(ConnectError::Failed { host: target.host.clone(), port: target.port, detail: e.to_string() })
            }
            Err(_elapsed) => Err(ConnectError::Timeout {
                host: target.host.clone(),
                port: target.port,
                timeout: settings.connect_timeout,
            }),
        }
    }

    /// Sends `command` (and a job body), returns the reply line without its CRLF.
    async fn send(&mut self, command: &str, body: Option<&[u8]>) -> std::io::Result<String> {
        let mut request = format!("{command}\r\n").into_bytes();
        if let Some(body) = body {
            request.extend_from_slice(body);
            request.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&request).await?;
        self.stream.flush().await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads a body of `bytes` announced by a reply, and its CRLF.
    async fn body(&mut self, bytes: usize) -> std::io::Result<Vec<u8>> {
        let mut body = vec![0; bytes + 2];
        self.stream.read_exact(&mut body).await?;
        body.truncate(bytes);
        Ok(body)
    }

    /// Sends `command` expecting a reply starting with `expected`, within `timeout`.
    async fn expect(
        &mut self,
        command: &str,
        body: Option<&[u8]>,
        expected: &str,
        timeout: Duration,
    ) -> Result<String, Outcome> {
        match tokio::time::timeout(timeout, self.send(command, body)).await {
            Ok(Ok(reply)) if reply.starts_with(expected) => Ok(reply),
            Ok(Ok(reply)) => Err(Outcome::QueryFailed { error: format!("{command}: {reply}") }),
            Ok(Err(e)) => Err(Outcome::QueryFailed { error: format!("{command}: {e}") }),
            Err(_elapsed) => Err(Outcome::Timeout),
        }
    }
}

/// Connections that use the run's tube, opened when no idle one is left.
#[derive(Debug)]
struct Link {
    target: BeanstalkTarget,
    settings: ProbeSettings,
    tube: String,
    idle: Idle<Connection>,
}

impl Link {
    fn new(target: BeanstalkTarget, settings: ProbeSettings, run_id: &str) -> Self {
        Link { target, settings, tube: tube(run_id), idle: Idle::default() }
    }

    /// An idle connection, or a new one switched to the run's tube. Put
    /// back with [`Link::keep`] only after a success.
    async fn take(&self) -> Result<Connection, Outcome> {
        if let Some(live) = self.idle.take() {
            return Ok(live);
        }
        let mut connection = Connection::open(&self.target, &self.settings)
            .await
            .map_err(|e| Outcome::ConnectFailed { error: e.to_string() })?;
        let using = format!("use {}", self.tube);
        match connection.expect(&using, None, "USING", self.settings.connect_timeout).await {
            Ok(_) => Ok(connection),
            Err(Outcome::Timeout) => Err(Outcome::ConnectFailed {
                error: format!("{}: no answer to `use` within {:?}", self.target, self.settings.connect_timeout),
            }),
            Err(outcome) => Err(outcome),
        }
    }

    fn keep(&self, live: Connection) {
        self.idle.keep(live);
    }
}

/// Puts one job per attempt: `put 0 0 60` of `"{run_id}:{seq}"` in the run's
/// tube. `Ok` means `INSERTED`: the job is acknowledged.
#[derive(Debug)]
pub struct BeanstalkWriter {
    link: Link,
    run_id: String,
}

impl BeanstalkWriter {
    /// A writer for `target`; nothing is connected until the first attempt.
    pub fn new(target: BeanstalkTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        BeanstalkWriter { link: Link::new(target, settings, &run_id), run_id }
    }
}

impl Probe for BeanstalkWriter {
    async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let body = format!("{}:{seq}", self.run_id);
        let put = format!("put 0 0 60 {}", body.len());
        match live.expect(&put, Some(body.as_bytes()), "INSERTED", self.link.settings.query_timeout).await {
            Ok(_) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Err(outcome) => (outcome, None),
        }
    }
}

/// Asks the queue about the run's tube (`stats-tube`): `Ok` when the
/// server answers, whether or not the tube holds jobs yet.
#[derive(Debug)]
pub struct BeanstalkReader {
    link: Link,
}

impl BeanstalkReader {
    /// A reader for `target`; nothing is connected until the first attempt.
    pub fn new(target: BeanstalkTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        BeanstalkReader { link: Link::new(target, settings, &run_id.into()) }
    }
}

impl Probe for BeanstalkReader {
    async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
        let mut live = match self.link.take().await {
            Ok(live) => live,
            Err(outcome) => return (outcome, None),
        };
        let stats = format!("stats-tube {}", self.link.tube);
        let timeout = self.link.settings.query_timeout;
        let asking = async {
            let reply = live.send(&stats, None).await?;
            if let Some(bytes) = reply.strip_prefix("OK ") {
                let bytes = bytes.parse().map_err(|_| std::io::Error::other(format!("bad reply `{reply}`")))?;
                live.body(bytes).await?;
                Ok(())
            } else if reply == "NOT_FOUND" {
                Ok(()) // no job put yet
            } else {
                Err(std::io::Error::other(format!("{stats}: {reply}")))
            }
        };
        match tokio::time::timeout(timeout, asking).await {
            Ok(Ok(())) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Ok(Err(e)) => (Outcome::QueryFailed { error: e.to_string() }, None),
            Err(_elapsed) => (Outcome::Timeout, None),
        }
    }
}

/// Reserves and deletes every job in the recording's tube on the server
/// behind `target`, and compares the jobs found with the writer's
/// acknowledged puts. Consumes the tube: run it once, after recovery.
pub async fn check_beanstalk_acknowledged(
    target: &BeanstalkTarget,
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
    let mut connection = Connection::open(target, settings).await?;
    let tube = tube(run_id);
    let timeout = settings.query_timeout;
    let mut present = Vec::new();
    let draining = async {
        // Only the run's tube: a connection watches `default` until told not to.
        connection.expect(&format!("watch {tube}"), None, "WATCHING", timeout).await.map_err(|o| o.to_string())?;
        connection.expect("ignore default", None, "WATCHING", timeout).await.map_err(|o| o.to_string())?;
        loop {
            let reply = connection.send("reserve-with-timeout 0", None).await.map_err(|e| e.to_string())?;
            if reply == "TIMED_OUT" {
                return Ok::<_, String>(());
            }
            let mut words = reply.split(' ');
            let (Some("RESERVED"), Some(id), Some(bytes)) = (words.next(), words.next(), words.next()) else {
                return Err(format!("reserve-with-timeout 0: {reply}"));
            };
            let bytes = bytes.parse().map_err(|_| format!("reserve-with-timeout 0: {reply}"))?;
            let body = connection.body(bytes).await.map_err(|e| e.to_string())?;
            // A job that is not this run's "{run_id}:{seq}" cannot prove a put present.
            present.extend(parse_beat(&body, run_id));
            connection.expect(&format!("delete {id}"), None, "DELETED", timeout).await.map_err(|o| o.to_string())?;
        }
    };
    // The whole drain is bounded by one query timeout per attempt the writer
    // made (at most one job each), and a few for the commands around them.
    match tokio::time::timeout(timeout * (recording.attempts.len() as u32 + 4), draining).await {
        Ok(Ok(())) => {}
        Ok(Err(detail)) => return Err(failed(detail)),
        Err(_elapsed) => {
            return Err(AckError::QueryTimeout {
                run_id: run_id.clone(),
                host: target.host.clone(),
                port: target.port,
                timeout,
            });
        }
    }
    Ok(compare_and_log(recording, &present))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tube_names_hold_only_what_beanstalkd_accepts() {
        assert_eq!(tube("kill-postgres-master-1:20261130T1200"), "heartbeat-kill-postgres-master-1-20261130T1200");
        assert_eq!(tube(&"x".repeat(300)).len(), 200);
    }
}
