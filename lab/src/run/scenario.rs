//! Scenario files: what fault to inject, where, and what must hold after.
//!
//! One TOML file per scenario in `scenarios/`, compiled into lab (so a bare
//! `lab scenario NAME` works anywhere) and also read from a path given by
//! the user. Unknown keys are errors with file and line: a misspelt
//! expectation must never pass silently.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cluster::profile::{ProfileName, StackProfile};
use crate::cluster::services::ServiceName;
use crate::run::catalog::{self, BUILTIN, Resolved};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    /// Runs per invocation; statistics (avg, sd, p50, p95) need several.
    #[serde(default = "one")]
    pub repeat: u32,
    /// The stacks it is written for: its targets and expectations are
    /// theirs. Files that do not say are Tuchanka's, the first stack lab had.
    #[serde(default = "tuchanka_only")]
    pub stacks: Vec<ProfileName>,
    pub fault: Fault,
    #[serde(default)]
    pub probes: Probes,
    #[serde(default)]
    pub observe: Observe,
    pub expect: Expect,
    /// Further faults, each `after_s` seconds after the first and resolved
    /// against the cluster as it is then (`target = "master"` is the new
    /// master): double faults. Written `[[then]]`, with the keys of
    /// `[fault]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Fault>,
}

fn one() -> u32 {
    1
}

fn tuchanka_only() -> Vec<ProfileName> {
    vec![ProfileName::Tuchanka]
}

/// The fault: an action on a target chosen by role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub action: FaultAction,
    pub target: Target,
    /// The service the fault is about: whose master or replica `target`
    /// names, whose process `kill` and `stop` hit, whose master `move` and
    /// `ban` act on, whose master the expectations follow. Default: the
    /// stack's first service (PostgreSQL in Tuchanka's stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceName>,
    /// The Pacemaker resource of a `restart` (e.g. "pg-master-vip"), or
    /// of a `disable` (default: the service's own, its promotable clone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `signal`: the processes signalled, by exact name (`pkill -x`: every
    /// process of that name on the victim), e.g. "corosync".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// `signal`: which signal, by name (`STOP`, `KILL`, `TERM`…; default
    /// `KILL`). A STOP (or TSTP) is undone with CONT at restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `partition`: whom the victim is cut from: `nodes` (the other
    /// cluster nodes) and/or `witness`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<Peers>>,
    /// `partition`: which way packets are lost: `both` (default), `out`
    /// (the victim's packets to them) or `in` (theirs to the victim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `degrade`: what the victim's link suffers (tc netem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkDegradation>,
    /// `clock-jump`: how far the victim's clock jumps, in seconds (negative:
    /// back in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_s: Option<f64>,
    /// `disk-full`: a directory on the filesystem to fill, e.g. the
    /// database's `/var/lib/postgresql`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `starve-cpu`: the percentage of the time each of the victim's CPUs
    /// may run (1 to 99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// `starve-memory`: how many MiB of its memory the victim keeps for
    /// everything it runs (16 to 4096); the rest is taken from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_left_mb: Option<u32>,
    /// In a `[[then]]` step: seconds after the first fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_s: Option<f64>,
    /// Seconds after its injection when the fault is lifted (the resource
    /// enabled again, the signal undone, the filter removed) while the
    /// probes still run: a fault of a set duration. The outages measured
    /// include that duration, and the service must resume after the lift.
    /// Without it a fault lasts until the run restores the victim.
    /// Not stretched on emulated hosts: it is the fault's own duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift_after_s: Option<f64>,
}

/// A degraded link, as tc netem applies it to every packet the victim
/// sends: `link = { delay_ms = 200, jitter_ms = 50, loss_percent = 5 }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDegradation {
    /// Added latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u32>,
    /// Up to this much more or less latency, at random (needs `delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<u32>,
    /// Packets lost, at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// Packets sent twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_percent: Option<f64>,
    /// Packets sent at once, ahead of the delayed ones (needs `delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_percent: Option<f64>,
    /// Bandwidth limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_kbit: Option<u32>,
}

impl LinkDegradation {
    /// The most loss a degraded link may have: lab still reaches the node
    /// over it to lift the fault (a partition is the fault for total loss).
    pub const MAX_LOSS_PERCENT: f64 = 50.0;

    /// tc netem's arguments: `delay 200ms 50ms loss 5%`.
    pub fn netem_arguments(&self) -> String {
        let mut args = Vec::new();
        if let Some(delay) = self.delay_ms {
            args.push(format!("delay {delay}ms"));
            if let Some(jitter) = self.jitter_ms {
                args.push(format!("{jitter}ms"));
            }
        }
        let percent = |name: &str, value: Option<f64>| value.map(|v| format!("{name} {v}%"));
        args.extend(percent("loss", self.loss_percent));
        args.extend(percent("duplicate", self.duplicate_percent));
        args.extend(percent("reorder", self.reorder_percent));
        args.extend(self.rate_kbit.map(|rate| format!("rate {rate}kbit")));
        args.join(" ")
    }

    fn check(&self) -> Result<(), String> {
        if *self == LinkDegradation::default() {
            return Err("link degrades nothing: give delay_ms, loss_percent, duplicate_percent, reorder_percent \
                        or rate_kbit"
                .into());
        }
        if self.delay_ms.is_none() && (self.jitter_ms.is_some() || self.reorder_percent.is_some()) {
            return Err("link: jitter_ms and reorder_percent act on delayed packets: give delay_ms too".into());
        }
        if self.delay_ms.is_some_and(|d| d > 60_000) || self.jitter_ms.is_some_and(|j| j > 60_000) {
            return Err("link: delay_ms and jitter_ms are at most 60000 (a minute)".into());
        }
        if self.rate_kbit == Some(0) {
            return Err("link: rate_kbit = 0 passes nothing: a partition is the fault for that".into());
        }
        let percents = [
            ("loss_percent", self.loss_percent, Self::MAX_LOSS_PERCENT),
            ("duplicate_percent", self.duplicate_percent, 100.0),
            ("reorder_percent", self.reorder_percent, 100.0),
        ];
        for (name, value, max) in percents {
            if let Some(value) = value.filter(|v| !(v.is_finite() && (0.0..=max).contains(v))) {
                return Err(format!("link: {name} = {value} is out of range: give 0 to {max}"));
            }
        }
        Ok(())
    }
}

/// Hosts a `partition` cuts the victim from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peers {
    /// Every other cluster node.
    Nodes,
    /// The quorum device host.
    Witness,
}

/// Which way a `partition` loses packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    Both,
    /// Packets the victim sends are lost; it still hears the others.
    Out,
    /// Packets sent to the victim are lost; the others still hear it.
    In,
}

/// Signals a `signal` fault may send (`kill -l` names without `SIG`).
pub const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "ABRT", "BUS", "FPE", "KILL", "SEGV", "PIPE", "ALRM", "TERM", "USR1", "USR2", "STOP",
    "TSTP", "CONT",
];

