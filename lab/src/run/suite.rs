//! Running several scenarios (or one, repeated) and keeping their results
//! together: one directory per invocation under the lab's `runs/`, with a
//! subdirectory per run (result.json, probes.json) and the collection's
//! results.json, junit.xml, summary.md and report.html.

use std::future::Future;
use std::path::PathBuf;

use crate::lifecycle::{Lab, LabError};
use crate::report::judge::{RunStart, ScenarioResult};
use crate::report::results::{RunRecord, SCHEMA, SuiteResults, Unfinished};
use crate::run::scenario::Scenario;

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `suite`, or the scenario's name.
    pub label: String,
    pub scenarios: Vec<Scenario>,
    /// Overrides each scenario's own `repeat`.
    pub repeat: Option<u32>,
    /// Base seed: run k (counting from 0 across the plan) uses `seed + k`,
    /// so the first run of `lab scenario X --seed S` replays any run whose
    /// seed was S.
    pub seed: u64,
    /// This machine's share of the runs, when a CI matrix spreads the
    /// suite over several (`--partition K/N`).
    pub partition: Option<Partition>,
    /// Runs after the first start from the cluster the previous run
    /// restored, when it is healthy, instead of rolling back (`--reuse`).
    pub reuse: bool,
}

impl Plan {
    /// Every run of this machine's share as (scenario, iteration, seed), in
    /// order. Seeds count across the whole plan, so a shard's runs are
    /// exactly those runs of the unshared suite.
    pub fn runs(&self) -> Vec<(&Scenario, u32, u64)> {
        let mut runs = Vec::new();
        for scenario in &self.scenarios {
            for iteration in 1..=self.repeat.unwrap_or(scenario.repeat) {
                let seed = self.seed.wrapping_add(runs.len() as u64);
                runs.push((scenario, iteration, seed));
            }
        }
        let Some(share) = self.partition else { return runs };
        runs.into_iter().enumerate().filter(|(k, _)| share.holds(*k)).map(|(_, run)| run).collect()
    }
}

/// A share of a suite's runs, `K/N`: of the runs in plan order, the K-th,
/// the (K+N)-th, and so on (cargo-nextest's `count:K/N`). The same plan
/// gives every machine the same shares, without any coordination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Partition {
    /// Which share, from 1.
    pub index: u32,
    /// Into how many shares the suite is split.
    pub count: u32,
}

