//! A control group per container node, by its exact name.
//!
//! A node in its own user namespace needs a cgroup it may manage (its
//! systemd makes `init.scope` and the service slices inside): lab makes one
//! per node under `lab/<lab namespace>/<node>` in every hierarchy that
//! tracks processes (cgroup2, and on hybrid hosts also v1's
//! `name=systemd`) and systemd-nspawn hands it to the node. It also names
//! every process of the node exactly, whatever namespaces they made
//! since: power-off and `lab destroy` kill by it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cgroup directories of one node, or of a whole lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroups {
    dirs: Vec<PathBuf>,
}

/// Mount points of the hierarchies that track processes: cgroup2, and v1's
/// named `systemd` hierarchy, from the lines of /proc/self/mounts.
fn hierarchies(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (point, kind, options) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            let tracks = *kind == "cgroup2" || (*kind == "cgroup" && options.split(',').any(|o| o == "name=systemd"));
            tracks.then(|| PathBuf::from(point.replace("\\040", " ")))
        })
        .collect()
}

fn host_hierarchies() -> Vec<PathBuf> {
    hierarchies(&std::fs::read_to_string("/proc/self/mounts").unwrap_or_default())
}

impl Cgroups {
    /// Every cgroup of the lab whose namespace is `lab_ns`.
    pub fn of_lab(lab_ns: &str) -> Self {
        Cgroups { dirs: host_hierarchies().into_iter().map(|h| h.join("lab").join(lab_ns)).collect() }
    }

    /// The cgroups of node `node` of the lab whose namespace is `lab_ns`.
    pub fn of_node(lab_ns: &str, node: &str) -> Self {
        Cgroups { dirs: Self::of_lab(lab_ns).dirs.into_iter().map(|d| d.join(node)).collect() }
    }

    pub fn create(&self) -> std::io::Result<()> {
        if self.dirs.is_empty() {
            return Err(std::io::Error::other("the host has no cgroup2 or name=systemd hierarchy mounted"));
        }
        self.dirs.iter().try_for_each(std::fs::create_dir_all)
    }

    /// The `cgroup.procs` files a process writes `0` to in order to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Processes in these cgroups and every cgroup below them.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.dirs.iter().flat_map(|d| pids_below(d)).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|pid| !crate::process::is_zombie(*pid));
        pids
    }

    /// SIGKILLs every process in them until none is left; how many there were.
    pub async fn kill_all(&self, timeout: Duration) -> Result<usize, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let found = self.pids().len();
        loop {
            let pids = self.pids();
            if pids.is_empty() {
                return Ok(found);
            }
            for pid in &pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("processes {pids:?} are still there after SIGKILL"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Removes the cgroups (which must hold no process any more), deepest
    /// first; how many directories went.
    pub async fn remove(&self) -> Result<usize, String> {
        let mut removed = 0;
        for dir in &self.dirs {
            removed += remove_below(dir).await?;
        }
        Ok(removed)
    }

    /// Whether any of them exists.
    pub fn exist(&self) -> bool {
        self.dirs.iter().any(|d| d.is_dir())
    }

    /// The names of the cgroups directly below these (a lab's nodes).
    pub fn children(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dirs
            .iter()
            .flat_map(|d| subdirectories(d))
            .filter_map(|d| d.file_name()?.to_str().map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn pids_below(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for child in subdirectories(dir) {
        pids.extend(pids_below(&child));
    }
    pids
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// A cgroup directory is removed with rmdir (its files go with it); one a
/// process has just left may be busy for a moment.
async fn remove_below(dir: &Path) -> Result<usize, String> {
    if !dir.is_dir() {
        return Ok(0);
    }
    let mut removed = 0;
    for child in subdirectories(dir) {
        removed += Box::pin(remove_below(&child)).await?;
    }
    for attempt in 0..100 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(removed + 1),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
            Err(e) if attempt == 99 => return Err(format!("cannot remove cgroup {}: {e}", dir.display())),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hierarchies_that_track_processes_are_cgroup2_and_v1_systemd() {
        let hybrid = "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
                      cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,name=systemd 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n\
                      tmpfs /sys/fs/cgroup tmpfs rw 0 0\n";
        assert_eq!(
            hierarchies(hybrid),
            vec![PathBuf::from("/sys/fs/cgroup/systemd"), PathBuf::from("/sys/fs/cgroup/unified")]
        );
        assert_eq!(
            hierarchies("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"),
            vec![PathBuf::from("/sys/fs/cgroup")]
        );
    }
}
