//! The NFSv3 probes: a writer that writes one numbered record per attempt
//! into a file of the export, a reader that reads the last record back, and
//! after recovery the check that every record whose write was acknowledged
//! is still in the file.
//!
//! # No kernel mount
//!
//! The probes speak NFSv3 over TCP themselves (with [`nfs3_client`]) instead
//! of mounting the export: a kernel mount whose server vanishes during a
//! failover leaves every process touching it stuck in uninterruptible
//! sleep on the host, out of reach of any timeout. Here every network step
//! is bounded, with the same rules as the other probes: connecting (to the
//! portmapper, mountd and nfsd, each) by `connect_timeout`, each RPC call
//! by `query_timeout`. An attempt takes a connection to nfsd that just
//! worked (see [`crate::idle`]) or opens one, and drops it on any error or
//! timeout so that later attempts reconnect through the VIP.
//!
//! A new connection asks the portmapper (`portmap_port`, 111 normally) for
//! the port of NFS v3 over TCP and connects there. The file's handle is
//! shared by all attempts of a probe; until one is known (the first time,
//! or after the server called it stale), the connection also asks the
//! portmapper for MOUNT v3, mounts the export with mountd for its root
//! handle, and looks up the run's file [`file_name`] in it, creating it if
//! missing. Later reconnections skip mountd, as a kernel client does: a
//! reconnection is a connect and a `GETPORT` to the portmapper, then a
//! connect to nfsd. The export is never unmounted: a mount is only an entry
//! in the server's list of clients (one per client and export), which the
//! server does not consult to serve a handle.
//!
//! # Reserved ports and credentials
//!
//! Calls carry `AUTH_UNIX` credentials of root (uid 0, gid 0, machine
//! `heartbeat`). The kernel's NFS server serves only clients connecting from
//! a port below 1024 unless the export says `insecure`, so every connection
//! is opened from a reserved port (665–1023, as the kernel's own client)
//! when the process may bind one (root or `CAP_NET_BIND_SERVICE`);
//! otherwise it falls back to an ephemeral port, and the export then needs
//! `insecure` (NFS-Ganesha accepts any port unless `PrivilegedPort = true`).
//! Reserved ports are few (359), so connections close with a reset rather
//! than linger in `TIME_WAIT` for a minute, each pinning a port to the
//! server, and a port whose connection to the same server still exists is
//! skipped.
//!
//! # Records
//!
//! Attempt `seq` of the writer writes the 32-byte record
//! `format!("{seq:>31}\n")` at offset `seq * 32` of the run's file, with
//! `stable = FILE_SYNC`. The reply is the acknowledgement only if it says
//! all 32 bytes were written and committed `FILE_SYNC`. A server must not
//! answer less to a `FILE_SYNC` write, but one that did (`UNSTABLE`: the
//! data only in its memory until a `COMMIT`) has not made it durable, so it
//! is not counted. (A Linux export marked `async` answers `FILE_SYNC`
//! without writing through; no client can tell.) Fixed offsets make the
//! file its own index: the check
//! reads it whole and record `k` is present if its 32 bytes are record `k`.
//! Concurrent attempts write disjoint ranges, and the file is a plain
//! `cat`-able column of numbers for whoever looks at the export.

mod connection;

use std::fmt;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nfs3_client::nfs3_types::nfs3::{
    GETATTR3args, Nfs3Result, READ3args, WRITE3args, WRITE3res, nfs_fh3, nfsstat3, stable_how,
};
use nfs3_client::nfs3_types::xdr_codec::Opaque;

use crate::ack::{AckCheck, AckError, compare_and_log, ensure_writer};
use crate::error_chain::describe;
use crate::idle::Idle;
use crate::probe::Probe;
use crate::record::{Outcome, Recording, name_of_run};
use crate::session::ConnectError;
use crate::settings::ProbeSettings;
use connection::{CHUNK, Connection, open, open_mounted};

/// Bytes per record; record `seq` is at offset `seq * RECORD_LEN`.
const RECORD_LEN: u64 = 32;

