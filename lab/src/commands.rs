//! What each command does, once the command line is parsed and the
//! configuration loaded: thin glue between the library and the terminal
//! (tables for people, `--json` for machines).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{RunOptions, SnapshotAction};
use crate::config::Config;
use crate::exit::Failure;
use crate::lifecycle::{self, Lab, MakeAllInput};
use crate::paths::LabPaths;
use crate::progress::Progress;
use crate::run::scenario::Scenario;

pub(crate) fn print_json(value: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

pub(crate) async fn make_all(
    config: Config,
    progress: Progress,
    inputs: Vec<PathBuf>,
    (keep_failed, force): (bool, bool),
    json: bool,
) -> Result<ExitCode, Failure> {
    let (isos, keys): (Vec<PathBuf>, Vec<PathBuf>) =
        inputs.into_iter().partition(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("iso")));
    if isos.len() > 1 {
        return Err(Failure::Usage(format!("give one installation ISO, not {}", isos.len())));
    }
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    if !force && lifecycle::lab_exists(&paths) {
        return Err(Failure::Usage(format!(
            "lab `{}` exists; `lab make-all --force` replaces it, `lab destroy` removes it (or pick another name \
             with --lab)",
            config.lab.name
        )));
    }
    let input = MakeAllInput { authorized_keys: keys, installation_iso: isos.into_iter().next(), keep_failed };
    let interrupted = crate::interrupt::interrupted();
    let Some(outcome) = lifecycle::make_all_unless_interrupted(config, progress, input, interrupted).await else {
        return Err(Failure::Interrupted);
    };
    let (lab, timings) = outcome.map_err(Failure::from)?;
    // A lab of several clusters acts on one at a time: the first, to begin with.
    let cluster = match lab.topology.cluster_names().as_slice() {
        [_] => String::new(),
        names => format!(" --cluster {}", names.first().map(String::as_str).unwrap_or_default()),
    };
    if json {
        print_json(&timings);
    } else {
        println!(
            "lab `{}` is ready: snapshots install and setup; hosts are {}.\n\
             made in {:.0} s (image {:.0} s, hosts {:.1} s, boot {:.1} s, install {:.1} s, setup {:.0} s)\n\
             next: lab scenario {}{cluster}   or   lab rollback setup --start-cluster{cluster}",
            lab.topology.lab,
            if crate::backend::NodeBackend::capabilities(&lab.backend).live_snapshots {
                "running, and so is the cluster in `setup`"
            } else {
                "powered off"
            },
            timings.total_s,
            timings.image_s,
            timings.hosts_s,
            timings.boot_s,
            timings.install_s,
            timings.setup_s,
            lab.topology.stack.profile().first_scenario,
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct RollbackReport {
    snapshot: String,
    rollback_s: f64,
    cluster_start_s: Option<f64>,
}

pub(crate) async fn rollback(
    config: Config,
    progress: Progress,
    snapshot: String,
    start: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let lab = Lab::open_cluster(config, progress.clone())?;
    let step = progress.step(format!("roll back to `{snapshot}` and boot"));
    let rollback_s = lab.rollback(&snapshot).await?.as_secs_f64();
    step.done();
    let mut cluster_start_s = None;
    if start {
        let step = progress.step("start the cluster and wait until healthy");
        let started = std::time::Instant::now();
        lab.stack().start().await.map_err(|e| Failure::from(lifecycle::LabError::from(e)))?;
        let state = lab
            .stack()
            .wait_healthy(Duration::from_secs(lab.config.timeouts.healthy_s), &|detail| step.detail(detail))
            .await
            .map_err(|e| Failure::from(lifecycle::LabError::from(e)))?;
        cluster_start_s = Some(started.elapsed().as_secs_f64());
        step.done();
        if !json {
            println!("cluster: {}", state.summary(lab.stack().services()));
        }
    }
    if json {
        print_json(&RollbackReport { snapshot, rollback_s, cluster_start_s });
    } else {
        println!("rolled back to `{snapshot}` in {rollback_s:.1} s");
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab snapshot list`: read-only, the lab must exist.
pub(crate) fn list_snapshots(config: &Config, json: bool) -> Result<ExitCode, Failure> {
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    crate::topology::Topology::load(&paths.manifest(), &config.lab.name).map_err(Failure::usage)?;
    let snapshots = crate::snapshot::list(&paths);
    if json {
        print_json(&snapshots);
    } else {
        print!("{}", crate::snapshot::render(&snapshots));
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab snapshot save|delete` (`list` is [`list_snapshots`]).
pub(crate) async fn snapshot(
    config: Config,
    progress: Progress,
    action: SnapshotAction,
    json: bool,
) -> Result<ExitCode, Failure> {
    match action {
        SnapshotAction::List => return list_snapshots(&config, json),
        // Names and refusals were checked before the lab was locked.
        SnapshotAction::Save { name, .. } => {
            let lab = Lab::open(config, progress.clone())?;
            let step = progress.step(format!("save snapshot `{name}` of every host"));
            let saved = crate::snapshot::save(&lab, &name).await?;
            step.done();
            if json {
                print_json(&saved);
            } else {
                println!("{}", saved.describe());
            }
        }
        SnapshotAction::Delete { name } => {
            let lab = Lab::open(config, progress)?;
            crate::snapshot::delete(&lab, &name).await?;
            if json {
                print_json(&serde_json::json!({ "deleted": name }));
            } else {
                println!("snapshot `{name}` deleted");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn destroy(config: &Config, json: bool) -> Result<ExitCode, Failure> {
    let paths = LabPaths::new(&config.lab.state_dir, &config.lab.name);
    let removed = crate::teardown::destroy(&paths).await.map_err(Failure::infra)?;
    if json {
        print_json(&removed);
    } else {
        println!(
            "lab `{}` destroyed: {}{} processes, {} mounts, {} network namespaces{}{}{}",
            config.lab.name,
            if removed.vms > 0 { format!("{} VirtualBox VMs, ", removed.vms) } else { String::new() },
            removed.processes,
            removed.mounts,
            removed.namespaces,
            if removed.cgroups > 0 { format!(", control groups of {} nodes", removed.cgroups) } else { String::new() },
            if removed.partial_images > 0 {
                format!(", {} interrupted image builds", removed.partial_images)
            } else {
                String::new()
            },
            if removed.state { ", state directory" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn run_plan(
    config: Config,
    progress: Progress,
    label: String,
    scenarios: Vec<Scenario>,
    runs: RunOptions,
    json: bool,
) -> Result<ExitCode, Failure> {
    if let (Some(share), None) = (runs.partition, runs.seed) {
        return Err(Failure::Usage(format!(
            "--partition {share} needs --seed: every share must be cut from the same plan, \
             so give each machine the same seed (e.g. the CI pipeline's number)"
        )));
    }
    let lab = Lab::open_cluster(config, progress)?;
    let capabilities = crate::backend::NodeBackend::capabilities(&lab.backend);
    let stack = lab.topology.stack.profile();
    let (scenarios, refused): (Vec<Scenario>, Vec<Scenario>) =
        scenarios.into_iter().partition(|s| s.unsupported_by(capabilities, stack).is_none());
    for scenario in &refused {
        let why = scenario.unsupported_by(capabilities, stack).unwrap_or_default();
        if scenarios.is_empty() {
            return Err(Failure::Usage(why));
        }
        tracing::warn!("skipped: {why}");
        if !json {
            eprintln!("skipped: {why}");
        }
    }
    let seed = runs.seed.unwrap_or_else(rand::random);
    if !json {
        eprintln!("seed {seed} (replay with --seed {seed})");
    }
    let plan = crate::run::suite::Plan {
        label,
        scenarios,
        repeat: runs.repeat,
        seed,
        partition: runs.partition,
        reuse: runs.reuse,
    };
    let print_run = |result: &crate::report::judge::ScenarioResult| {
        if !json {
            println!("{}", result.render());
        }
    };
    // Ctrl-C or SIGTERM ends the run in progress; the suite's reports then say what did not run.
    let interrupt = async {
        crate::interrupt::interrupted().await;
    };
    let (dir, suite, _records) = crate::run::suite::run(&lab, &plan, interrupt, print_run).await?;
    if json {
        // results.json's fields, and where the reports are.
        let mut value = serde_json::to_value(&suite).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("run_dir".into(), serde_json::json!(dir));
        }
        print_json(&value);
    } else {
        for unfinished in &suite.unfinished {
            println!("{}: {}", unfinished.name(), unfinished.reason());
        }
        println!("{} {}: {}", suite.verdict().mark(), suite.verdict().word(), suite.counts());
        println!("results: {}", dir.display());
    }
    suite_exit(&suite)
}

/// `lab sweep`: runs every point, then writes sweep.json, sweep.md and
/// sweep.svg in a directory of their own under the lab's runs.
pub(crate) async fn sweep(
    config: &Config,
    progress: Progress,
    plan: &crate::run::sweep::Plan,
    points: Vec<(crate::run::sweep::Point, Config)>,
    json: bool,
) -> Result<ExitCode, Failure> {
    if !json {
        eprintln!("seed {} (replay with --seed {}); {} points", plan.seed, plan.seed, points.len());
    }
    let sweep = crate::run::sweep::run(plan, points, progress, crate::interrupt::interrupted).await?;
    let dir = LabPaths::new(&config.lab.state_dir, &config.lab.name).new_run(&format!("sweep-{}", sweep.scenario));
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(Failure::infra);
    std::fs::create_dir_all(&dir).map_err(Failure::infra)?;
    write("sweep.json", serde_json::to_string_pretty(&sweep).unwrap_or_default())?;
    write("sweep.md", sweep.markdown())?;
    write("sweep.svg", crate::report::render::sweep::sweep_svg(&sweep))?;
    if json {
        let mut value = serde_json::to_value(&sweep).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("sweep_dir".into(), serde_json::json!(dir));
        }
        print_json(&value);
    } else {
        print!("{}", sweep.markdown());
        println!("sweep: {}", dir.display());
    }
    if sweep.interrupted {
        return Err(Failure::Interrupted);
    }
    match sweep.runs() - sweep.passed() {
        0 => Ok(ExitCode::SUCCESS),
        failed => Err(Failure::Expectations(format!("{failed} of {} runs missed their expectations", sweep.runs()))),
    }
}

/// The exit code of a suite: interrupted 130, an infrastructure error in
/// any run 3, a missed expectation 1.
fn suite_exit(suite: &crate::report::results::SuiteResults) -> Result<ExitCode, Failure> {
    use crate::report::results::Verdict;
    let failed = suite.runs.iter().filter(|r| !r.passed).count();
    match suite.verdict() {
        Verdict::Incomplete => Err(Failure::Interrupted),
        Verdict::Error => {
            let first = suite.unfinished.iter().find_map(|u| u.error.as_deref()).unwrap_or_default();
            Err(Failure::Infrastructure(format!(
                "{} of {} runs ended by an error (first: {first})",
                suite.errors(),
                suite.runs.len() + suite.unfinished.len()
            )))
        }
        Verdict::Fail => {
            Err(Failure::Expectations(format!("{failed} of {} runs missed their expectations", suite.runs.len())))
        }
        Verdict::Pass => Ok(ExitCode::SUCCESS),
    }
}

/// Compares `results` (or the newest results.json of the lab) with
/// `baseline`, rewrites the run's summary.md with the comparison, and
/// fails with exit 1 on a regression.
pub(crate) fn report(
    config: &Config,
    results: Option<PathBuf>,
    baseline: Option<&std::path::Path>,
    tolerance: &crate::report::baseline::Tolerance,
    allow_mismatch: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    use crate::report::results::SuiteResults;
    let results = match results {
        Some(path) => path,
        None => {
            let runs = LabPaths::new(&config.lab.state_dir, &config.lab.name).runs();
            crate::report::results::newest_results(&runs).ok_or_else(|| {
                Failure::Usage(format!(
                    "no results.json under {}; run `lab scenario` or `lab suite` first",
                    runs.display()
                ))
            })?
        }
    };
    let current = SuiteResults::load(&results).map_err(Failure::Usage)?;
    let Some(baseline) = baseline else {
        return rerender(&results, &current, json);
    };
    let base = SuiteResults::load(baseline).map_err(Failure::Usage)?;
    if let Some(why) = crate::report::baseline::mismatch(&base, &current).filter(|_| !allow_mismatch) {
        return Err(Failure::Usage(format!("{why}: they measure different things (--allow-mismatch compares anyway)")));
    }
    let comparison = crate::report::baseline::compare(&base, &current, tolerance);
    if let Some(dir) = results.parent() {
        let summary = crate::report::render::markdown(&current, Some(&comparison));
        std::fs::write(dir.join("summary.md"), summary).map_err(Failure::infra)?;
    }
    if json {
        print_json(&comparison);
    } else {
        println!("{} against baseline {}", results.display(), baseline.display());
        print!("{}", crate::report::baseline::render(&comparison));
    }
    match comparison.regressions() {
        0 => Ok(ExitCode::SUCCESS),
        n => Err(Failure::Expectations(format!("{n} regression(s) against {}", baseline.display()))),
    }
}

/// Joins the shares of one suite into `out` (a new directory): the whole
/// suite's results.json, each share's run directories, and the reports;
/// the merged results.json's path, which `lab report` then judges.
pub(crate) fn merge_shares(shares: &[PathBuf], out: &std::path::Path, json: bool) -> Result<PathBuf, Failure> {
    use crate::report::results::{RunRecord, SuiteResults};
    let mut read = Vec::new();
    for share in shares {
        let path = if share.is_dir() { share.join("results.json") } else { share.clone() };
        read.push((path.display().to_string(), SuiteResults::load(&path).map_err(Failure::Usage)?));
    }
    let whole = crate::report::merge::merge(&read).map_err(Failure::Usage)?;
    if out.join("results.json").exists() {
        return Err(Failure::Usage(format!("{} already holds results: give --out a new directory", out.display())));
    }
    let cannot = |e: std::io::Error| Failure::Infrastructure(format!("cannot write into {}: {e}", out.display()));
    for (path, share) in &read {
        let dir = std::path::Path::new(path).parent().unwrap_or(std::path::Path::new("."));
        for result in &share.runs {
            RunRecord::load(dir, result).save(&RunRecord::dir_in(out, result)).map_err(cannot)?;
        }
    }
    // results.json, and the reports a comparison with a baseline would not write.
    let records: Vec<_> = whole.runs.iter().map(|r| RunRecord::load(out, r)).collect();
    crate::report::render::write_all(out, &whole, &records, None).map_err(cannot)?;
    let results = out.join("results.json");
    if !json {
        eprintln!("{} shares merged into {}", read.len(), results.display());
    }
    Ok(results)
}

/// Writes a run directory's reports anew from its results.json and its
/// runs' records (after a lab upgrade changed the rendering, or when the
/// reports were lost); the exit code is the suite's verdict, as at the end
/// of the suite itself.
fn rerender(
    results: &std::path::Path,
    suite: &crate::report::results::SuiteResults,
    json: bool,
) -> Result<ExitCode, Failure> {
    let dir = results.parent().unwrap_or(std::path::Path::new("."));
    let records: Vec<_> = suite.runs.iter().map(|r| crate::report::results::RunRecord::load(dir, r)).collect();
    crate::report::render::write_all(dir, suite, &records, None)
        .map_err(|e| Failure::Infrastructure(format!("cannot write the reports into {}: {e}", dir.display())))?;
    if json {
        print_json(&serde_json::json!({ "run_dir": dir, "verdict": suite.verdict().word() }));
    } else {
        println!("{}: results.json, junit.xml, summary.md, report.html written anew", dir.display());
        println!("{} {}: {}", suite.verdict().mark(), suite.verdict().word(), suite.counts());
    }
    suite_exit(suite)
}

/// Replaces this process with `ssh` to `host`, inside the lab network.
pub(crate) fn exec_ssh(
    config: &Config,
    paths: &LabPaths,
    host: &str,
    command: &[String],
    monitor: bool,
) -> Result<ExitCode, Failure> {
    use std::os::unix::process::CommandExt;
    let topology = crate::topology::Topology::load(&paths.manifest(), &config.lab.name).map_err(Failure::usage)?;
    if !host.is_empty() && topology.host(host).is_none() {
        return Err(Failure::Usage(format!("unknown host `{host}`; hosts: {}", topology.host_names().join(", "))));
    }
    // `lab mon` without --node: the first node of the cluster where Pacemaker runs.
    let cluster_nodes = match host.is_empty() {
        true => topology.cluster(&config.topology.cluster).map_err(Failure::usage)?.node_names(),
        false => Vec::new(),
    };
    let netns = std::fs::File::open(crate::netns::lab_namespace(paths, topology.backend))
        .map_err(|e| Failure::Usage(format!("lab network is not up ({e}); try `lab rollback setup`")))?;
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(Failure::infra)?;
    let config_file = crate::install::identity::SshMaterial::new(&paths.ssh()).config();
    let host = if host.is_empty() {
        node_running_pacemaker(&cluster_nodes, &config_file).ok_or_else(|| {
            Failure::Usage("Pacemaker runs on no node; try `lab rollback setup --start-cluster`".into())
        })?
    } else {
        host.to_owned()
    };
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

/// The first of `nodes` where `pacemakerd` runs, asked over ssh (from inside
/// the lab network): the same for containers and VMs, whose processes the
/// host cannot see.
fn node_running_pacemaker(nodes: &[String], ssh_config: &std::path::Path) -> Option<String> {
    nodes
        .iter()
        .find(|node| {
            std::process::Command::new("ssh")
                .arg("-F")
                .arg(ssh_config)
                .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", node.as_str(), "pidof", "pacemakerd"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        })
        .cloned()
}
