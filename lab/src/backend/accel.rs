//! Which accelerator QEMU VMs run under: KVM when the host really has
//! hardware virtualization, TCG (software emulation) otherwise.
//!
//! `/dev/kvm` alone proves nothing: a host can expose a paravirtual KVM
//! (PVM) that cannot run a stock guest kernel, and there `-cpu host` aborts.
//! So KVM is chosen only when the CPU flags show vmx or svm AND a VM
//! actually runs under KVM for a moment. TCG is about ten times slower,
//! which is why the lab records the accelerator and scales its timeouts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The accelerator a lab's VMs use, fixed when the lab is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// QEMU arguments selecting this accelerator.
    pub fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
            // A bigger translation cache than the default makes TCG guests markedly faster.
            Accel::Tcg => &["-accel", "tcg,tb-size=256"],
        }
    }
}

/// What the configuration asks for (`qemu.accel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, thiserror::Error)]
#[error("qemu.accel = \"kvm\", but {reason}; set qemu.accel = \"tcg\" (or \"auto\") to emulate instead")]
pub struct KvmUnusable {
    pub reason: String,
}

/// Whether `/proc/cpuinfo` text shows Intel VT-x (vmx) or AMD-V (svm).
pub fn has_hardware_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| line.split_whitespace().any(|flag| flag == "vmx" || flag == "svm"))
}

/// Decides the accelerator for `choice` on this host.
pub async fn choose(choice: AccelChoice, qemu: &str) -> Result<Accel, KvmUnusable> {
    if choice == AccelChoice::Tcg {
        return Ok(Accel::Tcg);
    }
    match kvm_usable(qemu).await {
        Ok(()) => Ok(Accel::Kvm),
        Err(reason) if choice == AccelChoice::Kvm => Err(KvmUnusable { reason }),
        Err(reason) => {
            tracing::warn!(%reason, "KVM not usable: VMs run under TCG (software emulation, about 10x slower)");
            Ok(Accel::Tcg)
        }
    }
}

async fn kvm_usable(qemu: &str) -> Result<(), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !has_hardware_virtualization(&cpuinfo) {
        return Err("the CPU shows no hardware virtualization (no vmx/svm flag in /proc/cpuinfo)".into());
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return Err(format!("/dev/kvm cannot be opened: {e}"));
    }
    kvm_runs_a_vm(qemu).await
}

/// Starts a tiny VM under KVM (firmware only, no disk) and checks that it
/// is still running after a second: a paravirtual KVM fails right here.
async fn kvm_runs_a_vm(qemu: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let socket = dir.path().join("qmp");
    let mut child = tokio::process::Command::new(qemu)
        .args(["-machine", "q35"])
        .args(Accel::Kvm.qemu_args())
        .args(["-m", "64", "-nodefaults", "-display", "none"])
        .args(["-S", "-qmp"])
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {qemu}: {e}"))?;
    let verdict = async {
        let mut qmp =
            crate::backend::qmp::Qmp::connect(&socket, Duration::from_secs(10)).await.map_err(|e| e.to_string())?;
        qmp.cont().await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let status = qmp.status().await.map_err(|e| e.to_string())?;
        let _ = qmp.quit().await;
        if status.running { Ok(()) } else { Err(format!("a test VM stopped under KVM ({})", status.status)) }
    }
    .await;
    if verdict.is_err() {
        let _ = child.start_kill();
        if let Ok(output) = child.wait_with_output().await {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if !stderr.trim().is_empty() {
                return Err(format!("a test VM failed under KVM: {}", crate::host::tail(&stderr)));
            }
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_decide_hardware_virtualization() {
        let intel = "processor\t: 0\nflags\t\t: fpu vme de pse vmx ept\n";
        let amd = "flags\t\t: fpu svm npt\n";
        let pvm = "flags\t\t: fpu vme de pse hypervisor\nvmx flags\t: none\n";
        assert!(has_hardware_virtualization(intel));
        assert!(has_hardware_virtualization(amd));
        assert!(!has_hardware_virtualization(pvm), "only the flags line counts");
    }

    #[tokio::test]
    async fn tcg_is_taken_as_asked() {
        assert_eq!(choose(AccelChoice::Tcg, "no-such-qemu").await.expect("tcg"), Accel::Tcg);
    }

    #[tokio::test]
    async fn forced_kvm_without_it_says_how_to_fall_back() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        if has_hardware_virtualization(&cpuinfo) {
            return; // a workstation with KVM: nothing to refuse
        }
        let err = choose(AccelChoice::Kvm, "qemu-system-x86_64").await.expect_err("no kvm here");
        assert!(err.to_string().contains("qemu.accel = \"tcg\""), "{err}");
        assert_eq!(choose(AccelChoice::Auto, "qemu-system-x86_64").await.expect("auto"), Accel::Tcg);
    }
}
