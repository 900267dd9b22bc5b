//! A small client for QMP, the QEMU Machine Protocol.
//!
//! # Why QMP and not libvirt
//!
//! The lab starts its QEMU processes itself and owns them: it knows their
//! command lines, pid files and sockets, and `lab destroy` finds them by
//! itself. libvirt would add a daemon to install, configure and keep
//! running, its own idea of which VMs exist, and an XML layer between the
//! lab and the few things it needs (pause, resume, reset, pull a cable,
//! snapshot, quit). QMP is QEMU's own control socket: one per VM, no
//! daemon, no state outside the VM's directory.
//!
//! # The protocol, as used here
//!
//! QMP is one JSON object per line over a Unix socket. QEMU greets first
//! (`{"QMP": {...}}`); the client must then send `qmp_capabilities` before
//! anything else. After that each command (`{"execute": ..., "id": n}`)
//! gets exactly one reply, `{"return": ...}` or `{"error": {"class",
//! "desc"}}`, carrying the same `id`.
//!
//! Asynchronous events (`STOP`, `RESUME`, `RESET`, `SHUTDOWN`, ...) may
//! arrive at any time, including between a command and its reply. The lab
//! never waits for an event: it asks for the state it needs (`query-status`)
//! instead, which cannot be missed the way an event can. So events are
//! skipped while waiting for a reply; the last few are kept
//! ([`Qmp::recent_events`]) and logged at debug level, for debugging.
//!
//! Replies are matched by `id`: a reply that arrives after its command
//! timed out would otherwise be taken for the next command's.
//!
//! QEMU serves one QMP client at a time per socket; a second client is
//! accepted by the kernel but gets no greeting until the first one leaves,
//! so [`Qmp::connect`] then fails with a timeout.
//!
//! # Snapshots through the human monitor
//!
//! QEMU 7.2 has QMP commands for internal snapshots (`snapshot-save`,
//! `snapshot-load`) but they are background jobs one has to poll, name
//! every disk for, and clean up after. The human monitor's `savevm` and
//! `loadvm` (through QMP's `human-monitor-command`) do the same thing
//! synchronously on every writable disk. They report failure as text
//! (`Error: ...`) in a successful QMP reply rather than as a QMP error; on
//! success they print nothing. So any output of theirs is treated as an
//! error carrying that text ([`QmpError::Human`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long a reply may take by default. Most take milliseconds; `savevm`
/// of a VM with 1 GB of memory takes seconds, more under TCG on a slow disk.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The greeting comes at once when QEMU accepts the connection; if it does
/// not, another client probably holds the monitor. This is the least time
/// given to it, whatever is left of the connect timeout.
const GREETING_TIMEOUT: Duration = Duration::from_secs(5);

/// How often [`Qmp::connect`] retries while the socket is not there yet.
const CONNECT_RETRY: Duration = Duration::from_millis(50);

/// How many events [`Qmp::recent_events`] keeps.
const KEPT_EVENTS: usize = 16;

/// What went wrong, always naming the socket (one per VM, so it names the VM).
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket did not accept a connection within the connect timeout.
    #[error("QMP {}: cannot connect within {timeout:?}: {source}", path.display())]
    Connect { path: PathBuf, timeout: Duration, source: std::io::Error },
    /// Reading or writing the socket failed.
    #[error("QMP {}: {command}: {source}", path.display())]
    Io { path: PathBuf, command: String, source: std::io::Error },
    /// No reply (or no greeting) in time.
    #[error("QMP {}: no reply to {command} within {timeout:?}", path.display())]
    Timeout { path: PathBuf, command: String, timeout: Duration },
    /// QEMU closed the connection before replying (it quit or crashed).
    #[error("QMP {}: QEMU closed the connection during {command}", path.display())]
    Closed { path: PathBuf, command: String },
    /// QEMU refused or failed the command (`{"error": {"class", "desc"}}`).
    #[error("QMP {}: {command} failed: {class}: {desc}", path.display())]
    Command { path: PathBuf, command: String, class: String, desc: String },
    /// A human monitor command that prints nothing on success printed this.
    #[error("QMP {}: {command} failed: {output}", path.display())]
    Human { path: PathBuf, command: String, output: String },
    /// An argument the lab refuses to send (it would be misparsed).
    #[error("QMP {}: {command}: {problem}", path.display())]
    Invalid { path: PathBuf, command: String, problem: String },
    /// Something that is not QMP as QEMU speaks it.
    #[error("QMP {}: {command}: {message}", path.display())]
    Protocol { path: PathBuf, command: String, message: String },
}

