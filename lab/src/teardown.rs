//! `lab destroy`: remove everything a lab made, found by name and path, not
//! by trusting a record, so that what an interrupted or crashed `lab` left
//! behind is found too: processes in the lab's namespaces (nodes, fence
//! daemon), processes in the control groups of its container nodes, stray
//! systemd-nspawn processes, overlay mounts, the namespaces themselves (and
//! with them every veth and the bridge), the control groups, and the state.
//! The guest image cache is kept: it belongs to no lab.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::backend::cgroups::Cgroups;
use crate::backend::virtualbox::{VirtualBoxSettings, VirtualBoxVms};
use crate::config::{BackendKind, Config};
use crate::host::{Host, HostError};
use crate::mounts::{mounts_under, unmount};
use crate::netns::LabNetwork;
use crate::paths::LabPaths;
use crate::process::{args, kill_and_wait, kill_namespace};
use crate::topology::Topology;

/// What `destroy` found and removed.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    /// VirtualBox VMs unregistered and deleted.
    pub vms: usize,
    pub processes: usize,
    pub mounts: usize,
    pub namespaces: usize,
    /// Container nodes whose control groups were removed.
    pub cgroups: usize,
    /// Interrupted image builds removed (with their mounts).
    pub partial_images: usize,
    pub state: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TeardownError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{0}")]
    Stuck(String),
    #[error(transparent)]
    Remove(#[from] crate::mounts::MountError),
    #[error("cannot remove the lab's VMs: {0}")]
    Vms(#[from] crate::backend::BackendError),
}

pub async fn destroy(paths: &LabPaths) -> Result<Removed, TeardownError> {
    let network = LabNetwork::new(paths.netns());
    let host = Host;
    let mut removed = Removed::default();
    let root = paths.root();

    removed.vms = remove_virtualbox_vms(paths).await?;
    for ns in network.existing() {
        removed.processes += crate::process::pids_in(&ns).len();
        kill_namespace(&ns, Duration::from_secs(20)).await.map_err(|e| TeardownError::Stuck(format!("{ns}: {e}")))?;
    }
    // Every process of every container node, whatever namespaces it made.
    let cgroups = Cgroups::of_lab(&paths.netns());
    removed.processes += cgroups.kill_all(Duration::from_secs(20)).await.map_err(TeardownError::Stuck)?;
    let mut strays = nspawns_under(&root);
    strays.extend(paths.running_fence_daemon());
    for pid in strays {
        removed.processes += 1;
        kill_and_wait(pid, Duration::from_secs(10)).await;
    }
    for mount in mounts_under(&root) {
        unmount(&host, &mount).await.map_err(|e| TeardownError::Stuck(e.to_string()))?;
        removed.mounts += 1;
    }
    for ns in network.existing() {
        network.delete(&ns).await?;
        removed.namespaces += 1;
    }
    removed.cgroups = cgroups.children().len();
    cgroups.remove().await.map_err(TeardownError::Stuck)?;
    // An image build this lab's make-all left when interrupted (no other
    // command is building it: those hold the image's lock).
    removed.partial_images = crate::install::image::clean_partials(&paths.images())
        .await
        .map_err(|e| TeardownError::Stuck(e.to_string()))?;
    for dir in [paths.ssh_control(), root.clone()] {
        if dir.exists() {
            if dir == root {
                removed.state = true;
            }
            // Never across a mount point, should one have appeared since.
            crate::mounts::remove_tree(&host, &dir).await?;
        }
    }
    Ok(removed)
}

/// VirtualBox keeps its VMs outside lab's state: they are found by name
/// (`lab-<lab>-*`) through VBoxManage, whatever state lab.json records.
async fn remove_virtualbox_vms(paths: &LabPaths) -> Result<usize, TeardownError> {
    let Ok(topology) = Topology::load(&paths.manifest(), "") else {
        return Ok(0);
    };
    if topology.backend != BackendKind::VirtualBox {
        return Ok(0);
    }
    let config = Config::defaults().map_err(|e| TeardownError::Stuck(e.to_string()))?;
    let vms = VirtualBoxVms::new(paths.clone(), topology, VirtualBoxSettings::from_config(&config.virtualbox));
    Ok(vms.destroy_all().await?)
}

/// systemd-nspawn processes whose node root (`--directory`) lies under the
/// lab directory (left running when their container's processes are
/// already gone). Compared path component by path component: lab `a`'s
/// directory is no prefix of lab `ab`'s.
fn nspawns_under(root: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    crate::process::running_pids()
        .into_iter()
        .filter(|pid| *pid != me && nspawn_directory(&args(*pid)).is_some_and(|dir| dir.starts_with(root)))
        .collect()
}

/// The node root of a systemd-nspawn command line.
fn nspawn_directory(args: &[String]) -> Option<&Path> {
    let program = Path::new(args.first()?).file_name()?;
    if program != "systemd-nspawn" {
        return None;
    }
    args.iter().enumerate().find_map(|(i, arg)| match arg.strip_prefix("--directory") {
        Some("") => args.get(i + 1).map(Path::new),
        Some(value) => value.strip_prefix('=').map(Path::new),
        None if arg == "-D" => args.get(i + 1).map(Path::new),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_node_root_is_read_from_nspawns_arguments_and_compared_by_component() {
        let a = Path::new("/var/lib/lab/labs/a");
        let ours = args("systemd-nspawn --quiet --boot --directory /var/lib/lab/labs/a/nodes/n1/root");
        let dir = nspawn_directory(&ours).expect("directory");
        assert!(dir.starts_with(a));
        let theirs = args("systemd-nspawn --boot --directory=/var/lib/lab/labs/ab/nodes/n1/root");
        assert!(!nspawn_directory(&theirs).expect("directory").starts_with(a), "lab ab is not lab a's");
        assert_eq!(nspawn_directory(&args("/usr/bin/systemd-nspawn -D /x")), Some(Path::new("/x")));
        assert_eq!(nspawn_directory(&args("sleep --directory /var/lib/lab/labs/a")), None);
    }
}
