//! End to end, for real, seed 000's cluster on the QEMU backend:
//! `lab make-all --backend qemu --stack skyha` builds the skyha guest image
//! (DRBD, Docker and the kernel NFS server, and the PostgreSQL, Redis and
//! Beanstalkd container images made offline), boots three VMs, makes DRBD on
//! a loop file, imports the images, fills the containers' data on DRBD and
//! sets the group up on the DRBD primary; then the seed's own failover
//! test, `docker stop redis`, must move the whole group to the other node
//! without losing an acknowledged write of any service (protocol C, fsync
//! on every write, NFS records written FILE_SYNC); then destroy.
//!
//! Needs root, qemu-system-x86, qemu-utils and mmdebstrap; about 26 minutes
//! under TCG on two cores (make-all 21, the scenario 4.5), so CI runs it.

mod common;

use common::{Cleanup, LabCli, first_run, json};

#[test]
#[ignore = "needs root and qemu; takes about half an hour under TCG"]
fn skyha_on_vms_then_docker_stop_redis_then_destroy() {
    let lab = LabCli { name: "e2es" };
    let _cleanup = Cleanup(lab.name);
    let made =
        lab.run(&["--backend", "qemu", "--set", "qemu.tcg_slowdown=16", "--json", "make-all", "--stack", "skyha"]);
    assert_eq!(made.status.code(), Some(0), "make-all failed");

    let status = json(&lab.run(&["--json", "status"]));
    assert_eq!((&status["backend"], &status["stack"]), (&"qemu".into(), &"skyha".into()));
    assert_eq!(status["snapshots"], serde_json::json!(["install", "setup"]));

    let run = lab.run(&["--json", "scenario", "docker-stop-redis", "--seed", "3"]);
    assert_eq!(run.status.code(), Some(0), "docker-stop-redis failed its expectations");
    let suite = json(&run);
    let result = first_run(&suite);
    assert_eq!(result["service"], "redis");
    assert_eq!(result["fault"]["action"], "docker-stop");
    assert_ne!(result["master_after"], result["victim"], "the group moved to the other node");
    for service in ["postgres", "redis", "beanstalkd", "nfs"] {
        let check = &result["lost_writes"][service];
        assert!(check["acknowledged"].as_u64().is_some_and(|n| n > 10), "{service} was written: {check}");
        assert_eq!(check["lost"], serde_json::json!([]), "{service} lost acknowledged writes");
    }
    let failed = |probe: &str| {
        let probes = result["probes"].as_array().expect("probes");
        let recording = probes.iter().find(|p| p["probe"] == probe).unwrap_or_else(|| panic!("no {probe}"));
        recording["failed"].as_u64().unwrap_or_default()
    };
    // Every service went down with the group, and came back: the writers
    // saw failures, and the run passed (each recovered).
    for writer in ["redis-writer", "postgres-writer", "beanstalkd-writer", "nfs-writer"] {
        assert!(failed(writer) > 0, "{writer} saw its service stop with the group");
    }
    lab.assert_destroyed();
}
