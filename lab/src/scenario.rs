//! Scenario files: what fault to inject, where, and what must hold after.
//!
//! One TOML file per scenario in `scenarios/`, compiled into lab (so a bare
//! `lab scenario NAME` works anywhere) and also read from a path given by
//! the user. Unknown keys are errors with file and line: a misspelt
//! expectation must never pass silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The scenarios shipped with lab, by name, in the order a suite runs them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("kill-postgres-master", include_str!("../../scenarios/kill-postgres-master.toml")),
    ("kill-postgres-replica", include_str!("../../scenarios/kill-postgres-replica.toml")),
    ("stop-postgres-master", include_str!("../../scenarios/stop-postgres-master.toml")),
    ("poweroff-master", include_str!("../../scenarios/poweroff-master.toml")),
    ("poweroff-replica", include_str!("../../scenarios/poweroff-replica.toml")),
    ("link-down-master", include_str!("../../scenarios/link-down-master.toml")),
    ("link-down-replica", include_str!("../../scenarios/link-down-replica.toml")),
    ("reset-master", include_str!("../../scenarios/reset-master.toml")),
    ("standby-master", include_str!("../../scenarios/standby-master.toml")),
    ("move-master", include_str!("../../scenarios/move-master.toml")),
    ("ban-master", include_str!("../../scenarios/ban-master.toml")),
    ("restart-master-vip", include_str!("../../scenarios/restart-master-vip.toml")),
    ("poweroff-witness", include_str!("../../scenarios/poweroff-witness.toml")),
    ("kill-redis-master", include_str!("../../scenarios/kill-redis-master.toml")),
    ("poweroff-redis-master", include_str!("../../scenarios/poweroff-redis-master.toml")),
    ("kernel-panic-master", include_str!("../../scenarios/kernel-panic-master.toml")),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    /// Runs per invocation; statistics (avg, sd, p50, p95) need several.
    #[serde(default = "one")]
    pub repeat: u32,
    pub fault: Fault,
    #[serde(default)]
    pub probes: Probes,
    #[serde(default)]
    pub observe: Observe,
    pub expect: Expect,
}

fn one() -> u32 {
    1
}

/// The fault: an action on a target chosen by role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub action: FaultAction,
    pub target: Target,
    /// The Pacemaker resource of a `restart` (e.g. "pg-master-vip").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// What happens to the victim. Faults first, then administrative actions
/// an operator performs on a healthy cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// `kill -9` of the PostgreSQL postmaster.
    KillPostgres,
    /// `kill -9` of redis-server.
    KillRedis,
    /// SIGSTOP of every PostgreSQL process: it hangs instead of dying.
    StopPostgres,
    /// Hard power-off of the node (no shutdown).
    PowerOff,
    /// Hard reset: power off and straight back on; the node boots without
    /// rejoining the cluster, as after any reboot.
    Reset,
    /// The node's network cable is pulled; reconnected at restore.
    LinkDown,
    /// `pcs node standby`: the node gives up its resources.
    Standby,
    /// `pcs resource move` of the master role to another node.
    Move,
    /// `pcs resource ban` of the master role from the node.
    Ban,
    /// `pcs resource restart` of `fault.resource`.
    Restart,
    /// Kernel panic (sysrq `c`): the node hangs, answering nothing, until
    /// it is fenced. Needs nodes with their own kernel (a VM backend).
    KernelPanic,
}

impl FaultAction {
    /// Whether the action needs nodes with a kernel of their own: on
    /// containers it would hit the host's kernel.
    pub fn needs_own_kernel(self) -> bool {
        matches!(self, FaultAction::KernelPanic)
    }

    /// Whether nodes with `capabilities` can take this fault.
    pub fn fits(self, capabilities: crate::backend::Capabilities) -> bool {
        !self.needs_own_kernel() || capabilities.own_kernel
    }

    /// Whether the action applies to the witness (which runs no resources).
    fn fits_witness(self) -> bool {
        matches!(self, FaultAction::PowerOff | FaultAction::Reset | FaultAction::LinkDown | FaultAction::KernelPanic)
    }
}

/// Which host a fault hits, resolved against the cluster just before the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The node where PostgreSQL is promoted.
    Master,
    /// A node where PostgreSQL is a replica.
    Replica,
    /// The quorum device host.
    Witness,
    /// A cluster node drawn from the run's seed.
    Random,
    /// The node where Redis is promoted.
    RedisMaster,
    /// A node where Redis is a replica.
    RedisReplica,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probes {
    /// Writer on the master VIP.
    pub writer: bool,
    /// Reader on the replica VIP.
    pub reader: bool,
    /// Redis writer and reader on the Redis master VIP.
    pub redis: bool,
    /// Probing before the fault, for a baseline.
    pub warmup_s: f64,
    /// Up to this much more warm-up, drawn from the run's seed, so faults
    /// do not always land at the same phase of the cluster's timers.
    pub jitter_s: f64,
}

