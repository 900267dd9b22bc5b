//! Contract tests of the VirtualBox backend.
//!
//! VirtualBox cannot run on this machine, so the backend runs against
//! `tests/fake/VBoxManage`, a stand-in that records every call and answers
//! like VBoxManage 7. Each operation's recorded calls are compared with
//! `tests/data/virtualbox/<operation>.txt` (`UPDATE_GOLDEN=1` rewrites
//! them); paths under the test's scratch directory read `$TMP`.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::installer::{CENTOS7_TREEINFO, fake_vboxmanage, installer_iso};
use lab::backend::virtualbox::{VBoxManageBinary, VirtualBoxSettings, VirtualBoxVms};
use lab::backend::{BackendError, GuestFile, NodeBackend};
use lab::config::Config;
use lab::install::iso::IsoInfo;
use lab::install::kickstart::IsoInstall;
use lab::install::pubkey::PublicKey;
use lab::paths::LabPaths;
use lab::topology::{HostRole, HostSpec, Topology};

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL4z5iK1D0NdwKlKdYJs20SxkDKdkhnfEzRV6zjg1GR7 alice@laptop";
/// A scratch directory with the fake VBoxManage behind a wrapper that
/// gives it its log and state, a small CentOS 7 ISO and a lab of three hosts.
struct Bench {
    dir: tempfile::TempDir,
    vms: VirtualBoxVms,
}

impl Bench {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let wrapper = fake_vboxmanage(root);
        let iso = installer_iso(&root.join("CentOS-7-x86_64-Minimal-2009.iso"), "CentOS 7 x86_64", CENTOS7_TREEINFO);
        let info: IsoInfo = lab::install::iso::inspect(&iso).expect("test ISO recognised");

        let vms = VirtualBoxVms::with_vboxmanage(
            LabPaths::new(&root.join("state"), "t"),
            topology(),
            VirtualBoxSettings {
                poll_interval: Duration::from_millis(10),
                ..VirtualBoxSettings::from_config(&Config::defaults().expect("defaults").virtualbox)
            },
            VBoxManageBinary::new(wrapper.to_string_lossy()),
        )
        .with_install(IsoInstall {
            repos: info.family.repos(15),
            iso,
            info,
            root_key: PublicKey::parse(KEY).expect("key"),
            root_password_hash: lab::install::sha_crypt::hash_password_with_salt("secret", b"fixed salt!!"),
        });
        Bench { dir, vms }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Every call so far, one per line, as `VBoxManage arg…` with `$TMP`
    /// for the scratch directory.
    fn calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.root().join("calls.log")).unwrap_or_default();
        let root = self.root().to_string_lossy().into_owned();
        log.lines()
            .map(|line| {
                let args: Vec<String> = serde_json::from_str(line).expect("a JSON array per call");
                let words: Vec<String> = args.iter().map(|a| shell_word(&a.replace(&root, "$TMP"))).collect();
                format!("VBoxManage {}", words.join(" "))
            })
            .collect()
    }

    /// The calls `operation` makes, compared with its golden file.
    async fn golden<F, T>(&self, name: &str, operation: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        let before = self.calls().len();
        let result = operation.await;
        let calls = self.calls()[before..].join("\n") + "\n";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/virtualbox").join(format!("{name}.txt"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &calls).expect("write golden");
        }
        let expected = std::fs::read_to_string(&path).expect("golden file (UPDATE_GOLDEN=1 makes it)");
        assert_eq!(calls, expected, "{} differs; UPDATE_GOLDEN=1 rewrites it", path.display());
        result
    }

    /// Makes all three hosts, as `lab make-all` does.
    async fn create_all(&self) {
        for host in topology().hosts {
            self.vms.create(&host, &files(&host.name)).await.expect("create");
        }
    }

    /// Runs the fake directly (to set up state behind the backend's back).
    fn fake(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(self.root().join("bin/VBoxManage")).args(args).output().expect("run fake")
    }
}

fn shell_word(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"/.,:=_-+@$%".contains(&b));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

fn topology() -> Topology {
    let config = Config::defaults().expect("embedded defaults");
    let mut topology = Topology::from_config(&config, "image").expect("topology");
    topology.lab = "t".into();
    topology.cluster_name = "krogan".into();
    topology.host_address = Ipv4Addr::new(192, 168, 89, 254);
    topology.prefix = 24;
    topology.pg_version = 15;
    topology.hosts = vec![
        HostSpec {
            name: "node1".into(),
            address: Ipv4Addr::new(192, 168, 89, 11),
            role: HostRole::Node,
            uid_base: None,
        },
        HostSpec {
            name: "node2".into(),
            address: Ipv4Addr::new(192, 168, 89, 12),
            role: HostRole::Node,
            uid_base: None,
        },
        HostSpec {
            name: "witness".into(),
            address: Ipv4Addr::new(192, 168, 89, 251),
            role: HostRole::Witness,
            uid_base: None,
        },
    ];
    topology
}

