//! `lab bench`: how long the lab itself takes and how fast the cluster
//! fails over, as medians over repeated real runs. A benchmark, not a test:
//! it judges nothing, it measures (figures for README and for comparing
//! backends and machines).

use heartbeat::{Recording, Role};
use serde::Serialize;

use crate::config::Config;
use crate::lifecycle::{self, Lab, LabError, MakeAllInput, MakeAllTimings};
use crate::progress::Progress;
use crate::report::judge::ScenarioResult;
use crate::report::stats::{Summary, runs_by_scenario, scenario_stats, summarize};
use crate::run::scenario::Scenario;

/// The scenarios benchmarked unless others are named: one crash, one power
/// loss, one network partition.
pub const DEFAULT_SCENARIOS: &[&str] = &["kill-postgres-master", "poweroff-master", "link-down-master"];

#[derive(Debug, Serialize)]
pub struct Bench {
    pub repeat: u32,
    pub seed: u64,
    pub make_all_s: Option<Summary>,
    pub setup_s: Option<Summary>,
    pub scenarios: Vec<ScenarioBench>,
}

#[derive(Debug, Serialize)]
pub struct ScenarioBench {
    pub scenario: String,
    pub rollback_s: Option<Summary>,
    pub cluster_start_s: Option<Summary>,
    pub wall_s: Option<Summary>,
    pub write_outage_ms: Option<Summary>,
    pub read_outage_ms: Option<Summary>,
    pub new_master_ms: Option<Summary>,
    /// How far the true end of each run's longest write outage can be from
    /// the reported one (the writer's edge uncertainty), in milliseconds.
    pub recovery_edge_ms: Option<Summary>,
    /// The writer's attempts per second during each run's longest write
    /// outage: open-loop probes keep their rate while the VIP is dead.
    pub rate_through_outage_hz: Option<Summary>,
}

/// The writer of the fault's service and its longest outage after the
/// fault, recomputed from its attempts (results of older labs carry no
/// uncertainty).
fn longest_write_outage<'r>(
    run: &ScenarioResult,
    recordings: &'r [Recording],
) -> Option<(&'r Recording, heartbeat::Outage)> {
    let writer = run.probe(Role::Writer)?;
    let recording = recordings.iter().find(|r| r.probe == writer.probe)?;
    let fault_at = std::time::Duration::from_secs_f64(run.fault_at_ms / 1000.0);
    let outage = heartbeat::outages_after(&recording.attempts, fault_at)
        .into_iter()
        .filter(|o| o.end.is_some())
        .max_by_key(heartbeat::Outage::duration)?;
    Some((recording, outage))
}

/// How far the recovery edge of the run's longest write outage can be off.
fn recovery_edge_ms(run: &ScenarioResult, recordings: &[Recording]) -> Option<f64> {
    let (_, outage) = longest_write_outage(run, recordings)?;
    outage.end_uncertainty.map(|u| u.as_secs_f64() * 1000.0)
}

/// Attempts started per second within the run's longest write outage.
fn rate_through_outage_hz(run: &ScenarioResult, recordings: &[Recording]) -> Option<f64> {
    let (recording, outage) = longest_write_outage(run, recordings)?;
    let (start, end) = (outage.start, outage.end?);
    let seconds = end.saturating_sub(start).as_secs_f64();
    let started = recording.attempts.iter().filter(|a| a.started >= start && a.started < end).count();
    (seconds > 0.0).then(|| started as f64 / seconds)
}

