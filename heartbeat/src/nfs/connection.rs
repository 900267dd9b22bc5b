//! Opening NFSv3 connections as a kernel client does, bounded in time: the
//! portmapper for the ports, mountd for the export's root handle, nfsd for
//! the calls, each over TCP from a reserved port (see the module above for
//! why), and end of stream as an error.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nfs3_client::nfs3_types::nfs3::{
    self, CREATE3args, LOOKUP3args, Nfs3Option, Nfs3Result, READ3args, createhow3, diropargs3, filename3, nfs_fh3,
    nfsstat3, sattr3,
};
use nfs3_client::nfs3_types::portmap::IPPROTO_TCP;
use nfs3_client::nfs3_types::rpc::{auth_unix, opaque_auth};
use nfs3_client::nfs3_types::{mount as mnt3, xdr_codec::Opaque};
use nfs3_client::{MountClient, Nfs3Client, PortmapperClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::NfsTarget;
use crate::error_chain::describe;
use crate::session::ConnectError;
use crate::settings::ProbeSettings;

/// Source ports tried for connections, as the kernel's NFS client does.
const RESERVED_PORTS: RangeInclusive<u16> = 665..=1023;

/// How many reserved ports one connection tries whose 4-tuple to the server
/// turns out to be taken already.
const CONNECT_TRIES: usize = 8;

/// Bytes asked for by each `READ` of the check; far below any server's
/// maximum transfer size.
pub(super) const CHUNK: u32 = 64 * 1024;

/// Mode of the run's file when the probe creates it.
const FILE_MODE: u32 = 0o644;

/// The credentials of every MOUNT and NFS call: `AUTH_UNIX` as root, so the
/// probe may create and write its file whoever owns the export's root
/// (the export must not squash root, or must let its anonymous user write).
fn credential() -> opaque_auth<'static> {
    let root = auth_unix { stamp: 0, machinename: Opaque::borrowed(b"heartbeat"), uid: 0, gid: 0, gids: vec![] };
    opaque_auth::auth_unix(&root)
}

/// A TCP connection as [`nfs3_client`] reads and writes it.
///
/// Not the crate's own `TokioIo`: the crate's `read_exact` loops until the
/// buffer is full, and over `TokioIo` a read of 0 bytes (the server closed
/// the connection: the kernel does so for a killed nfsd) makes it spin on
/// the CPU until the call's timeout. Here the end of the stream is an
/// error, at once.
#[derive(Debug)]
pub(super) struct Stream(TcpStream);

impl nfs3_client::io::AsyncRead for Stream {
    async fn async_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.0.read(buf).await?;
        if read == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server"));
        }
        Ok(read)
    }
}

impl nfs3_client::io::AsyncWrite for Stream {
    async fn async_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.0.write(buf).await?;
        if written == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "connection closed by the server"));
        }
        Ok(written)
    }
}

/// Connects to `host:port` from a reserved port within `timeout`.
async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Stream, ConnectError> {
    match tokio::time::timeout(timeout, connect_from_reserved_port(host, port)).await {
        Ok(Ok(stream)) => Ok(Stream(stream)),
        Ok(Err(e)) => Err(ConnectError::Failed { host: host.to_owned(), port, detail: e.to_string() }),
        Err(_elapsed) => Err(ConnectError::Timeout { host: host.to_owned(), port, timeout }),
    }
}

/// Connects to `host:port`, from a reserved port when the process may bind
/// one. A port whose connection to the same address still exists (the
/// kernel refuses a second identical 4-tuple) is skipped for the next.
async fn connect_from_reserved_port(host: &str, port: u16) -> io::Result<TcpStream> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")))?;
    let mut ports = reserved_ports();
    for _ in 0..CONNECT_TRIES {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        // Binds a port whose earlier connections (to other servers) still
        // exist; connect() checks the whole 4-tuple.
        socket.set_reuseaddr(true)?;
        socket.set_nodelay(true)?;
        // Closing resets: no TIME_WAIT holding the reserved port for a minute.
        socket.set_zero_linger()?;
        let reserved = bind_reserved(&socket, addr.ip(), &mut ports)?;
        match socket.connect(addr).await {
            Err(e) if reserved && e.kind() == io::ErrorKind::AddrNotAvailable => {}
            connected => return connected,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{CONNECT_TRIES} reserved ports in a row already have a connection to {addr}"),
    ))
}

/// Every reserved port once, starting after the one the previous
/// connection of the process started at, so concurrent connections do not
/// all contend for the same first port.
fn reserved_ports() -> impl Iterator<Item = u16> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    let first = *RESERVED_PORTS.start();
    let count = RESERVED_PORTS.len();
    // (start + i) % count < count <= 359: the cast cannot truncate.
    (0..count).map(move |i| first + (start.wrapping_add(i) % count) as u16)
}

