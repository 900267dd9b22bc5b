//! `results.json`: every run of one `lab scenario` or `lab suite`
//! invocation, versioned, so CI jobs can keep it as a baseline and compare
//! later runs against it.

use std::path::Path;

use heartbeat::Recording;
use serde::{Deserialize, Serialize};

use crate::config::BackendKind;
use crate::report::judge::ScenarioResult;

/// Version of the `results.json` layout; bumped on incompatible changes.
///
/// 2: faults, probes and lost writes by service (`fault.service`, the run's
/// `service`, `lost_writes` keyed by service); schema 1 files (PostgreSQL
/// and Redis as fixed fields) are read by upgrading them.
pub const SCHEMA: u32 = 2;

/// The results of one invocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteResults {
    pub schema: u32,
    /// `suite`, or the scenario's name for `lab scenario`.
    pub label: String,
    pub lab: String,
    pub backend: BackendKind,
    /// The stack profile the lab ran (files from before profiles: Tuchanka's).
    #[serde(default)]
    pub stack: crate::cluster::profile::ProfileName,
    /// The cluster of the lab the runs acted on (files from before labs
    /// held several: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    pub started_unix_ms: u128,
    /// Base seed; each run's own seed is in its result.
    pub seed: u64,
    pub runs: Vec<ScenarioResult>,
    /// Planned runs without a result: ended by an infrastructure error, or
    /// never run because the suite was interrupted. A suite with any is no
    /// pass, whatever the finished runs say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<Unfinished>,
    /// The suite was stopped (Ctrl-C) before its last run finished.
    #[serde(default)]
    pub interrupted: bool,
    /// The share of the suite these runs are (`--partition K/N`); none for
    /// a whole suite, or shares merged by `lab report --merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<crate::run::suite::Partition>,
}

/// A planned run that produced no result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfinished {
    pub scenario: String,
    pub iteration: u32,
    pub seed: u64,
    /// The infrastructure error that ended the run; none when it never
    /// ran to the end because the suite was interrupted.
    pub error: Option<String>,
}

impl Unfinished {
    /// `scenario#iteration`, as runs are named in reports.
    pub fn name(&self) -> String {
        format!("{}#{}", self.scenario, self.iteration)
    }

    /// Why there is no result, in a few words.
    pub fn reason(&self) -> String {
        match &self.error {
            Some(error) => format!("error: {error}"),
            None => "not run: the suite was interrupted".into(),
        }
    }
}

/// What a whole invocation says, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Interrupted: some planned runs never ran.
    Incomplete,
    /// Every run ran, but the infrastructure failed in some.
    Error,
    /// A run missed its expectations.
    Fail,
    Pass,
}

impl Verdict {
    /// The word reports put in their headline.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Incomplete => "INCOMPLETE",
            Verdict::Error => "ERROR",
            Verdict::Fail => "FAIL",
            Verdict::Pass => "PASS",
        }
    }

    /// The headline's mark.
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Incomplete => "⏸️",
            Verdict::Error => "⚠️",
            Verdict::Fail => "❌",
            Verdict::Pass => "✅",
        }
    }
}

/// The results.json of the newest finished run under `runs`: `latest`'s,
/// unless that run is still under way and has none yet.
pub fn newest_results(runs: &Path) -> Option<std::path::PathBuf> {
    let latest = runs.join("latest").join("results.json");
    if latest.is_file() {
        return Some(latest);
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("results.json")))
        .filter(|p| p.is_file())
        .collect();
    // Run directories are named after their start (YYYYMMDD-HHMMSS-...).
    found.sort();
    found.pop()
}

impl SuiteResults {
    /// Every planned run ran and met its expectations.
    pub fn passed(&self) -> bool {
        self.verdict() == Verdict::Pass
    }

    pub fn verdict(&self) -> Verdict {
        if self.interrupted || self.unfinished.iter().any(|u| u.error.is_none()) {
            Verdict::Incomplete
        } else if !self.unfinished.is_empty() {
            Verdict::Error
        } else if self.runs.iter().any(|r| !r.passed) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    }

    /// Runs that ended by an infrastructure error.
    pub fn errors(&self) -> usize {
        self.unfinished.iter().filter(|u| u.error.is_some()).count()
    }

