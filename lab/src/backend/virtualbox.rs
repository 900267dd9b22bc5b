//! The VirtualBox backend (`--backend virtualbox`): Tuchanka's own setup.
//! Each host is a VirtualBox VM installed from a RHEL-like ISO with lab's
//! kickstart (`VBoxManage unattended install --script-template`), on a
//! host-only network holding the host's lab address (192.168.89.254/24, as
//! in Tuchanka), grouped per cluster (`/lab-<lab>/<cluster>`, the witness in
//! `/lab-<lab>`). A power-off is `controlvm poweroff`, a pulled cable
//! `controlvm setlinkstate1 off`, snapshots are VirtualBox snapshots of
//! powered-off VMs.
//!
//! VirtualBox cannot run on the machine lab is developed on, so this backend
//! is contract-tested: every `VBoxManage` call goes through the
//! [`VBoxManage`] trait, and the tests run it against a fake
//! (`tests/fake/VBoxManage`) that records each call and answers like the
//! real one; the recorded sequence per operation is compared with golden
//! files (`tests/data/virtualbox/`).
//!
//! On Linux, VirtualBox 7 lets host-only interfaces use 192.168.56.0/21
//! only, unless `/etc/vbox/networks.conf` allows more (`* 192.168.89.0/24`);
//! the error for that says so.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{BackendError, Capabilities, GuestFile, NodeBackend};
use crate::config::VirtualBoxSection;
use crate::host::{Host, HostError};
use crate::install::kickstart::{IsoInstall, Machine};
use crate::paths::LabPaths;
use crate::topology::{HostRole, HostSpec, Topology};

/// The one `VBoxManage` operation lab needs: run it with these arguments.
/// Fakes implement it in tests; [`VBoxManageBinary`] runs the real program.
pub trait VBoxManage: Send + Sync {
    /// Runs `VBoxManage args…` and returns its stdout.
    fn run(&self, args: &[String]) -> impl Future<Output = Result<String, HostError>> + Send;
}

/// The `VBoxManage` program (or a stand-in with the same interface).
#[derive(Clone, Debug)]
pub struct VBoxManageBinary {
    program: String,
    host: Host,
}

impl VBoxManageBinary {
    /// The program at `program` (a name looked up on PATH, or a path).
    pub fn new(program: impl Into<String>) -> Self {
        VBoxManageBinary { program: program.into(), host: Host }
    }
}

impl Default for VBoxManageBinary {
    fn default() -> Self {
        Self::new("VBoxManage")
    }
}

impl VBoxManage for VBoxManageBinary {
    async fn run(&self, args: &[String]) -> Result<String, HostError> {
        self.host.run(&self.program, args).await.map_err(|error| match error {
            HostError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => HostError::Missing {
                program: self.program.clone(),
                hint: "install VirtualBox 6.1 or later (https://www.virtualbox.org/wiki/Linux_Downloads)",
            },
            other => other,
        })
    }
}

/// How this lab's VMs are made (Tuchanka: 2 CPUs, 1 GiB, a 5 GiB disk).
#[derive(Clone, Debug)]
pub struct VirtualBoxSettings {
    pub memory_mb: u32,
    pub witness_memory_mb: u32,
    pub cpus: u32,
    pub disk_mb: u32,
    /// A second network card on VirtualBox's NAT, for the package
    /// repositories the kickstart installs from (Tuchanka's second
    /// interface). Faults only ever touch the first card, the lab's.
    pub uplink: bool,
    /// How long one host's installation may take before it is given up.
    pub install_timeout: Duration,
    /// How often a VM's state is asked for while waiting.
    pub poll_interval: Duration,
}

