//! Named snapshots of a whole lab, beside make-all's `install` and `setup`:
//! save the lab as it is now (a cluster tuned by hand, a state half-way
//! through a fault), roll back to it as often as needed, delete it.
//!
//! Every backend keeps a record of each snapshot in the lab's `snapshots/`
//! directory (containers keep the copies themselves there), which is what
//! lists them. Saving follows the backend: VMs with live snapshots are
//! saved running; on backends that copy disks the cluster is stopped
//! cleanly, the hosts powered off for the copy, and both started again as
//! they were.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::backend::NodeBackend;
use crate::lifecycle::{INSTALL, Lab, LabError, SETUP};
use crate::paths::LabPaths;

/// Snapshot names make-all takes; scenarios roll back to `setup`.
pub const MADE_BY_MAKE_ALL: [&str; 2] = [INSTALL, SETUP];

/// Why `name` cannot name a snapshot, if it cannot: it becomes a directory
/// name and a QEMU/VirtualBox snapshot name, and `.` marks lab's own
/// partial copies.
pub fn name_problem(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 40 {
        Some(format!("snapshot name `{name}` must have 1 to 40 characters"))
    } else if !name.chars().all(allowed) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some(format!(
            "snapshot name `{name}` may hold only letters, digits, `-` and `_`, and starts with a letter or digit"
        ))
    } else {
        None
    }
}

/// A snapshot in `lab snapshot list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// When it was saved (its record's modification time).
    pub saved_unix_s: u64,
    /// `install` and `setup`, which make-all takes.
    pub made_by_make_all: bool,
}

