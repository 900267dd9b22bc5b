//! The QEMU backend: each node is a real virtual machine with its own
//! kernel, driven over QMP (no libvirt: the lab owns its processes).
//!
//! Every VM boots the guest image's kernel directly, from its own qcow2
//! overlay over the shared base disk, with its address, hostname and
//! machine id on the kernel command line and its own files (keys, fence
//! agent) on a small read-only seed disk (see [`crate::backend::vm_disk`]). QEMU runs
//! inside the lab network namespace with a tap on the lab bridge, so VMs
//! reach nothing but the lab. Each VM has a QMP socket and a serial console
//! log that lab keeps for the reports.
//!
//! Hosts installed from a RHEL-like ISO instead (see [`QemuInstall`]) get
//! a disk of their own: QEMU boots the ISO's installer kernel with lab's
//! kickstart on an OEMDRV disk until the kickstart powers the VM off, and
//! from then on the VM boots that disk through its firmware; the kickstart
//! gave it its address and files.
//!
//! Snapshots are QEMU internal snapshots of running VMs (memory included),
//! taken with all of them paused so they are consistent with each other;
//! restoring one needs no boot. A power-off is QMP `quit` (SIGKILL if QEMU
//! does not go), a reset is `system_reset`, a cable is `set_link`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::cgroups::Cgroups;
use crate::backend::qmp::Qmp;
use crate::backend::vm_disk::{self, VmDisk};
use crate::backend::{BackendError, Capabilities, GuestFile, NodeBackend};
use crate::cluster::fencing::Fencing;
use crate::host::Host;
use crate::netns::{self, LabNetwork};
use crate::paths::LabPaths;
use crate::topology::{HostRole, HostSpec, Topology, VmBoot, VmSpec};

mod install;
pub use install::QemuInstall;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// The VM's network card, as QMP names it for `set_link`.
const NIC: &str = "nic0";
/// How long QEMU may take to create its QMP socket or answer on it.
const QMP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a VM may take to go after `quit` before it is killed.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct QemuVms {
    paths: LabPaths,
    topology: Topology,
    vm: VmSpec,
    disk: VmDisk,
    network: LabNetwork,
    host: Host,
    install: Option<QemuInstall>,
    /// Set once the installer's kernel and initrd are out of the ISO.
    installer_extracted: Arc<tokio::sync::OnceCell<()>>,
}

impl QemuVms {
    /// VMs of `topology` (which must have a [`VmSpec`]) on the VM disk of its image.
    pub fn new(paths: LabPaths, topology: Topology) -> Result<Self, BackendError> {
        let vm = topology.vm.ok_or_else(|| BackendError::Node {
            node: topology.lab.clone(),
            problem: "has no VM settings in lab.json; make it again with `lab make-all --backend qemu`".into(),
        })?;
        let disk = VmDisk::at(&paths.images().join(&topology.image));
        let network = LabNetwork::new(paths.netns());
        Ok(QemuVms {
            paths,
            topology,
            vm,
            disk,
            network,
            host: Host,
            install: None,
            installer_extracted: Arc::default(),
        })
    }

    /// These VMs are made by installing `install`'s ISO (their lab must boot [`VmBoot::Disk`]).
    pub fn with_install(mut self, install: QemuInstall) -> Self {
        self.install = Some(install);
        self
    }

    fn dir(&self, node: &str) -> PathBuf {
        self.paths.node(node)
    }

    fn overlay(&self, node: &str) -> PathBuf {
        self.dir(node).join("disk.qcow2")
    }

    fn pid_file(&self, node: &str) -> PathBuf {
        self.dir(node).join("qemu.pid")
    }

    /// Marker of a pulled cable: QEMU cannot be asked for its link state.
    fn link_down_marker(&self, node: &str) -> PathBuf {
        self.dir(node).join("link-down")
    }

    fn qmp_socket(&self, node: &str) -> PathBuf {
        self.paths.ssh_control().join(format!("{node}.qmp"))
    }

    fn spec(&self, node: &str) -> Result<&HostSpec, BackendError> {
        self.topology
            .host(node)
            .ok_or_else(|| BackendError::Node { node: node.to_owned(), problem: "is not in this lab".into() })
    }

