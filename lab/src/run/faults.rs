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
use crate::cluster::services::{ServiceName, ServiceSpec};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, Script, shell_quote};
use crate::lifecycle::{Lab, LabError};
use crate::run::scenario::{Fault, FaultAction, Target};

/// How long a victim may take to come back as a streaming replica on its
/// own (after unstandby, clear or a recovered crash) before it is rebuilt.
const REJOIN_BY_ITSELF: Duration = Duration::from_secs(30);

/// The host a fault hits: `service`'s master or a replica of it, the
/// witness, or a node drawn with `rng` (the same seed picks the same victim).
pub fn choose_victim(
    target: Target,
    spec: &ServiceSpec,
    state: &ClusterState,
    nodes: &[String],
    witness: &str,
    rng: &mut ChaCha8Rng,
) -> Option<String> {
    match target {
        Target::Master => spec.master(state).map(str::to_owned),
        Target::Replica => spec.replicas(state).first().cloned(),
        Target::Witness => Some(witness.to_owned()),
        Target::Random => (!nodes.is_empty()).then(|| nodes[rng.random_range(0..nodes.len())].clone()),
    }
}

/// Another cluster node than `victim`, to run pcs from or move the master to.
fn other_node(lab: &Lab, victim: &str) -> Option<String> {
    lab.topology.node_names().into_iter().find(|n| n != victim)
}

/// Injects `fault`, about `service`, on `victim`.
pub async fn inject(lab: &Lab, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
    if !fault.action.fits(lab.backend.capabilities()) {
        // On a container this would panic the host itself.
        return Err(LabError::Unsupported(format!(
            "{} needs a node with its own kernel (--backend qemu)",
            fault.action.name()
        )));
    }
    tracing::warn!(action = %fault.action.name(), %service, victim, "fault");
    let spec = lab.stack().profile().require(service)?;
    let pcs = |command: String| Script::command("pcs", command);
    let promoted = lab.topology.distribution.cluster_stack().promoted_flag();
    let clone = spec.promotable();
    let no_process = || LabError::Unsupported(format!("{service} has no process of its own to signal"));
    let no_container = || LabError::Unsupported(format!("{service} does not run in a Docker container here"));
    match fault.action {
        FaultAction::Kill => {
            lab.guest.run(victim, &spec.signal(&lab.topology, "KILL", false).ok_or_else(no_process)?).await?;
        }
        FaultAction::Stop => {
            lab.guest.run(victim, &spec.signal(&lab.topology, "STOP", true).ok_or_else(no_process)?).await?;
        }
        FaultAction::DockerStop | FaultAction::DockerKill => {
            let container = spec.container().ok_or_else(no_container)?;
            let verb = if fault.action == FaultAction::DockerStop { "stop" } else { "kill" };
            lab.guest.run(victim, &Script::command("docker", format!("docker {verb} {container} >/dev/null"))).await?;
        }
        FaultAction::ReplicationLinkDown => {
            let port = spec
                .replication_port()
                .ok_or_else(|| LabError::Unsupported(format!("{service} has no replication link of its own to cut")))?;
            lab.guest.run(victim, &replication_cut(port)).await?;
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
            let destination = other_node(lab, victim)
                .ok_or_else(|| LabError::Unsupported(format!("no other node to move {clone} to from {victim}")))?;
            lab.guest.run(victim, &pcs(format!("pcs resource move {clone} {destination} {promoted}"))).await?;
        }
        FaultAction::Ban => {
            lab.guest.run(victim, &pcs(format!("pcs resource ban {clone} {victim} {promoted}"))).await?;
        }
        FaultAction::Restart => {
            let resource = fault.resource.as_deref().ok_or_else(|| {
                LabError::Unsupported("[fault] action restart needs resource = \"<pacemaker resource>\"".into())
            })?;
            lab.guest.run(victim, &pcs(format!("pcs resource restart {}", shell_quote(resource)))).await?;
        }
    }
    Ok(())
}