    /// Planned runs that never ran.
    pub fn not_run(&self) -> usize {
        self.unfinished.len() - self.errors()
    }

    /// "2 passed, 1 failed", with errors and runs not run when there are any.
    pub fn counts(&self) -> String {
        let passed = self.runs.iter().filter(|r| r.passed).count();
        let mut text = format!("{passed} passed, {} failed", self.runs.len() - passed);
        if self.errors() > 0 {
            text.push_str(&format!(", {} error{}", self.errors(), if self.errors() == 1 { "" } else { "s" }));
        }
        if self.not_run() > 0 {
            text.push_str(&format!(", {} not run", self.not_run()));
        }
        text
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a `results.json` of this schema or of schema 1.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not a lab results.json: {e}"))?;
        match value.get("schema").and_then(serde_json::Value::as_u64) {
            Some(1) => upgrade_from_1(&mut value),
            Some(n) if n == u64::from(SCHEMA) => {}
            Some(n) => return Err(format!("results schema {n} is not {SCHEMA} (or 1); a newer lab wrote it")),
            None => return Err("not a lab results.json: no schema".into()),
        }
        serde_json::from_value(value).map_err(|e| format!("not a lab results.json: {e}"))
    }
}

/// Rewrites a schema 1 `results.json` as schema 2.
///
/// Schema 1 knew PostgreSQL and Redis as fixed fields: `lost_writes` and
/// `redis_lost_writes`, actions `kill-postgres`, `stop-postgres` and
/// `kill-redis`, targets `redis-master` and `redis-replica`. Its master
/// figures were always PostgreSQL's, so an upgraded run's `service` is
/// `postgres` whatever its fault was about.
fn upgrade_from_1(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    for run in value.get_mut("runs").and_then(Value::as_array_mut).into_iter().flatten() {
        let Some(run) = run.as_object_mut() else { continue };
        if let Some(fault) = run.get_mut("fault").and_then(Value::as_object_mut) {
            let (action, by_action) = match fault.get("action").and_then(Value::as_str) {
                Some("kill-postgres") => (Some("kill"), Some("postgres")),
                Some("stop-postgres") => (Some("stop"), Some("postgres")),
                Some("kill-redis") => (Some("kill"), Some("redis")),
                _ => (None, None),
            };
            let (target, by_target) = match fault.get("target").and_then(Value::as_str) {
                Some("redis-master") => (Some("master"), Some("redis")),
                Some("redis-replica") => (Some("replica"), Some("redis")),
                _ => (None, None),
            };
            if let Some(action) = action {
                fault.insert("action".into(), json!(action));
            }
            if let Some(target) = target {
                fault.insert("target".into(), json!(target));
            }
            if let Some(service) = by_target.or(by_action) {
                fault.insert("service".into(), json!(service));
            }
        }
        run.insert("service".into(), json!("postgres"));
        for probe in run.get_mut("probes").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(probe) = probe.as_object_mut() {
                probe.entry("service").or_insert(json!("postgres"));
            }
        }
        let mut lost = serde_json::Map::new();
        for (field, service) in [("lost_writes", "postgres"), ("redis_lost_writes", "redis")] {
            if let Some(check) = run.remove(field).filter(|v| !v.is_null()) {
                lost.insert(service.into(), check);
            }
        }
        run.insert("lost_writes".into(), Value::Object(lost));
    }
    value["schema"] = json!(SCHEMA);
}

/// One run's result and its probe recordings, as kept on disk.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub result: ScenarioResult,
    pub recordings: Vec<Recording>,
    /// What each host's console printed during the run, by host: a kernel
    /// panic or a boot after fencing is only seen there.
    pub consoles: Vec<(String, String)>,
    /// Each host's journal from a little before the fault to the end of the
    /// restore, by host: the cluster's own account of the failover.
    pub journals: Vec<(String, String)>,
}

impl RunRecord {
    /// A run's directory inside its suite's directory.
    pub fn dir_in(suite_dir: &Path, result: &ScenarioResult) -> std::path::PathBuf {
        suite_dir.join(Self::dir_name(result))
    }

