//! The generation of the cluster stack a distribution ships, and how lab's
//! commands must be spoken to it.
//!
//! Debian 12 and RHEL 8/9 ship Pacemaker 2.1, pcs 0.10+ and corosync 3
//! (knet); RHEL 7 (CentOS 7, Tuchanka's distribution) ships Pacemaker 1.1,
//! pcs 0.9 and corosync 2 (udpu). The cluster and its resources are the
//! same; the words differ: a promotable clone is a `<master>` resource whose
//! roles are `Master`/`Slave` instead of `Promoted`/`Unpromoted`, nodes are
//! authenticated with `pcs cluster auth` instead of `pcs host auth`,
//! corosync.conf is made by `pcs cluster setup --local --name` from host
//! names, `crm_mon` prints XML with `-X`, `pcs resource move/ban` take
//! `--master`, and `pcs cluster stop` cannot `--wait`. Every difference is
//! here (Rust side) or behind `CLUSTER_STACK` in the guest scripts.
//!
//! RHEL 7's dialect cannot run here (no CentOS 7 host or packages): it is
//! checked against what pcs 0.9 and Pacemaker 1.1 document, not run.

/// A generation of Pacemaker, pcs and corosync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterStack {
    /// Pacemaker 1.1, pcs 0.9, corosync 2 (RHEL 7).
    Pacemaker1,
    /// Pacemaker 2.1 or later, pcs 0.10 or later, corosync 3.
    Pacemaker2,
}

impl ClusterStack {
    /// Its name for the guest scripts (`CLUSTER_STACK`).
    pub fn guest_name(self) -> &'static str {
        match self {
            ClusterStack::Pacemaker1 => "pacemaker-1.1",
            ClusterStack::Pacemaker2 => "pacemaker-2",
        }
    }

    /// The command that prints the cluster's state as XML (see [`crate::cluster`]).
    pub fn crm_mon_xml(self) -> &'static str {
        match self {
            // 1.1 has no --output-as: it would print its help and exit 0.
            ClusterStack::Pacemaker1 => "crm_mon -X",
            ClusterStack::Pacemaker2 => "crm_mon -1 --output-as=xml",
        }
    }

    /// The flag of `pcs resource move/ban` that acts on the promoted role.
    pub fn promoted_flag(self) -> &'static str {
        match self {
            ClusterStack::Pacemaker1 => "--master",
            ClusterStack::Pacemaker2 => "--promoted",
        }
    }

    /// `pcs cluster stop --all`, waiting up to `wait_s` for the stack to go
    /// where pcs can wait (0.9 cannot: it returns once asked).
    pub fn stop_all(self, wait_s: u64) -> String {
        match self {
            ClusterStack::Pacemaker1 => "pcs cluster stop --all".to_owned(),
            ClusterStack::Pacemaker2 => format!("pcs cluster stop --all --wait={wait_s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_generation_gets_its_own_words() {
        let (old, new) = (ClusterStack::Pacemaker1, ClusterStack::Pacemaker2);
        assert_eq!((old.crm_mon_xml(), new.crm_mon_xml()), ("crm_mon -X", "crm_mon -1 --output-as=xml"));
        assert_eq!((old.promoted_flag(), new.promoted_flag()), ("--master", "--promoted"));
        assert_eq!(old.stop_all(120), "pcs cluster stop --all");
        assert_eq!(new.stop_all(120), "pcs cluster stop --all --wait=120");
    }
}
