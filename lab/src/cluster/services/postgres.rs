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

/// One of the nodes' PostgreSQL database clusters under PAF. A node runs
/// the distribution's first (Debian's `main`); Tuchanka's first cluster
/// consolidates a second on the same nodes, each node master of one.
#[derive(Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its name among the node's database clusters (`pg_createcluster`).
    pub cluster: &'static str,
    /// Its port; none: `postgres.port`.
    pub port: Option<u16>,
    /// The node, by its place in the cluster's list, where setup makes it
    /// master.
    pub home: usize,
}

/// The nodes' first database cluster, master on the first node.
pub const MAIN: Instance = Instance { cluster: "main", port: None, home: 0 };

/// The second database of Tuchanka's first cluster (its krogan1b, on port
/// 5434), master on the second node.
pub const SECOND: Instance = Instance { cluster: "b", port: Some(5434), home: 1 };

impl Instance {
    fn is_main(&self) -> bool {
        self.cluster == MAIN.cluster
    }

    pub fn port(&self, topology: &Topology) -> u16 {
        self.port.unwrap_or(topology.pg_port)
    }

    /// What the CIB fragment of a second database needs of it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self.is_main() {
            true => Vec::new(),
            false => vec![("PG_B_CLUSTER", self.cluster.to_owned()), ("PG_B_PORT", self.port.unwrap_or(0).to_string())],
        }
    }

    /// `script` acting on this database cluster: its directories, port and
    /// master VIP in place of the first's.
    fn script<G: Guest>(&self, spec: &ServiceSpec, stack: &Stack<'_, G>, script: Script) -> Script {
        let t = stack.topology();
        let script = stack.script(script);
        if self.is_main() {
            return script;
        }
        let family = t.distribution;
        script
            .env("PG_CONFDIR", family.pg_confdir_of(t.pg_version, self.cluster))
            .env("PG_DATADIR", family.pg_datadir_of(t.pg_version, self.cluster))
            .env("PG_PORT", self.port(t))
            .env("PG_CLUSTER", self.cluster)
            .env("MASTER_VIP", spec.master_vip.address.of(t))
    }

    fn home_node<G: Guest>(&self, stack: &Stack<'_, G>) -> Result<String, StackError> {
        let nodes = stack.topology().node_names();
        nodes
            .get(self.home)
            .cloned()
            .ok_or_else(|| StackError::NoNode(format!("#{} of {}", self.home + 1, nodes.join(", "))))
    }
}

