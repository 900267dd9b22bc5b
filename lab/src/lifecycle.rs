//! A lab's life: make it, boot it, snapshot it, roll it back.
//!
//! [`Lab`] bundles everything an existing lab needs (topology, backend,
//! guest access inside the lab network, secrets); [`make_all`] creates a lab
//! from nothing, as Tuchanka's `make_all` does: destroy what was there, build
//! or reuse the image, create the hosts, prepare them, snapshot `install`,
//! set up the cluster, snapshot `setup`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::qemu::QemuInstall;
use crate::backend::vm_disk;
use crate::backend::{Backend, BackendError, NodeBackend};
use crate::cluster::stack::{Stack, StackError};
use crate::config::{BackendKind, Config};
use crate::exit::Failure;
use crate::guest::{Guest, GuestError, SshGuest};
use crate::host::{self, HostError};
use crate::install::distro::Repo;
use crate::install::identity::{self, SshMaterial};
use crate::install::image::{self, ImageError, Recipe};
use crate::install::iso::{IsoError, IsoInfo};
use crate::install::kickstart::IsoInstall;
use crate::install::pubkey::PublicKey;
use crate::install::repo_mirror::{MirrorError, RepoMirror};
use crate::labnet::{LabNet, LabNetError};
use crate::netns::{self, LabNetwork};
use crate::paths::LabPaths;
use crate::progress::Progress;
use crate::secrets::{Secret, SecretError, Secrets};
use crate::teardown::{self, TeardownError};
use crate::topology::{Topology, TopologyError, VmBoot, VmSpec};

