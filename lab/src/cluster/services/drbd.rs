//! DRBD storage, as in skyha (seed 000): a DRBD resource (protocol C) on a
//! loop file on each node, promoted on one node by `ocf:linbit:drbd`; on
//! the primary a group of the file system, the stack's one VIP and the
//! services that keep their data there.
//!
//! A node that comes back after a fault resynchronises by itself; one that
//! DRBD finds split-brained (StandAlone) is reconnected discarding its own
//! data, as the seed's operator guide says (`drbdadm -- --discard-my-data
//! connect`).

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, Vip, VipAddress};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script};

/// The promotable clone of the DRBD resource.
pub const CLONE: &str = "drbd-cluster";

/// The stack's one VIP, in the group on the primary.
pub const VIP: Vip = Vip { resource: "vip-master", address: VipAddress::Master };

/// The TCP port DRBD replicates over, on every node's address.
pub const PORT: u16 = 7789;

/// Where the replicated file system is mounted on the primary.
pub const MOUNT: &str = "/drbd";

pub const STORAGE: ServiceSpec = ServiceSpec {
    name: ServiceName::Drbd,
    title: "DRBD (protocol C, on a loop file)",
    runtime: Runtime::Drbd,
    placement: Placement::Promotable { clone: CLONE, primitive: "skydata", promotion_score: Some("master-skydata") },
    master_vip: VIP,
    replica_vip: None,
    probes: &[],
    process: None,
    cib: Fragment { name: "drbd", text: include_str!("../../../guest/services/drbd.cib.sh") },
};

/// Makes the DRBD resource on every node, then a file system on it from
/// the first node without an initial sync (both sides are blank), and
/// leaves it down: Pacemaker brings it up.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    let t = stack.topology();
    step.detail("DRBD resource on a loop file");
    let peers = t.nodes().map(|n| format!("{}={}", n.name, n.address)).collect::<Vec<_>>().join(" ");
    let resource = stack.script(guest_script!("drbd-setup.sh")).env("DRBD_PEERS", &peers).env("DRBD_PORT", PORT);
    stack.on_all(&t.node_names(), &resource).await?;
    step.detail("DRBD file system");
    let first = stack.first_node()?;
    stack.run(&first, &stack.script(guest_script!("drbd-filesystem.sh"))).await?;
    Ok(())
}

/// `script` run with the replicated file system mounted at [`MOUNT`]
/// (`STORAGE` in the script) on the node it runs on, outside the cluster
/// (during set-up); unmounted and demoted again when it ends.
pub fn on_storage(script: Script) -> Script {
    script.prepend(include_str!("../../../guest/storage.sh")).env("STORAGE", MOUNT)
}

/// DRBD's connection state on `node` (`Connected`, `StandAlone`, ...).
async fn connection<G: Guest>(stack: &Stack<'_, G>, node: &str) -> Option<String> {
    let cstate = Script::command("drbd-cstate", "drbdadm cstate skydata 2>/dev/null".into());
    stack.run(node, &cstate).await.ok().map(|out| out.trim().to_owned())
}

/// A node out of the cluster must be started again; one whose DRBD stands
/// alone (split brain) must be reconnected discarding its data.
pub async fn needs_rebuild<G: Guest>(stack: &Stack<'_, G>, state: &ClusterState, node: &str) -> bool {
    if !state.online.iter().any(|n| n == node) {
        return true;
    }
    connection(stack, node).await.as_deref() == Some("StandAlone")
}

/// Reconnects `node` (out of the cluster) to the primary as the side whose
/// changes are thrown away, then lets the primary connect back.
pub async fn rebuild<G: Guest>(stack: &Stack<'_, G>, node: &str) -> Result<(), StackError> {
    stack.run(node, &stack.script(guest_script!("drbd-discard.sh"))).await?;
    for other in stack.topology().node_names().iter().filter(|n| *n != node) {
        let connect = Script::command("drbd-connect", "drbdadm connect skydata 2>/dev/null || true".into());
        stack.run(other, &connect).await?;
    }
    Ok(())
}

/// The primary is connected to every secondary and both sides are UpToDate.
pub async fn replicating<G: Guest>(stack: &Stack<'_, G>, state: &ClusterState) -> bool {
    let Some(primary) = STORAGE.master(state) else { return false };
    let dstate = Script::command("drbd-dstate", "drbdadm dstate skydata".into());
    let in_sync = stack.run(primary, &dstate).await.is_ok_and(|out| out.trim() == "UpToDate/UpToDate");
    in_sync && connection(stack, primary).await.as_deref() == Some("Connected")
}
