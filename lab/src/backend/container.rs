//! The container backend: each node is a systemd-nspawn container booting
//! the guest image (systemd, sshd, corosync, pacemaker, PostgreSQL, all real)
//! with its own writable overlay layer, in user and network namespaces and
//! control groups of its own.
//!
//! Boots take seconds, which makes it the backend for tests and nightly
//! suites. Containers share the host kernel: kernel-level faults need a VM
//! backend, and a node must not reach past its namespaces into the host's
//! kernel: its users are host uids no account has
//! ([`super::node_users`]), and of the capabilities nspawn gives a
//! container those the stack does not use are dropped. Power-off kills
//! every process of the node's cgroup at once; a snapshot is a copy of the
//! node's writable layer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::cgroups::Cgroups;
use crate::backend::node_users::{self, NodeUsersError};
use crate::backend::{BackendError, Capabilities, GuestFile, NodeBackend};
use crate::host::Host;
use crate::netns::{self, LabNetwork};
use crate::paths::LabPaths;
use crate::process::{read_pid, wait_gone};
use crate::topology::{HostSpec, Topology};

/// How long a killed node may take to disappear.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(15);

/// Capabilities systemd-nspawn gives a container that no service of the
/// stack uses. In the node's own user namespace the others act only on the
/// node's namespaces: NET_ADMIN and NET_RAW for VIPs (IPaddr2 and its
/// ARPs), SYS_ADMIN for systemd's mounts, SYS_BOOT for a graceful
/// shutdown, SYS_PTRACE for pacemakerd's look at its daemons in /proc,
/// SETFCAP for packages that set file capabilities, the rest for users,
/// files and signals.
const UNUSED_CAPABILITIES: &str = "CAP_AUDIT_CONTROL,CAP_IPC_OWNER,CAP_LEASE,CAP_LINUX_IMMUTABLE,CAP_MKNOD,\
                                   CAP_NET_BROADCAST,CAP_SYS_TTY_CONFIG";

#[derive(Clone, Debug)]
pub struct Containers {
    paths: LabPaths,
    network: LabNetwork,
    image: PathBuf,
    topology: Topology,
    host: Host,
}

impl Containers {
    /// Nodes of `topology`, on the image `paths.images()/<topology.image>`.
    pub fn new(paths: LabPaths, topology: Topology) -> Self {
        let image = paths.images().join(&topology.image).join("rootfs");
        let network = LabNetwork::new(paths.netns());
        Containers { paths, network, image, topology, host: Host }
    }

    fn dir(&self, node: &str) -> PathBuf {
        self.paths.node(node)
    }

    fn root(&self, node: &str) -> PathBuf {
        self.dir(node).join("root")
    }

    fn cgroups(&self, node: &str) -> Cgroups {
        Cgroups::of_node(self.network.lab_ns(), node)
    }

    /// The host uid of the node's root, recorded when the lab was made.
    fn uid_base(&self, node: &str) -> Result<u32, BackendError> {
        self.topology.host(node).and_then(|h| h.uid_base).ok_or_else(|| BackendError::Node {
            node: node.to_owned(),
            problem: "was made by an older lab, whose container nodes ran as host root; make the lab again \
                      (lab make-all --force)"
                .into(),
        })
    }

