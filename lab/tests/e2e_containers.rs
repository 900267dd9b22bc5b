//! End to end, for real, on the container backend: `lab make-all` builds
//! the image (or reuses the cache), the hosts and the whole HA stack; then
//! `lab scenario kill-postgres-master` must pass its expectations; then
//! `lab suite --only poweroff-master` must pass too; a named snapshot is
//! saved, rolled back to and deleted; `lab sweep` runs poweroff-master at
//! two probe rates; and `lab destroy` must leave nothing behind.
//!
//! Needs root, mmdebstrap, systemd-nspawn and a reachable Debian mirror,
//! and takes minutes: ignored by default, run by CI with `--include-ignored`.

mod common;

use common::{Cleanup, LabCli, assert_only_async_losses, first_run, json, newest_run_dir};

#[test]
#[ignore = "needs root, mmdebstrap and systemd-nspawn; takes minutes (CI runs it)"]
fn make_all_then_two_faults_then_destroy() {
    let lab = LabCli { name: "e2e" };
    let _cleanup = Cleanup(lab.name);
    let made = lab.run(&["--json", "make-all"]);
    assert_eq!(made.status.code(), Some(0), "make-all failed");
    let timings = json(&made);
    assert!(timings["total_s"].as_f64().is_some_and(|t| t > 0.0));

    let status = lab.run(&["--json", "status"]);
    assert_eq!(status.status.code(), Some(0));
    let status = json(&status);
    assert_eq!(status["snapshots"], serde_json::json!(["install", "setup"]));
    assert_eq!(status["hosts"].as_array().map(Vec::len), Some(3));

    let run = lab.run(&["--json", "scenario", "kill-postgres-master", "--seed", "7"]);
    let suite = json(&run);
    assert_eq!(suite["seed"], 7);
    let result = first_run(&suite);
    assert_only_async_losses(&run, result);
    assert!(result["lost_writes"]["postgres"]["acknowledged"].as_u64().is_some_and(|n| n > 10), "the writer wrote");
    assert!(result["lost_writes"]["redis"]["acknowledged"].as_u64().is_some_and(|n| n > 10), "Redis was probed too");
    assert_eq!(result["service"], "postgres");
    assert_ne!(result["master_after"], result["victim"], "the master moved");
    let probes = result["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 4, "a writer and a reader of each of the stack's services");
    let writer = probes.iter().find(|p| p["probe"] == "postgres-writer").expect("writer");
    assert!(writer["failed"].as_u64().is_some_and(|n| n > 0), "the writer saw the master die");
    // The reader uses the replica VIP, which stays up on the replica.
    for probe in probes {
        assert!(probe["longest_outage_ms"].as_f64().is_some(), "{} recovered", probe["probe"]);
    }
    let runs = lab.runs();
    let dir = newest_run_dir(&runs, "-kill-postgres-master");
    for file in ["results.json", "kill-postgres-master-1/result.json", "kill-postgres-master-1/probes.json"] {
        assert!(dir.join(file).is_file(), "{} missing", dir.join(file).display());
    }
    // The cluster's own account: every host's journal, the failover in its
    // phases, and where the master was poll by poll.
    let new_master = result["master_after"].as_str().expect("a new master");
    let journal = dir.join("kill-postgres-master-1/journals").join(format!("{new_master}.log"));
    let journal = std::fs::read_to_string(&journal).unwrap_or_else(|e| panic!("{}: {e}", journal.display()));
    assert!(journal.contains("pacemaker-controld"), "{journal}");
    let phases = &result["phases"];
    for phase in ["detected_ms", "promoted_ms", "vip_ms", "first_write_ms"] {
        assert!(phases[phase].as_f64().is_some_and(|ms| ms >= 0.0), "{phase} in {phases}");
    }
    let placements = result["placements"].as_array().expect("placements");
    assert_eq!(placements.first().map(|p| &p["master"]), Some(&result["victim"]), "{placements:?}");
    assert_eq!(placements.last().map(|p| p["master"].as_str()), Some(Some(new_master)), "{placements:?}");

    // `lab mon` finds the node running Pacemaker by asking over ssh.
    let mon = lab.run(&["mon"]);
    assert_eq!(mon.status.code(), Some(0), "{}", String::from_utf8_lossy(&mon.stderr));
    assert!(String::from_utf8_lossy(&mon.stdout).contains("Online"), "crm_mon's node list");

    // The nodes are not host root: their processes are host uids no
    // account has, and a node's root reaches neither host-wide settings nor
    // the host's kernel log, even after remounting /proc/sys.
    let pids = lab::backend::cgroups::Cgroups::of_lab("lab-e2e").pids();
    assert!(pids.len() > 20, "the nodes' processes are in their control groups: {pids:?}");
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().next());
        if let Some(uid) = uid {
            let uid: u32 = uid.parse().expect("uid");
            assert!(uid >= 0x8_0000 || status.contains("systemd-nspawn"), "pid {pid} runs as host uid {uid}");
        }
    }
    let node = std::process::Command::new("ip")
        .args(["netns", "exec", "lab-e2e", "ssh", "-F", "/var/lib/lab/labs/e2e/ssh/config", "tuchanka-a"])
        .arg(
            "id -u; echo 3 > /proc/sys/vm/drop_caches && echo host-setting-written; \
             mount -o remount,rw /proc/sys; echo 3 > /proc/sys/vm/drop_caches && echo host-setting-written; \
             dmesg > /dev/null && echo host-log-read; ip addr add 192.168.89.200/32 dev eth0 && ip addr del 192.168.89.200/32 dev eth0 && echo own-address-added",
        )
        .output()
        .expect("ssh");
    let said = String::from_utf8_lossy(&node.stdout);
    assert!(said.starts_with("0\n"), "root inside the node: {said}");
    assert!(!said.contains("host-setting-written") && !said.contains("host-log-read"), "{said}");
    assert!(said.contains("own-address-added"), "the node configures its own network: {said}");

    // A second real fault, through the suite command: Tuchanka's main test.
    let run = lab.run(&["--json", "suite", "--only", "poweroff-master", "--seed", "8"]);
    let suite = json(&run);
    assert_only_async_losses(&run, first_run(&suite));
    assert_eq!(first_run(&suite)["fault"]["action"], "poweroff");
    assert!(
        first_run(&suite)["phases"]["fenced_ms"].as_f64().is_some(),
        "the victim was fenced: {}",
        first_run(&suite)
    );
    assert_eq!(suite["schema"], 2);
    let dir = newest_run_dir(&runs, "-suite");
    for file in ["results.json", "junit.xml", "summary.md", "report.html", "poweroff-master-1/probes.json"] {
        assert!(dir.join(file).is_file(), "{} missing", dir.join(file).display());
    }
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.contains("<svg"), "the report has a timeline");

    // Comparing the run with itself is no regression, but a failed run
    // (an asynchronous loss) still fails the comparison.
    let results = dir.join("results.json");
    let results = results.to_str().expect("utf8");
    let compared = lab.run(&["report", results, "--baseline", results]);
    let expected = if first_run(&suite)["passed"] == true { 0 } else { 1 };
    assert_eq!(compared.status.code(), Some(expected));

    let rollback = lab.run(&["--json", "rollback", "setup"]);
    assert_eq!(rollback.status.code(), Some(0));

    // A named snapshot: saved from running hosts, which run again after;
    // a change made later is gone after a rollback to it; then deleted.
    let saved = lab.run(&["--json", "snapshot", "save", "mine"]);
    assert_eq!(saved.status.code(), Some(0));
    assert_eq!(json(&saved)["hosts_rebooted"], true);
    let touched = lab.run(&["ssh", "tuchanka-a", "touch", "/root/after-mine"]);
    assert_eq!(touched.status.code(), Some(0), "the hosts run after the save");
    assert_eq!(lab.run(&["rollback", "mine"]).status.code(), Some(0));
    let gone = lab.run(&["ssh", "tuchanka-a", "test", "!", "-e", "/root/after-mine"]);
    assert_eq!(gone.status.code(), Some(0), "the rollback undid the later change");
    let listed = json(&lab.run(&["--json", "list"]));
    let this = listed.as_array().and_then(|labs| labs.iter().find(|l| l["name"] == lab.name)).expect("listed");
    assert_eq!(this["snapshots"], serde_json::json!(["install", "setup", "mine"]));
    assert_eq!(this["running"], 3);
    assert_eq!(this["last_run"]["label"], "suite");
    assert_eq!(lab.run(&["snapshot", "delete", "mine"]).status.code(), Some(0));
    assert_eq!(json(&lab.run(&["--json", "snapshot", "list"])).as_array().map(Vec::len), Some(2));

    // A sweep over a value the probes read, not the cluster's setup: both
    // points run on this lab as it is, and each gets its figures.
    let swept = lab.run(&[
        "--json",
        "sweep",
        "poweroff-master",
        "--vary",
        "heartbeat.rate_hz=5,20",
        "--repeat",
        "1",
        "--seed",
        "9",
    ]);
    let sweep = json(&swept);
    let points = sweep["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{sweep}");
    for point in points {
        assert_eq!(point["new_lab"], false, "a probe setting needs no new lab: {point}");
        let run = &point["runs"][0];
        assert!(run["write_outage_ms"].as_f64().is_some_and(|ms| ms > 0.0), "the writer saw the outage: {point}");
        assert!(run["new_master_ms"].as_f64().is_some(), "a new master: {point}");
        // Replication is asynchronous: a failed run may only have lost writes.
        assert!(run["passed"] == true || run["lost_writes"].as_u64() > Some(0), "{point}");
    }
    let all_passed = points.iter().all(|p| p["runs"][0]["passed"] == true);
    assert_eq!(swept.status.code(), Some(if all_passed { 0 } else { 1 }));
    let dir = std::path::PathBuf::from(sweep["sweep_dir"].as_str().expect("sweep_dir"));
    let table = std::fs::read_to_string(dir.join("sweep.md")).expect("sweep.md");
    assert!(table.contains("| heartbeat.rate_hz |") && table.contains("| 20 |"), "{table}");
    let plot = std::fs::read_to_string(dir.join("sweep.svg")).expect("sweep.svg");
    assert!(plot.contains("<svg") && plot.contains("heartbeat.rate_hz"), "{plot}");

    lab.assert_destroyed();
}
