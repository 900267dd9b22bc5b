//! Faults and administrative actions, and how an operator undoes each.
//!
//! Injection is one action on one host; restoring is always the same
//! idempotent routine (power on, cable in, unstandby, clear constraints,
//! and rebuild the victim as a replica unless the cluster took it back by
//! itself), so every scenario ends in the same healthy state.

use std::time::Duration;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::backend::NodeBackend;
use crate::cluster::{ClusterState, PG_CLONE};
use crate::guest::{Guest, Script, shell_quote};
use crate::lifecycle::{Lab, LabError};
use crate::scenario::{Fault, FaultAction, Target};

/// How long a victim may take to come back as a streaming replica on its
/// own (after unstandby, clear or a recovered crash) before it is rebuilt.
const REJOIN_BY_ITSELF: Duration = Duration::from_secs(30);

/// The host a fault hits. `Random` draws from the cluster nodes with `rng`,
/// so the same seed picks the same victim.
pub fn choose_victim(
    target: Target,
    state: &ClusterState,
    nodes: &[String],
    witness: &str,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    match target {
        Target::Master => state.master.clone(),
        Target::Replica => state.replicas.first().cloned(),
        Target::Witness => Some(witness.to_owned()),
        Target::Random => (!nodes.is_empty()).then(|| nodes[rng.random_range(0..nodes.len())].clone()),
        Target::RedisMaster => state.redis_master.clone(),
        Target::RedisReplica => state.redis_replicas.first().cloned(),
    }
}

/// Signals every PostgreSQL process (postmaster and backends): a hang of
/// the postmaster alone leaves established connections working.
fn postgres_signal(signal: &str) -> Script {
    Script::command("signal-postgres", format!("pkill -{signal} -x postgres"))
}

fn postmaster_signal(lab: &Lab, signal: &str) -> Script {
    let t = &lab.topology;
    let pid_file = format!("{}/postmaster.pid", t.distribution.pg_datadir(t.pg_version));
    Script::command("signal-postgres", format!("kill -{signal} \"$(head -1 {pid_file})\""))
}

/// Another cluster node than `victim`, to run pcs from or move the master to.
fn other_node(lab: &Lab, victim: &str) -> Option<String> {
    lab.topology.node_names().into_iter().find(|n| n != victim)
}

/// Injects `fault` on `victim`.
pub async fn inject(lab: &Lab, fault: &Fault, victim: &str) -> Result<(), LabError> {
    if !fault.action.fits(lab.backend.capabilities()) {
        // On a container this would panic the host itself.
        return Err(LabError::Unsupported(format!(
            "{:?} needs a node with its own kernel (--backend qemu)",
            fault.action
        )));
    }
    tracing::warn!(action = ?fault.action, victim, "fault");
    let pcs = |command: String| Script::command("pcs", command);
    let promoted = lab.topology.distribution.cluster_stack().promoted_flag();
    match fault.action {
        FaultAction::KillPostgres => {
            lab.guest.run(victim, &postmaster_signal(lab, "KILL")).await?;
        }
        FaultAction::StopPostgres => {
            lab.guest.run(victim, &postgres_signal("STOP")).await?;
        }
        FaultAction::KillRedis => {
            lab.guest.run(victim, &Script::command("kill-redis", "pkill -KILL -x redis-server".into())).await?;
        }
        FaultAction::PowerOff => {
            lab.guest.forget(victim).await;
            lab.backend.power_off(victim).await?;
        }
        FaultAction::Reset => {
            lab.guest.forget(victim).await;
            lab.backend.reset(victim).await?;
        }
        FaultAction::KernelPanic => {
            // The panic takes ssh down with it: detach it so the command returns first.
            let panic = "echo 1 > /proc/sys/kernel/sysrq; \
                         nohup sh -c 'sleep 0.2; echo c > /proc/sysrq-trigger' >/dev/null 2>&1 &";
            lab.guest.run(victim, &Script::command("kernel-panic", panic.into())).await?;
            lab.guest.forget(victim).await;
        }
        FaultAction::LinkDown => {
            lab.guest.forget(victim).await;
            lab.backend.set_link(victim, false).await?;
        }
        FaultAction::Standby => {
            lab.guest.run(victim, &pcs(format!("pcs node standby {victim}"))).await?;
        }
        FaultAction::Move => {
            let destination = other_node(lab, victim).unwrap_or_default();
            lab.guest.run(victim, &pcs(format!("pcs resource move {PG_CLONE} {destination} {promoted}"))).await?;
        }
        FaultAction::Ban => {
            lab.guest.run(victim, &pcs(format!("pcs resource ban {PG_CLONE} {victim} {promoted}"))).await?;
        }
        FaultAction::Restart => {
            let resource = fault.resource.clone().unwrap_or_default();
            lab.guest.run(victim, &pcs(format!("pcs resource restart {}", shell_quote(&resource)))).await?;
        }
    }
    Ok(())
}