/// Makes the lab `repeat` times (the image cache is reused, so this times
/// hosts, install and cluster setup), then runs each scenario `repeat` times.
pub async fn run(
    config: Config,
    progress: Progress,
    scenarios: Vec<Scenario>,
    repeat: u32,
    seed: u64,
) -> Result<Bench, LabError> {
    let mut makes: Vec<MakeAllTimings> = Vec::new();
    for _ in 0..repeat {
        let (_lab, timings) = lifecycle::make_all(config.clone(), progress.clone(), MakeAllInput::default()).await?;
        makes.push(timings);
    }
    let lab = Lab::open_cluster(config, progress)?;
    let plan = crate::run::suite::Plan {
        label: "bench".into(),
        scenarios,
        repeat: Some(repeat),
        seed,
        partition: None,
        reuse: false,
    };
    let (_dir, suite, records) = crate::run::suite::run(&lab, &plan, std::future::pending(), |_| {}).await?;
    // Medians over the runs that happened would hide the ones that did not.
    if let Some(error) = suite.unfinished.iter().find_map(|u| u.error.as_deref()) {
        return Err(LabError::Runs(format!(
            "{} of the bench's runs ended by an error (first: {error})",
            suite.errors()
        )));
    }
    // The outage and new-master figures are the suite's own statistics;
    // the bench adds how long the lab's steps took.
    // Both in the order scenarios first appear in the suite.
    let scenarios = scenario_stats(&suite)
        .into_iter()
        .zip(runs_by_scenario(&suite))
        .map(|(stats, (_, runs))| {
            let of = |f: &dyn Fn(&ScenarioResult) -> f64| summarize(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
            let with_recordings = |f: fn(&ScenarioResult, &[Recording]) -> Option<f64>| {
                let values: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| {
                        let record = records.iter().find(|record| record.result.run_id == r.run_id)?;
                        f(r, &record.recordings)
                    })
                    .collect();
                summarize(&values)
            };
            ScenarioBench {
                recovery_edge_ms: with_recordings(recovery_edge_ms),
                rate_through_outage_hz: with_recordings(rate_through_outage_hz),
                rollback_s: of(&|r| r.timings.rollback_s),
                cluster_start_s: of(&|r| r.timings.cluster_start_s),
                wall_s: of(&|r| r.timings.total_s),
                write_outage_ms: stats.write_outage_ms,
                read_outage_ms: stats.read_outage_ms,
                new_master_ms: stats.new_master_ms,
                scenario: stats.scenario,
            }
        })
        .collect();
    Ok(Bench {
        repeat,
        seed,
        make_all_s: summarize(&makes.iter().map(|m| m.total_s).collect::<Vec<_>>()),
        setup_s: summarize(&makes.iter().map(|m| m.setup_s).collect::<Vec<_>>()),
        scenarios,
    })
}

impl Bench {
    /// Medians (and spread) as a table.
    pub fn render(&self) -> String {
        let cell = |s: &Option<Summary>, scale: f64| s.as_ref().map_or("-".to_owned(), |s| s.median_and_range(scale));
        let mut out = format!("medians over {} runs (min–max), seed {}\n", self.repeat, self.seed);
        out.push_str(&format!("make-all (s, image cached)  {}\n", cell(&self.make_all_s, 1.0)));
        out.push_str(&format!("cluster setup (s)           {}\n", cell(&self.setup_s, 1.0)));
        out.push_str(&format!(
            "\n{:<24} {:>18} {:>18} {:>18} {:>20} {:>20} {:>20} {:>20} {:>22}\n",
            "scenario",
            "rollback s",
            "cluster start s",
            "run wall s",
            "write outage s",
            "read outage s",
            "new master s",
            "recovery edge ± ms",
            "writes/s in outage"
        ));
        for s in &self.scenarios {
            out.push_str(&format!(
                "{:<24} {:>18} {:>18} {:>18} {:>20} {:>20} {:>20} {:>20} {:>22}\n",
                s.scenario,
                cell(&s.rollback_s, 1.0),
                cell(&s.cluster_start_s, 1.0),
                cell(&s.wall_s, 1.0),
                cell(&s.write_outage_ms, 0.001),
                cell(&s.read_outage_ms, 0.001),
                cell(&s.new_master_ms, 0.001),
                cell(&s.recovery_edge_ms, 1.0),
                cell(&s.rate_through_outage_hz, 1.0),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    /// The fixture's first run: a writer failing from 4.8 s, recorded at
    /// 10 Hz; its edge and its rate through the outage come from its
    /// attempts.
    #[test]
    fn the_recovery_edge_and_the_rate_through_the_outage_come_from_the_writer() {
        let suite = fixtures::suite();
        let run = &suite.runs[0];
        let recordings = fixtures::recordings();
        let (recording, outage) = longest_write_outage(run, &recordings).expect("a write outage");
        assert_eq!(recording.role, Role::Writer);
        let edge = recovery_edge_ms(run, &recordings).expect("an edge");
        assert_eq!(Some(edge), outage.end_uncertainty.map(|u| u.as_secs_f64() * 1000.0));
        let rate = rate_through_outage_hz(run, &recordings).expect("a rate");
        let inside = recording
            .attempts
            .iter()
            .filter(|a| a.started >= outage.start && a.started < outage.end.expect("end"))
            .count();
        let seconds = (outage.end.expect("end") - outage.start).as_secs_f64();
        assert!((rate - inside as f64 / seconds).abs() < 1e-9);
        assert!(rate > 0.0);
        assert_eq!(recovery_edge_ms(run, &[]), None, "no recordings, no figure");
    }
}
