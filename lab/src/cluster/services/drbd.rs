//! DRBD storage: a DRBD resource (protocol C) on a loop file on each node,
//! promoted on one node by `ocf:linbit:drbd`; on the primary a group of the
//! file system, the stack's one VIP and the services that keep their data
//! there. Three seeds build it, each with its own names ([`Volume`]):
//! skyha's (000) under its Docker services, seed 003's under MariaDB and
//! seed 004's under the NFS server.
//!
//! A node that comes back after a fault resynchronises by itself; one that
//! DRBD finds split-brained (StandAlone) is reconnected discarding its own
//! data, as the seeds' operator guides say (`drbdadm -- --discard-my-data
//! connect`).

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, Vip, VipAddress};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script};

/// One stack's replicated storage, named as its seed names it: the DRBD
/// resource, its Pacemaker resources and where its file system goes. Guest
/// scripts get it as `DRBD_*` variables and `STORAGE` ([`Volume::env`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Volume {
    /// DRBD's name for it (`drbdadm ... NAME`, `/etc/drbd.d/NAME.res`).
    pub resource: &'static str,
    /// Its promotable clone.
    pub clone: &'static str,
    /// The `ocf:linbit:drbd` primitive inside the clone.
    pub primitive: &'static str,
    /// The device's minor number: `/dev/drbdN`.
    pub minor: u8,
    /// The TCP port DRBD replicates over, on every node's address.
    pub port: u16,
    /// The `ocf:heartbeat:Filesystem` resource that mounts it.
    pub filesystem: &'static str,
    pub fstype: FsType,
    /// Where the file system is mounted on the primary.
    pub mount: &'static str,
    /// The stack's one VIP, in the group on the primary.
    pub vip: Vip,
    /// Whether the group starts with the VIP (seeds 003 and 004) rather
    /// than with the file system (skyha).
    pub vip_first: bool,
}

/// The file system made on the DRBD device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    Ext4,
    Xfs,
}

impl FsType {
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
        }
    }

    /// The smallest DRBD device (`stack.drbd_size_mb`) it can be made on:
    /// mkfs.xfs refuses file systems under 300 MB, and DRBD keeps its
    /// metadata at the end of the loop file.
    pub fn min_size_mb(self) -> u32 {
        match self {
            FsType::Ext4 => 64,
            FsType::Xfs => 320,
        }
    }
}

impl Volume {
    /// The device a file system is made on and mounted from.
    pub fn device(&self) -> String {
        format!("/dev/drbd{}", self.minor)
    }

    /// What guest scripts (`drbd-*.sh`, `storage.sh`, `drbd.cib.sh`) know
    /// of it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DRBD_RESOURCE", self.resource.to_owned()),
            ("DRBD_CLONE", self.clone.to_owned()),
            ("DRBD_PRIMITIVE", self.primitive.to_owned()),
            ("DRBD_DEVICE", self.device()),
            ("DRBD_PORT", self.port.to_string()),
            ("DRBD_FS", self.filesystem.to_owned()),
            ("DRBD_FSTYPE", self.fstype.as_str().to_owned()),
            ("DRBD_VIP", self.vip.resource.to_owned()),
            ("DRBD_VIP_FIRST", if self.vip_first { "yes" } else { "" }.to_owned()),
            ("STORAGE", self.mount.to_owned()),
        ]
    }

    /// A one-line `drbdadm` query about this resource.
    fn query(&self, what: DrbdQuery) -> Script {
        let (name, word) = match what {
            DrbdQuery::Connection => ("drbd-cstate", "cstate"),
            DrbdQuery::Disks => ("drbd-dstate", "dstate"),
        };
        Script::command(name, format!("drbdadm {word} {} 2>/dev/null", self.resource))
    }
}

/// What a `drbdadm` query asks of a resource.
#[derive(Clone, Copy, Debug)]
enum DrbdQuery {
    /// `cstate`: `Connected`, `StandAlone` (split brain), ...
    Connection,
    /// `dstate`: this side's and the peer's disks, `UpToDate/UpToDate`.
    Disks,
}

/// skyha's (seed 000): `skydata` on `/drbd`, under its Docker services.
pub const SKYHA: Volume = Volume {
    resource: "skydata",
    clone: "drbd-cluster",
    primitive: "skydata",
    minor: 1,
    port: 7789,
    filesystem: "skyfs",
    fstype: FsType::Ext4,
    mount: "/drbd",
    vip: Vip { resource: "vip-master", address: VipAddress::Master },
    vip_first: false,
};

/// Seed 004's: resource `data`, clone `DataClone` of `Data`, xfs on
/// `/nfsdata` (its Filesystem resource is called `NFS`), VIP `nfs_ip`.
pub const NFSDATA: Volume = Volume {
    resource: "data",
    clone: "DataClone",
    primitive: "Data",
    minor: 1,
    port: 7789,
    filesystem: "NFS",
    fstype: FsType::Xfs,
    mount: "/nfsdata",
    vip: Vip { resource: "nfs_ip", address: VipAddress::Master },
    vip_first: true,
};

/// Seed 003's: `mysql_res` as `ms_drbd_mysql` of `p_drbd_mysql`, xfs on
/// MariaDB's data directory, VIP `p_ip_mysql`.
pub const MYSQL: Volume = Volume {
    resource: "mysql_res",
    clone: "ms_drbd_mysql",
    primitive: "p_drbd_mysql",
    minor: 0,
    port: 7788,
    filesystem: "p_fs_mysql",
    fstype: FsType::Xfs,
    mount: "/var/lib/mysql",
    vip: Vip { resource: "p_ip_mysql", address: VipAddress::Master },
    vip_first: true,
};

