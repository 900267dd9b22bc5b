//! Comparing a suite's results with a baseline (an earlier `results.json`
//! kept by CI), so a change that makes failover slower or loses writes is
//! flagged even when every run still passes its own limits.
//!
//! Per scenario present in both, the medians (p50, see [`crate::report::stats`]) of
//! the write outage, the read outage and the time to a new master are
//! compared under a [`Tolerance`]; on top of that, losing acknowledged
//! writes where the baseline lost none, any failing run and any run that
//! did not finish are regressions whatever the numbers: a nightly job must
//! not go green on a run that is broken, even if the baseline was broken
//! too. A scenario of the baseline missing from the current results is a
//! regression (a suite that silently shrank); one only in the current
//! results is noted. Results of another backend or stack are not compared
//! at all ([`mismatch`]).

use serde::{Deserialize, Serialize};

use crate::report::results::SuiteResults;
use crate::report::stats::{ScenarioStats, Summary, scenario_stats};

/// How much worse a timing may get before it counts as a regression.
///
/// A metric regresses when **both** hold:
/// `current > baseline × (1 + relative)` **and**
/// `current − baseline > absolute_ms`. The relative bound alone would flap on
/// tiny values (200 ms → 300 ms is +50 % and means nothing); the absolute one
/// alone would ignore a doubling of a short outage. Defaults: 25 % and 2 s.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Allowed relative increase, 0.25 = 25 %.
    pub relative: f64,
    /// Allowed absolute increase in milliseconds.
    pub absolute_ms: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { relative: 0.25, absolute_ms: 2000.0 }
    }
}

impl Tolerance {
    /// A tolerance from user input: both bounds finite and not negative (a
    /// NaN or infinite bound would hide any regression).
    pub fn new(relative: f64, absolute_ms: f64) -> Result<Self, String> {
        for (name, value) in [("--tolerance", relative), ("--tolerance-ms", absolute_ms)] {
            if !value.is_finite() || value < 0.0 {
                return Err(format!("{name} {value} must be a finite number ≥ 0 (e.g. 0.25 for 25 %)"));
            }
        }
        Ok(Tolerance { relative, absolute_ms })
    }

    /// Whether going from `baseline` to `current` is beyond tolerance.
    pub fn exceeded(&self, baseline: f64, current: f64) -> bool {
        current > baseline * (1.0 + self.relative) && current - baseline > self.absolute_ms
    }
}

/// One compared measure of one scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delta {
    pub scenario: String,
    /// What was compared, e.g. `write outage p50 (ms)`.
    pub metric: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    pub regression: bool,
    /// The change in words: `+812 ms (+7 %)`, `missing from current results`…
    pub note: String,
}

/// Every delta, per scenario in the current suite's order, then the
/// scenarios only the baseline has.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub deltas: Vec<Delta>,
}

impl Comparison {
    /// Number of deltas flagged as regressions.
    pub fn regressions(&self) -> usize {
        self.deltas.iter().filter(|d| d.regression).count()
    }

    /// `no regressions`, `1 regression`, `3 regressions`.
    pub fn verdict(&self) -> String {
        match self.regressions() {
            0 => "no regressions".to_owned(),
            1 => "1 regression".to_owned(),
            n => format!("{n} regressions"),
        }
    }
}

/// Metric names, as shown in tables.
pub const WRITE_OUTAGE_P50: &str = "write outage p50 (ms)";
pub const READ_OUTAGE_P50: &str = "read outage p50 (ms)";
pub const NEW_MASTER_P50: &str = "new master p50 (ms)";
pub const LOST_WRITES: &str = "lost writes";
pub const PASSED_RUNS: &str = "passed runs";
pub const RUNS: &str = "runs";
pub const UNFINISHED_RUNS: &str = "unfinished runs";

/// Why `current` cannot be held against `baseline`, if it cannot: results
/// of another backend, stack or cluster (a two-node and a four-node one
/// fail over differently) measure something else. Files from before
/// clusters were recorded match any.
pub fn mismatch(baseline: &SuiteResults, current: &SuiteResults) -> Option<String> {
    let differs = |what: &str, base: String, now: String| {
        (base != now).then(|| format!("the baseline ran on {what} {base}, these results on {now}"))
    };
    let recorded = !baseline.cluster.is_empty() && !current.cluster.is_empty();
    differs("the backend", baseline.backend.to_string(), current.backend.to_string())
        .or_else(|| differs("the stack", baseline.stack.to_string(), current.stack.to_string()))
        .or_else(|| {
            recorded.then(|| differs("the cluster", baseline.cluster.clone(), current.cluster.clone())).flatten()
        })
}

/// Picks one summary out of a scenario's statistics.
type StatField = fn(&ScenarioStats) -> Option<&Summary>;