impl Default for Probes {
    fn default() -> Self {
        Probes { writer: true, reader: true, redis: false, warmup_s: 5.0, jitter_s: 0.0 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Observe {
    /// Give up waiting for the service to resume after this long.
    pub timeout_s: f64,
    /// Keep probing this long after every probe recovered.
    pub settle_s: f64,
}

impl Default for Observe {
    fn default() -> Self {
        Observe { timeout_s: 300.0, settle_s: 3.0 }
    }
}

/// Expectations checked by the report; a miss makes the run exit 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Longest tolerated write outage.
    pub max_write_outage_ms: Option<u64>,
    /// Longest tolerated read outage.
    pub max_read_outage_ms: Option<u64>,
    /// Acknowledged writes that may be missing afterwards (normally 0).
    #[serde(default)]
    pub lost_writes: u64,
    /// Longest tolerated Redis write outage (with `probes.redis`).
    #[serde(default)]
    pub max_redis_write_outage_ms: Option<u64>,
    /// Longest tolerated Redis read outage (with `probes.redis`).
    #[serde(default)]
    pub max_redis_read_outage_ms: Option<u64>,
    /// Acknowledged Redis writes that may be missing afterwards. Redis
    /// replicates asynchronously, so a failover can lose acknowledged
    /// writes; unset means measured and reported, not judged.
    #[serde(default)]
    pub redis_lost_writes: Option<u64>,
    /// Where the master must be once service resumed.
    #[serde(default)]
    pub master: MasterExpectation,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MasterExpectation {
    /// On another node than the victim (a failover happened).
    Other,
    /// Still on the victim (recovered in place).
    Same,
    /// Where it was before the fault (the fault hit another host).
    Unchanged,
    #[default]
    Any,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario `{name}`; known: {known} (or give the path of a .toml file)")]
    Unknown { name: String, known: String },
    #[error("cannot read scenario {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: String, line: usize, column: usize, message: String },
}

impl Scenario {
    /// Parses a scenario; `origin` names the file in errors.
    pub fn parse(name: &str, origin: &str, text: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| crate::config::line_col(text, s.start));
            ScenarioError::Invalid { path: origin.to_owned(), line, column, message: e.message().trim().to_owned() }
        })?;
        scenario.name = name.to_owned();
        scenario.check().map_err(|message| ScenarioError::Invalid {
            path: origin.to_owned(),
            line: 1,
            column: 1,
            message,
        })?;
        Ok(scenario)
    }

