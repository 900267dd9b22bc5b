//! End to end, for real, seed 004's cluster on the QEMU backend:
//! `lab make-all --backend qemu --stack drbd-nfs` builds the guest image
//! (DRBD, the kernel NFS server, xfsprogs), boots three VMs, makes DRBD on
//! a loop file with xfs on it and sets the seed's group `nfsshare` up on the
//! DRBD primary (VIP, file system, NFS server, export, nfsnotify); then the
//! seed's own failover test, a standby of the NFS server's node, must move
//! the group to the other node without losing an acknowledged NFS record
//! (protocol C, records written FILE_SYNC), and no DRBD split brain; then
//! destroy.
//!
//! Needs root, qemu-system-x86, qemu-utils and mmdebstrap; about 10 minutes
//! under TCG on two cores (make-all 7.5, the scenario 1.5), so CI runs it.

mod common;

use common::{Cleanup, LabCli, first_run, json};

#[test]
#[ignore = "needs root and qemu; takes about ten minutes under TCG"]
fn nfs_on_drbd_on_vms_then_standby_of_its_node_then_destroy() {
    let lab = LabCli { name: "e2enfs" };
    let _cleanup = Cleanup(lab.name);
    let made =
        lab.run(&["--backend", "qemu", "--set", "qemu.tcg_slowdown=16", "--json", "make-all", "--stack", "drbd-nfs"]);
    assert_eq!(made.status.code(), Some(0), "make-all failed");
    let status = json(&lab.run(&["--json", "status"]));
    assert_eq!((&status["backend"], &status["stack"]), (&"qemu".into(), &"drbd-nfs".into()));

    let run = lab.run(&["--json", "scenario", "standby-master", "--seed", "3"]);
    assert_eq!(run.status.code(), Some(0), "standby-master failed its expectations");
    let suite = json(&run);
    let result = first_run(&suite);
    assert_eq!(result["service"], "nfs");
    assert_eq!(result["master_before"], result["victim"], "the standby hit the NFS server's node");
    assert_ne!(result["master_after"], result["victim"], "the group moved to the other node");
    let check = &result["lost_writes"]["nfs"];
    assert!(check["acknowledged"].as_u64().is_some_and(|n| n > 10), "NFS was written: {check}");
    assert_eq!(check["lost"], serde_json::json!([]), "acknowledged NFS records lost");
    let writer = result["probes"].as_array().expect("probes").iter().find(|p| p["probe"] == "nfs-writer");
    let failed = writer.expect("an NFS writer")["failed"].as_u64().unwrap_or_default();
    assert!(failed > 0, "the export went away with the group, and came back");
    let checks = result["checks"].as_array().expect("checks");
    let split_brain = checks.iter().find(|c| c["name"] == "DRBD split brain").expect("judged on DRBD");
    assert_eq!(split_brain["actual"], "none");
    lab.assert_destroyed();
}