/// Undoes whatever `fault` (about `service`) did to `victim` and brings the
/// victim back as a replica of every service's current master, as an
/// operator would.
pub async fn restore(lab: &Lab, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
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
    let spec = lab.stack().profile().require(service)?;
    let clone = spec.promotable();
    let undo = match fault.action {
        FaultAction::Stop => spec.signal(&lab.topology, "CONT", true),
        FaultAction::Standby => Some(Script::command("pcs", format!("pcs node unstandby {victim}"))),
        FaultAction::Move | FaultAction::Ban => Some(Script::command("pcs", format!("pcs resource clear {clone}"))),
        FaultAction::ReplicationLinkDown => Some(replication_mend()),
        _ => None,
    };
    if let Some(undo) = undo {
        // Best effort: after fencing the process or constraint may be gone.
        let host = if fault.action.undone_on_victim() { victim } else { survivor.as_str() };
        if let Err(e) = lab.guest.run(host, &undo).await {
            tracing::info!(error = %e, "undo step had nothing to undo");
        }
    }
    let stale = stale_after_waiting(lab, victim).await;
    if !stale.is_empty() {
        lab.stack().rejoin_as_replica(victim, &stale).await?;
    }
    lab.stack().cleanup().await?;
    Ok(())
}

/// Drops every packet the node sends from or to `port` (both ends of its
/// replication connections): its peers hear nothing of it there, while the
/// cluster's own traffic still flows. `tc` is in every node (iproute2);
/// the node's own root queue is replaced, and removed again by
/// [`replication_mend`].
fn replication_cut(port: u16) -> Script {
    let drop = |direction: &str| {
        format!(
            "tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip {direction} {port} 0xffff action drop"
        )
    };
    let text = format!("tc qdisc replace dev eth0 root handle 1: prio && {} && {}", drop("dport"), drop("sport"));
    Script::command("replication-cut", text)
}

/// Lets the replication traffic through again: the node's default queue.
fn replication_mend() -> Script {
    Script::command("replication-mend", "tc qdisc del dev eth0 root 2>/dev/null || true".into())
}

/// Waits a little for the victim to be master or an up-to-date replica of
/// every service again; the services for which it is not by then.
async fn stale_after_waiting(lab: &Lab, victim: &str) -> Vec<ServiceName> {
    let deadline = tokio::time::Instant::now() + REJOIN_BY_ITSELF;
    loop {
        let stale = match lab.stack().state().await {
            Ok(state) => {
                let stale = lab.stack().to_rebuild(&state, victim).await;
                if stale.is_empty() || !state.online.iter().any(|n| n == victim) {
                    // Rejoined, or out of the cluster (fenced, rebooted): it will not come back alone.
                    return stale;
                }
                stale
            }
            Err(_) => lab.stack().profile().names(),
        };
        if tokio::time::Instant::now() >= deadline {
            return stale;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::services::{postgres, redis};
    use rand::SeedableRng;

    fn state() -> ClusterState {
        let clone = |promoted: &str, unpromoted: [&str; 2]| crate::cluster::state::CloneState {
            promoted: Some(promoted.into()),
            unpromoted: unpromoted.map(String::from).to_vec(),
        };
        let mut state = ClusterState::default();
        state.clones.insert("pgsqld-clone".into(), clone("a", ["b", "c"]));
        state.clones.insert("redisd-clone".into(), clone("c", ["a", "b"]));
        state
    }

    #[test]
    fn roles_resolve_against_the_faults_service() {
        let nodes = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut pick = |t, service| choose_victim(t, service, &state(), &nodes, "witness", &mut rng);
        assert_eq!(pick(Target::Master, &postgres::PAF).as_deref(), Some("a"));
        assert_eq!(pick(Target::Replica, &postgres::PAF).as_deref(), Some("b"));
        assert_eq!(pick(Target::Witness, &postgres::PAF).as_deref(), Some("witness"));
        assert_eq!(pick(Target::Master, &redis::AGENT).as_deref(), Some("c"));
        assert_eq!(pick(Target::Replica, &redis::AGENT).as_deref(), Some("a"));
        let empty = ClusterState::default();
        assert_eq!(choose_victim(Target::Master, &postgres::PAF, &empty, &nodes, "w", &mut rng), None);
    }

    #[test]
    fn a_seed_replays_the_same_random_victims() {
        let nodes: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| {
                    choose_victim(Target::Random, &postgres::PAF, &state(), &nodes, "w", &mut rng).unwrap_or_default()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        let all = draw(42);
        assert!(nodes.iter().all(|n| all.contains(n)), "every node can be drawn: {all:?}");
    }
}
