//! Whether a cluster has the witness as its quorum device: `[cluster]
//! quorum_device`.
//!
//! Tuchanka gives a cluster of an even number of nodes the witness's
//! corosync-qnetd (algorithm ffsplit: in a 50/50 split its vote keeps one
//! half running) and one of an odd number none, a majority being always on
//! one side. `none` leaves a two-node cluster to corosync's two_node mode,
//! where both halves of a split stay quorate and the first to fence wins.

use serde::{Deserialize, Serialize};

/// A lab's choice of quorum device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuorumDevice {
    /// The witness for a cluster of an even number of nodes, none for an odd one.
    #[default]
    Auto,
    /// The witness, whatever the number of nodes.
    Witness,
    /// No quorum device.
    None,
}

impl QuorumDevice {
    /// Whether a cluster of `nodes` nodes gets the witness's qnetd.
    pub fn uses_witness(self, nodes: usize) -> bool {
        match self {
            QuorumDevice::Auto => nodes % 2 == 0,
            QuorumDevice::Witness => true,
            QuorumDevice::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuchankas_rule_breaks_ties_of_even_clusters_only() {
        assert!(QuorumDevice::Auto.uses_witness(2) && QuorumDevice::Auto.uses_witness(4));
        assert!(!QuorumDevice::Auto.uses_witness(3));
        assert!(QuorumDevice::Witness.uses_witness(3));
        assert!(!QuorumDevice::None.uses_witness(2));
    }
}
