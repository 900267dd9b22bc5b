//! The command line: parse, set up logging, dispatch, map errors to exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;

mod examples;
use crate::config::{BackendKind, Config, Override};
use crate::exit::Failure;
use crate::paths::LabPaths;
use crate::progress::Progress;
use crate::run::scenario::Scenario;

/// A chaos lab for Pacemaker/Corosync clusters: build nodes and a witness,
/// set up the real HA stack, inject faults, measure outages and lost writes.
#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    propagate_version = true,
    after_help = "Every command lab runs is logged with its output in STATE_DIR/logs/LAB.log \
                  (/var/lib/lab/logs/tuchanka.log by default).\n\
                  Exit codes: 0 done (a scenario or suite passed), 1 a scenario failed its checks or a \
                  report found a regression, 2 bad input (nothing was made), 3 the lab failed \
                  (infrastructure), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file layered over the defaults (default: the first of ./lab.toml, $XDG_CONFIG_HOME/lab/lab.toml or ~/.config/lab/lab.toml, /etc/lab/lab.toml that exists; `lab config show` says which keys it set).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lab name (lab.name).
    #[arg(long, global = true, value_name = "NAME")]
    pub lab: Option<String>,
    /// State directory (lab.state_dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How nodes run (lab.backend): container (systemd-nspawn), qemu (VMs) or virtualbox (VMs from an ISO).
    #[arg(long, global = true, value_name = "BACKEND")]
    pub backend: Option<crate::config::BackendKind>,
    /// The cluster to act on, in a lab of several (topology.cluster; `lab status` lists them).
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Override any configuration key, e.g. --set heartbeat.rate_hz=100.
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Machine-readable JSON on stdout instead of tables and progress.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug); the log file always has info.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the lab from nothing: image, hosts, snapshot `install`, cluster, snapshot `setup`.
    #[command(after_help = examples::MAKE_ALL)]
    MakeAll {
        /// Optional: a RHEL-like installation ISO (Rocky, Alma, CentOS Stream
        /// 8/9) to install the hosts from with a kickstart (--backend
        /// virtualbox, or qemu with a [qemu] repo_mirror); without it the
        /// hosts run the embedded Debian 12 image. Then SSH
        /// public key(s) to authorize for root on every host (lab always
        /// authorizes its own key); an ISO needs at least one.
        #[arg(value_name = "[ISO] KEY.pub")]
        inputs: Vec<PathBuf>,
        /// Keep the lab if make-all fails, to look at it (`lab destroy` removes it).
        #[arg(long)]
        keep_failed: bool,
        /// Replace a lab of the same name (without it, make-all refuses to
        /// destroy an existing lab).
        #[arg(long)]
        force: bool,
        /// The stack to build (stack.profile; `lab stacks` lists them).
        #[arg(long, value_name = "NAME")]
        stack: Option<crate::cluster::profile::ProfileName>,
        /// Tuchanka's layout of clusters to build (topology.preset):
        /// tuchanka1, tuchanka2, tuchanka4, or tuchanka (all three, sharing the witness).
        #[arg(long, value_name = "PRESET")]
        topology: Option<String>,
    },
    /// Show hosts, links, snapshots and the cluster.
    #[command(after_help = examples::STATUS)]
    Status,
    /// Every lab on this host (in the state directory): backend, stack,
    /// hosts running, snapshots, last run, and a command working on it now.
    #[command(after_help = examples::LIST)]
    List,
    /// Open a shell (or run a command) on a host.
    #[command(after_help = examples::SSH)]
    Ssh {
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Watch the cluster (crm_mon) from a node.
    #[command(after_help = examples::MON)]
    Mon {
        /// Node to watch from (default: the first node that runs).
        #[arg(long)]
        node: Option<String>,
    },
    /// Roll every host back to a snapshot and boot them.
    #[command(after_help = examples::ROLLBACK)]
    Rollback {
        /// `install`, `setup` or a snapshot saved with `lab snapshot save`.
        #[arg(value_name = "SNAPSHOT")]
        snapshot: String,
        /// Also start the cluster (VMs resume it running) and wait until it is healthy.
        #[arg(long)]
        start_cluster: bool,
    },
    /// Save, list or delete named snapshots of the whole lab.
    #[command(after_help = examples::SNAPSHOT)]
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Remove the lab: hosts, namespaces, mounts, processes, state (the image cache stays).
    #[command(after_help = examples::DESTROY)]
    Destroy,
    /// Run a heartbeat probe against a VIP and show every attempt live.
    #[command(after_help = examples::HEARTBEAT)]
    Heartbeat {
        #[arg(value_enum)]
        role: ProbeRole,
        /// The service probed (default: the stack's first, PostgreSQL in Tuchanka's).
        #[arg(long, value_name = "SERVICE")]
        service: Option<crate::cluster::services::ServiceName>,
        /// Attempts per second (default: heartbeat.rate_hz).
        #[arg(long, value_parser = rate_hz)]
        rate: Option<f64>,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long, value_parser = probe_seconds)]
        seconds: Option<f64>,
    },
    /// Run a fault scenario: rollback, start, probe, fault, observe, restore, report.
    #[command(after_help = examples::SCENARIO)]
    Scenario {
        /// A builtin scenario name (see `lab scenarios`) or a .toml file.
        name: String,
        #[command(flatten)]
        runs: RunOptions,
    },
    /// Run every builtin scenario (rolling back to `setup` before each) and
    /// write results.json, junit.xml, summary.md and report.html.
    #[command(after_help = examples::SUITE)]
    Suite {
        /// Only these scenarios (names or .toml files); default: all builtin.
        #[arg(long = "only", value_name = "SCENARIO")]
        only: Vec<String>,
        #[command(flatten)]
        runs: RunOptions,
    },
    /// List the builtin scenarios.
    #[command(after_help = examples::SCENARIOS)]
    Scenarios,
    /// List the stack profiles: their services and the backends that run them.
    #[command(after_help = examples::STACKS)]
    Stacks,
    /// Show the configuration: every key's value and where it came from.
    #[command(after_help = examples::CONFIG)]
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a completion script for SHELL.
    ///
    /// Example: `lab completions bash > /etc/bash_completion.d/lab`, or for
    /// zsh `lab completions zsh > "${fpath[1]}/_lab"`, or for fish
    /// `lab completions fish > ~/.config/fish/completions/lab.fish`.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Compare a run's results.json with a baseline; exit 1 on a regression.
    #[command(after_help = examples::REPORT)]
    Report {
        /// results.json to judge (default: the lab's most recent one).
        results: Option<PathBuf>,
        /// results.json of an earlier run to compare with; without it, the
        /// run's summary.md, report.html and junit.xml are written anew
        /// from its results.json and run directories.
        #[arg(long, value_name = "RESULTS.json")]
        baseline: Option<PathBuf>,
        /// Relative slack (default: report.regression_tolerance).
        #[arg(long)]
        tolerance: Option<f64>,
        /// Absolute slack in ms (default: report.regression_tolerance_ms).
        #[arg(long)]
        tolerance_ms: Option<f64>,
        /// Compare even if the baseline ran on another backend or stack.
        #[arg(long)]
        allow_mismatch: bool,
        /// Join the shares of one suite (`lab suite --partition K/N` on N
        /// machines): each a results.json or the directory holding it, with
        /// its run directories. Every share must be given.
        #[arg(long, num_args = 1.., value_name = "SHARE", conflicts_with = "results", requires = "out")]
        merge: Vec<PathBuf>,
        /// With --merge: the new directory for the whole suite's results
        /// and reports.
        #[arg(long, value_name = "DIR", requires = "merge")]
        out: Option<PathBuf>,
    },
    /// Medians of make-all, rollback, scenario wall time and failover over repeated real runs.
    #[command(after_help = examples::BENCH)]
    Bench {
        /// Makes and runs per scenario.
        #[arg(long, default_value_t = 3, value_parser = at_least_once())]
        repeat: u32,
        /// Scenarios to time (default: kill-postgres-master, poweroff-master, link-down-master).
        #[arg(long = "only", value_name = "SCENARIO")]
        only: Vec<String>,
        /// Base seed of random choices.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Run one scenario for each combination of configuration values and
    /// plot its failover figures against them (sweep.md, sweep.json,
    /// sweep.svg). A value that changes the cluster's setup makes the lab
    /// anew; probes', timeouts' and reports' values run on the lab as it is.
    #[command(after_help = examples::SWEEP)]
    Sweep {
        /// A builtin scenario name (see `lab scenarios`) or a .toml file.
        scenario: String,
        /// A configuration key and the values it takes, comma-separated
        /// (`lab config show` lists the keys); several --vary make a grid.
        #[arg(long, value_name = "KEY=V1,V2,...", required = true)]
        vary: Vec<crate::run::sweep::Axis>,
        /// Runs per point, with the same seeds at every point.
        #[arg(long, default_value_t = 2, value_parser = at_least_once())]
        repeat: u32,
        /// Base seed of random choices.
        #[arg(long)]
        seed: Option<u64>,
        /// Replace the existing lab of this name when a value needs the lab made anew.
        #[arg(long)]
        force: bool,
    },
    /// The host-side fence daemon (started by lab itself).
    #[command(hide = true)]
    Fenced,
}

