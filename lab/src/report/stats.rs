//! Statistics over repeated runs: Tuchanka's "reactions table" (mean,
//! standard deviation, median and 95th percentile per scenario).
//!
//! Pure arithmetic over [`SuiteResults`]; no I/O.
//!
//! # Definitions
//!
//! - `sd` is the *sample* standard deviation (divides by `n - 1`); it is 0
//!   for a single value.
//! - Percentiles use the **nearest-rank** method: the p-th percentile of `n`
//!   sorted values is the value of rank `⌈p/100 · n⌉` (ranks from 1), so it
//!   is always one of the measured values, never an interpolation. With few
//!   runs p95 is therefore the maximum, which is the honest answer.

use heartbeat::Role;
use serde::{Deserialize, Serialize};

use crate::report::judge::ScenarioResult;
use crate::report::phases::FailoverPhases;
use crate::report::results::SuiteResults;

/// Summary statistics of a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; 0 when `n == 1`.
    pub sd: f64,
    /// Median by nearest rank.
    pub p50: f64,
    /// 95th percentile by nearest rank.
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// The median and the range, each value times `scale`, with one
    /// decimal: `5.1 (4.9–5.3)`, or the one value alone.
    pub fn median_and_range(&self, scale: f64) -> String {
        if self.n == 1 {
            format!("{:.1}", self.p50 * scale)
        } else {
            format!("{:.1} ({:.1}–{:.1})", self.p50 * scale, self.min * scale, self.max * scale)
        }
    }
}

/// Summarizes `values`; `None` when there is nothing to summarize.
///
/// Values that are not finite (NaN, ±∞) are left out: they are not
/// measurements.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 { (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    Some(Summary {
        n,
        mean,
        sd,
        p50: nearest_rank(&sorted, 50),
        p95: nearest_rank(&sorted, 95),
        min: sorted[0],
        max: sorted[n - 1],
    })
}

/// The `percent`-th percentile of ascending, non-empty `sorted` by nearest
/// rank: the value of rank `⌈percent · n / 100⌉`, clamped to `1..=n`.
/// Integer arithmetic, so p95 of 20 values is exactly rank 19.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    let n = sorted.len();
    let rank = (percent * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

/// The reactions of one scenario over all its runs in a suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioStats {
    pub scenario: String,
    /// Runs of the scenario.
    pub runs: usize,
    /// Of which passed every check.
    pub passed: usize,
    /// Longest write outage per run; runs whose writer never recovered (or
    /// had no writer) are left out, so `n` may be below `runs`.
    pub write_outage_ms: Option<Summary>,
    /// Longest read outage per run, likewise.
    pub read_outage_ms: Option<Summary>,
    /// Time from the fault to the new master, over runs that had one.
    pub new_master_ms: Option<Summary>,
    /// Acknowledged writes lost, summed over the runs.
    pub lost_writes: u64,
    /// Each failover phase (see [`FailoverPhases::named`]) over the runs in
    /// which it was seen; phases seen in no run are left out.
    #[serde(default)]
    pub phases: Vec<(String, Summary)>,
}

/// The longest outage after the fault seen by the run's probe of `role` of
/// the fault's service; `None` without such a probe or when it never recovered.
pub fn outage_ms(run: &ScenarioResult, role: Role) -> Option<f64> {
    run.probe(role).and_then(|p| p.longest_outage_ms)
}

/// Acknowledged writes of the fault's service the run lost (0 when its
/// writes were not checked).
pub fn lost_writes(run: &ScenarioResult) -> u64 {
    run.acks().map_or(0, |a| a.lost.len() as u64)
}

/// The suite's runs grouped by scenario, in the order scenarios first appear.
pub fn runs_by_scenario(suite: &SuiteResults) -> Vec<(&str, Vec<&ScenarioResult>)> {
    let mut groups: Vec<(&str, Vec<&ScenarioResult>)> = Vec::new();
    for run in &suite.runs {
        match groups.iter_mut().find(|(name, _)| *name == run.scenario) {
            Some((_, runs)) => runs.push(run),
            None => groups.push((&run.scenario, vec![run])),
        }
    }
    groups
}

