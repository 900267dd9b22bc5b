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
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
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
        if !same_token(token, &self.token) {
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

/// What the daemon takes from the nodes. Any process in a node, root or
/// not, can connect: without bounds, 20,000 idle connections made it exit
/// ("Too many open files") and 400 MiB without a newline grew it to
/// 417 MB, leaving the lab without fencing.
pub mod limits {
    use std::time::Duration;

    /// Connections served at once, from all nodes.
    pub const CONNECTIONS: usize = 64;
    /// Connections served at once from one address: a flooding node cannot
    /// take the slots another node's fence agent needs.
    pub const PER_PEER: usize = 8;
    /// The longest request line (token, action, node) read.
    pub const REQUEST_BYTES: u64 = 512;
    /// How long a connection may take to send its request.
    pub const REQUEST_TIME: Duration = Duration::from_secs(5);
}

/// Serves requests until the process is killed. A connection beyond
/// [`limits`] is closed at once; an error accepting one (such as running
/// out of file descriptors) is logged and serving goes on.
pub async fn serve<B: NodeBackend + 'static>(listener: TcpListener, daemon: Arc<FenceDaemon<B>>) {
    let slots = Slots::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a fence request; going on");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = slots.take(peer.ip()) else {
            tracing::warn!(%peer, "fence request refused: too many connections");
            continue;
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut request = BufReader::new(read.take(limits::REQUEST_BYTES));
            let reading = request.read_line(&mut line);
            let answer = match tokio::time::timeout(limits::REQUEST_TIME, reading).await {
                Ok(Ok(n)) if n as u64 >= limits::REQUEST_BYTES && !line.ends_with('\n') => {
                    "ERR request too long".to_owned()
                }
                Ok(Ok(_)) => {
                    tracing::info!(%peer, request = %line.split_whitespace().skip(1).collect::<Vec<_>>().join(" "), "fence request");
                    daemon.answer(&line).await
                }
                Ok(Err(_)) | Err(_) => return,
            };
            let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
        });
    }
}

/// Connection slots, in all and per peer address; a [`Slot`] gives its
/// place back when dropped.
#[derive(Clone, Default)]
struct Slots(Arc<std::sync::Mutex<(usize, std::collections::HashMap<std::net::IpAddr, usize>)>>);

struct Slot {
    slots: Slots,
    peer: std::net::IpAddr,
}

impl Slots {
    fn take(&self, peer: std::net::IpAddr) -> Option<Slot> {
        let mut guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_peer) = &mut *guard;
        let from_peer = by_peer.entry(peer).or_default();
        if *total >= limits::CONNECTIONS || *from_peer >= limits::PER_PEER {
            return None;
        }
        *total += 1;
        *from_peer += 1;
        Some(Slot { slots: self.clone(), peer })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.slots.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_peer) = &mut *guard;
        *total -= 1;
        if let Some(count) = by_peer.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                by_peer.remove(&self.peer);
            }
        }
    }
}

/// Compares a request's token with the lab's in time that does not depend
/// on where they differ, so a node cannot find the token byte by byte.
fn same_token(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
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

    /// A node floods the daemon (idle connections far beyond the limits,
    /// a request with no end), then another node fences: it is answered,
    /// and the flooding node's slots come back once it lets go.
    #[tokio::test]
    async fn a_flooding_node_cannot_take_fencing_away() {
        use tokio::net::{TcpSocket, TcpStream};
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(serve(listener, Arc::new(daemon(&dir))));

        let mut idle = Vec::new();
        for _ in 0..300 {
            if let Ok(stream) = TcpStream::connect(address).await {
                idle.push(stream);
            }
        }
        let mut endless = TcpStream::connect(address).await.expect("connect");
        let _ = endless.write_all(&vec![b'x'; 1 << 20]).await;

        let from = |host: &str| {
            let socket = TcpSocket::new_v4().expect("socket");
            socket.bind(format!("{host}:0").parse().expect("address")).expect("bind a second loopback address");
            socket
        };
        let ask = |socket: TcpSocket, request: &'static str| async move {
            let mut stream = socket.connect(address).await.expect("connect");
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut answer = String::new();
            BufReader::new(stream).read_line(&mut answer).await.expect("answer");
            answer
        };
        assert_eq!(ask(from("127.0.0.2"), "secret reboot a\n").await, "OK\n", "another node still fences");
        let flooder = from("127.0.0.1");
        let mut refused = flooder.connect(address).await.expect("connect");
        let mut answer = String::new();
        let closed = tokio::time::timeout(std::time::Duration::from_secs(2), refused.read_to_string(&mut answer))
            .await
            .expect("closed at once, not left waiting");
        assert!(closed.is_err() || answer.is_empty(), "the flooding address gets no ninth slot: {answer}");
        drop(idle);
        drop(endless);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(ask(from("127.0.0.1"), "secret status a\n").await, "ON\n", "slots come back");
    }

    #[test]
    fn tokens_are_compared_whole() {
        assert!(same_token("secret", "secret"));
        assert!(!same_token("secreT", "secret") && !same_token("secret2", "secret") && !same_token("", "secret"));
    }
}
