//! What lab needs from whatever runs its nodes.
//!
//! Scenario logic, fencing and snapshots talk to this trait only, so they are
//! the same for every backend and testable without one. Each operation is
//! one a fault or an operator performs on a real machine: power on, pull the
//! plug, pull the cable, roll the disks back.
//!
//! # Layout
//! - [`container`]: systemd-nspawn containers on the host's kernel.
//! - [`qemu`]: QEMU VMs over [`qmp`], on a [`vm_disk`], under an [`accel`]erator.
//! - [`virtualbox`]: VirtualBox VMs installed from an ISO.

pub mod accel;
pub mod cgroups;
pub mod container;
pub mod node_users;
pub mod qemu;
pub mod qmp;
pub mod virtualbox;
pub mod vm_disk;

use std::future::Future;
use std::path::PathBuf;

use crate::config::BackendKind;
use crate::host::HostError;
use crate::topology::HostSpec;

/// The host programs a backend needs, checked before a lab is made.
pub fn host_tools(kind: BackendKind) -> &'static [&'static str] {
    match kind {
        BackendKind::Container => &["ip", "mount", "systemd-nspawn"],
        BackendKind::Qemu => &["ip", "mount", qemu::QEMU, "qemu-img", "mkfs.ext4"],
        BackendKind::VirtualBox => &["VBoxManage"],
    }
}

/// A file placed on a node before its first boot (identity, keys, agents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
    /// A symbolic link to this target instead of a file (enabling a unit).
    pub link_target: Option<PathBuf>,
}

impl GuestFile {
    pub fn new(path: &str, contents: Vec<u8>, mode: u32) -> Self {
        GuestFile { path: PathBuf::from(path), contents, mode, link_target: None }
    }

    pub fn symlink(path: &str, target: &str) -> Self {
        GuestFile { path: PathBuf::from(path), contents: Vec::new(), mode: 0o777, link_target: Some(target.into()) }
    }
}

/// Writes `files` under `root` as they will appear on the guest.
pub fn write_tree(root: &std::path::Path, files: &[GuestFile]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for file in files {
        let relative = file.path.strip_prefix("/").unwrap_or(&file.path);
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Replace rather than write through: a lower layer's file must stay intact.
        let _ = std::fs::remove_file(&path);
        if let Some(target) = &file.link_target {
            std::os::unix::fs::symlink(target, &path)?;
            continue;
        }
        std::fs::write(&path, &file.contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))?;
    }
    Ok(())
}

/// What a backend can do; a scenario that needs more refuses to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Nodes run their own kernel (DRBD, softdog, kernel panics).
    pub own_kernel: bool,
    /// Snapshots hold running machines (memory included): they are taken
    /// and restored without a shutdown or a boot. Otherwise snapshots are
    /// disk copies of powered-off nodes.
    pub live_snapshots: bool,
    /// tc netem works on the nodes' links (`degrade`): a VM's own kernel
    /// has it; containers' links are the host kernel's.
    pub link_shaping: bool,
    /// Nodes are fenced by their own watchdog (sbd), which resets a node
    /// whose sbd stops feeding it (`sbd-stop`).
    pub watchdog: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("node `{node}` {problem}")]
    Node { node: String, problem: String },
    #[error(
        "snapshot `{name}` does not exist; `lab snapshot list` shows the lab's snapshots (`lab make-all` makes \
         install and setup, `lab snapshot save NAME` any other)"
    )]
    NoSnapshot { name: String },
}

/// Records that snapshot `name` exists, for backends that keep their
/// snapshots elsewhere (inside disks, in VirtualBox): `lab status` lists
/// every backend's snapshots from the lab's `snapshots/` directory.
pub fn mark_snapshot(paths: &crate::paths::LabPaths, name: &str) -> Result<(), BackendError> {
    let marker = paths.snapshot(name);
    std::fs::create_dir_all(&marker).map_err(|source| BackendError::Io { what: "cannot create", path: marker, source })
}

/// Removes the record of snapshot `name` ([`mark_snapshot`]).
pub fn unmark_snapshot(paths: &crate::paths::LabPaths, name: &str) -> Result<(), BackendError> {
    let marker = paths.snapshot(name);
    match std::fs::remove_dir_all(&marker) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(BackendError::Io { what: "cannot remove", path: marker, source })
        }
        _ => Ok(()),
    }
}

impl BackendError {
    /// A host whose installation from an ISO failed, and where to look.
    pub fn not_installed(node: &str, what: &str, console: &std::path::Path) -> Self {
        BackendError::Node {
            node: node.to_owned(),
            problem: format!(
                "was not installed: {what}; see its console log {} and, in the VM, /root/lab-kickstart-post.log",
                console.display()
            ),
        }
    }
}

