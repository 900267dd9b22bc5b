//! An NFS export of the replicated storage: the kernel NFS server
//! (`ocf:heartbeat:nfsserver`, its state directory on DRBD so that
//! clients' locks survive a failover) and the export
//! (`ocf:heartbeat:exportfs`), last in the group on the DRBD primary, as
//! skyha (seed 000) and seed 004 build it ([`Export`]).
//! Probes write numbered records to a file of the export through the
//! stack's VIP, each one synced to disk before the server answers
//! (NFSv3 `FILE_SYNC`), and afterwards every acknowledged record must be
//! in the file.

use heartbeat::{AckCheck, AckError, NfsReader, NfsTarget, NfsWriter, ProbeSettings, Recording, Role};

use super::drbd::{self, Volume};
use super::probing::Probed;
use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};

/// One stack's NFS export, as its seed makes it. Guest scripts get it as
/// `NFS_*` variables ([`Export::env`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Export {
    /// The exported directory, on the replicated file system.
    pub directory: &'static str,
    /// Who may mount it: `None` for the lab's subnet.
    pub clients: Option<&'static str>,
    /// The export's `fsid` (0 makes it the root of NFSv4's pseudo file
    /// system, as seed 004 does).
    pub fsid: u8,
    /// The NFS server's state directory (`nfs_shared_infodir`).
    pub infodir: &'static str,
    /// Whether clients are told of a restart by an `ocf:heartbeat:nfsnotify`
    /// resource from the VIP (seed 004's `nfs-notify`).
    pub notify: bool,
    /// The storage it lives on.
    pub storage: &'static Volume,
}

impl Export {
    /// What `nfs.cib.sh` and `nfs-init.sh` know of it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NFS_EXPORT", self.directory.to_owned()),
            ("NFS_CLIENTS", self.clients.unwrap_or_default().to_owned()),
            ("NFS_FSID", self.fsid.to_string()),
            ("NFS_INFODIR", self.infodir.to_owned()),
            ("NFS_NOTIFY", if self.notify { "yes" } else { "" }.to_owned()),
        ]
    }
}

/// skyha's: the seed's `nfsshare/exports` on DRBD, to the lab's subnet.
pub const SKYHA: Export = Export {
    directory: "/drbd/nfsshare/exports",
    clients: None,
    fsid: 1,
    infodir: "/drbd/nfsinfo",
    notify: false,
    storage: &drbd::SKYHA,
};

/// Seed 004's: the whole of `/nfsdata` to anyone (`clientspec=*`), the
/// server's state in it too, and `nfs-notify`.
pub const NFSDATA: Export = Export {
    directory: "/nfsdata",
    clients: Some("*"),
    fsid: 0,
    infodir: "/nfsdata",
    notify: true,
    storage: &drbd::NFSDATA,
};

/// The portmapper (rpcbind) every NFSv3 client asks first for the ports of
/// the mount daemon and the NFS server.
const PORTMAPPER_PORT: u16 = 111;

/// The NFS service of a stack exporting `export`.
const fn server(export: &'static Export) -> ServiceSpec {
    ServiceSpec {
        name: ServiceName::Nfs,
        title: "NFS (kernel server on DRBD)",
        runtime: Runtime::NfsServer(export),
        placement: Placement::OnStorage { resource: "nfs-root", storage: export.storage.clone },
        master_vip: export.storage.vip,
        replica_vip: None,
        probes: &[Role::Writer, Role::Reader],
        process: Some("rpc.mountd"),
        cib: Fragment { name: "nfs", text: include_str!("../../../guest/services/nfs.cib.sh") },
    }
}

pub const SERVER: ServiceSpec = server(&SKYHA);
pub const NFSDATA_SERVER: ServiceSpec = server(&NFSDATA);

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

/// NFS's probes: the export, through the service's master VIP.
#[derive(Debug)]
pub struct Probes;

impl Probed for Probes {
    type Target = NfsTarget;
    type Writer = NfsWriter;
    type Reader = NfsReader;

    fn target(spec: &ServiceSpec, lab: &Lab, _: Role) -> Result<NfsTarget, LabError> {
        let Runtime::NfsServer(export) = spec.runtime else {
            return Err(LabError::Unsupported(format!("{} exports nothing over NFS", spec.title)));
        };
        Ok(NfsTarget {
            host: spec.master_vip.address.of(&lab.topology).to_string(),
            export: export.directory.to_owned(),
            portmap_port: PORTMAPPER_PORT,
        })
    }

    fn writer(target: NfsTarget, settings: ProbeSettings, run_id: &str) -> NfsWriter {
        NfsWriter::new(target, settings, run_id)
    }

    fn reader(target: NfsTarget, settings: ProbeSettings, run_id: &str) -> NfsReader {
        NfsReader::new(target, settings, run_id)
    }

    async fn check(target: NfsTarget, settings: ProbeSettings, recording: Recording) -> Result<AckCheck, AckError> {
        heartbeat::check_nfs_acknowledged(&target, &settings, &recording).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_export_is_on_its_replicated_file_system() {
        for (spec, export) in [(&SERVER, &SKYHA), (&NFSDATA_SERVER, &NFSDATA)] {
            let on = |dir: &str| dir == export.storage.mount || dir.starts_with(&format!("{}/", export.storage.mount));
            assert!(on(export.directory) && on(export.infodir), "{export:?} is not on DRBD");
            assert_eq!(spec.promotable(), export.storage.clone);
            assert_eq!(spec.runtime, Runtime::NfsServer(export));
        }
    }
}
