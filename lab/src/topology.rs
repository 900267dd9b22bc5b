//! The shape of a lab: its hosts, addresses and floating IPs.
//!
//! Fixed when the lab is made and saved in `lab.json`, so every later
//! command (and the fence daemon) acts on the lab that exists, even if the
//! configuration file changed since.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{BackendKind, Config};

pub mod preset;

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
    /// Whether a cluster has the witness as its quorum device
    /// (`cluster.quorum_device`; labs made before it: Tuchanka's rule).
    #[serde(default)]
    pub quorum_device: crate::cluster::quorum::QuorumDevice,
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
    /// The VIPs of the cluster commands act on.
    #[serde(flatten)]
    pub vips: ClusterVips,
    pub redis_port: u16,
    #[serde(default = "default_beanstalkd_port")]
    pub beanstalkd_port: u16,
    /// The VMs of a VM backend; none for containers.
    #[serde(default)]
    pub vm: Option<VmSpec>,
    /// Every cluster of the lab, sharing its witness. The fields above
    /// (name, VIPs, and `hosts`' nodes) are those of the cluster commands
    /// act on, the first one until a command names another
    /// ([`Topology::cluster`]). Labs made before clusters had names hold
    /// one, described by the fields above alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterSpec>,
}

/// A VIP of a cluster: its address, its name in the hosts' /etc/hosts and
/// what it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedVip {
    pub address: Ipv4Addr,
    pub host_name: String,
    pub what: String,
}

/// The addresses of a cluster's VIPs, those its stack uses and those it
/// does not (they then keep the master VIP's address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterVips {
    pub master_vip: Ipv4Addr,
    pub replica_vip: Ipv4Addr,
    /// Replica VIPs beyond the first, each kept off the others' replicas
    /// (Tuchanka's four-node cluster has one per replica).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_replica_vips: Vec<Ipv4Addr>,
    /// The master VIP of a second database, on stacks that run one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_master_vip: Option<Ipv4Addr>,
    pub redis_vip: Ipv4Addr,
}

/// One cluster of a lab: its nodes (hosts of the lab) and its VIPs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub name: String,
    /// The stack it runs (none: the lab's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<crate::cluster::profile::ProfileName>,
    pub nodes: Vec<String>,
    #[serde(flatten)]
    pub vips: ClusterVips,
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
    #[error("lab `{lab}` has no cluster `{asked}`; its clusters: {known} (--cluster NAME)")]
    UnknownCluster { lab: String, asked: String, known: String },
    #[error("lab `{lab}` holds the clusters {known}: name the one to act on with --cluster NAME")]
    WhichCluster { lab: String, known: String },
}

impl Topology {
    pub fn from_config(config: &Config, image: &str) -> Result<Self, TopologyError> {
        let clusters = config.clusters();
        let mut hosts: Vec<HostSpec> = clusters
            .iter()
            .flat_map(|c| &c.nodes)
            .map(|n| HostSpec { name: n.name.clone(), address: n.address, role: HostRole::Node, uid_base: None })
            .collect();
        hosts.push(HostSpec {
            name: "witness".into(),
            address: config.cluster.witness_address,
            role: HostRole::Witness,
            uid_base: None,
        });
        let first = &clusters[0];
        let topology = Topology {
            lab: config.lab.name.clone(),
            backend: config.lab.backend,
            image: image.to_owned(),
            distribution: crate::install::distro::Family::Debian,
            stack: first.stack,
            drbd_size_mb: config.stack.drbd_size_mb,
            token_ms: config.cluster.token_ms,
            dc_deadtime_ms: config.cluster.dc_deadtime_ms,
            fencing: config.cluster.fencing,
            quorum_device: config.cluster.quorum_device,
            watchdog_timeout_s: config.cluster.watchdog_timeout_s,
            cluster_name: first.name.clone(),
            hosts,
            host_address: config.network.host_address,
            prefix: config.network.prefix,
            fence_port: config.network.fence_port,
            pg_version: config.postgres.version,
            pg_port: config.postgres.port,
            pg_synchronous: config.postgres.synchronous,
            vips: first.vips.clone(),
            redis_port: config.redis.port,
            beanstalkd_port: config.beanstalkd.port,
            vm: None,
            clusters: clusters
                .iter()
                .map(|c| ClusterSpec {
                    name: c.name.clone(),
                    stack: Some(c.stack),
                    nodes: c.nodes.iter().map(|n| n.name.clone()).collect(),
                    vips: c.vips.clone(),
                })
                .collect(),
        };
        topology.check_addresses()?;
        Ok(topology)
    }

    /// The cluster `topology.cluster` names, as the configuration lays out
    /// a lab (checked before a bench or sweep makes one).
    pub fn configured_cluster(config: &Config) -> Result<Topology, TopologyError> {
        Self::from_config(config, "")?.cluster(&config.topology.cluster)
    }