/// Where an NFS probe connects: the server, by its portmapper, and the
/// export holding the probes' files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfsTarget {
    /// Host name or IP address (the VIP, in the lab).
    pub host: String,
    /// Path of the export on the server, as mounted (`/srv/nfs`).
    pub export: String,
    /// TCP port of the portmapper (rpcbind), 111 normally; it tells the
    /// ports of nfsd and mountd.
    pub portmap_port: u16,
}

impl fmt::Display for NfsTarget {
    /// `host:export`, as in a mount command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.export)
    }
}

/// The file of run `run_id` in the export's root: `heartbeat-` and the run
/// id with every character outside `A-Za-z0-9._-` replaced by `-` (no `/`,
/// nothing a shell or another client would trip on), at most 200 bytes
/// (names may have up to 255).
pub fn file_name(run_id: &str) -> String {
    name_of_run(run_id, "._-")
}

/// Record `seq`: the number right-aligned in 31 bytes and a newline.
fn record(seq: u64) -> Vec<u8> {
    format!("{seq:>31}\n").into_bytes()
}

/// The number in a record, if `bytes` are exactly a record as written by
/// [`record`] (not a hole of zeros, not a torn or foreign write).
fn parse_record(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let seq: u64 = text.strip_suffix('\n')?.trim_start_matches(' ').parse().ok()?;
    (record(seq) == bytes).then_some(seq)
}

/// The records present in the contents of a run's file: `k` for every
/// 32-byte record `k` at offset `k * 32` that holds `k`. A hole (read as
/// zeros) or a record holding another number proves nothing present.
fn present_records(data: &[u8]) -> Vec<u64> {
    data.chunks_exact(RECORD_LEN as usize)
        .zip(0u64..)
        .filter(|&(bytes, k)| parse_record(bytes) == Some(k))
        .map(|(_, k)| k)
        .collect()
}

/// Why a reply is not the one wanted.
#[derive(Debug)]
enum Refusal {
    /// An NFS error status.
    Status(nfsstat3),
    /// Anything else wrong with it.
    Other(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Status(status) => write!(f, "{status}"),
            Refusal::Other(text) => f.write_str(text),
        }
    }
}

/// Whether a `WRITE` reply acknowledges the record: all of it written and
/// committed to stable storage.
fn written(reply: WRITE3res) -> Result<(), Refusal> {
    match reply {
        Nfs3Result::Ok(ok) if ok.count != RECORD_LEN as u32 => {
            Err(Refusal::Other(format!("{} of {RECORD_LEN} bytes written", ok.count)))
        }
        Nfs3Result::Ok(ok) if ok.committed != stable_how::FILE_SYNC => {
            Err(Refusal::Other(format!("committed {}, not FILE_SYNC: not durable", ok.committed)))
        }
        Nfs3Result::Ok(_) => Ok(()),
        Nfs3Result::Err((status, _)) => Err(Refusal::Status(status)),
    }
}

/// Connections to nfsd and the handle of the run's file, shared by the
/// attempts of one probe.
#[derive(Debug)]
struct Link {
    target: NfsTarget,
    settings: ProbeSettings,
    name: String,
    /// The run's file, once an attempt found it; forgotten when the server
    /// calls it stale, so that the next attempt mounts again.
    file: Mutex<Option<nfs_fh3>>,
    idle: Idle<Connection>,
}

impl Link {
    fn new(target: NfsTarget, settings: ProbeSettings, run_id: &str) -> Self {
        Link { target, settings, name: file_name(run_id), file: Mutex::new(None), idle: Idle::default() }
    }

    /// The handle; a panic while holding it cannot leave it inconsistent
    /// (it is only ever replaced whole), so a poisoned lock is used as is.
    fn file(&self) -> MutexGuard<'_, Option<nfs_fh3>> {
        self.file.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets `file` unless another attempt has replaced it already.
    fn forget(&self, file: &nfs_fh3) {
        let mut known = self.file();
        if known.as_ref() == Some(file) {
            *known = None;
            tracing::info!(target = %self.target, file = %self.name, "file handle stale: mounting again");
        }
    }

