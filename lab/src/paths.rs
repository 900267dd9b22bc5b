//! Where a lab keeps its state on the host.
//!
//! Layout under `lab.state_dir`:
//!
//! ```text
//! images/<recipe-hash>/rootfs     guest image, shared by all labs, rebuilt when the recipe changes
//! labs/<lab>/lab.json             what this lab is (backend, image, nodes)
//! labs/<lab>/secrets/             per-lab passwords and tokens, 0600 in a 0700 directory
//! labs/<lab>/ssh/                 client key, known_hosts (node host keys known in advance), ssh config
//! labs/<lab>/nodes/<node>/        writable layer (upper, work), mount point (root), console.log
//! labs/<lab>/snapshots/<name>/    a copy of every node's writable layer
//! logs/<lab>.log                  everything lab ran for a lab, kept after destroy
//! runs/<lab>/<stamp>-<label>/      results of scenario and suite runs, kept after destroy
//! ```

use std::path::{Path, PathBuf};

/// Paths of one lab.
#[derive(Clone, Debug)]
pub struct LabPaths {
    state_dir: PathBuf,
    lab: String,
}

impl LabPaths {
    pub fn new(state_dir: &Path, lab: &str) -> Self {
        LabPaths { state_dir: state_dir.to_owned(), lab: lab.to_owned() }
    }

    pub fn lab_name(&self) -> &str {
        &self.lab
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn images(&self) -> PathBuf {
        self.state_dir.join("images")
    }

    pub fn root(&self) -> PathBuf {
        self.state_dir.join("labs").join(&self.lab)
    }

    /// The lab's lock file ([`crate::lock`]): outside the lab's directory,
    /// which `destroy` removes while holding it.
    pub fn lock(&self) -> PathBuf {
        self.state_dir.join("locks").join(format!("{}.lock", self.lab))
    }

    pub fn manifest(&self) -> PathBuf {
        self.root().join("lab.json")
    }

    pub fn secrets(&self) -> PathBuf {
        self.root().join("secrets")
    }

    pub fn ssh(&self) -> PathBuf {
        self.root().join("ssh")
    }

    pub fn node(&self, node: &str) -> PathBuf {
        self.root().join("nodes").join(node)
    }

    /// A node's serial console log (VMs) or boot output (containers),
    /// appended across boots and copied into each run's results.
    pub fn console(&self, node: &str) -> PathBuf {
        self.node(node).join("console.log")
    }

    pub fn snapshot(&self, name: &str) -> PathBuf {
        self.root().join("snapshots").join(name)
    }

    /// Scenario and suite results. Outside the lab directory so that they
    /// survive `lab destroy` and the next `lab make-all`: they are the
    /// baselines later runs are compared with.
    pub fn runs(&self) -> PathBuf {
        self.state_dir.join("runs").join(&self.lab)
    }

    /// A directory of [`LabPaths::runs`] for `what` started now:
    /// `20261202-153000-what`, so that a listing sorts by time.
    pub fn new_run(&self, what: &str) -> PathBuf {
        self.runs().join(format!("{}-{what}", run_stamp()))
    }

    /// The log of everything lab ran for this lab. Outside the lab
    /// directory so that it survives `lab destroy` (and tells what it did).
    pub fn log(&self) -> PathBuf {
        self.state_dir.join("logs").join(format!("{}.log", self.lab))
    }

    pub fn fenced_pid(&self) -> PathBuf {
        self.root().join("fenced.pid")
    }

    /// ssh control sockets need a short path (unix socket paths are limited
    /// to 108 bytes), so they live under /run rather than the state dir.
    pub fn ssh_control(&self) -> PathBuf {
        PathBuf::from("/run/lab").join(&self.lab)
    }

    /// The lab's network namespace: the bridge, the host's lab address, the
    /// fence daemon and every probe live here.
    pub fn netns(&self) -> String {
        format!("lab-{}", self.lab)
    }

    /// The arguments lab starts this lab's fence daemon with, after the
    /// binary: a process is this lab's fence daemon only if its arguments
    /// are exactly these (a pid file can be stale, and `pacemaker-fenced`
    /// or another lab's daemon must never be taken for it).
    pub fn fence_daemon_args(&self) -> Vec<String> {
        let dir = self.state_dir.to_string_lossy().into_owned();
        vec!["--state-dir".into(), dir, "--lab".into(), self.lab.clone(), "fenced".into()]
    }

    /// The pid of this lab's running fence daemon, from its pid file,
    /// checked against the process's arguments.
    pub fn running_fence_daemon(&self) -> Option<i32> {
        let pid = crate::process::read_pid(&self.fenced_pid())?;
        let args = crate::process::args(pid);
        let ours = args.get(1..).is_some_and(|tail| tail == self.fence_daemon_args());
        (ours && !crate::process::is_zombie(pid)).then_some(pid)
    }
}

/// Now, as run directories and run ids begin: `20261202-153000` (UTC).
pub fn run_stamp() -> String {
    jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_run_directory_sorts_by_its_start() {
        let dir = LabPaths::new(Path::new("/state"), "night").new_run("suite");
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(dir.parent(), Some(Path::new("/state/runs/night")));
        let (stamp, what) = name.split_at(15);
        assert!(stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'-' } else { b.is_ascii_digit() }), "{name}");
        assert_eq!(what, "-suite");
    }
}
