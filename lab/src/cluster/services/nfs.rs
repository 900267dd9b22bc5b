//! An NFS export of the replicated storage, as in skyha (seed 000): the
//! kernel NFS server (`ocf:heartbeat:nfsserver`, its state directory on
//! DRBD so that clients' locks survive a failover) and the export
//! (`ocf:heartbeat:exportfs`), last in the group on the DRBD primary.
//! Probes write numbered records to a file of the export through the
//! stack's VIP, each one synced to disk before the server answers
//! (NFSv3 `FILE_SYNC`), and afterwards every acknowledged record must be
//! in the file.

use heartbeat::{AckCheck, NfsReader, NfsTarget, NfsWriter, ProbeSettings, Recording, Role};

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;

/// The exported directory, on the replicated file system (`drbd::MOUNT`),
/// as the seed's `nfsshare/exports`; `NFS_EXPORT` in guest scripts.
pub const EXPORT: &str = "/drbd/nfsshare/exports";

/// The portmapper (rpcbind) every NFSv3 client asks first for the ports of
/// the mount daemon and the NFS server.
const PORTMAPPER_PORT: u16 = 111;

pub const SERVER: ServiceSpec = ServiceSpec {
    name: ServiceName::Nfs,
    title: "NFS (kernel server on DRBD)",
    runtime: Runtime::NfsServer,
    placement: Placement::OnStorage { resource: "nfs-root", storage: drbd::CLONE },
    master_vip: drbd::VIP,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
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

/// Where NFS probes connect: the export, through the service's master VIP.
pub fn target(spec: &ServiceSpec, lab: &Lab) -> NfsTarget {
    NfsTarget {
        host: spec.master_vip.address.of(&lab.topology).to_string(),
        export: EXPORT.to_owned(),
        portmap_port: PORTMAPPER_PORT,
    }
}

pub fn launch_probe(
    spec: &ServiceSpec,
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run: ProbeRun,
) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
    Ok(super::launch_role(
        lab,
        (role, run),
        (target(spec, lab), settings),
        |target, settings, run_id| NfsWriter::new(target, settings, run_id),
        |target, settings, run_id| NfsReader::new(target, settings, run_id),
    ))
}

pub async fn check_acknowledged(
    spec: &ServiceSpec,
    lab: &Lab,
    settings: ProbeSettings,
    recording: Recording,
) -> Result<AckCheck, LabError> {
    let target = target(spec, lab);
    let check = async move { heartbeat::check_nfs_acknowledged(&target, &settings, &recording).await };
    super::check_on_lab_network(lab, spec.name, check).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_on_the_replicated_file_system() {
        assert!(EXPORT.starts_with(&format!("{}/", drbd::MOUNT)), "{EXPORT} is not on DRBD");
    }
}