/// What happens to the victim. Faults first, then administrative actions
/// an operator performs on a healthy cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// `kill -9` of the service's main process (PostgreSQL's postmaster,
    /// redis-server).
    Kill,
    /// SIGSTOP of every process of the service: it hangs instead of dying
    /// (SIGCONT at restore).
    Stop,
    /// Hard power-off of the node (no shutdown). Files before the
    /// scenario names and actions shared one spelling said `power-off`.
    #[serde(rename = "poweroff", alias = "power-off")]
    PowerOff,
    /// Graceful shutdown from inside the node (`systemctl poweroff`,
    /// Tuchanka's ShutDown): Pacemaker stops its resources and leaves the
    /// cluster before the node goes down; powered on again at restore.
    Shutdown,
    /// Hard reset: power off and straight back on; the node boots without
    /// rejoining the cluster, as after any reboot.
    Reset,
    /// The node's network cable is pulled; reconnected at restore.
    LinkDown,
    /// `pcs node standby`: the node gives up its resources.
    Standby,
    /// `pcs resource move` of the service's master role to another node.
    Move,
    /// `pcs resource ban` of the service's master role from the node.
    Ban,
    /// `pcs resource restart` of `fault.resource`.
    Restart,
    /// `pcs resource disable` of the service's resource (or
    /// `fault.resource`): the cluster stops it everywhere, on purpose, until
    /// `pcs resource enable` at `lift_after_s`.
    Disable,
    /// Kernel panic (sysrq `c`): the node hangs, answering nothing, until
    /// it is fenced. Needs nodes with their own kernel (a VM backend).
    KernelPanic,
    /// `docker stop` of the service's container on its node (seed 000's
    /// failover test): SIGTERM, then SIGKILL after docker's grace period.
    DockerStop,
    /// `docker kill` of the service's container: SIGKILL at once.
    DockerKill,
    /// `signal` to every process named `process` on the victim (`pkill
    /// -x`): hang (STOP) or kill any daemon of the stack without new code.
    Signal,
    /// The victim is cut from the other nodes and/or the witness
    /// (`from`), both ways or one (`direction`), while every other link
    /// works: packet filters on the victim, lifted at restore.
    Partition,
    /// The victim's link degraded (`link`: latency, jitter, loss,
    /// duplication, reordering, a bandwidth limit) with tc netem, until
    /// lifted. Needs netem in the kernel that runs the node's link.
    Degrade,
    /// The victim's clock jumps `offset_s` seconds; set right again from
    /// the host's clock when lifted. Needs a node with its own clock (VMs).
    ClockJump,
    /// The filesystem holding `path` filled up to what unprivileged users
    /// may write (`fallocate`), until lifted. Needs a node with its own
    /// disk (VMs): on containers it would fill the host's.
    DiskFull,
    /// A fork bomb run as root on the victim: the node starves for
    /// processes, memory and CPU, bounded by its VM. Undone by a reset.
    /// Needs a node with its own kernel (VMs).
    ForkBomb,
    /// The victim starved of CPU: each of its CPUs runs at most
    /// `cpu_percent` % of the time, the host throttling it as an
    /// overcommitted hypervisor would (a container's cpu cgroup, QEMU's
    /// process in one, VirtualBox's execution cap), until lifted.
    StarveCpu,
    /// The victim starved of memory: a tmpfs on it filled until only
    /// `memory_left_mb` of its memory remains for what it runs (no swap:
    /// the kernel drops its page cache, then its OOM killer picks a
    /// process), until lifted. Bounded by the node: a VM's memory, a
    /// container's memory cgroup.
    StarveMemory,
    /// The service's replication traffic (DRBD's port) dropped on the node
    /// while the cluster's own traffic flows: the storage's peers lose each
    /// other, Pacemaker's nodes do not. Let through again at restore.
    ReplicationLinkDown,
    /// SIGSTOP of sbd on the victim (Tuchanka's SBD-STOP): nothing feeds
    /// its watchdog any more, which resets the node; the survivors count it
    /// as fenced after `stonith-watchdog-timeout`. Needs watchdog fencing
    /// (`cluster.fencing = "sbd"`, QEMU VMs).
    SbdStop,
}

impl FaultAction {
    /// Whether the action needs nodes with a kernel of their own: on
    /// containers it would hit the host's kernel.
    pub fn needs_own_kernel(self) -> bool {
        matches!(
            self,
            FaultAction::KernelPanic | FaultAction::ClockJump | FaultAction::DiskFull | FaultAction::ForkBomb
        )
    }

    /// Whether the action needs tc netem on the nodes' links.
    pub fn needs_link_shaping(self) -> bool {
        self == FaultAction::Degrade
    }

    /// Whether the action needs nodes fenced by their watchdog (sbd).
    pub fn needs_watchdog(self) -> bool {
        self == FaultAction::SbdStop
    }

    /// How to make a lab that can take this fault.
    pub fn remedy(self) -> &'static str {
        if self.needs_watchdog() {
            "make the lab with `lab make-all --backend qemu --set cluster.fencing=sbd`"
        } else {
            "make the lab with `lab make-all --backend qemu`"
        }
    }

    /// Whether nodes with `capabilities` can take this fault.
    pub fn fits(self, capabilities: crate::backend::Capabilities) -> bool {
        self.refusal(capabilities).is_none()
    }

    /// Why nodes with `capabilities` cannot take this fault, if they cannot.
    pub fn refusal(self, capabilities: crate::backend::Capabilities) -> Option<&'static str> {
        if self.needs_own_kernel() && !capabilities.own_kernel {
            return Some(match self {
                FaultAction::ClockJump => "moves the node's clock, and containers share the host's clock",
                FaultAction::DiskFull => "fills the node's filesystem, and a container's is the host's disk",
                FaultAction::ForkBomb => "starves the node's kernel, and containers share the host's",
                _ => "needs nodes with their own kernel, which containers do not have",
            });
        }
        if self.needs_link_shaping() && !capabilities.link_shaping {
            return Some(
                "needs tc netem in the kernel that runs the nodes' links, and this host's kernel has none \
                 (CONFIG_NET_SCH_NETEM)",
            );
        }
        if self.needs_watchdog() && !capabilities.watchdog {
            return Some("stops sbd, and this lab's nodes are not fenced by sbd and a watchdog");
        }
        None
    }

    /// Whether the action applies to the witness (which runs no resources).
    fn fits_witness(self) -> bool {
        matches!(
            self,
            FaultAction::PowerOff
                | FaultAction::Shutdown
                | FaultAction::Signal
                | FaultAction::Partition
                | FaultAction::Reset
                | FaultAction::LinkDown
                | FaultAction::KernelPanic
                | FaultAction::Degrade
                | FaultAction::ClockJump
                | FaultAction::ForkBomb
                | FaultAction::StarveCpu
                | FaultAction::StarveMemory
        )
    }

    /// The actions a run can lift while probing: each undo is one command
    /// that leaves the victim as the cluster had it (enable, `SIGCONT`, a
    /// filter removed, the cable back in).
    pub const LIFTABLE: &'static [FaultAction] = &[
        FaultAction::Disable,
        FaultAction::Stop,
        FaultAction::Signal,
        FaultAction::Partition,
        FaultAction::ReplicationLinkDown,
        FaultAction::LinkDown,
        FaultAction::Standby,
        FaultAction::Move,
        FaultAction::Ban,
        FaultAction::Degrade,
        FaultAction::ClockJump,
        FaultAction::DiskFull,
        FaultAction::StarveCpu,
        FaultAction::StarveMemory,
    ];

    /// Whether a run can lift the action while probing (`lift_after_s`).
    pub fn liftable(self) -> bool {
        Self::LIFTABLE.contains(&self)
    }

    /// Whether the action hits the service's processes rather than its node.
    pub fn hits_a_process(self) -> bool {
        matches!(self, FaultAction::Kill | FaultAction::Stop)
    }

    /// Whether the action hits the service's Docker container.
    pub fn hits_a_container(self) -> bool {
        matches!(self, FaultAction::DockerStop | FaultAction::DockerKill)
    }

    /// Whether the action cuts the service's own replication link.
    pub fn hits_replication(self) -> bool {
        matches!(self, FaultAction::ReplicationLinkDown)
    }

    /// Whether restoring happens on the victim itself (the fault left
    /// something there to undo) rather than from a survivor through pcs.
    pub fn undone_on_victim(self) -> bool {
        matches!(
            self,
            FaultAction::Stop
                | FaultAction::Signal
                | FaultAction::Partition
                | FaultAction::ReplicationLinkDown
                | FaultAction::Degrade
                | FaultAction::ClockJump
                | FaultAction::DiskFull
                | FaultAction::StarveMemory
        )
    }

    /// The action as scenario files spell it: `poweroff`, `link-down`.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// Which host a fault hits, resolved against the cluster just before the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The node where the fault's service is promoted.
    Master,
    /// A node where the fault's service is a replica.
    Replica,
    /// The quorum device host.
    Witness,
    /// A cluster node drawn from the run's seed.
    Random,
}

