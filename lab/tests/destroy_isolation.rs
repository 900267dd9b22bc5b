//! `lab destroy` removes one lab's objects and nothing of another lab whose
//! name it is a prefix of (`rs` and `rsa`, `rsb` and `rsb-x`), nor a
//! process a stale pid file happens to name.
//!
//! The labs here are their traces only, as an interrupted make-all leaves
//! them: real network namespaces (`ip netns`), a process standing for each
//! node's systemd-nspawn (its argv[0] and `--directory` are nspawn's; it is
//! a shell that sleeps), the state directory, and pid files. Needs root
//! (network namespaces), as CI runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

struct Traces {
    state: PathBuf,
    children: Vec<Child>,
    namespaces: Vec<String>,
}

impl Traces {
    /// The namespaces, node process and state a lab called `lab` leaves.
    fn lab(&mut self, lab: &str) -> u32 {
        for ns in [format!("lab-{lab}"), format!("lab-{lab}.n1")] {
            run("ip", &["netns", "add", &ns]);
            self.namespaces.push(ns);
        }
        let root = self.state.join("labs").join(lab).join("nodes").join("n1").join("root");
        std::fs::create_dir_all(&root).expect("node root");
        self.spawn("systemd-nspawn", &["--quiet", "--boot", "--directory", root.to_str().expect("utf8")])
    }

    /// A process whose argv[0] is `name`, with `args` after it.
    fn spawn(&mut self, name: &str, args: &[&str]) -> u32 {
        let child = Command::new("bash")
            .args(["-c", "exec -a \"$0\" bash -c 'sleep 600; true' \"$@\"", name])
            .args(args)
            .spawn()
            .expect("spawn");
        let pid = child.id();
        self.children.push(child);
        wait_for_argv0(pid, name);
        pid
    }

    fn destroy(&self, lab: &str) {
        let out = Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg("--state-dir")
            .arg(&self.state)
            .args(["--lab", lab, "destroy"])
            .output()
            .expect("lab destroy");
        assert!(out.status.success(), "destroy {lab}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Traces {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().expect(program);
    assert!(status.success(), "{program} {args:?}");
}

fn wait_for_argv0(pid: u32, name: &str) {
    for _ in 0..100 {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).next() == Some(name.as_bytes()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("process {pid} never became `{name}`");
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
}

fn namespace_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

#[test]
fn destroying_a_lab_leaves_labs_with_longer_names_and_unrelated_processes_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut traces = Traces { state: dir.path().join("state"), children: Vec::new(), namespaces: Vec::new() };
    let rsa = traces.lab("rsa");
    let rsb = traces.lab("rsb");
    let rsb_x = traces.lab("rsb-x");
    // Stale pid files: lab `rs`'s names an unrelated sleep, lab `rsb`'s a
    // process with "fenced" in its name that is no fence daemon of lab's.
    let unrelated = traces.spawn("sleep", &[]);
    let pacemaker = traces.spawn("pacemaker-fenced", &[]);
    for (lab, pid) in [("rs", unrelated), ("rsb", pacemaker)] {
        let root = traces.state.join("labs").join(lab);
        std::fs::create_dir_all(&root).expect("lab dir");
        std::fs::write(root.join("fenced.pid"), format!("{pid}\n")).expect("pid file");
    }

    traces.destroy("rs");
    assert!(alive(rsa) && alive(rsb) && alive(rsb_x), "lab rs destroyed another lab's node");
    assert!(alive(unrelated), "a stale pid file's process was killed");
    assert!(namespace_exists("lab-rsa.n1") && namespace_exists("lab-rsb.n1"));

    traces.destroy("rsb");
    assert!(!alive(rsb), "lab rsb's node is gone");
    assert!(!namespace_exists("lab-rsb") && !namespace_exists("lab-rsb.n1"));
    assert!(!traces.state.join("labs").join("rsb").exists());
    assert!(alive(rsb_x), "lab rsb-x's node survives lab rsb's destroy");
    assert!(namespace_exists("lab-rsb-x") && namespace_exists("lab-rsb-x.n1"));
    assert!(traces.state.join("labs").join("rsb-x").exists());
    assert!(alive(pacemaker), "a process merely named like a fence daemon was killed");
    assert!(alive(rsa));
}