impl VirtualBoxSettings {
    /// The settings of `[virtualbox]`.
    pub fn from_config(section: &VirtualBoxSection) -> Self {
        VirtualBoxSettings {
            memory_mb: section.memory_mb,
            witness_memory_mb: section.witness_memory_mb,
            cpus: section.cpus,
            disk_mb: section.disk_mb,
            uplink: section.uplink,
            install_timeout: Duration::from_secs(section.install_timeout_s),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// The storage controller lab gives every VM.
const CONTROLLER: &str = "SATA";
/// The VirtualBox error for a VM that is not registered.
const NOT_FOUND: &str = "Could not find a registered machine named";

#[derive(Clone, Debug)]
pub struct VirtualBoxVms<V = VBoxManageBinary> {
    paths: LabPaths,
    topology: Topology,
    settings: VirtualBoxSettings,
    install: Option<IsoInstall>,
    vbox: V,
    /// The host-only interface, once found or made (one per process).
    hostonly: Arc<tokio::sync::Mutex<Option<String>>>,
}

/// What `showvminfo --machinereadable` says about one VM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmInfo {
    pub values: BTreeMap<String, String>,
}

impl VmInfo {
    /// Parses `key="value"` lines (keys may be quoted, numbers are not;
    /// `\"` and `\\` are escapes inside quotes).
    pub fn parse(text: &str) -> Self {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let (key, rest) = match line.strip_prefix('"') {
                Some(quoted) => match unquote(quoted) {
                    Some((key, rest)) => (key, rest),
                    None => continue,
                },
                None => match line.find('=') {
                    Some(at) => (line[..at].to_owned(), &line[at..]),
                    None => continue,
                },
            };
            let Some(value) = rest.strip_prefix('=') else { continue };
            let value = match value.strip_prefix('"') {
                Some(quoted) => unquote(quoted).map_or_else(|| quoted.to_owned(), |(v, _)| v),
                None => value.to_owned(),
            };
            values.insert(key, value);
        }
        VmInfo { values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `VMState`: `running`, `poweroff`, `paused`, `saved`, `aborted`…
    pub fn state(&self) -> &str {
        self.get("VMState").unwrap_or("unknown")
    }

    /// Powered on: running, or paused/stuck with its power still on.
    pub fn is_running(&self) -> bool {
        matches!(self.state(), "running" | "paused" | "stuck" | "starting" | "stopping")
    }

    /// Whether the lab card's cable is connected.
    pub fn link_is_up(&self) -> bool {
        self.get("cableconnected1") != Some("off")
    }

    /// Names of all snapshots (`SnapshotName`, `SnapshotName-1`, `SnapshotName-1-1`…).
    pub fn snapshots(&self) -> Vec<&str> {
        self.values.iter().filter(|(k, _)| k.starts_with("SnapshotName")).map(|(_, v)| v.as_str()).collect()
    }

    /// Removable media: (controller, port, device) of every attached ISO.
    pub fn attached_isos(&self) -> Vec<(String, String, String)> {
        self.values
            .iter()
            .filter(|(_, v)| {
                let v = v.to_lowercase();
                v.ends_with(".iso") || v.ends_with(".viso")
            })
            .filter_map(|(k, _)| {
                let mut parts = k.rsplitn(3, '-');
                let device = parts.next()?;
                let port = parts.next()?;
                let controller = parts.next()?;
                let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                (numeric(port) && numeric(device) && !controller.contains("ImageUUID"))
                    .then(|| (controller.to_owned(), port.to_owned(), device.to_owned()))
            })
            .collect()
    }
}

/// Splits `text` (just after an opening quote) at its closing quote:
/// the unescaped contents and what follows.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &text[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// The name of the interface `hostonlyif create` made.
fn created_interface(output: &str) -> Option<String> {
    let start = output.find("Interface '")? + "Interface '".len();
    let end = output[start..].find('\'')?;
    Some(output[start..start + end].to_owned())
}

/// The host-only interface holding `address`, from `list hostonlyifs`.
pub fn hostonly_with_address(listing: &str, address: Ipv4Addr) -> Option<String> {
    let mut name = None;
    for line in listing.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key.trim() {
            "Name" => name = Some(value.trim().to_owned()),
            "IPAddress" if value.trim() == address.to_string() => return name,
            _ => {}
        }
    }
    None
}

/// A card's MAC address as VirtualBox takes it: VirtualBox's prefix, then
/// the card (0x89 for the lab, 0xa9 for the uplink) and the node's address.
fn mac_address(card: u8, address: Ipv4Addr) -> [u8; 6] {
    let [_, _, c, d] = address.octets();
    [0x08, 0x00, 0x27, card, c, d]
}

fn mac_vbox(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02X}")).collect()
}

fn mac_colons(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl VirtualBoxVms<VBoxManageBinary> {
    /// VMs of `topology` driven by the `VBoxManage` on PATH.
    pub fn new(paths: LabPaths, topology: Topology, settings: VirtualBoxSettings) -> Self {
        Self::with_vboxmanage(paths, topology, settings, VBoxManageBinary::default())
    }
}

impl<V: VBoxManage> VirtualBoxVms<V> {
    pub fn with_vboxmanage(paths: LabPaths, topology: Topology, settings: VirtualBoxSettings, vbox: V) -> Self {
        VirtualBoxVms { paths, topology, settings, install: None, vbox, hostonly: Arc::default() }
    }

    /// Where [`NodeBackend::create`] installs hosts from.
    pub fn with_install(mut self, install: IsoInstall) -> Self {
        self.install = Some(install);
        self
    }

    /// The VM's name in VirtualBox: VM names are global to the user, so
    /// they carry the lab's name, as its network namespaces do.
    pub fn vm_name(&self, node: &str) -> String {
        format!("lab-{}-{node}", self.topology.lab)
    }

    /// The VirtualBox group of a host: its cluster's, the witness above them.
    fn group(&self, host: &HostSpec) -> String {
        match host.role {
            HostRole::Node => format!("/lab-{}/{}", self.topology.lab, self.topology.cluster_name),
            HostRole::Witness => format!("/lab-{}", self.topology.lab),
        }
    }

    async fn vbox<I, S>(&self, node: &str, args: I) -> Result<String, BackendError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        self.vbox.run(&args).await.map_err(|error| match error {
            HostError::Failed { stderr, .. } if stderr.contains(NOT_FOUND) => BackendError::Node {
                node: node.to_owned(),
                problem: format!(
                    "has no VirtualBox VM `{}` (VBoxManage finds no such registered machine); it was removed or \
                     the lab was made elsewhere: make it again with `lab make-all --backend virtualbox ISO KEY.pub`",
                    self.vm_name(node)
                ),
            },
            other => BackendError::Host(other),
        })
    }

    pub async fn info(&self, node: &str) -> Result<VmInfo, BackendError> {
        let vm = self.vm_name(node);
        Ok(VmInfo::parse(&self.vbox(node, ["showvminfo", vm.as_str(), "--machinereadable"]).await?))
    }

    /// The host-only interface with the host's lab address, made if none has it.
    async fn ensure_hostonly(&self, node: &str) -> Result<String, BackendError> {
        let mut cached = self.hostonly.lock().await;
        if let Some(name) = cached.as_ref() {
            return Ok(name.clone());
        }
        let address = self.topology.host_address;
        let listing = self.vbox(node, ["list", "hostonlyifs"]).await?;
        let name = match hostonly_with_address(&listing, address) {
            Some(name) => name,
            None => {
                let created = self.vbox(node, ["hostonlyif", "create"]).await?;
                let name = created_interface(&created).ok_or_else(|| BackendError::Node {
                    node: node.to_owned(),
                    problem: format!("VBoxManage hostonlyif create named no interface: {}", created.trim()),
                })?;
                let netmask = self.topology.netmask();
                let configured = self
                    .vbox(
                        node,
                        [
                            "hostonlyif".to_owned(),
                            "ipconfig".to_owned(),
                            name.clone(),
                            "--ip".to_owned(),
                            address.to_string(),
                            "--netmask".to_owned(),
                            netmask.to_string(),
                        ],
                    )
                    .await;
                configured.map_err(|error| BackendError::Node {
                    node: node.to_owned(),
                    problem: format!(
                        "cannot give the host-only interface {name} the address {address}: {error}; \
                         VirtualBox 7 allows other ranges than 192.168.56.0/21 only if /etc/vbox/networks.conf \
                         lists them (add the line `* {}`)",
                        self.topology.subnet()
                    ),
                })?;
                name
            }
        };
        *cached = Some(name.clone());
        Ok(name)
    }

    /// Puts `medium` (a file, or `emptydrive`) into the drive of `kind`
    /// at (controller, port, device) of the node's VM.
    async fn attach(
        &self,
        node: &str,
        (controller, port, device): (&str, &str, &str),
        kind: &str,
        medium: &str,
    ) -> Result<String, BackendError> {
        let vm = self.vm_name(node);
        let slot = ["--storagectl", controller, "--port", port, "--device", device];
        self.vbox(node, ["storageattach", &vm].into_iter().chain(slot).chain(["--type", kind, "--medium", medium]))
            .await
    }

    /// Waits for the installation to power the VM off (the kickstart's
    /// last command).
    async fn wait_installed(&self, node: &str) -> Result<VmInfo, BackendError> {
        let started = tokio::time::Instant::now();
        loop {
            let info = self.info(node).await?;
            match info.state() {
                "poweroff" => return Ok(info),
                "aborted" | "aborted-saved" | "gurumeditation" => {
                    return Err(self.install_failed(node, &format!("the VM stopped ({})", info.state())));
                }
                _ => {}
            }
            if started.elapsed() >= self.settings.install_timeout {
                return Err(self.install_failed(
                    node,
                    &format!("it did not power off within {} s", self.settings.install_timeout.as_secs()),
                ));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    fn install_failed(&self, node: &str, what: &str) -> BackendError {
        BackendError::not_installed(node, what, &self.paths.console(node))
    }

    /// Removes a node's VM and its disk (`lab destroy`); nothing if there is none.
    pub async fn destroy(&self, node: &str) -> Result<(), BackendError> {
        let info = match self.info(node).await {
            Ok(info) => info,
            Err(BackendError::Node { .. }) => return Ok(()),
            Err(other) => return Err(other),
        };
        let vm = self.vm_name(node);
        if info.is_running() {
            self.vbox(node, ["controlvm", vm.as_str(), "poweroff"]).await?;
        }
        self.vbox(node, ["unregistervm", vm.as_str(), "--delete"]).await?;
        Ok(())
    }

    /// VMs of this lab's hosts that VirtualBox knows (for `lab destroy`
    /// leftovers). Only the hosts' own names count: lab `a`'s prefix
    /// `lab-a-` also starts the VMs of lab `a-b`.
    pub async fn registered(&self) -> Result<Vec<String>, BackendError> {
        let listing = self.vbox("(any)", ["list", "vms"]).await?;
        let ours: Vec<String> = self.topology.hosts.iter().map(|h| self.vm_name(&h.name)).collect();
        Ok(listing
            .lines()
            .filter_map(|line| unquote(line.strip_prefix('"')?).map(|(name, _)| name))
            .filter(|name| ours.contains(name))
            .collect())
    }

    /// Removes every VM of this lab VirtualBox knows, the ones a crashed
    /// make-all left included; returns how many.
    pub async fn destroy_all(&self) -> Result<usize, BackendError> {
        let registered = self.registered().await?;
        let mut removed = 0;
        for host in &self.topology.hosts {
            if registered.contains(&self.vm_name(&host.name)) {
                self.destroy(&host.name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl<V: VBoxManage> NodeBackend for VirtualBoxVms<V> {
    /// Makes the VM and installs it from the ISO; `files` travel in the
    /// kickstart. Ends with the VM powered off and its DVD drives empty.
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        let node = host.name.as_str();
        let install = self.install.as_ref().ok_or_else(|| BackendError::Node {
            node: node.to_owned(),
            problem: "cannot be installed: no installation ISO given (`lab make-all ISO KEY.pub`)".into(),
        })?;
        let interface = self.ensure_hostonly(node).await?;
        let vm = self.vm_name(node);
        let dir = self.paths.node(node);
        std::fs::create_dir_all(&dir).map_err(|source| BackendError::Io {
            what: "cannot create",
            path: dir.clone(),
            source,
        })?;
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (disk, kickstart) = (path("disk.vdi"), path("ks.cfg"));
        let console = self.paths.console(node).to_string_lossy().into_owned();
        let iso = install.iso.to_string_lossy().into_owned();
        let memory = match host.role {
            HostRole::Node => self.settings.memory_mb,
            HostRole::Witness => self.settings.witness_memory_mb,
        };
        let lab_mac = mac_address(0x89, host.address);
        let uplink_mac = mac_address(0xa9, host.address);

        let machine = Machine {
            lab_nic: mac_colons(lab_mac),
            uplink_nic: self.settings.uplink.then(|| mac_colons(uplink_mac)),
            disk: "sda".into(),
            boot_args: Vec::new(),
        };
        let text = install
            .kickstart(host, &self.topology, machine, files)
            .map_err(|error| BackendError::Node { node: node.to_owned(), problem: error.to_string() })?;
        crate::secrets::write_private(kickstart.as_ref(), text.as_bytes()).map_err(|source| BackendError::Io {
            what: "cannot write",
            path: kickstart.clone().into(),
            source,
        })?;

        let dirs = dir.to_string_lossy().into_owned();
        let group = self.group(host);
        let ostype = "RedHat_64";
        self.vbox(
            node,
            ["createvm", "--name", &vm, "--groups", &group, "--ostype", ostype, "--basefolder", &dirs, "--register"],
        )
        .await?;
        let mut modify: Vec<String> = [
            "modifyvm",
            &vm,
            "--memory",
            &memory.to_string(),
            "--cpus",
            &self.settings.cpus.to_string(),
            "--ioapic",
            "on",
            "--rtcuseutc",
            "on",
            "--boot1",
            "dvd",
            "--boot2",
            "disk",
            "--boot3",
            "none",
            "--boot4",
            "none",
            "--nic1",
            "hostonly",
            "--hostonlyadapter1",
            &interface,
            "--macaddress1",
            &mac_vbox(lab_mac),
            "--cableconnected1",
            "on",
        ]
        .map(str::to_owned)
        .to_vec();
        if self.settings.uplink {
            modify.extend(["--nic2", "nat", "--macaddress2", &mac_vbox(uplink_mac)].map(str::to_owned));
        }
        modify.extend(["--uart1", "0x3F8", "4", "--uartmode1", "file", &console].map(str::to_owned));
        self.vbox(node, modify).await?;
        let size = self.settings.disk_mb.to_string();
        self.vbox(node, ["createmedium", "disk", "--filename", &disk, "--size", &size, "--format", "VDI"]).await?;
        self.vbox(
            node,
            ["storagectl", &vm, "--name", CONTROLLER, "--add", "sata", "--controller", "IntelAhci", "--portcount", "4"],
        )
        .await?;
        self.attach(node, (CONTROLLER, "0", "0"), "hdd", &disk).await?;
        self.attach(node, (CONTROLLER, "1", "0"), "dvddrive", &iso).await?;
        self.vbox(
            node,
            [
                "unattended".to_owned(),
                "install".to_owned(),
                vm.clone(),
                format!("--iso={iso}"),
                format!("--script-template={kickstart}"),
                format!("--hostname={node}.lab"),
                "--time-zone=UTC".to_owned(),
                "--start-vm=headless".to_owned(),
            ],
        )
        .await?;
        let info = self.wait_installed(node).await?;
        // From now on the VM boots its disk, never the installer again.
        for (controller, port, device) in info.attached_isos() {
            self.attach(node, (&controller, &port, &device), "dvddrive", "emptydrive").await?;
        }
        self.vbox(node, ["modifyvm", &vm, "--boot1", "disk", "--boot2", "none"]).await?;
        Ok(())
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        if self.info(node).await?.is_running() {
            return Ok(());
        }
        self.vbox(node, ["startvm", &self.vm_name(node), "--type", "headless"]).await?;
        Ok(())
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        if self.info(node).await?.is_running() {
            self.vbox(node, ["controlvm", &self.vm_name(node), "poweroff"]).await?;
        }
        Ok(())
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        Ok(self.info(node).await?.is_running())
    }

    async fn reset(&self, node: &str) -> Result<(), BackendError> {
        if self.info(node).await?.is_running() {
            self.vbox(node, ["controlvm", &self.vm_name(node), "reset"]).await?;
            Ok(())
        } else {
            self.vbox(node, ["startvm", &self.vm_name(node), "--type", "headless"]).await.map(drop)
        }
    }

    /// `setlinkstate1` on a running VM; a powered-off VM keeps the setting
    /// as `cableconnected1` for its next boot.
    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        let vm = self.vm_name(node);
        let state = if up { "on" } else { "off" };
        if self.info(node).await?.is_running() {
            self.vbox(node, ["controlvm", &vm, "setlinkstate1", state]).await?;
        } else {
            self.vbox(node, ["modifyvm", &vm, "--cableconnected1", state]).await?;
        }
        Ok(())
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        Ok(self.info(node).await?.link_is_up())
    }

    /// VirtualBox's execution cap, which is per vCPU already (100: none).
    async fn limit_cpu(&self, node: &str, percent: Option<u32>) -> Result<(), BackendError> {
        if !self.info(node).await?.is_running() {
            return Ok(());
        }
        let cap = percent.unwrap_or(100).clamp(1, 100).to_string();
        self.vbox(node, ["controlvm", &self.vm_name(node), "cpuexecutioncap", &cap]).await?;
        Ok(())
    }

    /// Snapshots of powered-off VMs (disks and settings); an older snapshot
    /// of the same name is replaced (VirtualBox would keep both).
    async fn save_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        let mut existing = Vec::new();
        for node in nodes {
            let info = self.info(node).await?;
            if info.is_running() {
                return Err(BackendError::Node {
                    node: node.clone(),
                    problem: "must be powered off for a snapshot".into(),
                });
            }
            existing.push(info.snapshots().contains(&name));
        }
        for (node, exists) in nodes.iter().zip(existing) {
            let vm = self.vm_name(node);
            if exists {
                self.vbox(node, ["snapshot", &vm, "delete", name]).await?;
            }
            self.vbox(node, ["snapshot", &vm, "take", name]).await?;
        }
        crate::backend::mark_snapshot(&self.paths, name)
    }

    async fn restore_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        let mut running = Vec::new();
        for node in nodes {
            let info = self.info(node).await?;
            if !info.snapshots().contains(&name) {
                return Err(BackendError::NoSnapshot { name: name.to_owned() });
            }
            running.push(info.is_running());
        }
        for (node, running) in nodes.iter().zip(running) {
            let vm = self.vm_name(node);
            if running {
                self.vbox(node, ["controlvm", &vm, "poweroff"]).await?;
            }
            self.vbox(node, ["snapshot", &vm, "restore", name]).await?;
        }
        Ok(())
    }

    async fn delete_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        let mut holders = Vec::new();
        for node in nodes {
            if self.info(node).await?.snapshots().contains(&name) {
                holders.push(node);
            }
        }
        if holders.is_empty() && !self.paths.snapshot(name).is_dir() {
            return Err(BackendError::NoSnapshot { name: name.to_owned() });
        }
        for node in holders {
            self.vbox(node, ["snapshot", &self.vm_name(node), "delete", name]).await?;
        }
        crate::backend::unmark_snapshot(&self.paths, name)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { own_kernel: true, live_snapshots: false, link_shaping: true, watchdog: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWVMINFO: &str = r#"name="lab-t-node1"
groups="/lab-t/krogan"
ostype="Red Hat (64-bit)"
UUID="0b8e2f9e-6f1c-4a4e-9a36-1f7c1b1e2d3c"
memory=1024
VMState="running"
VMStateChangeTime="2024-05-01T10:00:00.000000000"
"SATA-0-0"="/labs/t/nodes/node1/disk.vdi"
"SATA-ImageUUID-0-0"="5d2f0c3e-0000-4000-8000-000000000001"
"SATA-1-0"="/isos/CentOS-7-x86_64-Minimal-2009.iso"
"SATA-2-0"="/labs/t/nodes/node1/lab-t-node1/Unattended-aux-iso.viso"
"SATA-3-0"="none"
nic1="hostonly"
cableconnected1="off"
description="a \"quoted\" word and a \\ backslash"
SnapshotName="install"
SnapshotUUID="11111111-2222-4333-8444-555555555555"
SnapshotName-1="setup"
SnapshotUUID-1="11111111-2222-4333-8444-666666666666"
CurrentSnapshotName="setup"
"#;

    #[test]
    fn showvminfo_machinereadable_is_parsed() {
        let info = VmInfo::parse(SHOWVMINFO);
        assert_eq!(info.get("name"), Some("lab-t-node1"));
        assert_eq!(info.get("memory"), Some("1024"));
        assert_eq!(info.get("SATA-0-0"), Some("/labs/t/nodes/node1/disk.vdi"));
        assert_eq!(info.get("description"), Some(r#"a "quoted" word and a \ backslash"#));
        assert_eq!(info.state(), "running");
        assert!(info.is_running());
        assert!(!info.link_is_up());
        assert_eq!(info.snapshots(), ["install", "setup"]);
        assert_eq!(
            info.attached_isos(),
            [("SATA".to_owned(), "1".to_owned(), "0".to_owned()), ("SATA".into(), "2".into(), "0".into())]
        );
        let off = VmInfo::parse("VMState=\"poweroff\"\ncableconnected1=\"on\"\n");
        assert!(!off.is_running() && off.link_is_up() && off.snapshots().is_empty());
        assert_eq!(VmInfo::parse("garbage\n\"unterminated=\n").values.len(), 0);
    }

    #[test]
    fn hostonly_interfaces_are_found_by_address() {
        let listing = "Name:            vboxnet0\nGUID:            786f6276-656e-4074-8000-0a0027000000\n\
            DHCP:            Disabled\nIPAddress:       192.168.56.1\nNetworkMask:     255.255.255.0\n\n\
            Name:            vboxnet1\nGUID:            786f6276-656e-4174-8000-0a0027000001\n\
            DHCP:            Disabled\nIPAddress:       192.168.89.254\nNetworkMask:     255.255.255.0\n";
        assert_eq!(hostonly_with_address(listing, Ipv4Addr::new(192, 168, 89, 254)).as_deref(), Some("vboxnet1"));
        assert_eq!(hostonly_with_address(listing, Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(
            created_interface("0%...100%\nInterface 'vboxnet2' was successfully created\n").as_deref(),
            Some("vboxnet2")
        );
    }

    #[test]
    fn macs_carry_the_card_and_the_address() {
        let mac = mac_address(0x89, Ipv4Addr::new(192, 168, 89, 11));
        assert_eq!(mac_vbox(mac), "08002789590B");
        assert_eq!(mac_colons(mac), "08:00:27:89:59:0b");
    }
}