/// Snapshot names, as in Tuchanka.
pub const INSTALL: &str = "install";
pub const SETUP: &str = "setup";

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Guest(#[from] GuestError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    LabNet(#[from] LabNetError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Teardown(#[from] TeardownError),
    #[error("{0}")]
    Accel(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("fence daemon: {0}")]
    Fenced(String),
    #[error("probe: {0}")]
    Probe(String),
    #[error("cannot write results: {0}")]
    Results(String),
    #[error("{0}")]
    Runs(String),
    #[error("cannot create the lab directory {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error(transparent)]
    Key(#[from] crate::install::pubkey::KeyError),
    #[error(transparent)]
    Iso(#[from] IsoError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
}

impl From<LabError> for Failure {
    fn from(error: LabError) -> Self {
        match &error {
            LabError::Topology(TopologyError::Missing { .. })
            | LabError::Topology(TopologyError::OutsideSubnet { .. })
            | LabError::Topology(TopologyError::Duplicate { .. })
            | LabError::Topology(TopologyError::UnknownCluster { .. })
            | LabError::Topology(TopologyError::WhichCluster { .. })
            | LabError::Host(HostError::Missing { .. })
            | LabError::Backend(BackendError::NoSnapshot { .. })
            | LabError::Key(_)
            | LabError::Iso(_)
            | LabError::Mirror(MirrorError::Read { .. } | MirrorError::Missing { .. })
            | LabError::Accel(_)
            | LabError::Unsupported(_) => Failure::usage(error),
            _ => Failure::infra(error),
        }
    }
}

/// An existing lab, ready to act on.
#[derive(Debug)]
pub struct Lab {
    pub config: Config,
    pub paths: LabPaths,
    pub topology: Topology,
    pub backend: Backend,
    pub guest: SshGuest,
    pub secrets: Secrets,
    pub progress: Progress,
    labnet: LabNet,
}

impl Lab {
    /// Opens the lab named in `config`, which must exist, whole: every
    /// host of every cluster (snapshots, status, ssh).
    pub fn open(config: Config, progress: Progress) -> Result<Self, LabError> {
        let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
        let topology = Topology::load(&paths.manifest(), &config.lab.name)?;
        Self::assemble(config, paths, topology, progress)
    }

    /// Opens the lab as the cluster `topology.cluster` (`--cluster`) names,
    /// the lab's only one by default: its nodes and the witness are the
    /// hosts it rolls back, boots and runs faults on.
    pub fn open_cluster(config: Config, progress: Progress) -> Result<Self, LabError> {
        let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
        let topology = Topology::load(&paths.manifest(), &config.lab.name)?.cluster(&config.topology.cluster)?;
        Self::assemble(config, paths, topology, progress)
    }

    /// This lab as [`Lab::open_cluster`] would open it: a lab make-all
    /// has just made holds every cluster.
    pub fn into_cluster(mut self) -> Result<Self, LabError> {
        self.topology = self.topology.cluster(&self.config.topology.cluster)?;
        Ok(self)
    }

    fn assemble(mut config: Config, paths: LabPaths, topology: Topology, progress: Progress) -> Result<Self, LabError> {
        let backend = Backend::open(&paths, &topology, &config)?;
        config.timeouts.scale(topology.time_factor());
        let labnet = LabNet::enter(&netns::lab_namespace(&paths, topology.backend))?;
        let command_timeout = Duration::from_secs(config.timeouts.command_s);
        let guest = SshGuest::new(paths.clone(), labnet.handle().clone(), command_timeout);
        let secrets = Secrets::new(&paths.secrets());
        Ok(Lab { config, paths, topology, backend, guest, secrets, progress, labnet })
    }

    pub fn stack(&self) -> Stack<'_, SshGuest> {
        self.stack_of(&self.topology)
    }

    /// The stack of one cluster of the lab ([`Topology::each_cluster`]).
    pub fn stack_of<'a>(&'a self, cluster: &'a Topology) -> Stack<'a, SshGuest> {
        Stack::new(&self.guest, cluster, &self.secrets)
    }

    pub fn labnet(&self) -> &LabNet {
        &self.labnet
    }

    /// Powers on every host and waits until each answers ssh.
    pub async fn boot(&self) -> Result<Duration, LabError> {
        let started = Instant::now();
        let hosts = self.topology.host_names();
        for host in &hosts {
            self.backend.start(host).await?;
        }
        let timeout = Duration::from_secs(self.config.timeouts.boot_s);
        let waits = hosts.iter().map(|h| self.guest.wait_ready(h, timeout));
        for result in futures_util::future::join_all(waits).await {
            result?;
        }
        Ok(started.elapsed())
    }

    /// Pulls the plug of every host.
    pub async fn power_off_all(&self) -> Result<(), LabError> {
        for host in self.topology.host_names() {
            self.guest.forget(&host).await;
            self.backend.power_off(&host).await?;
        }
        Ok(())
    }

    /// Saves a snapshot of every host: running, if the backend can, else
    /// powered off first.
    pub async fn snapshot(&self, name: &str) -> Result<(), LabError> {
        if !self.backend.capabilities().live_snapshots {
            self.power_off_all().await?;
        }
        self.backend.save_snapshot(name, &self.topology.host_names()).await?;
        Ok(())
    }

    /// Sets every host's clock to the host's: a restored live snapshot
    /// resumes with the clock of the moment it was taken.
    async fn set_clocks(&self) -> Result<(), LabError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let script = crate::guest::Script::command(
            "set-clock",
            format!("date -u -s @{}.{:03} >/dev/null", now.as_secs(), now.subsec_millis()),
        );
        for host in self.topology.host_names() {
            self.guest.run(&host, &script).await?;
        }
        Ok(())
    }

    /// Rolls every host back to `snapshot` and boots them: the cluster is
    /// stopped after a boot from a disk snapshot, and resumes running from a
    /// live `setup` snapshot (VMs). Returns the time until all answer ssh.
    ///
    /// In a lab of several clusters, the other clusters' nodes are powered
    /// off first, as Tuchanka tests a cluster with only its group of VMs
    /// and the witness running: they would take CPU from the one measured.
    pub async fn rollback(&self, snapshot: &str) -> Result<Duration, LabError> {
        let started = Instant::now();
        for host in self.topology.other_clusters_nodes() {
            if self.backend.is_running(&host).await? {
                tracing::info!(host, "powering off a node of another cluster");
                self.guest.forget(&host).await;
                self.backend.power_off(&host).await?;
            }
        }
        let hosts = self.topology.host_names();
        for host in &hosts {
            self.guest.forget(host).await;
            self.backend.set_link(host, true).await?;
        }
        self.backend.restore_snapshot(snapshot, &hosts).await?;
        self.ensure_fenced().await?;
        self.boot().await?;
        if self.backend.capabilities().live_snapshots {
            self.set_clocks().await?;
        }
        Ok(started.elapsed())
    }

    /// Starts the fence daemon unless it already runs from this very lab
    /// binary (an upgraded lab replaces a daemon left by the old one), and
    /// checks that it answers.
    pub async fn ensure_fenced(&self) -> Result<(), LabError> {
        let running = self.paths.running_fence_daemon();
        let current = running.is_some_and(|pid| {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            exe.is_some() && exe == std::env::current_exe().ok()
        });
        if let (Some(pid), false) = (running, current) {
            tracing::info!(pid, "replacing a fence daemon from another lab binary");
            crate::process::kill_and_wait(pid, Duration::from_secs(5)).await;
        }
        if !current {
            self.spawn_fenced()?;
        }
        let token = self.secrets.get(Secret::FenceToken)?;
        let address = std::net::SocketAddr::from((self.topology.host_address, self.topology.fence_port));
        let ping = self
            .labnet
            .run(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    match ping_fenced(address, &token).await {
                        Ok(answer) if answer == "OK" => return Ok(()),
                        Ok(answer) => return Err(format!("answered `{answer}` at {address}")),
                        Err(e) if tokio::time::Instant::now() >= deadline => {
                            return Err(format!("{address}: {e}"));
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
            .await?;
        ping.map_err(|e| LabError::Fenced(format!("{e}; see {}", self.paths.root().join("fenced.log").display())))
    }

    fn spawn_fenced(&self) -> Result<(), LabError> {
        let exe = std::env::current_exe().map_err(|e| LabError::Fenced(format!("cannot find the lab binary: {e}")))?;
        let log_path = self.paths.root().join("fenced.log");
        let open = || std::fs::OpenOptions::new().create(true).append(true).open(&log_path);
        let (out, err) = match (open(), open()) {
            (Ok(out), Ok(err)) => (out, err),
            (Err(e), _) | (_, Err(e)) => {
                return Err(LabError::Fenced(format!("cannot open {}: {e}", log_path.display())));
            }
        };
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new(exe)
            .args(self.paths.fence_daemon_args())
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Fenced(format!("cannot start: {e}")))?;
        std::fs::write(self.paths.fenced_pid(), format!("{}\n", child.id()))
            .map_err(|e| LabError::Fenced(format!("cannot write pid file: {e}")))?;
        tracing::info!(pid = child.id(), "fence daemon started");
        Ok(())
    }
}

async fn ping_fenced(address: std::net::SocketAddr, token: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.write_all(format!("{token} ping -\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::io::BufReader::new(stream).read_line(&mut answer).await?;
    Ok(answer.trim().to_owned())
}

/// How long each part of `make-all` took.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MakeAllTimings {
    pub image_s: f64,
    pub hosts_s: f64,
    pub boot_s: f64,
    pub install_s: f64,
    pub setup_s: f64,
    pub total_s: f64,
}

/// Inputs of `make-all` beyond the configuration.
#[derive(Clone, Debug, Default)]
pub struct MakeAllInput {
    /// Public keys to authorize for root on every host; with an ISO the
    /// first is the one the kickstart installs (Tuchanka's root key).
    pub authorized_keys: Vec<PathBuf>,
    /// A RHEL-like installation ISO to install the hosts from, instead of
    /// the embedded Debian 12 image.
    pub installation_iso: Option<PathBuf>,
    /// Keep a lab whose make-all failed, to look at it; `lab destroy`
    /// removes it afterwards.
    pub keep_failed: bool,
}

/// What `make-all` checked and read before creating anything.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Lines of `authorized_keys`.
    pub keys: Vec<String>,
    pub installation: Option<Installation>,
}

/// Hosts installed from an ISO instead of the embedded image.
#[derive(Clone, Debug)]
pub struct Installation {
    pub iso: PathBuf,
    pub info: IsoInfo,
    /// The key the kickstart installs for root.
    pub root_key: PublicKey,
    /// The repositories the kickstart installs from besides the ISO.
    pub repos: Vec<Repo>,
    /// Where lab serves them inside a QEMU lab (its network reaches nothing else).
    pub mirror: Option<(RepoMirror, SocketAddr)>,
}

/// A stack asked for a service it does not run is a scenario or command
/// the user can fix: the same exit as any other unsupported request.
impl From<crate::cluster::profile::NotInStack> for LabError {
    fn from(error: crate::cluster::profile::NotInStack) -> Self {
        LabError::Unsupported(error.to_string())
    }
}

/// Checks everything `make-all` needs before anything is created: the
/// ISO and the keys first (what the user typed), then whether the backend
/// can use them, then the host's tools.
pub fn preflight(config: &Config, input: &MakeAllInput) -> Result<Checked, LabError> {
    let iso = match &input.installation_iso {
        Some(path) => Some((path.clone(), crate::install::iso::inspect(path)?)),
        None => None,
    };
    let keys = input.authorized_keys.iter().map(|path| PublicKey::read(path)).collect::<Result<Vec<_>, _>>()?;
    let backend = config.lab.backend;
    let stack = config.stack.profile.profile();
    for cluster in config.clusters() {
        if let Some(why) = cluster.stack.profile().refuses(backend) {
            return Err(LabError::Unsupported(why));
        }
    }
    if let Some((path, _)) = &iso {
        // What only lab's own image has, what it needs, and what else to do.
        let stacks = config.clusters().into_iter().map(|c| c.stack.profile());
        let own_image = stacks
            .filter_map(|stack| match stack.packages {
                [] if stack.has(crate::cluster::services::ServiceName::PostgresB) => {
                    Some((format!("the {} stack", stack.name), "Debian's pg_createcluster".to_owned(), ""))
                }
                [] => None,
                packages => Some((format!("the {} stack", stack.name), packages.join(", "), "")),
            })
            .next();
        let own_image = own_image.or_else(|| {
            (config.cluster.fencing == crate::cluster::fencing::Fencing::Sbd).then(|| {
                ("fencing = \"sbd\"".to_owned(), "the sbd package".to_owned(), ", or set cluster.fencing = \"lab\"")
            })
        });
        if let Some((what, needs, otherwise)) = own_image {
            return Err(LabError::Unsupported(format!(
                "{what} runs on lab's own Debian 12 image (it needs {needs}), not on hosts installed from {}; \
                 leave out the ISO{otherwise}",
                path.display()
            )));
        }
    }
    let installation = installation(iso, &keys, config)?;
    let recipe = Recipe::for_lab(stack, backend)?;
    Topology::from_config(config, &recipe.key())?;
    host::require(&["ssh", "ssh-keygen"])?;
    host::require(crate::backend::host_tools(backend))?;
    let cached = config.lab.state_dir.join("images").join(recipe.key()).join("complete").exists();
    if installation.is_none() && !cached {
        host::require(&["mmdebstrap"])?;
    }
    Ok(Checked { keys: keys.iter().map(PublicKey::line).collect(), installation })
}

/// Whether the configured backend can install hosts from `iso` (an ISO
/// and what it holds), or needs one, and from which repositories.
fn installation(
    iso: Option<(PathBuf, IsoInfo)>,
    keys: &[PublicKey],
    config: &Config,
) -> Result<Option<Installation>, LabError> {
    let backend = config.lab.backend;
    let refuse = |message: String| Err(LabError::Unsupported(message));
    let Some((iso, info)) = iso else {
        if backend == BackendKind::VirtualBox {
            return refuse(
                "the virtualbox backend installs its hosts from a RHEL-like ISO: \
                 `lab --backend virtualbox make-all ISO KEY.pub`"
                    .into(),
            );
        }
        return Ok(None);
    };
    let release = format!("{}: {} {}", iso.display(), info.name, info.version);
    if backend == BackendKind::Container {
        return refuse(format!(
            "{release} recognised, but the container backend runs the embedded Debian 12 image and installs no ISO; \
             use --backend qemu or virtualbox, or `lab make-all` without the ISO"
        ));
    }
    let Some(root_key) = keys.first().cloned() else {
        return refuse(format!(
            "installing from {} needs root's SSH public key: `lab make-all ISO KEY.pub`",
            iso.display()
        ));
    };
    let needed = info.family.repos(config.postgres.version);
    let (repos, mirror) = match backend {
        BackendKind::Qemu => {
            if config.qemu.repo_mirror.as_os_str().is_empty() {
                let names: Vec<&str> = needed.iter().map(|r| r.name.as_str()).collect();
                return refuse(format!(
                    "{release} recognised, but its hosts also need packages from {} and a QEMU lab reaches \
                     nothing outside: set [qemu] repo_mirror (or --set qemu.repo_mirror=DIR) to a directory \
                     holding copies of them (README: Installing from an ISO)",
                    names.join(", ")
                ));
            }
            let mirror = RepoMirror::new(&config.qemu.repo_mirror);
            let address = SocketAddr::from((config.network.host_address, config.qemu.repo_mirror_port));
            (mirror.repos(&needed, address)?, Some((mirror, address)))
        }
        _ => (needed, None),
    };
    Ok(Some(Installation { iso, info, root_key, repos, mirror }))
}

/// [`make_all`], unless `interrupted` resolves first (Ctrl-C, SIGTERM):
/// then no half-made lab stays behind, and the answer is `None`.
pub async fn make_all_unless_interrupted(
    config: Config,
    progress: Progress,
    input: MakeAllInput,
    interrupted: impl std::future::Future<Output = ()>,
) -> Option<Result<(Lab, MakeAllTimings), LabError>> {
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    // The interrupted work is dropped first (its block ends): that kills
    // the tools it ran and releases the image build's lock, so that the
    // destroy below takes the half-built image too.
    let finished = {
        let work = make_all(config, progress, input);
        tokio::select! {
            result = work => Some(result),
            _ = interrupted => None,
        }
    };
    if finished.is_none() {
        eprintln!("lab: interrupted; removing the half-made lab");
        let _ = teardown::destroy(&paths).await;
    }
    finished
}

/// Creates the lab from nothing. On any failure the half-made lab is
/// destroyed (the image cache stays).
pub async fn make_all(
    config: Config,
    progress: Progress,
    input: MakeAllInput,
) -> Result<(Lab, MakeAllTimings), LabError> {
    let checked = preflight(&config, &input)?;
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    if lab_exists(&paths) {
        let step = progress.step(format!("destroy the previous lab `{}`", config.lab.name));
        teardown::destroy(&paths).await?;
        step.done();
    }
    let keep_failed = input.keep_failed;
    let result = build(config, progress, checked, &paths).await;
    if let (Err(error), true) = (&result, keep_failed) {
        tracing::error!(%error, "make-all failed; the lab is kept for inspection (lab destroy removes it)");
    } else if let Err(error) = &result {
        tracing::error!(%error, "make-all failed; destroying the half-made lab");
        if let Err(e) = teardown::destroy(&paths).await {
            tracing::error!(error = %e, "cleanup after failure failed; run `lab destroy`");
        }
    }
    result
}

/// Whether a lab of this name exists, whole or as what an interrupted
/// command left: its directory or any of its network namespaces.
pub fn lab_exists(paths: &LabPaths) -> bool {
    paths.root().exists() || !LabNetwork::new(paths.netns()).existing().is_empty()
}

async fn build(
    config: Config,
    progress: Progress,
    checked: Checked,
    paths: &LabPaths,
) -> Result<(Lab, MakeAllTimings), LabError> {
    let started = Instant::now();
    let mut timings = MakeAllTimings::default();
    let topology = match &checked.installation {
        None => {
            let recipe = Recipe::for_lab(config.stack.profile.profile(), config.lab.backend)?;
            let image = image::ensure(&paths.images(), &recipe, &config.image.mirror, &progress).await?;
            let mut topology = Topology::from_config(&config, &image.key)?;
            match config.lab.backend {
                BackendKind::Qemu => {
                    vm_disk::ensure(&image, &progress).await?;
                    topology.vm = Some(vm_spec(&config).await?);
                }
                BackendKind::Container => crate::backend::container::assign_node_users(&mut topology, paths)?,
                BackendKind::VirtualBox => {}
            }
            topology
        }
        Some(installation) => {
            let mut topology = Topology::from_config(&config, &installation.info.volume_id)?;
            topology.distribution = installation.info.family;
            if config.lab.backend == BackendKind::Qemu {
                topology.vm = Some(VmSpec { boot: VmBoot::Disk, ..vm_spec(&config).await? });
            }
            topology
        }
    };
    timings.image_s = started.elapsed().as_secs_f64();

    let step = progress.step(match &checked.installation {
        None => "create hosts: network, disks, identities".to_owned(),
        Some(Installation { iso, info, .. }) => {
            format!("install hosts from {} ({} {}, kickstart; minutes each)", iso.display(), info.name, info.version)
        }
    });
    std::fs::create_dir_all(paths.root())
        .map_err(|source| LabError::Create { path: paths.root().display().to_string(), source })?;
    topology.save(&paths.manifest())?;
    let secrets = Secrets::new(&paths.secrets());
    secrets.generate()?;
    let ssh = SshMaterial::new(&paths.ssh());
    ssh.generate(&topology).await?;
    if topology.backend.owns_network() {
        LabNetwork::new(paths.netns()).create(&topology).await?;
    }
    let token = secrets.get(Secret::FenceToken)?;
    let mut backend = Backend::open(paths, &topology, &config)?;
    let mut mirror = None;
    if let Some(installation) = checked.installation {
        let root_password_hash = crate::install::sha_crypt::hash_password(&secrets.get(Secret::RootPassword)?);
        let Installation { iso, info, root_key, repos, mirror: served } = installation;
        let media = IsoInstall { iso, info, root_key, root_password_hash, repos };
        match &mut backend {
            Backend::VirtualBox(vms) => *vms = vms.clone().with_install(media),
            Backend::Qemu(vms) => {
                let timeout = config.qemu.install_timeout_s as f64 * topology.time_factor();
                let timeout = Duration::from_secs_f64(timeout);
                *vms = vms.clone().with_install(QemuInstall { media, disk_gb: config.qemu.disk_gb, timeout });
            }
            // `installation` refused an ISO here.
            Backend::Container(_) => {}
        }
        if let Some((repos, address)) = served {
            let labnet = LabNet::enter(&netns::lab_namespace(paths, topology.backend))?;
            mirror = Some((repos.serve_in(&labnet, address).await?, labnet));
        }
    }
    // Installations from an ISO take minutes each: all hosts at once.
    let creations = topology.hosts.iter().map(|host| {
        let (backend, topology, ssh, keys, token) = (&backend, &topology, &ssh, &checked.keys, &token);
        async move {
            let files = identity::guest_files(topology, host, ssh, keys, token)?;
            backend.create(host, &files).await.map_err(LabError::from)
        }
    });
    futures_util::future::try_join_all(creations).await?;
    drop(mirror);
    timings.hosts_s = step.done().as_secs_f64();

    let lab = Lab::assemble(config, paths.clone(), topology, progress.clone())?;
    lab.ensure_fenced().await?;
    let step = progress.step("boot hosts");
    timings.boot_s = lab.boot().await?.as_secs_f64();
    step.done();

    let step = progress.step("prepare hosts (no cluster autostart), snapshot install");
    lab.stack().install().await?;
    lab.snapshot(INSTALL).await?;
    timings.install_s = step.done().as_secs_f64();

    let clusters = lab.topology.each_cluster()?;
    // Every cluster's services (in a lab of several, each runs its own stack).
    let mut services: Vec<&str> = Vec::new();
    for title in clusters.iter().flat_map(|c| c.stack.profile().services).map(|s| s.title) {
        if !services.contains(&title) {
            services.push(title);
        }
    }
    let step = progress.step(format!(
        "set up {}: corosync, qdevice, fencing, {}",
        match clusters.as_slice() {
            [_] => "the cluster".to_owned(),
            _ => format!("clusters {}", lab.topology.cluster_names().join(", ")),
        },
        services.join(", ")
    ));
    let setup_started = Instant::now();
    lab.boot().await?;
    let healthy = Duration::from_secs(lab.config.timeouts.healthy_s);
    // One after the other: the witness's pcsd signs each cluster's qdevice
    // certificate in turn, and two clusters' setups at once would halve
    // the CPU each has (both wait on timeouts scaled for one).
    for cluster in &clusters {
        let stack = lab.stack_of(cluster);
        if clusters.len() > 1 {
            step.detail(format!("cluster {}", cluster.cluster_name));
        }
        stack.setup(&step).await?;
        step.detail(format!(
            "{}: waiting for every service's master, replicas, VIPs and replication",
            cluster.cluster_name
        ));
        stack.wait_healthy(healthy, &|detail| step.detail(detail)).await?;
    }
    // A live snapshot keeps the healthy clusters running: every rollback
    // then resumes them in seconds instead of a cold start (minutes on
    // emulated hosts). Disk snapshots need them stopped cleanly,
    // PostgreSQL shut down.
    if !lab.backend.capabilities().live_snapshots {
        for cluster in &clusters {
            lab.stack_of(cluster).stop().await?;
        }
    }
    lab.snapshot(SETUP).await?;
    timings.setup_s = setup_started.elapsed().as_secs_f64();
    step.done();
    timings.total_s = started.elapsed().as_secs_f64();
    Ok((lab, timings))
}

/// The VMs' settings for this host: the accelerator decides how much
/// slower than native everything runs.
async fn vm_spec(config: &Config) -> Result<VmSpec, LabError> {
    let accel = crate::backend::accel::choose(config.qemu.accel, crate::backend::qemu::QEMU)
        .await
        .map_err(|e| LabError::Accel(e.to_string()))?;
    let time_factor = match accel {
        crate::backend::accel::Accel::Kvm => 1.0,
        crate::backend::accel::Accel::Tcg => config.qemu.tcg_slowdown.max(1.0),
    };
    tracing::info!(?accel, time_factor, "VM accelerator");
    Ok(VmSpec {
        accel,
        memory_mb: config.qemu.memory_mb,
        witness_memory_mb: config.qemu.witness_memory_mb,
        cpus: config.qemu.cpus,
        time_factor,
        boot: VmBoot::Kernel,
    })
}
