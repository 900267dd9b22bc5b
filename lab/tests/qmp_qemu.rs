//! `lab::backend::qmp` against a real QEMU: a tiny VM (firmware only, 64 MB, TCG,
//! a 64 MB qcow2 disk and a NIC on a hub with no other port, so no frame
//! leaves it) started paused by the test, driven through every helper the
//! lab uses, then told to quit.
//!
//! Needs qemu-system-x86 and qemu-utils; takes a few seconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab::backend::qmp::{Qmp, QmpError, Status};

/// Finds `program` on PATH or fails the test saying what to install.
fn require(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH: apt-get install qemu-system-x86 qemu-utils"))
}

/// A QEMU process, killed when the test ends however it ends.
struct QemuGuard {
    child: Child,
    stderr: PathBuf,
}

impl QemuGuard {
    /// What QEMU printed on stderr so far, for failure messages.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits up to `timeout` for QEMU to exit, returning how it exited.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait on qemu") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for QemuGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the disk and starts QEMU paused (`-S`, state `prelaunch`).
fn start_qemu(dir: &Path, socket: &Path) -> QemuGuard {
    let qemu = require("qemu-system-x86_64");
    let qemu_img = require("qemu-img");
    let disk = dir.join("disk.qcow2");
    let made = Command::new(qemu_img).args(["create", "-q", "-f", "qcow2"]).arg(&disk).arg("64M").output();
    let made = made.expect("run qemu-img");
    assert!(made.status.success(), "qemu-img create failed: {}", String::from_utf8_lossy(&made.stderr));

    let stderr = dir.join("qemu.stderr");
    let child = Command::new(qemu)
        .args(["-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S", "-m", "64"])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", disk.display()))
        // A hub port with no other port: the NIC is there, nothing is reachable.
        .args(["-netdev", "hubport,id=n0,hubid=0", "-device", "virtio-net-pci,netdev=n0,id=nic0"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("create the stderr file"))
        .spawn()
        .expect("start qemu-system-x86_64");
    QemuGuard { child, stderr }
}

fn status(running: bool, status: &str) -> Status {
    Status { running, status: status.to_owned() }
}

#[tokio::test]
async fn drives_a_real_qemu_through_qmp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("vm.qmp");
    let mut qemu = start_qemu(dir.path(), &socket);

    // Right after the start: the socket may not exist yet, connect waits for it.
    let mut qmp = match Qmp::connect(&socket, Duration::from_secs(20)).await {
        Ok(qmp) => qmp,
        Err(e) => panic!("{e}\nqemu stderr:\n{}", qemu.stderr()),
    };
    assert_eq!(qmp.path(), socket);
    assert_eq!(qmp.status().await.expect("query-status"), status(false, "prelaunch"));

    qmp.cont().await.expect("cont");
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));
    qmp.stop().await.expect("stop");
    assert_eq!(qmp.status().await.expect("query-status"), status(false, "paused"));
    assert!(qmp.recent_events().iter().any(|e| e.name == "STOP"), "{:?}", qmp.recent_events());

    qmp.set_link("nic0", false).await.expect("pull the cable");
    qmp.set_link("nic0", true).await.expect("plug the cable in");
    let err = qmp.set_link("nic9", false).await.expect_err("there is no nic9");
    assert_eq!(err.class(), Some("DeviceNotFound"), "{err}");
    let text = err.to_string();
    assert!(text.contains("nic9") && text.contains("set_link") && text.contains("vm.qmp"), "{text}");

    // Live snapshots of a running VM: it runs on after each.
    qmp.cont().await.expect("cont");
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), Vec::<String>::new());
    qmp.save_snapshot("install").await.expect("savevm install");
    qmp.save_snapshot("setup").await.expect("savevm setup");
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), ["install", "setup"]);
    // The disk itself has them (-U: QEMU holds the image lock).
    let listing = Command::new("qemu-img")
        .args(["snapshot", "-l", "-U"])
        .arg(dir.path().join("disk.qcow2"))
        .output()
        .expect("run qemu-img snapshot -l");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("install") && listing.contains("setup"), "{listing}");

    qmp.load_snapshot("install").await.expect("loadvm install");
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));

    let err = qmp.load_snapshot("missing").await.expect_err("there is no snapshot `missing`");
    assert!(matches!(err, QmpError::Human { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("loadvm missing failed") && text.contains("'missing' does not exist"), "{text}");
    // QEMU leaves the VM stopped after a failed loadvm.
    assert_eq!(qmp.status().await.expect("query-status"), status(false, "restore-vm"));
    qmp.load_snapshot("setup").await.expect("loadvm setup");
    qmp.cont().await.expect("cont after loadvm");
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), ["install", "setup"]);

    // A named snapshot of `lab snapshot save`, deleted by `lab snapshot delete`.
    qmp.save_snapshot("tuned").await.expect("savevm tuned");
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), ["install", "setup", "tuned"]);
    qmp.delete_snapshot("tuned").await.expect("delvm tuned");
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), ["install", "setup"]);
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));
    // QEMU's delvm of a missing snapshot says nothing: the backend looks
    // in `info snapshots` first, so a deletion is never taken for done.
    qmp.delete_snapshot("tuned").await.expect("delvm of a missing snapshot prints nothing");
    assert_eq!(qmp.snapshots().await.expect("info snapshots"), ["install", "setup"]);

    let unknown = qmp.execute("no-such-command", None).await.expect_err("an unknown command");
    assert_eq!(unknown.class(), Some("CommandNotFound"), "{unknown}");

    qmp.system_reset().await.expect("system_reset");
    assert!(qmp.recent_events().iter().any(|e| e.name == "RESET"), "{:?}", qmp.recent_events());
    assert_eq!(qmp.status().await.expect("query-status"), status(true, "running"));

    qmp.quit().await.expect("quit");
    let exited = qemu.wait_exit(Duration::from_secs(10));
    assert!(exited.is_some_and(|s| s.success()), "qemu did not exit cleanly after quit: {exited:?}\n{}", qemu.stderr());
    assert!(qmp.status().await.is_err(), "QEMU is gone");
}
