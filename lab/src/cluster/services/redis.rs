//! Redis, run two ways:
//! - [`AGENT`]: managed by the `ocf:heartbeat:redis` agent: a promotable
//!   clone, its master behind its own VIP. Replication is asynchronous, so a
//!   failover may lose acknowledged writes: scenarios measure them and judge
//!   them only when asked to.
//! - [`CONTAINER`]: one Redis in a Docker container with its append-only
//!   file on DRBD, as in skyha (seed 000).
//!
//! Either way the append-only file is fsynced on every write, and probes
//! write and read through the master VIP with the per-lab password.

use heartbeat::{AckCheck, ProbeSettings, Recording, RedisReader, RedisTarget, RedisWriter, Role};

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, Vip, VipAddress, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::Guest;
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;
use crate::secrets::Secret;

pub const AGENT: ServiceSpec = ServiceSpec {
    name: ServiceName::Redis,
    title: "Redis",
    runtime: Runtime::RedisAgent,
    placement: Placement::Promotable { clone: "redisd-clone", primitive: "redisd", promotion_score: None },
    master_vip: Vip { resource: "redis-master-vip", address: VipAddress::Redis },
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("redis-server"),
    cib: Fragment { name: "redis", text: include_str!("../../../guest/services/redis.cib.sh") },
};

pub const CONTAINER: ServiceSpec = ServiceSpec {
    name: ServiceName::Redis,
    title: "Redis (Docker on DRBD)",
    runtime: Runtime::Container { container: "redis", image: "redis" },
    placement: Placement::OnStorage { resource: "redis", storage: drbd::CLONE },
    master_vip: drbd::VIP,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("redis-server"),
    cib: Fragment { name: "redis_container", text: include_str!("../../../guest/services/redis_container.cib.sh") },
};

/// Configures Redis on every node as the agent manages it.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    step.detail("Redis configuration");
    let redis = stack.script(guest_script!("redis-config.sh")).env("REDIS_PASSWORD", stack.secret(Secret::Redis)?);
    stack.on_all(&stack.topology().node_names(), &redis).await
}

/// Where Redis probes connect: the service's master VIP.
pub fn target(spec: &ServiceSpec, lab: &Lab) -> Result<RedisTarget, LabError> {
    Ok(RedisTarget {
        host: spec.master_vip.address.of(&lab.topology).to_string(),
        port: lab.topology.redis_port,
        password: lab.secrets.get(Secret::Redis)?,
    })
}

pub fn launch_probe(
    spec: &ServiceSpec,
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run: ProbeRun,
) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
    let target = target(spec, lab)?;
    Ok(super::launch_role(
        lab,
        (role, run),
        (target, settings),
        |target, settings, run_id| RedisWriter::new(target, settings, run_id),
        |target, settings, run_id| RedisReader::new(target, settings, run_id),
    ))
}

pub async fn check_acknowledged(
    spec: &ServiceSpec,
    lab: &Lab,
    settings: ProbeSettings,
    recording: Recording,
) -> Result<AckCheck, LabError> {
    let target = target(spec, lab)?;
    let check = async move { heartbeat::check_redis_acknowledged(&target, &settings, &recording).await };
    super::check_on_lab_network(lab, spec.name, check).await
}
