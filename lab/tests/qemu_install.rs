//! `lab --backend qemu make-all ISO KEY.pub` for real, but for the
//! installer: three real QEMU VMs (TCG here) inside the lab's network
//! namespace boot the kernel and initrd lab extracts from the ISO, read
//! lab's kickstart from the OEMDRV disk, fetch the repositories lab serves
//! from `[qemu] repo_mirror` on the lab network, write their disk and power
//! off; then lab boots each VM from its disk through the firmware.
//!
//! The installer is a FAKE: no RHEL-like ISO (nor its anaconda) can be had
//! here. It is the guest image's own Debian kernel and initrd with a busybox
//! `/init` (`fake_installer_init`) that does what lab relies on anaconda
//! for: find the stage 2 ISO by its label, read the kickstart from OEMDRV,
//! configure the card the kickstart names by its MAC, fetch every
//! `repo --baseurl`'s metadata, write a boot sector and power off — or, on
//! a failure, stop and wait as anaconda does. The "installed system" is
//! that boot sector, which prints a line on the serial console and halts, so
//! no host ever answers ssh and make-all ends there (`--keep-failed` keeps
//! the lab to look at; `lab destroy` removes it).
//!
//! Needs root, qemu-system-x86, qemu-utils, xorriso, busybox-static and the
//! guest image (built by lab if not cached: mmdebstrap); a few minutes.

mod common;

use std::path::{Path, PathBuf};

use common::installer::{ROCKY9_TREEINFO, iso};
use common::{LabCli, json};

const LABEL: &str = "Rocky-9-3-x86_64-dvd";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcBL1VtUC1JiSbn8ZhQ3iAlbMNHfzCTGVNJA+ir3ELT alice@laptop\n";
const HOSTS: [&str; 3] = ["tuchanka-a", "tuchanka-b", "witness"];
/// What the boot sector of the "installed system" prints.
const BOOTED: &str = "lab test: booted the installed disk";

/// The FAKE installer's `/init` (busybox sh).
fn fake_installer_init() -> String {
    r#"#!/lab/busybox sh
# FAKE installer for lab's tests: what lab relies on anaconda for, nothing more.
/lab/busybox mkdir -p /lab/bin && /lab/busybox --install -s /lab/bin
export PATH=/lab/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
say() { echo "fake installer: $*"; }
fail() { say "FAILED: $*"; while :; do sleep 3600; done; }
for module in virtio_pci ahci sr_mod isofs virtio_blk virtio_net; do
    /usr/sbin/modprobe "$module" || fail "modprobe $module"
done
for i in $(seq 30); do [ -b /dev/sr1 ] && [ -b /dev/vda ] && break; sleep 1; done
stage2=$(sed -n 's/.*inst.stage2=hd:LABEL=\([^ ]*\).*/\1/p' /proc/cmdline)
# The volume id: 32 bytes at 32808, padded with spaces.
label() { dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | sed 's/ *$//'; }
for cd in /dev/sr*; do [ "$(label "$cd")" = "$stage2" ] && found=$cd; done
[ -n "$found" ] || fail "no stage 2 ISO labelled $stage2"
mkdir -p /ks
for cd in /dev/sr*; do
    mount -t iso9660 -o ro "$cd" /ks 2>/dev/null || continue
    [ -f /ks/ks.cfg ] && break
    umount /ks
done
[ -f /ks/ks.cfg ] || fail "no kickstart on an OEMDRV disk"
line=$(grep '^network --device=' /ks/ks.cfg | head -n 1)
value() { echo "$line" | sed -n "s/.* --$1=\([^ ]*\).*/\1/p"; }
mac=$(value device); host=$(value hostname)
for dev in /sys/class/net/*; do [ "$(cat "$dev/address")" = "$mac" ] && card=${dev##*/}; done
[ -n "$card" ] || fail "no card with MAC $mac"
ifconfig "$card" "$(value ip)" netmask "$(value netmask)" up || fail "ifconfig $card"
say "kickstart of $host read; card $card ($mac) is $(value ip)"
fetched=
for repo in $(sed -n 's/^repo --name=\([^ ]*\) --baseurl=\([^ ]*\)$/\1=\2/p' /ks/ks.cfg); do
    name=${repo%%=*}; url=${repo#*=}
    for try in 1 2 3 4 5; do wget -q -O /tmp/repomd.xml "${url}repodata/repomd.xml" && break; sleep 2; done
    grep -q '<repomd' /tmp/repomd.xml || fail "repository $name: no metadata at ${url}repodata/repomd.xml"
    fetched="$fetched $name"
done
say "fetched the metadata of$fetched"
dd if=/lab/boot-sector of=/dev/vda bs=512 count=1 conv=notrunc 2>/dev/null && sync || fail "cannot write /dev/vda"
say "wrote the boot sector; powering off"
poweroff -f
"#
    .to_owned()
}

