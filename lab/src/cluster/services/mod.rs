//! The services a stack runs under Pacemaker, one module each.
//!
//! A service declares what the rest of lab needs to know of it, so that no
//! other module names PostgreSQL or Redis:
//! - its Pacemaker resources: where the service's master is read from (a
//!   promotable clone, or one resource placed on the primary of the stack's
//!   replicated storage), the VIPs that follow it ([`ServiceSpec`]), and the
//!   CIB fragment that creates them (`guest/services/<fragment>.cib.sh`);
//! - how Pacemaker runs it ([`Runtime`]), which decides its set-up on the
//!   nodes, how a node that lost its data rejoins, and what a fault hits;
//! - how its state reads from crm_mon and when it counts as healthy;
//! - its probes (writer and reader through its VIP, with the check for lost
//!   acknowledged writes).
//!
//! The same service may run differently in two stacks (PostgreSQL under PAF
//! in Tuchanka's, in a Docker container on DRBD in skyha's): each way is
//! its own [`ServiceSpec`], and a stack profile ([`crate::cluster::profile`])
//! lists the specs it runs.
//!
//! # Layout
//! - [`postgres`]: PostgreSQL, streaming replication under PAF or a container.
//! - [`redis`]: Redis, under the `ocf:heartbeat:redis` agent or a container.
//! - [`beanstalkd`]: Beanstalkd, a work queue, in a container.
//! - [`drbd`]: DRBD storage replicated between the nodes, its file system
//!   and the stack's VIP, on which the services of its stack run.
//! - [`nfs`]: an NFS export of the replicated storage.
//! - [`mariadb`]: MariaDB with its data on the replicated storage.
//! - [`container`]: what every service run as a Docker container shares.
//! - [`probing`]: starting a service's probes and checking its writes.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use heartbeat::{AckCheck, ProbeSettings, Recording, Role};
use serde::{Deserialize, Serialize};

use crate::cluster::stack::{Stack, StackError};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;
use crate::topology::Topology;

pub mod beanstalkd;
pub mod container;
pub mod drbd;
pub mod mariadb;
pub mod nfs;
pub mod postgres;
pub mod probing;
pub mod redis;

/// A service lab knows, by the name scenarios, results and the CLI use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Postgres,
    // A second PostgreSQL database of the same nodes (Tuchanka's first
    // cluster consolidates two, each node master of one).
    #[serde(rename = "postgres-b")]
    #[value(name = "postgres-b")]
    PostgresB,
    Redis,
    Beanstalkd,
    Drbd,
    Nfs,
    Mariadb,
}

