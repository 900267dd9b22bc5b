//! The lab network: one network namespace per lab holding a bridge and the
//! host's lab address, VMs' taps plugged into it, and container nodes
//! joined to it by a veth pair whose other end is in the node's own
//! namespace.
//!
//! Nothing here has an uplink and forwarding stays off, so lab traffic can
//! only reach lab hosts: the lab subnet does not exist outside these
//! namespaces. A link fault is the bridge side of a node's veth going down,
//! which the node sees as carrier loss, like a pulled cable.

use std::path::{Path, PathBuf};

use crate::host::{Host, HostError};
use crate::topology::Topology;

/// Name of the bridge inside the lab namespace.
const BRIDGE: &str = "br0";
/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// The network namespace lab's own threads and processes enter to reach a
/// lab's hosts: the lab namespace lab made, or, on a backend whose network
/// is on the host itself (VirtualBox's host-only network), the one lab
/// already runs in.
pub fn lab_namespace(paths: &crate::paths::LabPaths, backend: crate::config::BackendKind) -> PathBuf {
    if backend.owns_network() { netns_path(&paths.netns()) } else { PathBuf::from("/proc/self/ns/net") }
}

/// Bridge-side name of a node's veth (inside the lab namespace, so it only
/// has to be unique within one lab; interface names have 15 bytes at most).
fn bridge_port(node: &str) -> String {
    format!("v-{node}")
}

/// Node-side name of a container node's veth while it is in the lab
/// namespace, before the node's boot moves it home and names it `eth0`.
pub fn node_port(node: &str) -> String {
    format!("n-{node}")
}

/// A VM's tap device in the lab namespace.
pub fn tap_name(node: &str) -> String {
    format!("t-{node}")
}

/// A node's own namespace in the lab namespace `lab_ns`. The separator is
/// a character no lab or node name may hold, so that one lab's namespaces
/// are never another's: with `-`, lab `a`'s node `b-c` and lab `a-b`'s node
/// `c` would both be `lab-a-b-c`.
pub fn node_namespace(lab_ns: &str, node: &str) -> String {
    format!("{lab_ns}.{node}")
}

/// The lab network of one lab.
#[derive(Clone, Debug)]
pub struct LabNetwork {
    host: Host,
    lab_ns: String,
    node_ns_prefix: String,
}

impl LabNetwork {
    pub fn new(lab_ns: String) -> Self {
        LabNetwork { host: Host, node_ns_prefix: node_namespace(&lab_ns, ""), lab_ns }
    }

    pub fn lab_ns(&self) -> &str {
        &self.lab_ns
    }

    pub fn node_ns(&self, node: &str) -> String {
        format!("{}{node}", self.node_ns_prefix)
    }

    /// Creates the lab namespace, its bridge and the host's lab address.
    pub async fn create(&self, topology: &Topology) -> Result<(), HostError> {
        let ns = self.lab_ns.as_str();
        let address = format!("{}/{}", topology.host_address, topology.prefix);
        self.host.run("ip", ["netns", "add", ns]).await?;
        self.host.run("ip", ["-n", ns, "link", "set", "lo", "up"]).await?;
        self.host.run("ip", ["-n", ns, "link", "add", BRIDGE, "type", "bridge"]).await?;
        self.host.run("ip", ["-n", ns, "addr", "add", &address, "dev", BRIDGE]).await?;
        self.host.run("ip", ["-n", ns, "link", "set", BRIDGE, "up"]).await?;
        Ok(())
    }

    /// Cables a container node to the bridge before it boots: a veth pair
    /// in the lab namespace, its bridge side plugged in and up, its node
    /// side ([`node_port`]) left for systemd-nspawn to move into the
    /// node's own network namespace (which the node's user namespace owns,
    /// so that its root may add a VIP). A cable left from an earlier boot
    /// is replaced.
    pub async fn cable(&self, node: &str) -> Result<(), HostError> {
        let lab = self.lab_ns.as_str();
        let port = bridge_port(node);
        if self.host.run("ip", ["-n", lab, "link", "show", &port]).await.is_ok() {
            self.host.run("ip", ["-n", lab, "link", "delete", &port]).await?;
        }
        self.host
            .run("ip", ["-n", lab, "link", "add", &port, "type", "veth", "peer", "name", &node_port(node)])
            .await?;
        self.host.run("ip", ["-n", lab, "link", "set", &port, "master", BRIDGE, "up"]).await?;
        Ok(())
    }

    /// Names the network namespace of a booting node (that of its init,
    /// `pid`) for lab's own tools; [`Self::delete`] drops the name, and
    /// the namespace and its cable then go with the node's last process.
    pub async fn attach(&self, node: &str, pid: i32) -> Result<(), HostError> {
        let ns = self.node_ns(node);
        if netns_path(&ns).exists() {
            self.delete(&ns).await?;
        }
        self.host.run("ip", ["netns", "attach", &ns, &pid.to_string()]).await.map(drop)
    }

    /// Creates a VM's tap device, plugged into the bridge; the VM's QEMU
    /// opens it by name (it runs inside the lab namespace).
    pub async fn add_tap(&self, name: &str) -> Result<(), HostError> {
        let lab = self.lab_ns.as_str();
        let tap = tap_name(name);
        self.host.run("ip", ["-n", lab, "tuntap", "add", "dev", &tap, "mode", "tap"]).await?;
        self.host.run("ip", ["-n", lab, "link", "set", &tap, "master", BRIDGE, "up"]).await?;
        Ok(())
    }

    /// Cuts or restores a node's cable.
    pub async fn set_link(&self, node: &str, up: bool) -> Result<(), HostError> {
        let state = if up { "up" } else { "down" };
        self.host.run("ip", ["-n", &self.lab_ns, "link", "set", &bridge_port(node), state]).await?;
        Ok(())
    }

    /// Whether a node's cable is connected.
    pub async fn link_is_up(&self, node: &str) -> Result<bool, HostError> {
        let out = self.host.run("ip", ["-n", &self.lab_ns, "-o", "link", "show", &bridge_port(node)]).await?;
        Ok(out.contains("state UP") || out.contains(",UP"))
    }

    /// Every namespace of this lab that exists now (lab and nodes), found by
    /// name so that leftovers of an interrupted run are found too.
    pub fn existing(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| *n == self.lab_ns || n.starts_with(&self.node_ns_prefix))
            .collect();
        names.sort();
        names
    }

    /// Removes the namespaces; processes still inside must be gone already.
    pub async fn delete(&self, ns: &str) -> Result<(), HostError> {
        self.host.run("ip", ["netns", "delete", ns]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_ports_fit_interface_names() {
        assert!(bridge_port("abcdefghijkl").len() <= 15);
        assert!(tap_name("abcdefghijkl").len() <= 15);
        assert!(node_port("abcdefghijkl").len() <= 15);
    }
}