pub const PAF: ServiceSpec = ServiceSpec {
    name: ServiceName::Postgres,
    title: "PostgreSQL (PAF)",
    runtime: Runtime::Paf(&MAIN),
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

/// Tuchanka's first cluster's first database: no replica VIP (readers go
/// through the master VIP), its master at home on the first node.
pub const PAF_AT_HOME: ServiceSpec = ServiceSpec {
    replica_vip: None,
    cib: Fragment { name: "postgres_at_home", text: include_str!("../../../guest/services/postgres.cib.sh") },
    ..PAF
};

/// Tuchanka's first cluster's second database, at home on the second node.
pub const PAF_SECOND: ServiceSpec = ServiceSpec {
    name: ServiceName::PostgresB,
    title: "PostgreSQL (PAF), second database",
    runtime: Runtime::Paf(&SECOND),
    placement: Placement::Promotable {
        clone: "pgsqld-b-clone",
        primitive: "pgsqld-b",
        promotion_score: Some("master-pgsqld-b"),
    },
    master_vip: Vip { resource: "pg-b-master-vip", address: VipAddress::SecondMaster },
    replica_vip: None,
    cib: Fragment { name: "postgres_b", text: include_str!("../../../guest/services/postgres.cib.sh") },
    ..PAF
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

/// Configures the database cluster on every node (a second one is created
/// first), makes its home node the master (roles, heartbeat database) and
/// the others replicas, then stops them all: PAF starts PostgreSQL itself.
pub async fn setup<G: Guest>(
    spec: &ServiceSpec,
    instance: &Instance,
    stack: &Stack<'_, G>,
    step: &crate::progress::Step,
) -> Result<(), StackError> {
    let t = stack.topology();
    let replication = stack.secret(Secret::Replication)?;
    let script = |script: Script| instance.script(spec, stack, script);
    if !instance.is_main() {
        step.detail(format!("PostgreSQL cluster `{}` on port {}", instance.cluster, instance.port(t)));
        stack.on_all(&t.node_names(), &script(guest_script!("postgres-cluster.sh"))).await?;
    }
    step.detail(format!("{} configuration", spec.title));
    for node in t.nodes() {
        let config = script(guest_script!("postgres-config.sh"))
            .env("NODE_ADDRESS", node.address)
            .env("REPLICATION_PASSWORD", &replication);
        stack.run(&node.name, &config).await?;
    }
    let home = instance.home_node(stack)?;
    step.detail(format!("{} master on {home}, roles and heartbeat database", spec.title));
    let master = script(guest_script!("postgres-master.sh"))
        .env("REPLICATION_PASSWORD", &replication)
        .env("HEARTBEAT_PASSWORD", stack.secret(Secret::Heartbeat)?)
        .env("HEARTBEAT_SCHEMA", heartbeat::SCHEMA_SQL);
    stack.run(&home, &master).await?;
    let home_address = t.host(&home).map(|h| h.address).ok_or_else(|| StackError::NoNode(home.clone()))?;
    for node in t.node_names().iter().filter(|n| **n != home) {
        step.detail(format!("replica {node} (pg_basebackup)"));
        let replica = script(guest_script!("postgres-replica.sh")).env("MASTER_ADDRESS", home_address);
        stack.run(node, &replica).await?;
    }
    stack.on_all(&t.node_names(), &script(guest_script!("postgres-stop.sh"))).await
}

/// Names of the replicas streaming from `master`.
async fn streaming_replicas<G: Guest>(
    spec: &ServiceSpec,
    instance: &Instance,
    stack: &Stack<'_, G>,
    master: &str,
) -> Result<Vec<String>, StackError> {
    let out = stack.run(master, &instance.script(spec, stack, guest_script!("replication-status.sh"))).await?;
    Ok(out.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect())
}

/// A node that is out of the cluster, or neither the master nor streaming
/// from it, must be rebuilt.
pub async fn needs_rebuild<G: Guest>(
    spec: &ServiceSpec,
    instance: &Instance,
    stack: &Stack<'_, G>,
    state: &ClusterState,
    node: &str,
) -> bool {
    if !state.online.iter().any(|n| n == node) {
        return true;
    }
    match spec.master(state) {
        Some(master) if master == node => false,
        Some(master) => {
            !streaming_replicas(spec, instance, stack, master).await.unwrap_or_default().iter().any(|r| r == node)
        }
        None => true,
    }
}

/// Throws `node`'s data away and copies it from the master (through the
/// master VIP), as Tuchanka's `restore` scripts do.
pub async fn rebuild<G: Guest>(
    spec: &ServiceSpec,
    instance: &Instance,
    stack: &Stack<'_, G>,
    node: &str,
) -> Result<(), StackError> {
    let master_vip = spec.master_vip.address.of(stack.topology());
    let replica = instance.script(spec, stack, guest_script!("postgres-replica.sh")).env("MASTER_ADDRESS", master_vip);
    stack.run(node, &replica).await?;
    Ok(())
}

/// Every other node streams from the master.
pub async fn replicating<G: Guest>(
    spec: &ServiceSpec,
    instance: &Instance,
    stack: &Stack<'_, G>,
    state: &ClusterState,
    nodes: usize,
) -> bool {
    let Some(master) = spec.master(state) else { return false };
    streaming_replicas(spec, instance, stack, master).await.is_ok_and(|streaming| streaming.len() + 1 == nodes)
}

/// `kill -SIGNAL` of the database cluster's postmaster (its pid file names
/// it), or of every process of it (a hang of the postmaster alone leaves
/// established connections working): every PostgreSQL process of the node
/// for its first database cluster, the postmaster and its children for a
/// second, which shares the node with the first.
pub fn signal(instance: &Instance, topology: &Topology, signal: &str, every_process: bool) -> Script {
    if every_process && instance.is_main() {
        return Script::command("signal-postgres", format!("pkill -{signal} -x postgres"));
    }
    let datadir = topology.distribution.pg_datadir_of(topology.pg_version, instance.cluster);
    let postmaster = format!("\"$(head -1 {datadir}/postmaster.pid)\"");
    match every_process {
        true => {
            Script::command("signal-postgres", format!("kill -{signal} {postmaster}; pkill -{signal} -P {postmaster}"))
        }
        false => Script::command("signal-postgres", format!("kill -{signal} {postmaster}")),
    }
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
            port: match spec.runtime {
                Runtime::Paf(instance) => instance.port(t),
                _ => t.pg_port,
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Override};
    use crate::secrets::Secrets;
    use crate::testing::RecordingGuest;

    fn tuchanka1() -> Topology {
        let set = Override::parse_flag("topology.preset=\"tuchanka1\"").expect("flag");
        Topology::from_config(&Config::load(None, &[set]).expect("config"), "img").expect("topology")
    }

    /// Tuchanka's first cluster's second database: made beside the first on
    /// every node, master at home on the second node, the first node its
    /// replica, every script acting on it and not on the first.
    #[tokio::test]
    async fn the_second_database_is_made_at_home_on_the_second_node() {
        let topology = tuchanka1();
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::new(dir.path());
        secrets.generate().expect("secrets");
        let guest = RecordingGuest::default();
        let stack = Stack::new(&guest, &topology, &secrets);
        let step = crate::progress::Progress::hidden().step("setup");
        setup(&PAF_SECOND, &SECOND, &stack, &step).await.expect("setup");
        let names = guest.names.into_inner().expect("lock");
        let on = |script: &str| -> Vec<&str> {
            names.iter().filter(|(_, name)| *name == script).map(|(node, _)| node.as_str()).collect()
        };
        assert_eq!(on("postgres-cluster.sh"), ["tuchanka1a", "tuchanka1b"]);
        assert_eq!(on("postgres-master.sh"), ["tuchanka1b"], "at home on the second node");
        assert_eq!(on("postgres-replica.sh"), ["tuchanka1a"]);
        let sent = guest.sent.into_inner().expect("lock");
        for (_, text) in &sent {
            assert!(text.contains("export PG_PORT='5434'"), "{text}");
            assert!(text.contains("export PG_CONFDIR='/etc/postgresql/15/b'"), "{text}");
            assert!(text.contains("export MASTER_VIP='192.168.89.102'"), "its own VIP: {text}");
        }
        let replica = names.iter().position(|(_, name)| *name == "postgres-replica.sh").map(|i| &sent[i].1);
        assert!(replica.is_some_and(|text| text.contains("export MASTER_ADDRESS='192.168.89.2'")), "from its home");
        // Signals reach its own postmaster, not the first database's.
        let kill = signal(&SECOND, &topology, "KILL", false).render();
        assert!(kill.contains("/var/lib/postgresql/15/b/postmaster.pid"), "{kill}");
        let hang = signal(&SECOND, &topology, "STOP", true).render();
        assert!(hang.contains("pkill -STOP -P") && !hang.contains("-x postgres"), "{hang}");
    }
}
