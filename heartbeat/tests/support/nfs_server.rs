//! A throwaway NFS-Ganesha (Debian's `nfs-ganesha` and `nfs-ganesha-vfs`)
//! serving NFSv3 over TCP for integration tests, with its portmapper
//! (`rpcbind`), in a network namespace the test makes for itself.
//!
//! An NFS server needs the portmapper's port 111 and registers there; on
//! the host it would clash with a real rpcbind and with the other tests.
//! So a test runs in [`in_own_network_namespace`]: on a thread of its own
//! moved to a new network namespace that holds only loopback, where it
//! starts the servers and runs its probes (the tokio runtime's threads are
//! started from that thread, and so are the servers: both inherit its
//! namespace). Each test gets its own namespace, so they run in parallel on
//! the same ports.
//!
//! rpcbind runs in a mount namespace of its own with a tmpfs on `/run`, and
//! ganesha joins it (`nsenter`): the host's `/run/rpcbind.sock` and D-Bus
//! socket are out of sight, so ganesha registers with this rpcbind (over
//! that private socket) and nowhere else. Both are children of the test,
//! stopped on drop; the namespaces vanish with them. The export is a
//! directory of the host (under `/var/tmp`: ganesha's VFS backend needs a
//! file system with file handles, not tmpfs), so a test can read and damage
//! the probes' files directly.

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heartbeat::NfsTarget;
use nfs3_client::nfs3_types::portmap::IPPROTO_TCP;
use nfs3_client::nfs3_types::{mount, nfs3};
use nfs3_client::tokio::TokioIo;
use nfs3_client::{MountClient, Nfs3Client, PortmapperClient};
use tempfile::TempDir;

use super::{ServerProcess, print_log_tail_if_panicking};

const GANESHA: &str = "/usr/bin/ganesha.nfsd";
const RPCBIND: &str = "/usr/sbin/rpcbind";
const INSTALL: &str = "apt-get install nfs-ganesha nfs-ganesha-vfs rpcbind";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The portmapper's port.
pub const PORTMAP_PORT: u16 = 111;
/// Where ganesha serves NFS; the probes learn it from the portmapper.
pub const NFS_PORT: u16 = 20490;
/// Where ganesha serves MOUNT.
pub const MOUNT_PORT: u16 = 20048;

