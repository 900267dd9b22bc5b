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
use crate::run::scenario::{Direction, Fault, FaultAction, Peers, Target};

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

/// Whether `node` still holds the role `target` names in `state` (a node
/// chosen at random, or the witness, always does).
pub fn holds(target: Target, spec: &ServiceSpec, state: &ClusterState, node: &str) -> bool {
    match target {
        Target::Master => spec.master(state) == Some(node),
        Target::Replica => spec.replicas(state).iter().any(|r| r == node),
        Target::Witness | Target::Random => true,
    }
}

/// Another cluster node than `victim`, to run pcs from or move the master to.
fn other_node(lab: &Lab, victim: &str) -> Option<String> {
    lab.topology.node_names().into_iter().find(|n| n != victim)
}

/// Injects `fault`, about `service`, on `victim`.
pub async fn inject(lab: &Lab, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
    if let Some(why) = fault.action.refusal(lab.backend.capabilities()) {
        // It would hit the host itself, or needs what this lab lacks.
        return Err(LabError::Unsupported(format!("{} {why}; {}", fault.action.name(), fault.action.remedy())));
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
        FaultAction::Signal => {
            let process = fault.process.as_deref().unwrap_or_default();
            lab.guest.run(victim, &signal_processes(process, fault.signal_name())).await?;
        }
        FaultAction::Partition => {
            let peers = partition_peers(lab, victim, fault.from.as_deref().unwrap_or_default());
            lab.guest.run(victim, &partition_cut(&peers, fault.direction.unwrap_or_default())).await?;
        }
        FaultAction::Shutdown => {
            // The shutdown ends ssh too: detach it so the command returns first.
            let shutdown = "nohup sh -c 'sleep 0.2; systemctl poweroff' >/dev/null 2>&1 &";
            lab.guest.run(victim, &Script::command("shutdown", shutdown.into())).await?;
            lab.guest.forget(victim).await;
        }
        FaultAction::SbdStop => {
            // The watchdog's reset takes ssh down with it, seconds later.
            lab.guest.run(victim, &signal_processes("sbd", "STOP")).await?;
            lab.guest.forget(victim).await;
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
        FaultAction::Degrade => {
            let netem = fault.link.as_ref().map(|l| l.netem_arguments()).unwrap_or_default();
            let text = format!("tc qdisc replace dev eth0 root netem {netem}");
            lab.guest.run(victim, &Script::command("degrade", text)).await?;
        }
        FaultAction::ClockJump => {
            let offset = fault.offset_s.unwrap_or_default();
            lab.guest.run(victim, &clock_jump(offset)).await?;
        }
        FaultAction::DiskFull => {
            lab.guest.run(victim, &disk_fill(fault.path.as_deref().unwrap_or("/"))).await?;
        }
        FaultAction::ForkBomb => {
            // The bomb takes ssh down with it: detach it so the command returns first.
            let bomb = "nohup sh -c 'sleep 0.2; bomb() { bomb | bomb & }; bomb' >/dev/null 2>&1 &";
            lab.guest.run(victim, &Script::command("fork-bomb", bomb.into())).await?;
            lab.guest.forget(victim).await;
        }
        FaultAction::StarveCpu => {
            lab.backend.limit_cpu(victim, fault.cpu_percent).await?;
        }
        FaultAction::StarveMemory => {
            // A container's kernel tells the host's memory: its own is its cgroup's cap.
            let cap = (!lab.backend.capabilities().own_kernel).then_some(crate::backend::cgroups::NODE_MEMORY_MB);
            lab.guest.run(victim, &memory_fill(cap, fault.memory_left_mb.unwrap_or_default())).await?;
        }
        FaultAction::Disable => {
            let resource = disabled_resource(fault, spec);
            lab.guest.run(victim, &pcs(format!("pcs resource disable {}", shell_quote(resource)))).await?;
        }
    }
    Ok(())
}

/// The resource a `disable` stops: the one named, or the service's own.
fn disabled_resource<'a>(fault: &'a Fault, spec: &'static ServiceSpec) -> &'a str {
    fault.resource.as_deref().unwrap_or(spec.own_resource())
}

/// How an operator takes `fault` back on `victim` once it is over, if
/// that takes a command (a power-off or a cut cable is undone by the
/// backend), and on which host it runs: the victim when the fault left
/// something there, else a survivor, through pcs.
fn undo(lab: &Lab, fault: &Fault, spec: &'static ServiceSpec, victim: &str) -> Option<(Script, String)> {
    let pcs = |command: String| Script::command("pcs", command);
    let script = match fault.action {
        FaultAction::Stop => spec.signal(&lab.topology, "CONT", true),
        FaultAction::Standby => Some(pcs(format!("pcs node unstandby {victim}"))),
        FaultAction::Move | FaultAction::Ban => Some(pcs(format!("pcs resource clear {}", spec.promotable()))),
        FaultAction::Disable => {
            Some(pcs(format!("pcs resource enable {}", shell_quote(disabled_resource(fault, spec)))))
        }
        FaultAction::ReplicationLinkDown => Some(replication_mend()),
        FaultAction::Partition => Some(partition_mend()),
        FaultAction::Signal if fault.pauses() => {
            Some(signal_processes(fault.process.as_deref().unwrap_or_default(), "CONT"))
        }
        _ => host_level_undo(fault),
    }?;
    let survivor = other_node(lab, victim).unwrap_or_else(|| victim.to_owned());
    let host = if fault.action.undone_on_victim() { victim.to_owned() } else { survivor };
    Some((script, host))
}

/// Lifts `fault` from `victim` while the probes still run (`lift_after_s`):
/// only the fault's own undo (enable, SIGCONT, the filter removed, the
/// cable back in), none of the restore's rebuilding, so what follows is
/// the cluster's own recovery.
pub async fn lift(lab: &Lab, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
    tracing::warn!(action = %fault.action.name(), %service, victim, "lift");
    match fault.action {
        FaultAction::LinkDown => return Ok(lab.backend.set_link(victim, true).await?),
        FaultAction::StarveCpu => return Ok(lab.backend.limit_cpu(victim, None).await?),
        _ => {}
    }
    let spec = lab.stack().profile().require(service)?;
    let step = if is_witness(lab, victim) {
        undo_on_the_witness(fault).map(|s| (s, victim.to_owned()))
    } else {
        undo(lab, fault, spec, victim)
    };
    if let Some((script, host)) = step {
        lab.guest.run(&host, &script).await?;
    }
    Ok(())
}

/// Undoes whatever `fault` (about `service`) did to `victim` and brings the
/// victim back as a replica of every service's current master, as an
/// operator would.
pub async fn restore(lab: &Lab, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
    lab.backend.set_link(victim, true).await?;
    if fault.action == FaultAction::StarveCpu {
        lab.backend.limit_cpu(victim, None).await?;
    }
    if matches!(fault.action, FaultAction::KernelPanic | FaultAction::ForkBomb | FaultAction::SbdStop) {
        // Fenced (by its watchdog, after sbd-stop) or still frozen: either
        // way a reset gives a booted node.
        lab.backend.reset(victim).await?;
    }
    if !lab.backend.is_running(victim).await? {
        lab.backend.start(victim).await?;
    }
    lab.guest.forget(victim).await;
    lab.guest.wait_ready(victim, Duration::from_secs(lab.config.timeouts.boot_s)).await?;
    if lab.topology.node_names().is_empty() {
        return Ok(());
    }
    if is_witness(lab, victim) {
        if let Some(script) = undo_on_the_witness(fault) {
            lab.guest.run(victim, &script).await?;
        }
        return Ok(());
    }
    let spec = lab.stack().profile().require(service)?;
    if let Some((script, host)) = undo(lab, fault, spec, victim) {
        // Best effort: after fencing (or a lift) the process or constraint may be gone.
        if let Err(e) = lab.guest.run(&host, &script).await {
            tracing::info!(error = %e, "undo step had nothing to undo");
        }
    }
    let stale = stale_after_waiting(lab, victim).await;
    if !stale.is_empty() {
        lab.stack().rejoin_as_replica(victim, &stale).await?;
    }
    lab.stack().cleanup(victim).await?;
    Ok(())
}

/// Whether `host` is the lab's quorum device host, which runs no resources.
fn is_witness(lab: &Lab, host: &str) -> bool {
    lab.topology.host(host).is_some_and(|h| h.role == crate::topology::HostRole::Witness)
}

/// Undoes a fault that left something on the witness (a filter, a
/// stopped process); the witness runs no resources, so that is all.
fn undo_on_the_witness(fault: &Fault) -> Option<Script> {
    match fault.action {
        FaultAction::Partition => Some(partition_mend()),
        FaultAction::Signal if fault.pauses() => {
            Some(signal_processes(fault.process.as_deref().unwrap_or_default(), "CONT"))
        }
        _ => host_level_undo(fault),
    }
}

/// The undo of a fault on the host itself, whatever it runs: its link's
/// queue back to the default, its clock set right, its filler removed.
fn host_level_undo(fault: &Fault) -> Option<Script> {
    match fault.action {
        FaultAction::Degrade => {
            Some(Script::command("mend-link", "tc qdisc del dev eth0 root 2>/dev/null || true".into()))
        }
        FaultAction::ClockJump => Some(clock_set(std::time::SystemTime::now())),
        FaultAction::DiskFull => Some(disk_free(fault.path.as_deref().unwrap_or("/"))),
        FaultAction::StarveMemory => Some(memory_free()),
        _ => None,
    }
}

/// The file a `disk-full` fills its filesystem with, in `path`.
const FILLER: &str = ".lab-disk-full";

/// Fills the filesystem holding `path` with one file, up to what
/// unprivileged users may write (df's "available"): the database, which
/// runs as its own user, finds it full, while root keeps the reserved
/// blocks to log and to lift the fault.
fn disk_fill(path: &str) -> Script {
    let text = format!(
        "dir={path}\n\
         [ -d \"$dir\" ] || {{ echo \"no directory $dir here\" >&2; exit 1; }}\n\
         free=$(df --output=avail -B1 \"$dir\" | tail -n 1)\n\
         fallocate -l \"$free\" \"$dir/{FILLER}\" && sync",
        path = shell_quote(path)
    );
    Script::command("disk-fill", text)
}

/// Removes what [`disk_fill`] wrote.
fn disk_free(path: &str) -> Script {
    Script::command("disk-free", format!("rm -f {}/{FILLER}", shell_quote(path)))
}

/// Where a `starve-memory` mounts the tmpfs it fills.
const MEMORY_FILLER: &str = "/run/lab-starve-memory";

/// Takes all but `left_mb` MiB of the node's memory (its `MemTotal`, or
/// `cap_mb` if smaller) with a file on a tmpfs of its own: without swap
/// those pages cannot be reclaimed, and they are freed at once by
/// unmounting it. The file is written, not allocated, so the pages are
/// charged to the node as it goes and the kernel's reclaim and OOM killer
/// act on the node while the fill runs.
fn memory_fill(cap_mb: Option<u32>, left_mb: u32) -> Script {
    let cap = cap_mb.map_or_else(|| "$total".to_owned(), |c| c.to_string());
    let text = format!(
        r#"total=$(awk '/^MemTotal:/ {{ print int($2 / 1024) }}' /proc/meminfo)
cap={cap}; [ "$cap" -lt "$total" ] && total=$cap
fill=$((total - {left_mb}))
[ "$fill" -gt 0 ] || {{ echo "the node has $total MiB, not more than the {left_mb} MiB to leave" >&2; exit 1; }}
mkdir -p {MEMORY_FILLER}
mountpoint -q {MEMORY_FILLER} || mount -t tmpfs -o size=${{fill}}m,mode=0700 lab-starve-memory {MEMORY_FILLER}
dd if=/dev/zero of={MEMORY_FILLER}/fill bs=1M count=$fill 2>/dev/null || true
echo "took $(du -m {MEMORY_FILLER}/fill | cut -f1) of $total MiB""#
    );
    Script::command("memory-fill", text)
}

/// Gives back what [`memory_fill`] took.
fn memory_free() -> Script {
    let text =
        format!("! mountpoint -q {MEMORY_FILLER} || umount {MEMORY_FILLER}; rmdir {MEMORY_FILLER} 2>/dev/null || true");
    Script::command("memory-free", text)
}

/// Moves the node's clock by `offset_s` seconds at once.
fn clock_jump(offset_s: f64) -> Script {
    let ms = (offset_s * 1000.0).round() as i64;
    let text = format!(
        "now=$(date +%s%3N)\n\
         date -s @$(( (now + {ms}) / 1000 )).$(printf %03d $(( (now + {ms}) % 1000 ))) >/dev/null"
    );
    Script::command("clock-jump", text)
}

/// Sets the node's clock to the host's `now` (the host runs no lab
/// clock of its own to jump; ssh's latency, a few ms, is the error).
fn clock_set(now: std::time::SystemTime) -> Script {
    let ms = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Script::command("clock-set", format!("date -s @{}.{:03} >/dev/null", ms / 1000, ms % 1000))
}

/// Sends `signal` to every process named `process` (`pkill -x`); fails
/// when none runs, so a misspelt name never passes for a fault.
fn signal_processes(process: &str, signal: &str) -> Script {
    let text = format!(
        "pkill -{signal} -x {process} || {{ echo \"no process named {process} runs here\" >&2; exit 1; }}",
        process = shell_quote(process)
    );
    Script::command("signal", text)
}

/// The addresses a partition cuts `victim` from.
fn partition_peers(lab: &Lab, victim: &str, from: &[Peers]) -> Vec<std::net::Ipv4Addr> {
    use crate::topology::HostRole;
    lab.topology
        .hosts
        .iter()
        .filter(|h| h.name != victim)
        .filter(|h| match h.role {
            HostRole::Node => from.contains(&Peers::Nodes),
            HostRole::Witness => from.contains(&Peers::Witness),
        })
        .map(|h| h.address)
        .collect()
}

/// The packet filter chain of a partition, on the victim.
const PARTITION_CHAIN: &str = "lab-partition";

/// Drops the victim's packets to and/or from `peers` in a chain of its own
/// (iptables, on nftables in Debian 12: the host kernel of containers has
/// nf_tables but no tc `prio`/`gact`), hooked first into INPUT and OUTPUT.
/// Every other address, the host's lab address (ssh) included, still
/// gets through.
fn partition_cut(peers: &[std::net::Ipv4Addr], direction: Direction) -> Script {
    let chain = PARTITION_CHAIN;
    let mut lines = vec![
        format!("iptables -w -N {chain} 2>/dev/null || iptables -w -F {chain} || exit 1"),
        format!("iptables -w -I INPUT -j {chain} || exit 1"),
        format!("iptables -w -I OUTPUT -j {chain} || exit 1"),
    ];
    for peer in peers {
        if direction != Direction::Out {
            lines.push(format!("iptables -w -A {chain} -s {peer} -j DROP || exit 1"));
        }
        if direction != Direction::In {
            lines.push(format!("iptables -w -A {chain} -d {peer} -j DROP || exit 1"));
        }
    }
    Script::command("partition-cut", lines.join("\n"))
}

/// Lifts a partition: unhooks and removes its chain (however often it was
/// hooked); nothing to do when there is none.
fn partition_mend() -> Script {
    let chain = PARTITION_CHAIN;
    let text = format!(
        "for hook in INPUT OUTPUT; do while iptables -w -D $hook -j {chain} 2>/dev/null; do :; done; done\n\
         iptables -w -F {chain} 2>/dev/null; iptables -w -X {chain} 2>/dev/null; true"
    );
    Script::command("partition-mend", text)
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
        assert!(
            holds(Target::Master, &postgres::PAF, &state(), "a")
                && !holds(Target::Master, &redis::AGENT, &state(), "a")
        );
        assert!(
            holds(Target::Replica, &postgres::PAF, &state(), "c")
                && !holds(Target::Replica, &postgres::PAF, &state(), "a")
        );
        assert!(holds(Target::Random, &postgres::PAF, &empty, "a"));
    }

    fn command_of(script: &Script) -> String {
        script.render()
    }

    #[test]
    fn a_partition_drops_only_the_peers_packets_in_the_directions_asked() {
        let peers = ["192.168.89.12".parse().expect("ip"), "192.168.89.251".parse().expect("ip")];
        let both = command_of(&partition_cut(&peers, Direction::Both));
        for rule in ["-s 192.168.89.12 -j DROP", "-d 192.168.89.12 -j DROP", "-s 192.168.89.251", "-d 192.168.89.251"] {
            assert!(both.contains(rule), "{rule} in {both}");
        }
        let out = command_of(&partition_cut(&peers[..1], Direction::Out));
        assert!(out.contains("-d 192.168.89.12 -j DROP") && !out.contains("-s 192.168.89.12"), "{out}");
        let inward = command_of(&partition_cut(&peers[..1], Direction::In));
        assert!(inward.contains("-s 192.168.89.12 -j DROP") && !inward.contains("-d 192.168.89.12"), "{inward}");
        assert!(command_of(&partition_mend()).contains("iptables -w -X lab-partition"));
    }

    /// For real (root), in a mount namespace of its own: capped at 64 MiB
    /// and told to leave 24, the fill takes 40 MiB of memory on a tmpfs,
    /// and the undo unmounts it. It refuses to leave more than there is.
    #[test]
    fn a_memory_fill_takes_all_but_what_it_leaves_and_gives_it_back() {
        let run = |script: String| {
            let out = std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "bash", "-c", &script])
                .output()
                .expect("unshare");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let check = format!(
            "{fill}\ngrep -q ' {MEMORY_FILLER} tmpfs' /proc/self/mounts && echo mounted\n{free}\n\
             grep -q ' {MEMORY_FILLER} ' /proc/self/mounts || echo freed",
            fill = command_of(&memory_fill(Some(64), 24)),
            free = command_of(&memory_free()),
        );
        let (ok, out) = run(check);
        assert!(ok && out.contains("took 40 of 64 MiB") && out.contains("mounted\nfreed"), "{out}");
        let (ok, out) = run(command_of(&memory_fill(Some(64), 64)));
        assert!(!ok && out.contains("not more than the 64 MiB to leave"), "{out}");
        assert!(command_of(&memory_fill(None, 200)).contains("cap=$total"), "a VM's own memory");
    }

    #[test]
    fn host_level_faults_say_exactly_what_they_change_and_undo() {
        let link = crate::run::scenario::LinkDegradation {
            delay_ms: Some(200),
            jitter_ms: Some(50),
            loss_percent: Some(5.0),
            ..Default::default()
        };
        assert_eq!(link.netem_arguments(), "delay 200ms 50ms loss 5%");
        let jump = command_of(&clock_jump(-90.5));
        assert!(jump.contains("now + -90500"), "{jump}");
        let set = command_of(&clock_set(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_042)));
        assert!(set.contains("date -s @1700000000.042"), "{set}");
        let fill = command_of(&disk_fill("/var/lib/postgresql"));
        assert!(fill.contains("fallocate -l") && fill.contains(FILLER), "{fill}");
        assert!(command_of(&disk_free("/var/lib/postgresql")).contains("rm -f"));
    }

    #[test]
    fn a_signal_names_its_process_exactly_and_fails_when_none_runs() {
        let text = command_of(&signal_processes("corosync", "STOP"));
        assert!(text.contains("pkill -STOP -x '\\''corosync'\\'' ||"), "{text}");
        assert!(text.contains("exit 1"), "{text}");
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