impl QmpError {
    /// The QMP error class (`DeviceNotFound`, `GenericError`, ...) when
    /// QEMU refused the command.
    pub fn class(&self) -> Option<&str> {
        match self {
            QmpError::Command { class, .. } => Some(class),
            _ => None,
        }
    }
}

/// The run state of a VM (`query-status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Whether the VM's CPUs run.
    pub running: bool,
    /// QEMU's word for it: `running`, `paused`, `prelaunch` (started with
    /// `-S`, never run), `restore-vm`, `shutdown`, `internal-error`, ...
    pub status: String,
}

/// An asynchronous event QEMU sent while the client waited for a reply.
#[derive(Clone, Debug, PartialEq)]
pub struct QmpEvent {
    /// `STOP`, `RESUME`, `RESET`, `SHUTDOWN`, ...
    pub name: String,
    /// The event's `data`, or `null`.
    pub data: Value,
}

/// One open QMP session with one QEMU.
#[derive(Debug)]
pub struct Qmp {
    path: PathBuf,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Bytes of a line not read to its end yet: kept across calls so that
    /// a timed out read loses nothing and the next read resumes it.
    pending: Vec<u8>,
    next_id: u64,
    reply_timeout: Duration,
    events: Vec<QmpEvent>,
}

/// One line from QEMU, classified.
#[derive(Debug, PartialEq)]
enum Message {
    Greeting,
    Event(QmpEvent),
    Return { id: Option<u64>, value: Value },
    Error { id: Option<u64>, class: String, desc: String },
}

/// Classifies one line of QMP.
fn parse_message(line: &str) -> Result<Message, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
    let Value::Object(mut object) = value else {
        return Err(format!("not a JSON object: {line}"));
    };
    let id = object.get("id").and_then(Value::as_u64);
    if let Some(event) = object.get("event") {
        let name = event.as_str().ok_or_else(|| format!("an event without a name: {line}"))?.to_owned();
        return Ok(Message::Event(QmpEvent { name, data: object.remove("data").unwrap_or(Value::Null) }));
    }
    if let Some(value) = object.remove("return") {
        return Ok(Message::Return { id, value });
    }
    if let Some(error) = object.get("error") {
        let field = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(class), Some(desc)) = (field("class"), field("desc")) else {
            return Err(format!("an error without class and desc: {line}"));
        };
        return Ok(Message::Error { id, class, desc });
    }
    if object.contains_key("QMP") {
        return Ok(Message::Greeting);
    }
    Err(format!("neither a reply nor an event: {line}"))
}

/// Snapshot names in the human monitor's `info snapshots` output: the
/// snapshots present on all disks, the ones `loadvm` can load. Snapshots
/// only some disks have ("partial (non-loadable)") are left out. `None`
/// when the text is not an `info snapshots` listing (an error message).
///
/// ```text
/// List of snapshots present on all disks:
/// ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT
/// --        install           807 KiB 2026-11-24 06:38:42 00:00:00.002
/// ```
pub fn parse_snapshot_names(output: &str) -> Option<Vec<String>> {
    let mut lines = output.lines().map(str::trim);
    if output.trim() == "There is no snapshot available." {
        return Some(Vec::new());
    }
    lines.find(|line| line.starts_with("List of snapshots present on all disks"))?;
    let mut names = Vec::new();
    match lines.next() {
        Some(header) if header.starts_with("ID") => {}
        // "None" (every snapshot is partial), or the end.
        _ => return Some(names),
    }
    names.extend(snapshot_tags(lines)?);
    Some(names)
}