/// Statistics per scenario, in the order scenarios first appear in the suite.
pub fn scenario_stats(suite: &SuiteResults) -> Vec<ScenarioStats> {
    runs_by_scenario(suite)
        .into_iter()
        .map(|(name, runs)| {
            let collect = |f: &dyn Fn(&ScenarioResult) -> Option<f64>| {
                summarize(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            ScenarioStats {
                scenario: name.to_owned(),
                runs: runs.len(),
                passed: runs.iter().filter(|r| r.passed).count(),
                write_outage_ms: collect(&|r| outage_ms(r, Role::Writer)),
                read_outage_ms: collect(&|r| outage_ms(r, Role::Reader)),
                new_master_ms: collect(&|r| r.new_master_after_ms),
                lost_writes: runs.iter().map(|r| lost_writes(r)).sum(),
                phases: phase_stats(&runs),
            }
        })
        .collect()
}

/// Each phase's summary over the runs that saw it, in the phases' order.
fn phase_stats(runs: &[&ScenarioResult]) -> Vec<(String, Summary)> {
    let named: Vec<_> = runs.iter().filter_map(|r| r.phases.as_ref()).map(FailoverPhases::named).collect();
    let Some(first) = named.first() else { return Vec::new() };
    (0..first.len())
        .filter_map(|i| {
            let values: Vec<f64> = named.iter().filter_map(|phases| phases[i].1).collect();
            Some((first[i].0.to_owned(), summarize(&values)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn empty_has_no_summary() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
    }

    #[test]
    fn one_value() {
        let s = summarize(&[42.5]).expect("summary");
        assert_eq!(s, Summary { n: 1, mean: 42.5, sd: 0.0, p50: 42.5, p95: 42.5, min: 42.5, max: 42.5 });
    }

    #[test]
    fn small_sample_by_hand() {
        // 2 4 4 4 5 5 7 9: mean 5, squared deviations sum to 32,
        // sample variance 32/7, p50 rank ⌈4⌉ = 4 → 4, p95 rank ⌈7.6⌉ = 8 → 9.
        let s = summarize(&[9.0, 4.0, 2.0, 5.0, 4.0, 7.0, 4.0, 5.0]).expect("summary");
        assert_eq!(s.n, 8);
        assert!(close(s.mean, 5.0));
        assert!(close(s.sd, (32.0f64 / 7.0).sqrt()), "{}", s.sd);
        assert_eq!((s.p50, s.p95, s.min, s.max), (4.0, 9.0, 2.0, 9.0));
    }

    #[test]
    fn two_values() {
        // mean 15, sd = sqrt(((10-15)² + (20-15)²) / 1) = sqrt(50)
        let s = summarize(&[20.0, 10.0]).expect("summary");
        assert!(close(s.mean, 15.0));
        assert!(close(s.sd, 50f64.sqrt()));
        // p50: rank ⌈1⌉ = 1 → 10 (nearest rank never averages)
        assert_eq!((s.p50, s.p95), (10.0, 20.0));
    }

    #[test]
    fn nearest_rank_boundaries() {
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = summarize(&twenty).expect("summary");
        // p95 of 20: rank exactly 19; p50: rank 10
        assert_eq!((s.p50, s.p95), (10.0, 19.0));
        let hundred_one: Vec<f64> = (1..=101).map(f64::from).collect();
        let s = summarize(&hundred_one).expect("summary");
        // ⌈50.5⌉ = 51, ⌈95.95⌉ = 96
        assert_eq!((s.p50, s.p95), (51.0, 96.0));
    }

    #[test]
    fn non_finite_values_are_left_out() {
        let s = summarize(&[1.0, f64::NAN, 3.0, f64::INFINITY]).expect("summary");
        assert_eq!((s.n, s.mean, s.min, s.max), (2, 2.0, 1.0, 3.0));
    }

    #[test]
    fn runs_are_grouped_by_scenario_in_first_appearance_order() {
        let suite = crate::report::render::fixtures::suite();
        let groups: Vec<(&str, Vec<u32>)> = runs_by_scenario(&suite)
            .into_iter()
            .map(|(name, runs)| (name, runs.iter().map(|r| r.iteration).collect()))
            .collect();
        assert_eq!(groups, [("kill-postgres-master", vec![1, 2]), ("power-off-master", vec![1])]);
    }

    #[test]
    fn scenario_stats_of_the_fixture_suite() {
        let suite = crate::report::render::fixtures::suite();
        let stats = scenario_stats(&suite);
        let names: Vec<&str> = stats.iter().map(|s| s.scenario.as_str()).collect();
        assert_eq!(names, ["kill-postgres-master", "power-off-master"]);

        let kill = &stats[0];
        assert_eq!((kill.runs, kill.passed, kill.lost_writes), (2, 2, 0));
        let w = kill.write_outage_ms.as_ref().expect("write");
        // 12004.0 and 14230.9: mean 13117.45, sd = |a-b|/√2
        assert_eq!(w.n, 2);
        assert!(close(w.mean, 13117.45), "{}", w.mean);
        assert!(close(w.sd, (14230.9f64 - 12004.0) / 2f64.sqrt()), "{}", w.sd);
        assert_eq!((w.p50, w.p95), (12004.0, 14230.9));
        assert_eq!(kill.read_outage_ms.as_ref().map(|s| (s.p50, s.p95)), Some((7411.2, 8003.0)));
        assert_eq!(kill.new_master_ms.as_ref().map(|s| s.p50), Some(9480.2));

        let power = &stats[1];
        assert_eq!((power.runs, power.passed, power.lost_writes), (1, 0, 1));
        assert_eq!(power.write_outage_ms.as_ref().map(|s| (s.n, s.p50, s.sd)), Some((1, 71234.0, 0.0)));
    }

    #[test]
    fn phases_are_summarized_over_the_runs_that_saw_them() {
        let mut suite = crate::report::render::fixtures::suite();
        let phases = |detected, fenced| FailoverPhases {
            detected_ms: Some(detected),
            fenced_ms: fenced,
            promoted_ms: Some(detected + 5000.0),
            ..FailoverPhases::default()
        };
        suite.runs[0].phases = Some(phases(1000.0, None));
        suite.runs[1].phases = Some(phases(3000.0, Some(4000.0)));
        let stats = scenario_stats(&suite);
        let seen: Vec<(&str, usize, f64)> =
            stats[0].phases.iter().map(|(name, s)| (name.as_str(), s.n, s.mean)).collect();
        assert_eq!(seen, [("detected", 2, 2000.0), ("fenced", 1, 4000.0), ("promoted", 2, 7000.0)]);
        assert!(stats[1].phases.is_empty(), "results written before lab read journals have none");
    }

    #[test]
    fn runs_without_a_value_are_left_out() {
        let mut suite = crate::report::render::fixtures::suite();
        // The writer of the second kill run never recovered.
        suite.runs[1].probes[0].longest_outage_ms = None;
        suite.runs[1].new_master_after_ms = None;
        let stats = scenario_stats(&suite);
        let w = stats[0].write_outage_ms.as_ref().expect("write");
        assert_eq!((w.n, w.mean), (1, 12004.0));
        assert_eq!(stats[0].new_master_ms.as_ref().map(|s| s.n), Some(1));
        assert_eq!(stats[0].runs, 2);
    }
}