impl Fault {
    /// Rules of one fault the TOML types cannot express.
    fn check(&self) -> Result<(), String> {
        if self.target == Target::Witness && !self.action.fits_witness() {
            return Err(format!("action {} cannot target the witness (it runs no resources)", self.action.name()));
        }
        match (self.action, &self.resource) {
            (FaultAction::Restart, None) => {
                return Err("action restart needs resource = \"<pacemaker resource>\"".into());
            }
            (FaultAction::Restart | FaultAction::Disable, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err("resource is only for actions restart and disable".into()),
        }
        if let Some(resource) = &self.resource {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "._:-".contains(c);
            if resource.is_empty() || !resource.chars().all(allowed) {
                return Err(format!(
                    "resource `{resource}` must be a Pacemaker resource id (letters, digits, `.`, `_`, `:`, `-`)"
                ));
            }
        }
        self.check_lift()?;
        self.check_own_fields()?;
        self.check_signal()?;
        self.check_partition()
    }

    /// `link`, `offset_s`, `path`, `cpu_percent` and `memory_left_mb` each
    /// belong to one action, which needs it.
    fn check_own_fields(&self) -> Result<(), String> {
        let fields = [
            ("link", self.link.is_some(), FaultAction::Degrade, "link = { delay_ms = 200, loss_percent = 5 }"),
            ("offset_s", self.offset_s.is_some(), FaultAction::ClockJump, "offset_s = 300"),
            ("path", self.path.is_some(), FaultAction::DiskFull, "path = \"/var/lib/postgresql\""),
            ("cpu_percent", self.cpu_percent.is_some(), FaultAction::StarveCpu, "cpu_percent = 5"),
            ("memory_left_mb", self.memory_left_mb.is_some(), FaultAction::StarveMemory, "memory_left_mb = 200"),
        ];
        for (field, given, owner, example) in fields {
            match (given, self.action == owner) {
                (true, false) => return Err(format!("{field} is only for action {}", owner.name())),
                (false, true) => return Err(format!("action {} needs {example}", owner.name())),
                _ => {}
            }
        }
        if let Some(link) = &self.link {
            link.check()?;
        }
        if let Some(offset) = self.offset_s.filter(|o| !(o.is_finite() && *o != 0.0 && o.abs() <= 86_400.0)) {
            return Err(format!("offset_s = {offset} is out of range: give a non-zero jump of at most a day (86400)"));
        }
        if let Some(percent) = self.cpu_percent.filter(|p| !(1..=99).contains(p)) {
            return Err(format!("cpu_percent = {percent} is out of range: give 1 to 99 (100 would starve nothing)"));
        }
        if let Some(left) = self.memory_left_mb.filter(|mb| !(16..=4096).contains(mb)) {
            return Err(format!(
                "memory_left_mb = {left} is out of range: give 16 to 4096 (MiB the node keeps for what it runs)"
            ));
        }
        if let Some(path) = &self.path {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
            if !path.starts_with('/') || path.contains("..") || !path.chars().all(allowed) {
                return Err(format!(
                    "path `{path}` must be an absolute directory of letters, digits, `/`, `.`, `_`, `-` \
                     (no `..`), e.g. /var/lib/postgresql"
                ));
            }
        }
        Ok(())
    }

    /// A lift needs an action that can be undone while the run goes on,
    /// and a time; `disable` needs one, or the service never comes back.
    fn check_lift(&self) -> Result<(), String> {
        match self.lift_after_s {
            None if self.action == FaultAction::Disable => {
                Err("action disable needs lift_after_s, the seconds until `pcs resource enable`: \
                 without it the service stays down until the run ends"
                    .into())
            }
            None => Ok(()),
            Some(_) if !self.action.liftable() => Err(format!(
                "lift_after_s: action {} is undone only when the run restores the victim; \
                 actions lifted while probing: {}",
                self.action.name(),
                FaultAction::LIFTABLE.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            )),
            Some(_) if self.action == FaultAction::Signal && !self.pauses() => Err(format!(
                "lift_after_s: SIG{} cannot be taken back; a signal is lifted only when it is STOP or TSTP (by CONT)",
                self.signal_name()
            )),
            Some(lift) if lift.is_finite() && lift > 0.0 && lift <= 3600.0 => Ok(()),
            Some(lift) => Err(format!("lift_after_s = {lift} is out of range: give more than 0, at most 3600 seconds")),
        }
    }

    /// `process` and `signal` belong to action `signal`, which needs a
    /// process name `pkill -x` can match and a signal it knows.
    fn check_signal(&self) -> Result<(), String> {
        if self.action != FaultAction::Signal {
            return match (&self.process, &self.signal) {
                (None, None) => Ok(()),
                _ => Err("process and signal are only for action signal".into()),
            };
        }
        let Some(process) = &self.process else {
            return Err("action signal needs process = \"<process name>\", e.g. \"corosync\"".into());
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if process.is_empty() || process.len() > 15 || !process.chars().all(allowed) {
            return Err(format!(
                "process `{process}` must be a process name of 1 to 15 letters, digits, `.`, `_` or `-` \
                 (what `ps -o comm` shows)"
            ));
        }
        match &self.signal {
            Some(signal) if !SIGNALS.contains(&signal.trim_start_matches("SIG")) => {
                Err(format!("signal `{signal}` is none of {}", SIGNALS.join(", ")))
            }
            _ => Ok(()),
        }
    }

    /// Whether the fault's signal pauses its processes (STOP, TSTP): a
    /// CONT undoes it.
    pub fn pauses(&self) -> bool {
        self.action == FaultAction::Signal && ["STOP", "TSTP"].contains(&self.signal_name())
    }

    /// The signal's name without `SIG` (default `KILL`).
    pub fn signal_name(&self) -> &str {
        self.signal.as_deref().map_or("KILL", |s| s.trim_start_matches("SIG"))
    }

    /// `from` and `direction` belong to action `partition`, which needs
    /// someone to be cut from.
    fn check_partition(&self) -> Result<(), String> {
        if self.action != FaultAction::Partition {
            return match (&self.from, &self.direction) {
                (None, None) => Ok(()),
                _ => Err("from and direction are only for action partition".into()),
            };
        }
        match &self.from {
            Some(from) if !from.is_empty() => Ok(()),
            _ => Err("action partition needs from = [\"nodes\"], [\"witness\"] or both".into()),
        }
    }
}

impl Target {
    /// The target as scenario files spell it: `master`, `replica`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Master => "master",
            Target::Replica => "replica",
            Target::Witness => "witness",
            Target::Random => "random",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probes {
    /// The services probed; default (none given): every service of the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceName>>,
    /// Each probed service's writer, through its master VIP.
    pub writer: bool,
    /// Each probed service's reader, through its replica VIP (its master
    /// VIP where it has no replica VIP).
    pub reader: bool,
    /// Probing before the fault, for a baseline.
    #[serde(deserialize_with = "pause_s")]
    pub warmup_s: f64,
    /// Up to this much more warm-up, drawn from the run's seed, so faults
    /// do not always land at the same phase of the cluster's timers.
    #[serde(deserialize_with = "pause_s")]
    pub jitter_s: f64,
}

impl Default for Probes {
    fn default() -> Self {
        Probes { services: None, writer: true, reader: true, warmup_s: 5.0, jitter_s: 0.0 }
    }
}

impl Probes {
    /// Whether `service` is probed in a stack of `stack`'s services.
    pub fn covers(&self, service: ServiceName, stack: &[ServiceName]) -> bool {
        match &self.services {
            Some(services) => services.contains(&service),
            None => stack.contains(&service),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Observe {
    /// Give up waiting for the service to resume after this long.
    #[serde(deserialize_with = "window_s")]
    pub timeout_s: f64,
    /// Keep probing this long after every probe recovered.
    #[serde(deserialize_with = "pause_s")]
    pub settle_s: f64,
    /// The fault lasts at least this long: observing (and the fault) goes
    /// on this long after the fault even when no probe noticed it, for
    /// faults the cluster answers later than the service (a partition,
    /// decided by quorum and fencing after corosync's token timeout).
    #[serde(deserialize_with = "pause_s")]
    pub hold_s: f64,
}

/// A pause of a run, in seconds: 0 to an hour. A NaN, an infinity or a
/// negative number would stop the run with a panic after the fault was
/// injected, leaving the victim down; it is refused with the file's line.
fn pause_s<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    seconds_within(deserializer, 0.0, 3600.0)
}

/// How long a run may watch for recovery, in seconds: above 0, at most a
/// day (stretched for emulated hosts, it still fits a clock).
fn window_s<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let seconds = seconds_within(deserializer, 0.0, 86_400.0)?;
    if seconds == 0.0 {
        return Err(serde::de::Error::custom("0 s leaves no time to see the service resume: give more than 0"));
    }
    Ok(seconds)
}

fn seconds_within<'de, D: serde::Deserializer<'de>>(deserializer: D, low: f64, high: f64) -> Result<f64, D::Error> {
    let seconds = f64::deserialize(deserializer)?;
    if seconds.is_finite() && (low..=high).contains(&seconds) {
        return Ok(seconds);
    }
    Err(serde::de::Error::custom(format!("{seconds} s is out of range: give between {low} and {high} seconds")))
}

impl Default for Observe {
    fn default() -> Self {
        Observe { timeout_s: 300.0, settle_s: 3.0, hold_s: 0.0 }
    }
}

/// Expectations checked by the report; a miss makes the run exit 1.
///
/// In TOML, `[expect]` holds `master`, and one table per service holds
/// that service's limits: `[expect.postgres]`, `[expect.redis]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expect {
    /// Where the fault's service's master must be once service resumed.
    pub master: MasterExpectation,
    /// Each service's limits; a service without a table is measured and
    /// reported, not judged.
    pub services: BTreeMap<ServiceName, ServiceExpect>,
}

/// What must hold for one service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceExpect {
    /// Longest tolerated write outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_write_outage_ms: Option<u64>,
    /// Longest tolerated read outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_outage_ms: Option<u64>,
    /// Most write downtime tolerated in all, every outage after the fault
    /// added up: a service that flaps passes a limit on its longest outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_write_downtime_ms: Option<u64>,
    /// Most read downtime tolerated in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_downtime_ms: Option<u64>,
    /// Acknowledged writes that may be missing afterwards (normally 0).
    /// Unset: measured and reported, not judged (for asynchronous
    /// replication, such as Redis's, which may lose acknowledged writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_writes: Option<u64>,
}

impl Serialize for Expect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1 + self.services.len()))?;
        map.serialize_entry("master", &self.master)?;
        for (service, expect) in &self.services {
            map.serialize_entry(service.as_str(), expect)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Expect;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`master` and one table per service, e.g. [expect.postgres]")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Expect, A::Error> {
                let mut expect = Expect::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "master" {
                        expect.master = map.next_value()?;
                        continue;
                    }
                    let service: ServiceName = key.parse().map_err(|e: crate::cluster::services::UnknownService| {
                        serde::de::Error::custom(format!(
                            "{e}; [expect] takes `master` and one table per service, \
                             e.g. [expect.postgres] max_write_outage_ms = 60000"
                        ))
                    })?;
                    if expect.services.insert(service, map.next_value()?).is_some() {
                        return Err(serde::de::Error::custom(format!("[expect.{service}] given twice")));
                    }
                }
                Ok(expect)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
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