/// Undoes whatever `fault` did to `victim` and brings the victim back as a
/// replica of the current master, as an operator would.
pub async fn restore(lab: &Lab, fault: &Fault, victim: &str) -> Result<(), LabError> {
    lab.backend.set_link(victim, true).await?;
    if fault.action == FaultAction::KernelPanic {
        // Fenced or still frozen: either way a reset gives a booted node.
        lab.backend.reset(victim).await?;
    }
    if !lab.backend.is_running(victim).await? {
        lab.backend.start(victim).await?;
    }
    lab.guest.forget(victim).await;
    lab.guest.wait_ready(victim, Duration::from_secs(lab.config.timeouts.boot_s)).await?;
    let Some(survivor) = other_node(lab, victim).or_else(|| lab.topology.node_names().into_iter().next()) else {
        return Ok(());
    };
    if lab.topology.host(victim).is_some_and(|h| h.role == crate::topology::HostRole::Witness) {
        return Ok(());
    }
    let undo = match fault.action {
        FaultAction::StopPostgres => Some(postgres_signal("CONT")),
        FaultAction::Standby => Some(Script::command("pcs", format!("pcs node unstandby {victim}"))),
        FaultAction::Move | FaultAction::Ban => Some(Script::command("pcs", format!("pcs resource clear {PG_CLONE}"))),
        _ => None,
    };
    if let Some(undo) = undo {
        // Best effort: after fencing the process or constraint may be gone.
        let host = if fault.action == FaultAction::StopPostgres { victim } else { survivor.as_str() };
        if let Err(e) = lab.guest.run(host, &undo).await {
            tracing::info!(error = %e, "undo step had nothing to undo");
        }
    }
    if !rejoined_by_itself(lab, victim).await {
        lab.stack().rejoin_as_replica(victim).await?;
    }
    lab.stack().cleanup().await?;
    Ok(())
}

/// Waits a little for the victim to be master or a streaming replica again.
async fn rejoined_by_itself(lab: &Lab, victim: &str) -> bool {
    let deadline = tokio::time::Instant::now() + REJOIN_BY_ITSELF;
    loop {
        if let Ok(state) = lab.stack().state().await {
            if !state.online.iter().any(|n| n == victim) {
                // Out of the cluster (fenced, rebooted): it will not come back alone.
                return false;
            }
            match state.master.as_deref() {
                Some(master) if master == victim => return true,
                Some(master) => {
                    let streaming = lab.stack().streaming_replicas(master).await.unwrap_or_default();
                    if streaming.iter().any(|r| r == victim) {
                        return true;
                    }
                }
                None => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn state() -> ClusterState {
        ClusterState {
            master: Some("a".into()),
            replicas: vec!["b".into(), "c".into()],
            redis_master: Some("c".into()),
            redis_replicas: vec!["a".into(), "b".into()],
            ..ClusterState::default()
        }
    }

    #[test]
    fn roles_resolve_against_the_cluster() {
        let nodes = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let pick = |t, rng: &mut ChaCha8Rng| choose_victim(t, &state(), &nodes, "witness", rng);
        assert_eq!(pick(Target::Master, &mut rng).as_deref(), Some("a"));
        assert_eq!(pick(Target::Replica, &mut rng).as_deref(), Some("b"));
        assert_eq!(pick(Target::Witness, &mut rng).as_deref(), Some("witness"));
        assert_eq!(pick(Target::RedisMaster, &mut rng).as_deref(), Some("c"));
        assert_eq!(pick(Target::RedisReplica, &mut rng).as_deref(), Some("a"));
        assert_eq!(choose_victim(Target::Master, &ClusterState::default(), &nodes, "w", &mut rng), None);
    }

    #[test]
    fn a_seed_replays_the_same_random_victims() {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| choose_victim(Target::Random, &state(), &nodes, "w", &mut rng).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        let all = draw(42);
        assert!(nodes.iter().all(|n| all.contains(n)), "every node can be drawn: {all:?}");
    }
}