    /// An idle connection, or a new one, and the file's handle, mounting
    /// the export first if the handle is not known. Put the connection back
    /// with [`Link::keep`] only after a success.
    async fn take(&self) -> Result<(Connection, nfs_fh3), Outcome> {
        self.connection().await.map_err(|e| Outcome::ConnectFailed { error: e.to_string() })
    }

    async fn connection(&self) -> Result<(Connection, nfs_fh3), ConnectError> {
        let known = self.file().clone();
        if let Some(file) = known {
            let live = match self.idle.take() {
                Some(live) => live,
                None => open(&self.target, &self.settings).await?,
            };
            return Ok((live, file));
        }
        let (mut live, root) = open_mounted(&self.target, &self.settings).await?;
        let file = live.find_or_create(&root, &self.name, self.settings.query_timeout).await?;
        *self.file() = Some(file.clone());
        Ok((live, file))
    }

    fn keep(&self, live: Connection) {
        self.idle.keep(live);
    }

    /// `call` on `peer` within the query timeout; a failure or timeout is
    /// the attempt's outcome.
    async fn call<T>(
        &self,
        peer: &str,
        what: &str,
        call: impl Future<Output = Result<T, nfs3_client::RpcError>>,
    ) -> Result<T, Outcome> {
        match tokio::time::timeout(self.settings.query_timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(Outcome::QueryFailed { error: format!("{peer}: {what}: {}", describe(&e)) }),
            Err(_elapsed) => Err(Outcome::Timeout),
        }
    }

    /// The outcome of a reply that is not the one wanted. A stale or bad
    /// handle (the file was removed, or the server that answers is another
    /// one) is forgotten.
    fn refused(&self, peer: &str, what: &str, file: &nfs_fh3, refusal: &Refusal) -> Outcome {
        if let Refusal::Status(nfsstat3::NFS3ERR_STALE | nfsstat3::NFS3ERR_BADHANDLE) = refusal {
            self.forget(file);
        }
        Outcome::QueryFailed { error: format!("{peer}: {what}: {refusal}") }
    }
}

/// Writes one record per attempt: record `seq` at offset `seq * 32` of the
/// run's file, `FILE_SYNC`. `Ok` means the server answered that all 32
/// bytes are on stable storage: the write is acknowledged.
#[derive(Debug)]
pub struct NfsWriter {
    link: Link,
}

impl NfsWriter {
    /// A writer for `target`; nothing is connected until the first attempt.
    pub fn new(target: NfsTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        NfsWriter { link: Link::new(target, settings, &run_id.into()) }
    }
}

impl Probe for NfsWriter {
    async fn attempt(&self, seq: u64) -> (Outcome, Option<u64>) {
        let (mut live, file) = match self.link.take().await {
            Ok(taken) => taken,
            Err(outcome) => return (outcome, None),
        };
        let peer = live.peer();
        let offset = seq * RECORD_LEN;
        let what = format!("WRITE at offset {offset}");
        let data = record(seq);
        let args = WRITE3args {
            file: file.clone(),
            offset,
            count: RECORD_LEN as u32,
            stable: stable_how::FILE_SYNC,
            data: Opaque::borrowed(&data),
        };
        let reply = match self.link.call(&peer, &what, live.nfs.write(&args)).await {
            Ok(reply) => reply,
            Err(outcome) => return (outcome, None),
        };
        match written(reply) {
            Ok(()) => {
                self.link.keep(live);
                (Outcome::Ok, None)
            }
            Err(refusal) => (self.link.refused(&peer, &what, &file, &refusal), None),
        }
    }
}

/// Reads the last whole record of the run's file: `GETATTR` for its size,
/// then `READ` of its last 32 bytes. `Ok` with the writer's latest `seq`
/// there, or none while the file is empty.
#[derive(Debug)]
pub struct NfsReader {
    link: Link,
}

impl NfsReader {
    /// A reader for `target`; nothing is connected until the first attempt.
    pub fn new(target: NfsTarget, settings: ProbeSettings, run_id: impl Into<String>) -> Self {
        NfsReader { link: Link::new(target, settings, &run_id.into()) }
    }