/// Binds `socket` to the next reserved port that is free. Returns false,
/// leaving the socket unbound for an ephemeral port, when the process may
/// not bind reserved ports at all.
fn bind_reserved(socket: &TcpSocket, peer: IpAddr, ports: &mut impl Iterator<Item = u16>) -> io::Result<bool> {
    let any: IpAddr = if peer.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
    for port in ports {
        match socket.bind(SocketAddr::new(any, port)) {
            Ok(()) => return Ok(true),
            Err(e) if matches!(e.kind(), io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                warn_no_reserved_ports();
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no reserved port (665-1023) is free"))
}

/// Says once per process that connections come from ephemeral ports.
fn warn_no_reserved_ports() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "not allowed to bind reserved ports: NFS connections come from ephemeral ports, \
             which a Linux NFS server refuses unless the export is `insecure`"
        );
    }
}

/// Runs one call of opening a connection within `timeout`; `call`'s errors
/// already name the step, a timeout is named after `what`.
async fn opening_step<T>(
    host: &str,
    port: u16,
    what: &str,
    timeout: Duration,
    call: impl Future<Output = Result<T, String>>,
) -> Result<T, ConnectError> {
    let detail = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(detail)) => detail,
        Err(_elapsed) => format!("{what}: no reply within {timeout:?}"),
    };
    Err(ConnectError::Failed { host: host.to_owned(), port, detail })
}

/// The portmapper of a target, asked where NFS and MOUNT listen.
struct Portmap<'a> {
    client: PortmapperClient<Stream>,
    target: &'a NfsTarget,
    settings: &'a ProbeSettings,
}

impl<'a> Portmap<'a> {
    async fn connect(target: &'a NfsTarget, settings: &'a ProbeSettings) -> Result<Self, ConnectError> {
        let stream = connect(&target.host, target.portmap_port, settings.connect_timeout).await?;
        Ok(Portmap { client: PortmapperClient::new(stream), target, settings })
    }

    /// The TCP port of version 3 of `program` (`name` in messages).
    async fn port_of(&mut self, program: u32, name: &str) -> Result<u16, ConnectError> {
        let what = format!("GETPORT of {name} v3/TCP");
        let asking = async {
            self.client.getport(program, 3, IPPROTO_TCP).await.map_err(|e| format!("{what}: {}", describe(&e)))
        };
        opening_step(&self.target.host, self.target.portmap_port, &what, self.settings.query_timeout, asking).await
    }
}

/// Mounts the export with the mountd at `port`: its root handle.
async fn mount(target: &NfsTarget, port: u16, settings: &ProbeSettings) -> Result<nfs_fh3, ConnectError> {
    let stream = connect(&target.host, port, settings.connect_timeout).await?;
    let mut client = MountClient::new_with_auth(stream, credential(), opaque_auth::default());
    let what = format!("MNT {}", target.export);
    let mounting = async {
        let path = mnt3::dirpath(Opaque::borrowed(target.export.as_bytes()));
        match client.mnt(path).await {
            Ok(mounted) => Ok(nfs_fh3 { data: mounted.fhandle.0 }),
            Err(e) => Err(format!("{what}: {}", describe(&e))),
        }
    };
    opening_step(&target.host, port, &what, settings.query_timeout, mounting).await
}

/// Opens a connection to the target's nfsd (not mounting anything).
pub(super) async fn open(target: &NfsTarget, settings: &ProbeSettings) -> Result<Connection, ConnectError> {
    let nfs_port = Portmap::connect(target, settings).await?.port_of(nfs3::PROGRAM, "NFS").await?;
    Connection::open(target, nfs_port, settings).await
}

/// Mounts the export and opens a connection to nfsd: the connection and
/// the export's root handle.
pub(super) async fn open_mounted(
    target: &NfsTarget,
    settings: &ProbeSettings,
) -> Result<(Connection, nfs_fh3), ConnectError> {
    let mut portmap = Portmap::connect(target, settings).await?;
    let nfs_port = portmap.port_of(nfs3::PROGRAM, "NFS").await?;
    let mount_port = portmap.port_of(mnt3::PROGRAM, "MOUNT").await?;
    drop(portmap);
    let root = mount(target, mount_port, settings).await?;
    let connection = Connection::open(target, nfs_port, settings).await?;
    Ok((connection, root))
}

/// One connection to nfsd.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) nfs: Nfs3Client<Stream>,
    host: String,
    pub(super) port: u16,
}

