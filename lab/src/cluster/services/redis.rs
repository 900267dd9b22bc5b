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

use heartbeat::{AckCheck, AckError, ProbeSettings, Recording, RedisReader, RedisTarget, RedisWriter, Role};

use super::probing::Probed;
use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, Vip, VipAddress, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::Guest;
use crate::lifecycle::{Lab, LabError};
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
    placement: Placement::OnStorage { resource: "redis", storage: drbd::SKYHA.clone },
    master_vip: drbd::SKYHA.vip,
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

/// Redis's probes: through the service's master VIP, with the lab's password.
#[derive(Debug)]
pub struct Probes;

impl Probed for Probes {
    type Target = RedisTarget;
    type Writer = RedisWriter;
    type Reader = RedisReader;

    fn target(spec: &ServiceSpec, lab: &Lab, _: Role) -> Result<RedisTarget, LabError> {
        Ok(RedisTarget {
            host: spec.master_vip.address.of(&lab.topology).to_string(),
            port: lab.topology.redis_port,
            password: lab.secrets.get(Secret::Redis)?,
        })
    }

    fn writer(target: RedisTarget, settings: ProbeSettings, run_id: &str) -> RedisWriter {
        RedisWriter::new(target, settings, run_id)
    }

    fn reader(target: RedisTarget, settings: ProbeSettings, run_id: &str) -> RedisReader {
        RedisReader::new(target, settings, run_id)
    }

    async fn check(target: RedisTarget, settings: ProbeSettings, recording: Recording) -> Result<AckCheck, AckError> {
        heartbeat::check_redis_acknowledged(&target, &settings, &recording).await
    }
}