    /// The name of a run's directory: `<scenario>-<iteration>`.
    fn dir_name(result: &ScenarioResult) -> String {
        format!("{}-{}", result.scenario, result.iteration)
    }

    /// Reads back what [`RunRecord::save`] wrote for `result` under
    /// `suite_dir`; a run whose probes or logs are missing (or from an
    /// older lab) comes back with what is there, so reports still render.
    pub fn load(suite_dir: &Path, result: &ScenarioResult) -> Self {
        let dir = Self::dir_in(suite_dir, result);
        let recordings = std::fs::read_to_string(dir.join("probes.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        RunRecord {
            result: result.clone(),
            recordings,
            consoles: read_logs(&dir.join(CONSOLES)),
            journals: read_logs(&dir.join(JOURNALS)),
        }
    }

    /// Where a host's log of this run lives, relative to its suite's
    /// directory (for links from the suite's report).
    pub fn log_link(result: &ScenarioResult, kind: &str, host: &str) -> String {
        format!("{}/{kind}/{host}.log", Self::dir_name(result))
    }

    /// Writes `result.json`, `probes.json`, `consoles/<host>.log` and
    /// `journals/<host>.log` into `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("result.json"), serde_json::to_string_pretty(&self.result).unwrap_or_default() + "\n")?;
        std::fs::write(dir.join("probes.json"), serde_json::to_string(&self.recordings).unwrap_or_default() + "\n")?;
        write_logs(&dir.join(CONSOLES), &self.consoles)?;
        write_logs(&dir.join(JOURNALS), &self.journals)
    }
}

/// The directories of a run's per-host logs.
pub const CONSOLES: &str = "consoles";
pub const JOURNALS: &str = "journals";

