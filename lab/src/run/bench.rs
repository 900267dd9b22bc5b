//! `lab bench`: how long the lab itself takes and how fast the cluster
//! fails over, as medians over repeated real runs. A benchmark, not a test:
//! it judges nothing, it measures (figures for README and for comparing
//! backends and machines).

use serde::Serialize;

use crate::config::Config;
use crate::lifecycle::{self, Lab, LabError, MakeAllInput, MakeAllTimings};
use crate::progress::Progress;
use crate::report::judge::ScenarioResult;
use crate::report::stats::{Summary, scenario_stats, summarize};
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
    let lab = Lab::open(config, progress)?;
    let plan = crate::run::suite::Plan { label: "bench".into(), scenarios, repeat: Some(repeat), seed };
    let (_dir, suite, _records) = crate::run::suite::run(&lab, &plan, std::future::pending(), |_| {}).await?;
    // Medians over the runs that happened would hide the ones that did not.
    if let Some(error) = suite.unfinished.iter().find_map(|u| u.error.as_deref()) {
        return Err(LabError::Runs(format!(
            "{} of the bench's runs ended by an error (first: {error})",
            suite.errors()
        )));
    }
    // The outage and new-master figures are the suite's own statistics;
    // the bench adds how long the lab's steps took.
    let scenarios = scenario_stats(&suite)
        .into_iter()
        .map(|stats| {
            let runs: Vec<&ScenarioResult> = suite.runs.iter().filter(|r| r.scenario == stats.scenario).collect();
            let of = |f: &dyn Fn(&ScenarioResult) -> f64| summarize(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
            ScenarioBench {
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
        let cell = |s: &Option<Summary>, scale: f64| {
            s.as_ref()
                .map_or("-".to_owned(), |s| format!("{:.1} ({:.1}–{:.1})", s.p50 * scale, s.min * scale, s.max * scale))
        };
        let mut out = format!("medians over {} runs (min–max), seed {}\n", self.repeat, self.seed);
        out.push_str(&format!("make-all (s, image cached)  {}\n", cell(&self.make_all_s, 1.0)));
        out.push_str(&format!("cluster setup (s)           {}\n", cell(&self.setup_s, 1.0)));
        out.push_str(&format!(
            "\n{:<24} {:>18} {:>18} {:>18} {:>20} {:>20} {:>20}\n",
            "scenario",
            "rollback s",
            "cluster start s",
            "run wall s",
            "write outage s",
            "read outage s",
            "new master s"
        ));
        for s in &self.scenarios {
            out.push_str(&format!(
                "{:<24} {:>18} {:>18} {:>18} {:>20} {:>20} {:>20}\n",
                s.scenario,
                cell(&s.rollback_s, 1.0),
                cell(&s.cluster_start_s, 1.0),
                cell(&s.wall_s, 1.0),
                cell(&s.write_outage_ms, 0.001),
                cell(&s.read_outage_ms, 0.001),
                cell(&s.new_master_ms, 0.001),
            ));
        }
        out
    }
}
