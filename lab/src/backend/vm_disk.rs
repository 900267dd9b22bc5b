//! The guest image as a VM disk: the same root directory the containers
//! boot, turned into a qcow2 base that every VM's own overlay disk is
//! backed by, plus the image's kernel and initrd for direct kernel boot.
//!
//! A VM needs a little more than a container: systemd-networkd with the
//! kernel command line's `ip=` (so each VM gets its address without a
//! per-VM disk write), and a one-shot unit that copies the VM's own files
//! (keys, hosts, fence agent) from a small seed disk on its first boot.
//! These are layered over the shared root with overlayfs while the disk is
//! made, so the root directory the containers use stays untouched.
//!
//! Per VM, [`seed_disk`] makes that seed disk: an ext4 image labelled
//! `labseed` holding the files under `files/`.

use std::path::{Path, PathBuf};

use crate::backend::{GuestFile, write_tree};
use crate::host::Host;
use crate::install::image::{Image, ImageError};
use crate::progress::Progress;

/// Size of the root file system; the qcow2 only stores what is written.
const DISK_SIZE: &str = "6G";
/// Size of a VM's seed disk (keys and a few small files).
const SEED_SIZE: &str = "4M";
/// Label of the seed disk, as `lab-seed.service` waits for it.
pub const SEED_LABEL: &str = "labseed";

const SEED_UNIT: &str = include_str!("../../guest/vm/lab-seed.service");
const SEED_SCRIPT: &str = include_str!("../../guest/vm/lab-seed");

/// The VM form of a guest image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmDisk {
    /// qcow2 base; VMs get overlays backed by it and never write to it.
    pub base: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

impl VmDisk {
    /// Where the VM disk of `image_dir` (`images/<key>`) lives.
    pub fn at(image_dir: &Path) -> Self {
        let dir = image_dir.join(format!("vm-{}", layer_key()));
        VmDisk { base: dir.join("base.qcow2"), kernel: dir.join("vmlinuz"), initrd: dir.join("initrd.img") }
    }

    fn dir(&self) -> &Path {
        self.base.parent().unwrap_or(Path::new("."))
    }

    pub fn is_complete(&self) -> bool {
        self.dir().join("complete").exists()
    }
}

/// Services the image starts at boot that a VM must not: lab's scripts
/// enable what each host needs. On a TCG-emulated VM, starting and then
/// stopping them all on the first boot costs minutes.
const NO_AUTOSTART: &[&str] = &[
    "corosync.service",
    "pacemaker.service",
    "postgresql.service",
    "redis-server.service",
    "pcsd.service",
    "pcsd-ruby.service",
    "corosync-qnetd.service",
];

/// Identifies the VM-only layer, so a change to it makes a new VM disk.
fn layer_key() -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{:?}{NO_AUTOSTART:?}", vm_only_files()).as_bytes());
    hex::encode(&digest[..4])
}

/// Hides `path` of the lower layer in an overlayfs upper directory
/// (a whiteout: a character device 0:0).
fn whiteout(upper: &Path, path: &str) -> std::io::Result<()> {
    let target = upper.join(path.trim_start_matches('/'));
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o000);
    nix::sys::stat::mknod(&target, nix::sys::stat::SFlag::S_IFCHR, mode, 0).map_err(std::io::Error::from)
}

/// The error for an I/O failure on `path`, for `map_err`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError {
    let path = path.to_owned();
    move |source| ImageError::Io { path, source }
}

/// Makes an ext4 file system image of `size` labelled `label` at `image`,
/// holding the tree under `from` (`mkfs.ext4 -d`: no mount, no root shell).
async fn mkfs_ext4(label: &str, from: &Path, image: &Path, size: &str) -> Result<(), ImageError> {
    let args = ["-q".as_ref(), "-F".as_ref(), "-L".as_ref(), label.as_ref(), "-d".as_ref(), from.as_os_str()];
    Host.run("mkfs.ext4", args.into_iter().chain([image.as_os_str(), size.as_ref()])).await?;
    Ok(())
}

