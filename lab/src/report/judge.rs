//! Results of a scenario run: the facts measured, the expectations judged,
//! a table for people and JSON for machines.
//!
//! `results.json` has a `schema` version so CI tooling can rely on its shape;
//! `probes.json` beside it holds every probe attempt for later analysis.

use std::collections::BTreeMap;
use std::time::Duration;

use heartbeat::{AckCheck, Outage, Recording, Role};
use serde::{Deserialize, Serialize};

use crate::cluster::services::ServiceName;
use crate::config::BackendKind;
use crate::fenced::FenceEvent;
use crate::report::phases::FailoverPhases;
use crate::report::split_brain::SplitBrain;
use crate::run::scenario::{Fault, MasterExpectation, Scenario};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunTimings {
    /// How the run got its healthy cluster (results from before reuse:
    /// a rollback).
    #[serde(default)]
    pub start: RunStart,
    pub rollback_s: f64,
    pub cluster_start_s: f64,
    pub observe_s: f64,
    pub restore_s: f64,
    pub total_s: f64,
}

/// How a run got the healthy cluster it faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStart {
    /// Rolled back to `setup` and started: every run alike.
    #[default]
    Rollback,
    /// The previous run's cluster, restored and healthy (`--reuse`).
    Reused,
}

/// Where the cluster had the fault's service at one of the runner's polls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementSample {
    /// When the poll answered, on the probes' clock, in milliseconds.
    pub at_ms: f64,
    /// The node where the service was master, if any.
    pub master: Option<String>,
    /// The node running its master VIP, if any.
    pub vip: Option<String>,
}

/// What one probe saw, relative to the fault.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub probe: String,
    pub role: Role,
    pub service: ServiceName,
    pub attempts: usize,
    pub failed: usize,
    /// Outage windows that ended after the fault (or never ended).
    pub outages: Vec<Outage>,
    /// The longest of them, in milliseconds; None if never recovered.
    pub longest_outage_ms: Option<f64>,
    /// How far the longest outage's true length can be from
    /// `longest_outage_ms` (its two edges' uncertainty), in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_outage_uncertainty_ms: Option<f64>,
    /// All its outages after the fault added up, in milliseconds; None if
    /// one never ended. A service that flaps (a starved node answering now
    /// and then) is down far longer than its longest outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_ms: Option<f64>,
    /// No outage after the fault was left open.
    pub recovered: bool,
}

impl ProbeSummary {
    /// The longest outage in ms with how far its true length can be from
    /// it: `1720 ± 1008`; `None` if it never ended.
    pub fn longest_outage(&self) -> Option<String> {
        let ms = self.longest_outage_ms?;
        Some(match self.longest_outage_uncertainty_ms {
            Some(plus_minus) if ms > 0.0 => format!("{ms:.0} ± {plus_minus:.0}"),
            _ => format!("{ms:.0}"),
        })
    }

