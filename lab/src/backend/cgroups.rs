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
//! (a fork bomb) starves itself, as a VM would, and not the host. A
//! container node's memory is capped too ([`NODE_MEMORY_MB`], by the
//! backend: a QEMU process in these cgroups needs more than its guest's).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most processes a container node may have at once: a node runs about a
/// hundred (PostgreSQL's backends included).
pub const NODE_PIDS: u32 = 2048;
/// A container node's share of the host's CPU, in percent of one CPU:
/// one CPU, as a one-vCPU VM.
pub const NODE_CPU_PERCENT: u32 = 100;
const CPU_PERIOD_US: u64 = 100_000;
/// A container node's memory, as a VM node's (`qemu.memory_mb`'s default):
/// a node runs in about 400 MiB, page cache aside, so this is room to
/// spare, and a node that leaks or is made to fill its memory meets its
/// own OOM killer, not the host's.
pub const NODE_MEMORY_MB: u32 = 1024;

/// The CFS quota per [`CPU_PERIOD_US`] that gives `percent` % of one CPU,
/// or none (`-1`/`max`: no limit).
fn cpu_quota_us(percent: Option<u32>) -> Option<u64> {
    percent.map(|p| CPU_PERIOD_US * u64::from(p) / 100)
}

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
    /// v1's memory controller.
    Memory,
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
                "cgroup" if has("memory") => Kind::Memory,
                _ => return None,
            };
            Some((kind, PathBuf::from(point.replace("\\040", " "))))
        })
        .collect()
}

fn host_hierarchies() -> Vec<(Kind, PathBuf)> {
    hierarchies(&std::fs::read_to_string("/proc/self/mounts").unwrap_or_default())
}

