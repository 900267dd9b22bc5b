//! Running several scenarios (or one, repeated) and keeping their results
//! together: one directory per invocation under the lab's `runs/`, with a
//! subdirectory per run (result.json, probes.json) and the collection's
//! results.json, junit.xml, summary.md and report.html.

use std::path::PathBuf;

use crate::lifecycle::{Lab, LabError};
use crate::report::judge::ScenarioResult;
use crate::report::results::{RunRecord, SCHEMA, SuiteResults};
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
}

impl Plan {
    /// Every run as (scenario, iteration, seed), in order.
    pub fn runs(&self) -> Vec<(&Scenario, u32, u64)> {
        let mut runs = Vec::new();
        for scenario in &self.scenarios {
            for iteration in 1..=self.repeat.unwrap_or(scenario.repeat) {
                let seed = self.seed.wrapping_add(runs.len() as u64);
                runs.push((scenario, iteration, seed));
            }
        }
        runs
    }
}

/// Runs the plan; each scenario starts from the `setup` snapshot. Results
/// are written as they come, so an interrupted suite keeps what it
/// measured; `on_run` sees each run's result as soon as it is judged.
pub async fn run(
    lab: &Lab,
    plan: &Plan,
    mut on_run: impl FnMut(&ScenarioResult),
) -> Result<(PathBuf, SuiteResults, Vec<RunRecord>), LabError> {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
    let dir = lab.paths.runs().join(format!("{stamp}-{}", plan.label));
    let mut suite = SuiteResults {
        schema: SCHEMA,
        label: plan.label.clone(),
        lab: lab.topology.lab.clone(),
        backend: lab.topology.backend,
        started_unix_ms: crate::run::runner::unix_ms(),
        seed: plan.seed,
        runs: Vec::new(),
    };
    let mut records = Vec::new();
    let runs = plan.runs();
    let total = runs.len();
    for (k, (scenario, iteration, seed)) in runs.into_iter().enumerate() {
        tracing::info!(scenario = %scenario.name, iteration, seed, "run {} of {total}", k + 1);
        let record = crate::run::runner::run(lab, scenario, seed, iteration).await?;
        let run_dir = dir.join(format!("{}-{iteration}", scenario.name));
        record.save(&run_dir).map_err(|e| LabError::Results(format!("{}: {e}", run_dir.display())))?;
        on_run(&record.result);
        suite.runs.push(record.result.clone());
        records.push(record);
        write(&dir, &suite, &records)?;
    }
    Ok((dir, suite, records))
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
        let plan = Plan { label: "suite".into(), scenarios: vec![a, b], repeat: None, seed: 100 };
        let runs: Vec<(String, u32, u64)> =
            plan.runs().into_iter().map(|(s, i, seed)| (s.name.clone(), i, seed)).collect();
        assert_eq!(runs, [("kill-postgres-master".into(), 1, 100), ("other".into(), 1, 101), ("other".into(), 2, 102)]);
        let plan = Plan { repeat: Some(3), ..plan };
        assert_eq!(plan.runs().len(), 6, "--repeat overrides every scenario's own");
    }
}
