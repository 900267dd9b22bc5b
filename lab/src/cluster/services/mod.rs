//! The services a stack runs under Pacemaker, one module each.
//!
//! A service declares what the rest of lab needs to know of it, so that no
//! other module names PostgreSQL or Redis:
//! - its Pacemaker resources: the promotable clone whose promoted instance
//!   is the service's master, the VIPs that follow it ([`ServiceSpec`]), and
//!   the CIB fragment that creates them (`guest/services/<name>.cib.sh`);
//! - its set-up on the nodes, and how a node that lost its data rejoins;
//!   (its packages are still listed per distribution in [`crate::install::distro`]);
//! - how its state reads from crm_mon and when it counts as healthy;
//! - its probes (writer and reader through its VIP, with the check for lost
//!   acknowledged writes) and the process its faults hit.
//!
//! A stack profile ([`crate::cluster::profile`]) composes services into a cluster.
//!
//! # Layout
//! - [`postgres`]: PostgreSQL streaming replication managed by PAF.
//! - [`redis`]: Redis managed by the `ocf:heartbeat:redis` agent.

use std::fmt;
use std::str::FromStr;

use heartbeat::{AckCheck, ProbeSettings, Recording, Role};
use serde::{Deserialize, Serialize};

use crate::cluster::stack::{Stack, StackError};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;
use crate::topology::Topology;

pub mod postgres;
pub mod redis;

/// A service lab knows, by the name scenarios, results and the CLI use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Postgres,
    Redis,
}

impl ServiceName {
    /// Every service, in the order `lab stacks` lists them.
    pub const ALL: &[ServiceName] = &[ServiceName::Postgres, ServiceName::Redis];

    /// What the service declares about itself.
    pub fn spec(self) -> &'static ServiceSpec {
        match self {
            ServiceName::Postgres => &postgres::SPEC,
            ServiceName::Redis => &redis::SPEC,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Postgres => "postgres",
            ServiceName::Redis => "redis",
        }
    }

    /// Prepares the service on the nodes while the cluster is being set up
    /// (before its Pacemaker resources exist).
    pub async fn setup<G: Guest>(self, stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
        match self {
            ServiceName::Postgres => postgres::setup(stack, step).await,
            ServiceName::Redis => redis::setup(stack, step).await,
        }
    }

    /// Whether `node` holds data the service cannot bring up to date by
    /// itself in `state`, so that it must be rebuilt from the master
    /// before it rejoins.
    pub async fn needs_rebuild<G: Guest>(self, stack: &Stack<'_, G>, state: &ClusterState, node: &str) -> bool {
        match self {
            ServiceName::Postgres => postgres::needs_rebuild(stack, state, node).await,
            // The redis agent resynchronises a returning replica itself.
            ServiceName::Redis => false,
        }
    }

    /// Rebuilds the service's data on `node` (out of the cluster) from its master.
    pub async fn rebuild<G: Guest>(self, stack: &Stack<'_, G>, node: &str) -> Result<(), StackError> {
        match self {
            ServiceName::Postgres => postgres::rebuild(stack, node).await,
            ServiceName::Redis => Ok(()),
        }
    }

    /// Whether every replica the cluster shows really replicates (Pacemaker
    /// sees a started replica before it streams).
    pub async fn replicating<G: Guest>(self, stack: &Stack<'_, G>, state: &ClusterState, nodes: usize) -> bool {
        match self {
            ServiceName::Postgres => postgres::replicating(stack, state, nodes).await,
            ServiceName::Redis => true,
        }
    }

    /// Sends `signal` to the service's main process (a `kill`), or to all
    /// its processes (a hang: `STOP`, undone with `CONT`).
    pub fn signal(self, topology: &Topology, signal: &str, every_process: bool) -> Script {
        match self {
            ServiceName::Postgres => postgres::signal(topology, signal, every_process),
            ServiceName::Redis => redis::signal(signal),
        }
    }

    /// Starts one of the service's probes on the lab network.
    pub fn launch_probe(
        self,
        lab: &Lab,
        role: Role,
        settings: ProbeSettings,
        run: ProbeRun,
    ) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
        match self {
            ServiceName::Postgres => postgres::launch_probe(lab, role, settings, run),
            ServiceName::Redis => redis::launch_probe(lab, role, settings, run),
        }
    }

    /// After recovery: which of the writer's acknowledged writes the
    /// service's master no longer has.
    pub async fn check_acknowledged(
        self,
        lab: &Lab,
        settings: ProbeSettings,
        recording: Recording,
    ) -> Result<AckCheck, LabError> {
        match self {
            ServiceName::Postgres => postgres::check_acknowledged(lab, settings, recording).await,
            ServiceName::Redis => redis::check_acknowledged(lab, settings, recording).await,
        }
    }

    /// Where a probe of `role` connects, for people (`lab heartbeat`).
    pub fn probe_target(self, lab: &Lab, role: Role) -> Result<String, LabError> {
        match self {
            ServiceName::Postgres => Ok(postgres::target(lab, role)?.to_string()),
            ServiceName::Redis => Ok(redis::target(lab)?.to_string()),
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown service `{0}`; known: {known}", known = known_names())]
pub struct UnknownService(pub String);

fn known_names() -> String {
    ServiceName::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl FromStr for ServiceName {
    type Err = UnknownService;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL.iter().copied().find(|s| s.as_str() == text).ok_or_else(|| UnknownService(text.to_owned()))
    }
}

/// What a service declares about itself: data only, read by the cluster
/// view, the health check, `lab stacks` and the faults.
#[derive(Debug)]
pub struct ServiceSpec {
    pub name: ServiceName,
    /// The product, for people.
    pub title: &'static str,
    /// The promotable clone whose promoted instance is the master.
    pub clone: &'static str,
    /// The VIP resource that follows the master: writers connect there.
    pub master_vip: &'static str,
    /// The VIP resource that prefers a replica, if the service has one:
    /// readers connect there (else to the master VIP).
    pub replica_vip: Option<&'static str>,
    /// The node attribute where the agent keeps each node's promotion
    /// score, if a replica only counts once it is scored positive (PAF
    /// scores a replica that is not streaming yet -1000: a master lost then
    /// would have no successor).
    pub promotion_score: Option<&'static str>,
    /// The probes a scenario runs against it.
    pub probes: &'static [Role],
    /// The process a `kill` fault hits, as `pkill -x` names it.
    pub process: &'static str,
    /// The guest script fragment defining `<name>_resources` and
    /// `<name>_constraints` for `guest/cluster-resources.sh`.
    pub cib: &'static str,
}

impl ServiceSpec {
    /// The node where the service is promoted.
    pub fn master<'s>(&self, state: &'s ClusterState) -> Option<&'s str> {
        state.clones.get(self.clone).and_then(|c| c.promoted.as_deref())
    }

    /// The nodes where the service runs as a replica, sorted.
    pub fn replicas<'s>(&self, state: &'s ClusterState) -> &'s [String] {
        state.clones.get(self.clone).map_or(&[], |c| c.unpromoted.as_slice())
    }

    /// A master with its VIP, a replica on every other node (one the agent
    /// would promote, where it scores them) and the replica VIP up.
    pub fn is_healthy(&self, state: &ClusterState, nodes: &[String]) -> bool {
        let Some(master) = self.master(state) else { return false };
        let mut expected: Vec<&String> = nodes.iter().filter(|n| *n != master).collect();
        expected.sort();
        let replicas = self.replicas(state);
        let scored = |node: &String| {
            self.promotion_score.is_none_or(|attribute| state.promotion_score(attribute, node).is_some_and(|s| s > 0))
        };
        replicas.iter().collect::<Vec<_>>() == expected
            && replicas.iter().all(scored)
            && state.location(self.master_vip) == Some(master)
            && self.replica_vip.is_none_or(|vip| state.location(vip).is_some())
    }

    /// One phrase for progress lines: `postgres master a, replicas [b]`.
    pub fn summary(&self, state: &ClusterState) -> String {
        format!(
            "{} master {}, replicas [{}]",
            self.name,
            self.master(state).unwrap_or("none"),
            self.replicas(state).join(" ")
        )
    }

    /// The VIP resource a probe of `role` goes through.
    pub fn vip_for(&self, role: Role) -> &'static str {
        match role {
            Role::Writer => self.master_vip,
            Role::Reader => self.replica_vip.unwrap_or(self.master_vip),
        }
    }
}