pub trait NodeBackend: Send + Sync {
    /// Creates a node from the image, with `files` in place for its first boot.
    fn create(&self, host: &HostSpec, files: &[GuestFile]) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Powers a node on (boots it).
    fn start(&self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Pulls the plug: no shutdown, processes just stop.
    fn power_off(&self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn is_running(&self, node: &str) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Presses the reset button: the node reboots at once, without a shutdown.
    fn reset(&self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send {
        async move {
            self.power_off(node).await?;
            self.start(node).await
        }
    }
    /// Pulls (`up == false`) or reconnects a node's network cable.
    fn set_link(&self, node: &str, up: bool) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Whether a node's cable is connected.
    fn link_is_up(&self, node: &str) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Starves a running node of CPU: each of its CPUs runs at most
    /// `percent` % of the time, the host throttling it as an overcommitted
    /// hypervisor would; `None` gives it back its usual share. A node that
    /// is off is left as it is (it boots with its usual share).
    fn limit_cpu(&self, node: &str, percent: Option<u32>) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Saves a snapshot of `nodes`, consistent across them: powered off
    /// (disk copies) or, with [`Capabilities::live_snapshots`], running.
    fn save_snapshot(&self, name: &str, nodes: &[String]) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Rolls `nodes` back to a snapshot: powered off afterwards, or with
    /// [`Capabilities::live_snapshots`] running as they were when it was taken.
    fn restore_snapshot(&self, name: &str, nodes: &[String]) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Deletes a snapshot of `nodes` (running or not), and its record.
    fn delete_snapshot(&self, name: &str, nodes: &[String]) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn capabilities(&self) -> Capabilities;
}

/// The backend a lab was made with (`lab.json`), for code that works with
/// any of them.
#[derive(Clone, Debug)]
pub enum Backend {
    Container(crate::backend::container::Containers),
    Qemu(crate::backend::qemu::QemuVms),
    VirtualBox(crate::backend::virtualbox::VirtualBoxVms),
}

impl Backend {
    /// The backend of a lab; `config` gives the VirtualBox VMs' settings.
    pub fn open(
        paths: &crate::paths::LabPaths,
        topology: &crate::topology::Topology,
        config: &crate::config::Config,
    ) -> Result<Self, BackendError> {
        let (paths, topology) = (paths.clone(), topology.clone());
        Ok(match topology.backend {
            BackendKind::Container => Backend::Container(crate::backend::container::Containers::new(paths, topology)),
            BackendKind::Qemu => Backend::Qemu(crate::backend::qemu::QemuVms::new(paths, topology)?),
            BackendKind::VirtualBox => {
                let settings = crate::backend::virtualbox::VirtualBoxSettings::from_config(&config.virtualbox);
                Backend::VirtualBox(crate::backend::virtualbox::VirtualBoxVms::new(paths, topology, settings))
            }
        })
    }
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            Backend::Container($backend) => $call,
            Backend::Qemu($backend) => $call,
            Backend::VirtualBox($backend) => $call,
        }
    };
}

impl NodeBackend for Backend {
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        dispatch!(self, b => b.create(host, files).await)
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        dispatch!(self, b => b.start(node).await)
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        dispatch!(self, b => b.power_off(node).await)
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        dispatch!(self, b => b.is_running(node).await)
    }

    async fn reset(&self, node: &str) -> Result<(), BackendError> {
        dispatch!(self, b => b.reset(node).await)
    }

    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        dispatch!(self, b => b.set_link(node, up).await)
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        dispatch!(self, b => b.link_is_up(node).await)
    }

    async fn limit_cpu(&self, node: &str, percent: Option<u32>) -> Result<(), BackendError> {
        dispatch!(self, b => b.limit_cpu(node, percent).await)
    }

    async fn save_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        dispatch!(self, b => b.save_snapshot(name, nodes).await)
    }

    async fn restore_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        dispatch!(self, b => b.restore_snapshot(name, nodes).await)
    }

    async fn delete_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        dispatch!(self, b => b.delete_snapshot(name, nodes).await)
    }

    fn capabilities(&self) -> Capabilities {
        dispatch!(self, b => b.capabilities())
    }
}

/// A node's MAC address, the same at every boot as a machine's NIC's: the
/// others' ARP caches stay right across a fencing reboot (a container's
/// new random MAC left the host's stale entry failing for ~25 s). QEMU's
/// prefix and the node's address, so a capture shows at a glance which
/// node sent a frame.
pub fn node_mac(address: std::net::Ipv4Addr) -> String {
    let [_, _, c, d] = address.octets();
    format!("52:54:00:89:{c:02x}:{d:02x}")
}