/// The lab's snapshots, oldest first.
pub fn list(paths: &LabPaths) -> Vec<SnapshotInfo> {
    let mut found: Vec<SnapshotInfo> = std::fs::read_dir(paths.root().join("snapshots"))
        .map(|entries| {
            entries
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    let name = entry.file_name().into_string().ok()?;
                    if name_problem(&name).is_some() || !entry.file_type().ok()?.is_dir() {
                        return None;
                    }
                    let saved = entry.metadata().ok()?.modified().ok()?;
                    Some(SnapshotInfo {
                        made_by_make_all: MADE_BY_MAKE_ALL.contains(&name.as_str()),
                        saved_unix_s: saved.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
                        name,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort_by(|a, b| (a.saved_unix_s, &a.name).cmp(&(b.saved_unix_s, &b.name)));
    found
}

/// Why saving `name` is refused, if it is: a name in use is replaced only
/// with `force` (make-all's `setup` included: every scenario then starts
/// from the replacement).
pub fn save_problem(paths: &LabPaths, name: &str, force: bool) -> Option<String> {
    if let Some(problem) = name_problem(name) {
        return Some(problem);
    }
    let exists = list(paths).iter().any(|s| s.name == name);
    (exists && !force).then(|| {
        let note = if name == SETUP { " (every scenario rolls back to `setup`)" } else { "" };
        format!("snapshot `{name}` exists{note}; `lab snapshot save {name} --force` replaces it")
    })
}

/// Why deleting `name` is refused, if it is: make-all's snapshots stay
/// (scenarios need `setup`; `lab make-all --force` remakes both).
pub fn delete_problem(name: &str) -> Option<String> {
    if let Some(problem) = name_problem(name) {
        return Some(problem);
    }
    MADE_BY_MAKE_ALL.contains(&name).then(|| {
        format!("`{name}` is make-all's snapshot, which scenarios and `lab rollback` need; `lab destroy` removes the whole lab")
    })
}

/// What saving did besides the snapshot itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Saved {
    pub name: String,
    /// The snapshot holds running hosts (memory included).
    pub live: bool,
    /// Hosts powered off for a disk copy and booted again.
    pub hosts_rebooted: bool,
    /// The cluster was stopped cleanly for a disk copy and started again.
    pub cluster_restarted: bool,
}

/// `lab snapshot list` for people: one snapshot a line.
pub fn render(snapshots: &[SnapshotInfo]) -> String {
    if snapshots.is_empty() {
        return "no snapshots; `lab make-all` makes install and setup\n".into();
    }
    snapshots
        .iter()
        .map(|s| {
            let saved = crate::report::render::utc(u128::from(s.saved_unix_s) * 1000);
            let by = if s.made_by_make_all { "make-all" } else { "lab snapshot save" };
            format!("{:<24} {saved}  {by}\n", s.name)
        })
        .collect()
}

impl Saved {
    /// What a person reads after `lab snapshot save`.
    pub fn describe(&self) -> String {
        let how = if self.live {
            "with the hosts running (memory included)".to_owned()
        } else {
            let mut how = "as disk copies of powered-off hosts".to_owned();
            if self.cluster_restarted {
                how.push_str("; the cluster was stopped cleanly for it and runs again");
            } else if self.hosts_rebooted {
                how.push_str("; the hosts were booted again");
            }
            how
        };
        format!("snapshot `{}` saved {how}; `lab rollback {}` returns to it", self.name, self.name)
    }
}

/// Saves snapshot `name` of every host (checked with [`save_problem`]).
pub async fn save(lab: &Lab, name: &str) -> Result<Saved, LabError> {
    let mut saved = Saved { name: name.to_owned(), ..Saved::default() };
    if lab.backend.capabilities().live_snapshots {
        lab.snapshot(name).await?;
        saved.live = true;
        return Ok(saved);
    }
    let mut any_running = false;
    for host in lab.topology.host_names() {
        any_running |= lab.backend.is_running(&host).await?;
    }
    // A disk copy of a running database is a crash image: stop each
    // running cluster cleanly first, as make-all does before `setup`.
    let clusters = if any_running { lab.topology.each_cluster()? } else { Vec::new() };
    let mut ran = Vec::new();
    for cluster in &clusters {
        let state = tokio::time::timeout(Duration::from_secs(15), lab.stack_of(cluster).state()).await;
        if state.is_ok_and(|s| s.is_ok()) {
            ran.push(cluster);
        }
    }
    for cluster in &ran {
        lab.stack_of(cluster).stop().await?;
    }
    lab.snapshot(name).await?;
    if any_running {
        lab.boot().await?;
        saved.hosts_rebooted = true;
    }
    for cluster in &ran {
        lab.stack_of(cluster).start().await?;
        let healthy = Duration::from_secs(lab.config.timeouts.healthy_s);
        lab.stack_of(cluster).wait_healthy(healthy, &|_| {}).await?;
        saved.cluster_restarted = true;
    }
    Ok(saved)
}

/// Deletes snapshot `name` of every host (checked with [`delete_problem`]).
pub async fn delete(lab: &Lab, name: &str) -> Result<(), LabError> {
    lab.backend.delete_snapshot(name, &lab.topology.host_names()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_directories_and_vm_snapshot_names() {
        for good in ["before-upgrade", "tuned_2", "a", "X9"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in ["", "-x", "a.partial", "a b", "../x", "é", &"x".repeat(41)] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn saving_over_a_snapshot_needs_force_and_make_alls_are_kept_from_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = LabPaths::new(dir.path(), "l");
        for name in ["setup", "mine", "setup.partial"] {
            std::fs::create_dir_all(paths.snapshot(name)).expect("mkdir");
        }
        let names: Vec<String> = list(&paths).into_iter().map(|s| s.name).collect();
        assert_eq!(names.len(), 2, "{names:?}: the partial copy is no snapshot");
        assert!(list(&paths).iter().any(|s| s.name == "setup" && s.made_by_make_all));
        assert!(save_problem(&paths, "mine", false).is_some_and(|p| p.contains("--force")));
        assert!(save_problem(&paths, "setup", false).is_some_and(|p| p.contains("every scenario")));
        assert_eq!(save_problem(&paths, "mine", true), None);
        assert_eq!(save_problem(&paths, "new", false), None);
        assert!(delete_problem("setup").is_some() && delete_problem("install").is_some());
        assert_eq!(delete_problem("mine"), None);
        assert!(delete_problem("a/b").is_some());
    }

    #[test]
    fn listing_and_saving_read_as_sentences() {
        let snapshots = [
            SnapshotInfo { name: "setup".into(), saved_unix_s: 1_796_083_200, made_by_make_all: true },
            SnapshotInfo { name: "tuned".into(), saved_unix_s: 1_796_086_800, made_by_make_all: false },
        ];
        assert_eq!(
            render(&snapshots),
            "setup                    2026-12-01 00:00:00 UTC  make-all\n\
             tuned                    2026-12-01 01:00:00 UTC  lab snapshot save\n"
        );
        let saved = Saved { name: "tuned".into(), hosts_rebooted: true, cluster_restarted: true, live: false };
        assert_eq!(
            saved.describe(),
            "snapshot `tuned` saved as disk copies of powered-off hosts; the cluster was stopped cleanly for it and \
             runs again; `lab rollback tuned` returns to it"
        );
    }
}
