//! File systems mounted inside lab's directories, and removing a directory
//! tree that may hold some.
//!
//! Node roots are overlay mounts; a VM disk is made through one; an image
//! build that is interrupted leaves `proc`, `sys`, `dev/pts` and a
//! read-write bind of the host's `/dev/shm` mounted under its root.
//! `remove_dir_all` on such a tree walks into the mounts: it could empty
//! the host's /dev/shm. [`remove_tree`] unmounts everything below first
//! (lazily when busy) and never deletes across a file-system boundary.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::{Host, HostError};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{path} is still mounted after a lazy unmount; unmount it by hand (umount -l {path}) and try again")]
    StillMounted { path: String },
    #[error("not removing {path}: it is another file system than {root} (a mount point left inside)")]
    OtherFileSystem { path: String, root: String },
    #[error("cannot remove {path}: {source}")]
    Remove { path: String, source: std::io::Error },
}

pub fn is_mounted(path: &Path) -> bool {
    mounts_under(path).iter().any(|m| m == path)
}

/// Mount points at or below `path`, deepest first (the order to unmount them).
pub fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mounts") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(path))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Unmounts `path`, retrying a busy mount for 5 s.
pub async fn unmount(host: &Host, path: &Path) -> Result<(), HostError> {
    for attempt in 0..20 {
        if !is_mounted(path) {
            return Ok(());
        }
        match host.run("umount", [path]).await {
            Ok(_) => {}
            Err(e) if attempt == 19 => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    Ok(())
}

/// Unmounts everything at or below `path`, deepest first; a mount still
/// busy (a process of an interrupted build still inside) is detached
/// lazily, which takes it out of the tree at once.
pub async fn unmount_all_under(host: &Host, path: &Path) -> Result<usize, MountError> {
    let mounts = mounts_under(path);
    for mount in &mounts {
        if host.run("umount", [mount]).await.is_err() {
            host.run("umount", ["-l".as_ref(), mount.as_os_str()]).await?;
        }
    }
    if let Some(left) = mounts_under(path).first() {
        return Err(MountError::StillMounted { path: left.display().to_string() });
    }
    Ok(mounts.len())
}

/// Removes the tree at `path` (nothing there: nothing to do) after
/// unmounting everything in it, staying on `path`'s own file system.
pub async fn remove_tree(host: &Host, path: &Path) -> Result<(), MountError> {
    let Ok(root) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    unmount_all_under(host, path).await?;
    remove_on_device(path, root.dev(), path)
}

fn remove_on_device(path: &Path, device: u64, root: &Path) -> Result<(), MountError> {
    let remove = |source| MountError::Remove { path: path.display().to_string(), source };
    let meta = std::fs::symlink_metadata(path).map_err(remove)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path).map_err(remove);
    }
    if meta.dev() != device {
        return Err(MountError::OtherFileSystem { path: path.display().to_string(), root: root.display().to_string() });
    }
    for entry in std::fs::read_dir(path).map_err(remove)? {
        remove_on_device(&entry.map_err(remove)?.path(), device, root)?;
    }
    std::fs::remove_dir(path).map_err(remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an interrupted image build leaves: a tmpfs and a bind of a
    /// directory standing for the host's /dev/shm inside the tree. The
    /// tree goes; what the bind showed stays. Needs root (mount).
    #[tokio::test]
    async fn a_tree_with_mounts_inside_is_removed_without_touching_what_they_show() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shm = dir.path().join("host-shm");
        std::fs::create_dir_all(&shm).expect("shm");
        std::fs::write(shm.join("precious"), "keep").expect("write");
        let tree = dir.path().join("image.partial");
        let rootfs = tree.join("rootfs");
        for sub in ["proc", "dev/shm", "etc"] {
            std::fs::create_dir_all(rootfs.join(sub)).expect("mkdir");
        }
        std::fs::write(rootfs.join("etc/hostname"), "node").expect("write");
        let host = Host;
        host.run("mount", ["-t", "tmpfs", "tmpfs", rootfs.join("proc").to_str().expect("utf8")]).await.expect("tmpfs");
        host.run("mount", ["--bind", shm.to_str().expect("utf8"), rootfs.join("dev/shm").to_str().expect("utf8")])
            .await
            .expect("bind");
        std::fs::write(rootfs.join("proc/inside"), "x").expect("write");

        remove_tree(&host, &tree).await.expect("removed");
        assert!(!tree.exists());
        assert!(mounts_under(dir.path()).is_empty(), "nothing left mounted");
        assert_eq!(
            std::fs::read_to_string(shm.join("precious")).expect("kept"),
            "keep",
            "the bound directory is intact"
        );
        remove_tree(&host, &tree).await.expect("a missing tree is no error");
    }

    #[test]
    fn removal_stops_at_another_file_system() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("file"), "x").expect("write");
        let device = std::fs::metadata(dir.path()).expect("meta").dev();
        let error = remove_on_device(dir.path(), device + 1, Path::new("/elsewhere")).expect_err("refused");
        assert!(matches!(error, MountError::OtherFileSystem { .. }), "{error}");
        assert!(dir.path().join("file").exists(), "nothing removed across the boundary");
    }
}
