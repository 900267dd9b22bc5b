//! PostgreSQL, run two ways:
//! - [`PAF`]: streaming replication managed by PAF (`ocf:heartbeat:pgsqlms`),
//!   as in Tuchanka's second cluster: a promotable clone, a master VIP that
//!   follows the promoted instance, a replica VIP that prefers a replica. A
//!   node whose data diverged (a crashed master) is rebuilt with
//!   pg_basebackup before it rejoins: PAF cannot rewind it.
//! - [`CONTAINER`]: one PostgreSQL in a Docker container whose data
//!   directory is on DRBD, as in skyha (seed 000): DRBD replicates it.
//!
//! Probes connect as the per-lab `heartbeat` user to the `heartbeat`
//! database either way.

use heartbeat::{AckCheck, AckError, PgReader, PgWriter, ProbeSettings, Recording, Role};

use super::probing::Probed;
use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, Vip, VipAddress, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::secrets::Secret;
use crate::topology::Topology;

pub const PAF: ServiceSpec = ServiceSpec {
    name: ServiceName::Postgres,
    title: "PostgreSQL (PAF)",
    runtime: Runtime::Paf,
    placement: Placement::Promotable {
        clone: "pgsqld-clone",
        primitive: "pgsqld",
        promotion_score: Some("master-pgsqld"),
    },
    master_vip: Vip { resource: "pg-master-vip", address: VipAddress::Master },
    replica_vip: Some(Vip { resource: "pg-replica-vip", address: VipAddress::Replica }),
    probes: &[Role::Writer, Role::Reader],
    process: Some("postgres"),
    cib: Fragment { name: "postgres", text: include_str!("../../../guest/services/postgres.cib.sh") },
};

pub const CONTAINER: ServiceSpec = ServiceSpec {
    name: ServiceName::Postgres,
    title: "PostgreSQL (Docker on DRBD)",
    runtime: Runtime::Container { container: "postgres", image: "postgres" },
    placement: Placement::OnStorage { resource: "postgres", storage: drbd::SKYHA.clone },
    master_vip: drbd::SKYHA.vip,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("postgres"),
    cib: Fragment {
        name: "postgres_container",
        text: include_str!("../../../guest/services/postgres_container.cib.sh"),
    },
};

/// Configures PostgreSQL on every node, makes the first node the master
/// (roles, heartbeat database) and the others replicas, then stops them
/// all: PAF starts PostgreSQL itself.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    let t = stack.topology();
    let replication = stack.secret(Secret::Replication)?;
    step.detail("PostgreSQL configuration");
    for node in t.nodes() {
        let config = stack
            .script(guest_script!("postgres-config.sh"))
            .env("NODE_ADDRESS", node.address)
            .env("REPLICATION_PASSWORD", &replication);
        stack.run(&node.name, &config).await?;
    }
    step.detail("PostgreSQL master, roles and heartbeat database");
    let first = stack.first_node()?;
    let master = stack
        .script(guest_script!("postgres-master.sh"))
        .env("REPLICATION_PASSWORD", &replication)
        .env("HEARTBEAT_PASSWORD", stack.secret(Secret::Heartbeat)?)
        .env("HEARTBEAT_SCHEMA", heartbeat::SCHEMA_SQL);
    stack.run(&first, &master).await?;
    let first_address = t.host(&first).map(|h| h.address).ok_or_else(|| StackError::NoNode(first.clone()))?;
    for node in t.node_names().iter().filter(|n| **n != first) {
        step.detail(format!("replica {node} (pg_basebackup)"));
        let replica = stack.script(guest_script!("postgres-replica.sh")).env("MASTER_ADDRESS", first_address);
        stack.run(node, &replica).await?;
    }
    stack.on_all(&t.node_names(), &stack.script(guest_script!("postgres-stop.sh"))).await
}

/// Names of the replicas streaming from `master`.
pub async fn streaming_replicas<G: Guest>(stack: &Stack<'_, G>, master: &str) -> Result<Vec<String>, StackError> {
    let out = stack.run(master, &stack.script(guest_script!("replication-status.sh"))).await?;
    Ok(out.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect())
}

/// A node that is out of the cluster, or neither the master nor streaming
/// from it, must be rebuilt.
pub async fn needs_rebuild<G: Guest>(stack: &Stack<'_, G>, state: &ClusterState, node: &str) -> bool {
    if !state.online.iter().any(|n| n == node) {
        return true;
    }
    match PAF.master(state) {
        Some(master) if master == node => false,
        Some(master) => !streaming_replicas(stack, master).await.unwrap_or_default().iter().any(|r| r == node),
        None => true,
    }
}

/// Throws `node`'s data away and copies it from the master (through the
/// master VIP), as Tuchanka's `restore` scripts do.
pub async fn rebuild<G: Guest>(stack: &Stack<'_, G>, node: &str) -> Result<(), StackError> {
    let replica = stack.script(guest_script!("postgres-replica.sh")).env("MASTER_ADDRESS", stack.topology().master_vip);
    stack.run(node, &replica).await?;
    Ok(())
}

/// Every other node streams from the master.
pub async fn replicating<G: Guest>(stack: &Stack<'_, G>, state: &ClusterState, nodes: usize) -> bool {
    let Some(master) = PAF.master(state) else { return false };
    streaming_replicas(stack, master).await.is_ok_and(|streaming| streaming.len() + 1 == nodes)
}

/// `kill -SIGNAL` of the postmaster (its pid file names it), or of every
/// PostgreSQL process: a hang of the postmaster alone leaves established
/// connections working.
pub fn signal(topology: &Topology, signal: &str, every_process: bool) -> Script {
    if every_process {
        return Script::command("signal-postgres", format!("pkill -{signal} -x postgres"));
    }
    let pid_file = format!("{}/postmaster.pid", topology.distribution.pg_datadir(topology.pg_version));
    Script::command("signal-postgres", format!("kill -{signal} \"$(head -1 {pid_file})\""))
}

/// PostgreSQL's probes: the writer through the master VIP, the reader
/// through the replica VIP if the spec has one, both as the heartbeat user.
#[derive(Debug)]
pub struct Probes;

impl Probed for Probes {
    type Target = heartbeat::Target;
    type Writer = PgWriter;
    type Reader = PgReader;

    fn target(spec: &ServiceSpec, lab: &Lab, role: Role) -> Result<heartbeat::Target, LabError> {
        let t = &lab.topology;
        Ok(heartbeat::Target {
            host: spec.vip_for(role).address.of(t).to_string(),
            port: t.pg_port,
            dbname: "heartbeat".into(),
            user: "heartbeat".into(),
            password: lab.secrets.get(Secret::Heartbeat)?,
        })
    }

    fn writer(target: heartbeat::Target, settings: ProbeSettings, run_id: &str) -> PgWriter {
        PgWriter::new(target, settings, run_id)
    }

    fn reader(target: heartbeat::Target, settings: ProbeSettings, run_id: &str) -> PgReader {
        PgReader::new(target, settings, run_id)
    }

    async fn check(
        target: heartbeat::Target,
        settings: ProbeSettings,
        recording: Recording,
    ) -> Result<AckCheck, AckError> {
        heartbeat::check_acknowledged(&target, &settings, &recording).await
    }
}