    /// Rules the TOML types cannot express.
    fn check(&self) -> Result<(), String> {
        let fault = &self.fault;
        if fault.target == Target::Witness && !fault.action.fits_witness() {
            return Err(format!("[fault] action {:?} cannot target the witness (it runs no resources)", fault.action));
        }
        match (fault.action, &fault.resource) {
            (FaultAction::Restart, None) => {
                return Err("[fault] action restart needs resource = \"<pacemaker resource>\"".into());
            }
            (FaultAction::Restart, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err("[fault] resource is only for action restart".into()),
        }
        if self.repeat == 0 {
            return Err("repeat must be at least 1".into());
        }
        if self.probes.warmup_s < 0.0 || self.probes.jitter_s < 0.0 {
            return Err("[probes] warmup_s and jitter_s cannot be negative".into());
        }
        Ok(())
    }

    /// Why this scenario cannot run on a backend with `capabilities`, if it cannot.
    pub fn unsupported_by(&self, capabilities: crate::backend::Capabilities) -> Option<String> {
        (!self.fault.action.fits(capabilities)).then(|| {
            format!(
                "scenario `{}` ({:?}) needs nodes with their own kernel, which containers do not have; \
                 make the lab with `lab make-all --backend qemu`",
                self.name, self.fault.action
            )
        })
    }

    /// The scenario for hosts `factor` times slower than native (TCG): the
    /// observe window and every outage limit stretched by it.
    pub fn stretched(&self, factor: f64) -> Self {
        let factor = factor.max(1.0);
        let stretch = |limit: Option<u64>| limit.map(|ms| (ms as f64 * factor).round() as u64);
        let mut scenario = self.clone();
        scenario.observe.timeout_s *= factor;
        let expect = &mut scenario.expect;
        expect.max_write_outage_ms = stretch(expect.max_write_outage_ms);
        expect.max_read_outage_ms = stretch(expect.max_read_outage_ms);
        expect.max_redis_write_outage_ms = stretch(expect.max_redis_write_outage_ms);
        expect.max_redis_read_outage_ms = stretch(expect.max_redis_read_outage_ms);
        scenario
    }

    /// Every builtin scenario, in the order of [`BUILTIN`].
    pub fn builtin() -> Result<Vec<Self>, ScenarioError> {
        BUILTIN.iter().map(|(name, _)| Self::find(name)).collect()
    }

    /// A builtin scenario by name, or a scenario file by path.
    pub fn find(name_or_path: &str) -> Result<Self, ScenarioError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::parse(name, &format!("scenarios/{name}.toml"), text);
        }
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.components().count() > 1 {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ScenarioError::Read { path: name_or_path.to_owned(), source })?;
            let name = path.file_stem().map_or_else(|| name_or_path.to_owned(), |s| s.to_string_lossy().into_owned());
            return Self::parse(&name, name_or_path, &text);
        }
        Err(ScenarioError::Unknown {
            name: name_or_path.to_owned(),
            known: BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_parses() {
        for (name, _) in BUILTIN {
            let s = Scenario::find(name).expect(name);
            assert_eq!(s.name, *name);
            assert!(!s.description.is_empty());
        }
    }

    #[test]
    fn kill_postgres_master_expects_a_failover_without_loss() {
        let s = Scenario::find("kill-postgres-master").expect("builtin");
        assert_eq!(s.fault, Fault { action: FaultAction::KillPostgres, target: Target::Master, resource: None });
        assert_eq!(s.expect.lost_writes, 0);
        assert!(s.expect.max_write_outage_ms.is_some());
    }

    #[test]
    fn every_builtin_scenario_expects_no_lost_writes_and_some_outage_limit() {
        for s in Scenario::builtin().expect("builtin") {
            assert_eq!(s.expect.lost_writes, 0, "{}", s.name);
            assert!(s.expect.max_write_outage_ms.is_some(), "{}", s.name);
        }
    }

    #[test]
    fn restart_needs_a_resource_and_only_restart_takes_one() {
        let base = "description = \"x\"\n[fault]\ntarget = \"master\"\n";
        let no_resource = format!("{base}action = \"restart\"\n[expect]\n");
        let msg = Scenario::parse("x", "x.toml", &no_resource).expect_err("resource").to_string();
        assert!(msg.contains("resource"), "{msg}");
        let stray = format!("{base}action = \"power-off\"\nresource = \"pg-master-vip\"\n[expect]\n");
        assert!(Scenario::parse("x", "x.toml", &stray).is_err());
    }

    #[test]
    fn the_witness_only_takes_host_level_faults() {
        let text = "description = \"x\"\n[fault]\naction = \"kill-postgres\"\ntarget = \"witness\"\n[expect]\n";
        let msg = Scenario::parse("x", "x.toml", text).expect_err("witness").to_string();
        assert!(msg.contains("witness"), "{msg}");
    }

    #[test]
    fn a_kernel_panic_needs_a_vm_and_says_so() {
        let s = Scenario::find("kernel-panic-master").expect("builtin");
        let containers = crate::backend::Capabilities { own_kernel: false, live_snapshots: false };
        let vms = crate::backend::Capabilities { own_kernel: true, live_snapshots: true };
        let msg = s.unsupported_by(containers).expect("refused on containers");
        assert!(msg.contains("--backend qemu") && msg.contains("kernel-panic-master"), "{msg}");
        assert_eq!(s.unsupported_by(vms), None);
        assert_eq!(Scenario::find("poweroff-master").expect("builtin").unsupported_by(containers), None);
    }

    #[test]
    fn stretching_scales_the_window_and_limits_only() {
        let s = Scenario::find("poweroff-master").expect("builtin");
        let slow = s.stretched(8.0);
        assert_eq!(slow.observe.timeout_s, s.observe.timeout_s * 8.0);
        assert_eq!(slow.expect.max_write_outage_ms, s.expect.max_write_outage_ms.map(|ms| ms * 8));
        assert_eq!((slow.expect.lost_writes, slow.observe.settle_s), (s.expect.lost_writes, s.observe.settle_s));
        assert_eq!(s.stretched(0.5), s, "never shrinks");
    }

    #[test]
    fn unknown_scenario_lists_the_known_ones() {
        let msg = Scenario::find("kill-everything").expect_err("unknown").to_string();
        assert!(msg.contains("kill-everything") && msg.contains("kill-postgres-master"), "{msg}");
    }

    #[test]
    fn misspelt_key_names_file_and_line() {
        let text =
            "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n[expect]\nlost_write = 0\n";
        let msg = Scenario::parse("x", "my.toml", text).expect_err("typo").to_string();
        assert!(msg.starts_with("my.toml:6:"), "{msg}");
        assert!(msg.contains("lost_write"), "{msg}");
    }

    #[test]
    fn unknown_fault_action_is_rejected() {
        let text = "description = \"x\"\n[fault]\naction = \"meteor\"\ntarget = \"master\"\n[expect]\n";
        let msg = Scenario::parse("x", "my.toml", text).expect_err("action").to_string();
        assert!(msg.contains("my.toml:3") && msg.contains("meteor"), "{msg}");
    }

    #[test]
    fn defaults_fill_optional_sections() {
        let text = "description = \"x\"\n[fault]\naction = \"link-down\"\ntarget = \"replica\"\n[expect]\n";
        let s = Scenario::parse("x", "x.toml", text).expect("parse");
        assert_eq!(s.probes, Probes::default());
        assert_eq!(s.expect.master, MasterExpectation::Any);
    }

    #[test]
    fn a_scenario_file_on_disk_is_found_by_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n[expect]\n")
            .expect("write");
        let s = Scenario::find(&path.to_string_lossy()).expect("by path");
        assert_eq!(s.name, "mine");
        let err = Scenario::find("/nonexistent/x.toml").expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