/// The storage service of a stack on `volume`.
const fn storage(volume: &'static Volume, promotion_score: &'static str) -> ServiceSpec {
    ServiceSpec {
        name: ServiceName::Drbd,
        title: "DRBD (protocol C, on a loop file)",
        runtime: Runtime::Drbd(volume),
        placement: Placement::Promotable {
            clone: volume.clone,
            primitive: volume.primitive,
            promotion_score: Some(promotion_score),
        },
        master_vip: volume.vip,
        replica_vip: None,
        probes: &[],
        process: None,
        cib: Fragment { name: "drbd", text: include_str!("../../../guest/services/drbd.cib.sh") },
    }
}

/// The agent scores each node's promotion in `master-<primitive>`.
pub const STORAGE: ServiceSpec = storage(&SKYHA, "master-skydata");
pub const NFSDATA_STORAGE: ServiceSpec = storage(&NFSDATA, "master-Data");
pub const MYSQL_STORAGE: ServiceSpec = storage(&MYSQL, "master-p_drbd_mysql");

/// Makes the DRBD resource on every node, then a file system on it from
/// the first node without an initial sync (both sides are blank), and
/// leaves it down: Pacemaker brings it up.
pub async fn setup<G: Guest>(
    volume: &Volume,
    stack: &Stack<'_, G>,
    step: &crate::progress::Step,
) -> Result<(), StackError> {
    let t = stack.topology();
    step.detail(format!("DRBD resource {} on a loop file", volume.resource));
    let peers = t.nodes().map(|n| format!("{}={}", n.name, n.address)).collect::<Vec<_>>().join(" ");
    let resource = stack.script(guest_script!("drbd-setup.sh")).env("DRBD_PEERS", &peers);
    stack.on_all(&t.node_names(), &resource).await?;
    step.detail(format!("DRBD file system ({})", volume.fstype.as_str()));
    let first = stack.first_node()?;
    stack.run(&first, &stack.script(guest_script!("drbd-filesystem.sh"))).await?;
    Ok(())
}

/// `script` run with the replicated file system mounted at `STORAGE` on
/// the node it runs on, outside the cluster (during set-up); unmounted and
/// demoted again when it ends.
pub fn on_storage(script: Script) -> Script {
    script.prepend(include_str!("../../../guest/storage.sh"))
}

/// DRBD's connection state on `node` (`Connected`, `StandAlone`, ...).
async fn connection<G: Guest>(volume: &Volume, stack: &Stack<'_, G>, node: &str) -> Option<String> {
    stack.run(node, &volume.query(DrbdQuery::Connection)).await.ok().map(|out| out.trim().to_owned())
}

/// A node out of the cluster must be started again; one whose DRBD stands
/// alone (split brain) must be reconnected discarding its data.
pub async fn needs_rebuild<G: Guest>(volume: &Volume, stack: &Stack<'_, G>, state: &ClusterState, node: &str) -> bool {
    if !state.online.iter().any(|n| n == node) {
        return true;
    }
    connection(volume, stack, node).await.as_deref() == Some("StandAlone")
}

/// Reconnects `node` (out of the cluster) to the primary as the side whose
/// changes are thrown away, then lets the primary connect back.
pub async fn rebuild<G: Guest>(volume: &Volume, stack: &Stack<'_, G>, node: &str) -> Result<(), StackError> {
    stack.run(node, &stack.script(guest_script!("drbd-discard.sh"))).await?;
    let connect = Script::command("drbd-connect", format!("drbdadm connect {} 2>/dev/null || true", volume.resource));
    for other in stack.topology().node_names().iter().filter(|n| *n != node) {
        stack.run(other, &connect).await?;
    }
    Ok(())
}

/// The primary is connected to every secondary and both sides are UpToDate.
pub async fn replicating<G: Guest>(
    spec: &ServiceSpec,
    volume: &Volume,
    stack: &Stack<'_, G>,
    state: &ClusterState,
) -> bool {
    let Some(primary) = spec.master(state) else { return false };
    let in_sync =
        stack.run(primary, &volume.query(DrbdQuery::Disks)).await.is_ok_and(|out| out.trim() == "UpToDate/UpToDate");
    in_sync && connection(volume, stack, primary).await.as_deref() == Some("Connected")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_storage_service_is_placed_by_its_own_volume_s_clone() {
        for (spec, volume) in [(&STORAGE, &SKYHA), (&NFSDATA_STORAGE, &NFSDATA), (&MYSQL_STORAGE, &MYSQL)] {
            let Placement::Promotable { clone, primitive, promotion_score } = spec.placement else {
                panic!("{}: DRBD is a promotable clone", volume.resource)
            };
            assert_eq!((clone, primitive), (volume.clone, volume.primitive));
            assert_eq!(promotion_score, Some(format!("master-{}", volume.primitive)).as_deref());
            assert_eq!(spec.runtime, Runtime::Drbd(volume));
            assert_eq!(spec.master_vip, volume.vip);
        }
    }

    #[test]
    fn scripts_are_told_the_seed_s_names() {
        let env: std::collections::BTreeMap<_, _> = MYSQL.env().into_iter().collect();
        assert_eq!(env["DRBD_DEVICE"], "/dev/drbd0");
        assert_eq!(env["DRBD_FSTYPE"], "xfs");
        assert_eq!(env["STORAGE"], "/var/lib/mysql");
        assert_eq!(env["DRBD_VIP_FIRST"], "yes");
        let skyha: std::collections::BTreeMap<_, _> = SKYHA.env().into_iter().collect();
        assert_eq!((skyha["DRBD_RESOURCE"].as_str(), skyha["DRBD_VIP_FIRST"].as_str()), ("skydata", ""));
    }
}
