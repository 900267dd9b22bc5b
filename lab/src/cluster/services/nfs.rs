//! An NFS export of the replicated storage, as in skyha (seed 000): the
//! kernel NFS server (`ocf:heartbeat:nfsserver`, its state directory on
//! DRBD so that clients' locks survive a failover) and the export
//! (`ocf:heartbeat:exportfs`), last in the group on the DRBD primary.

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::{Guest, Script};

pub const SERVER: ServiceSpec = ServiceSpec {
    name: ServiceName::Nfs,
    title: "NFS (kernel server on DRBD)",
    runtime: Runtime::NfsServer,
    placement: Placement::OnStorage { resource: "nfs-root", storage: drbd::CLONE },
    master_vip: drbd::VIP,
    replica_vip: None,
    probes: &[],
    process: Some("rpc.mountd"),
    cib: Fragment { name: "nfs", text: include_str!("../../../guest/services/nfs.cib.sh") },
};

/// Pacemaker starts the NFS server: it must not start at boot. The export
/// and the server's state live on the replicated file system.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    step.detail("NFS server under Pacemaker");
    let t = stack.topology();
    let not_at_boot = Script::command(
        "nfs-not-at-boot",
        "systemctl disable --now nfs-server.service nfs-kernel-server.service >/dev/null 2>&1 || true".into(),
    );
    stack.on_all(&t.node_names(), &not_at_boot).await?;
    let dirs = drbd::on_storage(guest_script!("services/nfs-init.sh"));
    stack.run(&stack.first_node()?, &stack.script(dirs)).await?;
    Ok(())
}