/// Compares `current` with `baseline`; see the module docs for the rules.
pub fn compare(baseline: &SuiteResults, current: &SuiteResults, tolerance: &Tolerance) -> Comparison {
    let before = scenario_stats(baseline);
    let now = scenario_stats(current);
    let mut deltas = Vec::new();
    for cur in &now {
        let Some(base) = before.iter().find(|b| b.scenario == cur.scenario) else {
            deltas.push(Delta {
                scenario: cur.scenario.clone(),
                metric: RUNS.into(),
                baseline: None,
                current: Some(cur.runs as f64),
                regression: false,
                note: "not in baseline".into(),
            });
            continue;
        };
        let timings: [(&str, StatField); 3] = [
            (WRITE_OUTAGE_P50, |s| s.write_outage_ms.as_ref()),
            (READ_OUTAGE_P50, |s| s.read_outage_ms.as_ref()),
            (NEW_MASTER_P50, |s| s.new_master_ms.as_ref()),
        ];
        for (metric, field) in timings {
            let (b, c) = (field(base).map(|s| s.p50), field(cur).map(|s| s.p50));
            let (regression, note) = match (b, c) {
                (None, None) => continue,
                (Some(b), Some(c)) => (tolerance.exceeded(b, c), change(b, c)),
                (Some(_), None) => (false, "not measured now".into()),
                (None, Some(_)) => (false, "not measured in baseline".into()),
            };
            deltas.push(Delta {
                scenario: cur.scenario.clone(),
                metric: metric.into(),
                baseline: b,
                current: c,
                regression,
                note,
            });
        }
        let (regression, note) = match (base.lost_writes, cur.lost_writes) {
            (0, 0) => (false, "none".to_owned()),
            (0, _) => (true, "acknowledged writes lost, none in baseline".to_owned()),
            (_, 0) => (false, "none now, some in baseline".to_owned()),
            (_, _) => (false, "lost in baseline too".to_owned()),
        };
        deltas.push(Delta {
            scenario: cur.scenario.clone(),
            metric: LOST_WRITES.into(),
            baseline: Some(base.lost_writes as f64),
            current: Some(cur.lost_writes as f64),
            regression,
            note,
        });
        let (base_ok, cur_ok) = (base.passed == base.runs, cur.passed == cur.runs);
        deltas.push(Delta {
            scenario: cur.scenario.clone(),
            metric: PASSED_RUNS.into(),
            baseline: Some(base.passed as f64),
            current: Some(cur.passed as f64),
            regression: !cur_ok,
            note: format!(
                "{}/{} → {}/{}{}",
                base.passed,
                base.runs,
                cur.passed,
                cur.runs,
                match (base_ok, cur_ok) {
                    (true, false) => ", failing now",
                    (false, false) => ", failing in baseline too",
                    (false, true) => ", passing now",
                    (true, true) => "",
                }
            ),
        });
    }
    let mut unfinished: Vec<&str> = current.unfinished.iter().map(|u| u.scenario.as_str()).collect();
    unfinished.dedup();
    for scenario in unfinished {
        let runs = current.unfinished.iter().filter(|u| u.scenario == scenario);
        let (errors, not_run) = runs.fold((0, 0), |(e, n), u| if u.error.is_some() { (e + 1, n) } else { (e, n + 1) });
        deltas.push(Delta {
            scenario: scenario.to_owned(),
            metric: UNFINISHED_RUNS.into(),
            baseline: None,
            current: Some(f64::from(errors + not_run)),
            regression: true,
            note: format!("{errors} ended by an error, {not_run} not run"),
        });
    }
    let ran_now = |scenario: &str| {
        now.iter().any(|c| c.scenario == scenario) || current.unfinished.iter().any(|u| u.scenario == scenario)
    };
    for base in before.iter().filter(|b| !ran_now(&b.scenario)) {
        deltas.push(Delta {
            scenario: base.scenario.clone(),
            metric: RUNS.into(),
            baseline: Some(base.runs as f64),
            current: None,
            regression: true,
            note: "missing from current results".into(),
        });
    }
    Comparison { deltas }
}

/// `+812 ms (+7 %)`; the percentage is left out when the baseline is 0.
fn change(baseline: f64, current: f64) -> String {
    let diff = current - baseline;
    if baseline.abs() < f64::EPSILON {
        format!("{diff:+.0} ms")
    } else {
        format!("{diff:+.0} ms ({:+.0} %)", diff / baseline * 100.0)
    }
}

