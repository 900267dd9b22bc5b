//! Installing a QEMU VM from a RHEL-like ISO: the ISO's own installer
//! kernel boots with lab's kickstart on an OEMDRV disk (see
//! [`crate::install::kickstart`]) and the VM's network card on the lab bridge, where
//! lab serves the repositories the ISO lacks (see [`crate::install::repo_mirror`]).
//! The kickstart powers the VM off at its end; lab then checks that the
//! disk holds a boot loader, since an installer that gave up may power off
//! too, and from then on the VM boots that disk ([`VmBoot::Disk`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{QemuVms, clock_args};
use crate::backend::{BackendError, GuestFile};
use crate::host::HostError;
use crate::install::kickstart::{IsoInstall, Machine};
use crate::topology::{HostSpec, VmBoot};

/// Memory of a VM while it installs: anaconda needs about 2 GiB whatever
/// the host becomes.
const INSTALLER_MEMORY_MB: u32 = 2048;
/// The installed disk as the kickstart names it (the first virtio disk).
const INSTALL_DISK: &str = "vda";

/// How this lab's hosts are installed from an ISO.
#[derive(Clone, Debug)]
pub struct QemuInstall {
    pub media: IsoInstall,
    /// Size of each host's disk.
    pub disk_gb: u32,
    /// How long one host's installation may take.
    pub timeout: Duration,
}

/// Where the installer's kernel and initrd are copied out of the ISO, once per lab.
#[derive(Clone, Debug)]
struct InstallerBoot {
    kernel: PathBuf,
    initrd: PathBuf,
}

impl QemuVms {
    fn installer_boot_paths(&self) -> InstallerBoot {
        let dir = self.paths.root().join("installer");
        InstallerBoot { kernel: dir.join("vmlinuz"), initrd: dir.join("initrd.img") }
    }

    /// The QEMU command line that installs `host` from the ISO: its
    /// installer with the kickstart at `oemdrv`, until the kickstart powers
    /// the VM off (`-no-reboot`: an installer that reboots instead ends too,
    /// rather than starting over).
    pub fn install_command_line(&self, host: &HostSpec, install: &QemuInstall, oemdrv: &Path) -> Vec<String> {
        let boot = self.installer_boot_paths();
        let memory = self.memory_mb(host).max(INSTALLER_MEMORY_MB);
        let mut args = self.machine_args(&host.name, &format!("{}-install", host.name), memory);
        let media = &install.media;
        args.extend(crate::install::kickstart::qemu_install_args(
            &media.iso,
            &media.info,
            &boot.kernel,
            &boot.initrd,
            oemdrv,
        ));
        args.extend(self.disk_args(&host.name));
        args.extend(self.nic_console_args(host));
        args.push("-no-reboot".into());
        args
    }

    /// Copies the installer's kernel and initrd out of the ISO, once for all hosts.
    async fn extract_installer(&self, node: &str, install: &QemuInstall) -> Result<(), BackendError> {
        self.installer_extracted
            .get_or_try_init(|| async {
                let (iso, info, to) =
                    (install.media.iso.clone(), install.media.info.clone(), self.installer_boot_paths());
                let dir = to.kernel.parent().map(Path::to_owned).unwrap_or_default();
                std::fs::create_dir_all(&dir).map_err(|source| BackendError::Io {
                    what: "cannot create",
                    path: dir,
                    source,
                })?;
                blocking(node, "installer: ", move || {
                    crate::install::iso::extract(&iso, &info.kernel, &to.kernel)?;
                    crate::install::iso::extract(&iso, &info.initrd, &to.initrd)
                })
                .await
            })
            .await?;
        Ok(())
    }

    /// Makes `host`'s disk and installs it from the ISO; `files` travel in
    /// the kickstart. Ends with the VM powered off.
    pub(super) async fn install(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        let node = host.name.as_str();
        let install = self.install.as_ref().ok_or_else(|| BackendError::Node {
            node: node.to_owned(),
            problem: "cannot be installed: no installation ISO given (`lab make-all ISO KEY.pub`)".into(),
        })?;
        debug_assert_eq!(self.vm.boot, VmBoot::Disk);
        self.extract_installer(node, install).await?;
        let dir = self.dir(node);
        let disk = self.overlay(node);
        let size = format!("{}G", install.disk_gb);
        let create = ["create".as_ref(), "-q".as_ref(), "-f".as_ref(), "qcow2".as_ref(), disk.as_os_str()];
        self.host.run("qemu-img", create.into_iter().chain([size.as_ref()])).await?;

        let machine = Machine {
            lab_nic: crate::backend::node_mac(host.address),
            uplink_nic: None,
            disk: INSTALL_DISK.into(),
            boot_args: clock_args(&self.vm).into_iter().map(str::to_owned).collect(),
        };
        let kickstart = install
            .media
            .kickstart(host, &self.topology, machine, files)
            .map_err(|error| BackendError::Node { node: node.to_owned(), problem: error.to_string() })?;
        // It carries the host's private keys.
        let ks_path = dir.join(crate::install::kickstart::KS_FILE);
        crate::secrets::write_private(&ks_path, kickstart.as_bytes()).map_err(|source| BackendError::Io {
            what: "cannot write",
            path: ks_path,
            source,
        })?;
        let oemdrv = dir.join("oemdrv.iso");
        let image = oemdrv.clone();
        blocking(node, "", move || crate::install::kickstart::oemdrv_image(&kickstart, &image)).await?;

        let installed = self.run_installer(host, install, &oemdrv).await;
        let _ = std::fs::remove_file(&oemdrv);
        installed?;
        if !self.has_boot_loader(node).await? {
            return Err(self.install_failed(node, "the installer powered off without writing a boot loader"));
        }
        Ok(())
    }