/// `--repeat`: a count of runs, refused as it is parsed when it is 0.
fn at_least_once() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..)
}

/// How often and with which randomness scenarios run.
#[derive(Clone, Copy, Debug, Args)]
pub struct RunOptions {
    /// Runs per scenario (overrides the scenario's `repeat`).
    #[arg(long, value_parser = at_least_once())]
    pub repeat: Option<u32>,
    /// Base seed of random choices; printed in every report, replays a run exactly.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only share K of N of the runs (a CI matrix of N machines, each
    /// with the same --seed); `lab report --merge` joins the shares.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<crate::run::suite::Partition>,
    /// Start each run after the first from the cluster the previous run
    /// restored, when it is healthy (else roll back to `setup`): faster,
    /// and each result says which start it had.
    #[arg(long)]
    pub reuse: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Every key with its effective value and its origin: default, FILE:LINE,
    /// a LAB_ variable or a flag.
    #[command(after_help = examples::CONFIG)]
    Show {
        /// Print the embedded defaults instead, with their comments: every
        /// key lab knows, the starting point of a lab.toml.
        #[arg(long)]
        defaults: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotAction {
    /// Save every host as it is now under NAME (VMs keep running; on
    /// containers and VirtualBox the cluster is stopped cleanly and the
    /// hosts powered off for the copy, then both started again).
    #[command(after_help = examples::SNAPSHOT_SAVE)]
    Save {
        /// Letters, digits, `-` and `_`.
        name: String,
        /// Replace a snapshot of that name (make-all's `setup` too: every
        /// scenario then starts from it).
        #[arg(long)]
        force: bool,
    },
    /// The lab's snapshots, oldest first, with when each was saved.
    #[command(after_help = examples::SNAPSHOT_LIST)]
    List,
    /// Delete a snapshot saved with `lab snapshot save` (make-all's
    /// `install` and `setup` stay).
    #[command(after_help = examples::SNAPSHOT_DELETE)]
    Delete { name: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProbeRole {
    /// Writes through the service's master VIP.
    Writer,
    /// Reads through the service's replica VIP (its master VIP where it has none).
    Reader,
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("lab: {failure}");
            if let (Failure::Infrastructure(_), Some(log)) = (&failure, LOG.get()) {
                eprintln!("lab: every command lab ran, with its output, is in {}", log.display());
            }
            failure.exit_code()
        }
    }
}

/// The lab's log file, once logging writes to it: an infrastructure
/// failure points there (its one-line message cannot hold a tool's output).
static LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn load_config(global: &Global, command: &Command) -> Result<Config, Failure> {
    let (file, mut overrides) = config_layers(global, command)?;
    if let Some((backend, why)) = backend_for_an_iso(command, file.as_deref(), &overrides)? {
        eprintln!("lab: installing the ISO with the {backend} backend ({why}); choose another with --backend");
        overrides.push(Override::flag(
            "--backend (chosen for the ISO)",
            &["lab", "backend"],
            backend.to_string().into(),
        ));
    }
    Config::load(file.as_deref(), &overrides).map_err(Failure::usage)
}

/// `lab make-all centos7.iso key.pub` as typed: the container backend
/// installs no ISO, so when nothing chose a backend (flag, `LAB_` variable,
/// file) make-all takes the one that can: VirtualBox where `VBoxManage` is
/// on PATH (Tuchanka's setup), else QEMU (which then asks for its
/// repository mirror).
fn backend_for_an_iso(
    command: &Command,
    file: Option<&Path>,
    overrides: &[Override],
) -> Result<Option<(BackendKind, &'static str)>, Failure> {
    let Command::MakeAll { inputs, .. } = command else { return Ok(None) };
    if !inputs.iter().any(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso"))) {
        return Ok(None);
    }
    let settings = Config::explain(file, overrides).map_err(Failure::usage)?;
    if settings.iter().any(|s| s.key == "lab.backend" && s.origin != "default") {
        return Ok(None);
    }
    Ok(Some(match crate::host::which("VBoxManage") {
        Some(_) => (BackendKind::VirtualBox, "VBoxManage is on PATH"),
        None => (BackendKind::Qemu, "no VBoxManage on PATH"),
    }))
}

/// The user's configuration file, if any: `--config`, else the first of
/// `./lab.toml`, `$XDG_CONFIG_HOME/lab/lab.toml` (`~/.config/lab/lab.toml`)
/// and `/etc/lab/lab.toml` that exists.
fn user_config_file(global: &Global) -> Option<PathBuf> {
    global.config.clone().or_else(|| {
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
        let candidates = [
            Some(PathBuf::from("lab.toml")),
            xdg.map(|dir| dir.join("lab/lab.toml")),
            Some("/etc/lab/lab.toml".into()),
        ];
        candidates.into_iter().flatten().find(|path| path.exists())
    })
}

/// The user's file and every override (LAB_ variables, flags, --set), in
/// the order they apply.
fn config_layers(global: &Global, command: &Command) -> Result<(Option<PathBuf>, Vec<Override>), Failure> {
    let mut overrides = Override::from_env(std::env::vars());
    if let Some(lab) = &global.lab {
        overrides.push(Override::flag("--lab", &["lab", "name"], toml::Value::String(lab.clone())));
    }
    if let Some(dir) = &global.state_dir {
        overrides.push(Override::flag(
            "--state-dir",
            &["lab", "state_dir"],
            toml::Value::String(dir.display().to_string()),
        ));
    }
    if let Some(backend) = global.backend {
        overrides.push(Override::flag("--backend", &["lab", "backend"], toml::Value::String(backend.to_string())));
    }
    if let Command::MakeAll { stack: Some(stack), .. } = command {
        overrides.push(Override::flag("--stack", &["stack", "profile"], toml::Value::String(stack.to_string())));
    }
    if let Command::MakeAll { topology: Some(preset), .. } = command {
        overrides.push(Override::flag("--topology", &["topology", "preset"], toml::Value::String(preset.clone())));
    }
    if let Some(cluster) = &global.cluster {
        overrides.push(Override::flag("--cluster", &["topology", "cluster"], toml::Value::String(cluster.clone())));
    }
    for raw in &global.overrides {
        overrides.push(Override::parse_flag(raw).map_err(Failure::usage)?);
    }
    Ok((user_config_file(global), overrides))
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    // Completions and the configuration's own display need no lab and no
    // log.
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "lab", &mut std::io::stdout());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Config { action: ConfigAction::Show { defaults } } = &cli.command {
        return show_config(&cli.global, &cli.command, *defaults);
    }
    let config = load_config(&cli.global, &cli.command)?;
    // These only look: no log, no lock.
    match cli.command {
        Command::List => return list_labs(&config, cli.global.json),
        Command::Snapshot { action: SnapshotAction::List } => {
            return commands::list_snapshots(&config, cli.global.json);
        }
        _ => {}
    }
    // Bad input is refused before anything is written, the log included:
    // the scenarios to run, and the shape of a lab to make (every address
    // once, inside the lab's subnet), with the cluster a bench runs on.
    let scenarios = scenarios_of(&cli.command).map_err(Failure::usage)?;
    match cli.command {
        Command::MakeAll { .. } => {
            crate::topology::Topology::from_config(&config, "").map_err(Failure::usage)?;
        }
        Command::Bench { .. } => {
            crate::topology::Topology::configured_cluster(&config).map_err(Failure::usage)?;
        }
        _ => {}
    }
    let sweep = sweep_points(&cli.global, &cli.command)?;
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    if let Some(problem) = snapshot_problem(&cli.command, &paths) {
        return Err(Failure::Usage(problem));
    }
    init_logging(&paths, cli.global.verbose);
    tracing::info!(command = ?cli.command, "lab");
    // Held until lab exits: no other command changes this lab meanwhile.
    let _lock = if cli.command.changes_the_lab() {
        let described: Vec<String> = std::env::args().skip(1).collect();
        Some(crate::lock::LabLock::acquire(&paths, &format!("lab {}", described.join(" "))).map_err(Failure::usage)?)
    } else {
        None
    };
    match &cli.command {
        // These replace the process with ssh inside the lab network.
        Command::Ssh { host, command } => return commands::exec_ssh(&config, &paths, host, command, false),
        Command::Mon { node } => {
            let node = node.clone().unwrap_or_default();
            return commands::exec_ssh(&config, &paths, &node, &[], true);
        }
        Command::Fenced => return crate::fenced_main::run(&config, &paths),
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    // make-all (cleans up), heartbeat (summarises), scenario and suite (the
    // reports say what did not run) handle Ctrl-C themselves; everything
    // else just stops, and `lab destroy` or the next rollback deals with
    // what it left.
    let handles_interrupt = matches!(
        cli.command,
        Command::MakeAll { .. }
            | Command::Heartbeat { .. }
            | Command::Scenario { .. }
            | Command::Suite { .. }
            | Command::Sweep { .. }
    );
    runtime.block_on(async {
        if handles_interrupt {
            return dispatch(cli, config, scenarios, sweep).await;
        }
        tokio::select! {
            result = dispatch(cli, config, scenarios, sweep) => result,
            _ = crate::interrupt::interrupted() => {
                tracing::warn!("interrupted");
                Err(Failure::Interrupted)
            }
        }
    })
}

fn init_logging(paths: &LabPaths, verbose: u8) {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;
    let stderr_level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let file_level = if verbose >= 2 { LevelFilter::DEBUG } else { LevelFilter::INFO };
    let file = paths
        .log()
        .parent()
        .and_then(|dir| std::fs::create_dir_all(dir).ok())
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(paths.log()).ok());
    if file.is_some() {
        let _ = LOG.set(paths.log());
    }
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer().with_writer(std::sync::Mutex::new(f)).with_ansi(false).with_filter(file_level)
    });
    // Colour codes only for a person at a terminal, never into CI's logs.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .with_filter(stderr_level);
    let _ = tracing_subscriber::registry().with(file_layer).with(stderr_layer).try_init();
}

