//! Results of a scenario run: the facts measured, the expectations judged,
//! a table for people and JSON for machines.
//!
//! `results.json` has a `schema` version so CI tooling can rely on its shape;
//! `probes.json` beside it holds every probe attempt for later analysis.

use std::time::Duration;

use heartbeat::{AckCheck, Outage, Recording, Role};
use serde::{Deserialize, Serialize};

use crate::config::BackendKind;
use crate::fenced::FenceEvent;
use crate::probes::Service;
use crate::scenario::{Fault, MasterExpectation, Scenario};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunTimings {
    pub rollback_s: f64,
    pub cluster_start_s: f64,
    pub observe_s: f64,
    pub restore_s: f64,
    pub total_s: f64,
}

/// What one probe saw, relative to the fault.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub probe: String,
    pub role: Role,
    #[serde(default)]
    pub service: Service,
    pub attempts: usize,
    pub failed: usize,
    /// Outage windows that ended after the fault (or never ended).
    pub outages: Vec<Outage>,
    /// The longest of them, in milliseconds; None if never recovered.
    pub longest_outage_ms: Option<f64>,
    /// No outage after the fault was left open.
    pub recovered: bool,
}

impl ProbeSummary {
    pub fn from_recording(recording: &Recording, service: Service, fault_at: Duration) -> Self {
        let outages = heartbeat::outages_after(&recording.attempts, fault_at);
        let recovered = outages.iter().all(|o| o.end.is_some());
        let longest_outage_ms = if recovered {
            Some(outages.iter().filter_map(Outage::duration).max().unwrap_or_default().as_secs_f64() * 1000.0)
        } else {
            None
        };
        ProbeSummary {
            probe: recording.probe.clone(),
            role: recording.role,
            service,
            attempts: recording.attempts.len(),
            failed: recording.attempts.iter().filter(|a| !a.outcome.is_ok()).count(),
            outages,
            longest_outage_ms,
            recovered,
        }
    }
}

/// One expectation and how the run measured up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
}

