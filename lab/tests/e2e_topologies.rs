//! End to end, for real, on the container backend: Tuchanka's layout of
//! clusters (`lab make-all --topology tuchanka`): its first cluster (two
//! databases consolidated on two nodes), its second (two nodes) and its
//! fourth (four nodes) in one lab sharing the witness. A power-off of the
//! four-node cluster's master must fail over within that cluster while the
//! others' nodes stay off; a power-off of the first cluster's first master
//! must move that database to the other node, which serves both then,
//! while the second database goes on; the second cluster must start from
//! `setup` with the others powered off; `lab destroy` must leave nothing
//! behind.
//!
//! Needs root, mmdebstrap and systemd-nspawn, and takes minutes: ignored
//! by default, run by CI with `--include-ignored`.

mod common;

use common::{Cleanup, LabCli, assert_only_async_losses, first_run, json};

const FOUR: [&str; 4] = ["tuchanka4a", "tuchanka4b", "tuchanka4c", "tuchanka4d"];

/// Whether `lab status` says `host` runs.
fn running(status: &serde_json::Value, host: &str) -> bool {
    status["hosts"].as_array().expect("hosts").iter().any(|h| h["name"] == host && h["running"] == true)
}

#[test]
#[ignore = "needs root, mmdebstrap and systemd-nspawn; takes minutes (CI runs it)"]
fn tuchankas_clusters_share_a_witness_and_fail_over_one_at_a_time() {
    let lab = LabCli { name: "e2e-topo" };
    let _cleanup = Cleanup(lab.name);
    let made = lab.run(&["--json", "make-all", "--topology", "tuchanka"]);
    assert_eq!(made.status.code(), Some(0), "make-all failed");

    let status = json(&lab.run(&["--json", "status"]));
    assert_eq!(status["hosts"].as_array().map(Vec::len), Some(9), "2 + 2 + 4 nodes and the witness");
    let clusters = status["clusters"].as_array().expect("clusters");
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["tuchanka1", "tuchanka2", "tuchanka4"]);

    let unnamed = lab.run(&["scenario", "poweroff-master"]);
    assert_eq!(unnamed.status.code(), Some(2), "a lab of several clusters needs --cluster");

    let run = lab.run(&["--json", "--cluster", "tuchanka4", "scenario", "poweroff-master", "--seed", "5"]);
    let suite = json(&run);
    assert_eq!(suite["cluster"], "tuchanka4");
    let result = first_run(&suite);
    assert_only_async_losses(&run, result);
    let victim = result["victim"].as_str().expect("victim");
    let master = result["master_after"].as_str().expect("master");
    assert!(FOUR.contains(&victim) && FOUR.contains(&master) && victim != master, "{victim} -> {master}");
    let status = json(&lab.run(&["--json", "status"]));
    let others = ["tuchanka1a", "tuchanka1b", "tuchanka2a", "tuchanka2b"];
    assert!(running(&status, "witness") && others.iter().all(|n| !running(&status, n)), "only tuchanka4 ran");

    // Tuchanka's first cluster: the first database's master loses power;
    // the other node serves both databases, the second one throughout.
    let run = lab.run(&["--json", "--cluster", "tuchanka1", "scenario", "poweroff-master", "--seed", "5"]);
    let suite = json(&run);
    let result = first_run(&suite);
    assert_only_async_losses(&run, result);
    assert_eq!((result["victim"].as_str(), result["master_after"].as_str()), (Some("tuchanka1a"), Some("tuchanka1b")));
    let second = result["probes"].as_array().expect("probes").iter().find(|p| p["probe"] == "postgres-b-writer");
    let second = second.expect("the second database was probed");
    assert_eq!(second["longest_outage_ms"].as_f64(), Some(0.0), "the second database went on: {second:#}");
    assert_eq!(result["lost_writes"]["postgres-b"]["lost"].as_array().map(Vec::len), Some(0));
    let status = json(&lab.run(&["--json", "status"]));
    assert!(FOUR.iter().all(|n| !running(&status, n)), "tuchanka4's nodes were powered off for tuchanka1's turn");

    let started = lab.run(&["--json", "--cluster", "tuchanka2", "rollback", "setup", "--start-cluster"]);
    assert_eq!(started.status.code(), Some(0), "tuchanka2 starts from setup");
    let status = json(&lab.run(&["--json", "status"]));
    let two = status["clusters"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "tuchanka2")).expect("two");
    assert_eq!(two["state"]["online"].as_array().map(Vec::len), Some(2), "{two:#}");

    lab.assert_destroyed();
}
