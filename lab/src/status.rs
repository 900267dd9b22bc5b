//! `lab status`: what exists and what runs, from the host's point of view,
//! plus the cluster's own view when a node answers.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::backend::NodeBackend;
use crate::cluster::state::ClusterState;
use crate::config::Config;
use crate::exit::Failure;
use crate::lifecycle::Lab;
use crate::progress::Progress;
use crate::topology::HostRole;

#[derive(Debug, Serialize)]
pub struct Status {
    pub lab: String,
    pub backend: crate::config::BackendKind,
    /// The stack profile the cluster runs.
    pub stack: crate::cluster::profile::ProfileName,
    /// The hosts' distribution.
    pub distribution: crate::install::distro::Family,
    /// The VMs' accelerator and how much slower than native they run.
    pub vm: Option<crate::topology::VmSpec>,
    pub hosts: Vec<HostStatus>,
    pub snapshots: Vec<String>,
    /// How the cluster fences a lost node.
    pub fencing: crate::cluster::fencing::Fencing,
    pub fence_daemon: bool,
    /// The state of the lab's first cluster, its only one unless a preset
    /// made several (`clusters` then has each).
    pub cluster: Option<ClusterState>,
    pub clusters: Vec<ClusterStatus>,
}

/// One cluster of the lab and its own view of itself, when a node answers.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    pub name: String,
    /// The stack it runs: in a lab of several, each cluster's own.
    pub stack: crate::cluster::profile::ProfileName,
    pub nodes: Vec<String>,
    pub state: Option<ClusterState>,
}

#[derive(Debug, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub role: HostRole,
    pub address: std::net::Ipv4Addr,
    pub running: bool,
    pub link_up: bool,
}

pub async fn show(config: Config, json: bool) -> Result<ExitCode, Failure> {
    let lab = Lab::open(config, Progress::hidden())?;
    let mut hosts = Vec::new();
    for host in &lab.topology.hosts {
        hosts.push(HostStatus {
            name: host.name.clone(),
            role: host.role,
            address: host.address,
            running: lab.backend.is_running(&host.name).await.unwrap_or(false),
            link_up: lab.backend.link_is_up(&host.name).await.unwrap_or(false),
        });
    }
    let snapshots = crate::snapshot::list(&lab.paths).into_iter().map(|s| s.name).collect();
    let fence_daemon = lab.paths.running_fence_daemon().is_some();
    let mut clusters = Vec::new();
    for view in lab.topology.each_cluster().map_err(|e| Failure::from(crate::lifecycle::LabError::from(e)))? {
        let nodes = view.node_names();
        let up = hosts.iter().any(|h| h.running && nodes.contains(&h.name));
        let state = match up {
            true => tokio::time::timeout(Duration::from_secs(15), lab.stack_of(&view).state())
                .await
                .ok()
                .and_then(Result::ok),
            false => None,
        };
        clusters.push(ClusterStatus { name: view.cluster_name.clone(), stack: view.stack, nodes, state });
    }
    let status = Status {
        lab: lab.topology.lab.clone(),
        backend: lab.topology.backend,
        stack: lab.topology.stack,
        distribution: lab.topology.distribution,
        vm: lab.topology.vm,
        hosts,
        snapshots,
        fencing: lab.topology.fencing,
        fence_daemon,
        cluster: clusters.first().and_then(|c| c.state.clone()),
        clusters,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status).unwrap_or_default());
    } else {
        print!("{}", render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(status: &Status) -> String {
    let mut out = match &status.vm {
        Some(vm) => format!(
            "lab {} ({} stack; {}, {:?}, timeouts x{}; {} hosts)\n",
            status.lab, status.stack, status.backend, vm.accel, vm.time_factor, status.distribution
        ),
        None => {
            format!("lab {} ({} stack; {}; {} hosts)\n", status.lab, status.stack, status.backend, status.distribution)
        }
    };
    for h in &status.hosts {
        out.push_str(&format!(
            "  {:<14} {:<8} {:<15} {:<8} link {}\n",
            h.name,
            format!("{:?}", h.role).to_lowercase(),
            h.address,
            if h.running { "running" } else { "off" },
            if h.link_up { "up" } else { "down" }
        ));
    }
    out.push_str(&format!(
        "snapshots: {}\n",
        if status.snapshots.is_empty() { "none".into() } else { status.snapshots.join(", ") }
    ));
    let daemon = if status.fence_daemon { "running" } else { "not running" };
    match status.fencing {
        crate::cluster::fencing::Fencing::Lab => out.push_str(&format!("fencing: lab's fence daemon, {daemon}\n")),
        crate::cluster::fencing::Fencing::Sbd => out.push_str("fencing: sbd and each node's watchdog\n"),
    }
    let several = status.clusters.len() > 1;
    for cluster in &status.clusters {
        let label = match several {
            true => format!("cluster {} ({})", cluster.name, cluster.nodes.join(", ")),
            false => "cluster".to_owned(),
        };
        let start = match several {
            true => format!("lab rollback setup --start-cluster --cluster {}", cluster.name),
            false => "lab rollback setup --start-cluster".to_owned(),
        };
        match &cluster.state {
            Some(c) => out.push_str(&format!("{label}: {}\n", c.summary(cluster.stack.profile().services))),
            None => out.push_str(&format!("{label}: not running ({start})\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::profile::ProfileName;

    /// In a lab of several clusters each cluster is summed up by its own
    /// stack's services, not by the first cluster's.
    #[test]
    fn each_cluster_is_shown_with_its_own_stacks_services() {
        let cluster = |name: &str, stack| ClusterStatus {
            name: name.to_owned(),
            stack,
            nodes: vec![format!("{name}a"), format!("{name}b")],
            state: Some(ClusterState::default()),
        };
        let status = Status {
            lab: "tuchanka".into(),
            backend: crate::config::BackendKind::Container,
            stack: ProfileName::Tuchanka1,
            distribution: crate::install::distro::Family::Debian,
            vm: None,
            hosts: Vec::new(),
            snapshots: Vec::new(),
            fencing: crate::cluster::fencing::Fencing::Lab,
            fence_daemon: true,
            cluster: None,
            clusters: vec![cluster("tuchanka1", ProfileName::Tuchanka1), cluster("tuchanka2", ProfileName::Tuchanka)],
        };
        let text = render(&status);
        let line = |name: &str| text.lines().find(|l| l.starts_with(&format!("cluster {name} "))).unwrap_or_default();
        assert!(line("tuchanka1").contains("postgres-b master none"), "{text}");
        assert!(line("tuchanka2").contains("redis master none") && !line("tuchanka2").contains("postgres-b"), "{text}");
    }
}
