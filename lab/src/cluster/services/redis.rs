//! Redis managed by the `ocf:heartbeat:redis` agent: a promotable clone,
//! its master behind its own VIP, append-only file with fsync on every
//! write. Replication is asynchronous, so a failover may lose acknowledged
//! writes: scenarios measure them and judge them only when asked to.
//! Probes write and read through the master VIP with the per-lab password.

use heartbeat::{AckCheck, ProbeSettings, Recording, RedisReader, RedisTarget, RedisWriter, Role};

use super::{ServiceName, ServiceSpec};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;
use crate::secrets::Secret;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: ServiceName::Redis,
    title: "Redis",
    clone: "redisd-clone",
    master_vip: "redis-master-vip",
    replica_vip: None,
    promotion_score: None,
    probes: &[Role::Writer, Role::Reader],
    process: "redis-server",
    cib: include_str!("../../../guest/services/redis.cib.sh"),
};

/// Configures Redis on every node as the agent manages it.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    step.detail("Redis configuration");
    let redis = stack.script(guest_script!("redis-config.sh")).env("REDIS_PASSWORD", stack.secret(Secret::Redis)?);
    stack.on_all(&stack.topology().node_names(), &redis).await
}

/// `kill -SIGNAL` of redis-server (a single process).
pub fn signal(signal: &str) -> Script {
    Script::command("signal-redis", format!("pkill -{signal} -x {}", SPEC.process))
}

/// Where Redis probes connect: the Redis master VIP.
pub fn target(lab: &Lab) -> Result<RedisTarget, LabError> {
    Ok(RedisTarget {
        host: lab.topology.redis_vip.to_string(),
        port: lab.topology.redis_port,
        password: lab.secrets.get(Secret::Redis)?,
    })
}

pub fn launch_probe(
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run: ProbeRun,
) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
    let target = target(lab)?;
    let run_id = run.run_id.clone();
    Ok(match role {
        Role::Writer => run.launch(lab, RedisWriter::new(target, settings, &run_id)),
        Role::Reader => run.launch(lab, RedisReader::new(target, settings, &run_id)),
    })
}

pub async fn check_acknowledged(
    lab: &Lab,
    settings: ProbeSettings,
    recording: Recording,
) -> Result<AckCheck, LabError> {
    let target = target(lab)?;
    lab.labnet()
        .run(async move { heartbeat::check_redis_acknowledged(&target, &settings, &recording).await })
        .await?
        .map_err(|e| LabError::Probe(format!("lost-write check of redis: {e}")))
}