    async fn qmp(&self, node: &str) -> Result<Qmp, BackendError> {
        Qmp::connect(&self.qmp_socket(node), QMP_TIMEOUT).await.map_err(|e| qmp_error(node, e))
    }

    fn pid(&self, node: &str) -> Option<i32> {
        let pid = crate::process::read_pid(&self.pid_file(node))?;
        let ours = crate::process::command_line(pid).contains(&*self.overlay(node).to_string_lossy());
        (ours && !crate::process::is_zombie(pid)).then_some(pid)
    }

    fn memory_mb(&self, host: &HostSpec) -> u32 {
        if host.role == HostRole::Witness { self.vm.witness_memory_mb } else { self.vm.memory_mb }
    }

    /// The start of every QEMU command line of a node: machine, memory,
    /// no devices but the ones lab adds.
    fn machine_args(&self, node: &str, process: &str, memory_mb: u32) -> Vec<String> {
        let mut args: Vec<String> = vec![
            QEMU.into(),
            "-name".into(),
            format!("{node},process=lab-{}-{process}", self.topology.lab),
            "-machine".into(),
            "q35".into(),
        ];
        args.extend(self.vm.accel.qemu_args().iter().map(|a| (*a).to_owned()));
        args.extend([
            "-smp".into(),
            self.vm.cpus.to_string(),
            "-m".into(),
            memory_mb.to_string(),
            "-nodefaults".into(),
            "-display".into(),
            "none".into(),
        ]);
        args
    }

    /// The node's own disk: the first virtio disk, `vda`.
    fn disk_args(&self, node: &str) -> [String; 2] {
        let file = self.overlay(node).display().to_string();
        ["-drive".into(), format!("file={file},if=virtio,format=qcow2,cache=writeback")]
    }

    /// The node's network card on its tap, and its serial console.
    fn nic_console_args(&self, host: &HostSpec) -> Vec<String> {
        vec![
            "-netdev".into(),
            format!("tap,id=n0,ifname={},script=no,downscript=no", netns::tap_name(&host.name)),
            "-device".into(),
            format!("virtio-net-pci,netdev=n0,id={NIC},mac={}", super::node_mac(host.address)),
            "-chardev".into(),
            format!("file,id=console,path={},append=on", self.paths.console(&host.name).display()),
            "-serial".into(),
            "chardev:console".into(),
        ]
    }

    /// With sbd fencing, a cluster node's watchdog: an emulated Intel
    /// 6300ESB that resets the VM when sbd stops feeding it. Only then: a
    /// device more would keep the snapshots of labs made without it from
    /// loading.
    fn watchdog_args(&self, host: &HostSpec) -> Vec<String> {
        if self.topology.fencing != Fencing::Sbd || host.role != HostRole::Node {
            return Vec::new();
        }
        ["-device", "i6300esb,id=watchdog", "-action", "watchdog=reset"].map(String::from).to_vec()
    }

    /// The whole QEMU command line of a node (after `ip netns exec LAB`).
    pub fn command_line(&self, node: &str, load_snapshot: Option<&str>) -> Result<Vec<String>, BackendError> {
        let host = self.spec(node)?;
        let path = |p: PathBuf| p.display().to_string();
        let mut args = self.machine_args(node, node, self.memory_mb(host));
        // The order of the devices is the guest's hardware: a snapshot
        // loads only into the same.
        match self.vm.boot {
            VmBoot::Kernel => {
                let machine_id = std::fs::read_to_string(self.dir(node).join("machine-id")).unwrap_or_default();
                args.extend([
                    "-kernel".into(),
                    path(self.disk.kernel.clone()),
                    "-initrd".into(),
                    path(self.disk.initrd.clone()),
                    "-append".into(),
                    kernel_command_line(host, &self.topology, machine_id.trim()),
                ]);
                args.extend(self.disk_args(node));
                // Read-only: savevm skips it, and the guest cannot change it.
                args.extend([
                    "-drive".into(),
                    format!("file={},if=virtio,format=raw,readonly=on", path(self.dir(node).join("seed.img"))),
                ]);
            }
            VmBoot::Disk => args.extend(self.disk_args(node)),
        }
        args.extend(self.nic_console_args(host));
        args.extend(self.watchdog_args(host));
        args.extend([
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", path(self.qmp_socket(node))),
            "-pidfile".into(),
            path(self.pid_file(node)),
            "-daemonize".into(),
        ]);
        if let Some(name) = load_snapshot {
            args.extend(["-loadvm".into(), name.to_owned()]);
        }
        Ok(args)
    }

