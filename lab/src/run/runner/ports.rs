//! What a scenario run needs from the world, as two small traits, and the
//! real lab behind them.
//!
//! The runner ([`super::run`]) never touches a backend, a guest or a socket
//! itself: it asks its [`ScenarioPorts`] to roll back, start the cluster,
//! read it, inject and undo a fault, run probes and check writes. A real
//! [`Lab`] answers through [`LabPorts`]; tests answer with recorded crm_mon
//! views and synthetic probe attempts under tokio's paused clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use heartbeat::{AckCheck, Attempt, Clock, Recording};

use crate::backend::{Capabilities, NodeBackend};
use crate::cluster::profile::StackProfile;
use crate::cluster::services::ServiceName;
use crate::cluster::state::ClusterState;
use crate::config::BackendKind;
use crate::fenced::{FenceEvent, read_events};
use crate::lifecycle::{Lab, LabError, SETUP};
use crate::run::probes::{ProbeKind, Probes};
use crate::run::scenario::Fault;

/// How many seconds of journal before a fault a run keeps.
const JOURNAL_LEAD_S: u128 = 10;

/// The lab as a run sees it, read once at the start.
#[derive(Clone, Debug)]
pub struct RunContext {
    pub lab: String,
    pub backend: BackendKind,
    pub capabilities: Capabilities,
    pub stack: &'static StackProfile,
    pub nodes: Vec<String>,
    pub witness: Option<String>,
    /// How many times slower than native the hosts run: scenario limits are
    /// stretched by it.
    pub time_factor: f64,
    /// How long the cluster may take to become healthy.
    pub healthy_timeout: Duration,
    /// How often to ask the cluster for its state.
    pub poll_interval: Duration,
}

/// The side effects of one scenario run.
pub trait ScenarioPorts {
    type Probes: ProbeSet;

    fn context(&self) -> RunContext;

    /// Rolls every host back to `setup` and boots them; how long it took.
    fn rollback(&self) -> impl Future<Output = Result<Duration, LabError>>;

    fn start_cluster(&self) -> impl Future<Output = Result<(), LabError>>;

    /// Waits until every service is healthy, telling `detail` meanwhile.
    fn wait_healthy(&self, detail: &(dyn Fn(&str) + Sync)) -> impl Future<Output = Result<ClusterState, LabError>>;

    /// The cluster if it is healthy now (one look, no waiting): what
    /// [`ScenarioPorts::wait_healthy`] waits for.
    fn healthy_now(&self) -> impl Future<Output = Result<ClusterState, LabError>>;

    /// The cluster as a node sees it, asking `avoid` (the victim) last.
    fn cluster_state(&self, avoid: &str) -> impl Future<Output = Result<ClusterState, LabError>>;

    fn inject(&self, fault: &Fault, service: ServiceName, victim: &str) -> impl Future<Output = Result<(), LabError>>;

    /// Takes the fault back while the probes run (its `lift_after_s`).
    fn lift(&self, fault: &Fault, service: ServiceName, victim: &str) -> impl Future<Output = Result<(), LabError>>;

    /// Undoes the fault and brings the victim back as a replica.
    fn restore(&self, fault: &Fault, service: ServiceName, victim: &str) -> impl Future<Output = Result<(), LabError>>;

    /// Starts `kinds`, all on `clock`.
    fn start_probes(&self, kinds: &[ProbeKind], run_id: &str, clock: Clock) -> Result<Self::Probes, LabError>;

    /// After recovery: each writer's acknowledged writes its service lost.
    fn check_acknowledged(
        &self,
        recordings: &[(ProbeKind, Recording)],
    ) -> impl Future<Output = Result<BTreeMap<ServiceName, AckCheck>, LabError>>;

    /// Every fencing action of the lab so far, oldest first.
    fn fence_events(&self) -> Vec<FenceEvent>;

    /// Each host's journal from a little before the fault at `fault_unix_ms`
    /// (milliseconds since the epoch) until now, by host: the cluster's own
    /// account of the fault.
    fn journals(&self, fault_unix_ms: u128) -> impl Future<Output = Vec<(String, String)>>;

    /// How long each host's console log is now.
    fn console_marks(&self) -> Vec<(String, u64)>;

    /// What each host's console printed since `marks`.
    fn consoles_since(&self, marks: &[(String, u64)]) -> Vec<(String, String)>;
}

/// Probes running for a scenario.
pub trait ProbeSet {
    /// Every attempt so far, per probe.
    fn snapshot(&self) -> impl Future<Output = Vec<(ProbeKind, Vec<Attempt>)>>;

    /// Stops them and returns their recordings.
    fn stop(self) -> impl Future<Output = Result<Vec<(ProbeKind, Recording)>, LabError>>;
}