    /// Mounts the node's root: the image seen through an idmapped mount
    /// (owners shifted to the node's users) under the node's own layer.
    async fn mount(&self, node: &str) -> Result<(), BackendError> {
        let dir = self.dir(node);
        let base = self.uid_base(node)?;
        let upper = dir.join("upper");
        let fresh = !upper.exists();
        for sub in ["upper", "work", "root", "image"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| BackendError::Io {
                what: "cannot create",
                path,
                source,
            })?;
        }
        if fresh {
            // The layer's top is the root directory the node sees: its root's.
            std::os::unix::fs::chown(&upper, Some(base), Some(base)).map_err(|source| BackendError::Io {
                what: "cannot give the node its layer",
                path: upper.clone(),
                source,
            })?;
        }
        if crate::mounts::is_mounted(&self.root(node)) {
            return Ok(());
        }
        let image = dir.join("image");
        if !crate::mounts::is_mounted(&image) {
            node_users::bind_shifted(&self.image, &image, base).map_err(|e| node_error(node, e))?;
        }
        let options =
            format!("lowerdir={},upperdir={},workdir={}", image.display(), upper.display(), dir.join("work").display());
        let root = self.root(node);
        self.host
            .run(
                "mount",
                [
                    "-t".as_ref(),
                    "overlay".as_ref(),
                    "overlay".as_ref(),
                    "-o".as_ref(),
                    options.as_ref(),
                    root.as_os_str(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn unmount(&self, node: &str) -> Result<(), BackendError> {
        crate::mounts::unmount(&self.host, &self.root(node)).await?;
        Ok(crate::mounts::unmount(&self.host, &self.dir(node).join("image")).await?)
    }

    /// The node's init, once systemd-nspawn (`nspawn`) has started it: its
    /// child in a PID namespace of its own.
    async fn wait_for_init(&self, node: &str, nspawn: i32) -> Result<i32, BackendError> {
        let own = std::fs::read_link(format!("/proc/{nspawn}/ns/pid")).ok();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let children =
                std::fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children")).unwrap_or_default();
            let init = children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
                .find(|c| std::fs::read_link(format!("/proc/{c}/ns/pid")).ok() != own);
            if let Some(init) = init {
                return Ok(init);
            }
            if crate::process::is_zombie(nspawn) || tokio::time::Instant::now() > deadline {
                let log = std::fs::read_to_string(self.paths.console(node)).unwrap_or_default();
                return Err(BackendError::Node {
                    node: node.to_owned(),
                    problem: format!("did not boot: {}", crate::host::tail(&log)),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn node_error(node: &str, error: NodeUsersError) -> BackendError {
    BackendError::Node { node: node.to_owned(), problem: error.to_string() }
}

/// Picks each container node of `topology` a range of host uids that no
/// other lab of this state directory records and no running user
/// namespace maps (see [`node_users`]).
pub fn assign_node_users(topology: &mut Topology, paths: &LabPaths) -> Result<(), BackendError> {
    let mut taken: Vec<node_users::Span> = node_users::spans_in_use().into_iter().map(|(span, _)| span).collect();
    for name in crate::labs::names(paths.state_dir()).into_iter().filter(|n| n != paths.lab_name()) {
        let other = LabPaths::new(paths.state_dir(), &name);
        if let Ok(lab) = Topology::load(&other.manifest(), &name) {
            taken.extend(lab.hosts.iter().filter_map(|h| h.uid_base).map(node_users::Span::of_base));
        }
    }
    let seed = paths
        .root()
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
    let bases = node_users::choose(topology.hosts.len(), &taken, seed)
        .map_err(|e| BackendError::Node { node: topology.lab.clone(), problem: e.to_string() })?;
    for (host, base) in topology.hosts.iter_mut().zip(bases) {
        host.uid_base = Some(base);
    }
    Ok(())
}

/// A unit that gives the node its network when it boots, before anything
/// else uses it: the veth systemd-nspawn moved in becomes `eth0` with the
/// node's address (a node owns its network namespace, so lab configures it
/// from inside, as a VM does).
fn network_unit(node: &str, address: std::net::Ipv4Addr, prefix: u8) -> Vec<GuestFile> {
    let port = netns::node_port(node);
    let mac = super::node_mac(address);
    let unit = format!(
        "[Unit]\nDescription=lab: eth0 at {address}/{prefix}\nDefaultDependencies=no\n\
         Before=network-pre.target\nWants=network-pre.target\n\n\
         [Service]\nType=oneshot\nRemainAfterExit=yes\n\
         ExecStart=/sbin/ip link set {port} name eth0 address {mac}\n\
         ExecStart=/sbin/ip addr add {address}/{prefix} dev eth0\n\
         ExecStart=/sbin/ip link set eth0 up\nExecStart=/sbin/ip link set lo up\n"
    );
    vec![
        GuestFile::new("/etc/systemd/system/lab-network.service", unit.into_bytes(), 0o644),
        GuestFile::symlink(
            "/etc/systemd/system/sysinit.target.wants/lab-network.service",
            "/etc/systemd/system/lab-network.service",
        ),
    ]
}

/// What the node's systemd-nspawn does before it starts: join the node's
/// cgroups (`procs`: open `cgroup.procs` files), get a mount namespace of
/// its own with /sys read-only in it (nspawn then trusts no udev with the
/// lab's interfaces, which the host's udev never sees), and enter the lab
/// namespace `lab_ns`, where the node's veth waits. Runs between fork and
/// exec, hence raw system calls.
#[allow(unsafe_code)]
fn enter_node_context(procs: &[std::fs::File], lab_ns: &std::fs::File) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    for mut file in procs {
        file.write_all(b"0")?;
    }
    let check = |rc: libc::c_int| if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) };
    // SAFETY: system calls only, between fork and exec, on strings made
    // before the fork.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            std::ptr::null(),
            c"/sys".as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
            std::ptr::null(),
        ))?;
        check(libc::setns(lab_ns.as_raw_fd(), libc::CLONE_NEWNET))?;
    }
    Ok(())
}

impl NodeBackend for Containers {
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        self.mount(&host.name).await?;
        let root = self.root(&host.name);
        let mut files = files.to_vec();
        files.extend(network_unit(&host.name, host.address, self.topology.prefix));
        node_users::write_owned(&root, &files, self.uid_base(&host.name)?).map_err(|source| BackendError::Io {
            what: "cannot write files under",
            path: root,
            source,
        })
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        if self.is_running(node).await? {
            return Ok(());
        }
        let base = self.uid_base(node)?;
        self.mount(node).await?;
        node_users::refuse_if_taken(node, base).map_err(|e| node_error(node, e))?;
        self.network.cable(node).await?;
        let cgroups = self.cgroups(node);
        cgroups.remove().await.map_err(|problem| BackendError::Node { node: node.to_owned(), problem })?;
        let io_error = |what: &'static str, path: PathBuf| move |source| BackendError::Io { what, path, source };
        let lab_ns_path = netns::netns_path(self.network.lab_ns());
        cgroups.create().map_err(io_error("cannot create the cgroups of", self.dir(node)))?;
        let memory = Some(crate::backend::cgroups::NODE_MEMORY_MB);
        cgroups.limit_memory(memory).map_err(io_error("cannot cap the memory of", self.dir(node)))?;
        let procs = cgroups
            .procs_files()
            .into_iter()
            .map(|path| std::fs::OpenOptions::new().write(true).open(&path).map_err(io_error("cannot open", path)))
            .collect::<Result<Vec<_>, _>>()?;
        let lab_ns = std::fs::File::open(&lab_ns_path).map_err(io_error("cannot open", lab_ns_path))?;
        let console = self.paths.console(node);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console)
            .map_err(|source| BackendError::Io { what: "cannot open", path: console.clone(), source })?;
        let log_err = log.try_clone().map_err(|source| BackendError::Io {
            what: "cannot open",
            path: console.clone(),
            source,
        })?;
        let mut command = tokio::process::Command::new("systemd-nspawn");
        command
            .arg("--quiet")
            .arg("--register=no")
            .arg("--keep-unit")
            .arg("--boot")
            .arg(format!("--private-users={base}:{}", node_users::RANGE))
            .arg("--private-users-ownership=off")
            .arg(format!("--drop-capability={UNUSED_CAPABILITIES}"))
            .arg("--private-network")
            .arg(format!("--network-interface={}", netns::node_port(node)))
            .arg("--resolv-conf=off")
            .arg("--link-journal=no")
            .arg("--timezone=off")
            .arg("--console=read-only")
            .arg(format!("--machine={node}"))
            .arg("--directory")
            .arg(self.root(node))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C meant for lab must not reach the node.
            .process_group(0);
        // SAFETY: enter_node_context makes system calls only, on files opened before.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || enter_node_context(&procs, &lab_ns));
        }
        let line = crate::host::describe(&command);
        tracing::info!(command = %line, "host");
        let child = command.spawn().map_err(|source| crate::host::HostError::Spawn { command: line, source })?;
        let pid = child.id().unwrap_or_default();
        let pid_file = self.dir(node).join("nspawn.pid");
        std::fs::write(&pid_file, format!("{pid}\n")).map_err(|source| BackendError::Io {
            what: "cannot write",
            path: pid_file,
            source,
        })?;
        // The node lives on after lab exits; tokio reaps it if it ends while we run.
        drop(child);
        let init = self.wait_for_init(node, pid as i32).await?;
        self.network.attach(node, init).await?;
        Ok(())
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        let cgroups = self.cgroups(node);
        let stuck = |problem| BackendError::Node { node: node.to_owned(), problem };
        cgroups.kill_all(POWER_OFF_TIMEOUT).await.map_err(stuck)?;
        if let Some(pid) = read_pid(&self.dir(node).join("nspawn.pid")) {
            wait_gone(pid, POWER_OFF_TIMEOUT).await;
        }
        // A machine without power answers nothing, not even ARP for a VIP:
        // its namespace, VIPs and cable go once nothing holds them.
        let ns = self.network.node_ns(node);
        if netns::netns_path(&ns).exists() {
            self.network.delete(&ns).await?;
        }
        cgroups.remove().await.map_err(stuck)?;
        Ok(())
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        Ok(!self.cgroups(node).pids().is_empty())
    }

    /// A node's cable exists while it runs: every boot plugs in a new one,
    /// so a node that is off has nothing to cut or plug in.
    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        if !self.is_running(node).await? {
            return Ok(());
        }
        Ok(self.network.set_link(node, up).await?)
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        if !self.is_running(node).await? {
            return Ok(false);
        }
        Ok(self.network.link_is_up(node).await?)
    }

    /// Through the node's cpu cgroup; its usual share is one CPU.
    async fn limit_cpu(&self, node: &str, percent: Option<u32>) -> Result<(), BackendError> {
        if !self.is_running(node).await? {
            return Ok(());
        }
        let percent = percent.unwrap_or(crate::backend::cgroups::NODE_CPU_PERCENT);
        let path = self.dir(node);
        self.cgroups(node).limit_cpu(Some(percent)).map_err(|source| BackendError::Io {
            what: "cannot limit the CPU of",
            path,
            source,
        })
    }

    async fn save_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        for node in nodes {
            if self.is_running(node).await? {
                return Err(BackendError::Node {
                    node: node.clone(),
                    problem: "must be powered off for a snapshot".into(),
                });
            }
        }
        let target = self.paths.snapshot(name);
        let partial = target.with_extension("partial");
        remove_dir(&partial)?;
        std::fs::create_dir_all(&partial).map_err(|source| BackendError::Io {
            what: "cannot create",
            path: partial.clone(),
            source,
        })?;
        for node in nodes {
            let upper = self.dir(node).join("upper");
            self.host
                .run(
                    "cp",
                    ["-a".as_ref(), "--reflink=auto".as_ref(), upper.as_os_str(), partial.join(node).as_os_str()],
                )
                .await?;
        }
        remove_dir(&target)?;
        std::fs::rename(&partial, &target).map_err(|source| BackendError::Io {
            what: "cannot rename",
            path: target.clone(),
            source,
        })?;
        Ok(())
    }

    async fn restore_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        let snapshot = self.paths.snapshot(name);
        if !nodes.iter().all(|n| snapshot.join(n).is_dir()) {
            return Err(BackendError::NoSnapshot { name: name.to_owned() });
        }
        // Hosts are independent: rolled back side by side (a second or so
        // each, mostly unmounting), which every scenario run waits for.
        let snapshot = &snapshot;
        let each = nodes.iter().map(|node| async move {
            self.power_off(node).await?;
            self.unmount(node).await?;
            let dir = self.dir(node);
            remove_dir(&dir.join("upper"))?;
            remove_dir(&dir.join("work"))?;
            self.host
                .run(
                    "cp",
                    [
                        "-a".as_ref(),
                        "--reflink=auto".as_ref(),
                        snapshot.join(node).as_os_str(),
                        dir.join("upper").as_os_str(),
                    ],
                )
                .await?;
            self.mount(node).await
        });
        futures_util::future::try_join_all(each).await?;
        Ok(())
    }

    async fn delete_snapshot(&self, name: &str, _nodes: &[String]) -> Result<(), BackendError> {
        let snapshot = self.paths.snapshot(name);
        if !snapshot.is_dir() {
            return Err(BackendError::NoSnapshot { name: name.to_owned() });
        }
        remove_dir(&snapshot)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            own_kernel: false,
            live_snapshots: false,
            link_shaping: crate::host::kernel_has_netem(),
            watchdog: false,
        }
    }
}

fn remove_dir(path: &Path) -> Result<(), BackendError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BackendError::Io { what: "cannot remove", path: path.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_boots_with_the_same_mac_every_time() {
        let address = std::net::Ipv4Addr::new(192, 168, 89, 12);
        let unit = |node| String::from_utf8(network_unit(node, address, 24)[0].contents.clone()).expect("utf-8");
        let first = unit("tuchanka-b");
        assert!(first.contains("name eth0 address 52:54:00:89:59:0c\n"), "{first}");
        assert_eq!(first, unit("tuchanka-b"));
        assert!(first.contains("ip addr add 192.168.89.12/24 dev eth0"), "{first}");
    }
}
