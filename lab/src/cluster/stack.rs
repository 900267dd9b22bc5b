//! The HA stack under test, set up and operated through guest scripts:
//! corosync + pacemaker with the witness's corosync-qnetd as quorum device,
//! fencing through the lab's fence daemon, and the services of the lab's
//! stack profile ([`crate::cluster::profile`]), each set up by its own module
//! ([`crate::cluster::services`]) — by default the layout of Tuchanka's second cluster.

use std::time::Duration;

use crate::cluster::profile::StackProfile;
use crate::cluster::services::{ServiceName, ServiceSpec, container, mariadb};
use crate::cluster::state::ClusterState;
use crate::guest::{Guest, GuestError, Script};
use crate::secrets::{Secret, SecretError, Secrets};
use crate::topology::{HostRole, Topology};

/// A script of `guest/`, compiled in.
macro_rules! guest_script {
    ($name:literal) => {
        $crate::guest::Script::new($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/guest/", $name)))
    };
}
pub(crate) use guest_script;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cluster not healthy after {timeout:?}: {state}")]
    NotHealthy { timeout: Duration, state: String },
    #[error("no cluster node answers crm_mon: {0}")]
    NoView(String),
    #[error("the lab has no cluster node `{0}`")]
    NoNode(String),
}

/// Operations on the lab's cluster.
#[derive(Debug)]
pub struct Stack<'a, G> {
    guest: &'a G,
    topology: &'a Topology,
    secrets: &'a Secrets,
}

impl<'a, G: Guest> Stack<'a, G> {
    pub fn new(guest: &'a G, topology: &'a Topology, secrets: &'a Secrets) -> Self {
        Stack { guest, topology, secrets }
    }

    pub fn topology(&self) -> &Topology {
        self.topology
    }

    pub fn secret(&self, secret: Secret) -> Result<String, StackError> {
        Ok(self.secrets.get(secret)?)
    }