    /// The VIPs this cluster's stack uses: the master VIP, the replica
    /// VIPs, Redis's, a second database's.
    pub fn named_vips(&self) -> Vec<NamedVip> {
        use crate::cluster::services::VipAddress;
        let vip = |address, host_name: &str, what: &str| NamedVip {
            address,
            host_name: host_name.to_owned(),
            what: what.to_owned(),
        };
        let mut vips = Vec::new();
        for kind in self.stack.profile().vip_addresses() {
            match kind {
                VipAddress::Master => vips.push(vip(self.vips.master_vip, "master-vip", "master VIP")),
                VipAddress::Replica => {
                    vips.push(vip(self.vips.replica_vip, "replica-vip", "replica VIP"));
                    for (n, address) in (2..).zip(&self.vips.more_replica_vips) {
                        vips.push(vip(*address, &format!("replica-vip-{n}"), &format!("replica VIP {n}")));
                    }
                }
                VipAddress::Redis => vips.push(vip(self.vips.redis_vip, "redis-vip", "Redis VIP")),
                VipAddress::SecondMaster => vips.extend(
                    self.vips.second_master_vip.map(|a| vip(a, "master-vip-b", "second database's master VIP")),
                ),
            }
        }
        vips
    }

    /// The names of the lab's clusters, in the order they were set up.
    pub fn cluster_names(&self) -> Vec<String> {
        match self.clusters.as_slice() {
            [] => vec![self.cluster_name.clone()],
            clusters => clusters.iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// The lab as one of its clusters sees it: that cluster's name and
    /// VIPs, and of the hosts its nodes and the witness only. `asked`
    /// empty names the lab's only cluster.
    pub fn cluster(&self, asked: &str) -> Result<Topology, TopologyError> {
        let known = || self.cluster_names().join(", ");
        if self.clusters.is_empty() {
            return match asked {
                "" => Ok(self.clone()),
                name if name == self.cluster_name => Ok(self.clone()),
                _ => Err(TopologyError::UnknownCluster {
                    lab: self.lab.clone(),
                    asked: asked.to_owned(),
                    known: known(),
                }),
            };
        }
        let spec = match (asked, self.clusters.as_slice()) {
            ("", [only]) => only,
            ("", _) => return Err(TopologyError::WhichCluster { lab: self.lab.clone(), known: known() }),
            (name, clusters) => clusters.iter().find(|c| c.name == name).ok_or_else(|| {
                TopologyError::UnknownCluster { lab: self.lab.clone(), asked: name.to_owned(), known: known() }
            })?,
        };
        let mut view = self.clone();
        view.cluster_name = spec.name.clone();
        view.vips = spec.vips.clone();
        view.stack = spec.stack.unwrap_or(self.stack);
        view.hosts.retain(|h| h.role == HostRole::Witness || spec.nodes.contains(&h.name));
        Ok(view)
    }

    /// The nodes of the lab's other clusters, which this view leaves out.
    pub fn other_clusters_nodes(&self) -> Vec<String> {
        let own = self.node_names();
        self.clusters.iter().flat_map(|c| &c.nodes).filter(|n| !own.contains(n)).cloned().collect()
    }

    /// Each cluster as [`Topology::cluster`] gives it, in setup order.
    pub fn each_cluster(&self) -> Result<Vec<Topology>, TopologyError> {
        self.cluster_names().iter().map(|name| self.cluster(name)).collect()
    }

    /// The cluster `host` is a node of: its name and VIPs. None for the witness.
    pub fn cluster_of(&self, host: &str) -> Option<Topology> {
        let name = self.clusters.iter().find(|c| c.nodes.iter().any(|n| n == host)).map(|c| c.name.clone());
        match name {
            Some(name) => self.cluster(&name).ok(),
            None => (self.clusters.is_empty() && self.nodes().any(|n| n.name == host)).then(|| self.clone()),
        }
    }

    fn check_addresses(&self) -> Result<(), TopologyError> {
        let mut seen: Vec<(Ipv4Addr, String)> = vec![(self.host_address, "host".into())];
        // One cluster keeps the names it always had; several say whose VIP.
        let views = self.each_cluster()?;
        for view in &views {
            let whose = if views.len() > 1 { format!("{}'s ", view.cluster_name) } else { String::new() };
            seen.extend(view.named_vips().into_iter().map(|vip| (vip.address, format!("{whose}{}", vip.what))));
        }
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

    fn tuchanka(sets: &[&str]) -> Result<Topology, TopologyError> {
        let mut overrides = vec![Override::parse_flag("topology.preset=\"tuchanka\"").expect("flag")];
        overrides.extend(sets.iter().map(|s| Override::parse_flag(s).expect("flag")));
        Topology::from_config(&Config::load(None, &overrides).expect("config"), "img")
    }

    #[test]
    fn each_cluster_sees_its_own_nodes_the_shared_witness_and_its_vips() {
        let lab = tuchanka(&[]).expect("topology");
        assert_eq!(lab.cluster_names(), ["tuchanka1", "tuchanka2", "tuchanka4"]);
        assert_eq!(lab.hosts.len(), 9, "2 + 2 + 4 nodes and one witness");
        let one = lab.cluster("tuchanka1").expect("tuchanka1");
        assert_eq!(one.stack, crate::cluster::profile::ProfileName::Tuchanka1);
        let vips: Vec<String> = one.named_vips().iter().map(|v| format!("{} {}", v.host_name, v.address)).collect();
        assert_eq!(vips, ["master-vip 192.168.89.101", "master-vip-b 192.168.89.102"], "no replica VIP, no Redis");
        let four = lab.cluster("tuchanka4").expect("tuchanka4");
        assert_eq!(four.node_names(), FOUR_NODES);
        assert_eq!(four.host_names().last().map(String::as_str), Some("witness"));
        assert_eq!(
            (four.cluster_name.as_str(), four.vips.master_vip.to_string()),
            ("tuchanka4", "192.168.89.105".into())
        );
        let more: Vec<String> = four.vips.more_replica_vips.iter().map(Ipv4Addr::to_string).collect();
        assert_eq!(more, ["192.168.89.107", "192.168.89.108"], "a replica VIP per replica");
        let two = lab.cluster("tuchanka2").expect("tuchanka2");
        assert!(two.vips.more_replica_vips.is_empty());
        assert_eq!(two.host_names(), ["tuchanka2a", "tuchanka2b", "witness"]);
        assert_eq!(two.vips.replica_vip.to_string(), "192.168.89.104");
        assert_eq!(lab.cluster_of("tuchanka4c").map(|c| c.cluster_name), Some("tuchanka4".into()));
        assert_eq!(lab.cluster_of("witness"), None);
        assert_eq!(lab.each_cluster().expect("each").len(), 3);
        assert_eq!(two.other_clusters_nodes()[2..], FOUR_NODES);
        assert!(lab.other_clusters_nodes().is_empty(), "the whole lab leaves nothing out");
    }

    const FOUR_NODES: [&str; 4] = ["tuchanka4a", "tuchanka4b", "tuchanka4c", "tuchanka4d"];

    #[test]
    fn a_lab_of_several_clusters_needs_one_named_and_says_which_exist() {
        let lab = tuchanka(&[]).expect("topology");
        let err = lab.cluster("").expect_err("which one");
        assert_eq!(
            err.to_string(),
            "lab `tuchanka` holds the clusters tuchanka1, tuchanka2, tuchanka4: name the one to act on with --cluster NAME"
        );
        let err = lab.cluster("tuchanka3").expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "lab `tuchanka` has no cluster `tuchanka3`; its clusters: tuchanka1, tuchanka2, tuchanka4 (--cluster NAME)"
        );
        let one = Topology::from_config(&Config::defaults().expect("defaults"), "img").expect("topology");
        assert_eq!(one.cluster("").expect("the only one"), one);
        assert_eq!(one.cluster("tuchanka").expect("by its name"), one);
    }

    #[test]
    fn a_lab_made_before_clusters_had_names_is_its_one_cluster() {
        let mut old = Topology::from_config(&Config::defaults().expect("defaults"), "img").expect("topology");
        old.clusters.clear();
        let text = serde_json::to_string(&old).expect("json");
        assert!(!text.contains("\"clusters\""), "{text}");
        let old: Topology = serde_json::from_str(&text).expect("read");
        assert_eq!(old.cluster_names(), ["tuchanka"]);
        assert_eq!(old.cluster("").expect("only").node_names(), ["tuchanka-a", "tuchanka-b"]);
        assert_eq!(old.cluster_of("tuchanka-b").map(|c| c.cluster_name), Some("tuchanka".into()));
        assert!(old.cluster("tuchanka4").is_err());
    }

    #[test]
    fn an_address_taken_in_another_cluster_is_refused_naming_both() {
        let err = tuchanka(&["cluster.witness_address=\"192.168.89.22\""]).expect_err("taken");
        assert_eq!(err.to_string(), "address 192.168.89.22 is used twice (`tuchanka4b` and `witness`)");
        let err = tuchanka(&["cluster.witness_address=\"192.168.89.108\""]).expect_err("a replica VIP");
        assert_eq!(err.to_string(), "address 192.168.89.108 is used twice (`tuchanka4's replica VIP 3` and `witness`)");
        let err = tuchanka(&["network.host_address=\"192.168.89.105\""]).expect_err("a VIP");
        assert_eq!(err.to_string(), "address 192.168.89.105 is used twice (`host` and `tuchanka4's master VIP`)");
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