    /// The last record's `seq`, `None` if the file holds no whole record.
    async fn read_last(&self, live: &mut Connection, file: &nfs_fh3) -> Result<Option<u64>, Outcome> {
        let peer = live.peer();
        let args = GETATTR3args { object: file.clone() };
        let size = match self.link.call(&peer, "GETATTR", live.nfs.getattr(&args)).await? {
            Nfs3Result::Ok(attributes) => attributes.obj_attributes.size,
            Nfs3Result::Err((status, _)) => {
                return Err(self.link.refused(&peer, "GETATTR", file, &Refusal::Status(status)));
            }
        };
        let Some(last) = (size / RECORD_LEN).checked_sub(1) else {
            return Ok(None);
        };
        let offset = last * RECORD_LEN;
        let what = format!("READ at offset {offset}");
        let args = READ3args { file: file.clone(), offset, count: RECORD_LEN as u32 };
        let refusal = match self.link.call(&peer, &what, live.nfs.read(&args)).await? {
            Nfs3Result::Ok(read) => match parse_record(&read.data) {
                Some(seq) if seq == last => return Ok(Some(seq)),
                _ => Refusal::Other(format!("not record {last}: {:?}", String::from_utf8_lossy(&read.data))),
            },
            Nfs3Result::Err((status, _)) => Refusal::Status(status),
        };
        Err(self.link.refused(&peer, &what, file, &refusal))
    }
}

impl Probe for NfsReader {
    async fn attempt(&self, _seq: u64) -> (Outcome, Option<u64>) {
        let (mut live, file) = match self.link.take().await {
            Ok(taken) => taken,
            Err(outcome) => return (outcome, None),
        };
        match self.read_last(&mut live, &file).await {
            Ok(seq) => {
                self.link.keep(live);
                (Outcome::Ok, seq)
            }
            Err(outcome) => (outcome, None),
        }
    }
}