impl Partition {
    /// Whether the run at `position` (from 0, in plan order) is this share's.
    pub fn holds(self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("`{text}` is no share: give K/N, this machine's share K of N, e.g. 2/4");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let (index, count): (u32, u32) =
            (index.trim().parse().map_err(|_| usage())?, count.trim().parse().map_err(|_| usage())?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("`{text}`: K must be 1 to N, and N at least 1"));
        }
        Ok(Partition { index, count })
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Runs the plan on `lab`; each scenario starts from the `setup`
/// snapshot. Results and reports are written after every run, so an
/// interrupted suite keeps what it measured; `on_run` sees each run's
/// result as soon as it is judged. A run that `interrupt` cuts short, and
/// every run after it, is recorded as not run; a run ended by an
/// infrastructure error is recorded as that run's error and the suite goes
/// on (the next run rolls back to `setup` anyway).
pub async fn run(
    lab: &Lab,
    plan: &Plan,
    interrupt: impl Future<Output = ()>,
    mut on_run: impl FnMut(&ScenarioResult),
) -> Result<(PathBuf, SuiteResults, Vec<RunRecord>), LabError> {
    let dir = lab.paths.new_run(&plan.label);
    std::fs::create_dir_all(&dir).map_err(|e| LabError::Results(format!("{}: {e}", dir.display())))?;
    point_latest_at(&dir);
    let suite = SuiteResults {
        schema: SCHEMA,
        label: plan.label.clone(),
        lab: lab.topology.lab.clone(),
        backend: lab.topology.backend,
        stack: lab.topology.stack,
        cluster: lab.topology.cluster_name.clone(),
        started_unix_ms: crate::run::runner::unix_ms(),
        seed: plan.seed,
        runs: Vec::new(),
        unfinished: Vec::new(),
        interrupted: false,
        partition: plan.partition,
    };
    let mut saved = 0;
    let after_each = |suite: &SuiteResults, records: &[RunRecord]| {
        for record in &records[saved..] {
            let run_dir = RunRecord::dir_in(&dir, &record.result);
            record.save(&run_dir).map_err(|e| LabError::Results(format!("{}: {e}", run_dir.display())))?;
            on_run(&record.result);
        }
        saved = records.len();
        write(&dir, suite, records)
    };
    let run_one = async |scenario: &Scenario, iteration, seed, start| {
        crate::run::runner::run(lab, scenario, seed, iteration, start).await
    };
    let (suite, records) = execute(plan, suite, run_one, interrupt, after_each).await?;
    Ok((dir, suite, records))
}

/// Runs every run of `plan` with `run_one`, collecting them into `suite`
/// and calling `after_each` whenever it changed; stops when `interrupt`
/// completes, with the rest recorded as not run.
async fn execute(
    plan: &Plan,
    mut suite: SuiteResults,
    mut run_one: impl AsyncFnMut(&Scenario, u32, u64, RunStart) -> Result<RunRecord, LabError>,
    interrupt: impl Future<Output = ()>,
    mut after_each: impl FnMut(&SuiteResults, &[RunRecord]) -> Result<(), LabError>,
) -> Result<(SuiteResults, Vec<RunRecord>), LabError> {
    let mut interrupt = std::pin::pin!(interrupt);
    let mut records = Vec::new();
    let runs = plan.runs();
    let total = runs.len();
    let unfinished = |(scenario, iteration, seed): &(&Scenario, u32, u64), error| Unfinished {
        scenario: scenario.name.clone(),
        iteration: *iteration,
        seed: *seed,
        error,
    };
    // Only a cluster the previous run restored to health may be reused.
    let mut restored = false;
    for (k, planned) in runs.iter().enumerate() {
        let (scenario, iteration, seed) = *planned;
        tracing::info!(scenario = %scenario.name, iteration, seed, "run {} of {total}", k + 1);
        let start = if plan.reuse && restored { RunStart::Reused } else { RunStart::Rollback };
        let outcome = tokio::select! {
            outcome = run_one(scenario, iteration, seed, start) => Some(outcome),
            () = &mut interrupt => None,
        };
        restored = matches!(&outcome, Some(Ok(record)) if record.result.restore_error.is_none());
        match outcome {
            Some(Ok(record)) => {
                suite.runs.push(record.result.clone());
                records.push(record);
            }
            Some(Err(error)) => {
                tracing::error!(%error, scenario = %scenario.name, iteration, "run ended by an error; going on");
                suite.unfinished.push(unfinished(planned, Some(error.to_string())));
            }
            None => {
                tracing::warn!(done = k, total, "suite interrupted");
                suite.interrupted = true;
                suite.unfinished.extend(runs[k..].iter().map(|planned| unfinished(planned, None)));
                after_each(&suite, &records)?;
                return Ok((suite, records));
            }
        }
        after_each(&suite, &records)?;
    }
    Ok((suite, records))
}

/// `runs/<lab>/latest` names the newest run directory, for scripts and
/// people alike (`lab report` without a path reads it too). Replaced
/// atomically; failing to make it is not worth failing a run for.
fn point_latest_at(dir: &std::path::Path) {
    let (Some(runs), Some(name)) = (dir.parent(), dir.file_name()) else { return };
    let staged = runs.join(".latest.new");
    let _ = std::fs::remove_file(&staged);
    let made = std::os::unix::fs::symlink(name, &staged).and_then(|()| std::fs::rename(&staged, runs.join("latest")));
    if let Err(e) = made {
        tracing::warn!(error = %e, dir = %runs.display(), "cannot point `latest` at the new run");
    }
}

fn write(dir: &std::path::Path, suite: &SuiteResults, records: &[RunRecord]) -> Result<(), LabError> {
    crate::report::render::write_all(dir, suite, records, None)
        .map_err(|e| LabError::Results(format!("{}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_count_up_across_scenarios_and_repeats() {
        let a = Scenario::find("kill-postgres-master").expect("builtin");
        let mut b = a.clone();
        b.name = "other".into();
        b.repeat = 2;
        let plan = Plan {
            label: "suite".into(),
            scenarios: vec![a, b],
            repeat: None,
            seed: 100,
            partition: None,
            reuse: false,
        };
        let runs: Vec<(String, u32, u64)> =
            plan.runs().into_iter().map(|(s, i, seed)| (s.name.clone(), i, seed)).collect();
        assert_eq!(runs, [("kill-postgres-master".into(), 1, 100), ("other".into(), 1, 101), ("other".into(), 2, 102)]);
        let plan = Plan { repeat: Some(3), ..plan };
        assert_eq!(plan.runs().len(), 6, "--repeat overrides every scenario's own");
    }

    #[test]
    fn shares_split_the_runs_without_overlap_and_keep_their_seeds() {
        let whole = plan(7);
        let all: Vec<u64> = whole.runs().into_iter().map(|(_, _, seed)| seed).collect();
        let mut joined = Vec::new();
        for index in 1..=3 {
            let share = Plan { partition: Some(Partition { index, count: 3 }), ..whole.clone() };
            let seeds: Vec<u64> = share.runs().into_iter().map(|(_, _, seed)| seed).collect();
            assert!(seeds.iter().all(|s| all.contains(s)), "a share's runs are the suite's runs");
            joined.extend(seeds);
        }
        assert_eq!(plan(7).partition, None);
        let first: Vec<u32> = Plan { partition: Some(Partition { index: 1, count: 3 }), ..whole.clone() }
            .runs()
            .into_iter()
            .map(|(_, iteration, _)| iteration)
            .collect();
        assert_eq!(first, [1, 4, 7], "round robin over the plan");
        joined.sort_unstable();
        assert_eq!(joined, all, "every run in exactly one share");
        let lonely = Plan { partition: Some(Partition { index: 5, count: 8 }), ..plan(3) };
        assert!(lonely.runs().is_empty(), "more shares than runs: some shares run nothing");
    }

    #[test]
    fn a_share_is_k_of_n() {
        assert_eq!("2/4".parse::<Partition>(), Ok(Partition { index: 2, count: 4 }));
        assert_eq!(Partition { index: 2, count: 4 }.to_string(), "2/4");
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/4"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        assert!("5/4".parse::<Partition>().expect_err("K > N").contains("K must be 1 to N"));
    }

    fn empty_suite() -> SuiteResults {
        SuiteResults { runs: Vec::new(), ..crate::report::render::fixtures::suite() }
    }

    /// A plan of `n` runs of kill-postgres-master.
    fn plan(n: u32) -> Plan {
        Plan {
            label: "suite".into(),
            scenarios: vec![Scenario::find("kill-postgres-master").expect("builtin")],
            repeat: Some(n),
            seed: 1,
            partition: None,
            reuse: false,
        }
    }

    /// A finished run of the fixture's first result, renamed as planned.
    fn record(scenario: &Scenario, iteration: u32, seed: u64) -> RunRecord {
        let mut result = crate::report::render::fixtures::suite().runs[0].clone();
        (result.scenario, result.iteration, result.seed) = (scenario.name.clone(), iteration, seed);
        RunRecord { result, recordings: Vec::new(), consoles: Vec::new(), journals: Vec::new() }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupted_suite_lists_the_runs_it_did_not_run() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut stop = Some(stop);
        let mut writes = Vec::new();
        let run_one = async |scenario: &Scenario, iteration, seed, _start| {
            if iteration == 2 {
                // Ctrl-C in the middle of the second run.
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
            Ok(record(scenario, iteration, seed))
        };
        let interrupt = async {
            let _ = stopped.await;
        };
        let after_each = |suite: &SuiteResults, _: &[RunRecord]| {
            writes.push(suite.verdict());
            Ok(())
        };
        let (suite, records) = execute(&plan(5), empty_suite(), run_one, interrupt, after_each).await.expect("suite");
        assert_eq!(records.len(), 1);
        assert!(suite.interrupted);
        let not_run: Vec<(u32, Option<String>)> =
            suite.unfinished.iter().map(|u| (u.iteration, u.error.clone())).collect();
        assert_eq!(not_run, [(2, None), (3, None), (4, None), (5, None)]);
        assert_eq!(suite.counts(), "1 passed, 0 failed, 4 not run");
        use crate::report::results::Verdict;
        assert_eq!(writes, [Verdict::Pass, Verdict::Incomplete], "reports rewritten after the run and at the stop");
    }

    #[tokio::test]
    async fn an_infrastructure_error_is_that_runs_error_and_the_suite_goes_on() {
        let run_one = async |scenario: &Scenario, iteration, seed, _start| {
            if iteration == 2 {
                return Err(LabError::Probe("no postgres Master to hit in the cluster".into()));
            }
            Ok(record(scenario, iteration, seed))
        };
        let (suite, records) =
            execute(&plan(3), empty_suite(), run_one, std::future::pending(), |_, _| Ok(())).await.expect("suite");
        assert_eq!(records.len(), 2, "runs 1 and 3");
        assert!(!suite.interrupted);
        assert_eq!(suite.unfinished.len(), 1);
        assert_eq!(suite.unfinished[0].iteration, 2);
        assert!(suite.unfinished[0].error.as_deref().is_some_and(|e| e.contains("no postgres Master")));
        assert_eq!(suite.verdict(), crate::report::results::Verdict::Error);
    }

    #[tokio::test]
    async fn with_reuse_a_run_starts_from_the_last_restored_cluster() {
        let mut starts = Vec::new();
        let run_one = async |scenario: &Scenario, iteration, seed, start| {
            starts.push(start);
            let mut record = record(scenario, iteration, seed);
            if iteration == 2 {
                record.result.restore_error = Some("pg_basebackup: could not connect".into());
            }
            Ok(record)
        };
        let reusing = Plan { reuse: true, ..plan(4) };
        execute(&reusing, empty_suite(), run_one, std::future::pending(), |_, _| Ok(())).await.expect("suite");
        use RunStart::{Reused, Rollback};
        assert_eq!(starts, [Rollback, Reused, Rollback, Reused], "never after a failed restore");
        let mut starts = Vec::new();
        let run_one = async |scenario: &Scenario, iteration, seed, start| {
            starts.push(start);
            Ok(record(scenario, iteration, seed))
        };
        execute(&plan(2), empty_suite(), run_one, std::future::pending(), |_, _| Ok(())).await.expect("suite");
        assert_eq!(starts, [Rollback, Rollback], "without --reuse every run rolls back");
    }

    #[test]
    fn latest_names_the_newest_run_directory() {
        let runs = tempfile::tempdir().expect("tempdir");
        for name in ["20261130-100000-suite", "20261130-110000-kill-postgres-master"] {
            let dir = runs.path().join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("results.json"), name).expect("write");
            point_latest_at(&dir);
            let latest = runs.path().join("latest");
            assert_eq!(std::fs::read_link(&latest).expect("link"), std::path::Path::new(name), "relative");
            assert_eq!(std::fs::read_to_string(latest.join("results.json")).expect("through the link"), name);
        }
    }
}
