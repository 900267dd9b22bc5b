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
    pub started_unix_ms: u128,
    /// Base seed; each run's own seed is in its result.
    pub seed: u64,
    pub runs: Vec<ScenarioResult>,
}

impl SuiteResults {
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.passed)
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
}

impl RunRecord {
    /// Writes `result.json`, `probes.json` and `consoles/<host>.log` into `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("result.json"), serde_json::to_string_pretty(&self.result).unwrap_or_default() + "\n")?;
        std::fs::write(dir.join("probes.json"), serde_json::to_string(&self.recordings).unwrap_or_default() + "\n")?;
        if !self.consoles.is_empty() {
            std::fs::create_dir_all(dir.join("consoles"))?;
        }
        for (host, text) in &self.consoles {
            std::fs::write(dir.join("consoles").join(format!("{host}.log")), text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::services::ServiceName;
    use crate::run::scenario::{FaultAction, Target};

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

    #[test]
    fn other_schemas_are_refused_by_number() {
        let newer = SCHEMA_1.replacen(r#""schema": 1"#, r#""schema": 9"#, 1);
        let error = SuiteResults::from_json(&newer).expect_err("newer");
        assert!(error.contains("results schema 9 is not 2"), "{error}");
        assert!(SuiteResults::from_json("{}").expect_err("no schema").contains("no schema"));
    }
}
