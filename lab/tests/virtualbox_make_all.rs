//! `lab --backend virtualbox make-all ISO KEY.pub` through the real binary,
//! against the FAKE VBoxManage (`tests/fake/VBoxManage`: VirtualBox cannot
//! run here, see `virtualbox_contract.rs`).
//!
//! The fake installs instantly but its VMs run nothing, so no host ever
//! answers ssh: make-all must install all three hosts from the ISO with
//! lab's kickstart, boot them, give up after `timeouts.boot_s` naming the
//! host, and leave no VM registered. `lab` runs in a network namespace of
//! its own (`unshare --net`) where the whole lab subnet is local: the ssh
//! attempts and the fence daemon stay on its loopback and reach no network.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::installer::{ROCKY9_TREEINFO, fake_vboxmanage, installer_iso};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcBL1VtUC1JiSbn8ZhQ3iAlbMNHfzCTGVNJA+ir3ELT alice@laptop\n";
/// A scratch directory with the fake VBoxManage on a PATH of its own, a
/// small Rocky Linux 9 ISO and root's key.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fake_vboxmanage(root);
        installer_iso(&root.join("Rocky-9.3-x86_64-dvd.iso"), "Rocky-9-3-x86_64-dvd", ROCKY9_TREEINFO);
        std::fs::write(root.join("key.pub"), KEY).expect("key");
        Bench { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `lab --backend virtualbox ARGS` in a network namespace of its own
    /// whose loopback holds the whole lab subnet.
    fn lab(&self, args: &[&str]) -> Output {
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        let inner = "ip link set lo up && ip route add local 192.168.89.0/24 dev lo && exec \"$@\"";
        let out = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", inner, "sh", env!("CARGO_BIN_EXE_lab")])
            .args(["--state-dir", &self.path("state").to_string_lossy(), "--lab", "vbox", "--backend", "virtualbox"])
            .args(["--set", "timeouts.boot_s=3"])
            .args(args)
            .env("PATH", path)
            .env_remove("LAB_LAB__NAME")
            .output()
            .expect("run unshare (util-linux)");
        eprintln!("$ lab {}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        out
    }

    fn make_all(&self, extra: &[&str]) -> Output {
        let (iso, key) = (self.path("Rocky-9.3-x86_64-dvd.iso"), self.path("key.pub"));
        let mut args = vec!["make-all"];
        args.extend_from_slice(extra);
        args.extend([iso.to_str().expect("utf8"), key.to_str().expect("utf8")]);
        self.lab(&args)
    }

    /// The VBoxManage subcommands called so far (`createvm`, `startvm`…).
    fn calls(&self) -> Vec<Vec<String>> {
        let log = std::fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        log.lines().map(|line| serde_json::from_str(line).expect("a JSON array per call")).collect()
    }

    fn count(&self, subcommand: &[&str]) -> usize {
        self.calls().iter().filter(|call| call.iter().take(subcommand.len()).eq(subcommand.iter())).count()
    }

    /// VMs the fake VirtualBox still has registered.
    fn registered(&self) -> usize {
        std::fs::read_dir(self.path("vbox/vms")).map(|d| d.count()).unwrap_or(0)
    }
}

#[test]
fn hosts_are_installed_from_the_iso_and_a_lab_that_never_answers_is_removed() {
    let bench = Bench::new();
    let out = bench.make_all(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "an infrastructure failure: {stderr}");
    assert!(stderr.contains("did not answer ssh within"), "{stderr}");
    assert_eq!(bench.count(&["createvm"]), 3, "three VMs");
    assert_eq!(bench.count(&["unattended", "install"]), 3, "each installed from the ISO");
    assert_eq!(bench.count(&["startvm"]), 3, "each booted after its installation");
    assert_eq!(bench.count(&["unregistervm"]), 3, "and each removed again");
    assert_eq!(bench.registered(), 0, "no VM left");
    assert!(!bench.path("state/labs/vbox").exists(), "no half-made lab");
    let groups: Vec<String> = bench
        .calls()
        .iter()
        .filter(|call| call[0] == "createvm")
        .filter_map(|call| call.iter().skip_while(|a| *a != "--groups").nth(1).cloned())
        .collect();
    assert_eq!(groups.iter().filter(|g| *g == "/lab-vbox/tuchanka").count(), 2, "{groups:?}");
}

#[test]
fn a_kept_lab_has_each_hosts_kickstart_and_lab_destroy_removes_its_vms() {
    let bench = Bench::new();
    let out = bench.make_all(&["--keep-failed"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(bench.registered(), 3, "kept for inspection");

    let manifest = std::fs::read_to_string(bench.path("state/labs/vbox/lab.json")).expect("lab.json");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    assert_eq!(manifest["backend"], "virtualbox");
    assert_eq!(manifest["distribution"], serde_json::json!({"family": "rhellike", "vendor": "rocky", "major": 9}));
    let node = manifest["hosts"][0]["name"].as_str().expect("host").to_owned();
    let kickstart =
        std::fs::read_to_string(bench.path(&format!("state/labs/vbox/nodes/{node}/ks.cfg"))).expect("ks.cfg");
    assert!(kickstart.contains(&format!("--hostname={node}")), "{kickstart}");
    assert!(kickstart.lines().any(|line| line == "postgresql15-server"), "PGDG's PostgreSQL: {kickstart}");
    assert!(kickstart.contains("alice@laptop"), "root's key");
    let password = std::fs::read_to_string(bench.path("state/labs/vbox/secrets/root-password")).expect("secret");
    assert!(!kickstart.contains(password.trim()), "only the password's hash is in the kickstart");
    let mode = std::fs::metadata(bench.path("state/labs/vbox/secrets/root-password")).expect("meta").permissions();
    assert_eq!(mode.mode() & 0o777, 0o600);

    let status = bench.lab(&["--json", "status"]);
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["backend"], "virtualbox");
    assert_eq!(status["distribution"]["vendor"], "rocky");
    let running = status["hosts"].as_array().expect("hosts").iter().filter(|h| h["running"] == true).count();
    assert_eq!(running, 3, "VirtualBox says every VM runs: {status:#}");
    assert_eq!(status["cluster"], serde_json::Value::Null, "no host answers");

    let destroyed = bench.lab(&["--json", "destroy"]);
    assert_eq!(destroyed.status.code(), Some(0), "{}", String::from_utf8_lossy(&destroyed.stderr));
    let removed: serde_json::Value = serde_json::from_slice(&destroyed.stdout).expect("json");
    assert_eq!(removed["vms"], 3);
    assert_eq!(bench.registered(), 0, "no VM left");
    assert!(!bench.path("state/labs/vbox").exists());
}
