//! The host-side fence daemon.
//!
//! A node cannot pull its own plug, so the guests' fence agent
//! (`guest/fence_lab`) connects here, on the host's lab address inside the
//! lab network, and asks for `off`, `on`, `reboot` or `status` of a node.
//! Requests carry the lab's fence token. Every action is appended to
//! `fence-events.jsonl` in the lab directory, so reports can show when the
//! cluster fenced whom.
//!
//! Protocol, one line each way: `TOKEN ACTION NODE` → `OK [words]`,
//! `ON`, `OFF` or `ERR reason`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::backend::NodeBackend;

/// One fencing action, as recorded in `fence-events.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceEvent {
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub unix_ms: u128,
    pub action: String,
    pub node: String,
    pub answer: String,
}

/// The daemon's state: which nodes it may fence and how.
#[derive(Debug)]
pub struct FenceDaemon<B> {
    backend: B,
    token: String,
    nodes: Vec<String>,
    events: PathBuf,
}

impl<B: NodeBackend> FenceDaemon<B> {
    pub fn new(backend: B, token: String, nodes: Vec<String>, events: PathBuf) -> Self {
        FenceDaemon { backend, token, nodes, events }
    }

    /// Answers one request line.
    pub async fn answer(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        let (Some(token), Some(action), node) = (words.next(), words.next(), words.next().unwrap_or("-")) else {
            return "ERR malformed request".into();
        };
        if token != self.token {
            return "ERR bad token".into();
        }
        if action == "ping" {
            return "OK".into();
        }
        if action == "list" {
            return format!("OK {}", self.nodes.join(" "));
        }
        if !self.nodes.iter().any(|n| n == node) {
            return format!("ERR unknown node {node}");
        }
        let result = match action {
            "status" => match self.backend.is_running(node).await {
                Ok(true) => Ok("ON".to_owned()),
                Ok(false) => Ok("OFF".to_owned()),
                Err(e) => Err(e),
            },
            "off" => self.backend.power_off(node).await.map(|()| "OK".to_owned()),
            "on" => self.backend.start(node).await.map(|()| "OK".to_owned()),
            "reboot" => self.backend.reset(node).await.map(|()| "OK".to_owned()),
            other => return format!("ERR unknown action {other}"),
        };
        let answer = result.unwrap_or_else(|e| format!("ERR {e}"));
        if action != "status" {
            tracing::warn!(action, node, answer = %answer, "fencing");
            self.record(action, node, &answer);
        }
        answer
    }

    fn record(&self, action: &str, node: &str, answer: &str) {
        let event = FenceEvent {
            unix_ms: crate::run::runner::unix_ms(),
            action: action.to_owned(),
            node: node.to_owned(),
            answer: answer.to_owned(),
        };
        let line = serde_json::to_string(&event).unwrap_or_default();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.events)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::error!(path = %self.events.display(), error = %e, "cannot record fence event");
        }
    }
}

/// Serves requests until the process is killed.
pub async fn serve<B: NodeBackend + 'static>(
    listener: TcpListener,
    daemon: Arc<FenceDaemon<B>>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_ok() {
                tracing::info!(%peer, request = %line.split_whitespace().skip(1).collect::<Vec<_>>().join(" "), "fence request");
                let answer = daemon.answer(&line).await;
                let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
            }
        });
    }
}

/// Reads the recorded fence events (missing file: none yet).
pub fn read_events(path: &std::path::Path) -> Vec<FenceEvent> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeBackend;

    fn daemon(dir: &tempfile::TempDir) -> FenceDaemon<FakeBackend> {
        let backend = FakeBackend::with_running(&["a", "b"]);
        FenceDaemon::new(backend, "secret".into(), vec!["a".into(), "b".into()], dir.path().join("events.jsonl"))
    }

    #[tokio::test]
    async fn reboot_powers_off_then_on_and_is_recorded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(&dir);
        assert_eq!(d.answer("secret reboot a\n").await, "OK");
        assert_eq!(d.backend.calls(), ["power_off a", "start a"]);
        let events = read_events(&dir.path().join("events.jsonl"));
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].action.as_str(), events[0].node.as_str()), ("reboot", "a"));
    }

    #[tokio::test]
    async fn status_reports_power_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(&dir);
        assert_eq!(d.answer("secret status b").await, "ON");
        assert_eq!(d.answer("secret off b").await, "OK");
        assert_eq!(d.answer("secret status b").await, "OFF");
    }

    #[tokio::test]
    async fn wrong_token_unknown_node_and_garbage_are_refused_without_action() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = daemon(&dir);
        assert_eq!(d.answer("guess off a").await, "ERR bad token");
        assert_eq!(d.answer("secret off witness").await, "ERR unknown node witness");
        assert_eq!(d.answer("secret").await, "ERR malformed request");
        assert_eq!(d.answer("secret dance a").await, "ERR unknown action dance");
        assert!(d.backend.calls().is_empty());
        assert_eq!(d.answer("secret list").await, "OK a b");
    }
}