impl ServiceName {
    /// Every service, in the order `lab stacks` lists them.
    pub const ALL: &[ServiceName] = &[
        ServiceName::Postgres,
        ServiceName::PostgresB,
        ServiceName::Redis,
        ServiceName::Beanstalkd,
        ServiceName::Drbd,
        ServiceName::Nfs,
        ServiceName::Mariadb,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Postgres => "postgres",
            ServiceName::PostgresB => "postgres-b",
            ServiceName::Redis => "redis",
            ServiceName::Beanstalkd => "beanstalkd",
            ServiceName::Drbd => "drbd",
            ServiceName::Nfs => "nfs",
            ServiceName::Mariadb => "mariadb",
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

/// How Pacemaker runs a service: what its set-up, its faults and an
/// operator's recovery of a failed node do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// PostgreSQL streaming replication under PAF (`ocf:heartbeat:pgsqlms`),
    /// of one of the nodes' database clusters.
    Paf(&'static postgres::Instance),
    /// Redis replication under `ocf:heartbeat:redis`.
    RedisAgent,
    /// A Docker container (`ocf:heartbeat:docker`) named `container`, of the
    /// image lab builds offline as `lab/<image>` ([`container::IMAGES`]),
    /// its data on the replicated storage.
    Container { container: &'static str, image: &'static str },
    /// A DRBD resource (`ocf:linbit:drbd`) on a loop file.
    Drbd(&'static drbd::Volume),
    /// The kernel NFS server (`ocf:heartbeat:nfsserver` + `exportfs`).
    NfsServer(&'static nfs::Export),
    /// MariaDB under `ocf:heartbeat:mysql`, its data on the replicated storage.
    Mysql,
}

/// Where a service's master is, as crm_mon shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A promotable clone: its promoted instance is the master, its
    /// unpromoted ones the replicas.
    Promotable {
        clone: &'static str,
        /// The primitive inside the clone: Pacemaker's logs name operations
        /// by it (`Result of promote operation for pgsqld on ...`).
        primitive: &'static str,
        /// The node attribute where the agent keeps each node's promotion
        /// score, if a replica only counts once it is scored positive (PAF
        /// scores a replica that is not streaming yet -1000: a master lost
        /// then would have no successor).
        promotion_score: Option<&'static str>,
    },
    /// One resource that runs where `storage` (a promotable clone holding
    /// its data) is promoted; the nodes where the storage is unpromoted
    /// stand by for it.
    OnStorage { resource: &'static str, storage: &'static str },
}

/// Which of the lab's configured addresses a VIP resource carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipAddress {
    /// `postgres.master_vip`: the master VIP (the only VIP of one-VIP stacks).
    Master,
    /// `postgres.replica_vip`.
    Replica,
    /// `redis.master_vip`.
    Redis,
    /// `postgres.second_master_vip`: the master VIP of a second database.
    SecondMaster,
}

impl VipAddress {
    pub fn of(self, topology: &Topology) -> Ipv4Addr {
        match self {
            VipAddress::Master => topology.vips.master_vip,
            VipAddress::Replica => topology.vips.replica_vip,
            VipAddress::Redis => topology.vips.redis_vip,
            VipAddress::SecondMaster => topology.vips.second_master_vip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// A VIP resource and the address it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vip {
    pub resource: &'static str,
    pub address: VipAddress,
}

/// What a service declares about itself: data read by the cluster view,
/// the health check, `lab stacks` and the faults, and the [`Runtime`] its
/// behaviour follows.
#[derive(Debug)]
pub struct ServiceSpec {
    pub name: ServiceName,
    /// The product and how it runs, for people.
    pub title: &'static str,
    pub runtime: Runtime,
    pub placement: Placement,
    /// The VIP that follows the master: writers connect there.
    pub master_vip: Vip,
    /// The VIP that prefers a replica, if the service has one: readers
    /// connect there (else to the master VIP).
    pub replica_vip: Option<Vip>,
    /// The probes a scenario runs against it.
    pub probes: &'static [Role],
    /// The process a `kill` fault hits, as `pkill -x` names it, if it has
    /// one (DRBD is the kernel's).
    pub process: Option<&'static str>,
    /// The guest script fragment defining `<fragment>_resources` and
    /// `<fragment>_constraints` (and, in a stack with a resource group,
    /// `<fragment>_group`) for `guest/cluster-resources.sh`.
    pub cib: Fragment,
}

/// A service's part of the CIB: `guest/services/<name>.cib.sh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The prefix of its shell functions, also its `SERVICES` entry.
    pub name: &'static str,
    pub text: &'static str,
}

impl ServiceSpec {
    /// The node where the service is master.
    pub fn master<'s>(&self, state: &'s ClusterState) -> Option<&'s str> {
        match self.placement {
            Placement::Promotable { clone, .. } => state.promoted(clone),
            Placement::OnStorage { resource, .. } => state.location(resource),
        }
    }

    /// The nodes standing by to take the service over, sorted: its
    /// replicas, or where its storage is unpromoted.
    pub fn replicas<'s>(&self, state: &'s ClusterState) -> &'s [String] {
        state.unpromoted(self.promotable())
    }

    /// The promotable clone whose promotion decides where the service's
    /// master is: its own, or its storage's. Administrative `move` and
    /// `ban` act on it.
    pub fn promotable(&self) -> &'static str {
        match self.placement {
            Placement::Promotable { clone, .. } | Placement::OnStorage { storage: clone, .. } => clone,
        }
    }

    /// The Pacemaker resource that is the service itself, the one an
    /// operator disables to stop it everywhere: its promotable clone, or
    /// its resource on the storage.
    pub fn own_resource(&self) -> &'static str {
        match self.placement {
            Placement::Promotable { clone, .. } => clone,
            Placement::OnStorage { resource, .. } => resource,
        }
    }

    /// A master with its VIP, every other node standing by (a replica the
    /// agent would promote, where it scores them) and the replica VIP up.
    pub fn is_healthy(&self, state: &ClusterState, nodes: &[String]) -> bool {
        let Some(master) = self.master(state) else { return false };
        let mut expected: Vec<&String> = nodes.iter().filter(|n| *n != master).collect();
        expected.sort();
        let replicas = self.replicas(state);
        let scored = |node: &String| match self.placement {
            Placement::Promotable { promotion_score: Some(attribute), .. } => {
                state.promotion_score(attribute, node).is_some_and(|s| s > 0)
            }
            _ => true,
        };
        let on_storage = match self.placement {
            Placement::OnStorage { storage, .. } => state.promoted(storage) == Some(master),
            Placement::Promotable { .. } => true,
        };
        on_storage
            && replicas.iter().collect::<Vec<_>>() == expected
            && replicas.iter().all(scored)
            && state.location(self.master_vip.resource) == Some(master)
            && self.replica_vip.is_none_or(|vip| state.location(vip.resource).is_some())
    }

    /// The TCP port the service replicates over between nodes, apart from
    /// its clients' traffic, if it has one: a replication-link fault drops it.
    pub fn replication_port(&self) -> Option<u16> {
        match self.runtime {
            Runtime::Drbd(volume) => Some(volume.port),
            _ => None,
        }
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

    /// The VIP a probe of `role` goes through.
    pub fn vip_for(&self, role: Role) -> Vip {
        match role {
            Role::Writer => self.master_vip,
            Role::Reader => self.replica_vip.unwrap_or(self.master_vip),
        }
    }

    /// What guest scripts know of the service beyond the lab's settings:
    /// the names of its storage or of its export.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self.runtime {
            Runtime::Drbd(volume) => volume.env(),
            Runtime::NfsServer(export) => export.env(),
            Runtime::Paf(instance) => instance.env(),
            Runtime::RedisAgent | Runtime::Container { .. } | Runtime::Mysql => Vec::new(),
        }
    }

    /// The Docker container the service runs in, if it does.
    pub fn container(&self) -> Option<&'static str> {
        match self.runtime {
            Runtime::Container { container, .. } => Some(container),
            _ => None,
        }
    }

    /// The image of its container, if it runs in one.
    pub fn image(&self) -> Option<&'static str> {
        match self.runtime {
            Runtime::Container { image, .. } => Some(image),
            _ => None,
        }
    }

    /// Prepares the service on the nodes while the cluster is being set up
    /// (before its Pacemaker resources exist).
    pub async fn setup<G: Guest>(&self, stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
        match self.runtime {
            Runtime::Paf(instance) => postgres::setup(self, instance, stack, step).await,
            Runtime::RedisAgent => redis::setup(stack, step).await,
            Runtime::Container { .. } => container::setup(self, stack, step).await,
            Runtime::Drbd(volume) => drbd::setup(volume, stack, step).await,
            Runtime::NfsServer(_) => nfs::setup(stack, step).await,
            Runtime::Mysql => mariadb::setup(stack, step).await,
        }
    }

    /// Whether `node` holds data the service cannot bring up to date by
    /// itself in `state`, so that it must be rebuilt from the master
    /// before it rejoins.
    pub async fn needs_rebuild<G: Guest>(&self, stack: &Stack<'_, G>, state: &ClusterState, node: &str) -> bool {
        match self.runtime {
            Runtime::Paf(instance) => postgres::needs_rebuild(self, instance, stack, state, node).await,
            Runtime::Drbd(volume) => drbd::needs_rebuild(volume, stack, state, node).await,
            // The redis agent resynchronises a returning replica itself;
            // containers, NFS and MariaDB keep their data on the replicated storage.
            Runtime::RedisAgent | Runtime::Container { .. } | Runtime::NfsServer(_) | Runtime::Mysql => false,
        }
    }

    /// Rebuilds the service's data on `node` (out of the cluster) from its master.
    pub async fn rebuild<G: Guest>(&self, stack: &Stack<'_, G>, node: &str) -> Result<(), StackError> {
        match self.runtime {
            Runtime::Paf(instance) => postgres::rebuild(self, instance, stack, node).await,
            Runtime::Drbd(volume) => drbd::rebuild(volume, stack, node).await,
            Runtime::RedisAgent | Runtime::Container { .. } | Runtime::NfsServer(_) | Runtime::Mysql => Ok(()),
        }
    }

    /// Whether every replica the cluster shows really replicates (Pacemaker
    /// sees a started replica before it streams, DRBD a secondary before it
    /// is in sync).
    pub async fn replicating<G: Guest>(&self, stack: &Stack<'_, G>, state: &ClusterState, nodes: usize) -> bool {
        match self.runtime {
            Runtime::Paf(instance) => postgres::replicating(self, instance, stack, state, nodes).await,
            Runtime::Drbd(volume) => drbd::replicating(self, volume, stack, state).await,
            Runtime::RedisAgent | Runtime::Container { .. } | Runtime::NfsServer(_) | Runtime::Mysql => true,
        }
    }

    /// Sends `signal` to the service's main process (a `kill`), or to all
    /// its processes (a hang: `STOP`, undone with `CONT`); `None` for a
    /// service without a process of its own.
    pub fn signal(&self, topology: &Topology, signal: &str, every_process: bool) -> Option<Script> {
        let process = self.process?;
        Some(match self.runtime {
            Runtime::Paf(instance) => postgres::signal(instance, topology, signal, every_process),
            // The oldest process of that name is the main one (PostgreSQL's postmaster).
            _ if !every_process => Script::command("signal", format!("pkill -{signal} -o -x {process}")),
            _ => Script::command("signal", format!("pkill -{signal} -x {process}")),
        })
    }

    /// Starts one of the service's probes on the lab network.
    pub fn launch_probe(
        &self,
        lab: &Lab,
        role: Role,
        settings: ProbeSettings,
        run: ProbeRun,
    ) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
        match self.name {
            ServiceName::Postgres | ServiceName::PostgresB => {
                probing::launch::<postgres::Probes>(self, lab, role, settings, run)
            }
            ServiceName::Redis => probing::launch::<redis::Probes>(self, lab, role, settings, run),
            ServiceName::Beanstalkd => probing::launch::<beanstalkd::Probes>(self, lab, role, settings, run),
            ServiceName::Nfs => probing::launch::<nfs::Probes>(self, lab, role, settings, run),
            ServiceName::Mariadb => probing::launch::<mariadb::Probes>(self, lab, role, settings, run),
            ServiceName::Drbd => Err(self.no_probe()),
        }
    }

    /// After recovery: which of the writer's acknowledged writes the
    /// service's master no longer has.
    pub async fn check_acknowledged(
        &self,
        lab: &Lab,
        settings: ProbeSettings,
        recording: Recording,
    ) -> Result<AckCheck, LabError> {
        match self.name {
            ServiceName::Postgres | ServiceName::PostgresB => {
                probing::check::<postgres::Probes>(self, lab, settings, recording).await
            }
            ServiceName::Redis => probing::check::<redis::Probes>(self, lab, settings, recording).await,
            ServiceName::Beanstalkd => probing::check::<beanstalkd::Probes>(self, lab, settings, recording).await,
            ServiceName::Nfs => probing::check::<nfs::Probes>(self, lab, settings, recording).await,
            ServiceName::Mariadb => probing::check::<mariadb::Probes>(self, lab, settings, recording).await,
            ServiceName::Drbd => Err(self.no_probe()),
        }
    }

    /// Where a probe of `role` connects, for people (`lab heartbeat`).
    pub fn probe_target(&self, lab: &Lab, role: Role) -> Result<String, LabError> {
        match self.name {
            ServiceName::Postgres | ServiceName::PostgresB => probing::target::<postgres::Probes>(self, lab, role),
            ServiceName::Redis => probing::target::<redis::Probes>(self, lab, role),
            ServiceName::Beanstalkd => probing::target::<beanstalkd::Probes>(self, lab, role),
            ServiceName::Nfs => probing::target::<nfs::Probes>(self, lab, role),
            ServiceName::Mariadb => probing::target::<mariadb::Probes>(self, lab, role),
            ServiceName::Drbd => Err(self.no_probe()),
        }
    }

    fn no_probe(&self) -> LabError {
        LabError::Unsupported(format!("{} has no probe; probe one of the services that runs on it", self.name))
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
    use crate::cluster::profile::ProfileName;

    /// Every spec of every profile.
    fn all_specs() -> impl Iterator<Item = &'static ServiceSpec> {
        ProfileName::ALL.iter().flat_map(|p| p.profile().services.iter().copied())
    }

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for service in ServiceName::ALL {
            assert_eq!(service.as_str().parse::<ServiceName>().expect("parse"), *service);
            assert_eq!(serde_json::to_value(service).expect("json"), service.as_str());
        }
        let error = "mysql".parse::<ServiceName>().expect_err("unknown").to_string();
        assert_eq!(
            error,
            "unknown service `mysql`; known: postgres, postgres-b, redis, beanstalkd, drbd, nfs, mariadb"
        );
    }

    #[test]
    fn every_service_has_a_cib_fragment_defining_its_functions() {
        for spec in all_specs() {
            let Fragment { name, text } = spec.cib;
            for function in ["resources", "constraints"] {
                assert!(text.contains(&format!("{name}_{function}() {{")), "{name}: no {name}_{function}");
            }
            let placed = match spec.placement {
                Placement::Promotable { clone, .. } => clone,
                Placement::OnStorage { resource, .. } => resource,
            };
            // DRBD's fragment is told its seed's names (drbd::Volume::env).
            let placed = if matches!(spec.runtime, Runtime::Drbd(_)) { "$DRBD_CLONE" } else { placed };
            // PAF's databases are made by one helper, named by their primitive.
            let paf = match spec.placement {
                Placement::Promotable { primitive, .. } => format!("paf_clone {primitive} "),
                Placement::OnStorage { .. } => String::new(),
            };
            let makes = text.contains(&format!("id=\\\"{placed}\\\""))
                || text.contains(&format!("container {placed} "))
                || (matches!(spec.runtime, Runtime::Paf(_)) && text.contains(&paf));
            assert!(makes, "{name}'s fragment makes {placed}");
        }
    }

    #[test]
    fn probes_are_named_after_service_and_role() {
        let kind = ProbeKind { service: ServiceName::Redis, role: Role::Reader };
        assert_eq!(kind.name(), "redis-reader");
        assert_eq!(postgres::PAF.vip_for(Role::Reader).resource, "pg-replica-vip");
        assert_eq!(redis::AGENT.vip_for(Role::Reader).resource, "redis-master-vip");
        assert_eq!(postgres::CONTAINER.vip_for(Role::Reader), drbd::SKYHA.vip, "one VIP for every container");
    }

    #[test]
    fn a_kill_hits_the_main_process_and_a_hang_every_one() {
        let topology = crate::topology::Topology::from_config(&crate::config::Config::defaults().expect("d"), "i")
            .expect("topology");
        let render =
            |spec: &ServiceSpec, signal, every| spec.signal(&topology, signal, every).expect("a process").render();
        let kill = render(&redis::CONTAINER, "KILL", false);
        assert!(kill.contains("pkill -KILL -o -x redis-server"), "{kill}");
        let hang = render(&postgres::CONTAINER, "STOP", true);
        assert!(hang.contains("pkill -STOP -x postgres"), "{hang}");
        let paf = render(&postgres::PAF, "KILL", false);
        assert!(paf.contains("postmaster.pid"), "{paf}");
        assert!(drbd::STORAGE.signal(&topology, "KILL", false).is_none(), "DRBD is the kernel's");
    }
}