/// A builtin scenario in `lab scenarios --json`.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioSummary {
    pub name: String,
    /// Other names it answers to (`lab scenario link-down`).
    pub aliases: Vec<&'static str>,
    pub description: String,
    pub stacks: Vec<ProfileName>,
    pub action: String,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceName>,
    /// Runs only on backends whose nodes have their own kernel (VMs).
    pub needs_own_kernel: bool,
    /// Runs only where tc netem shapes the nodes' links (VMs, or
    /// containers on a host kernel with netem).
    pub needs_link_shaping: bool,
    /// Runs only on labs fenced by sbd and a watchdog
    /// (`cluster.fencing = "sbd"`).
    pub needs_watchdog: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario `{name}`; {hint}; known: {known} (or give the path of a .toml file)")]
    Unknown { name: String, hint: String, known: String },
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
        self.fault.check().map_err(|e| format!("[fault] {e}"))?;
        if self.fault.after_s.is_some() {
            return Err("[fault] after_s is only for the [[then]] steps that follow the first fault".into());
        }
        for (i, step) in self.then.iter().enumerate() {
            step.check().map_err(|e| format!("[[then]] step {}: {e}", i + 1))?;
            match step.after_s {
                Some(after) if after.is_finite() && after > 0.0 && after < self.observe.timeout_s => {}
                _ => {
                    return Err(format!(
                        "[[then]] step {} needs after_s, the seconds after the first fault: more than 0 and less than \
                         [observe] timeout_s = {}",
                        i + 1,
                        self.observe.timeout_s
                    ));
                }
            }
        }
        for (i, step) in self.faults().enumerate() {
            let lifted_at = step.after_s.unwrap_or_default() + step.lift_after_s.unwrap_or_default();
            if lifted_at >= self.observe.timeout_s {
                let which = if i == 0 { "[fault]".to_owned() } else { format!("[[then]] step {i}") };
                return Err(format!(
                    "{which} is lifted {lifted_at} s after the first fault, which leaves no time to watch the \
                     service resume within [observe] timeout_s = {}",
                    self.observe.timeout_s
                ));
            }
        }
        if self.observe.hold_s >= self.observe.timeout_s {
            return Err(format!(
                "[observe] hold_s = {} leaves no time to watch the service resume within timeout_s = {}",
                self.observe.hold_s, self.observe.timeout_s
            ));
        }
        if self.repeat == 0 {
            return Err("repeat must be at least 1".into());
        }
        if let Some(probed) = &self.probes.services {
            for (service, expect) in &self.expect.services {
                let judged = expect.max_write_outage_ms.is_some()
                    || expect.max_read_outage_ms.is_some()
                    || expect.max_write_downtime_ms.is_some()
                    || expect.max_read_downtime_ms.is_some()
                    || expect.lost_writes.is_some();
                if judged && !probed.contains(service) {
                    return Err(format!(
                        "[expect.{service}] judges probes that [probes] services does not run; add \"{service}\""
                    ));
                }
            }
        }
        Ok(())
    }

    /// The first fault and every `[[then]]` step, in order.
    pub fn faults(&self) -> impl Iterator<Item = &Fault> {
        std::iter::once(&self.fault).chain(&self.then)
    }

    /// The service the fault is about in `stack`.
    pub fn service(&self, stack: &StackProfile) -> ServiceName {
        self.fault.service.unwrap_or_else(|| stack.primary())
    }

    /// Why this scenario cannot run on a backend with `capabilities` or
    /// against `stack`, if it cannot.
    pub fn unsupported_by(&self, capabilities: crate::backend::Capabilities, stack: &StackProfile) -> Option<String> {
        if let Some((fault, why)) = self.faults().find_map(|f| Some((f, f.action.refusal(capabilities)?))) {
            return Some(format!(
                "scenario `{}` ({}) {why}; {}",
                self.name,
                fault.action.name(),
                fault.action.remedy()
            ));
        }
        if !self.stacks.contains(&stack.name) {
            let written: Vec<&str> = self.stacks.iter().map(|s| s.as_str()).collect();
            return Some(format!(
                "scenario `{}` is written for the {} stack, and this lab runs {}; `lab scenarios` marks each \
                 scenario's stacks",
                self.name,
                written.join(" and "),
                stack.name
            ));
        }
        // Expectations may name services of the other stacks it is written
        // for (`[expect.nfs]` on a stack without NFS judges nothing); what
        // it hits and probes must be this stack's.
        let steps = self.faults().filter_map(|f| f.service.as_ref());
        let elsewhere = |s: &ServiceName| self.stacks.iter().any(|other| other.profile().has(*s));
        let expected = self.expect.services.keys().filter(|s| !elsewhere(s));
        let mut named = steps.chain(expected).chain(self.probes.services.iter().flatten());
        if let Some(missing) = named.find(|s| !stack.has(**s)) {
            return Some(format!(
                "scenario `{}` needs {missing}, which the {} stack does not run",
                self.name, stack.name
            ));
        }
        let service = self.service(stack);
        let spec = stack.spec(service)?;
        let action = self.fault.action;
        if action.hits_a_container() && spec.container().is_none() {
            return Some(format!(
                "scenario `{}` ({}) needs {service} in a Docker container; the {} stack runs it as {} \
                 (`lab stacks` shows which stacks run containers)",
                self.name,
                action.name(),
                stack.name,
                spec.title
            ));
        }
        if action.hits_replication() && spec.replication_port().is_none() {
            return Some(format!(
                "scenario `{}` ({}) needs {service} to replicate over a link of its own; name the stack's \
                 replicated storage with [fault] service (`lab stacks` lists the services)",
                self.name,
                action.name()
            ));
        }
        if action.hits_a_process() && spec.process.is_none() {
            return Some(format!(
                "scenario `{}` ({}) needs a process of {service}, which has none of its own; name another \
                 service with [fault] service",
                self.name,
                action.name()
            ));
        }
        None
    }

    /// The scenario for hosts `factor` times slower than native (TCG): the
    /// observe window and every outage limit stretched by it.
    pub fn stretched(&self, factor: f64) -> Self {
        let factor = factor.max(1.0);
        let stretch = |limit: Option<u64>| limit.map(|ms| (ms as f64 * factor).round() as u64);
        let mut scenario = self.clone();
        scenario.observe.timeout_s *= factor;
        scenario.observe.hold_s *= factor;
        for step in &mut scenario.then {
            step.after_s = step.after_s.map(|after| after * factor);
        }
        for expect in scenario.expect.services.values_mut() {
            expect.max_write_outage_ms = stretch(expect.max_write_outage_ms);
            expect.max_read_outage_ms = stretch(expect.max_read_outage_ms);
            expect.max_write_downtime_ms = stretch(expect.max_write_downtime_ms);
            expect.max_read_downtime_ms = stretch(expect.max_read_downtime_ms);
        }
        scenario
    }

    /// What its faults need of the nodes, as `lab scenarios` shows it:
    /// `vm` (a kernel of their own), `netem` (tc netem on their links) or
    /// `-` (any backend).
    pub fn needs(&self) -> &'static str {
        if self.faults().any(|f| f.action.needs_watchdog()) {
            "sbd"
        } else if self.faults().any(|f| f.action.needs_own_kernel()) {
            "vm"
        } else if self.faults().any(|f| f.action.needs_link_shaping()) {
            "netem"
        } else {
            "-"
        }
    }

    /// What `lab scenarios --json` says of the scenario.
    pub fn summary(&self) -> ScenarioSummary {
        ScenarioSummary {
            name: self.name.clone(),
            aliases: catalog::aliases_of(&self.name),
            description: self.description.clone(),
            stacks: self.stacks.clone(),
            action: self.fault.action.name(),
            target: self.fault.target,
            service: self.fault.service,
            needs_own_kernel: self.faults().any(|f| f.action.needs_own_kernel()),
            needs_link_shaping: self.faults().any(|f| f.action.needs_link_shaping()),
            needs_watchdog: self.faults().any(|f| f.action.needs_watchdog()),
        }
    }

    /// Every builtin scenario, in the order of [`BUILTIN`].
    pub fn builtin() -> Result<Vec<Self>, ScenarioError> {
        BUILTIN.iter().map(|(name, _)| Self::find(name)).collect()
    }

    /// A builtin scenario by name or alias ([`catalog`](super::catalog)),
    /// or a scenario file by path.
    pub fn find(name_or_path: &str) -> Result<Self, ScenarioError> {
        if let Resolved::Builtin { name, text, .. } = catalog::resolve(name_or_path) {
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
            hint: catalog::unknown_hint(name_or_path),
            known: BUILTIN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What container nodes can take (no netem in the host kernel).
    const CONTAINERS: crate::backend::Capabilities =
        crate::backend::Capabilities { own_kernel: false, live_snapshots: false, link_shaping: false, watchdog: false };
    /// What QEMU VMs fenced by lab's daemon can take.
    const VMS: crate::backend::Capabilities =
        crate::backend::Capabilities { own_kernel: true, live_snapshots: true, link_shaping: true, watchdog: false };

    #[test]
    fn every_builtin_scenario_parses() {
        for (name, _) in BUILTIN {
            let s = Scenario::find(name).expect(name);
            assert_eq!(s.name, *name);
            assert!(!s.description.is_empty());
            assert_eq!(serde_json::to_value(s.fault.target).ok(), Some(s.fault.target.name().into()));
        }
    }

    /// A scenario file with `fault` as its [fault] table's body.
    fn with_fault(fault: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse("t", "t.toml", &format!("description = \"t\"\n[fault]\n{fault}\n[expect]\n"))
    }

    #[test]
    fn a_signal_names_a_process_and_a_known_signal() {
        let hang = with_fault("action = \"signal\"\ntarget = \"master\"\nprocess = \"corosync\"\nsignal = \"SIGSTOP\"")
            .expect("valid");
        assert_eq!(hang.fault.signal_name(), "STOP");
        let kill =
            with_fault("action = \"signal\"\ntarget = \"witness\"\nprocess = \"corosync-qnetd\"").expect("valid");
        assert_eq!(kill.fault.signal_name(), "KILL", "the default");
        for (body, says) in [
            ("action = \"signal\"\ntarget = \"master\"", "needs process"),
            ("action = \"signal\"\ntarget = \"master\"\nprocess = \"a b\"", "process `a b`"),
            ("action = \"signal\"\ntarget = \"master\"\nprocess = \"pacemaker-controld\"", "1 to 15"),
            ("action = \"signal\"\ntarget = \"master\"\nprocess = \"x\"\nsignal = \"FREEZE\"", "`FREEZE` is none of"),
            ("action = \"kill\"\ntarget = \"master\"\nsignal = \"TERM\"", "only for action signal"),
        ] {
            let error = with_fault(body).expect_err(body).to_string();
            assert!(error.contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn a_then_step_needs_its_time_and_the_first_fault_none() {
        let base = "description = \"t\"\n[fault]\naction = \"kill\"\ntarget = \"master\"\n[expect]\n";
        let twice = Scenario::parse(
            "t",
            "t.toml",
            &format!("{base}[[then]]\nafter_s = 30\naction = \"kill\"\ntarget = \"master\"\n"),
        )
        .expect("valid");
        assert_eq!(twice.faults().count(), 2);
        assert_eq!(twice.stretched(4.0).then[0].after_s, Some(120.0), "emulated hosts wait longer");
        for (then, says) in [
            ("[[then]]\naction = \"kill\"\ntarget = \"master\"\n", "step 1 needs after_s"),
            ("[[then]]\nafter_s = 900\naction = \"kill\"\ntarget = \"master\"\n", "less than [observe] timeout_s"),
            (
                "[[then]]\nafter_s = 5\naction = \"move\"\ntarget = \"witness\"\n",
                "step 1: action move cannot target the witness",
            ),
        ] {
            let error = Scenario::parse("t", "t.toml", &format!("{base}{then}")).expect_err(then).to_string();
            assert!(error.contains(says), "{then}: {error}");
        }
        let early = base.replace("target = \"master\"\n[expect]", "target = \"master\"\nafter_s = 3\n[expect]");
        let error = Scenario::parse("t", "t.toml", &early).expect_err("after_s in [fault]").to_string();
        assert!(error.contains("after_s is only for the [[then]] steps"), "{error}");
    }

    #[test]
    fn a_partition_says_from_whom() {
        let cut = with_fault("action = \"partition\"\ntarget = \"master\"\nfrom = [\"nodes\"]\ndirection = \"out\"")
            .expect("valid");
        assert_eq!((cut.fault.from, cut.fault.direction), (Some(vec![Peers::Nodes]), Some(Direction::Out)));
        for (body, says) in [
            ("action = \"partition\"\ntarget = \"master\"", "needs from"),
            ("action = \"partition\"\ntarget = \"master\"\nfrom = []", "needs from"),
            ("action = \"partition\"\ntarget = \"master\"\nfrom = [\"moon\"]", "unknown variant"),
            ("action = \"link-down\"\ntarget = \"master\"\nfrom = [\"witness\"]", "only for action partition"),
        ] {
            let error = with_fault(body).expect_err(body).to_string();
            assert!(error.contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn a_scenario_file_from_before_one_spelling_still_reads() {
        let old = "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n[expect]\n";
        let scenario = Scenario::parse("old", "old.toml", old).expect("power-off is read");
        assert_eq!(scenario.fault.action, FaultAction::PowerOff);
        assert_eq!(scenario.fault.action.name(), "poweroff", "and written as the files name it");
    }

    fn postgres(s: &Scenario) -> &ServiceExpect {
        s.expect.services.get(&ServiceName::Postgres).expect("[expect.postgres]")
    }

    #[test]
    fn kill_postgres_master_expects_a_failover_without_loss() {
        let s = Scenario::find("kill-postgres-master").expect("builtin");
        let kill = Fault {
            action: FaultAction::Kill,
            target: Target::Master,
            service: Some(ServiceName::Postgres),
            resource: None,
            process: None,
            signal: None,
            from: None,
            direction: None,
            link: None,
            offset_s: None,
            path: None,
            cpu_percent: None,
            memory_left_mb: None,
            after_s: None,
            lift_after_s: None,
        };
        assert_eq!(s.fault, kill);
        assert_eq!(postgres(&s).lost_writes, Some(0));
        assert!(postgres(&s).max_write_outage_ms.is_some());
        assert_eq!(s.expect.master, MasterExpectation::Other);
    }

    #[test]
    fn every_builtin_scenario_expects_no_lost_writes_and_some_outage_limit_on_each_of_its_stacks() {
        for s in Scenario::builtin().expect("builtin") {
            for stack in &s.stacks {
                // The stack's first probed service: PostgreSQL, NFS or MariaDB.
                let primary = stack.profile().primary();
                let expect = s.expect.services.get(&primary);
                let expect = expect.unwrap_or_else(|| panic!("{} on {stack}: no [expect.{primary}]", s.name));
                assert_eq!(expect.lost_writes, Some(0), "{} on {stack}", s.name);
                assert!(expect.max_write_outage_ms.is_some(), "{} on {stack}", s.name);
            }
        }
    }

    #[test]
    fn expectations_are_per_service_and_round_trip() {
        let s = Scenario::find("kill-redis-master").expect("builtin");
        assert_eq!(s.fault.service, Some(ServiceName::Redis));
        let redis = s.expect.services.get(&ServiceName::Redis).expect("[expect.redis]");
        assert!(redis.max_write_outage_ms.is_some());
        assert_eq!(redis.lost_writes, None, "Redis's asynchronous losses are measured, not judged");
        let json = serde_json::to_value(&s.expect).expect("json");
        assert_eq!(json["master"], "other");
        assert_eq!(json["redis"]["max_write_outage_ms"], redis.max_write_outage_ms.expect("limit"));
        let text = toml::to_string(&s).expect("toml");
        assert_eq!(Scenario::parse(&s.name, "x.toml", &text).expect("reparse"), s);
    }

    #[test]
    fn an_unknown_service_table_names_the_known_ones_and_the_line() {
        let text = "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n\
                    [expect]\nmaster = \"other\"\n[expect.mysql]\nlost_writes = 0\n";
        let msg = Scenario::parse("x", "my.toml", text).expect_err("mysql").to_string();
        assert!(msg.starts_with("my.toml:"), "{msg}");
        assert!(msg.contains("unknown service `mysql`; known: postgres, postgres-b, redis"), "{msg}");
        let old = "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n\
                   [expect]\nmax_write_outage_ms = 5000\n";
        let msg = Scenario::parse("x", "my.toml", old).expect_err("flat limits").to_string();
        assert!(msg.contains("[expect.postgres]"), "says where limits go now: {msg}");
    }

    #[test]
    fn a_judged_service_must_be_probed() {
        let text = "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n\
                    [probes]\nservices = [\"postgres\"]\n[expect.redis]\nmax_write_outage_ms = 1\n";
        let msg = Scenario::parse("x", "x.toml", text).expect_err("unprobed").to_string();
        assert!(msg.contains("[expect.redis]") && msg.contains("services"), "{msg}");
    }

    #[test]
    fn the_fault_service_defaults_to_the_stacks_first() {
        let tuchanka = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let text = "description = \"x\"\n[fault]\naction = \"kill\"\ntarget = \"master\"\n[expect]\n";
        let s = Scenario::parse("x", "x.toml", text).expect("parse");
        assert_eq!(s.service(tuchanka), ServiceName::Postgres);
        assert!(s.probes.covers(ServiceName::Redis, &tuchanka.names()), "every service is probed by default");
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
    fn a_lift_needs_an_undoable_action_and_a_time_inside_the_observation() {
        let parse = |fault: &str| with_fault(&format!("target = \"master\"\n{fault}"));
        let error = |fault: &str| parse(fault).expect_err(fault).to_string();
        assert!(error("action = \"disable\"").contains("disable needs lift_after_s"));
        let disable = parse("action = \"disable\"\nlift_after_s = 20").expect("disable for 20 s");
        assert_eq!(disable.fault.lift_after_s, Some(20.0));
        let named = parse("action = \"disable\"\nresource = \"redisd-clone\"\nlift_after_s = 5").expect("named");
        assert_eq!(named.fault.resource.as_deref(), Some("redisd-clone"));
        assert!(error("action = \"disable\"\nresource = \"a b\"\nlift_after_s = 5").contains("Pacemaker resource id"));
        assert!(error("action = \"poweroff\"\nlift_after_s = 5").contains("undone only when the run restores"));
        let kill = error("action = \"signal\"\nprocess = \"corosync\"\nlift_after_s = 5");
        assert!(kill.contains("SIGKILL cannot be taken back"), "{kill}");
        parse("action = \"signal\"\nprocess = \"corosync\"\nsignal = \"STOP\"\nlift_after_s = 5").expect("STOP");
        assert!(error("action = \"standby\"\nlift_after_s = -1").contains("out of range"));
        assert!(error("action = \"standby\"\nlift_after_s = 400").contains("no time to watch"));
        // A [[then]] step's lift counts from the first fault.
        let then =
            "action = \"kill\"\n[[then]]\nafter_s = 200\naction = \"standby\"\ntarget = \"master\"\nlift_after_s = 150";
        let late = parse(then).expect_err("late");
        assert!(late.to_string().contains("[[then]] step 1 is lifted 350 s"), "{late}");
    }

    #[test]
    fn the_witness_only_takes_host_level_faults() {
        let text = "description = \"x\"\n[fault]\naction = \"kill\"\ntarget = \"witness\"\n[expect]\n";
        let msg = Scenario::parse("x", "x.toml", text).expect_err("witness").to_string();
        assert!(msg.contains("witness"), "{msg}");
    }

    #[test]
    fn a_kernel_panic_needs_a_vm_and_says_so() {
        let s = Scenario::find("kernel-panic-master").expect("builtin");
        let stack = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let msg = s.unsupported_by(CONTAINERS, stack).expect("refused on containers");
        assert!(msg.contains("--backend qemu") && msg.contains("`kernel-panic-master` (kernel-panic)"), "{msg}");
        assert_eq!(s.unsupported_by(VMS, stack), None);
        assert_eq!(Scenario::find("poweroff-master").expect("builtin").unsupported_by(CONTAINERS, stack), None);
    }

    #[test]
    fn sbd_stop_needs_a_lab_fenced_by_sbd_and_says_how_to_make_one() {
        let s = Scenario::find("SBD-STOP").expect("Tuchanka's name");
        assert_eq!(s.name, "sbd-stop-master");
        assert_eq!(s.needs(), "sbd");
        let stack = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let msg = s.unsupported_by(VMS, stack).expect("refused without sbd");
        assert!(msg.contains("--set cluster.fencing=sbd") && msg.contains("(sbd-stop)"), "{msg}");
        assert_eq!(s.unsupported_by(crate::backend::Capabilities { watchdog: true, ..VMS }, stack), None);
        assert!(s.summary().needs_watchdog);
    }

    #[test]
    fn host_level_faults_are_refused_where_they_would_hit_the_host() {
        let netem_host = crate::backend::Capabilities { link_shaping: true, ..CONTAINERS };
        let stack = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let refusal = |name: &str, caps| Scenario::find(name).expect(name).unsupported_by(caps, stack);
        for (name, reason) in [
            ("clock-jump-master", "share the host's clock"),
            ("disk-full-master", "the host's disk"),
            ("fork-bomb-master", "share the host's"),
            ("degrade-master-link", "CONFIG_NET_SCH_NETEM"),
        ] {
            let msg = refusal(name, CONTAINERS).expect(name);
            assert!(msg.contains(reason) && msg.contains("--backend qemu"), "{msg}");
        }
        assert_eq!(
            refusal("degrade-master-link", netem_host),
            None,
            "a host kernel with netem shapes containers' links"
        );
        assert!(refusal("clock-jump-master", netem_host).is_some());
    }

    #[test]
    fn each_host_level_fault_takes_its_own_field_and_checks_it() {
        let parse = |fault: &str| with_fault(&format!("target = \"master\"\n{fault}"));
        let error = |fault: &str| parse(fault).expect_err(fault).to_string();
        assert!(error("action = \"degrade\"").contains("needs link = {"));
        assert!(error("action = \"degrade\"\nlink = {}").contains("degrades nothing"));
        assert!(error("action = \"degrade\"\nlink = { jitter_ms = 5 }").contains("give delay_ms too"));
        assert!(error("action = \"degrade\"\nlink = { loss_percent = 100 }").contains("give 0 to 50"));
        assert!(error("action = \"degrade\"\nlink = { delay_ms = 5, lost = 1 }").contains("unknown field"));
        let degrade = parse("action = \"degrade\"\nlink = { delay_ms = 100, rate_kbit = 512 }").expect("degrade");
        assert_eq!(degrade.fault.link.expect("link").netem_arguments(), "delay 100ms rate 512kbit");
        assert!(error("action = \"kill\"\nlink = { delay_ms = 5 }").contains("link is only for action degrade"));
        assert!(error("action = \"clock-jump\"").contains("needs offset_s"));
        assert!(error("action = \"clock-jump\"\noffset_s = 0").contains("non-zero"));
        parse("action = \"clock-jump\"\noffset_s = -3600").expect("back an hour");
        assert!(error("action = \"disk-full\"").contains("needs path"));
        assert!(error("action = \"disk-full\"\npath = \"var/lib\"").contains("absolute"));
        assert!(error("action = \"disk-full\"\npath = \"/var/../etc\"").contains("no `..`"));
        assert!(error("action = \"disk-full\"\npath = \"/a b\"").contains("absolute directory"));
        parse("action = \"fork-bomb\"").expect("no fields");
        assert!(error("action = \"starve-cpu\"").contains("needs cpu_percent = 5"));
        assert!(error("action = \"starve-cpu\"\ncpu_percent = 0").contains("give 1 to 99"));
        assert!(error("action = \"starve-cpu\"\ncpu_percent = 100").contains("give 1 to 99"));
        assert!(error("action = \"starve-cpu\"\ncpu_percent = -5").contains("invalid value"));
        assert!(error("action = \"kill\"\ncpu_percent = 5").contains("only for action starve-cpu"));
        let starve = parse("action = \"starve-cpu\"\ncpu_percent = 5\nlift_after_s = 30").expect("starve");
        assert_eq!(starve.fault.cpu_percent, Some(5));
        assert!(error("action = \"starve-memory\"").contains("needs memory_left_mb = 200"));
        assert!(error("action = \"starve-memory\"\nmemory_left_mb = 8").contains("give 16 to 4096"));
        assert!(
            error("action = \"starve-cpu\"\ncpu_percent = 5\nmemory_left_mb = 200")
                .contains("only for action starve-memory")
        );
        let starve = parse("action = \"starve-memory\"\nmemory_left_mb = 200\nlift_after_s = 60").expect("starve");
        assert_eq!((starve.fault.memory_left_mb, starve.fault.action.liftable()), (Some(200), true));
    }

    #[test]
    fn scenarios_run_on_the_stacks_they_are_written_for() {
        use crate::cluster::profile::ProfileName;
        let (tuchanka, skyha) = (ProfileName::Tuchanka.profile(), ProfileName::Skyha.profile());
        let docker_stop = Scenario::find("docker-stop-redis").expect("builtin");
        assert_eq!(docker_stop.unsupported_by(VMS, skyha), None);
        let msg = docker_stop.unsupported_by(VMS, tuchanka).expect("not Tuchanka's");
        assert!(msg.contains("written for the skyha stack, and this lab runs tuchanka"), "{msg}");
        let kill_replica = Scenario::find("kill-postgres-replica").expect("builtin");
        assert!(kill_replica.unsupported_by(VMS, skyha).is_some(), "a file that does not say is Tuchanka's");
        assert_eq!(Scenario::find("poweroff-master").expect("builtin").unsupported_by(VMS, skyha), None);
        // Its [expect.postgres] is for the stacks that run PostgreSQL: on
        // drbd-nfs it judges nothing, and the scenario runs.
        let nfs = ProfileName::DrbdNfs.profile();
        assert_eq!(Scenario::find("poweroff-master").expect("builtin").unsupported_by(VMS, nfs), None);
        // No stack it is written for runs MariaDB: a slip, refused.
        let text = "description = \"x\"\nstacks = [\"tuchanka\"]\n[fault]\naction = \"poweroff\"\ntarget = \"master\"\n\
                    [expect.mariadb]\nlost_writes = 0\n";
        let msg = Scenario::parse("x", "x.toml", text).expect("parse").unsupported_by(VMS, tuchanka).expect("refused");
        assert!(msg.contains("needs mariadb, which the tuchanka stack does not run"), "{msg}");

        // A container fault on a stack that runs the service outside one.
        let text = "description = \"x\"\nstacks = [\"tuchanka\"]\n[fault]\naction = \"docker-kill\"\ntarget = \"master\"\n[expect]\n";
        let msg = Scenario::parse("x", "x.toml", text).expect("parse").unsupported_by(VMS, tuchanka).expect("refused");
        assert!(
            msg.contains("needs postgres in a Docker container; the tuchanka stack runs it as PostgreSQL (PAF)"),
            "{msg}"
        );
        // A signal to a service without a process of its own.
        let text = "description = \"x\"\nstacks = [\"skyha\"]\n[fault]\naction = \"kill\"\ntarget = \"master\"\nservice = \"drbd\"\n[expect]\n";
        let msg = Scenario::parse("x", "x.toml", text).expect("parse").unsupported_by(VMS, skyha).expect("refused");
        assert!(msg.contains("needs a process of drbd"), "{msg}");
        // A replication-link cut of a service that replicates over its clients' link.
        assert_eq!(Scenario::find("replication-link-down").expect("builtin").unsupported_by(VMS, skyha), None);
        let text = "description = \"x\"\nstacks = [\"skyha\"]\n[fault]\naction = \"replication-link-down\"\ntarget = \"master\"\n[expect]\n";
        let msg = Scenario::parse("x", "x.toml", text).expect("parse").unsupported_by(VMS, skyha).expect("refused");
        assert!(msg.contains("needs postgres to replicate over a link of its own"), "{msg}");
    }

    #[test]
    fn stretching_scales_the_window_and_limits_only() {
        let s = Scenario::find("poweroff-master").expect("builtin");
        let slow = s.stretched(8.0);
        assert_eq!(slow.observe.timeout_s, s.observe.timeout_s * 8.0);
        assert_eq!(postgres(&slow).max_write_outage_ms, postgres(&s).max_write_outage_ms.map(|ms| ms * 8));
        assert_eq!(
            (postgres(&slow).lost_writes, slow.observe.settle_s),
            (postgres(&s).lost_writes, s.observe.settle_s)
        );
        assert_eq!(s.stretched(0.5), s, "never shrinks");
    }

    #[test]
    fn unknown_scenario_lists_the_known_ones() {
        let msg = Scenario::find("kill-everything").expect_err("unknown").to_string();
        assert!(msg.contains("kill-everything") && msg.contains("kill-postgres-master"), "{msg}");
    }

    #[test]
    fn misspelt_key_names_file_and_line() {
        let text = "description = \"x\"\n[fault]\naction = \"power-off\"\ntarget = \"master\"\n\
                    [expect.postgres]\nlost_write = 0\n";
        let msg = Scenario::parse("x", "my.toml", text).expect_err("typo").to_string();
        assert!(msg.starts_with("my.toml:6:"), "{msg}");
        assert!(msg.contains("lost_write"), "{msg}");
    }

    #[test]
    fn a_wait_that_would_panic_mid_run_is_refused_with_its_line() {
        let with = |section: &str, line: &str| {
            let text = format!(
                "description = \"x\"\n[fault]\naction = \"kill\"\ntarget = \"master\"\n[{section}]\n{line}\n[expect]\n"
            );
            Scenario::parse("x", "bad.toml", &text).map(|_| ()).map_err(|e| e.to_string())
        };
        for (section, line) in [
            ("observe", "timeout_s = -5"),
            ("observe", "timeout_s = 0"),
            ("observe", "timeout_s = 1e300"),
            ("observe", "settle_s = -1"),
            ("probes", "warmup_s = nan"),
            ("probes", "jitter_s = inf"),
        ] {
            let msg = with(section, line).expect_err(line);
            assert!(msg.starts_with("bad.toml:6:"), "{line}: {msg}");
            assert!(msg.contains("give"), "{line}: {msg}");
        }
        assert_eq!(with("observe", "timeout_s = 60"), Ok(()));
        assert_eq!(with("probes", "warmup_s = 0"), Ok(()), "an integer is a number of seconds too");
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
