//! How the cluster fences a node it lost: `[cluster] fencing`.
//!
//! - `lab`: a fence device per node (`fence_lab`) asks the host-side fence
//!   daemon ([`crate::fenced`]) to power the node off or reset it, as a
//!   power switch or a BMC would: confirmed as soon as it is done.
//! - `sbd`: Tuchanka's watchdog fencing. Each node runs sbd, which feeds a
//!   watchdog device only while its node is healthy and quorate; a node
//!   that loses quorum, or whose sbd stops, is reset by the watchdog. The
//!   survivors have no device to ask: Pacemaker counts the node as fenced
//!   once `stonith-watchdog-timeout` (twice the watchdog's timeout) has
//!   passed. The device must be the node's own (QEMU emulates an Intel
//!   6300ESB): a container's would be the host's, and would reset the host.

use serde::{Deserialize, Serialize};

use crate::config::BackendKind;

/// A lab's fencing mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fencing {
    /// `fence_lab` devices and the host's fence daemon.
    #[default]
    Lab,
    /// sbd with each node's own watchdog device, no fence device.
    Sbd,
}

impl Fencing {
    pub fn as_str(self) -> &'static str {
        match self {
            Fencing::Lab => "lab",
            Fencing::Sbd => "sbd",
        }
    }

    /// Why nodes of `backend` cannot be fenced this way, if they cannot.
    pub fn refuses(self, backend: BackendKind) -> Option<&'static str> {
        match (self, backend) {
            (Fencing::Lab, _) | (Fencing::Sbd, BackendKind::Qemu) => None,
            (Fencing::Sbd, BackendKind::Container) => Some(
                "\"sbd\" resets a node through a watchdog device of its own kernel, and a container's would be \
                 the host's: use --backend qemu, or fencing = \"lab\"",
            ),
            (Fencing::Sbd, BackendKind::VirtualBox) => Some(
                "\"sbd\" needs the watchdog device that lab gives QEMU VMs (i6300esb), and VirtualBox VMs have \
                 none: use --backend qemu, or fencing = \"lab\"",
            ),
        }
    }
}

impl std::fmt::Display for Fencing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbd_runs_on_qemu_only_and_says_what_to_use_instead() {
        assert_eq!(Fencing::Lab.refuses(BackendKind::Container), None);
        assert_eq!(Fencing::Sbd.refuses(BackendKind::Qemu), None);
        for backend in [BackendKind::Container, BackendKind::VirtualBox] {
            let why = Fencing::Sbd.refuses(backend).expect("refused");
            assert!(why.contains("--backend qemu") && why.contains("fencing = \"lab\""), "{why}");
        }
    }
}