fn files(node: &str) -> Vec<GuestFile> {
    vec![GuestFile::new("/etc/hostname", format!("{node}\n").into_bytes(), 0o644)]
}

fn nodes() -> Vec<String> {
    topology().hosts.into_iter().map(|h| h.name).collect()
}

fn host(name: &str) -> HostSpec {
    topology().hosts.into_iter().find(|h| h.name == name).expect("host")
}

#[tokio::test]
async fn create_installs_from_the_iso_with_our_kickstart() {
    let bench = Bench::new();
    let node1 = host("node1");
    bench.golden("create", bench.vms.create(&node1, &files("node1"))).await.expect("create");
    assert!(!bench.vms.is_running("node1").await.expect("state"), "installed and powered off");

    // VirtualBox got the kickstart lab wrote, unchanged.
    let written = std::fs::read_to_string(bench.root().join("state/labs/t/nodes/node1/ks.cfg")).expect("ks.cfg");
    let given = std::fs::read_to_string(bench.root().join("vbox/unattended/lab-t-node1.ks")).expect("template");
    assert_eq!(written, given);
    assert!(written.contains("--hostname=node1"));
    assert!(written.contains("network --device=08:00:27:89:59:0b --bootproto=static --ip=192.168.89.11"));
    assert!(written.contains("network --device=08:00:27:a9:59:0b --bootproto=dhcp"), "the NAT uplink");
    assert!(written.contains("ignoredisk --only-use=sda"));
    assert!(written.contains("\nbm9kZTEK\n"), "the node's files travel in %post");
}

#[tokio::test]
async fn create_reuses_a_hostonly_interface_holding_the_lab_address() {
    let bench = Bench::new();
    assert!(bench.fake(&["hostonlyif", "create"]).status.success());
    assert!(bench.fake(&["hostonlyif", "create"]).status.success());
    let ip = ["hostonlyif", "ipconfig", "vboxnet1", "--ip", "192.168.89.254", "--netmask", "255.255.255.0"];
    assert!(bench.fake(&ip).status.success());
    let before = bench.calls().len();
    bench.vms.create(&host("witness"), &files("witness")).await.expect("create");
    let calls = &bench.calls()[before..];
    assert_eq!(calls[0], "VBoxManage list hostonlyifs");
    assert!(calls[1].starts_with("VBoxManage createvm --name lab-t-witness --groups /lab-t "), "{}", calls[1]);
    assert!(calls.iter().any(|c| c.contains("--hostonlyadapter1 vboxnet1 ")), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.contains("hostonlyif create")), "{calls:#?}");
}

#[tokio::test]
async fn power_link_and_state_operations() {
    let bench = Bench::new();
    bench.create_all().await;
    let vms = &bench.vms;
    assert!(!bench.golden("is_running", vms.is_running("node1")).await.expect("state"));
    bench.golden("start", vms.start("node1")).await.expect("start");
    assert!(vms.is_running("node1").await.expect("state"));
    bench.golden("start_running", vms.start("node1")).await.expect("start is idempotent");
    bench.golden("set_link_down", vms.set_link("node1", false)).await.expect("link down");
    assert!(!vms.link_is_up("node1").await.expect("link"));
    bench.golden("set_link_up", vms.set_link("node1", true)).await.expect("link up");
    assert!(vms.link_is_up("node1").await.expect("link"));
    bench.golden("limit_cpu", vms.limit_cpu("node1", Some(5))).await.expect("CPU starved");
    bench.golden("limit_cpu_off", vms.limit_cpu("node1", None)).await.expect("CPU given back");
    bench.golden("reset", vms.reset("node1")).await.expect("reset");
    bench.golden("power_off", vms.power_off("node1")).await.expect("power off");
    assert!(!vms.is_running("node1").await.expect("state"));
    bench.golden("power_off_stopped", vms.power_off("node1")).await.expect("power off is idempotent");
    bench.golden("set_link_down_stopped", vms.set_link("node1", false)).await.expect("cable of a stopped VM");
    bench.golden("limit_cpu_stopped", vms.limit_cpu("node1", Some(5))).await.expect("a stopped VM is left as it is");
    assert!(!vms.link_is_up("node1").await.expect("link"));
}

#[tokio::test]
async fn snapshots_are_taken_replaced_and_restored() {
    let bench = Bench::new();
    bench.create_all().await;
    let vms = &bench.vms;
    let nodes = nodes();
    bench.golden("save_snapshot", vms.save_snapshot("install", &nodes)).await.expect("save");
    bench.golden("save_snapshot_again", vms.save_snapshot("install", &nodes)).await.expect("replace");
    assert!(bench.root().join("state/labs/t/snapshots/install").is_dir(), "`lab status` lists it");

    vms.start("node1").await.expect("start");
    vms.set_link("node1", false).await.expect("link down");
    bench.golden("restore_snapshot", vms.restore_snapshot("install", &nodes)).await.expect("restore");
    for node in &nodes {
        assert!(!vms.is_running(node).await.expect("state"), "{node} powered off after a restore");
    }
    assert!(vms.link_is_up("node1").await.expect("link"), "the snapshot's cable state is back");
}