/// Runs the test `test` makes on a thread of its own in a new network
/// namespace (loopback only, up), on a tokio runtime whose threads are in
/// it too; a panic fails the calling test. Needs root.
pub fn in_own_network_namespace<F, T>(test: F)
where
    F: FnOnce() -> T + Send + 'static,
    T: Future<Output = ()>,
{
    let name = std::thread::current().name().unwrap_or("nfs test").to_owned();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            enter_new_network_namespace();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(test());
        })
        .expect("spawn the test's thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Moves the calling thread (not the process) to a new network namespace
/// and brings its loopback up.
#[allow(unsafe_code)]
fn enter_new_network_namespace() {
    // SAFETY: unshare(2) takes flags only and touches no memory of ours.
    // With CLONE_NEWNET alone it changes the namespace of this thread only,
    // which is allowed in a multi-threaded process.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "unshare(CLONE_NEWNET): {} (the NFS tests run as root)", std::io::Error::last_os_error());
    // A child started from this thread inherits its namespace.
    let status = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("run ip");
    assert!(status.success(), "ip link set lo up: {status}");
}

/// Refuses to start servers on port 111 of the host's network.
fn assert_in_own_network_namespace() {
    let namespace = |path: &str| fs::read_link(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_ne!(
        namespace("/proc/thread-self/ns/net"),
        namespace("/proc/self/ns/net"),
        "start NfsServer inside in_own_network_namespace, not in the host's network"
    );
}

/// A running (or deliberately killed) ganesha and its rpcbind; stopped on
/// drop.
#[derive(Debug)]
pub struct NfsServer {
    // Declared before `dir` so the servers stop before their directory
    // goes, and ganesha before rpcbind.
    ganesha: Option<ServerProcess>,
    rpcbind: ServerProcess,
    dir: TempDir,
}

impl NfsServer {
    /// Starts rpcbind and ganesha and waits until NFS and MOUNT answer and
    /// are registered.
    pub async fn start() -> Self {
        for binary in [GANESHA, RPCBIND] {
            assert!(Path::new(binary).is_file(), "{binary} not found: {INSTALL}");
        }
        assert_in_own_network_namespace();
        let dir = tempfile::Builder::new()
            .prefix("heartbeat-nfs-")
            .tempdir_in("/var/tmp")
            .expect("temporary directory in /var/tmp");
        let export = dir.path().join("export");
        fs::create_dir(&export).expect("export directory");
        fs::write(dir.path().join("ganesha.conf"), config(dir.path(), &export)).expect("write ganesha.conf");
        // A private /run for rpcbind's socket, lock and state, and ganesha's.
        let mut command = Command::new("unshare");
        command.args(["--mount", "--propagation", "private", "sh", "-c"]);
        command.arg(format!("mount -t tmpfs tmpfs /run && exec {RPCBIND} -f"));
        let rpcbind = ServerProcess::spawn("rpcbind", &mut command, &dir.path().join("rpcbind.log"), "-TERM");
        let mut server = NfsServer { ganesha: None, rpcbind, dir };
        server.wait_until("rpcbind", portmapper_answers).await;
        server.spawn_ganesha();
        server.wait_ready().await;
        server
    }

    /// Where the probes connect: the export by its path, as Linux servers
    /// name exports.
    pub fn target(&self) -> NfsTarget {
        NfsTarget {
            host: "127.0.0.1".into(),
            export: self.export_dir().to_str().expect("UTF-8 path").to_owned(),
            portmap_port: PORTMAP_PORT,
        }
    }

    /// The exported directory, on the host's file system.
    pub fn export_dir(&self) -> PathBuf {
        self.dir.path().join("export")
    }

    /// SIGKILL of ganesha, like a crashed server; rpcbind keeps its
    /// registrations, as after a real crash.
    pub fn kill9(&mut self) {
        self.ganesha.take().expect("ganesha is running").kill9();
    }

    /// Starts ganesha again with the same configuration and export.
    ///
    /// A starting ganesha answers calls before it has replaced its
    /// registrations, and replaces them by removing them first, so for a
    /// moment rpcbind knows no NFS. The dead one's registrations are
    /// removed before the start: then ganesha is ready once the portmapper
    /// names its ports again, and nothing after that sees the gap.
    pub async fn restart(&mut self) {
        assert!(self.ganesha.is_none(), "ganesha is still running");
        for (program, version) in [("100003", "3"), ("100005", "1"), ("100005", "3")] {
            // Through rpcbind's own socket in its mount namespace (only root
            // on that socket may remove a registration); the host's /run may
            // hold another rpcbind's. Fails harmlessly if nothing is there.
            let _ = self.in_servers_mounts("rpcinfo").args(["-d", program, version]).status();
        }
        self.spawn_ganesha();
        self.wait_ready().await;
    }

    /// `program` to run in the mount namespace of rpcbind (and ganesha).
    fn in_servers_mounts(&self, program: &str) -> Command {
        let rpcbind = self.rpcbind.id().expect("rpcbind is running");
        let mut command = Command::new("nsenter");
        command.arg(format!("--mount=/proc/{rpcbind}/ns/mnt")).arg("--").arg(program);
        command
    }

    fn spawn_ganesha(&mut self) {
        let path = |name: &str| self.dir.path().join(name);
        let mut command = self.in_servers_mounts(GANESHA);
        command.arg("-F").arg("-f").arg(path("ganesha.conf")).arg("-L").arg(path("ganesha.log"));
        command.arg("-p").arg(path("ganesha.pid")).args(["-N", "NIV_EVENT"]);
        self.ganesha = Some(ServerProcess::spawn("ganesha", &mut command, &path("ganesha.out"), "-TERM"));
    }

    async fn wait_ready(&mut self) {
        self.wait_until("ganesha", nfs_and_mount_answer).await;
    }

    /// Waits until `answers` says yes, failing early if a server exited.
    async fn wait_until<F: Future<Output = bool>>(&mut self, what: &str, answers: fn() -> F) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        while !answers().await {
            for process in [self.ganesha.as_mut(), Some(&mut self.rpcbind)].into_iter().flatten() {
                if let Some(status) = process.exited() {
                    panic!("a server exited ({status}) before {what} answered; is it installed? {INSTALL}");
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "{what} not answering after {READY_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        for log in ["ganesha.log", "ganesha.out", "rpcbind.log"] {
            print_log_tail_if_panicking(log, &self.dir.path().join(log));
        }
    }
}

/// NFSv3 only, over TCP, no locking: just what the probes use. Graceless,
/// as the probes take no locks a grace period would protect. Clients must
/// come from reserved ports (`PrivilegedPort`), as a Linux export without
/// `insecure` demands: otherwise calls fail with `AUTH_TOOWEAK`.
fn config(dir: &Path, export: &Path) -> String {
    let (dir, export) = (dir.display(), export.display());
    format!(
        r#"NFS_CORE_PARAM {{ Protocols = 3; NFS_Port = {NFS_PORT}; MNT_Port = {MOUNT_PORT}; Enable_NLM = false; Enable_RQUOTA = false; }}
NFSV4 {{ Graceless = true; RecoveryRoot = "{dir}/recovery"; }}
EXPORT {{
    Export_Id = 1; Path = "{export}"; Pseudo = /export;
    Access_Type = RW; Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys;
    PrivilegedPort = true;
    FSAL {{ Name = VFS; }}
}}
"#
    )
}

/// A connection to `port` on loopback, if anything listens there.
async fn connected(port: u16) -> Option<TokioIo<tokio::net::TcpStream>> {
    tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(TokioIo::new)
}

/// Whether `asking` says yes within a second.
async fn within_a_second(asking: impl Future<Output = bool>) -> bool {
    tokio::time::timeout(Duration::from_secs(1), asking).await.unwrap_or(false)
}

/// Whether the portmapper answers a NULL call.
async fn portmapper_answers() -> bool {
    within_a_second(async {
        let Some(io) = connected(PORTMAP_PORT).await else { return false };
        PortmapperClient::new(io).null().await.is_ok()
    })
    .await
}

/// Whether NFS and MOUNT both answer a NULL call and the portmapper names
/// their ports (rpcbind may still list the ports of a killed ganesha, and a
/// starting one answers before it registers).
async fn nfs_and_mount_answer() -> bool {
    within_a_second(async {
        let Some(io) = connected(NFS_PORT).await else { return false };
        if Nfs3Client::new(io).null().await.is_err() {
            return false;
        }
        let Some(io) = connected(MOUNT_PORT).await else { return false };
        if MountClient::new(io).null().await.is_err() {
            return false;
        }
        let Some(io) = connected(PORTMAP_PORT).await else { return false };
        let mut portmapper = PortmapperClient::new(io);
        for (program, port) in [(nfs3::PROGRAM, NFS_PORT), (mount::PROGRAM, MOUNT_PORT)] {
            if portmapper.getport(program, 3, IPPROTO_TCP).await.ok() != Some(port) {
                return false;
            }
        }
        true
    })
    .await
}