impl Command {
    /// Whether the command changes the lab's hosts or state, and so takes
    /// the lab's lock ([`crate::lock`]).
    fn changes_the_lab(&self) -> bool {
        matches!(
            self,
            Command::MakeAll { .. }
                | Command::Rollback { .. }
                | Command::Destroy
                | Command::Scenario { .. }
                | Command::Suite { .. }
                | Command::Bench { .. }
                | Command::Sweep { .. }
        )
    }
}

/// Why a snapshot command is refused before anything happens, if it is: a
/// name that cannot be a snapshot's, a name in use without `--force`,
/// make-all's snapshots to delete.
fn snapshot_problem(command: &Command, paths: &LabPaths) -> Option<String> {
    use crate::snapshot;
    let missing = |name: &str| {
        let exists = !paths.manifest().is_file() || snapshot::list(paths).iter().any(|s| s.name == name);
        (!exists).then(|| crate::backend::BackendError::NoSnapshot { name: name.to_owned() }.to_string())
    };
    match command {
        Command::Rollback { snapshot, .. } => snapshot::name_problem(snapshot).or_else(|| missing(snapshot)),
        Command::Snapshot { action: SnapshotAction::Save { name, force } } => {
            snapshot::save_problem(paths, name, *force)
        }
        Command::Snapshot { action: SnapshotAction::Delete { name } } => {
            snapshot::delete_problem(name).or_else(|| missing(name))
        }
        _ => None,
    }
}

