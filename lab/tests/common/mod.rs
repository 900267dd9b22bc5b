//! What the end-to-end tests share: running the lab binary on one lab,
//! judging a run's result, finding run directories, and checking that
//! `lab destroy` left nothing behind; and ([`installer`]) the installation
//! media and fake VBoxManage of the tests of installing from an ISO.

#![allow(dead_code)]

pub mod installer;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The lab binary acting on one named lab.
pub struct LabCli {
    pub name: &'static str,
}

impl LabCli {
    pub fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(["--lab", self.name, "-v"])
            .args(args)
            .output()
            .expect("run lab");
        eprintln!(
            "$ lab {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Where this lab's scenario and suite results go.
    pub fn runs(&self) -> PathBuf {
        Path::new("/var/lib/lab/runs").join(self.name)
    }

    /// `lab destroy` succeeded and nothing of the lab is left (see
    /// [`LabCli::assert_nothing_left`]) but its results.
    pub fn assert_destroyed(&self) {
        self.assert_nothing_left();
        assert!(self.runs().is_dir(), "results outlive the lab");
    }

    /// `lab destroy` succeeded and nothing of the lab is left: no state,
    /// namespace, mount or process.
    pub fn assert_nothing_left(&self) {
        let destroyed = self.run(&["--json", "destroy"]);
        assert_eq!(destroyed.status.code(), Some(0));
        assert!(!Path::new("/var/lib/lab/labs").join(self.name).exists(), "state removed");
        let prefix = format!("lab-{}", self.name);
        let netns = std::fs::read_dir("/run/netns")
            .map(|d| {
                // This lab's own: `lab-NAME` and `lab-NAME.HOST`, not lab `NAMEq`'s.
                let own = |n: &String| *n == prefix || n.starts_with(&format!("{prefix}."));
                d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(own).count()
            })
            .unwrap_or(0);
        assert_eq!(netns, 0, "no network namespace left");
        let labs_dir = format!("/labs/{}/", self.name);
        let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
        assert!(!mounts.contains(&labs_dir), "no mount left");
        let left = Command::new("pgrep").args(["-f", &labs_dir]).output().expect("pgrep");
        assert!(left.stdout.is_empty(), "no process left");
        assert!(!lab::backend::cgroups::Cgroups::of_lab(&prefix).exist(), "no control group left");
    }
}

/// Removes the lab even when an assertion fails half-way.
pub struct Cleanup(pub &'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = LabCli { name: self.0 }.run(&["destroy"]);
    }
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The first judged run of a suite's JSON; a run that an infrastructure
/// error ended has no result, and then the error is what the test says.
pub fn first_run(suite: &serde_json::Value) -> &serde_json::Value {
    let run = &suite["runs"][0];
    assert!(run.is_object(), "no judged run; unfinished: {:#}", suite["unfinished"]);
    run
}

/// A run must pass every check, except that with asynchronous replication
/// (the default) a master failure may lose the last acknowledged writes:
/// lab reports that as a failed expectation (exit 1), which is a finding
/// about the cluster, not a fault of lab. Then the lost writes must be the
/// very last ones the writer had acknowledged before the fault.
pub fn assert_only_async_losses(run: &Output, result: &serde_json::Value) {
    let failed: Vec<&str> = result["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    if failed.is_empty() {
        assert_eq!(run.status.code(), Some(0));
        assert_eq!(result["passed"], true);
        return;
    }
    assert_eq!(failed, ["lost acknowledged postgres writes"], "{:#}", result["checks"]);
    assert_eq!(run.status.code(), Some(1), "missed expectations exit 1");
    let lost = result["lost_writes"]["postgres"]["lost"].as_array().expect("lost");
    let acknowledged = result["lost_writes"]["postgres"]["acknowledged"].as_u64().expect("acknowledged");
    assert!(
        lost.len() <= 3 && lost.len() as u64 * 10 < acknowledged,
        "only the few writes in flight at the fault may be lost: {lost:?}"
    );
    eprintln!("asynchronous replication lost {} acknowledged write(s): {lost:?}", lost.len());
}

/// The most recent run directory whose name ends with `suffix`.
pub fn newest_run_dir(runs: &Path, suffix: &str) -> PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(runs)
        .expect("runs dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)))
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| panic!("no run directory ending in {suffix} under {}", runs.display()))
}