/// Files only the VM disk has: networkd with the kernel's `ip=`, and the seed unit.
fn vm_only_files() -> Vec<GuestFile> {
    let link = |path: &str, target: &str| GuestFile::symlink(path, target);
    let file = |path: &str, contents: &str, mode: u32| GuestFile::new(path, contents.as_bytes().to_vec(), mode);
    vec![
        file("/etc/systemd/system/lab-seed.service", SEED_UNIT, 0o644),
        file("/usr/local/sbin/lab-seed", SEED_SCRIPT, 0o755),
        file("/etc/fstab", "# lab: the root file system is given on the kernel command line.\n", 0o644),
        link("/etc/systemd/system/multi-user.target.wants/lab-seed.service", "/etc/systemd/system/lab-seed.service"),
        link(
            "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
            "/lib/systemd/system/systemd-networkd.service",
        ),
        link(
            "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
            "/lib/systemd/system/systemd-networkd.socket",
        ),
        link(
            "/etc/systemd/system/sysinit.target.wants/systemd-network-generator.service",
            "/lib/systemd/system/systemd-network-generator.service",
        ),
        link(
            "/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
            "/lib/systemd/system/serial-getty@.service",
        ),
    ]
}

/// Returns the VM disk of `image`, making it first if needed (~15 s).
pub async fn ensure(image: &Image, progress: &Progress) -> Result<VmDisk, ImageError> {
    let image_dir = image.rootfs.parent().unwrap_or(Path::new(".")).to_owned();
    let disk = VmDisk::at(&image_dir);
    if disk.is_complete() {
        tracing::info!(base = %disk.base.display(), "VM disk cached");
        return Ok(disk);
    }
    crate::host::require(&["qemu-img", "mkfs.ext4"])?;
    let step = progress.step(format!("make the VM disk of image {}", image.key));
    let images = image_dir.parent().unwrap_or(Path::new("."));
    let _making = crate::install::image::lock_image(images, &image.key)?;
    let partial = image_dir.join(format!("vm-{}.partial", layer_key()));
    crate::mounts::remove_tree(&Host, &partial).await?;
    for sub in ["extra", "work", "merged"] {
        std::fs::create_dir_all(partial.join(sub)).map_err(io(&partial))?;
    }
    write_tree(&partial.join("extra"), &vm_only_files()).map_err(io(&partial))?;
    for service in NO_AUTOSTART {
        let wanted = format!("/etc/systemd/system/multi-user.target.wants/{service}");
        if image.rootfs.join(wanted.trim_start_matches('/')).is_symlink() {
            whiteout(&partial.join("extra"), &wanted).map_err(io(&partial))?;
        }
    }
    let merged = partial.join("merged");
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        image.rootfs.display(),
        partial.join("extra").display(),
        partial.join("work").display()
    );
    let host = Host;
    host.run(
        "mount",
        ["-t".as_ref(), "overlay".as_ref(), "overlay".as_ref(), "-o".as_ref(), options.as_ref(), merged.as_os_str()],
    )
    .await?;
    let raw = partial.join("base.raw");
    step.detail("mkfs.ext4 -d (copies the whole root)");
    let made = mkfs_ext4("root", &merged, &raw, DISK_SIZE).await;
    let unmounted = crate::mounts::unmount(&host, &merged).await;
    made?;
    unmounted.map_err(|e| ImageError::Recipe { name: image.key.clone(), message: e.to_string() })?;
    step.detail("qemu-img convert to qcow2");
    let qcow2 = partial.join("base.qcow2");
    host.run("qemu-img", ["convert".as_ref(), "-O".as_ref(), "qcow2".as_ref(), raw.as_os_str(), qcow2.as_os_str()])
        .await?;
    std::fs::remove_file(&raw).map_err(io(&raw))?;
    // Debian keeps /vmlinuz and /initrd.img pointing at the default kernel.
    for name in ["vmlinuz", "initrd.img"] {
        let link = image.rootfs.join(name);
        let target = std::fs::read_link(&link).map_err(|_| ImageError::Recipe {
            name: image.key.clone(),
            message: format!("no {} link: the recipe must install linux-image-amd64", link.display()),
        })?;
        let found = image.rootfs.join(target.strip_prefix("/").unwrap_or(&target));
        std::fs::copy(&found, partial.join(name)).map_err(io(&found))?;
    }
    for sub in ["extra", "work", "merged"] {
        std::fs::remove_dir_all(partial.join(sub)).map_err(io(&partial))?;
    }
    std::fs::write(partial.join("complete"), "").map_err(io(&partial))?;
    let dir = disk.dir().to_owned();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    std::fs::rename(&partial, &dir).map_err(io(&dir))?;
    step.done();
    Ok(disk)
}