/// The scenarios a `scenario` or `suite` command runs, read and checked;
/// a name typed as an alias (`link-down`, Tuchanka's `PowerOff`) is
/// printed with the scenario it stands for.
fn scenarios_of(command: &Command) -> Result<Vec<Scenario>, crate::run::scenario::ScenarioError> {
    let find = |typed: &String| {
        if let crate::run::catalog::Resolved::Builtin { name, alias: Some(alias), .. } =
            crate::run::catalog::resolve(typed)
        {
            eprintln!("lab: `{alias}` is scenario {name}");
        }
        Scenario::find(typed)
    };
    match command {
        Command::Scenario { name, .. } | Command::Sweep { scenario: name, .. } => Ok(vec![find(name)?]),
        Command::Suite { only, .. } if only.is_empty() => Scenario::builtin(),
        Command::Suite { only, .. } | Command::Bench { only, .. } => only.iter().map(find).collect(),
        _ => Ok(Vec::new()),
    }
}

/// The configuration of each point of a `sweep`, read and checked before
/// anything runs (a value that fails at the third point fails now), and
/// its refusal to replace a lab without `--force`.
fn sweep_points(global: &Global, command: &Command) -> Result<Vec<(crate::run::sweep::Point, Config)>, Failure> {
    let Command::Sweep { vary, force, .. } = command else { return Ok(Vec::new()) };
    let (file, overrides) = config_layers(global, command)?;
    let mut points = Vec::new();
    for point in crate::run::sweep::grid(vary) {
        let mut layers = overrides.clone();
        layers.extend(point.overrides().map_err(Failure::Usage)?);
        let config = Config::load(file.as_deref(), &layers).map_err(Failure::usage)?;
        crate::topology::Topology::configured_cluster(&config).map_err(Failure::usage)?;
        points.push((point, config));
    }
    if let Some((first, config)) = points.first() {
        let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
        if !force && first.needs_new_lab(None) && crate::lifecycle::lab_exists(&paths) {
            return Err(Failure::Usage(format!(
                "lab `{}` exists and the sweep makes it anew for {}; --force replaces it (or pick another name \
                 with --lab)",
                config.lab.name,
                first.label()
            )));
        }
    }
    Ok(points)
}