/// The facts a run measured, before judging.
#[derive(Clone, Debug)]
pub struct RunFacts {
    pub run_id: String,
    /// Seed of the run's random choices (victim, timing): replays it exactly.
    pub seed: u64,
    /// Which of the scenario's repeated runs this is, from 1.
    pub iteration: u32,
    pub lab: String,
    pub backend: BackendKind,
    pub started_unix_ms: u128,
    pub victim: String,
    pub master_before: String,
    pub master_after: Option<String>,
    pub new_master_after: Option<Duration>,
    pub fault_at: Duration,
    pub recovered: bool,
    pub probes: Vec<ProbeSummary>,
    pub acks: Option<AckCheck>,
    pub redis_acks: Option<AckCheck>,
    pub fence_events: Vec<FenceEvent>,
    pub timings: RunTimings,
    /// Why the victim could not be brought back, if it could not.
    pub restore_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub description: String,
    pub run_id: String,
    pub seed: u64,
    pub iteration: u32,
    pub lab: String,
    pub backend: BackendKind,
    pub started_unix_ms: u128,
    pub fault: Fault,
    pub victim: String,
    pub fault_at_ms: f64,
    pub master_before: String,
    pub master_after: Option<String>,
    pub new_master_after_ms: Option<f64>,
    pub probes: Vec<ProbeSummary>,
    pub lost_writes: Option<AckCheck>,
    #[serde(default)]
    pub redis_lost_writes: Option<AckCheck>,
    pub fence_events: Vec<FenceEvent>,
    pub timings: RunTimings,
    pub restore_error: Option<String>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl ScenarioResult {
    /// Judges the facts against the scenario's expectations.
    pub fn judge(scenario: &Scenario, facts: RunFacts) -> Self {
        let mut checks = Vec::new();
        let expect = &scenario.expect;
        checks.push(Check {
            name: "service resumed".into(),
            expected: format!("within {} s", scenario.observe.timeout_s),
            actual: if facts.recovered { "yes".into() } else { "no".into() },
            passed: facts.recovered,
        });
        let limits = [
            (Service::Postgres, Role::Writer, expect.max_write_outage_ms, "write outage"),
            (Service::Postgres, Role::Reader, expect.max_read_outage_ms, "read outage"),
            (Service::Redis, Role::Writer, expect.max_redis_write_outage_ms, "redis write outage"),
            (Service::Redis, Role::Reader, expect.max_redis_read_outage_ms, "redis read outage"),
        ];
        for (service, role, limit, name) in limits {
            let probe = facts.probes.iter().find(|p| p.service == service && p.role == role);
            let (Some(limit), Some(probe)) = (limit, probe) else { continue };
            let (actual, passed) = match probe.longest_outage_ms {
                Some(outage) => (format!("{outage:.0} ms"), outage <= limit as f64),
                None => ("never recovered".into(), false),
            };
            checks.push(Check { name: name.into(), expected: format!("≤ {limit} ms"), actual, passed });
        }
        let acks = [
            ("lost acknowledged writes", &facts.acks, Some(expect.lost_writes)),
            ("lost acknowledged redis writes", &facts.redis_acks, expect.redis_lost_writes),
        ];
        for (name, acks, allowed) in acks {
            let (Some(acks), Some(allowed)) = (acks, allowed) else { continue };
            checks.push(Check {
                name: name.into(),
                expected: format!("≤ {allowed}"),
                actual: format!("{} of {}", acks.lost.len(), acks.acknowledged),
                passed: acks.lost.len() as u64 <= allowed,
            });
        }
        let moved = facts.master_after.as_deref().is_some_and(|m| m != facts.victim);
        let (expected, passed) = match expect.master {
            MasterExpectation::Other => (format!("not on {}", facts.victim), facts.new_master_after.is_some() && moved),
            MasterExpectation::Unchanged => (
                format!("on {}", facts.master_before),
                facts.master_after.as_deref() == Some(facts.master_before.as_str()),
            ),
            MasterExpectation::Same => {
                (format!("on {}", facts.victim), facts.master_after.as_deref() == Some(facts.victim.as_str()))
            }
            MasterExpectation::Any => ("anywhere".into(), facts.master_after.is_some()),
        };
        checks.push(Check {
            name: "master".into(),
            expected,
            actual: facts.master_after.clone().unwrap_or_else(|| "none".into()),
            passed,
        });
        checks.push(Check {
            name: "restored and healthy".into(),
            expected: "yes".into(),
            actual: facts.restore_error.clone().map_or_else(|| "yes".into(), |e| format!("no: {e}")),
            passed: facts.restore_error.is_none(),
        });
        let passed = checks.iter().all(|c| c.passed);
        ScenarioResult {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            run_id: facts.run_id,
            seed: facts.seed,
            iteration: facts.iteration,
            lab: facts.lab,
            backend: facts.backend,
            started_unix_ms: facts.started_unix_ms,
            fault: scenario.fault.clone(),
            victim: facts.victim,
            fault_at_ms: ms(facts.fault_at),
            master_before: facts.master_before,
            master_after: facts.master_after,
            new_master_after_ms: facts.new_master_after.map(ms),
            probes: facts.probes,
            lost_writes: facts.acks,
            redis_lost_writes: facts.redis_acks,
            fence_events: facts.fence_events,
            timings: facts.timings,
            restore_error: facts.restore_error,
            checks,
            passed,
        }
    }

    /// The table printed at the end of a run.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let opt_ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        out.push_str(&format!("{} — {}\n", self.scenario, self.description));
        out.push_str(&format!(
            "lab {} ({:?}), run {}\nvictim {} (master before: {}), fault at {:.1} s\n\n",
            self.lab,
            self.backend,
            self.run_id,
            self.victim,
            self.master_before,
            self.fault_at_ms / 1000.0
        ));
        out.push_str(&format!("{:<28} {:>12}\n", "measure", "value"));
        for p in &self.probes {
            let what = match (p.service, p.role) {
                (Service::Postgres, Role::Writer) => "write outage (ms)",
                (Service::Postgres, Role::Reader) => "read outage (ms)",
                (Service::Redis, Role::Writer) => "redis write outage (ms)",
                (Service::Redis, Role::Reader) => "redis read outage (ms)",
            };
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                what,
                p.longest_outage_ms.map_or("never ended".into(), |v| format!("{v:.0}"))
            ));
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                format!("  {} attempts / failed", p.probe),
                format!("{} / {}", p.attempts, p.failed)
            ));
        }
        out.push_str(&format!("{:<28} {:>12}\n", "time to new master (ms)", opt_ms(self.new_master_after_ms)));
        out.push_str(&format!("{:<28} {:>12}\n", "master after", self.master_after.as_deref().unwrap_or("none")));
        if let Some(acks) = &self.redis_lost_writes {
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                "lost acknowledged redis writes",
                format!("{} of {}", acks.lost.len(), acks.acknowledged)
            ));
        }
        if let Some(acks) = &self.lost_writes {
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                "lost acknowledged writes",
                format!("{} of {}", acks.lost.len(), acks.acknowledged)
            ));
        }
        for event in &self.fence_events {
            out.push_str(&format!("{:<28} {:>12}\n", format!("fenced ({})", event.action), event.node));
        }
        out.push_str(&format!(
            "{:<28} {:>12}\n\n",
            "rollback / start / total (s)",
            format!(
                "{:.1} / {:.1} / {:.0}",
                self.timings.rollback_s, self.timings.cluster_start_s, self.timings.total_s
            )
        ));
        for c in &self.checks {
            out.push_str(&format!(
                "{} {:<26} expected {:<18} got {}\n",
                if c.passed { "ok  " } else { "FAIL" },
                c.name,
                c.expected,
                c.actual
            ));
        }
        out.push_str(if self.passed { "PASSED\n" } else { "FAILED\n" });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat::{Attempt, Outcome};

    fn recording(role: Role, fail: std::ops::Range<u64>) -> Recording {
        let attempts = (0..100)
            .map(|i| Attempt {
                seq: i,
                started: Duration::from_millis(i * 100),
                latency: Duration::from_millis(5),
                outcome: if fail.contains(&i) { Outcome::Timeout } else { Outcome::Ok },
                observed_seq: None,
            })
            .collect();
        Recording { probe: format!("{role:?}"), role, run_id: "r".into(), attempts }
    }

    fn facts(writer_fail: std::ops::Range<u64>, lost: Vec<u64>, master_after: &str) -> RunFacts {
        let fault_at = Duration::from_millis(1000);
        RunFacts {
            run_id: "r".into(),
            seed: 7,
            iteration: 1,
            lab: "t".into(),
            backend: BackendKind::Container,
            started_unix_ms: 0,
            victim: "a".into(),
            master_before: "a".into(),
            master_after: Some(master_after.into()),
            new_master_after: Some(Duration::from_secs(3)),
            fault_at,
            recovered: true,
            probes: vec![
                ProbeSummary::from_recording(&recording(Role::Writer, writer_fail), Service::Postgres, fault_at),
                ProbeSummary::from_recording(&recording(Role::Reader, 12..20), Service::Postgres, fault_at),
            ],
            acks: Some(AckCheck { acknowledged: 90, present: 90 - lost.len() as u64, lost }),
            redis_acks: None,
            fence_events: Vec::new(),
            timings: RunTimings::default(),
            restore_error: None,
        }
    }

    /// The builtin scenario with a 5 s write-outage limit.
    fn scenario() -> Scenario {
        let mut s = Scenario::find("kill-postgres-master").expect("builtin");
        s.expect.max_write_outage_ms = Some(5000);
        s
    }

    #[test]
    fn a_clean_failover_passes() {
        let result = ScenarioResult::judge(&scenario(), facts(10..40, vec![], "b"));
        assert!(result.passed, "{}", result.render());
        // Attempts 10..40 failed: from 1.0 s to the completion of attempt 40 at 4.005 s.
        assert_eq!(result.probes[0].longest_outage_ms.map(|v| v.round()), Some(3005.0));
        assert!(result.render().contains("PASSED"));
    }

    #[test]
    fn a_lost_write_fails_the_run() {
        let result = ScenarioResult::judge(&scenario(), facts(10..40, vec![17], "b"));
        assert!(!result.passed);
        let failed: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["lost acknowledged writes"]);
    }

    #[test]
    fn too_long_an_outage_and_a_master_that_stayed_fail() {
        let result = ScenarioResult::judge(&scenario(), facts(10..99, vec![], "a"));
        let failed: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["write outage", "master"]);
        assert!(result.render().contains("FAIL write outage"), "{}", result.render());
    }

    #[test]
    fn a_probe_that_never_recovered_fails() {
        let result = ScenarioResult::judge(&scenario(), facts(10..100, vec![], "b"));
        assert_eq!(result.probes[0].longest_outage_ms, None);
        assert!(!result.passed);
    }

    #[test]
    fn result_json_names_scenario_and_fault() {
        let result = ScenarioResult::judge(&scenario(), facts(10..40, vec![], "b"));
        let json: serde_json::Value = serde_json::to_value(&result).expect("json");
        assert_eq!(json["scenario"], "kill-postgres-master");
        assert_eq!(json["fault"]["action"], "kill-postgres");
    }
}
