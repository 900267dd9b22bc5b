//! End to end, for real, on the container backend: Tuchanka's layout of
//! clusters (`lab make-all --topology tuchanka`), its two-node and its
//! four-node cluster in one lab sharing the witness. A power-off of the
//! four-node cluster's master must fail over within that cluster while the
//! other cluster's nodes stay off; the two-node cluster must then start
//! from `setup` with the four-node one powered off; `lab destroy` must
//! leave nothing behind.
//!
//! Needs root, mmdebstrap and systemd-nspawn, and takes minutes: ignored
//! by default, run by CI with `--include-ignored`.

mod common;

use common::{Cleanup, LabCli, assert_only_async_losses, first_run, json};

const FOUR: [&str; 4] = ["tuchanka4a", "tuchanka4b", "tuchanka4c", "tuchanka4d"];

#[test]
#[ignore = "needs root, mmdebstrap and systemd-nspawn; takes minutes (CI runs it)"]
fn tuchankas_clusters_share_a_witness_and_fail_over_one_at_a_time() {
    let lab = LabCli { name: "e2e-topo" };
    let _cleanup = Cleanup(lab.name);
    let made = lab.run(&["--json", "make-all", "--topology", "tuchanka"]);
    assert_eq!(made.status.code(), Some(0), "make-all failed");

    let status = json(&lab.run(&["--json", "status"]));
    assert_eq!(status["hosts"].as_array().map(Vec::len), Some(7), "2 + 4 nodes and the witness");
    let clusters: Vec<&str> =
        status["clusters"].as_array().expect("clusters").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(clusters, ["tuchanka2", "tuchanka4"]);

    let unnamed = lab.run(&["scenario", "poweroff-master"]);
    assert_eq!(unnamed.status.code(), Some(2), "a lab of several clusters needs --cluster");

    let run = lab.run(&["--json", "--cluster", "tuchanka4", "scenario", "poweroff-master", "--seed", "5"]);
    let suite = json(&run);
    assert_eq!(suite["cluster"], "tuchanka4");
    let result = first_run(&suite);
    assert_only_async_losses(&run, result);
    let (victim, master) =
        (result["victim"].as_str().expect("victim"), result["master_after"].as_str().expect("master"));
    assert!(FOUR.contains(&victim) && FOUR.contains(&master) && victim != master, "{victim} -> {master}");
    let status = json(&lab.run(&["--json", "status"]));
    let running = |name: &str| {
        status["hosts"].as_array().expect("hosts").iter().any(|h| h["name"] == name && h["running"] == true)
    };
    assert!(
        running("witness") && !running("tuchanka2a") && !running("tuchanka2b"),
        "only tuchanka4 and the witness ran"
    );

    let started = lab.run(&["--json", "--cluster", "tuchanka2", "rollback", "setup", "--start-cluster"]);
    assert_eq!(started.status.code(), Some(0), "tuchanka2 starts from setup");
    let status = json(&lab.run(&["--json", "status"]));
    let running = |name: &str| {
        status["hosts"].as_array().expect("hosts").iter().any(|h| h["name"] == name && h["running"] == true)
    };
    assert!(FOUR.iter().all(|n| !running(n)), "tuchanka4's nodes were powered off for tuchanka2's turn");
    let two =
        status["clusters"].as_array().and_then(|c| c.iter().find(|c| c["name"] == "tuchanka2")).expect("tuchanka2");
    let nodes = two["state"]["online"].as_array().expect("tuchanka2 answers");
    assert_eq!(nodes.len(), 2, "{two:#}");

    lab.assert_destroyed();
}