/// `<host>.log` files of `dir`, sorted by host; none when it is missing.
fn read_logs(dir: &Path) -> Vec<(String, String)> {
    let mut logs: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let host = e.path().file_stem()?.to_string_lossy().into_owned();
                    Some((host, std::fs::read_to_string(e.path()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

/// Writes each host's log to `dir/<host>.log`; no directory without logs.
fn write_logs(dir: &Path, logs: &[(String, String)]) -> std::io::Result<()> {
    if !logs.is_empty() {
        std::fs::create_dir_all(dir)?;
    }
    for (host, text) in logs {
        std::fs::write(dir.join(format!("{host}.log")), text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::services::ServiceName;
    use crate::run::scenario::{FaultAction, Target};

    #[test]
    fn the_newest_results_are_the_newest_finished_runs() {
        let runs = tempfile::tempdir().expect("tempdir");
        assert_eq!(newest_results(runs.path()), None, "no runs yet");
        for dir in ["20261201-100000-suite", "20261202-090000-suite", "20261202-100000-suite"] {
            std::fs::create_dir(runs.path().join(dir)).expect("run dir");
        }
        for finished in ["20261201-100000-suite", "20261202-090000-suite"] {
            std::fs::write(runs.path().join(finished).join("results.json"), "{}").expect("results");
        }
        // `latest` names the run under way, which has no results yet.
        std::os::unix::fs::symlink("20261202-100000-suite", runs.path().join("latest")).expect("latest");
        let newest = runs.path().join("20261202-090000-suite").join("results.json");
        assert_eq!(newest_results(runs.path()), Some(newest));
        std::fs::write(runs.path().join("20261202-100000-suite").join("results.json"), "{}").expect("results");
        assert_eq!(newest_results(runs.path()), Some(runs.path().join("latest").join("results.json")));
    }

    /// A schema 1 run of kill-redis-master as lab wrote it before services.
    const SCHEMA_1: &str = r#"{"schema": 1, "label": "suite", "lab": "t", "backend": "container",
        "started_unix_ms": 0, "seed": 3, "runs": [{
        "scenario": "kill-redis-master", "description": "d", "run_id": "r", "seed": 3, "iteration": 1,
        "lab": "t", "backend": "container", "started_unix_ms": 0,
        "fault": {"action": "kill-redis", "target": "redis-master"},
        "victim": "b", "fault_at_ms": 5000.0, "master_before": "a", "master_after": "a",
        "new_master_after_ms": null,
        "probes": [{"probe": "pg-writer", "role": "writer", "attempts": 10, "failed": 0, "outages": [],
                    "longest_outage_ms": 0.0, "recovered": true},
                   {"probe": "redis-writer", "role": "writer", "service": "redis", "attempts": 10, "failed": 3,
                    "outages": [], "longest_outage_ms": 700.0, "recovered": true}],
        "lost_writes": {"acknowledged": 10, "present": 10, "lost": []},
        "redis_lost_writes": {"acknowledged": 7, "present": 6, "lost": [4]},
        "fence_events": [],
        "timings": {"rollback_s": 1.0, "cluster_start_s": 1.0, "observe_s": 1.0, "restore_s": 1.0, "total_s": 4.0},
        "restore_error": null, "checks": [], "passed": true}]}"#;

    #[test]
    fn schema_1_files_are_read_with_their_services_named() {
        let results = SuiteResults::from_json(SCHEMA_1).expect("upgraded");
        assert_eq!(results.schema, SCHEMA);
        let run = &results.runs[0];
        assert_eq!((run.fault.action, run.fault.target), (FaultAction::Kill, Target::Master));
        assert_eq!(run.fault.service, Some(ServiceName::Redis));
        assert_eq!(run.service, ServiceName::Postgres, "schema 1 recorded PostgreSQL's master");
        let services: Vec<ServiceName> = run.probes.iter().map(|p| p.service).collect();
        assert_eq!(services, [ServiceName::Postgres, ServiceName::Redis]);
        assert_eq!(run.lost_writes[&ServiceName::Postgres].acknowledged, 10);
        assert_eq!(run.lost_writes[&ServiceName::Redis].lost, [4]);
    }

    fn suite(passed: &[bool], unfinished: &[Option<&str>], interrupted: bool) -> SuiteResults {
        let mut suite = SuiteResults::from_json(SCHEMA_1).expect("fixture");
        let run = suite.runs[0].clone();
        suite.runs = passed.iter().map(|p| ScenarioResult { passed: *p, ..run.clone() }).collect();
        suite.unfinished = unfinished
            .iter()
            .enumerate()
            .map(|(i, error)| Unfinished {
                scenario: "poweroff-master".into(),
                iteration: i as u32 + 1,
                seed: i as u64,
                error: error.map(str::to_owned),
            })
            .collect();
        suite.interrupted = interrupted;
        suite
    }

    #[test]
    fn a_suite_passes_only_when_every_planned_run_ran_and_passed() {
        assert_eq!(suite(&[true, true], &[], false).verdict(), Verdict::Pass);
        assert_eq!(suite(&[true, false], &[], false).verdict(), Verdict::Fail);
        let errored = suite(&[true], &[Some("ssh: connection refused")], false);
        assert_eq!((errored.verdict(), errored.passed()), (Verdict::Error, false));
        assert_eq!(errored.counts(), "1 passed, 0 failed, 1 error");
        let stopped = suite(&[true], &[None, None, Some("boom")], true);
        assert_eq!((stopped.verdict(), stopped.passed()), (Verdict::Incomplete, false));
        assert_eq!(stopped.counts(), "1 passed, 0 failed, 1 error, 2 not run");
        assert_eq!(stopped.unfinished[0].reason(), "not run: the suite was interrupted");
    }

    #[test]
    fn unfinished_runs_survive_a_round_trip() {
        let stopped = suite(&[true], &[Some("boom"), None], true);
        let back = SuiteResults::from_json(&serde_json::to_string(&stopped).expect("json")).expect("read");
        assert_eq!((back.unfinished, back.interrupted), (stopped.unfinished, true));
        let complete = serde_json::to_value(suite(&[true], &[], false)).expect("json");
        assert!(complete.get("unfinished").is_none(), "a complete suite's file is as before");
    }

    #[test]
    fn other_schemas_are_refused_by_number() {
        let newer = SCHEMA_1.replacen(r#""schema": 1"#, r#""schema": 9"#, 1);
        let error = SuiteResults::from_json(&newer).expect_err("newer");
        assert!(error.contains("results schema 9 is not 2"), "{error}");
        assert!(SuiteResults::from_json("{}").expect_err("no schema").contains("no schema"));
    }
}