    /// Runs the installer VM until it powers off.
    async fn run_installer(&self, host: &HostSpec, install: &QemuInstall, oemdrv: &Path) -> Result<(), BackendError> {
        let node = host.name.as_str();
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", self.network.lab_ns()]).args(self.install_command_line(host, install, oemdrv));
        // A run dropped at the timeout (or by Ctrl-C) kills QEMU with it: `ip` execs it.
        match tokio::time::timeout(install.timeout, self.host.output(command)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(HostError::Failed { status, stderr, .. })) => {
                Err(self.install_failed(node, &format!("QEMU {status}: {stderr}")))
            }
            Ok(Err(other)) => Err(other.into()),
            Err(_) => {
                let what = format!("it did not power off within {} s", install.timeout.as_secs());
                Err(self.install_failed(node, &what))
            }
        }
    }

    /// Whether the first sector of `node`'s disk ends with the boot signature.
    async fn has_boot_loader(&self, node: &str) -> Result<bool, BackendError> {
        let sector = self.dir(node).join("first-sector.raw");
        let (input, output) = (format!("if={}", self.overlay(node).display()), format!("of={}", sector.display()));
        let args = ["dd", "-f", "qcow2", "-O", "raw", "bs=512", "count=1", &input, &output];
        self.host.run("qemu-img", args).await?;
        let read = std::fs::read(&sector);
        let _ = std::fs::remove_file(&sector);
        let bytes = read.map_err(|source| BackendError::Io { what: "cannot read", path: sector, source })?;
        Ok(bytes.get(510..512) == Some(&[0x55, 0xaa][..]))
    }

    fn install_failed(&self, node: &str, what: &str) -> BackendError {
        BackendError::not_installed(node, what, &self.paths.console(node))
    }
}

/// Runs blocking work (xorriso) off the runtime, so the hosts' installs
/// go on meanwhile; its error is `node`'s, after `context`.
async fn blocking<T, E>(
    node: &str,
    context: &str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, BackendError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let problem =
        |e: &dyn std::fmt::Display| BackendError::Node { node: node.to_owned(), problem: format!("{context}{e}") };
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| problem(&e)),
        Err(join) => Err(problem(&join)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::install::iso::IsoInfo;
    use crate::paths::LabPaths;
    use crate::topology::{Topology, VmSpec};

    #[test]
    fn the_installer_boots_the_isos_kernel_with_the_kickstart_and_ends_at_power_off() {
        let mut topology = Topology::from_config(&Config::defaults().expect("config"), "Rocky-9").expect("topology");
        let vm = VmSpec {
            accel: crate::backend::accel::Accel::Tcg,
            memory_mb: 1024,
            witness_memory_mb: 512,
            cpus: 1,
            time_factor: 1.0,
            boot: VmBoot::Disk,
        };
        topology.vm = Some(vm);
        let vms = QemuVms::new(LabPaths::new(Path::new("/state"), "t"), topology.clone()).expect("vms");
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4z5iK1D0NdwKlKdYJs20SxkDKdkhnfEzRV6zjg1GR7 root@lab";
        let install = QemuInstall {
            media: IsoInstall {
                iso: "/isos/rocky.iso".into(),
                info: IsoInfo::centos7_example(),
                root_key: crate::install::pubkey::PublicKey::parse(key).expect("key"),
                root_password_hash: "$6$salt$hash".into(),
                repos: Vec::new(),
            },
            disk_gb: 16,
            timeout: Duration::from_secs(60),
        };
        let witness = topology.host("witness").expect("witness");
        let line = vms.install_command_line(witness, &install, Path::new("/state/labs/t/nodes/witness/oemdrv.iso"));
        let line = line.join(" ");
        for needed in [
            "-name witness,process=lab-tuchanka-witness-install",
            "-m 2048",
            "-kernel /state/labs/t/installer/vmlinuz -initrd /state/labs/t/installer/initrd.img",
            "inst.ks=hd:LABEL=OEMDRV:/ks.cfg",
            "file=/isos/rocky.iso,media=cdrom,readonly=on",
            "file=/state/labs/t/nodes/witness/oemdrv.iso,media=cdrom,readonly=on",
            "file=/state/labs/t/nodes/witness/disk.qcow2,if=virtio,format=qcow2",
            "ifname=t-witness,script=no",
            "path=/state/labs/t/nodes/witness/console.log,append=on",
        ] {
            assert!(line.contains(needed), "{needed} missing from {line}");
        }
        assert!(line.ends_with(" -no-reboot"), "{line}");
        assert!(!line.contains("-daemonize") && !line.contains("-loadvm"), "{line}");
    }
}