/// The controllers lab caps nodes with that cgroup2 at `mount` offers.
fn unified_caps(mount: &Path) -> Vec<&'static str> {
    let controllers = std::fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    ["pids", "cpu", "memory"].into_iter().filter(|c| controllers.split_whitespace().any(|x| x == *c)).collect()
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
                Kind::Systemd | Kind::Memory => {}
                Kind::Pids => write("pids.max", NODE_PIDS.to_string())?,
                Kind::Cpu => write("cpu.cfs_period_us", CPU_PERIOD_US.to_string())?,
                Kind::Unified => {
                    let Some(mount) = dir.ancestors().nth(3) else { continue };
                    let caps = unified_caps(mount);
                    if caps.is_empty() {
                        continue;
                    }
                    // The controllers reach a node through its lab's cgroups.
                    let enable: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
                    for parent in [dir.parent(), dir.parent().and_then(Path::parent)].into_iter().flatten() {
                        std::fs::write(parent.join("cgroup.subtree_control"), enable.join(" "))?;
                    }
                    if caps.contains(&"pids") {
                        write("pids.max", NODE_PIDS.to_string())?;
                    }
                }
            }
        }
        self.limit_cpu(Some(NODE_CPU_PERCENT))
    }

    /// Lets the processes in these cgroups run `percent` % of one CPU's
    /// time (more than 100: several CPUs), or as much as the host gives
    /// (`None`). The kernel throttles them once they have used their
    /// share of each 100 ms.
    pub fn limit_cpu(&self, percent: Option<u32>) -> std::io::Result<()> {
        let quota = cpu_quota_us(percent);
        for (kind, dir) in &self.dirs {
            match kind {
                Kind::Cpu => {
                    let quota = quota.map_or("-1".to_owned(), |q| q.to_string());
                    std::fs::write(dir.join("cpu.cfs_quota_us"), quota)?;
                }
                Kind::Unified if dir.join("cpu.max").exists() => {
                    let quota = quota.map_or("max".to_owned(), |q| q.to_string());
                    std::fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Caps the memory the processes in these cgroups may use (page cache
    /// and tmpfs included) at `mb` MiB, or lifts the cap (`None`). Past it
    /// the kernel reclaims, and then its OOM killer picks a process in them.
    pub fn limit_memory(&self, mb: Option<u32>) -> std::io::Result<()> {
        let bytes = mb.map(|mb| u64::from(mb) << 20);
        for (kind, dir) in &self.dirs {
            match kind {
                Kind::Memory => {
                    let limit = bytes.map_or("-1".to_owned(), |b| b.to_string());
                    std::fs::write(dir.join("memory.limit_in_bytes"), limit)?;
                }
                Kind::Unified if dir.join("memory.max").exists() => {
                    std::fs::write(dir.join("memory.max"), bytes.map_or("max".to_owned(), |b| b.to_string()))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Moves process `pid` (all its threads) into these cgroups.
    pub fn join(&self, pid: i32) -> std::io::Result<()> {
        for file in self.procs_files() {
            std::fs::write(file, pid.to_string())?;
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
        crate::process::kill_until_gone(|| self.pids(), timeout).await
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

    /// Real cgroups (root): a busy loop held to 5 % of a CPU is throttled
    /// by the kernel, and given its CPU back it is not any more.
    #[tokio::test]
    async fn a_starved_cgroup_is_throttled_by_the_kernel() {
        let cgroups = Cgroups::of_node(&format!("lab-cgtest{}", std::process::id()), "node");
        cgroups.create().expect("cgroups (run as root)");
        cgroups.limit_cpu(Some(5)).expect("limit");
        let mut busy = std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh");
        cgroups.join(busy.id() as i32).expect("join");
        let throttled = || {
            // cpu.stat of v1's cpu hierarchy, or of cgroup2 with its cpu controller.
            let stats: Vec<String> =
                cgroups.paths().filter_map(|d| std::fs::read_to_string(d.join("cpu.stat")).ok()).collect();
            let field = |text: &str| -> u64 {
                text.lines().find_map(|l| l.strip_prefix("nr_throttled ")?.trim().parse().ok()).unwrap_or(0)
            };
            stats.iter().map(|s| field(s)).max().unwrap_or(0)
        };
        tokio::time::sleep(Duration::from_millis(600)).await;
        let starved = throttled();
        cgroups.limit_cpu(None).expect("unlimit");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = throttled();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = throttled();
        let _ = busy.kill();
        let _ = busy.wait();
        cgroups.kill_all(Duration::from_secs(5)).await.expect("kill");
        Cgroups::of_lab(&format!("lab-cgtest{}", std::process::id())).remove().await.expect("remove");
        assert!(starved >= 3, "throttled in {starved} of ~6 periods at 5 %");
        assert_eq!(after, before, "no longer throttled once unlimited");
    }

    /// Real cgroups (root): capped at 32 MiB, a process that holds 64 MiB
    /// is killed by the kernel (tail keeps its one endless line in memory);
    /// with the cap lifted the same command runs to its end.
    #[tokio::test]
    async fn a_capped_cgroup_meets_its_own_oom_killer() {
        let lab = format!("lab-memtest{}", std::process::id());
        let cgroups = Cgroups::of_node(&lab, "node");
        cgroups.create().expect("cgroups (run as root)");
        let hold_64_mib = || {
            use std::io::Write;
            let mut sh = std::process::Command::new("sh")
                .args(["-c", "read go; head -c 67108864 /dev/zero | tail >/dev/null"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("sh");
            // Joined before it starts the pipeline, so head and tail are born inside.
            cgroups.join(sh.id() as i32).expect("join");
            sh.stdin.take().expect("stdin").write_all(b"go\n").expect("go");
            sh.wait().expect("wait")
        };
        cgroups.limit_memory(Some(32)).expect("cap");
        let capped = hold_64_mib();
        cgroups.limit_memory(None).expect("uncap");
        let uncapped = hold_64_mib();
        cgroups.kill_all(Duration::from_secs(5)).await.expect("kill");
        Cgroups::of_lab(&lab).remove().await.expect("remove");
        // The shell reports its last command's death by SIGKILL as 128 + 9.
        assert_eq!(capped.code(), Some(137), "killed past the cap");
        assert!(uncapped.success(), "runs without the cap: {uncapped}");
    }

    #[test]
    fn a_cpu_share_is_a_quota_of_each_100_ms() {
        assert_eq!(cpu_quota_us(Some(NODE_CPU_PERCENT)), Some(100_000), "one CPU");
        assert_eq!(cpu_quota_us(Some(5)), Some(5_000));
        assert_eq!(cpu_quota_us(Some(200)), Some(200_000), "two CPUs");
        assert_eq!(cpu_quota_us(None), None, "no limit");
    }

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
            (Kind::Memory, "/sys/fs/cgroup/memory"),
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