    /// Powers a VM on, booting it or resuming a snapshot.
    async fn launch(&self, node: &str, load_snapshot: Option<&str>) -> Result<(), BackendError> {
        let args = self.command_line(node, load_snapshot)?;
        if let Some(parent) = self.qmp_socket(node).parent() {
            std::fs::create_dir_all(parent).map_err(|source| BackendError::Io {
                what: "cannot create",
                path: parent.to_owned(),
                source,
            })?;
        }
        let _ = std::fs::remove_file(self.qmp_socket(node));
        let _ = std::fs::remove_file(self.pid_file(node));
        let mut full = vec!["netns".to_owned(), "exec".to_owned(), self.network.lab_ns().to_owned()];
        full.extend(args);
        // -daemonize: `ip` returns once the VM runs; QEMU lives on after lab exits.
        self.host.run("ip", &full).await?;
        Ok(())
    }

    async fn quit(&self, node: &str) -> Result<(), BackendError> {
        let Some(pid) = self.pid(node) else {
            return Ok(());
        };
        // A QEMU whose monitor does not answer is killed below all the same.
        if let Ok(Ok(mut qmp)) = tokio::time::timeout(QUIT_TIMEOUT, self.qmp(node)).await {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, qmp.quit()).await;
        }
        if !crate::process::wait_gone(pid, QUIT_TIMEOUT).await {
            tracing::warn!(node, pid, "QEMU did not quit; killing it");
            if !crate::process::kill_and_wait(pid, QUIT_TIMEOUT).await {
                return Err(BackendError::Node {
                    node: node.to_owned(),
                    problem: format!("QEMU {pid} survives SIGKILL"),
                });
            }
        }
        Ok(())
    }

    /// Whether every node's disk holds snapshot `name`.
    async fn has_snapshot(&self, name: &str, nodes: &[String]) -> Result<bool, BackendError> {
        for node in nodes {
            let names = if self.pid(node).is_some() {
                self.qmp(node).await?.snapshots().await.map_err(|e| qmp_error(node, e))?
            } else {
                let overlay = self.overlay(node);
                let listing =
                    self.host.run("qemu-img", ["snapshot".as_ref(), "-l".as_ref(), overlay.as_os_str()]).await?;
                snapshot_names(&listing)
            };
            if !names.iter().any(|n| n == name) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Per-VM settings on the kernel command line: root disk, serial console,
/// address (systemd-network-generator turns `ip=` into networkd config),
/// hostname and machine id. Interface names stay `eth0` on every VM.
///
/// Under TCG the guest's TSC follows the host's clock across a snapshot:
/// a VM restored from `setup` saw its monotonic clock leap by the minutes
/// since the snapshot was taken, so corosync lost its token and Pacemaker
/// timed out every running monitor. The HPET is emulated on QEMU's virtual
/// clock, which a snapshot restores, so TCG guests keep time on it; an
/// unstable TSC also keeps the scheduler clock in step with it (else the
/// soft-lockup watchdog reports the leap).
pub fn kernel_command_line(host: &HostSpec, topology: &Topology, machine_id: &str) -> String {
    let mask = topology.netmask();
    let mut line = format!(
        "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname={name} ip={address}:::{mask}:{name}:eth0:off",
        name = host.name,
        address = host.address,
    );
    if !machine_id.is_empty() {
        line.push_str(&format!(" systemd.machine_id={machine_id}"));
    }
    for arg in topology.vm.as_ref().map(clock_args).unwrap_or_default() {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// Kernel arguments that keep an emulated guest's time across snapshots
/// (see [`kernel_command_line`]); installed hosts get them from the kickstart.
pub fn clock_args(vm: &VmSpec) -> Vec<&'static str> {
    match vm.accel {
        crate::backend::accel::Accel::Tcg => vec!["clocksource=hpet", "tsc=unstable"],
        crate::backend::accel::Accel::Kvm => Vec::new(),
    }
}

/// Snapshot names in `qemu-img snapshot -l` output (a stopped VM's disk;
/// a running VM is asked over QMP instead).
pub fn snapshot_names(listing: &str) -> Vec<String> {
    let rows = listing.lines().skip_while(|line| !line.trim_start().starts_with("ID")).skip(1);
    crate::backend::qmp::snapshot_tags(rows).unwrap_or_default()
}

fn qmp_error(node: &str, error: crate::backend::qmp::QmpError) -> BackendError {
    BackendError::Node { node: node.to_owned(), problem: format!("QMP: {error}") }
}

impl NodeBackend for QemuVms {
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        let dir = self.dir(&host.name);
        std::fs::create_dir_all(&dir).map_err(|source| BackendError::Io {
            what: "cannot create",
            path: dir.clone(),
            source,
        })?;
        self.network.add_tap(&host.name).await?;
        if self.vm.boot == VmBoot::Disk {
            return self.install(host, files).await;
        }
        let overlay = self.overlay(&host.name);
        self.host
            .run(
                "qemu-img",
                [
                    "create".as_ref(),
                    "-q".as_ref(),
                    "-f".as_ref(),
                    "qcow2".as_ref(),
                    "-F".as_ref(),
                    "qcow2".as_ref(),
                    "-b".as_ref(),
                    self.disk.base.as_os_str(),
                    overlay.as_os_str(),
                ],
            )
            .await?;
        // The machine id goes on the kernel command line: systemd needs it
        // before any unit runs, long before the seed disk is read.
        let (ids, seeded): (Vec<&GuestFile>, Vec<&GuestFile>) =
            files.iter().partition(|f| f.path == Path::new("/etc/machine-id"));
        if let Some(id) = ids.first() {
            let path = dir.join("machine-id");
            std::fs::write(&path, &id.contents).map_err(|source| BackendError::Io {
                what: "cannot write",
                path,
                source,
            })?;
        }
        let seeded: Vec<GuestFile> = seeded.into_iter().cloned().collect();
        vm_disk::seed_disk(&dir.join("seed.img"), &seeded)
            .await
            .map_err(|e| BackendError::Node { node: host.name.clone(), problem: format!("seed disk: {e}") })?;
        Ok(())
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        if self.pid(node).is_some() {
            return Ok(());
        }
        self.launch(node, None).await?;
        // A pulled cable stays pulled across a power cycle.
        if !self.link_is_up(node).await? {
            self.set_link(node, false).await?;
        }
        Ok(())
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        self.quit(node).await
    }

    async fn reset(&self, node: &str) -> Result<(), BackendError> {
        if self.pid(node).is_none() {
            return self.start(node).await;
        }
        self.qmp(node).await?.system_reset().await.map_err(|e| qmp_error(node, e))
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        Ok(self.pid(node).is_some())
    }

    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        let marker = self.link_down_marker(node);
        if up {
            let _ = std::fs::remove_file(&marker);
        } else {
            std::fs::write(&marker, "").map_err(|source| BackendError::Io {
                what: "cannot write",
                path: marker,
                source,
            })?;
        }
        if self.pid(node).is_none() {
            // Applied when the VM is powered on.
            return Ok(());
        }
        self.qmp(node).await?.set_link(NIC, up).await.map_err(|e| qmp_error(node, e))
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        Ok(!self.link_down_marker(node).exists())
    }

    /// The QEMU process joins a cpu cgroup of its own (the lab's, where
    /// `lab destroy` finds it) and is throttled there: every thread, its
    /// vCPUs' included, as on a host that gives the VM too little time.
    async fn limit_cpu(&self, node: &str, percent: Option<u32>) -> Result<(), BackendError> {
        let cgroups = Cgroups::of_node(&self.paths.netns(), node);
        let Some(pid) = self.pid(node) else { return Ok(()) };
        let io = |source| BackendError::Io { what: "cannot limit the CPU of", path: self.dir(node), source };
        match percent {
            None if !cgroups.exist() => Ok(()),
            None => cgroups.limit_cpu(None).map_err(io),
            Some(percent) => {
                cgroups.create().map_err(io)?;
                cgroups.limit_cpu(Some(percent * self.vm.cpus)).map_err(io)?;
                cgroups.join(pid).map_err(io)
            }
        }
    }

    async fn save_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        let mut monitors = Vec::new();
        for node in nodes {
            if self.pid(node).is_none() {
                return Err(BackendError::Node { node: node.clone(), problem: "must run for a live snapshot".into() });
            }
            monitors.push((node, self.qmp(node).await?));
        }
        for (node, qmp) in &mut monitors {
            qmp.stop().await.map_err(|e| qmp_error(node, e))?;
        }
        let mut saved = Ok(());
        for (node, qmp) in &mut monitors {
            if let Err(e) = qmp.save_snapshot(name).await {
                saved = Err(qmp_error(node, e));
                break;
            }
        }
        // Resume even after a failed save: a paused lab helps nobody.
        for (node, qmp) in &mut monitors {
            qmp.cont().await.map_err(|e| qmp_error(node, e))?;
        }
        saved?;
        crate::backend::mark_snapshot(&self.paths, name)
    }

    async fn restore_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        if !self.paths.snapshot(name).is_dir() || !self.has_snapshot(name, nodes).await? {
            return Err(BackendError::NoSnapshot { name: name.to_owned() });
        }
        let mut running = Vec::new();
        for node in nodes {
            if self.pid(node).is_some() {
                running.push((node, self.qmp(node).await?));
            } else {
                self.launch(node, Some(name)).await?;
            }
        }
        for (node, qmp) in &mut running {
            qmp.stop().await.map_err(|e| qmp_error(node, e))?;
        }
        for (node, qmp) in &mut running {
            qmp.load_snapshot(name).await.map_err(|e| qmp_error(node, e))?;
        }
        for (node, qmp) in &mut running {
            qmp.cont().await.map_err(|e| qmp_error(node, e))?;
        }
        // A QMP socket serves one client at a time: close these sessions first.
        drop(running);
        // loadvm leaves the cable and the CPU share as they were: plug
        // every cable back in, give every VM its CPUs back.
        for node in nodes {
            self.set_link(node, true).await?;
            self.limit_cpu(node, None).await?;
        }
        Ok(())
    }

    async fn delete_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        if !self.paths.snapshot(name).is_dir() {
            return Err(BackendError::NoSnapshot { name: name.to_owned() });
        }
        for node in nodes {
            if !self.has_snapshot(name, std::slice::from_ref(node)).await? {
                continue;
            }
            if self.pid(node).is_some() {
                self.qmp(node).await?.delete_snapshot(name).await.map_err(|e| qmp_error(node, e))?;
            } else {
                let overlay = self.overlay(node);
                let args = ["snapshot".as_ref(), "-d".as_ref(), name.as_ref(), overlay.as_os_str()];
                self.host.run("qemu-img", args).await?;
            }
        }
        crate::backend::unmark_snapshot(&self.paths, name)
    }

    fn capabilities(&self) -> Capabilities {
        let watchdog = self.topology.fencing == Fencing::Sbd;
        Capabilities { own_kernel: true, live_snapshots: true, link_shaping: true, watchdog }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn vms() -> QemuVms {
        let mut topology = Topology::from_config(&Config::defaults().expect("config"), "img").expect("topology");
        topology.vm = Some(VmSpec {
            accel: crate::backend::accel::Accel::Tcg,
            memory_mb: 1024,
            witness_memory_mb: 512,
            cpus: 1,
            time_factor: 8.0,
            boot: VmBoot::Kernel,
        });
        QemuVms::new(LabPaths::new(Path::new("/state"), "t"), topology).expect("vms")
    }

    #[test]
    fn kernel_command_line_configures_the_node() {
        let vms = vms();
        let a = vms.spec("tuchanka-a").expect("a");
        let line = kernel_command_line(a, &vms.topology, "0123");
        assert!(line.contains("ip=192.168.89.11:::255.255.255.0:tuchanka-a:eth0:off"), "{line}");
        assert!(line.contains("systemd.hostname=tuchanka-a") && line.contains("systemd.machine_id=0123"), "{line}");
        assert!(!kernel_command_line(a, &vms.topology, "").contains("machine_id"));
    }

    #[test]
    fn only_emulated_guests_keep_time_on_the_hpet() {
        let mut vms = vms();
        let a = vms.spec("tuchanka-a").expect("a").clone();
        assert!(kernel_command_line(&a, &vms.topology, "").ends_with(" clocksource=hpet tsc=unstable"));
        vms.topology.vm.as_mut().expect("vm").accel = crate::backend::accel::Accel::Kvm;
        assert!(!kernel_command_line(&a, &vms.topology, "").contains("clocksource"));
    }

    #[test]
    fn command_line_has_tap_qmp_console_and_memory_per_role() {
        let vms = vms();
        let a = vms.command_line("tuchanka-a", None).expect("a").join(" ");
        for needed in [
            "-accel tcg,tb-size=256",
            "-m 1024",
            "ifname=t-tuchanka-a,script=no",
            "id=nic0,mac=52:54:00:89:59:0b",
            "-qmp unix:/run/lab/t/tuchanka-a.qmp,server=on,wait=off",
            "path=/state/labs/t/nodes/tuchanka-a/console.log,append=on",
            "file=/state/labs/t/nodes/tuchanka-a/disk.qcow2,if=virtio,format=qcow2",
            "seed.img,if=virtio,format=raw,readonly=on",
            "-kernel /state/images/img/vm-",
        ] {
            assert!(a.contains(needed), "{needed} missing from {a}");
        }
        assert!(!a.contains("-loadvm"));
        let (root, seed) = (a.find("disk.qcow2").expect("root"), a.find("seed.img").expect("seed"));
        assert!(root < seed, "the root disk is vda, the seed disk vdb: {a}");
        let w = vms.command_line("witness", Some("setup")).expect("w").join(" ");
        assert!(w.contains("-m 512") && w.ends_with("-loadvm setup"), "{w}");
        assert!(vms.command_line("nobody", None).is_err());
    }

    #[test]
    fn only_nodes_of_labs_fenced_by_sbd_have_a_watchdog() {
        let mut vms = vms();
        let line = |vms: &QemuVms, host: &str| vms.command_line(host, None).expect("line").join(" ");
        assert!(!line(&vms, "tuchanka-a").contains("i6300esb"));
        assert!(!vms.capabilities().watchdog);
        vms.topology.fencing = Fencing::Sbd;
        let a = line(&vms, "tuchanka-a");
        assert!(a.contains("-device i6300esb,id=watchdog -action watchdog=reset"), "{a}");
        assert!(a.find("i6300esb") < a.find("-qmp"), "devices come before the monitor: {a}");
        assert!(!line(&vms, "witness").contains("i6300esb"), "the witness is never fenced");
        assert!(vms.capabilities().watchdog);
    }

    #[test]
    fn an_installed_vm_boots_its_own_disk_through_the_firmware() {
        let mut vms = vms();
        vms.vm.boot = VmBoot::Disk;
        let a = vms.command_line("tuchanka-a", None).expect("a").join(" ");
        for gone in ["-kernel", "-initrd", "-append", "seed.img"] {
            assert!(!a.contains(gone), "{gone} in {a}");
        }
        assert!(a.contains("-drive file=/state/labs/t/nodes/tuchanka-a/disk.qcow2,if=virtio,format=qcow2"), "{a}");
        assert!(a.contains("mac=52:54:00:89:59:0b") && a.contains("-qmp unix:") && a.ends_with("-daemonize"), "{a}");
    }

    #[test]
    fn snapshot_listing_is_parsed() {
        let listing = "Snapshot list:\nID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n\
                       1         install           329 MiB 2026-11-24 07:01:02 00:01:12.345           \n\
                       2         setup             412 MiB 2026-11-24 07:09:40 00:09:50.001           \n";
        assert_eq!(snapshot_names(listing), ["install", "setup"]);
        assert!(snapshot_names("There is no snapshot available.\n").is_empty());
        assert!(snapshot_names("").is_empty());
    }

    #[test]
    fn lab_without_vm_settings_is_refused() {
        let topology = Topology::from_config(&Config::defaults().expect("config"), "img").expect("topology");
        let err = QemuVms::new(LabPaths::new(Path::new("/s"), "t"), topology).expect_err("no vm");
        assert!(err.to_string().contains("--backend qemu"), "{err}");
    }
}