#[tokio::test]
async fn a_named_snapshot_is_deleted_from_every_vm_and_from_the_list() {
    let bench = Bench::new();
    bench.create_all().await;
    let (vms, nodes) = (&bench.vms, nodes());
    vms.save_snapshot("tuned", &nodes).await.expect("save");
    bench.golden("delete_snapshot", vms.delete_snapshot("tuned", &nodes)).await.expect("delete");
    assert!(!bench.root().join("state/labs/t/snapshots/tuned").exists(), "`lab snapshot list` forgets it");
    let error = vms.delete_snapshot("tuned", &nodes).await.expect_err("gone");
    assert!(matches!(error, BackendError::NoSnapshot { ref name } if name == "tuned"), "{error}");
}

#[tokio::test]
async fn a_missing_snapshot_is_reported_before_anything_is_touched() {
    let bench = Bench::new();
    bench.create_all().await;
    bench.vms.start("node2").await.expect("start");
    let error = bench.golden("restore_missing_snapshot", bench.vms.restore_snapshot("setup", &nodes())).await;
    let error = error.expect_err("no such snapshot");
    assert!(matches!(error, BackendError::NoSnapshot { ref name } if name == "setup"), "{error}");
    assert!(error.to_string().contains("lab make-all"), "{error}");
    assert!(bench.vms.is_running("node2").await.expect("state"), "nothing was powered off");
}

#[tokio::test]
async fn a_snapshot_of_a_running_vm_is_refused() {
    let bench = Bench::new();
    bench.create_all().await;
    bench.vms.start("witness").await.expect("start");
    let error = bench.vms.save_snapshot("install", &nodes()).await.expect_err("running");
    assert_eq!(error.to_string(), "node `witness` must be powered off for a snapshot");
}

#[tokio::test]
async fn an_unknown_vm_is_named_with_what_to_do() {
    let bench = Bench::new();
    for error in [
        bench.vms.start("node1").await.expect_err("no VM"),
        bench.vms.power_off("node1").await.expect_err("no VM"),
        bench.vms.set_link("node1", false).await.expect_err("no VM"),
    ] {
        let message = error.to_string();
        assert!(message.starts_with("node `node1` has no VirtualBox VM `lab-t-node1`"), "{message}");
        assert!(message.contains("lab make-all --backend virtualbox ISO KEY.pub"), "{message}");
    }
    assert_eq!(bench.calls(), ["VBoxManage showvminfo lab-t-node1 --machinereadable"; 3]);
}

#[tokio::test]
async fn destroy_removes_the_vm_and_finds_leftovers() {
    let bench = Bench::new();
    bench.create_all().await;
    bench.vms.start("node1").await.expect("start");
    let folder = bench.root().join("other-lab").to_string_lossy().into_owned();
    let other_lab = ["createvm", "--name", "lab-t-2-node1", "--basefolder", &folder, "--register"];
    assert!(bench.fake(&other_lab).status.success(), "lab `t-2`'s VM");
    assert_eq!(bench.vms.registered().await.expect("list"), ["lab-t-node1", "lab-t-node2", "lab-t-witness"]);
    bench.golden("destroy", bench.vms.destroy("node1")).await.expect("destroy");
    bench.vms.destroy("node1").await.expect("destroying nothing is fine");
    assert_eq!(bench.vms.registered().await.expect("list"), ["lab-t-node2", "lab-t-witness"]);
    assert_eq!(bench.vms.destroy_all().await.expect("destroy all"), 2);
    assert!(bench.vms.registered().await.expect("list").is_empty());
    let listing = bench.fake(&["list", "vms"]);
    assert!(String::from_utf8_lossy(&listing.stdout).contains("\"lab-t-2-node1\""), "another lab's VM stays");
}

#[tokio::test]
async fn create_without_an_iso_or_vboxmanage_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = LabPaths::new(dir.path(), "t");
    let missing = PathBuf::from("/nonexistent/VBoxManage");
    let vms = VirtualBoxVms::with_vboxmanage(
        paths.clone(),
        topology(),
        VirtualBoxSettings::from_config(&Config::defaults().expect("defaults").virtualbox),
        VBoxManageBinary::new(missing.to_string_lossy()),
    );
    let message = vms.create(&host("node1"), &[]).await.expect_err("no ISO").to_string();
    assert!(message.contains("no installation ISO given (`lab make-all ISO KEY.pub`)"), "{message}");
    let message = vms.start("node1").await.expect_err("no VBoxManage").to_string();
    assert!(message.contains("`/nonexistent/VBoxManage` is not installed: install VirtualBox"), "{message}");
}
