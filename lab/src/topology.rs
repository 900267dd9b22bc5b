//! The shape of a lab: its hosts, addresses and floating IPs.
//!
//! Fixed when the lab is made and saved in `lab.json`, so every later
//! command (and the fence daemon) acts on the lab that exists, even if the
//! configuration file changed since.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{BackendKind, Config};

/// What a host does in the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostRole {
    /// A Pacemaker cluster node running PostgreSQL.
    Node,
    /// The quorum device host (corosync-qnetd), outside the cluster.
    Witness,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    pub name: String,
    pub address: Ipv4Addr,
    pub role: HostRole,
    /// A container node's root as a host uid (its users are the next
    /// 65536; see [`crate::backend::node_users`]); none on VMs, and on
    /// containers of labs made when nodes ran as host root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_base: Option<u32>,
}

/// Everything about a lab that must not change while it exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub lab: String,
    pub backend: BackendKind,
    pub image: String,
    /// The hosts' distribution: where PostgreSQL and Redis live on them.
    #[serde(default)]
    pub distribution: crate::install::distro::Family,
    /// The stack profile the cluster was set up with (labs made before
    /// profiles existed run Tuchanka's).
    #[serde(default)]
    pub stack: crate::cluster::profile::ProfileName,
    /// The DRBD device's size of stacks on DRBD, in MiB.
    #[serde(default = "default_drbd_size_mb")]
    pub drbd_size_mb: u32,
    /// Corosync's token timeout (`cluster.token_ms`).
    #[serde(default = "default_token_ms")]
    pub token_ms: u32,
    /// Pacemaker's dc-deadtime (`cluster.dc_deadtime_ms`).
    #[serde(default = "default_dc_deadtime_ms")]
    pub dc_deadtime_ms: u32,
    /// How a lost node is fenced (`cluster.fencing`; labs made before it
    /// fence through lab's daemon).
    #[serde(default)]
    pub fencing: crate::cluster::fencing::Fencing,
    /// sbd's watchdog timeout, in seconds (`cluster.watchdog_timeout_s`).
    #[serde(default = "default_watchdog_timeout_s")]
    pub watchdog_timeout_s: u32,
    pub cluster_name: String,
    pub hosts: Vec<HostSpec>,
    pub host_address: Ipv4Addr,
    pub prefix: u8,
    pub fence_port: u16,
    pub pg_version: u32,
    pub pg_port: u16,
    /// PostgreSQL commits wait for a replica (`[postgres] synchronous`).
    #[serde(default)]
    pub pg_synchronous: bool,
    pub master_vip: Ipv4Addr,
    pub replica_vip: Ipv4Addr,
    pub redis_vip: Ipv4Addr,
    pub redis_port: u16,
    #[serde(default = "default_beanstalkd_port")]
    pub beanstalkd_port: u16,
    /// The VMs of a VM backend; none for containers.
    #[serde(default)]
    pub vm: Option<VmSpec>,
}

fn default_drbd_size_mb() -> u32 {
    256
}

/// Corosync's own default, which labs made before `cluster.token_ms` have.
fn default_token_ms() -> u32 {
    3000
}

/// Pacemaker's own default, which labs made before `cluster.dc_deadtime_ms`
/// have.
fn default_dc_deadtime_ms() -> u32 {
    20_000
}

/// sbd's own default.
fn default_watchdog_timeout_s() -> u32 {
    5
}

fn default_beanstalkd_port() -> u16 {
    11300
}

/// How a VM backend runs this lab's VMs, decided when the lab is made.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmSpec {
    pub accel: crate::backend::accel::Accel,
    pub memory_mb: u32,
    pub witness_memory_mb: u32,
    pub cpus: u32,
    /// How many times slower than native the guests run (TCG: `qemu.tcg_slowdown`).
    pub time_factor: f64,
    /// What a VM boots (labs made before hosts were installed from ISOs boot the image's kernel).
    #[serde(default)]
    pub boot: VmBoot,
}

/// What a VM boots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmBoot {
    /// The guest image's kernel, directly, over the image's shared disk.
    #[default]
    Kernel,
    /// The VM's own disk, installed from an ISO, through the firmware.
    Disk,
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("lab `{lab}` does not exist (no {path}); create it with `lab make-all`")]
    Missing { lab: String, path: String },
    #[error("cannot read {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("address {address} of `{name}` is outside the lab subnet {subnet}")]
    OutsideSubnet { name: String, address: Ipv4Addr, subnet: String },
    #[error("address {address} is used twice (`{first}` and `{second}`)")]
    Duplicate { address: Ipv4Addr, first: String, second: String },
}