    pub fn from_recording(recording: &Recording, service: ServiceName, fault_at: Duration) -> Self {
        let outages = heartbeat::outages_after(&recording.attempts, fault_at);
        let recovered = outages.iter().all(|o| o.end.is_some());
        // Recovered: every outage has an end, and the longest is the one measured.
        let longest = recovered.then(|| outages.iter().max_by_key(|o| o.duration())).flatten();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let longest_outage_ms = recovered.then(|| longest.and_then(Outage::duration).map_or(0.0, ms));
        let longest_outage_uncertainty_ms = longest.and_then(Outage::duration_uncertainty).map(ms);
        let downtime_ms = recovered.then(|| outages.iter().filter_map(Outage::duration).map(ms).sum());
        ProbeSummary {
            probe: recording.probe.clone(),
            role: recording.role,
            service,
            attempts: recording.attempts.len(),
            failed: recording.attempts.iter().filter(|a| !a.outcome.is_ok()).count(),
            outages,
            longest_outage_ms,
            longest_outage_uncertainty_ms,
            downtime_ms,
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
    /// The service the fault was about: the master figures are its.
    pub service: ServiceName,
    pub victim: String,
    pub master_before: String,
    pub master_after: Option<String>,
    pub new_master_after: Option<Duration>,
    pub fault_at: Duration,
    pub recovered: bool,
    pub probes: Vec<ProbeSummary>,
    /// Each writer's check for lost acknowledged writes, by service.
    pub acks: BTreeMap<ServiceName, AckCheck>,
    pub fence_events: Vec<FenceEvent>,
    pub timings: RunTimings,
    /// Why the victim could not be brought back, if it could not.
    pub restore_error: Option<String>,
    /// The failover's phases, from the nodes' journals.
    pub phases: Option<FailoverPhases>,
    /// The wall-clock time of the probes' clock origin, ms since the epoch.
    pub probe_clock_unix_ms: u128,
    /// Where the service's master and VIP were, poll by poll.
    pub placements: Vec<PlacementSample>,
    /// The scenario's `[[then]]` steps as they were injected.
    pub then: Vec<FiredFault>,
    /// When the first fault was lifted (its `lift_after_s`), if it was.
    pub lifted_at: Option<Duration>,
    /// When observing ended, on the probes' clock: what happened later
    /// (during the restore) was not measured.
    pub observed_until: Duration,
    /// The DRBD split brains the nodes logged from the fault on, if the
    /// stack keeps its data on DRBD (`None` otherwise).
    pub split_brains: Option<Vec<SplitBrain>>,
}

/// A fault that followed the first (a `[[then]]` step), as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FiredFault {
    pub fault: Fault,
    /// The service it was about.
    pub service: ServiceName,
    pub victim: String,
    /// When, in ms on the probes' clock (as `fault_at_ms`).
    pub at_ms: f64,
    /// When it was lifted (its `lift_after_s`), on the same clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at_ms: Option<f64>,
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
    /// The service the fault was about: `master_*` and `new_master_after_ms`
    /// are its, and summaries show its probes.
    pub service: ServiceName,
    pub victim: String,
    pub fault_at_ms: f64,
    /// When the fault was lifted while probing (its `lift_after_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at_ms: Option<f64>,
    /// When observing ended, on the probes' clock (none in results from
    /// before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_until_ms: Option<f64>,
    pub master_before: String,
    pub master_after: Option<String>,
    pub new_master_after_ms: Option<f64>,
    /// Every probe, each naming its service.
    pub probes: Vec<ProbeSummary>,
    /// Each writer's check for lost acknowledged writes, by service.
    pub lost_writes: BTreeMap<ServiceName, AckCheck>,
    pub fence_events: Vec<FenceEvent>,
    pub timings: RunTimings,
    pub restore_error: Option<String>,
    /// The failover's phases, from the nodes' journals (none in results
    /// written before lab read journals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phases: Option<FailoverPhases>,
    /// The wall-clock time (ms since the epoch) at which the probes' clock,
    /// the one `fault_at_ms` and every attempt are on, read 0: it lines the
    /// timeline up with the journals and fence events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_clock_unix_ms: Option<u128>,
    /// Where the fault's service had its master and VIP, from the polls
    /// just before the fault until it recovered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placements: Vec<PlacementSample>,
    /// Faults that followed the first (the scenario's `[[then]]` steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<FiredFault>,
    /// The DRBD split brains the nodes logged, on stacks on DRBD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_brains: Vec<SplitBrain>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// What the cluster did about the fault after observing had ended, if
/// anything: a fencing or a promotion then means the probes were stopped
/// before the failover they were there to measure (a fault the service
/// survives at first, until the cluster reacts), and the figures are not
/// the outage.
fn acted_after_observing(facts: &RunFacts) -> Option<String> {
    let end_unix_ms = facts.probe_clock_unix_ms as f64 + ms(facts.observed_until);
    let fenced =
        facts.fence_events.iter().find(|e| e.unix_ms as f64 > end_unix_ms).map(|e| {
            format!("fenced {} {:.1} s after observing ended", e.node, (e.unix_ms as f64 - end_unix_ms) / 1000.0)
        });
    let window_ms = ms(facts.observed_until.saturating_sub(facts.fault_at));
    let promoted = facts
        .phases
        .as_ref()
        .and_then(|p| p.promoted_ms)
        .filter(|at| *at > window_ms)
        .map(|at| format!("promoted {:.1} s after observing ended", (at - window_ms) / 1000.0));
    fenced.or(promoted)
}

/// `node-b at 12.3 s (resolved by DRBD's policy, one side's changes
/// discarded)`, for each, after the fault.
fn describe_split_brains(found: &[SplitBrain], facts: &RunFacts) -> String {
    let fault_unix_ms = facts.probe_clock_unix_ms as f64 + ms(facts.fault_at);
    let each: Vec<String> = found
        .iter()
        .map(|s| {
            let how = if s.resolved_by_policy {
                "resolved by DRBD's policy, one side's changes discarded"
            } else {
                "unresolved, reconnected with --discard-my-data"
            };
            format!("{} at {:.1} s ({how})", s.node, (s.unix_ms - fault_unix_ms) / 1000.0)
        })
        .collect();
    each.join("; ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` outages, in words: "1 outage", "3 outages".
fn count_outages(n: usize) -> String {
    if n == 1 { "1 outage".to_owned() } else { format!("{n} outages") }
}

/// "write" or "read", for check names and tables.
pub fn role_word(role: Role) -> &'static str {
    match role {
        Role::Writer => "write",
        Role::Reader => "read",
    }
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
        for (service, limits) in &expect.services {
            let outages = [(Role::Writer, limits.max_write_outage_ms), (Role::Reader, limits.max_read_outage_ms)];
            for (role, limit) in outages {
                let probe = facts.probes.iter().find(|p| p.service == *service && p.role == role);
                let (Some(limit), Some(probe)) = (limit, probe) else { continue };
                let (actual, passed) = match probe.longest_outage_ms {
                    Some(outage) => (format!("{outage:.0} ms"), outage <= limit as f64),
                    None => ("never recovered".into(), false),
                };
                let name = format!("{service} {} outage", role_word(role));
                checks.push(Check { name, expected: format!("≤ {limit} ms"), actual, passed });
            }
            let downtimes = [(Role::Writer, limits.max_write_downtime_ms), (Role::Reader, limits.max_read_downtime_ms)];
            for (role, limit) in downtimes {
                let probe = facts.probes.iter().find(|p| p.service == *service && p.role == role);
                let (Some(limit), Some(probe)) = (limit, probe) else { continue };
                let (actual, passed) = match probe.downtime_ms {
                    Some(down) => {
                        (format!("{down:.0} ms in {}", count_outages(probe.outages.len())), down <= limit as f64)
                    }
                    None => ("never recovered".into(), false),
                };
                let name = format!("{service} {} downtime", role_word(role));
                checks.push(Check { name, expected: format!("≤ {limit} ms in all"), actual, passed });
            }
            let (Some(allowed), Some(acks)) = (limits.lost_writes, facts.acks.get(service)) else { continue };
            checks.push(Check {
                name: format!("lost acknowledged {service} writes"),
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
            name: format!("{} master", facts.service),
            expected,
            actual: facts.master_after.clone().unwrap_or_else(|| "none".into()),
            passed,
        });
        if let Some(late) = acted_after_observing(&facts) {
            checks.push(Check {
                name: "cluster settled while observed".into(),
                expected: "no fencing or promotion after observing ended".into(),
                actual: format!("{late}: lengthen [observe] hold_s"),
                passed: false,
            });
        }
        if let Some(found) = &facts.split_brains {
            checks.push(Check {
                name: "DRBD split brain".into(),
                expected: "none".into(),
                actual: if found.is_empty() { "none".into() } else { describe_split_brains(found, &facts) },
                passed: found.is_empty(),
            });
        }
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
            service: facts.service,
            victim: facts.victim,
            fault_at_ms: ms(facts.fault_at),
            lifted_at_ms: facts.lifted_at.map(ms),
            observed_until_ms: Some(ms(facts.observed_until)),
            master_before: facts.master_before,
            master_after: facts.master_after,
            new_master_after_ms: facts.new_master_after.map(ms),
            probes: facts.probes,
            lost_writes: facts.acks,
            fence_events: facts.fence_events,
            timings: facts.timings,
            restore_error: facts.restore_error,
            phases: facts.phases,
            probe_clock_unix_ms: Some(facts.probe_clock_unix_ms),
            placements: facts.placements,
            then: facts.then,
            split_brains: facts.split_brains.unwrap_or_default(),
            checks,
            passed,
        }
    }

    /// The probe of `role` of the service summaries show: the fault's, or,
    /// for a fault on a service without probes (DRBD's replication link),
    /// the first probed service's.
    pub fn probe(&self, role: Role) -> Option<&ProbeSummary> {
        let shown = self.shown_service();
        self.probes.iter().find(|p| p.service == shown && p.role == role)
    }

    /// The lost-write check of the service summaries show, if its writes
    /// were checked.
    pub fn acks(&self) -> Option<&AckCheck> {
        self.lost_writes.get(&self.shown_service())
    }

    /// The fault's service if it was probed, else the first that was.
    fn shown_service(&self) -> ServiceName {
        let probed = |service: ServiceName| self.probes.iter().any(|p| p.service == service);
        if probed(self.service) { self.service } else { self.probes.first().map_or(self.service, |p| p.service) }
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
            let what = format!("{} {} outage (ms)", p.service, role_word(p.role));
            out.push_str(&format!("{:<28} {:>12}\n", what, p.longest_outage().unwrap_or_else(|| "never ended".into())));
            if let Some(down) = p.downtime_ms.filter(|_| p.outages.len() > 1) {
                let what = format!("  down in all, {} outages (ms)", p.outages.len());
                out.push_str(&format!("{what:<28} {down:>12.0}\n"));
            }
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                format!("  {} attempts / failed", p.probe),
                format!("{} / {}", p.attempts, p.failed)
            ));
        }
        let service = self.service;
        out.push_str(&format!(
            "{:<28} {:>12}\n",
            format!("new {service} master (ms)"),
            opt_ms(self.new_master_after_ms)
        ));
        out.push_str(&format!(
            "{:<28} {:>12}\n",
            format!("{service} master after"),
            self.master_after.as_deref().unwrap_or("none")
        ));
        for (service, acks) in &self.lost_writes {
            out.push_str(&format!(
                "{:<28} {:>12}\n",
                format!("lost acked {service} writes"),
                format!("{} of {}", acks.lost.len(), acks.acknowledged)
            ));
            if !acks.unacknowledged.is_empty() {
                out.push_str(&format!("{:<28} {:>12}\n", "  committed, not acked", acks.unacknowledged.len()));
            }
        }
        for event in &self.fence_events {
            out.push_str(&format!("{:<28} {:>12}\n", format!("fenced ({})", event.action), event.node));
        }
        for (phase, at) in self.phases.iter().flat_map(FailoverPhases::named) {
            if let Some(at) = at {
                out.push_str(&format!("{:<28} {:>12}\n", format!("{phase} after (ms)"), format!("{at:.0}")));
            }
        }
        let (label, timings) = match self.timings.start {
            RunStart::Rollback => (
                "rollback / start / total (s)",
                format!(
                    "{:.1} / {:.1} / {:.0}",
                    self.timings.rollback_s, self.timings.cluster_start_s, self.timings.total_s
                ),
            ),
            RunStart::Reused => ("reused cluster / total (s)", format!("{:.0}", self.timings.total_s)),
        };
        out.push_str(&format!("{label:<28} {timings:>12}\n\n"));
        for c in &self.checks {
            out.push_str(&format!(
                "{} {:<32} expected {:<18} got {}\n",
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
            service: ServiceName::Postgres,
            victim: "a".into(),
            master_before: "a".into(),
            master_after: Some(master_after.into()),
            new_master_after: Some(Duration::from_secs(3)),
            fault_at,
            recovered: true,
            probes: vec![
                ProbeSummary::from_recording(&recording(Role::Writer, writer_fail), ServiceName::Postgres, fault_at),
                ProbeSummary::from_recording(&recording(Role::Reader, 12..20), ServiceName::Postgres, fault_at),
            ],
            acks: BTreeMap::from([(
                ServiceName::Postgres,
                AckCheck { acknowledged: 90, present: 90 - lost.len() as u64, lost, unacknowledged: vec![] },
            )]),
            fence_events: Vec::new(),
            timings: RunTimings::default(),
            restore_error: None,
            phases: None,
            probe_clock_unix_ms: 0,
            placements: Vec::new(),
            then: Vec::new(),
            lifted_at: None,
            observed_until: Duration::from_secs(30),
            split_brains: None,
        }
    }

    /// The builtin scenario with a 5 s write-outage limit.
    fn scenario() -> Scenario {
        let mut s = Scenario::find("kill-postgres-master").expect("builtin");
        s.expect.services.entry(ServiceName::Postgres).or_default().max_write_outage_ms = Some(5000);
        s
    }

    #[test]
    fn a_clean_failover_passes() {
        let result = ScenarioResult::judge(&scenario(), facts(10..40, vec![], "b"));
        assert!(result.passed, "{}", result.render());
        // Attempts 10..40 failed: from 1.0 s to the start of attempt 40 at 4.0 s.
        assert_eq!(result.probes[0].longest_outage_ms.map(|v| v.round()), Some(3000.0));
        assert!(result.render().contains("PASSED"));
    }

    /// On a stack on DRBD a split brain fails the run, saying when and
    /// how DRBD dealt with it; elsewhere there is no such check.
    #[test]
    fn a_drbd_split_brain_fails_the_run() {
        assert!(
            !ScenarioResult::judge(&scenario(), facts(10..40, vec![], "b"))
                .checks
                .iter()
                .any(|c| c.name == "DRBD split brain")
        );
        let mut on_drbd = facts(10..40, vec![], "b");
        on_drbd.split_brains = Some(Vec::new());
        let clean = ScenarioResult::judge(&scenario(), on_drbd.clone());
        assert!(clean.passed, "{}", clean.render());
        on_drbd.split_brains = Some(vec![SplitBrain {
            node: "b".into(),
            unix_ms: 13_500.0,
            resolved_by_policy: true,
            line: "drbd data: Split-Brain detected, 1 primaries, automatically solved. Sync from this node".into(),
        }]);
        let result = ScenarioResult::judge(&scenario(), on_drbd);
        let check = result.checks.iter().find(|c| c.name == "DRBD split brain").expect("check");
        assert_eq!(
            (check.passed, check.actual.as_str()),
            (false, "b at 12.5 s (resolved by DRBD's policy, one side's changes discarded)")
        );
        assert!(!result.passed);
        assert_eq!(result.split_brains.len(), 1, "kept in results.json");
    }

    /// The fork bomb on TCG: the service answered again before the cluster
    /// fenced the node, so observing ended and the failover went unmeasured.
    #[test]
    fn a_fencing_or_promotion_after_observing_ended_fails_the_run() {
        let mut late = facts(10..40, vec![], "b");
        // Observing ended 30 s after the probes' clock started; fenced at 37 s.
        late.fence_events =
            vec![FenceEvent { unix_ms: 37_000, action: "reboot".into(), node: "a".into(), answer: "OK".into() }];
        let result = ScenarioResult::judge(&scenario(), late.clone());
        let check = result.checks.iter().find(|c| c.name == "cluster settled while observed").expect("check");
        assert_eq!(
            (check.passed, check.actual.as_str()),
            (false, "fenced a 7.0 s after observing ended: lengthen [observe] hold_s")
        );
        late.fence_events[0].unix_ms = 20_000;
        late.phases = Some(FailoverPhases { promoted_ms: Some(118_700.0), ..FailoverPhases::default() });
        let result = ScenarioResult::judge(&scenario(), late.clone());
        assert!(result.checks.iter().any(|c| c.actual.starts_with("promoted 89.7 s after")), "{}", result.render());
        late.phases = Some(FailoverPhases { promoted_ms: Some(6_000.0), ..FailoverPhases::default() });
        let settled = ScenarioResult::judge(&scenario(), late);
        assert!(settled.passed, "fenced and promoted while observed: {}", settled.render());
    }

    /// A starved master answering now and then: three short outages, none
    /// over the 5 s limit, but 6 s down in all.
    #[test]
    fn a_flapping_service_passes_its_longest_outage_and_fails_its_downtime() {
        let mut s = scenario();
        s.expect.services.entry(ServiceName::Postgres).or_default().max_write_downtime_ms = Some(5000);
        let mut flapping = facts(10..30, vec![], "b");
        let fault_at = flapping.fault_at;
        let mut writer = recording(Role::Writer, 10..30);
        for attempt in writer.attempts.iter_mut().filter(|a| (40..60).contains(&a.seq) || (70..90).contains(&a.seq)) {
            attempt.outcome = Outcome::Timeout;
        }
        flapping.probes[0] = ProbeSummary::from_recording(&writer, ServiceName::Postgres, fault_at);
        let result = ScenarioResult::judge(&s, flapping);
        assert_eq!(result.probes[0].longest_outage_ms.map(f64::round), Some(2000.0));
        assert_eq!(result.probes[0].downtime_ms.map(f64::round), Some(6000.0));
        let check = |name: &str| result.checks.iter().find(|c| c.name == name).expect(name).clone();
        assert!(check("postgres write outage").passed);
        let downtime = check("postgres write downtime");
        assert_eq!((downtime.passed, downtime.actual.as_str()), (false, "6000 ms in 3 outages"));
        assert_eq!(count_outages(1), "1 outage");
        assert!(!result.passed);
        assert!(result.render().contains("  down in all, 3 outages (ms)         6000\n"), "{}", result.render());
        // One outage: its downtime is the outage, and the table says it once.
        let single = ScenarioResult::judge(&scenario(), facts(10..40, vec![], "b"));
        assert_eq!(single.probes[0].downtime_ms, single.probes[0].longest_outage_ms);
        assert!(!single.render().contains("down in all"));
    }

    #[test]
    fn a_lost_write_fails_the_run() {
        let result = ScenarioResult::judge(&scenario(), facts(10..40, vec![17], "b"));
        assert!(!result.passed);
        let failed: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["lost acknowledged postgres writes"]);
    }

    #[test]
    fn too_long_an_outage_and_a_master_that_stayed_fail() {
        let result = ScenarioResult::judge(&scenario(), facts(10..99, vec![], "a"));
        let failed: Vec<&str> = result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
        assert_eq!(failed, ["postgres write outage", "postgres master"]);
        assert!(result.render().contains("FAIL postgres write outage"), "{}", result.render());
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
        assert_eq!(json["fault"]["action"], "kill");
        assert_eq!(json["service"], "postgres");
        assert_eq!(json["lost_writes"]["postgres"]["acknowledged"], 90);
    }
}