/// A probe of one service: its writer or its reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeKind {
    pub service: ServiceName,
    pub role: Role,
}

impl ProbeKind {
    /// The probe's name in recordings and reports: `postgres-writer`.
    pub fn name(self) -> String {
        let role = match self.role {
            Role::Writer => "writer",
            Role::Reader => "reader",
        };
        format!("{}-{role}", self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for service in ServiceName::ALL {
            assert_eq!(service.as_str().parse::<ServiceName>().expect("parse"), *service);
            assert_eq!(service.spec().name, *service, "{service}'s spec names itself");
            assert_eq!(serde_json::to_value(service).expect("json"), service.as_str());
        }
        let error = "mysql".parse::<ServiceName>().expect_err("unknown").to_string();
        assert_eq!(error, "unknown service `mysql`; known: postgres, redis");
    }

    #[test]
    fn every_service_has_a_cib_fragment_defining_its_functions() {
        for service in ServiceName::ALL {
            let cib = service.spec().cib;
            for function in ["resources", "constraints"] {
                assert!(cib.contains(&format!("{service}_{function}() {{")), "{service}: no {service}_{function}");
            }
            assert!(cib.contains(service.spec().clone), "{service}'s fragment makes {}", service.spec().clone);
        }
    }

    #[test]
    fn probes_are_named_after_service_and_role() {
        let kind = ProbeKind { service: ServiceName::Redis, role: Role::Reader };
        assert_eq!(kind.name(), "redis-reader");
        assert_eq!(ServiceName::Postgres.spec().vip_for(Role::Reader), "pg-replica-vip");
        assert_eq!(ServiceName::Redis.spec().vip_for(Role::Reader), "redis-master-vip");
    }
}