    /// The stack profile the lab was made with.
    pub fn profile(&self) -> &'static StackProfile {
        self.topology.stack.profile()
    }

    /// What each of the stack's services declares, in the profile's order.
    pub fn services(&self) -> &'static [&'static ServiceSpec] {
        self.profile().services
    }

    /// The node that runs one-off cluster commands (and is the first master).
    pub fn first_node(&self) -> Result<String, StackError> {
        self.topology.node_names().into_iter().next().ok_or_else(|| StackError::NoNode("(none)".into()))
    }

    /// Runs `script` on `host`.
    pub async fn run(&self, host: &str, script: &Script) -> Result<String, StackError> {
        Ok(self.guest.run(host, script).await?)
    }

    /// Parameters every script may use, the distribution's paths and
    /// service names included (see [`crate::install::distro::Family::guest_env`]).
    pub fn script(&self, script: Script) -> Script {
        let t = self.topology;
        let script = t.distribution.guest_env(t.pg_version).into_iter().fold(script, |s, (k, v)| s.env(&k, v));
        let script = script
            .env("PG_VERSION", t.pg_version)
            .env("PG_PORT", t.pg_port)
            .env("PG_SYNCHRONOUS", if t.pg_synchronous { "on" } else { "off" })
            .env("MASTER_VIP", t.vips.master_vip)
            .env("REPLICA_VIP", t.vips.replica_vip)
            .env("SECOND_MASTER_VIP", t.vips.second_master_vip.map(|v| v.to_string()).unwrap_or_default())
            .env(
                "MORE_REPLICA_VIPS",
                t.vips.more_replica_vips.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "),
            )
            .env("SUBNET", t.subnet())
            .env("PREFIX", t.prefix)
            .env("CLUSTER_NAME", &t.cluster_name)
            .env("NODE_NAMES", t.node_names().join(" "))
            .env("REDIS_VIP", t.vips.redis_vip)
            .env("REDIS_PORT", t.redis_port)
            .env("MARIADB_PORT", mariadb::PORT)
            .env("BEANSTALKD_PORT", t.beanstalkd_port)
            .env("SERVICES", self.services().iter().map(|s| s.cib.name).collect::<Vec<_>>().join(" "))
            .env("GROUP", self.profile().group.unwrap_or_default())
            .env("CONTAINER_PG_BINDIR", container::POSTGRES_BINDIR)
            .env("DRBD_SIZE_MB", t.drbd_size_mb)
            .env("TOKEN_MS", t.token_ms)
            .env("DC_DEADTIME_MS", t.dc_deadtime_ms)
            .env("FENCING", t.fencing)
            .env("QUORUM_DEVICE", if t.quorum_device.uses_witness(t.node_names().len()) { "witness" } else { "none" })
            .env("WATCHDOG_TIMEOUT_S", t.watchdog_timeout_s)
            .env("CONTAINER_TARBALLS", container::TARBALLS)
            .env("TIME_FACTOR", self.time_factor());
        self.services().iter().flat_map(|s| s.env()).fold(script, |s, (k, v)| s.env(k, v))
    }

    /// How many times slower than native the hosts are, as a whole number
    /// for the scripts' timeouts (pcs, pacemaker operations).
    fn time_factor(&self) -> u64 {
        self.topology.time_factor().ceil() as u64
    }

    /// How often to ask the cluster for its state. Every `crm_mon` costs the
    /// asked node CPU that Pacemaker needs too; on emulated hosts (one query
    /// costs seconds there) asking less often lets the cluster get on.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs_f64(self.topology.time_factor().clamp(1.0, 5.0))
    }

    pub async fn on_all(&self, hosts: &[String], script: &Script) -> Result<(), StackError> {
        let runs = hosts.iter().map(|h| self.guest.run(h, script));
        for result in futures_util::future::join_all(runs).await {
            result?;
        }
        Ok(())
    }

    /// Per-host preparation before the `install` snapshot: the common
    /// stack on every host, Docker and the stack's images on the nodes of
    /// a stack that runs containers.
    pub async fn install(&self) -> Result<(), StackError> {
        let script = self.script(guest_script!("node-install.sh"));
        self.on_all(&self.topology.host_names(), &script).await?;
        if !self.profile().container_images().is_empty() {
            self.on_all(&self.topology.node_names(), &self.script(guest_script!("containers-install.sh"))).await?;
        }
        Ok(())
    }

    /// Creates the cluster with qdevice and fencing, sets up each service,
    /// then pushes every Pacemaker resource at once. Leaves it running.
    pub async fn setup(&self, step: &crate::progress::Step) -> Result<(), StackError> {
        let t = self.topology;
        let first = self.first_node()?;
        let hacluster = self.secrets.get(Secret::Hacluster)?;

        step.detail("pcsd and quorum device");
        let auth = self.script(guest_script!("pcsd-auth.sh")).env("HACLUSTER_PASSWORD", &hacluster);
        self.on_all(&t.host_names(), &auth).await?;

        step.detail("corosync configuration and keys");
        let addresses = t.nodes().map(|n| format!("{} addr={}", n.name, n.address)).collect::<Vec<_>>().join(" ");
        let conf = self.script(guest_script!("corosync-conf.sh")).env("NODE_ADDRS", &addresses);
        let corosync_conf = self.guest.run(&first, &conf).await?;
        let files = self
            .script(guest_script!("cluster-files.sh"))
            .env("COROSYNC_CONF", corosync_conf.trim_end())
            .env("COROSYNC_KEY", self.secrets.get(Secret::CorosyncKey)?)
            .env("PACEMAKER_KEY", self.secrets.get(Secret::PacemakerKey)?);
        self.on_all(&t.node_names(), &files).await?;

        step.detail("corosync cluster with qdevice");
        let create = self.script(guest_script!("cluster-create.sh")).env("HACLUSTER_PASSWORD", &hacluster);
        self.guest.run(&first, &create).await?;

        for service in self.services() {
            service.setup(self, step).await?;
        }

        step.detail(format!(
            "pacemaker resources: fencing, {}",
            self.services().iter().map(|s| s.title).collect::<Vec<_>>().join(", ")
        ));
        self.guest.run(&first, &self.script(self.resources_script())).await?;
        Ok(())
    }

    /// `guest/cluster-resources.sh` with the CIB helpers and every service's
    /// fragment before it.
    pub fn resources_script(&self) -> Script {
        resources_script(self.services())
    }

    /// Starts the cluster on all nodes at once (nothing starts at boot).
    pub async fn start(&self) -> Result<(), StackError> {
        self.on_all(&self.topology.node_names(), &self.script(guest_script!("cluster-start.sh"))).await
    }

    /// Stops the cluster on all nodes, cleanly.
    ///
    /// `pcs cluster stop --all` takes seconds; it used to hang when a VIP's
    /// stop was blocked (see `follows_master` in guest/cib.sh). Should it not
    /// finish in time, each node stops its own stack, which names what holds
    /// it up and checks PostgreSQL shut down cleanly.
    pub async fn stop(&self) -> Result<(), StackError> {
        let f = self.time_factor();
        let stop_all = self.topology.distribution.cluster_stack().stop_all(120 * f);
        let stop = Script::command("cluster-stop", format!("timeout {} {stop_all} >/dev/null", 150 * f));
        // pcs stops the others through their pcsd, which starts with the
        // cluster, not at boot: a node fenced since has none yet.
        let pcsd = Script::command("pcsd-start", format!("timeout {} systemctl start pcsd", 90 * f));
        if let Err(error) = self.on_all(&self.topology.node_names(), &pcsd).await {
            tracing::warn!(%error, "pcsd did not start everywhere");
        }
        if let Err(error) = self.guest.run(&self.first_node()?, &stop).await {
            tracing::warn!(%error, "pcs cluster stop --all did not finish; stopping node by node");
            self.on_all(&self.topology.node_names(), &self.script(guest_script!("node-stop.sh"))).await?;
        }
        Ok(())
    }

    /// The cluster as seen by the first node that answers.
    pub async fn state(&self) -> Result<ClusterState, StackError> {
        self.state_avoiding("").await
    }

    /// The cluster as seen by the first node that answers, asking `avoid`
    /// (a fault's victim, maybe unreachable) last.
    pub async fn state_avoiding(&self, avoid: &str) -> Result<ClusterState, StackError> {
        let crm_mon = Script::command("crm_mon", self.topology.distribution.cluster_stack().crm_mon_xml().into());
        let mut last = String::from("no nodes");
        for node in self.nodes_avoiding(avoid) {
            match self.guest.run(&node, &crm_mon).await {
                Ok(xml) => match ClusterState::parse(&xml) {
                    Ok(state) if !state.online.is_empty() => return Ok(state),
                    Ok(_) => last = format!("{node}: not in the cluster"),
                    Err(e) => last = format!("{node}: {e}"),
                },
                Err(e) => last = e.to_string(),
            }
        }
        Err(StackError::NoView(last))
    }

    /// Waits until every service is healthy and really replicating,
    /// telling `detail` what the cluster looks like meanwhile.
    pub async fn wait_healthy(
        &self,
        timeout: Duration,
        detail: &(dyn Fn(&str) + Sync),
    ) -> Result<ClusterState, StackError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let nodes = self.topology.node_names();
        let services = self.services();
        loop {
            let last = match self.state().await {
                Ok(state) => {
                    let summary = state.summary(services);
                    detail(&summary);
                    if state.is_healthy(&nodes, services) {
                        match self.not_replicating(&state).await {
                            None => return Ok(state),
                            Some(service) => format!("{summary}; {service} replicas not streaming yet"),
                        }
                    } else {
                        summary
                    }
                }
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(StackError::NotHealthy { timeout, state: last });
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// The first service whose replicas do not replicate yet.
    async fn not_replicating(&self, state: &ClusterState) -> Option<ServiceName> {
        let nodes = self.topology.node_names().len();
        for service in self.services() {
            if !service.replicating(self, state, nodes).await {
                return Some(service.name);
            }
        }
        None
    }

    /// The services whose data on `node` must be rebuilt before it rejoins
    /// (see [`ServiceName::needs_rebuild`]).
    pub async fn to_rebuild(&self, state: &ClusterState, node: &str) -> Vec<ServiceName> {
        let mut stale = Vec::new();
        for service in self.services() {
            if service.needs_rebuild(self, state, node).await {
                stale.push(service.name);
            }
        }
        stale
    }

    /// Brings a failed node back as a replica of each service's current
    /// master, rebuilding the data of `services` first: what an operator
    /// does after a fault, as in Tuchanka's `restore` scripts.
    pub async fn rejoin_as_replica(&self, node: &str, services: &[ServiceName]) -> Result<(), StackError> {
        // A fenced node rebooted with its cluster stopped: nothing to stop.
        let stop = Script::command(
            "cluster-stop-node",
            "systemctl is-active --quiet corosync || exit 0; pcs cluster stop --force >/dev/null 2>&1 || true".into(),
        );
        self.guest.run(node, &stop).await?;
        for service in services.iter().filter_map(|s| self.profile().spec(*s)) {
            service.rebuild(self, node).await?;
        }
        // The caller clears failures and waits until the cluster is healthy.
        self.guest.run(node, &self.script(guest_script!("cluster-start.sh"))).await?;
        Ok(())
    }

    /// The cluster's nodes with `avoid` (a fault's victim) last.
    fn nodes_avoiding(&self, avoid: &str) -> Vec<String> {
        let mut nodes = self.topology.node_names();
        nodes.sort_by_key(|n| n == avoid);
        nodes
    }

    /// Clears failed actions so the cluster retries everywhere, asking the
    /// first node whose Pacemaker answers, `avoid` last: a victim that has
    /// just rejoined may not be connected yet (seen on VMs, where asking it
    /// first cost 8 s before it failed).
    pub async fn cleanup(&self, avoid: &str) -> Result<(), StackError> {
        let cleanup = Script::command("resource-cleanup", "crm_resource --cleanup >/dev/null".into());
        let mut last = None;
        for node in self.nodes_avoiding(avoid) {
            match self.guest.run(&node, &cleanup).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| StackError::NoNode("(none)".into()), StackError::from))
    }

    /// Each host's journal since `since_unix_s` (seconds since the epoch),
    /// as `journalctl -o short-iso-precise` prints it, at most the last
    /// [`JOURNAL_LIMIT`] bytes of each; a host that cannot be asked gets a
    /// line saying why instead.
    pub async fn journals(&self, since_unix_s: u64) -> Vec<(String, String)> {
        let journal = Script::command(
            "journal",
            format!("journalctl --no-pager -o short-iso-precise --since @{since_unix_s} | tail -c {JOURNAL_LIMIT}"),
        );
        let hosts = self.topology.host_names();
        let read = futures_util::future::join_all(hosts.iter().map(|h| self.guest.run(h, &journal))).await;
        hosts
            .into_iter()
            .zip(read)
            .map(|(host, text)| (host, text.unwrap_or_else(|e| format!("-- lab could not read this journal: {e}\n"))))
            .collect()
    }

    /// The quorum device host, if the lab has one.
    pub fn witness(&self) -> Option<String> {
        self.topology.hosts.iter().find(|h| h.role == HostRole::Witness).map(|h| h.name.clone())
    }
}

