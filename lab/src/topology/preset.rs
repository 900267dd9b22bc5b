//! Tuchanka's clusters as named layouts (`[topology] preset`).
//!
//! Tuchanka runs its clusters side by side on one host network, all sharing
//! one witness, with the node names and addresses of its hosts file:
//! tuchanka1a/b at .1/.2 with two databases consolidated, krogan1a (.101)
//! at home on tuchanka1a and krogan1b (.102) on tuchanka1b; tuchanka2a/b at .11/.12 with krogan2 (.103) and krogan2s1 (.104), and
//! tuchanka4a-d at .21-.24 with krogan4 (.105) and a replica VIP per
//! replica, krogan4s1-s3 (.106-.108). A
//! preset keeps those host numbers inside the lab's own subnet, so a lab on
//! another `network.host_address` still gets Tuchanka's layout.
//!
//! Every cluster uses Tuchanka's quorum, four nodes included: the witness's
//! corosync-qnetd with algorithm ffsplit (one extra vote to the side of a
//! split it picks), so a 2+2 split keeps one half running.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::cluster::profile::ProfileName;

/// Which of Tuchanka's layouts a lab takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Preset {
    /// No preset: the one cluster `[cluster]`, `[postgres]` and `[redis]` describe.
    #[default]
    #[serde(rename = "")]
    Custom,
    /// Tuchanka's first cluster: two nodes, two databases consolidated.
    #[serde(rename = "tuchanka1")]
    Tuchanka1,
    /// Tuchanka's second cluster: two nodes, a master and a replica.
    #[serde(rename = "tuchanka2")]
    Tuchanka2,
    /// Tuchanka's fourth cluster: four nodes, a master and three replicas.
    #[serde(rename = "tuchanka4")]
    Tuchanka4,
    /// All three in one lab, sharing the witness, as Tuchanka runs them.
    #[serde(rename = "tuchanka")]
    Tuchanka,
}

/// One cluster of a preset: host numbers in the lab subnet (the address's
/// last part under a /24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub name: &'static str,
    pub nodes: &'static [(&'static str, u32)],
    pub master_vip: u32,
    /// None: readers go through the master VIP.
    pub replica_vip: Option<u32>,
    /// The master VIP of a second database, if the cluster has one.
    pub second_master_vip: Option<u32>,
    /// Replica VIPs beyond the first: Tuchanka gives the four-node cluster
    /// one per replica (krogan4s1-s3).
    pub more_replica_vips: &'static [u32],
    /// Tuchanka runs no Redis; lab's stack does, on the next free VIPs.
    pub redis_vip: Option<u32>,
    /// The stack it runs whatever `[stack]` says (the first cluster's own).
    pub stack: Option<ProfileName>,
}

pub const TUCHANKA1: Layout = Layout {
    name: "tuchanka1",
    nodes: &[("tuchanka1a", 1), ("tuchanka1b", 2)],
    master_vip: 101,
    replica_vip: None,
    second_master_vip: Some(102),
    more_replica_vips: &[],
    redis_vip: None,
    stack: Some(ProfileName::Tuchanka1),
};

pub const TUCHANKA2: Layout = Layout {
    name: "tuchanka2",
    nodes: &[("tuchanka2a", 11), ("tuchanka2b", 12)],
    master_vip: 103,
    replica_vip: Some(104),
    second_master_vip: None,
    more_replica_vips: &[],
    redis_vip: Some(109),
    stack: None,
};

pub const TUCHANKA4: Layout = Layout {
    name: "tuchanka4",
    nodes: &[("tuchanka4a", 21), ("tuchanka4b", 22), ("tuchanka4c", 23), ("tuchanka4d", 24)],
    master_vip: 105,
    replica_vip: Some(106),
    second_master_vip: None,
    more_replica_vips: &[107, 108],
    redis_vip: Some(110),
    stack: None,
};

impl Preset {
    /// Its clusters, in the order make-all sets them up.
    pub fn layouts(self) -> &'static [Layout] {
        match self {
            Preset::Custom => &[],
            Preset::Tuchanka1 => &[TUCHANKA1],
            Preset::Tuchanka2 => &[TUCHANKA2],
            Preset::Tuchanka4 => &[TUCHANKA4],
            Preset::Tuchanka => &[TUCHANKA1, TUCHANKA2, TUCHANKA4],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Custom => "",
            Preset::Tuchanka1 => "tuchanka1",
            Preset::Tuchanka2 => "tuchanka2",
            Preset::Tuchanka4 => "tuchanka4",
            Preset::Tuchanka => "tuchanka",
        }
    }
}

/// Host number `host` of the subnet that holds `network` (prefix `prefix`).
pub fn in_subnet(network: Ipv4Addr, prefix: u8, host: u32) -> Ipv4Addr {
    let mask = u32::from(super::netmask(prefix));
    Ipv4Addr::from((u32::from(network) & mask) | (host & !mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_numbers_land_in_the_labs_own_subnet() {
        let network = Ipv4Addr::new(10, 7, 3, 254);
        assert_eq!(in_subnet(network, 24, 21), Ipv4Addr::new(10, 7, 3, 21));
        assert_eq!(in_subnet(Ipv4Addr::new(192, 168, 89, 254), 24, 103), Ipv4Addr::new(192, 168, 89, 103));
    }

    #[test]
    fn the_whole_of_tuchanka_is_its_three_clusters() {
        let names: Vec<&str> = Preset::Tuchanka.layouts().iter().map(|l| l.name).collect();
        assert_eq!(names, ["tuchanka1", "tuchanka2", "tuchanka4"]);
        assert_eq!(Preset::Tuchanka4.layouts()[0].nodes.len(), 4);
        assert!(Preset::Custom.layouts().is_empty());
    }
}