/// A number of a delta as shown in tables: integers without decimals.
pub fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// The comparison as a plain-text table for the terminal.
pub fn render(comparison: &Comparison) -> String {
    let headers = ["scenario", "metric", "baseline", "current", "", "change"];
    let rows: Vec<[String; 6]> = comparison
        .deltas
        .iter()
        .map(|d| {
            [
                d.scenario.clone(),
                d.metric.clone(),
                value(d.baseline),
                value(d.current),
                if d.regression { "REGRESSION".into() } else { "ok".into() },
                d.note.clone(),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            match i {
                // numbers right-aligned
                2 | 3 => out.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                5 => out.push_str(cell),
                _ => out.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers);
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]));
    }
    out.push_str(&comparison.verdict());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    fn find<'a>(c: &'a Comparison, scenario: &str, metric: &str) -> &'a Delta {
        c.deltas
            .iter()
            .find(|d| d.scenario == scenario && d.metric == metric)
            .unwrap_or_else(|| panic!("no {scenario}/{metric} in {c:#?}"))
    }

    /// The fixture suite with the power-off run passing and losing nothing:
    /// a clean baseline.
    fn clean_baseline() -> SuiteResults {
        let mut suite = fixtures::suite();
        let run = &mut suite.runs[2];
        run.passed = true;
        for c in &mut run.checks {
            c.passed = true;
        }
        for acks in run.lost_writes.values_mut() {
            acks.lost.clear();
        }
        suite
    }

    #[test]
    fn identical_suites_have_no_regressions() {
        let suite = clean_baseline();
        let c = compare(&suite, &suite, &Tolerance::default());
        assert_eq!(c.regressions(), 0, "{}", render(&c));
        assert_eq!(find(&c, "kill-postgres-master", WRITE_OUTAGE_P50).note, "+0 ms (+0 %)");
    }

    #[test]
    fn a_run_failing_now_fails_even_if_it_failed_in_the_baseline_too() {
        let c = compare(&fixtures::suite(), &fixtures::suite(), &Tolerance::default());
        let d = find(&c, "power-off-master", PASSED_RUNS);
        assert!(d.regression, "a broken nightly run must not go green");
        assert_eq!(d.note, "0/1 → 0/1, failing in baseline too");
        assert_eq!(c.regressions(), 1, "{}", render(&c));
    }

    #[test]
    fn unfinished_runs_are_regressions() {
        let mut current = clean_baseline();
        current.unfinished = ["boom", ""]
            .iter()
            .enumerate()
            .map(|(i, e)| crate::report::results::Unfinished {
                scenario: "power-off-master".into(),
                iteration: i as u32 + 2,
                seed: 9,
                error: (!e.is_empty()).then(|| (*e).to_owned()),
            })
            .collect();
        let c = compare(&clean_baseline(), &current, &Tolerance::default());
        let d = find(&c, "power-off-master", UNFINISHED_RUNS);
        assert!(d.regression);
        assert_eq!(d.note, "1 ended by an error, 1 not run");
        assert_eq!(c.regressions(), 1, "{}", render(&c));
    }

    #[test]
    fn another_backend_or_stack_is_a_mismatch() {
        let baseline = clean_baseline();
        assert_eq!(mismatch(&baseline, &baseline), None);
        let four = SuiteResults { cluster: "tuchanka4".into(), ..clean_baseline() };
        let two = SuiteResults { cluster: "tuchanka2".into(), ..clean_baseline() };
        let why = mismatch(&two, &four).expect("another cluster");
        assert_eq!(why, "the baseline ran on the cluster tuchanka2, these results on tuchanka4");
        assert_eq!(mismatch(&clean_baseline(), &four), None, "a file from before clusters were recorded");
        let qemu = SuiteResults { backend: crate::config::BackendKind::Qemu, ..clean_baseline() };
        assert_eq!(
            mismatch(&baseline, &qemu).as_deref(),
            Some("the baseline ran on the backend container, these results on qemu")
        );
    }

    #[test]
    fn tolerances_are_finite_and_not_negative() {
        assert_eq!(Tolerance::new(0.25, 2000.0), Ok(Tolerance::default()));
        for (relative, absolute) in [(f64::NAN, 1.0), (f64::INFINITY, 1.0), (-5.0, 1.0), (0.1, f64::NAN)] {
            let error = Tolerance::new(relative, absolute).expect_err("refused");
            assert!(error.contains("must be a finite number ≥ 0"), "{error}");
        }
    }

    #[test]
    fn a_slowdown_beyond_tolerance_is_a_regression() {
        let baseline = clean_baseline();
        let mut current = clean_baseline();
        // p50 write outage of kill-postgres-master: 12004 → 16004 (+33 %, +4 s)
        current.runs[0].probes[0].longest_outage_ms = Some(16004.0);
        current.runs[1].probes[0].longest_outage_ms = Some(18000.0);
        let c = compare(&baseline, &current, &Tolerance::default());
        let d = find(&c, "kill-postgres-master", WRITE_OUTAGE_P50);
        assert!(d.regression, "{d:?}");
        assert_eq!((d.baseline, d.current), (Some(12004.0), Some(16004.0)));
        assert_eq!(d.note, "+4000 ms (+33 %)");
        assert_eq!(c.regressions(), 1, "{}", render(&c));
    }

    #[test]
    fn a_slowdown_within_tolerance_is_not() {
        let baseline = clean_baseline();
        let mut current = clean_baseline();
        // write p50 12004 → 14404.8: +2400.8 ms but only +20 %
        current.runs[0].probes[0].longest_outage_ms = Some(14404.8);
        current.runs[1].probes[0].longest_outage_ms = Some(15000.0);
        // read p50 7411.2 → 9311.2: +25.6 % but only +1900 ms
        current.runs[0].probes[1].longest_outage_ms = Some(9311.2);
        current.runs[1].probes[1].longest_outage_ms = Some(9400.0);
        let c = compare(&baseline, &current, &Tolerance::default());
        let write = find(&c, "kill-postgres-master", WRITE_OUTAGE_P50);
        assert_eq!(write.current, Some(14404.8));
        assert!(!write.regression);
        let read = find(&c, "kill-postgres-master", READ_OUTAGE_P50);
        assert_eq!(read.current, Some(9311.2));
        assert!(!read.regression);
        assert_eq!(read.note, "+1900 ms (+26 %)");
        assert_eq!(c.regressions(), 0, "{}", render(&c));
    }

    #[test]
    fn tolerance_needs_both_bounds() {
        let t = Tolerance::default();
        assert!(!t.exceeded(200.0, 2000.0), "+900 % but only 1.8 s");
        assert!(!t.exceeded(40000.0, 49000.0), "+9 s but only 22.5 %");
        assert!(t.exceeded(40000.0, 50001.0));
        assert!(!t.exceeded(40000.0, 30000.0));
    }

    #[test]
    fn lost_writes_where_the_baseline_lost_none_are_a_regression() {
        let c = compare(&clean_baseline(), &fixtures::suite(), &Tolerance::default());
        let d = find(&c, "power-off-master", LOST_WRITES);
        assert!(d.regression);
        assert_eq!((d.baseline, d.current), (Some(0.0), Some(1.0)));
        // …and losing writes in both is not a new regression
        let c = compare(&fixtures::suite(), &fixtures::suite(), &Tolerance::default());
        assert!(!find(&c, "power-off-master", LOST_WRITES).regression);
    }

    #[test]
    fn passing_then_failing_is_a_regression() {
        let c = compare(&clean_baseline(), &fixtures::suite(), &Tolerance::default());
        let d = find(&c, "power-off-master", PASSED_RUNS);
        assert!(d.regression);
        assert_eq!(d.note, "1/1 → 0/1, failing now");
        // lost writes + pass→fail; the write outage did not change
        assert_eq!(c.regressions(), 2, "{}", render(&c));
        // the other way round is an improvement
        let c = compare(&fixtures::suite(), &clean_baseline(), &Tolerance::default());
        assert_eq!(c.regressions(), 0);
        assert_eq!(find(&c, "power-off-master", PASSED_RUNS).note, "0/1 → 1/1, passing now");
    }

    #[test]
    fn a_missing_scenario_is_a_regression_a_new_one_is_noted() {
        let baseline = clean_baseline();
        let mut current = clean_baseline();
        current.runs.retain(|r| r.scenario == "kill-postgres-master");
        let c = compare(&baseline, &current, &Tolerance::default());
        let d = find(&c, "power-off-master", RUNS);
        assert!(d.regression, "a suite that silently shrank");
        assert_eq!((d.baseline, d.current), (Some(1.0), None));
        assert_eq!(d.note, "missing from current results");
        assert_eq!(c.regressions(), 1);
        // a scenario new in current is noted, not flagged
        let c = compare(&current, &baseline, &Tolerance::default());
        assert_eq!(find(&c, "power-off-master", RUNS).note, "not in baseline");
        assert_eq!(c.regressions(), 0);
    }

    #[test]
    fn render_is_a_table() {
        let c = compare(&clean_baseline(), &fixtures::suite(), &Tolerance::default());
        let text = render(&c);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("scenario"), "{text}");
        assert!(text.contains("REGRESSION"), "{text}");
        assert_eq!(lines.last(), Some(&"2 regressions"));
        let row = lines.iter().find(|l| l.contains("power-off-master") && l.contains(LOST_WRITES)).expect("row");
        assert!(row.contains("REGRESSION  acknowledged writes lost, none in baseline"), "{row}");
        // one header, one line per delta, one total
        assert_eq!(lines.len(), c.deltas.len() + 2);
    }

    #[test]
    fn comparison_serializes() {
        let c = compare(&clean_baseline(), &fixtures::suite(), &Tolerance::default());
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["deltas"][0]["scenario"], "kill-postgres-master");
        assert!(json["deltas"].as_array().is_some_and(|d| d.iter().any(|d| d["regression"] == true)));
    }
}