/// How much of each host's journal a run keeps: minutes of a busy
/// cluster's log, not a runaway one's.
pub const JOURNAL_LIMIT: usize = 4 << 20;

/// `guest/cluster-resources.sh` for `services`: the CIB helpers, each
/// service's fragment, then the script that pushes them.
pub fn resources_script(services: &[&ServiceSpec]) -> Script {
    let mut parts = vec![include_str!("../../guest/cib.sh")];
    // Two services may share a fragment's file (PostgreSQL's two databases).
    for text in services.iter().map(|s| s.cib.text) {
        if !parts.contains(&text) {
            parts.push(text);
        }
    }
    parts.push(include_str!("../../guest/cluster-resources.sh"));
    Script::composed("cluster-resources.sh", &parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::distro::{Family, Vendor};
    use crate::testing::RecordingGuest;

    /// Every guest script lab sends, with its text: the files of `guest/`
    /// and `guest/services/` (not `guest/vm/`, the Debian image's own
    /// first-boot service).
    fn guest_scripts() -> Vec<(std::path::PathBuf, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("guest");
        let services = std::fs::read_dir(dir.join("services")).expect("guest/services/");
        let scripts: Vec<_> = std::fs::read_dir(&dir)
            .expect("guest/")
            .chain(services)
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.is_file())
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("script");
                (path, text)
            })
            .collect();
        assert!(scripts.len() >= 10, "only {} scripts in {}", scripts.len(), dir.display());
        scripts
    }

    /// Distribution differences live in `distro.rs` only: a guest script
    /// naming a Debian path or tool would break RHEL-like hosts.
    #[test]
    fn guest_scripts_name_no_distribution_specific_path() {
        let debian_only = [
            "/usr/lib/postgresql",
            "/etc/postgresql",
            "/var/lib/postgresql",
            "pg_ctlcluster",
            "pg_createcluster",
            "/etc/redis",
            "redis-server",
        ];
        // A container's paths are its (Debian) image's, whatever the host runs.
        let host_scripts: Vec<_> =
            guest_scripts().into_iter().filter(|(path, _)| !path.to_string_lossy().contains("container")).collect();
        assert!(host_scripts.len() >= 10, "only {} host scripts", host_scripts.len());
        for (path, text) in host_scripts {
            for word in debian_only {
                assert!(!text.contains(word), "{} names `{word}`; take it from distro.rs", path.display());
            }
        }
    }

    /// A secret passed on a command line (`pcs -p "$X_PASSWORD"`, `psql -c
    /// "... '$X_PASSWORD'"`) is readable by every user of the node and, on
    /// containers, of the host. In guest scripts a secret only reaches
    /// bash's own printf/echo (whose output goes to stdin or a file) or the
    /// text of a here-document (a configuration file).
    #[test]
    fn guest_scripts_never_put_a_secret_on_a_command_line() {
        let mut seen = 0;
        for (path, text) in guest_scripts() {
            let mut heredoc: Option<String> = None;
            let mut logical = String::new();
            for line in text.lines() {
                if let Some(end) = &heredoc {
                    if line.trim() == end {
                        heredoc = None;
                    }
                    continue;
                }
                logical.push_str(line);
                if line.ends_with('\\') {
                    continue;
                }
                let command = std::mem::take(&mut logical);
                if let Some((_, after)) = command.split_once("<<") {
                    let word = after.trim_start_matches('-').trim().trim_matches(|c| c == '\'' || c == '"');
                    heredoc = word.split_whitespace().next().map(str::to_owned);
                }
                let secret = command.contains('$') && ["PASSWORD", "_KEY"].iter().any(|s| command.contains(s));
                if !secret || command.trim_start().starts_with('#') {
                    continue;
                }
                seen += 1;
                // `(umask 077; printf ...)` writes a key file.
                let builtin = command.trim_start().trim_start_matches('(');
                let builtin = builtin
                    .split_once("; ")
                    .filter(|(first, _)| first.starts_with("umask"))
                    .map_or(builtin, |(_, rest)| rest);
                assert!(
                    builtin.starts_with("printf ") || builtin.starts_with("echo "),
                    "{}: a secret on a command line: {command}",
                    path.display()
                );
            }
        }
        assert!(seen >= 6, "only {seen} uses of secrets found");
    }

    /// The install scripts lab sends to a lab of `family`'s hosts.
    async fn install_scripts(family: Family) -> (Topology, Vec<(String, String)>) {
        let config = crate::config::Config::defaults().expect("defaults");
        let mut topology = Topology::from_config(&config, "img").expect("topology");
        topology.distribution = family;
        let secrets = Secrets::new(std::path::Path::new("/nonexistent"));
        let guest = RecordingGuest::default();
        Stack::new(&guest, &topology, &secrets).install().await.expect("install");
        let sent = guest.sent.into_inner().expect("lock");
        (topology, sent)
    }

    #[tokio::test]
    async fn scripts_get_the_hosts_distribution_paths() {
        let (topology, sent) = install_scripts(Family::RhelLike { vendor: Vendor::Rocky, major: 9 }).await;
        assert_eq!(sent.len(), topology.hosts.len(), "one script per host");
        let pg = topology.pg_version;
        for (_, text) in &sent {
            assert!(text.contains(&format!("export PG_BINDIR='/usr/pgsql-{pg}/bin'")), "{text}");
            assert!(text.contains(&format!("export PG_SERVICE='postgresql-{pg}'")), "{text}");
            assert!(text.contains("export REDIS_CONF='/etc/redis/redis.conf'"), "{text}");
            assert!(text.contains("eval \"$PG_NEW_CLUSTER\""), "{text}");
            assert!(text.contains("export CLUSTER_STACK='pacemaker-2'"), "{text}");
        }
    }

    /// Seen on VMs: the master rejoined after its kernel panic, and its
    /// Pacemaker, just started, could not be asked to clean up yet.
    #[tokio::test]
    async fn cleanup_asks_the_next_node_when_one_is_not_connected_yet() {
        let config = crate::config::Config::defaults().expect("defaults");
        let topology = Topology::from_config(&config, "img").expect("topology");
        let secrets = Secrets::new(std::path::Path::new("/nonexistent"));
        let guest = RecordingGuest { failing: Some("tuchanka-a"), ..RecordingGuest::default() };
        Stack::new(&guest, &topology, &secrets).cleanup("").await.expect("cleaned up through tuchanka-b");
        let asked: Vec<String> = guest.sent.into_inner().expect("lock").into_iter().map(|(node, _)| node).collect();
        assert_eq!(asked, ["tuchanka-a", "tuchanka-b"]);

        let guest = RecordingGuest { failing: Some("tuchanka-b"), ..RecordingGuest::default() };
        Stack::new(&guest, &topology, &secrets).cleanup("").await.expect("cleaned up through tuchanka-a");
        assert_eq!(guest.sent.into_inner().expect("lock").len(), 1, "the first node that answers is enough");

        // The victim that just rejoined is asked last, and not at all when
        // another node answers.
        let guest = RecordingGuest { failing: Some("tuchanka-a"), ..RecordingGuest::default() };
        Stack::new(&guest, &topology, &secrets).cleanup("tuchanka-a").await.expect("cleaned up through tuchanka-b");
        let asked: Vec<String> = guest.sent.into_inner().expect("lock").into_iter().map(|(node, _)| node).collect();
        assert_eq!(asked, ["tuchanka-b"]);
    }

    #[tokio::test]
    async fn rhel_7_scripts_speak_pacemaker_1_1() {
        let (_, sent) = install_scripts(Family::RhelLike { vendor: Vendor::CentOs, major: 7 }).await;
        assert!(sent.iter().all(|(_, text)| text.contains("export CLUSTER_STACK='pacemaker-1.1'")), "{sent:?}");
    }
}