impl Connection {
    pub(super) async fn open(target: &NfsTarget, port: u16, settings: &ProbeSettings) -> Result<Self, ConnectError> {
        let stream = connect(&target.host, port, settings.connect_timeout).await?;
        let nfs = Nfs3Client::new_with_auth(stream, credential(), opaque_auth::default());
        Ok(Connection { nfs, host: target.host.clone(), port })
    }

    /// `host:port`, for messages.
    pub(super) fn peer(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The handle of `name` in `dir`; `None` if there is no such file.
    pub(super) async fn lookup(&mut self, dir: &nfs_fh3, name: &str) -> Result<Option<nfs_fh3>, String> {
        let what = format!("LOOKUP {name}");
        let args = LOOKUP3args { what: diropargs(dir, name) };
        match self.nfs.lookup(&args).await.map_err(|e| format!("{what}: {}", describe(&e)))? {
            Nfs3Result::Ok(found) => Ok(Some(found.object)),
            Nfs3Result::Err((nfsstat3::NFS3ERR_NOENT, _)) => Ok(None),
            Nfs3Result::Err((status, _)) => Err(format!("{what}: {status}")),
        }
    }

    /// Creates the empty file `name` in `dir` unless it exists: its handle,
    /// or `None` when it existed already (another attempt was first) or the
    /// server did not return the handle.
    async fn create(&mut self, dir: &nfs_fh3, name: &str) -> Result<Option<nfs_fh3>, String> {
        let what = format!("CREATE {name}");
        let attributes = sattr3 { mode: Nfs3Option::Some(FILE_MODE), ..sattr3::default() };
        let args = CREATE3args { where_: diropargs(dir, name), how: createhow3::GUARDED(attributes) };
        match self.nfs.create(&args).await.map_err(|e| format!("{what}: {}", describe(&e)))? {
            Nfs3Result::Ok(created) => match created.obj {
                Nfs3Option::Some(file) => Ok(Some(file)),
                Nfs3Option::None => Ok(None),
            },
            Nfs3Result::Err((nfsstat3::NFS3ERR_EXIST, _)) => Ok(None),
            Nfs3Result::Err((status, _)) => Err(format!("{what}: {status}")),
        }
    }

    /// The handle of `name` in `dir`, created if missing; each call within
    /// `timeout`.
    pub(super) async fn find_or_create(
        &mut self,
        dir: &nfs_fh3,
        name: &str,
        timeout: Duration,
    ) -> Result<nfs_fh3, ConnectError> {
        let (host, port) = (self.host.clone(), self.port);
        let lookup = format!("LOOKUP {name}");
        if let Some(file) = opening_step(&host, port, &lookup, timeout, self.lookup(dir, name)).await? {
            return Ok(file);
        }
        let create = format!("CREATE {name}");
        if let Some(file) = opening_step(&host, port, &create, timeout, self.create(dir, name)).await? {
            tracing::debug!(%host, port, file = name, "created the probe's file");
            return Ok(file);
        }
        match opening_step(&host, port, &lookup, timeout, self.lookup(dir, name)).await? {
            Some(file) => Ok(file),
            None => Err(ConnectError::Failed { host, port, detail: format!("{lookup}: gone right after CREATE") }),
        }
    }

    /// Reads the whole file from its start until the server says end of file.
    pub(super) async fn read_all(&mut self, file: &nfs_fh3) -> Result<Vec<u8>, String> {
        let mut data = Vec::new();
        loop {
            let offset = data.len() as u64;
            let what = format!("READ at offset {offset}");
            let args = READ3args { file: file.clone(), offset, count: CHUNK };
            match self.nfs.read(&args).await.map_err(|e| format!("{what}: {}", describe(&e)))? {
                Nfs3Result::Ok(read) if read.eof => {
                    data.extend_from_slice(&read.data);
                    return Ok(data);
                }
                Nfs3Result::Ok(read) if read.data.is_empty() => {
                    return Err(format!("{what}: no data, yet not the end of the file"));
                }
                Nfs3Result::Ok(read) => data.extend_from_slice(&read.data),
                Nfs3Result::Err((status, _)) => return Err(format!("{what}: {status}")),
            }
        }
    }
}

fn diropargs<'a>(dir: &nfs_fh3, name: &'a str) -> diropargs3<'a> {
    diropargs3 { dir: dir.clone(), name: filename3(Opaque::borrowed(name.as_bytes())) }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_walked_whole_from_a_rotating_start() {
        let first: Vec<u16> = reserved_ports().collect();
        let second: Vec<u16> = reserved_ports().collect();
        assert_eq!(first.len(), 359);
        assert!(first.iter().all(|p| RESERVED_PORTS.contains(p)));
        let mut sorted = first.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 359, "each port once");
        assert_ne!(first[0], second[0], "the next connection starts elsewhere");
    }
}