/// Makes a VM's seed disk at `path` holding `files`.
pub async fn seed_disk(path: &Path, files: &[GuestFile]) -> Result<(), ImageError> {
    let staging = path.with_extension("d");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    write_tree(&staging.join("files"), files).map_err(io(&staging))?;
    let made = mkfs_ext4(SEED_LABEL, &staging, path, SEED_SIZE).await;
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    made
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn vm_files_enable_networkd_and_the_seed_unit() {
        let files = vm_only_files();
        let has = |p: &str| files.iter().any(|f| f.path == Path::new(p));
        assert!(has("/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"));
        assert!(has("/etc/systemd/system/sysinit.target.wants/systemd-network-generator.service"));
        assert!(has("/etc/systemd/system/multi-user.target.wants/lab-seed.service"));
        assert!(SEED_UNIT.contains("labseed") && SEED_SCRIPT.contains("LABEL=labseed"), "one label everywhere");
    }

    #[test]
    fn a_whiteout_hides_a_lower_file_from_the_merged_view() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().expect("tempdir");
        whiteout(dir.path(), "/etc/systemd/system/multi-user.target.wants/pacemaker.service").expect("mknod (root)");
        let meta =
            std::fs::symlink_metadata(dir.path().join("etc/systemd/system/multi-user.target.wants/pacemaker.service"))
                .expect("whiteout");
        assert!(meta.file_type().is_char_device());
        assert_eq!(std::os::unix::fs::MetadataExt::rdev(&meta), 0, "overlayfs whiteouts are device 0:0");
    }

    #[test]
    fn the_vm_disk_lives_in_a_directory_named_after_its_layer() {
        let disk = VmDisk::at(Path::new("/images/abc"));
        assert_eq!(disk.base, Path::new("/images/abc").join(format!("vm-{}", layer_key())).join("base.qcow2"));
        assert_eq!(layer_key().len(), 8);
    }

    #[tokio::test]
    async fn a_seed_disk_is_a_labelled_ext4_holding_the_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("seed.img");
        seed_disk(&image, &[GuestFile::new("/etc/lab/token", b"secret".to_vec(), 0o600)]).await.expect("seed disk");
        let label = Host.run("e2label", [image.as_os_str()]).await.expect("e2label");
        assert_eq!(label.trim(), SEED_LABEL);
        let cat = ["-R".as_ref(), "cat /files/etc/lab/token".as_ref(), image.as_os_str()];
        let token = Host.run("debugfs", cat).await.expect("debugfs");
        assert_eq!(token, "secret");
        assert!(!image.with_extension("d").exists(), "the staging tree is removed");
    }

    #[test]
    fn written_tree_keeps_modes_and_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = vec![
            GuestFile::new("/etc/lab/secret", b"x".to_vec(), 0o600),
            GuestFile::symlink("/etc/a.link", "/etc/lab/secret"),
        ];
        write_tree(dir.path(), &files).expect("write");
        let meta = std::fs::metadata(dir.path().join("etc/lab/secret")).expect("file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_link(dir.path().join("etc/a.link")).expect("link"), Path::new("/etc/lab/secret"));
    }
}