impl Topology {
    pub fn from_config(config: &Config, image: &str) -> Result<Self, TopologyError> {
        let mut hosts: Vec<HostSpec> = config
            .cluster
            .node
            .iter()
            .map(|n| HostSpec { name: n.name.clone(), address: n.address, role: HostRole::Node, uid_base: None })
            .collect();
        hosts.push(HostSpec {
            name: "witness".into(),
            address: config.cluster.witness_address,
            role: HostRole::Witness,
            uid_base: None,
        });
        let topology = Topology {
            lab: config.lab.name.clone(),
            backend: config.lab.backend,
            image: image.to_owned(),
            distribution: crate::install::distro::Family::Debian,
            stack: config.stack.profile,
            drbd_size_mb: config.stack.drbd_size_mb,
            token_ms: config.cluster.token_ms,
            dc_deadtime_ms: config.cluster.dc_deadtime_ms,
            fencing: config.cluster.fencing,
            watchdog_timeout_s: config.cluster.watchdog_timeout_s,
            cluster_name: config.cluster.name.clone(),
            hosts,
            host_address: config.network.host_address,
            prefix: config.network.prefix,
            fence_port: config.network.fence_port,
            pg_version: config.postgres.version,
            pg_port: config.postgres.port,
            pg_synchronous: config.postgres.synchronous,
            master_vip: config.postgres.master_vip,
            replica_vip: config.postgres.replica_vip,
            redis_vip: config.redis.master_vip,
            redis_port: config.redis.port,
            beanstalkd_port: config.beanstalkd.port,
            vm: None,
        };
        topology.check_addresses()?;
        Ok(topology)
    }

    fn check_addresses(&self) -> Result<(), TopologyError> {
        let mut seen: Vec<(Ipv4Addr, String)> = vec![
            (self.host_address, "host".into()),
            (self.master_vip, "master VIP".into()),
            (self.replica_vip, "replica VIP".into()),
            (self.redis_vip, "Redis VIP".into()),
        ];
        for host in &self.hosts {
            seen.push((host.address, host.name.clone()));
        }
        for (i, (address, name)) in seen.iter().enumerate() {
            if !self.in_subnet(*address) {
                return Err(TopologyError::OutsideSubnet {
                    name: name.clone(),
                    address: *address,
                    subnet: self.subnet(),
                });
            }
            if let Some((_, first)) = seen[..i].iter().find(|(a, _)| a == address) {
                return Err(TopologyError::Duplicate { address: *address, first: first.clone(), second: name.clone() });
            }
        }
        Ok(())
    }

    fn mask(&self) -> u32 {
        u32::from(self.netmask())
    }

    /// The lab subnet's netmask, e.g. `255.255.255.0`.
    pub fn netmask(&self) -> Ipv4Addr {
        netmask(self.prefix)
    }

    fn in_subnet(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.host_address) & self.mask()
    }

    /// The lab subnet in CIDR form, e.g. `192.168.89.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(u32::from(self.host_address) & self.mask()), self.prefix)
    }

    /// How many times longer everything takes on this lab's hosts than on
    /// native ones: timeouts and scenario limits are multiplied by it.
    pub fn time_factor(&self) -> f64 {
        self.vm.map_or(1.0, |vm| vm.time_factor)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().filter(|h| h.role == HostRole::Node)
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes().map(|h| h.name.clone()).collect()
    }

    pub fn host(&self, name: &str) -> Option<&HostSpec> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    pub fn load(path: &Path, lab: &str) -> Result<Self, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                TopologyError::Missing { lab: lab.to_owned(), path: path.display().to_string() }
            }
            _ => TopologyError::Unreadable { path: path.display().to_string(), message: e.to_string() },
        })?;
        serde_json::from_str(&text)
            .map_err(|e| TopologyError::Unreadable { path: path.display().to_string(), message: e.to_string() })
    }

    pub fn save(&self, path: &Path) -> Result<(), TopologyError> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(path, text + "\n")
            .map_err(|source| TopologyError::Write { path: path.display().to_string(), source })
    }
}

/// The dotted netmask of a prefix length: 24 is `255.255.255.0`.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Override;

    #[test]
    fn default_topology_is_two_nodes_and_a_witness() {
        let config = Config::defaults().expect("defaults");
        let t = Topology::from_config(&config, "img").expect("topology");
        assert_eq!(t.node_names(), ["tuchanka-a", "tuchanka-b"]);
        assert_eq!(t.host("witness").map(|h| h.role), Some(HostRole::Witness));
        assert_eq!(t.subnet(), "192.168.89.0/24");
    }

    #[test]
    fn vip_outside_the_subnet_is_rejected() {
        let set = Override::parse_flag("postgres.master_vip=\"10.0.0.5\"").expect("flag");
        let config = Config::load(None, &[set]).expect("config");
        let err = Topology::from_config(&config, "img").expect_err("outside");
        assert!(err.to_string().contains("10.0.0.5"), "{err}");
    }

    #[test]
    fn duplicate_addresses_are_rejected() {
        let set = Override::parse_flag("postgres.replica_vip=\"192.168.89.11\"").expect("flag");
        let config = Config::load(None, &[set]).expect("config");
        let err = Topology::from_config(&config, "img").expect_err("dup");
        assert!(err.to_string().contains("tuchanka-a"), "{err}");
    }

    #[test]
    fn manifest_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lab.json");
        let t = Topology::from_config(&Config::defaults().expect("defaults"), "img").expect("topology");
        t.save(&path).expect("save");
        assert_eq!(Topology::load(&path, "tuchanka").expect("load"), t);
        let err = Topology::load(&dir.path().join("nope.json"), "tuchanka").expect_err("missing");
        assert!(err.to_string().contains("lab make-all"), "{err}");
    }
}