async fn dispatch(
    cli: Cli,
    config: Config,
    scenarios: Vec<Scenario>,
    sweep: Vec<(crate::run::sweep::Point, Config)>,
) -> Result<ExitCode, Failure> {
    let json = cli.global.json;
    let progress = Progress::new(!json);
    match cli.command {
        Command::MakeAll { inputs, keep_failed, force, .. } => {
            commands::make_all(config, progress, inputs, (keep_failed, force), json).await
        }
        Command::Status => crate::status::show(config, json).await,
        Command::Rollback { snapshot, start_cluster } => {
            commands::rollback(config, progress, snapshot, start_cluster, json).await
        }
        Command::Destroy => commands::destroy(&config, json).await,
        Command::Snapshot { action } => commands::snapshot(config, progress, action, json).await,
        Command::Heartbeat { role, service, rate, seconds } => {
            crate::run::live::heartbeat(config, role, service, rate, seconds, json).await
        }
        Command::Scenario { runs, .. } => {
            let label = scenarios.first().map(|s| s.name.clone()).unwrap_or_default();
            commands::run_plan(config, progress, label, scenarios, runs, json).await
        }
        Command::Suite { runs, .. } => {
            commands::run_plan(config, progress, "suite".into(), scenarios, runs, json).await
        }
        Command::Report { results, baseline, tolerance, tolerance_ms, allow_mismatch, merge, out } => {
            let tolerance = crate::report::baseline::Tolerance::new(
                tolerance.unwrap_or(config.report.regression_tolerance),
                tolerance_ms.unwrap_or(config.report.regression_tolerance_ms),
            )
            .map_err(Failure::Usage)?;
            let results = match out {
                Some(out) => Some(commands::merge_shares(&merge, &out, json)?),
                None => results,
            };
            commands::report(&config, results, baseline.as_deref(), &tolerance, allow_mismatch, json)
        }
        Command::Bench { repeat, seed, .. } => {
            let scenarios = if scenarios.is_empty() {
                let defaults = crate::run::bench::DEFAULT_SCENARIOS.iter().map(|n| Scenario::find(n));
                defaults.collect::<Result<_, _>>().map_err(Failure::usage)?
            } else {
                scenarios
            };
            let seed = seed.unwrap_or_else(rand::random);
            let bench = crate::run::bench::run(config, progress, scenarios, repeat, seed).await?;
            if json {
                commands::print_json(&bench)
            } else {
                print!("{}", bench.render())
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sweep { vary, repeat, seed, .. } => {
            let scenario = scenarios.into_iter().next().ok_or_else(|| Failure::Usage("no scenario".into()))?;
            let seed = seed.unwrap_or_else(rand::random);
            let plan = crate::run::sweep::Plan { scenario, axes: vary, repeat, seed };
            commands::sweep(&config, progress, &plan, sweep, json).await
        }
        Command::Stacks => {
            let profiles: Vec<_> = crate::cluster::profile::ProfileName::ALL.iter().map(|p| p.profile()).collect();
            if json {
                commands::print_json(&profiles.iter().map(|p| p.summary()).collect::<Vec<_>>());
            } else {
                profiles.iter().for_each(|p| print!("{}", p.render()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Scenarios => {
            let scenarios = Scenario::builtin().map_err(Failure::usage)?;
            if json {
                commands::print_json(&scenarios.iter().map(Scenario::summary).collect::<Vec<_>>());
            } else {
                print!("{}", crate::run::catalog::render(&scenarios));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ssh { .. }
        | Command::List
        | Command::Mon { .. }
        | Command::Fenced
        | Command::Completions { .. }
        | Command::Config { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// `lab list`: every lab under the state directory.
fn list_labs(config: &Config, json: bool) -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    let labs = runtime.block_on(crate::labs::list(&config.lab.state_dir, config));
    if json {
        commands::print_json(&labs);
    } else {
        print!("{}", crate::labs::render(&labs));
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab config show`: the effective configuration, or the defaults.
fn show_config(global: &Global, command: &Command, defaults: bool) -> Result<ExitCode, Failure> {
    if defaults {
        print!("{}", crate::config::DEFAULTS);
        return Ok(ExitCode::SUCCESS);
    }
    let (file, overrides) = config_layers(global, command)?;
    let settings = Config::explain(file.as_deref(), &overrides).map_err(Failure::usage)?;
    if global.json {
        commands::print_json(&settings);
    } else {
        let width = settings.iter().map(|s| s.key.len() + s.value.len() + 3).max().unwrap_or(0).min(56);
        for s in &settings {
            println!("{:<width$}  # {}", format!("{} = {}", s.key, s.value), s.origin);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--rate`: what `heartbeat.rate_hz` accepts.
fn rate_hz(raw: &str) -> Result<f64, String> {
    finite_within(raw, 0.1, 1000.0, "attempts per second")
}

/// `--seconds`: a probe runs for more than 0 s and at most a day (a NaN or
/// a huge number would overflow the clock).
fn probe_seconds(raw: &str) -> Result<f64, String> {
    let seconds = finite_within(raw, 0.0, 86_400.0, "seconds")?;
    if seconds == 0.0 {
        return Err("give more than 0 seconds".into());
    }
    Ok(seconds)
}

fn finite_within(raw: &str, low: f64, high: f64, unit: &str) -> Result<f64, String> {
    let value: f64 = raw.parse().map_err(|_| format!("`{raw}` is not a number"))?;
    if value.is_finite() && (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be between {low} and {high} {unit}"))
    }
}