/// A real lab's side effects.
#[derive(Debug)]
pub struct LabPorts<'a>(pub &'a Lab);

impl ScenarioPorts for LabPorts<'_> {
    type Probes = Probes;

    fn context(&self) -> RunContext {
        let lab = self.0;
        RunContext {
            lab: lab.topology.lab.clone(),
            backend: lab.topology.backend,
            capabilities: lab.backend.capabilities(),
            stack: lab.topology.stack.profile(),
            nodes: lab.topology.node_names(),
            witness: lab.stack().witness(),
            time_factor: lab.topology.time_factor(),
            healthy_timeout: Duration::from_secs(lab.config.timeouts.healthy_s),
            poll_interval: lab.stack().poll_interval(),
        }
    }

    async fn rollback(&self) -> Result<Duration, LabError> {
        self.0.rollback(SETUP).await
    }

    async fn start_cluster(&self) -> Result<(), LabError> {
        Ok(self.0.stack().start().await?)
    }

    async fn wait_healthy(&self, detail: &(dyn Fn(&str) + Sync)) -> Result<ClusterState, LabError> {
        let timeout = Duration::from_secs(self.0.config.timeouts.healthy_s);
        Ok(self.0.stack().wait_healthy(timeout, detail).await?)
    }

    async fn healthy_now(&self) -> Result<ClusterState, LabError> {
        Ok(self.0.stack().wait_healthy(Duration::ZERO, &|_| {}).await?)
    }

    async fn cluster_state(&self, avoid: &str) -> Result<ClusterState, LabError> {
        Ok(self.0.stack().state_avoiding(avoid).await?)
    }

    async fn inject(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        crate::run::faults::inject(self.0, fault, service, victim).await
    }

    async fn lift(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        crate::run::faults::lift(self.0, fault, service, victim).await
    }

    async fn restore(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        crate::run::faults::restore(self.0, fault, service, victim).await
    }

    fn start_probes(&self, kinds: &[ProbeKind], run_id: &str, clock: Clock) -> Result<Probes, LabError> {
        Probes::start(self.0, kinds, run_id, clock)
    }

    async fn check_acknowledged(
        &self,
        recordings: &[(ProbeKind, Recording)],
    ) -> Result<BTreeMap<ServiceName, AckCheck>, LabError> {
        // The probes' timeouts measure outages; the check measures nothing
        // and waits as long as a slow (emulated) guest needs to answer.
        let factor = self.0.topology.time_factor();
        let mut settings = crate::run::probes::settings(self.0);
        settings.connect_timeout = settings.connect_timeout.mul_f64(factor);
        settings.query_timeout = settings.query_timeout.mul_f64(factor);
        let mut checks = BTreeMap::new();
        for (kind, recording) in recordings.iter().filter(|(kind, _)| kind.role == heartbeat::Role::Writer) {
            let spec = self.0.stack().profile().require(kind.service)?;
            let check = spec.check_acknowledged(self.0, settings.clone(), recording.clone()).await?;
            checks.insert(kind.service, check);
        }
        Ok(checks)
    }

    fn fence_events(&self) -> Vec<FenceEvent> {
        read_events(&self.0.paths.root().join("fence-events.jsonl"))
    }

    async fn journals(&self, fault_unix_ms: u128) -> Vec<(String, String)> {
        // What led up to the fault matters too: the last healthy monitors.
        let since_unix_s = (fault_unix_ms / 1000).saturating_sub(JOURNAL_LEAD_S);
        self.0.stack().journals(u64::try_from(since_unix_s).unwrap_or(u64::MAX)).await
    }

    fn console_marks(&self) -> Vec<(String, u64)> {
        let lab = self.0;
        let length = |host: &str| std::fs::metadata(lab.paths.console(host)).map_or(0, |m| m.len());
        lab.topology.host_names().into_iter().map(|h| (h.clone(), length(&h))).collect()
    }

    fn consoles_since(&self, marks: &[(String, u64)]) -> Vec<(String, String)> {
        use std::io::{Read, Seek};
        let read = |host: &str, from: u64| -> std::io::Result<String> {
            let mut file = std::fs::File::open(self.0.paths.console(host))?;
            file.seek(std::io::SeekFrom::Start(from))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        marks.iter().filter_map(|(host, from)| Some((host.clone(), read(host, *from).ok()?))).collect()
    }
}

impl ProbeSet for Probes {
    async fn snapshot(&self) -> Vec<(ProbeKind, Vec<Attempt>)> {
        Probes::snapshot(self).await
    }

    async fn stop(self) -> Result<Vec<(ProbeKind, Recording)>, LabError> {
        Probes::stop(self).await
    }
}
