//! A control group per container node, by its exact name.
//!
//! A node in its own user namespace needs a cgroup it may manage (its
//! systemd makes `init.scope` and the service slices inside): lab makes one
//! per node under `lab/<lab namespace>/<node>` in every hierarchy that
//! tracks processes (cgroup2, and on hybrid hosts also v1's
//! `name=systemd`) and systemd-nspawn hands it to the node. It also names
//! every process of the node exactly, whatever namespaces they made
//! since: power-off and `lab destroy` kill by it.
//!
//! The cgroups also cap what a node may take of the host: [`NODE_PIDS`]
//! processes and one CPU (pids and cpu controllers: v1 hierarchies on
//! hybrid hosts, cgroup2's own on unified ones), so that a runaway node
//! (a fork bomb) starves itself, as a VM would, and not the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most processes a container node may have at once: a node runs about a
/// hundred (PostgreSQL's backends included).
pub const NODE_PIDS: u32 = 2048;
/// A container node's share of the host's CPU: one CPU, as a one-vCPU VM.
const NODE_CPU_QUOTA_US: u32 = 100_000;
const CPU_PERIOD_US: u32 = 100_000;

/// What a mounted cgroup hierarchy is to lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// cgroup2: tracks processes; caps them too where its pids and cpu
    /// controllers are available (unified hosts).
    Unified,
    /// v1's named `systemd` hierarchy (hybrid hosts): tracks processes.
    Systemd,
    /// v1's pids controller.
    Pids,
    /// v1's cpu controller (maybe mounted with cpuacct).
    Cpu,
}

/// The cgroup directories of one node, or of a whole lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroups {
    dirs: Vec<(Kind, PathBuf)>,
}

/// The hierarchies lab uses, from the lines of /proc/self/mounts.
fn hierarchies(mounts: &str) -> Vec<(Kind, PathBuf)> {
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (point, kind, options) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            let has = |o: &str| options.split(',').any(|x| x == o);
            let kind = match *kind {
                "cgroup2" => Kind::Unified,
                "cgroup" if has("name=systemd") => Kind::Systemd,
                "cgroup" if has("pids") => Kind::Pids,
                "cgroup" if has("cpu") => Kind::Cpu,
                _ => return None,
            };
            Some((kind, PathBuf::from(point.replace("\\040", " "))))
        })
        .collect()
}

fn host_hierarchies() -> Vec<(Kind, PathBuf)> {
    hierarchies(&std::fs::read_to_string("/proc/self/mounts").unwrap_or_default())
}

/// Whether cgroup2 at `mount` offers the pids and cpu controllers.
fn unified_caps(mount: &Path) -> bool {
    let controllers = std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    ["pids", "cpu"].iter().all(|c| controllers.split_whitespace().any(|x| x == *c))
}

impl Cgroups {
    /// Every cgroup of the lab whose namespace is `lab_ns`.
    pub fn of_lab(lab_ns: &str) -> Self {
        Cgroups { dirs: host_hierarchies().into_iter().map(|(k, h)| (k, h.join("lab").join(lab_ns))).collect() }
    }

    /// The cgroups of node `node` of the lab whose namespace is `lab_ns`.
    pub fn of_node(lab_ns: &str, node: &str) -> Self {
        Cgroups { dirs: Self::of_lab(lab_ns).dirs.into_iter().map(|(k, d)| (k, d.join(node))).collect() }
    }

    fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.iter().map(|(_, d)| d)
    }

    /// Makes a node's cgroups, capped to [`NODE_PIDS`] processes and one
    /// CPU where the host lets it.
    pub fn create(&self) -> std::io::Result<()> {
        if !self.dirs.iter().any(|(k, _)| matches!(k, Kind::Unified | Kind::Systemd)) {
            return Err(std::io::Error::other("the host has no cgroup2 or name=systemd hierarchy mounted"));
        }
        for (kind, dir) in &self.dirs {
            std::fs::create_dir_all(dir)?;
            let write = |file: &str, value: String| std::fs::write(dir.join(file), value);
            match kind {
                Kind::Systemd => {}
                Kind::Pids => write("pids.max", NODE_PIDS.to_string())?,
                Kind::Cpu => {
                    write("cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                    write("cpu.cfs_quota_us", NODE_CPU_QUOTA_US.to_string())?;
                }
                Kind::Unified => {
                    let Some(mount) = dir.ancestors().nth(3) else { continue };
                    if !unified_caps(mount) {
                        continue;
                    }
                    // The controllers reach a node through its lab's cgroups.
                    for parent in [dir.parent(), dir.parent().and_then(Path::parent)].into_iter().flatten() {
                        std::fs::write(parent.join("cgroup.subtree_control"), "+pids +cpu")?;
                    }
                    write("pids.max", NODE_PIDS.to_string())?;
                    write("cpu.max", format!("{NODE_CPU_QUOTA_US} {CPU_PERIOD_US}"))?;
                }
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes `0` to in order to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.paths().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Processes in these cgroups and every cgroup below them.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self.paths().flat_map(|d| pids_below(d)).collect();
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
        for dir in self.paths() {
            removed += remove_below(dir).await?;
        }
        Ok(removed)
    }

    /// Whether any of them exists.
    pub fn exist(&self) -> bool {
        self.paths().any(|d| d.is_dir())
    }

    /// The names of the cgroups directly below these (a lab's nodes).
    pub fn children(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .paths()
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
    fn hierarchies_are_told_apart_by_type_and_controller() {
        let hybrid = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n\
                      cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n\
                      cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,name=systemd 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n\
                      tmpfs /sys/fs/cgroup tmpfs rw 0 0\n";
        let kinds: Vec<(Kind, &str)> = vec![
            (Kind::Cpu, "/sys/fs/cgroup/cpu,cpuacct"),
            (Kind::Pids, "/sys/fs/cgroup/pids"),
            (Kind::Systemd, "/sys/fs/cgroup/systemd"),
            (Kind::Unified, "/sys/fs/cgroup/unified"),
        ];
        assert_eq!(hierarchies(hybrid), kinds.into_iter().map(|(k, p)| (k, PathBuf::from(p))).collect::<Vec<_>>());
        assert_eq!(
            hierarchies("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"),
            vec![(Kind::Unified, PathBuf::from("/sys/fs/cgroup"))]
        );
    }
}