/// A boot sector that prints `message` on COM1 and halts (16-bit code:
/// ds=0, si=message, out each byte to 0x3f8 until the NUL, cli; hlt).
fn boot_sector(message: &str) -> Vec<u8> {
    let mut sector = vec![0x31, 0xc0, 0x8e, 0xd8, 0xfc, 0xbe, 0x17, 0x7c, 0xba, 0xf8, 0x03];
    sector.extend([0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4, 0xeb, 0xfd]);
    assert_eq!(sector.len(), 0x17, "the message starts where `mov si` points");
    sector.extend(format!("\r\n{message}\r\n\0").bytes());
    sector.resize(510, 0);
    sector.extend([0x55, 0xaa]);
    sector
}

/// An uncompressed `newc` cpio archive of `entries` (path, mode, contents).
fn cpio(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let pad = |out: &mut Vec<u8>| out.resize(out.len().div_ceil(4) * 4, 0);
    let trailer = ("TRAILER!!!", 0, &[][..]);
    for (ino, (name, mode, data)) in entries.iter().copied().chain([trailer]).enumerate() {
        let fields = [ino as u32 + 1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        out.extend(b"070701");
        for field in fields {
            out.extend(format!("{field:08x}").bytes());
        }
        out.extend(name.bytes());
        out.push(0);
        pad(&mut out);
        out.extend(data);
        pad(&mut out);
    }
    out
}

/// The guest image's kernel and initrd (lab builds the image if needed).
fn guest_kernel_and_initrd() -> (PathBuf, PathBuf) {
    let config = lab::config::Config::defaults().expect("defaults");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let disk = runtime.block_on(async {
        let recipe = lab::install::image::Recipe::embedded().expect("recipe");
        let progress = lab::progress::Progress::hidden();
        let images = config.lab.state_dir.join("images");
        let image =
            lab::install::image::ensure(&images, &recipe, &config.image.mirror, &progress).await.expect("image");
        lab::backend::vm_disk::ensure(&image, &progress).await.expect("VM disk")
    });
    (disk.kernel, disk.initrd)
}

/// A Rocky Linux 9 ISO whose installer is the FAKE one.
fn fake_installer_iso(dir: &Path) -> PathBuf {
    let (kernel, initrd) = guest_kernel_and_initrd();
    let mut fake_initrd = std::fs::read(&initrd).expect("initrd");
    // The kernel unpacks one archive after the other; ours replaces /init.
    fake_initrd.resize(fake_initrd.len().div_ceil(512) * 512, 0);
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox: apt-get install busybox-static");
    let init = fake_installer_init();
    fake_initrd.extend(cpio(&[
        ("lab", 0o040755, b""),
        ("lab/busybox", 0o100755, &busybox),
        ("lab/boot-sector", 0o100644, &boot_sector(BOOTED)),
        ("init", 0o100755, init.as_bytes()),
    ]));
    let kernel = std::fs::read(&kernel).expect("kernel");
    let files: [(&str, &[u8]); 3] = [
        (".treeinfo", ROCKY9_TREEINFO.as_bytes()),
        ("images/pxeboot/vmlinuz", &kernel),
        ("images/pxeboot/initrd.img", &fake_initrd),
    ];
    iso(&dir.join("Rocky-9.3-x86_64-dvd.iso"), LABEL, &files)
}

/// A repository mirror holding `repos`, each with `repomd` as its metadata.
fn mirror(dir: &Path, repos: &[&str], repomd: &str) -> PathBuf {
    let mirror = dir.join("mirror");
    for repo in repos {
        let repodata = mirror.join(repo).join("repodata");
        std::fs::create_dir_all(&repodata).expect("mkdir");
        std::fs::write(repodata.join("repomd.xml"), repomd).expect("write");
    }
    mirror
}

fn console(lab: &LabCli, host: &str) -> String {
    let path = Path::new("/var/lib/lab/labs").join(lab.name).join("nodes").join(host).join("console.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn make_all(lab: &LabCli, iso: &Path, key: &Path, mirror: &Path, extra: &[&str]) -> std::process::Output {
    let mirror = format!("qemu.repo_mirror={}", mirror.display());
    let mut args = vec!["--backend", "qemu", "--set", &mirror, "--set", "qemu.tcg_slowdown=1"];
    args.extend_from_slice(extra);
    args.extend(["make-all", "--keep-failed", iso.to_str().expect("utf8"), key.to_str().expect("utf8")]);
    lab.run(&args)
}

#[test]
#[ignore = "needs root, qemu, xorriso, busybox-static and the guest image; a few minutes under TCG"]
fn make_all_installs_vms_from_an_iso_then_boots_their_disks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let iso = fake_installer_iso(dir.path());
    let key = dir.path().join("key.pub");
    std::fs::write(&key, KEY).expect("key");
    let needed = ["highavailability", "pgdg-common", "pgdg15"];

    // An installer that stops on an error is given up after the timeout.
    let lab = LabCli { name: "e2eh" };
    let _cleanup = common::Cleanup(lab.name);
    let broken = mirror(&dir.path().join("broken"), &needed, "not metadata\n");
    let made = make_all(&lab, &iso, &key, &broken, &["--set", "qemu.install_timeout_s=150"]);
    assert_ne!(made.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(stderr.contains("was not installed: it did not power off within 150 s; see its console log"), "{stderr}");
    let console_a = console(&lab, "tuchanka-a");
    assert!(console_a.contains("fake installer: FAILED: repository highavailability: no metadata"), "{console_a}");
    let installers = std::process::Command::new("pgrep").args(["-f", "process=lab-e2eh-.*-install"]).output();
    assert!(installers.expect("pgrep").stdout.is_empty(), "installer VMs were killed at the timeout");
    lab.assert_nothing_left();

    // A mirror with what the kickstart needs, and one more repository.
    let lab = LabCli { name: "e2ei" };
    let _cleanup = common::Cleanup(lab.name);
    let good = mirror(dir.path(), &["highavailability", "pgdg-common", "pgdg15", "appstream"], "<repomd/>\n");
    let made = make_all(&lab, &iso, &key, &good, &["--set", "timeouts.boot_s=20"]);
    assert_ne!(made.status.code(), Some(0), "the installed disks run no sshd");
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(stderr.contains("did not answer ssh within 20s"), "{stderr}");
    for host in HOSTS {
        let console = console(&lab, host);
        assert!(console.contains(&format!("fake installer: kickstart of {host} read")), "{host}: {console}");
        let fetched = "fetched the metadata of highavailability pgdg-common pgdg15 appstream";
        assert!(console.contains(fetched), "{host}: {console}");
        let after = console.split("powering off").nth(1).unwrap_or_default();
        assert!(after.contains(BOOTED), "{host} booted its disk after the install: {console}");
        let node = Path::new("/var/lib/lab/labs").join(lab.name).join("nodes").join(host);
        assert!(!node.join("oemdrv.iso").exists(), "the kickstart image goes after the install");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(node.join("ks.cfg")).expect("ks").permissions());
        assert_eq!(mode & 0o777, 0o600, "the kickstart holds private keys");
    }
    let status = json(&lab.run(&["--json", "status"]));
    assert_eq!(status["backend"], "qemu");
    assert_eq!(status["distribution"]["vendor"], "rocky", "{status}");
    let hosts = status["hosts"].as_array().expect("hosts");
    assert!(hosts.iter().all(|h| h["running"] == true), "{status}");
    lab.assert_nothing_left();
}
