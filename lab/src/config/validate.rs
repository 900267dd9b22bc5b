//! The rules a configuration's values must keep, checked when it is read.
//!
//! A value that would crash lab in the middle of a run (a timeout that
//! overflows a clock, a NaN tolerance, a port 0) or that names the same node
//! twice is refused here, before anything is made, with the key it is about;
//! [`super::Config::load`] adds where the value came from.

use std::collections::BTreeSet;

use super::Config;

/// A value that breaks a rule: its key and what is wrong.
#[derive(Debug, PartialEq)]
pub struct Invalid {
    pub key: String,
    pub reason: String,
}

/// The longest wait any key may ask for: a day. Longer is a mistake, and
/// stretched for emulated hosts it would overflow the clock.
const DAY_S: u64 = 86_400;

impl Config {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !is_valid_name(&self.lab.name) {
            return Err(invalid(
                "lab.name",
                "use 1-12 characters a-z, 0-9 or '-', not starting or ending with '-' (it names network namespaces)",
            ));
        }
        if !self.lab.state_dir.is_absolute() {
            return Err(invalid("lab.state_dir", "must be an absolute path, such as /var/lib/lab"));
        }
        self.validate_cluster()?;
        within("timeouts.boot_s", self.timeouts.boot_s, 1, DAY_S, "seconds")?;
        within("timeouts.command_s", self.timeouts.command_s, 1, DAY_S, "seconds")?;
        within("timeouts.healthy_s", self.timeouts.healthy_s, 1, DAY_S, "seconds")?;
        within("heartbeat.connect_timeout_ms", self.heartbeat.connect_timeout_ms, 1, 600_000, "ms")?;
        within("heartbeat.query_timeout_ms", self.heartbeat.query_timeout_ms, 1, 600_000, "ms")?;
        finite_within("heartbeat.rate_hz", self.heartbeat.rate_hz, 0.1, 1000.0)?;
        finite_within("heartbeat.tcg_rate_hz", self.heartbeat.tcg_rate_hz, 0.1, 1000.0)?;
        within(
            "stack.drbd_size_mb",
            self.stack.drbd_size_mb.into(),
            64,
            2048,
            "MiB (it must hold the services' data and fit the node's 6 GiB disk)",
        )?;
        if let Some(why) = self.stack.profile.profile().refuses_storage_size(self.stack.drbd_size_mb) {
            return Err(invalid("stack.drbd_size_mb", &why));
        }
        within("network.prefix", self.network.prefix.into(), 8, 30, "bits")?;
        within("postgres.version", self.postgres.version.into(), 10, 99, "")?;
        let ports = [
            ("network.fence_port", self.network.fence_port),
            ("postgres.port", self.postgres.port),
            ("redis.port", self.redis.port),
            ("beanstalkd.port", self.beanstalkd.port),
            ("qemu.repo_mirror_port", self.qemu.repo_mirror_port),
        ];
        for (key, port) in ports {
            within(key, port.into(), 1, 65_535, "")?;
        }
        within("cluster.token_ms", self.cluster.token_ms.into(), 500, 60_000, "ms")?;
        within("cluster.dc_deadtime_ms", self.cluster.dc_deadtime_ms.into(), 1_000, 120_000, "ms")?;
        within("cluster.watchdog_timeout_s", self.cluster.watchdog_timeout_s.into(), 2, 60, "seconds")?;
        if let Some(why) = self.cluster.fencing.refuses(self.lab.backend) {
            return Err(invalid("cluster.fencing", why));
        }
        let sbd = self.cluster.fencing == crate::cluster::fencing::Fencing::Sbd;
        if sbd && self.cluster.quorum_device == crate::cluster::quorum::QuorumDevice::None {
            return Err(invalid(
                "cluster.quorum_device",
                "\"none\" with fencing = \"sbd\": in two_node mode both halves of a split keep quorum, each \
                 counts the other as fenced once its watchdog timeout passed, and both run the master; use \
                 \"auto\" or \"witness\"",
            ));
        }
        let qemu = &self.qemu;
        finite_within("qemu.tcg_slowdown", qemu.tcg_slowdown, 1.0, 100.0)?;
        within("qemu.memory_mb", qemu.memory_mb.into(), 256, 65_536, "MiB")?;
        within("qemu.witness_memory_mb", qemu.witness_memory_mb.into(), 256, 65_536, "MiB")?;
        within("qemu.cpus", qemu.cpus.into(), 1, 64, "CPUs")?;
        within("qemu.disk_gb", qemu.disk_gb.into(), 4, 1024, "GiB")?;
        within("qemu.install_timeout_s", qemu.install_timeout_s, 1, DAY_S, "seconds")?;
        let vbox = &self.virtualbox;
        within("virtualbox.memory_mb", vbox.memory_mb.into(), 256, 65_536, "MiB")?;
        within("virtualbox.witness_memory_mb", vbox.witness_memory_mb.into(), 256, 65_536, "MiB")?;
        within("virtualbox.cpus", vbox.cpus.into(), 1, 64, "CPUs")?;
        within("virtualbox.disk_mb", vbox.disk_mb.into(), 2048, 1 << 20, "MiB")?;
        within("virtualbox.install_timeout_s", vbox.install_timeout_s, 1, DAY_S, "seconds")?;
        let tolerances = [
            ("report.regression_tolerance", self.report.regression_tolerance),
            ("report.regression_tolerance_ms", self.report.regression_tolerance_ms),
        ];
        for (key, value) in tolerances {
            if !value.is_finite() || value < 0.0 {
                return Err(invalid(key, "must be a finite number ≥ 0 (a NaN or infinite slack hides any regression)"));
            }
        }
        Ok(())
    }

    /// Each cluster has at least two nodes (no more than its stack runs
    /// on), every node and cluster of the lab is named once. (Addresses,
    /// each used once and inside the lab's subnet, are the topology's to
    /// check.) A preset's clusters are checked too: against the stack.
    fn validate_cluster(&self) -> Result<(), Invalid> {
        let preset = self.topology.preset;
        let (nodes_key, names_key) = match preset.layouts() {
            [] => ("cluster.node", "cluster.node.name"),
            _ => ("topology.preset", "topology.preset"),
        };
        if !self.topology.cluster.is_empty() && !is_valid_name(&self.topology.cluster) {
            return Err(invalid(
                "topology.cluster",
                &format!("`{}`: a cluster's name is 1-12 characters a-z, 0-9 or '-'", self.topology.cluster),
            ));
        }
        let mut names = BTreeSet::new();
        let mut clusters = BTreeSet::new();
        for cluster in self.clusters() {
            if !clusters.insert(cluster.name.clone()) {
                return Err(invalid(
                    "cluster.name",
                    &format!("`{}` is given twice; name each cluster once", cluster.name),
                ));
            }
            if cluster.nodes.len() < 2 {
                return Err(invalid(nodes_key, "a cluster needs at least two [[cluster.node]] entries"));
            }
            if let Some(why) = cluster.stack.profile().refuses_nodes(cluster.nodes.len()) {
                return Err(invalid(nodes_key, &format!("cluster `{}`: {why}", cluster.name)));
            }
            for node in &cluster.nodes {
                if !is_valid_name(&node.name) || node.name == "witness" {
                    return Err(invalid(
                        names_key,
                        &format!("`{}`: use 1-12 characters a-z, 0-9 or '-', and not `witness`", node.name),
                    ));
                }
                if !names.insert(node.name.clone()) {
                    return Err(invalid(names_key, &format!("`{}` is given twice; name each node once", node.name)));
                }
            }
        }
        Ok(())
    }
}

fn invalid(key: &str, reason: &str) -> Invalid {
    Invalid { key: key.to_owned(), reason: reason.to_owned() }
}

fn within(key: &str, value: u64, low: u64, high: u64, unit: &str) -> Result<(), Invalid> {
    if (low..=high).contains(&value) {
        return Ok(());
    }
    let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
    Err(invalid(key, &format!("{value} is out of range: must be between {low} and {high}{unit}")))
}

fn finite_within(key: &str, value: f64, low: f64, high: f64) -> Result<(), Invalid> {
    if value.is_finite() && (low..=high).contains(&value) {
        return Ok(());
    }
    Err(invalid(key, &format!("{value} is out of range: must be between {low} and {high}")))
}

/// Names end up in interface names (at most 15 bytes), so keep them short.
fn is_valid_name(name: &str) -> bool {
    (1..=12).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
