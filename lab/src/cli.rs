//! The command line: parse, set up logging, dispatch, map errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{Config, Override};
use crate::exit::Failure;
use crate::lifecycle::{self, Lab, MakeAllInput};
use crate::paths::LabPaths;
use crate::progress::Progress;
use crate::scenario::Scenario;

/// A chaos lab for Pacemaker/Corosync clusters: build nodes and a witness,
/// set up the real HA stack, inject faults, measure outages and lost writes.
#[derive(Debug, Parser)]
#[command(name = "lab", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file layered over the defaults (default: ./lab.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lab name (lab.name).
    #[arg(long, global = true, value_name = "NAME")]
    pub lab: Option<String>,
    /// State directory (lab.state_dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
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
    MakeAll {
        /// Optional: SSH public key(s) to authorize for root on every host
        /// (lab always authorizes its own key). An installation ISO is not
        /// accepted by the container backend.
        #[arg(value_name = "KEY.pub")]
        inputs: Vec<PathBuf>,
    },
    /// Show hosts, links, snapshots and the cluster.
    Status,
    /// Open a shell (or run a command) on a host.
    Ssh {
        host: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Watch the cluster (crm_mon) from a node.
    Mon {
        /// Node to watch from (default: the first node that runs).
        #[arg(long)]
        node: Option<String>,
    },
    /// Roll every host back to a snapshot and boot them.
    Rollback {
        #[arg(value_enum)]
        snapshot: SnapshotName,
        /// Also start the cluster and wait until it is healthy.
        #[arg(long)]
        start_cluster: bool,
    },
    /// Remove the lab: hosts, namespaces, mounts, processes, state (the image cache stays).
    Destroy,
    /// Run a heartbeat probe against a VIP and show every attempt live.
    Heartbeat {
        #[arg(value_enum)]
        role: ProbeRole,
        /// Attempts per second (default: heartbeat.rate_hz).
        #[arg(long)]
        rate: Option<f64>,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        seconds: Option<f64>,
    },
    /// Run a fault scenario: rollback, start, probe, fault, observe, restore, report.
    Scenario {
        /// A builtin scenario name (see `lab scenarios`) or a .toml file.
        name: String,
        #[command(flatten)]
        runs: RunOptions,
    },
    /// Run every builtin scenario (rolling back to `setup` before each) and
    /// write results.json, junit.xml, summary.md and report.html.
    Suite {
        /// Only these scenarios (names or .toml files); default: all builtin.
        #[arg(long = "only", value_name = "SCENARIO")]
        only: Vec<String>,
        #[command(flatten)]
        runs: RunOptions,
    },
    /// List the builtin scenarios.
    Scenarios,
    /// Compare a run's results.json with a baseline; exit 1 on a regression.
    Report {
        /// results.json to judge (default: the lab's most recent one).
        results: Option<PathBuf>,
        /// results.json of an earlier run to compare with.
        #[arg(long, value_name = "RESULTS.json")]
        baseline: PathBuf,
        /// Relative slack (default: report.regression_tolerance).
        #[arg(long)]
        tolerance: Option<f64>,
        /// Absolute slack in ms (default: report.regression_tolerance_ms).
        #[arg(long)]
        tolerance_ms: Option<f64>,
    },
    /// Medians of make-all, rollback, scenario wall time and failover over repeated real runs.
    Bench {
        /// Makes and runs per scenario.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Scenarios to time (default: kill-postgres-master, poweroff-master, link-down-master).
        #[arg(long = "only", value_name = "SCENARIO")]
        only: Vec<String>,
        /// Base seed of random choices.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// The host-side fence daemon (started by lab itself).
    #[command(hide = true)]
    Fenced,
}

/// How often and with which randomness scenarios run.
#[derive(Clone, Copy, Debug, Args)]
pub struct RunOptions {
    /// Runs per scenario (overrides the scenario's `repeat`).
    #[arg(long)]
    pub repeat: Option<u32>,
    /// Base seed of random choices; printed in every report, replays a run exactly.
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SnapshotName {
    Install,
    Setup,
}

impl SnapshotName {
    fn name(self) -> &'static str {
        match self {
            SnapshotName::Install => lifecycle::INSTALL,
            SnapshotName::Setup => lifecycle::SETUP,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProbeRole {
    Writer,
    Reader,
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("lab: {failure}");
            failure.exit_code()
        }
    }
}

fn load_config(global: &Global) -> Result<Config, Failure> {
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
    for raw in &global.overrides {
        overrides.push(Override::parse_flag(raw).map_err(Failure::usage)?);
    }
    let default_file = PathBuf::from("lab.toml");
    let file = global.config.clone().or_else(|| default_file.exists().then_some(default_file));
    Config::load(file.as_deref(), &overrides).map_err(Failure::usage)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = load_config(&cli.global)?;
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    init_logging(&paths, cli.global.verbose);
    tracing::info!(command = ?cli.command, "lab");
    match &cli.command {
        // These replace the process with ssh inside the lab network.
        Command::Ssh { host, command } => return exec_ssh(&config, &paths, host, command, false),
        Command::Mon { node } => {
            let node = node.clone().unwrap_or_default();
            return exec_ssh(&config, &paths, &node, &[], true);
        }
        Command::Fenced => return crate::fenced_main::run(&config, &paths),
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new().map_err(Failure::infra)?;
    // make-all (cleans up) and heartbeat (summarises) handle Ctrl-C
    // themselves; everything else just stops, and `lab destroy` or the next
    // rollback deals with what it left.
    let handles_interrupt = matches!(cli.command, Command::MakeAll { .. } | Command::Heartbeat { .. });
    runtime.block_on(async {
        if handles_interrupt {
            return dispatch(cli, config).await;
        }
        tokio::select! {
            result = dispatch(cli, config) => result,
            _ = tokio::signal::ctrl_c() => {
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
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer().with_writer(std::sync::Mutex::new(f)).with_ansi(false).with_filter(file_level)
    });
    let stderr_layer =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(stderr_level);
    let _ = tracing_subscriber::registry().with(file_layer).with(stderr_layer).try_init();
}

async fn dispatch(cli: Cli, config: Config) -> Result<ExitCode, Failure> {
    let json = cli.global.json;
    let progress = Progress::new(!json);
    match cli.command {
        Command::MakeAll { inputs } => make_all(config, progress, inputs, json).await,
        Command::Status => crate::status::show(config, json).await,
        Command::Rollback { snapshot, start_cluster } => {
            rollback(config, progress, snapshot, start_cluster, json).await
        }
        Command::Destroy => destroy(&config, json).await,
        Command::Heartbeat { role, rate, seconds } => crate::live::heartbeat(config, role, rate, seconds, json).await,
        Command::Scenario { name, runs } => {
            let scenario = Scenario::find(&name).map_err(Failure::usage)?;
            run_plan(config, progress, scenario.name.clone(), vec![scenario], runs, json).await
        }
        Command::Suite { only, runs } => {
            let scenarios = if only.is_empty() {
                Scenario::builtin().map_err(Failure::usage)?
            } else {
                only.iter().map(|n| Scenario::find(n)).collect::<Result<_, _>>().map_err(Failure::usage)?
            };
            run_plan(config, progress, "suite".into(), scenarios, runs, json).await
        }
        Command::Report { results, baseline, tolerance, tolerance_ms } => {
            let tolerance = crate::baseline::Tolerance {
                relative: tolerance.unwrap_or(config.report.regression_tolerance),
                absolute_ms: tolerance_ms.unwrap_or(config.report.regression_tolerance_ms),
            };
            report(&config, results, &baseline, &tolerance, json)
        }
        Command::Bench { repeat, only, seed } => {
            let names: Vec<String> = if only.is_empty() {
                crate::bench::DEFAULT_SCENARIOS.iter().map(|s| (*s).to_owned()).collect()
            } else {
                only
            };
            let scenarios =
                names.iter().map(|n| Scenario::find(n)).collect::<Result<_, _>>().map_err(Failure::usage)?;
            if repeat == 0 {
                return Err(Failure::Usage("--repeat must be at least 1".into()));
            }
            let seed = seed.unwrap_or_else(rand::random);
            let bench = crate::bench::run(config, progress, scenarios, repeat, seed).await?;
            if json {
                print_json(&bench)
            } else {
                print!("{}", bench.render())
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Scenarios => {
            for scenario in Scenario::builtin().map_err(Failure::usage)? {
                println!("{:<24} {}", scenario.name, scenario.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ssh { .. } | Command::Mon { .. } | Command::Fenced => Ok(ExitCode::SUCCESS),
    }
}

fn print_json(value: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

async fn make_all(config: Config, progress: Progress, inputs: Vec<PathBuf>, json: bool) -> Result<ExitCode, Failure> {
    if let Some(iso) = inputs.iter().find(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso"))) {
        return Err(Failure::Usage(format!(
            "{}: installing from an ISO needs a VM backend; the container backend builds its own Debian image (run `lab make-all` without the ISO)",
            iso.display()
        )));
    }
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    let input = MakeAllInput { authorized_keys: inputs };
    let work = lifecycle::make_all(config, progress, input);
    // Ctrl-C during make-all must not leave half a lab behind.
    let outcome = tokio::select! {
        result = work => result.map_err(Failure::from),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("lab: interrupted; removing the half-made lab");
            let _ = crate::teardown::destroy(&paths).await;
            Err(Failure::Interrupted)
        }
    };
    let (lab, timings) = outcome?;
    if json {
        print_json(&timings);
    } else {
        println!(
            "lab `{}` is ready: snapshots install and setup; hosts are powered off.\n\
             made in {:.0} s (image {:.0} s, hosts {:.1} s, boot {:.1} s, install {:.1} s, setup {:.0} s)\n\
             next: lab scenario kill-postgres-master   or   lab rollback setup --start-cluster",
            lab.topology.lab,
            timings.total_s,
            timings.image_s,
            timings.hosts_s,
            timings.boot_s,
            timings.install_s,
            timings.setup_s
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RollbackReport {
    snapshot: &'static str,
    rollback_s: f64,
    cluster_start_s: Option<f64>,
}

async fn rollback(
    config: Config,
    progress: Progress,
    snapshot: SnapshotName,
    start: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let lab = Lab::open(config, progress.clone())?;
    let step = progress.step(format!("roll back to `{}` and boot", snapshot.name()));
    let rollback_s = lab.rollback(snapshot.name()).await?.as_secs_f64();
    step.done();
    let mut cluster_start_s = None;
    if start {
        let step = progress.step("start the cluster and wait until healthy");
        let started = std::time::Instant::now();
        lab.stack().start().await.map_err(|e| Failure::from(lifecycle::LabError::from(e)))?;
        let state = lab
            .stack()
            .wait_healthy(Duration::from_secs(lab.config.timeouts.healthy_s), &step)
            .await
            .map_err(|e| Failure::from(lifecycle::LabError::from(e)))?;
        cluster_start_s = Some(started.elapsed().as_secs_f64());
        step.done();
        if !json {
            println!("cluster: {}", state.summary());
        }
    }
    if json {
        print_json(&RollbackReport { snapshot: snapshot.name(), rollback_s, cluster_start_s });
    } else {
        println!("rolled back to `{}` in {rollback_s:.1} s", snapshot.name());
    }
    Ok(ExitCode::SUCCESS)
}

async fn destroy(config: &Config, json: bool) -> Result<ExitCode, Failure> {
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    let removed = crate::teardown::destroy(&paths).await.map_err(Failure::infra)?;
    if json {
        print_json(&removed);
    } else {
        println!(
            "lab `{}` destroyed: {} processes, {} mounts, {} network namespaces{}",
            config.lab.name,
            removed.processes,
            removed.mounts,
            removed.namespaces,
            if removed.state { ", state directory" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_plan(
    config: Config,
    progress: Progress,
    label: String,
    scenarios: Vec<Scenario>,
    runs: RunOptions,
    json: bool,
) -> Result<ExitCode, Failure> {
    if runs.repeat == Some(0) {
        return Err(Failure::Usage("--repeat must be at least 1".into()));
    }
    let lab = Lab::open(config, progress)?;
    let seed = runs.seed.unwrap_or_else(rand::random);
    if !json {
        eprintln!("seed {seed} (replay with --seed {seed})");
    }
    let plan = crate::suite::Plan { label, scenarios, repeat: runs.repeat, seed };
    let print_run = |result: &crate::report::ScenarioResult| {
        if !json {
            println!("{}", result.render());
        }
    };
    let (dir, suite, _records) = crate::suite::run(&lab, &plan, print_run).await?;
    if json {
        print_json(&suite);
    } else {
        println!("results: {}", dir.display());
    }
    let failed = suite.runs.iter().filter(|r| !r.passed).count();
    if failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::Expectations(format!("{failed} of {} runs missed their expectations", suite.runs.len())))
    }
}

/// Compares `results` (or the newest results.json of the lab) with
/// `baseline`, rewrites the run's summary.md with the comparison, and
/// fails with exit 1 on a regression.
fn report(
    config: &Config,
    results: Option<PathBuf>,
    baseline: &std::path::Path,
    tolerance: &crate::baseline::Tolerance,
    json: bool,
) -> Result<ExitCode, Failure> {
    use crate::results::SuiteResults;
    let results = match results {
        Some(path) => path,
        None => newest_results(&LabPaths::new(&config.lab.state_dir, &config.lab.name).runs())?,
    };
    let current = SuiteResults::load(&results).map_err(Failure::Usage)?;
    let base = SuiteResults::load(baseline).map_err(Failure::Usage)?;
    let comparison = crate::baseline::compare(&base, &current, tolerance);
    if let Some(dir) = results.parent() {
        let summary = crate::render::markdown(&current, Some(&comparison));
        std::fs::write(dir.join("summary.md"), summary).map_err(Failure::infra)?;
    }
    if json {
        print_json(&comparison);
    } else {
        println!("{} against baseline {}", results.display(), baseline.display());
        print!("{}", crate::baseline::render(&comparison));
    }
    match comparison.regressions() {
        0 => Ok(ExitCode::SUCCESS),
        n => Err(Failure::Expectations(format!("{n} regression(s) against {}", baseline.display()))),
    }
}

/// The most recent `runs/*/results.json`.
fn newest_results(runs: &std::path::Path) -> Result<PathBuf, Failure> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(runs)
        .map(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path().join("results.json"))).filter(|p| p.is_file()).collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        Failure::Usage(format!("no results.json under {}; run `lab scenario` or `lab suite` first", runs.display()))
    })
}

/// Replaces this process with `ssh` to `host`, inside the lab network.
fn exec_ssh(
    config: &Config,
    paths: &LabPaths,
    host: &str,
    command: &[String],
    monitor: bool,
) -> Result<ExitCode, Failure> {
    use std::os::unix::process::CommandExt;
    let topology = crate::topology::Topology::load(&paths.manifest(), &config.lab.name).map_err(Failure::usage)?;
    let host = if host.is_empty() {
        // `lab mon` without --node: the first node where Pacemaker runs.
        topology
            .node_names()
            .into_iter()
            .find(|n| {
                crate::netns::pids_in(&paths.node_netns(n))
                    .iter()
                    .any(|pid| crate::netns::command_name(*pid) == "pacemakerd")
            })
            .ok_or_else(|| {
                Failure::Usage("Pacemaker runs on no node; try `lab rollback setup --start-cluster`".into())
            })?
    } else {
        host.to_owned()
    };
    if topology.host(&host).is_none() {
        return Err(Failure::Usage(format!("unknown host `{host}`; hosts: {}", topology.host_names().join(", "))));
    }
    let netns = std::fs::File::open(crate::netns::netns_path(&paths.netns()))
        .map_err(|e| Failure::Usage(format!("lab network is not up ({e}); try `lab rollback setup`")))?;
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(Failure::infra)?;
    let config_file = crate::identity::SshMaterial::new(&paths.ssh()).config();
    let mut ssh = std::process::Command::new("ssh");
    ssh.arg("-F").arg(config_file);
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if monitor {
        if interactive {
            ssh.arg("-t").arg(&host).arg("crm_mon -rfA");
        } else {
            ssh.arg(&host).arg("crm_mon -1 -rfA");
        }
    } else {
        ssh.arg(&host).args(command);
    }
    let error = ssh.exec();
    Err(Failure::Infrastructure(format!("cannot run ssh: {error}")))
}
