//! The container backend: each node is a systemd-nspawn container booting
//! the guest image (systemd, sshd, corosync, pacemaker, PostgreSQL, all real)
//! in its own network namespace, with its own writable overlay layer.
//!
//! Boots take seconds, which makes it the backend for tests and nightly
//! suites. Containers share the host kernel: kernel-level faults need a VM
//! backend. Power-off kills every process of the node at once (SIGKILL of
//! its PID namespace); a snapshot is a copy of the node's writable layer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{BackendError, Capabilities, GuestFile, NodeBackend, write_tree};
use crate::host::Host;
use crate::netns::{self, LabNetwork};
use crate::paths::LabPaths;
use crate::process::{kill_namespace, read_pid, wait_gone};
use crate::topology::{HostSpec, Topology};

/// How long a killed node may take to disappear.
const POWER_OFF_TIMEOUT: Duration = Duration::from_secs(15);

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

    fn address(&self, node: &str) -> Option<std::net::Ipv4Addr> {
        self.topology.host(node).map(|h| h.address)
    }

    fn dir(&self, node: &str) -> PathBuf {
        self.paths.node(node)
    }

    fn root(&self, node: &str) -> PathBuf {
        self.dir(node).join("root")
    }

    async fn mount(&self, node: &str) -> Result<(), BackendError> {
        let dir = self.dir(node);
        for sub in ["upper", "work", "root"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| BackendError::Io {
                what: "cannot create",
                path,
                source,
            })?;
        }
        if crate::mounts::is_mounted(&self.root(node)) {
            return Ok(());
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            self.image.display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
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
        let root = self.root(node);
        Ok(crate::mounts::unmount(&self.host, &root).await?)
    }
}

impl NodeBackend for Containers {
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        self.network.add_host(&host.name, host.address, self.topology.prefix).await?;
        self.mount(&host.name).await?;
        let root = self.root(&host.name);
        write_tree(&root, files).map_err(|source| BackendError::Io {
            what: "cannot write files under",
            path: root,
            source,
        })
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        if self.is_running(node).await? {
            return Ok(());
        }
        self.mount(node).await?;
        self.network.reset_addresses(node, self.address(node), self.topology.prefix).await?;
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
            .arg("--capability=all")
            .arg("--resolv-conf=off")
            .arg("--link-journal=no")
            .arg("--timezone=off")
            .arg("--console=read-only")
            .arg(format!("--machine={node}"))
            .arg(format!("--network-namespace-path={}", netns::netns_path(&self.network.node_ns(node)).display()))
            .arg("--directory")
            .arg(self.root(node))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group: a Ctrl-C meant for lab must not reach the node.
            .process_group(0);
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
        tokio::time::sleep(Duration::from_millis(300)).await;
        if crate::process::is_zombie(pid as i32) {
            let log = std::fs::read_to_string(&console).unwrap_or_default();
            return Err(BackendError::Node {
                node: node.to_owned(),
                problem: format!("did not boot: {}", crate::host::tail(&log)),
            });
        }
        Ok(())
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        let ns = self.network.node_ns(node);
        kill_namespace(&ns, POWER_OFF_TIMEOUT)
            .await
            .map_err(|problem| BackendError::Node { node: node.to_owned(), problem })?;
        if let Some(pid) = read_pid(&self.dir(node).join("nspawn.pid")) {
            wait_gone(pid, POWER_OFF_TIMEOUT).await;
        }
        // A machine without power answers nothing, not even ARP for a VIP.
        self.network.reset_addresses(node, None, self.topology.prefix).await?;
        Ok(())
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        Ok(!crate::process::pids_in(&self.network.node_ns(node)).is_empty())
    }

    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        Ok(self.network.set_link(node, up).await?)
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        Ok(self.network.link_is_up(node).await?)
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
        for node in nodes {
            self.power_off(node).await?;
        }
        for node in nodes {
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
            self.mount(node).await?;
        }
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
        Capabilities { own_kernel: false, live_snapshots: false, link_shaping: crate::host::kernel_has_netem() }
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