/// The tags of snapshot table rows (`ID TAG VM-SIZE DATE ...`), up to the
/// first blank line or next section; `None` if a row has no tag. QEMU's
/// monitor and `qemu-img snapshot -l` print the same table.
pub fn snapshot_tags<'a>(rows: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    rows.map(str::trim)
        .take_while(|line| !line.is_empty() && !line.starts_with("List of"))
        .map(|line| line.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

/// Why a snapshot name cannot go on a human monitor command line, if it cannot.
fn snapshot_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty snapshot name")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\') {
        Some("a snapshot name with a blank, quote, backslash or control character")
    } else {
        None
    }
}

impl Qmp {
    /// Connects to a VM's QMP socket, reads the greeting and leaves
    /// negotiation mode (`qmp_capabilities`).
    ///
    /// QEMU creates the socket a moment after it starts, so while the
    /// socket is missing or refuses connections this retries, for up to
    /// `timeout`. Other errors (permissions) fail at once.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(source)
                    if tokio::time::Instant::now() < deadline
                        && matches!(
                            source.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    tokio::time::sleep(CONNECT_RETRY).await;
                }
                Err(source) => return Err(QmpError::Connect { path: path.to_owned(), timeout, source }),
            }
        };
        let (read, writer) = stream.into_split();
        let mut qmp = Qmp {
            path: path.to_owned(),
            reader: BufReader::new(read),
            writer,
            pending: Vec::new(),
            next_id: 0,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            events: Vec::new(),
        };
        let greeting_timeout = deadline.saturating_duration_since(tokio::time::Instant::now()).max(GREETING_TIMEOUT);
        const GREETING: &str = "the greeting (does another client hold the monitor?)";
        match qmp.read_message(GREETING, greeting_timeout).await? {
            Message::Greeting => {}
            other => return Err(qmp.protocol(GREETING, format!("expected the greeting, got {other:?}"))),
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// The socket this session is on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes how long each reply may take (default [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// The last few events QEMU sent on this session, oldest first.
    pub fn recent_events(&self) -> &[QmpEvent] {
        &self.events
    }

    /// Runs one QMP command and returns its `return` value. `arguments`,
    /// if any, must be a JSON object. Events that arrive meanwhile are
    /// recorded and skipped; an `error` reply becomes [`QmpError::Command`].
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({ "execute": command, "id": id });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        tracing::debug!(socket = %self.path.display(), %request, "QMP command");
        let line = format!("{request}\n");
        if let Err(source) = self.writer.write_all(line.as_bytes()).await {
            return Err(QmpError::Io { path: self.path.clone(), command: command.to_owned(), source });
        }
        loop {
            match self.read_message(command, self.reply_timeout).await? {
                Message::Event(event) => self.record(event),
                // The late reply to an earlier command that timed out.
                Message::Return { id: Some(other), .. } | Message::Error { id: Some(other), .. } if other != id => {
                    tracing::debug!(socket = %self.path.display(), id = other, "QMP: skipping a stale reply");
                }
                Message::Return { value, .. } => return Ok(value),
                Message::Error { class, desc, .. } => {
                    return Err(QmpError::Command {
                        path: self.path.clone(),
                        command: command.to_owned(),
                        class,
                        desc,
                    });
                }
                Message::Greeting => return Err(self.protocol(command, "a greeting in the middle of a session".into())),
            }
        }
    }

    /// The VM's run state (`query-status`).
    pub async fn status(&mut self) -> Result<Status, QmpError> {
        let value = self.execute("query-status", None).await?;
        match (value.get("running").and_then(Value::as_bool), value.get("status").and_then(Value::as_str)) {
            (Some(running), Some(status)) => Ok(Status { running, status: status.to_owned() }),
            _ => Err(self.protocol("query-status", format!("unexpected reply {value}"))),
        }
    }

    /// Pauses the VM's CPUs (`stop`).
    pub async fn stop(&mut self) -> Result<(), QmpError> {
        self.execute("stop", None).await.map(drop)
    }

    /// Starts or resumes the VM's CPUs (`cont`), also from `prelaunch`.
    pub async fn cont(&mut self) -> Result<(), QmpError> {
        self.execute("cont", None).await.map(drop)
    }

    /// Presses the reset button (`system_reset`): the guest reboots at once,
    /// without shutting down.
    pub async fn system_reset(&mut self) -> Result<(), QmpError> {
        self.execute("system_reset", None).await.map(drop)
    }

    /// Ends QEMU at once (`quit`); the guest gets no shutdown. QEMU may
    /// close the connection before its reply arrives: that is success too.
    /// The process may still be exiting when this returns.
    pub async fn quit(&mut self) -> Result<(), QmpError> {
        match self.execute("quit", None).await {
            Ok(_) | Err(QmpError::Closed { .. }) => Ok(()),
            Err(QmpError::Io { source, .. })
                if matches!(source.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Plugs in (`up`) or pulls the cable of the network device with id
    /// `device` (`set_link`): the guest sees the carrier change.
    pub async fn set_link(&mut self, device: &str, up: bool) -> Result<(), QmpError> {
        self.execute("set_link", Some(json!({ "name": device, "up": up }))).await.map(drop)
    }

    /// Runs a human monitor command (`human-monitor-command`) and returns
    /// its text output. Human monitor commands mostly report failure in
    /// that text, not as a QMP error: the caller has to look.
    pub async fn human(&mut self, command_line: &str) -> Result<String, QmpError> {
        let value = self.execute("human-monitor-command", Some(json!({ "command-line": command_line }))).await?;
        match value {
            Value::String(output) => Ok(output),
            other => Err(self.protocol(command_line, format!("expected text output, got {other}"))),
        }
    }

    /// Takes internal snapshot `name` of the memory, device state and every
    /// writable disk (`savevm`), replacing one of the same name. A running
    /// VM pauses meanwhile and then runs on.
    pub async fn save_snapshot(&mut self, name: &str) -> Result<(), QmpError> {
        self.human_silent("savevm", name).await
    }

    /// Goes back to snapshot `name` (`loadvm`). A running VM runs on from
    /// the snapshot; a paused one stays paused. When it fails, QEMU leaves
    /// the VM stopped (`restore-vm`), even if it was running.
    pub async fn load_snapshot(&mut self, name: &str) -> Result<(), QmpError> {
        self.human_silent("loadvm", name).await
    }

    /// Deletes snapshot `name` from every disk of the VM (`delvm`), running
    /// or paused.
    pub async fn delete_snapshot(&mut self, name: &str) -> Result<(), QmpError> {
        self.human_silent("delvm", name).await
    }

    /// The names of the snapshots `loadvm` can load (`info snapshots`), in
    /// QEMU's order (oldest first).
    pub async fn snapshots(&mut self) -> Result<Vec<String>, QmpError> {
        const COMMAND: &str = "info snapshots";
        let output = self.human(COMMAND).await?;
        parse_snapshot_names(&output).ok_or_else(|| QmpError::Human {
            path: self.path.clone(),
            command: COMMAND.to_owned(),
            output: one_line(&output),
        })
    }

    /// `verb name`, a human monitor command that prints nothing on success.
    async fn human_silent(&mut self, verb: &str, name: &str) -> Result<(), QmpError> {
        let command_line = format!("{verb} {name}");
        if let Some(problem) = snapshot_name_problem(name) {
            return Err(QmpError::Invalid { path: self.path.clone(), command: command_line, problem: problem.into() });
        }
        let output = self.human(&command_line).await?;
        if output.trim().is_empty() {
            Ok(())
        } else {
            Err(QmpError::Human { path: self.path.clone(), command: command_line, output: one_line(&output) })
        }
    }

    fn record(&mut self, event: QmpEvent) {
        tracing::debug!(socket = %self.path.display(), event = event.name, data = %event.data, "QMP event");
        if self.events.len() == KEPT_EVENTS {
            self.events.remove(0);
        }
        self.events.push(event);
    }

    fn protocol(&self, command: &str, message: String) -> QmpError {
        QmpError::Protocol { path: self.path.clone(), command: command.to_owned(), message }
    }

    /// Reads and classifies the next line, waiting at most `timeout`.
    async fn read_message(&mut self, command: &str, timeout: Duration) -> Result<Message, QmpError> {
        // read_until keeps what it read in `pending` if the timeout cancels it.
        let read = tokio::time::timeout(timeout, self.reader.read_until(b'\n', &mut self.pending)).await;
        let read =
            read.map_err(|_| QmpError::Timeout { path: self.path.clone(), command: command.to_owned(), timeout })?;
        match read {
            Err(source) => Err(QmpError::Io { path: self.path.clone(), command: command.to_owned(), source }),
            Ok(_) if !self.pending.ends_with(b"\n") => {
                Err(QmpError::Closed { path: self.path.clone(), command: command.to_owned() })
            }
            Ok(_) => {
                let line = std::mem::take(&mut self.pending);
                let line = String::from_utf8_lossy(&line);
                parse_message(line.trim()).map_err(|message| self.protocol(command, message))
            }
        }
    }
}

/// Monitor output on one line, for an error message.
fn one_line(output: &str) -> String {
    output.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `info snapshots` on QEMU 7.2 with two disks, verbatim.
    const TWO_SNAPSHOTS: &str = "List of snapshots present on all disks:\r\n\
        ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\r\n\
        --        install           807 KiB 2026-11-24 06:38:42 00:00:00.002           \r\n\
        --        setup             879 KiB 2026-11-24 06:38:42 00:00:00.006           \r\n";

    /// The same with a snapshot only one disk has (`qemu-img snapshot -c`).
    const WITH_PARTIAL: &str = "List of snapshots present on all disks:\r\n\
        ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\r\n\
        --        setup             879 KiB 2026-11-24 06:38:42 00:00:00.006           \r\n\
        --        vm-20261124063842  807 KiB 2026-11-24 06:38:42 00:00:00.002           \r\n\
        \r\n\
        List of partial (non-loadable) snapshots on 'virtio0':\r\n\
        ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\r\n\
        4         onlyone               0 B 2026-11-24 06:38:46 00:00:00.000          0\r\n";

    #[test]
    fn info_snapshots_lists_the_loadable_snapshots() {
        assert_eq!(parse_snapshot_names(TWO_SNAPSHOTS), Some(vec!["install".to_owned(), "setup".to_owned()]));
        assert_eq!(parse_snapshot_names(WITH_PARTIAL), Some(vec!["setup".to_owned(), "vm-20261124063842".to_owned()]));
        assert_eq!(parse_snapshot_names("There is no snapshot available.\r\n"), Some(vec![]));
        let only_partial = "List of snapshots present on all disks:\r\nNone\r\n\r\n\
            List of partial (non-loadable) snapshots on 'virtio0':\r\n\
            ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\r\n\
            4         onlyone               0 B 2026-11-24 06:38:46 00:00:00.000          0\r\n";
        assert_eq!(parse_snapshot_names(only_partial), Some(vec![]));
        assert_eq!(
            parse_snapshot_names("Error: Device 'virtio0' is writable but does not support snapshots\r\n"),
            None
        );
        assert_eq!(parse_snapshot_names(""), None);
    }

    #[test]
    fn replies_events_errors_and_the_greeting_are_told_apart() {
        assert_eq!(parse_message(r#"{"return": {}, "id": 1}"#), Ok(Message::Return { id: Some(1), value: json!({}) }));
        assert_eq!(
            parse_message(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}"#),
            Ok(Message::Event(QmpEvent { name: "STOP".into(), data: Value::Null }))
        );
        assert_eq!(
            parse_message(r#"{"event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}}"#),
            Ok(Message::Event(QmpEvent {
                name: "RESET".into(),
                data: json!({"guest": false, "reason": "host-qmp-system-reset"})
            }))
        );
        assert_eq!(
            parse_message(r#"{"id": 4, "error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}}"#),
            Ok(Message::Error { id: Some(4), class: "DeviceNotFound".into(), desc: "Device 'nope' not found".into() })
        );
        assert_eq!(
            parse_message(
                r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": []}}"#
            ),
            Ok(Message::Greeting)
        );
        for bad in ["not json", "[1]", r#"{"surprise": 1}"#, r#"{"error": {"class": "X"}}"#, r#"{"event": 3}"#] {
            assert!(parse_message(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn snapshot_names_that_would_be_misparsed_are_refused() {
        assert_eq!(snapshot_name_problem("install"), None);
        assert_eq!(snapshot_name_problem("pre-fault_2.1"), None);
        for bad in ["", "a b", "a\tb", "a\"b", "a\\b", "a\nb"] {
            assert!(snapshot_name_problem(bad).is_some(), "{bad:?}");
        }
    }

    /// One step of a scripted QMP server.
    enum Step {
        /// Read a request line; it must contain this.
        Expect(&'static str),
        /// Write this line.
        Send(&'static str),
        Sleep(Duration),
    }
    use Step::{Expect, Send, Sleep};

    /// A scripted QMP server on a socket in `dir`: greets, answers the
    /// capabilities negotiation, plays `script`, then closes.
    fn fake_qemu(dir: &Path, script: Vec<Step>) -> (PathBuf, tokio::task::JoinHandle<()>) {
        let path = dir.join("vm.qmp");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let greeting =
                r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}"#;
            let mut steps = vec![Send(greeting), Expect(r#""qmp_capabilities""#), Send(r#"{"return": {}, "id": 1}"#)];
            steps.extend(script);
            for step in steps {
                match step {
                    Expect(wanted) => {
                        let line = lines.next_line().await.expect("read").expect("a request");
                        assert!(line.contains(wanted), "expected {wanted} in {line}");
                    }
                    Send(line) => write.write_all(format!("{line}\r\n").as_bytes()).await.expect("write"),
                    Sleep(pause) => tokio::time::sleep(pause).await,
                }
            }
        });
        (path, server)
    }

    #[tokio::test]
    async fn events_and_stale_replies_are_skipped_and_errors_name_the_command_and_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, server) = fake_qemu(
            dir.path(),
            vec![
                Expect(r#""execute":"query-status","id":2"#),
                Send(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}"#),
                Send(r#"{"return": {"running": true, "status": "running"}, "id": 1}"#),
                Send(r#"{"event": "RESUME"}"#),
                Send(r#"{"return": {"status": "paused", "singlestep": false, "running": false}, "id": 2}"#),
                Expect(r#""arguments":{"name":"nic9","up":false}"#),
                Send(r#"{"id": 3, "error": {"class": "DeviceNotFound", "desc": "Device 'nic9' not found"}}"#),
                Expect(r#""command-line":"loadvm nope""#),
                Send(r#"{"return": "Error: Snapshot 'nope' does not exist in one or more devices\r\n", "id": 4}"#),
                Expect(r#""command-line":"savevm install""#),
                Send(r#"{"return": "", "id": 5}"#),
                Expect(r#""command-line":"info snapshots""#),
                Send(r#"{"return": "There is no snapshot available.\r\n", "id": 6}"#),
            ],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).await.expect("connect");
        assert_eq!(qmp.status().await.expect("status"), Status { running: false, status: "paused".into() });
        let names: Vec<_> = qmp.recent_events().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["STOP", "RESUME"]);

        let err = qmp.set_link("nic9", false).await.expect_err("no such device");
        assert_eq!(err.class(), Some("DeviceNotFound"));
        let text = err.to_string();
        assert!(text.contains("set_link failed: DeviceNotFound: Device 'nic9' not found"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");

        let err = qmp.load_snapshot("nope").await.expect_err("missing snapshot");
        assert!(matches!(err, QmpError::Human { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("loadvm nope failed: Error: Snapshot 'nope' does not exist"), "{text}");

        qmp.save_snapshot("install").await.expect("savevm");
        assert_eq!(qmp.snapshots().await.expect("info snapshots"), Vec::<String>::new());
        let err = qmp.save_snapshot("two words").await.expect_err("misparsed name");
        assert!(matches!(err, QmpError::Invalid { .. }), "{err:?}");
        server.await.expect("the server followed its script");
    }

    #[tokio::test]
    async fn a_late_reply_after_a_timeout_is_not_taken_for_the_next_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, server) = fake_qemu(
            dir.path(),
            vec![
                Expect(r#""execute":"stop","id":2"#),
                Sleep(Duration::from_millis(400)),
                Expect(r#""execute":"query-status","id":3"#),
                Send(r#"{"return": {}, "id": 2}"#),
                Send(r#"{"return": {"status": "paused", "running": false}, "id": 3}"#),
            ],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).await.expect("connect");
        qmp.set_reply_timeout(Duration::from_millis(100));
        let err = qmp.stop().await.expect_err("no reply in time");
        assert!(matches!(err, QmpError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("no reply to stop within 100ms"), "{err}");
        qmp.set_reply_timeout(Duration::from_secs(5));
        assert_eq!(qmp.status().await.expect("status").status, "paused");
        server.await.expect("the server followed its script");
    }

    #[tokio::test]
    async fn a_line_split_across_a_timeout_is_resumed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vm.qmp");
        let listener = tokio::net::UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.expect("greet");
            lines.next_line().await.expect("read").expect("qmp_capabilities");
            write.write_all(b"{\"return\": {}, \"id\": 1}\n").await.expect("write");
            lines.next_line().await.expect("read").expect("query-status");
            write.write_all(b"{\"return\": {\"status\": \"running\",").await.expect("write");
            tokio::time::sleep(Duration::from_millis(300)).await;
            write.write_all(b" \"running\": true}, \"id\": 2}\n").await.expect("write");
        });
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).await.expect("connect");
        qmp.set_reply_timeout(Duration::from_millis(100));
        assert!(matches!(qmp.status().await, Err(QmpError::Timeout { .. })));
        // The next read picks up where the timed out one stopped.
        match qmp.read_message("query-status", Duration::from_secs(5)).await.expect("the rest of the line") {
            Message::Return { id, value } => {
                assert_eq!(id, Some(2));
                assert_eq!(value, json!({"status": "running", "running": true}));
            }
            other => panic!("expected the reply, got {other:?}"),
        }
        server.await.expect("server");
    }

    #[tokio::test]
    async fn quit_succeeds_when_qemu_closes_without_replying() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, server) = fake_qemu(
            dir.path(),
            vec![Expect(r#""execute":"quit""#), Send(r#"{"event": "SHUTDOWN", "data": {"guest": false}}"#)],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).await.expect("connect");
        qmp.quit().await.expect("quit");
        server.await.expect("server");
        let err = qmp.cont().await.expect_err("QEMU is gone");
        assert!(matches!(err, QmpError::Closed { .. } | QmpError::Io { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn connect_waits_for_the_socket_to_appear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("late.qmp");
        let late = path.clone();
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let listener = tokio::net::UnixListener::bind(&late).expect("bind");
            let (stream, _) = listener.accept().await.expect("accept");
            let (read, mut write) = stream.into_split();
            write.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.expect("greet");
            BufReader::new(read).lines().next_line().await.expect("read").expect("qmp_capabilities");
            write.write_all(b"{\"return\": {}, \"id\": 1}\n").await.expect("write");
        });
        Qmp::connect(&path, Duration::from_secs(5)).await.expect("connect once the socket is there");
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_missing_socket_fails_after_the_timeout_naming_it() {
        let started = std::time::Instant::now();
        let err = Qmp::connect(Path::new("/nonexistent/vm.qmp"), Duration::from_millis(300)).await.expect_err("none");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(matches!(err, QmpError::Connect { .. }), "{err:?}");
        assert!(err.to_string().starts_with("QMP /nonexistent/vm.qmp: cannot connect within 300ms"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_on_the_greeting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("busy.qmp");
        let _listener = tokio::net::UnixListener::bind(&path).expect("bind");
        // Never accepted: like a QEMU whose monitor another client holds.
        let err = Qmp::connect(&path, Duration::from_millis(100)).await;
        let err = err.expect_err("no greeting");
        assert!(err.to_string().contains("another client"), "{err}");
    }
}