/// Reads the recording's file whole from the server behind `target` (a
/// fresh mount, not the probes' connections) and compares the records in it
/// with the writer's acknowledged writes. A missing file holds nothing:
/// every acknowledged write is then lost. Reads only: it may run again.
pub async fn check_nfs_acknowledged(
    target: &NfsTarget,
    settings: &ProbeSettings,
    recording: &Recording,
) -> Result<AckCheck, AckError> {
    ensure_writer(recording)?;
    let run_id = &recording.run_id;
    let (mut live, root) = open_mounted(target, settings).await?;
    let name = file_name(run_id);
    let reading = async {
        match live.lookup(&root, &name).await? {
            Some(file) => live.read_all(&file).await,
            None => Ok(Vec::new()),
        }
    };
    // The writer wrote at most one record per attempt: one query timeout per
    // chunk of those, and a few for the lookup and the end of the file.
    let bytes = recording.attempts.len() as u64 * RECORD_LEN;
    let chunks = u32::try_from(bytes.div_ceil(u64::from(CHUNK))).unwrap_or(u32::MAX);
    let timeout = settings.query_timeout.saturating_mul(chunks.saturating_add(4));
    let data = match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(data)) => data,
        Ok(Err(detail)) => {
            return Err(AckError::Query { run_id: run_id.clone(), host: target.host.clone(), port: live.port, detail });
        }
        Err(_elapsed) => {
            return Err(AckError::QueryTimeout {
                run_id: run_id.clone(),
                host: target.host.clone(),
                port: live.port,
                timeout,
            });
        }
    };
    Ok(compare_and_log(recording, &present_records(&data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfs3_client::nfs3_types::nfs3;

    #[test]
    fn records_are_32_bytes_of_right_aligned_decimal() {
        assert_eq!(record(0), format!("{}0\n", " ".repeat(30)).into_bytes());
        assert_eq!(record(1234).len(), 32);
        assert_eq!(record(u64::MAX).len(), 32, "the largest seq still fits");
        assert!(record(1234).ends_with(b" 1234\n"));
    }

    #[test]
    fn records_parse_back() {
        for seq in [0, 7, 1234, u64::MAX] {
            assert_eq!(parse_record(&record(seq)), Some(seq));
        }
    }

    #[test]
    fn anything_but_a_record_does_not_parse() {
        assert_eq!(parse_record(&[0; 32]), None, "a hole");
        assert_eq!(parse_record(&record(5)[..31]), None, "torn");
        assert_eq!(parse_record(format!("{:>32}", 5).as_bytes()), None, "no newline");
        assert_eq!(parse_record(format!("{:<31}\n", 5).as_bytes()), None, "left-aligned");
        assert_eq!(parse_record(format!("{:>31}\n", "+5").as_bytes()), None, "a sign");
        assert_eq!(parse_record(format!("{:>31}\n", "05").as_bytes()), None, "a leading zero");
        assert_eq!(parse_record(b""), None);
    }

    #[test]
    fn a_record_is_present_only_at_its_own_offset() {
        let mut file = Vec::new();
        file.extend(record(0));
        file.extend([0; 32]); // 1: a hole
        file.extend(record(2));
        file.extend(record(0)); // 3: holds another number
        file.extend(record(4));
        file.extend(&record(5)[..16]); // 5: torn at the end
        assert_eq!(present_records(&file), vec![0, 2, 4]);
        assert_eq!(present_records(&[]), Vec::<u64>::new());
    }

    #[test]
    fn file_names_hold_only_portable_characters() {
        assert_eq!(file_name("kill-nfs-master-1:20261130T1200"), "heartbeat-kill-nfs-master-1-20261130T1200");
        assert_eq!(file_name("a/b c.d_e"), "heartbeat-a-b-c.d_e");
        assert_eq!(file_name("../x"), "heartbeat-..-x", "no separator, so never outside the export's root");
        assert_eq!(file_name("é"), "heartbeat--");
        assert_eq!(file_name(&"x".repeat(300)).len(), 200);
        assert_eq!(file_name(&"é".repeat(300)).len(), 200);
    }

    #[test]
    fn targets_display_as_a_mount_source() {
        let target = NfsTarget { host: "10.0.0.5".into(), export: "/srv/nfs".into(), portmap_port: 111 };
        assert_eq!(target.to_string(), "10.0.0.5:/srv/nfs");
    }

    fn write_reply(count: u32, committed: stable_how) -> WRITE3res {
        Nfs3Result::Ok(nfs3::WRITE3resok {
            file_wcc: nfs3::wcc_data::default(),
            count,
            committed,
            verf: nfs3::writeverf3::default(),
        })
    }

    #[test]
    fn only_a_whole_file_sync_write_is_acknowledged() {
        assert!(written(write_reply(32, stable_how::FILE_SYNC)).is_ok());
        let unstable = written(write_reply(32, stable_how::UNSTABLE)).expect_err("not durable");
        assert_eq!(unstable.to_string(), "committed UNSTABLE, not FILE_SYNC: not durable");
        assert!(written(write_reply(32, stable_how::DATA_SYNC)).is_err());
        let short = written(write_reply(16, stable_how::FILE_SYNC)).expect_err("short");
        assert_eq!(short.to_string(), "16 of 32 bytes written");
        let stale = written(Nfs3Result::Err((nfsstat3::NFS3ERR_STALE, nfs3::WRITE3resfail::default())));
        assert!(matches!(stale, Err(Refusal::Status(nfsstat3::NFS3ERR_STALE))));
    }

    #[tokio::test]
    async fn reader_recordings_are_rejected() {
        let recording =
            Recording { probe: "reader".into(), role: crate::Role::Reader, run_id: "r".into(), attempts: vec![] };
        // Nothing listens on port 1: the role is checked before connecting.
        let target = NfsTarget { host: "127.0.0.1".into(), export: "/x".into(), portmap_port: 1 };
        let err = check_nfs_acknowledged(&target, &ProbeSettings::default(), &recording)
            .await
            .expect_err("a reader has no acknowledged writes");
        assert!(matches!(err, AckError::NotAWriter { .. }), "{err}");
    }
}
