//! `lab sweep`: one scenario run over a grid of configuration values, so
//! that a failover figure can be read against a setting (corosync's token,
//! synchronous replication) instead of guessed.
//!
//! Each point of the grid is a configuration: the user's, with one value
//! of each varied key. A point whose values change how the cluster is set
//! up gets a lab made anew with them (`make-all`); a point that differs
//! from the one before only in what a run reads (probes, timeouts,
//! reports) runs on the lab as it is. Every point runs the scenario
//! `repeat` times with the same seeds, so points differ in their setting
//! and not in their victims.

use std::path::PathBuf;
use std::str::FromStr;

use heartbeat::Role;
use serde::Serialize;

use crate::config::{Config, Override};
use crate::lifecycle::{self, Lab, LabError, MakeAllInput};
use crate::progress::Progress;
use crate::report::judge::ScenarioResult;
use crate::report::stats::{Summary, lost_writes, outage_ms, summarize};
use crate::run::scenario::Scenario;

/// One varied key and its values, from `--vary KEY=V1,V2,...`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl FromStr for Axis {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let Some((key, values)) = raw.split_once('=') else {
            return Err(format!("--vary {raw}: give KEY=V1,V2,... (e.g. cluster.token_ms=1000,3000,5000)"));
        };
        let key = key.trim().to_owned();
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).collect();
        if key.is_empty() || values.iter().any(String::is_empty) {
            return Err(format!("--vary {raw}: give KEY=V1,V2,... with no empty key or value"));
        }
        if let Some(twice) = values.iter().enumerate().find_map(|(i, v)| values[..i].contains(v).then_some(v)) {
            return Err(format!("--vary {raw}: value {twice} is given twice"));
        }
        Ok(Axis { key, values })
    }
}

/// The configuration sections a run reads while it runs; every other key
/// shapes the lab itself, which is then made anew for it.
const RUN_TIME_SECTIONS: &[&str] = &["heartbeat", "timeouts", "report"];

/// Whether a new value of `key` needs the lab made anew.
pub fn changes_setup(key: &str) -> bool {
    let section = key.split('.').next().unwrap_or_default();
    !RUN_TIME_SECTIONS.contains(&section)
}

/// One point of the grid: a value of each axis, in the axes' order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub settings: Vec<(String, String)>,
}

impl Point {
    /// Each setting as an override of the configuration, read as `--set`
    /// reads its value, and named after `--vary` in errors.
    pub fn overrides(&self) -> Result<Vec<Override>, String> {
        self.settings
            .iter()
            .map(|(k, v)| {
                let mut o = Override::parse_flag(&format!("{k}={v}")).map_err(|e| e.to_string())?;
                o.origin = crate::config::Origin::Flag(format!("--vary {k}={v}"));
                Ok(o)
            })
            .collect()
    }

    /// `cluster.token_ms=1000, postgres.synchronous=true`.
    pub fn label(&self) -> String {
        self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }

    /// Whether going from `before` (none: the lab as it is) to this point
    /// needs the lab made anew.
    pub fn needs_new_lab(&self, before: Option<&Point>) -> bool {
        let Some(before) = before else { return self.settings.iter().any(|(key, _)| changes_setup(key)) };
        self.settings.iter().zip(&before.settings).any(|((key, now), (_, was))| now != was && changes_setup(key))
    }
}

/// Every combination of the axes' values, the first axis changing slowest.
pub fn grid(axes: &[Axis]) -> Vec<Point> {
    let mut points = vec![Point { settings: Vec::new() }];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut settings = p.settings.clone();
                    settings.push((axis.key.clone(), v.clone()));
                    Point { settings }
                })
            })
            .collect();
    }
    points
}

/// What one run of a point measured.
#[derive(Clone, Debug, Serialize)]
pub struct PointRun {
    pub seed: u64,
    pub passed: bool,
    pub write_outage_ms: Option<f64>,
    pub read_outage_ms: Option<f64>,
    pub new_master_ms: Option<f64>,
    pub lost_writes: u64,
}

impl PointRun {
    fn of(run: &ScenarioResult) -> Self {
        PointRun {
            seed: run.seed,
            passed: run.passed,
            write_outage_ms: outage_ms(run, Role::Writer),
            read_outage_ms: outage_ms(run, Role::Reader),
            new_master_ms: run.new_master_after_ms,
            lost_writes: lost_writes(run),
        }
    }
}

/// One point's runs and where their results are.
#[derive(Clone, Debug, Serialize)]
pub struct PointResult {
    pub point: Point,
    /// Whether the lab was made anew for this point.
    pub new_lab: bool,
    pub run_dir: PathBuf,
    pub runs: Vec<PointRun>,
}

impl PointResult {
    pub fn summary(&self, measure: Measure) -> Option<Summary> {
        summarize(&self.runs.iter().filter_map(|r| measure.of(r)).collect::<Vec<_>>())
    }
}

/// A failover figure a sweep plots against its points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    WriteOutage,
    ReadOutage,
    NewMaster,
}

impl Measure {
    pub const ALL: [Measure; 3] = [Measure::WriteOutage, Measure::ReadOutage, Measure::NewMaster];

    pub fn name(self) -> &'static str {
        match self {
            Measure::WriteOutage => "write outage",
            Measure::ReadOutage => "read outage",
            Measure::NewMaster => "new master",
        }
    }

    pub fn of(self, run: &PointRun) -> Option<f64> {
        match self {
            Measure::WriteOutage => run.write_outage_ms,
            Measure::ReadOutage => run.read_outage_ms,
            Measure::NewMaster => run.new_master_ms,
        }
    }
}

/// A whole sweep: written as sweep.json, sweep.md and sweep.svg.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub scenario: String,
    pub lab: String,
    pub repeat: u32,
    pub seed: u64,
    pub axes: Vec<Axis>,
    pub points: Vec<PointResult>,
    /// Ctrl-C or SIGTERM ended the sweep before its last point.
    pub interrupted: bool,
}

impl Sweep {
    pub fn runs(&self) -> usize {
        self.points.iter().map(|p| p.runs.len()).sum()
    }

    pub fn passed(&self) -> usize {
        self.points.iter().flat_map(|p| &p.runs).filter(|r| r.passed).count()
    }

    /// The table of medians (min–max), one row per point, as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Sweep of {} on lab {}\n\n{} runs per point, seeds from {}{}\n\n",
            self.scenario,
            self.lab,
            self.repeat,
            self.seed,
            if self.interrupted { "; **INTERRUPTED**: points after the last row did not run" } else { "" }
        );
        let keys: Vec<&str> = self.axes.iter().map(|a| a.key.as_str()).collect();
        let measures = Measure::ALL.map(|m| format!("{} s", m.name()));
        out.push_str(&format!("| {} | passed | {} | lost acked writes |\n", keys.join(" | "), measures.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(keys.len() + measures.len() + 2)));
        for point in &self.points {
            let values: Vec<&str> = point.point.settings.iter().map(|(_, v)| v.as_str()).collect();
            let cells: Vec<String> = Measure::ALL.iter().map(|m| seconds(point.summary(*m))).collect();
            let passed = point.runs.iter().filter(|r| r.passed).count();
            let lost: u64 = point.runs.iter().map(|r| r.lost_writes).sum();
            out.push_str(&format!(
                "| {} | {passed} of {} | {} | {lost} |\n",
                values.join(" | "),
                point.runs.len(),
                cells.join(" | ")
            ));
        }
        out.push_str("\nMedian (min–max) over the point's runs; – where nothing was measured.\n");
        out
    }
}

/// A summary of milliseconds as seconds: `5.1 (4.9–5.3)`.
fn seconds(summary: Option<Summary>) -> String {
    summary.map_or("–".to_owned(), |s| s.median_and_range(0.001))
}

/// What `lab sweep` was asked.
#[derive(Debug)]
pub struct Plan {
    pub scenario: Scenario,
    pub axes: Vec<Axis>,
    pub repeat: u32,
    pub seed: u64,
}

/// Runs `plan`, one point after the other, each with its configuration
/// (read and checked before anything ran). When `interrupted()` resolves
/// the sweep ends: a run under way ends as `lab suite`'s do, a lab being
/// made is removed, and the sweep says it was interrupted.
pub async fn run<F: std::future::Future<Output = ()>>(
    plan: &Plan,
    configs: Vec<(Point, Config)>,
    progress: Progress,
    interrupted: impl Fn() -> F,
) -> Result<Sweep, LabError> {
    let mut sweep = Sweep {
        scenario: plan.scenario.name.clone(),
        lab: configs.first().map(|(_, c)| c.lab.name.clone()).unwrap_or_default(),
        repeat: plan.repeat,
        seed: plan.seed,
        axes: plan.axes.clone(),
        points: Vec::new(),
        interrupted: false,
    };
    let mut before: Option<Point> = None;
    for (point, config) in configs {
        tracing::info!(point = %point.label(), "sweep point");
        let exists = lifecycle::lab_exists(&crate::paths::LabPaths::new(&config.lab.state_dir, &config.lab.name));
        let new_lab = point.needs_new_lab(before.as_ref()) || !exists;
        let lab = if new_lab {
            let input = MakeAllInput::default();
            let made = lifecycle::make_all_unless_interrupted(config, progress.clone(), input, interrupted()).await;
            let Some(made) = made else {
                sweep.interrupted = true;
                break;
            };
            made?.0.into_cluster()?
        } else {
            Lab::open_cluster(config, progress.clone())?
        };
        let capabilities = crate::backend::NodeBackend::capabilities(&lab.backend);
        if let Some(why) = plan.scenario.unsupported_by(capabilities, lab.topology.stack.profile()) {
            return Err(LabError::Unsupported(why));
        }
        let suite_plan = crate::run::suite::Plan {
            label: format!("sweep-{}", plan.scenario.name),
            scenarios: vec![plan.scenario.clone()],
            repeat: Some(plan.repeat),
            seed: plan.seed,
            partition: None,
            reuse: false,
        };
        let (run_dir, suite, _) =
            crate::run::suite::run(&lab, &suite_plan, interrupted(), |r| eprintln!("{}", r.render())).await?;
        sweep.points.push(PointResult {
            point: point.clone(),
            new_lab,
            run_dir,
            runs: suite.runs.iter().map(PointRun::of).collect(),
        });
        if suite.interrupted {
            sweep.interrupted = true;
            break;
        }
        if let Some(error) = suite.unfinished.iter().find_map(|u| u.error.as_deref()) {
            return Err(LabError::Runs(format!("point {} ended by an error: {error}", point.label())));
        }
        before = Some(point);
    }
    Ok(sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(raw: &str) -> Axis {
        raw.parse().expect(raw)
    }

    #[test]
    fn an_axis_is_a_key_and_distinct_values() {
        assert_eq!(
            axis("cluster.token_ms=1000, 3000,5000"),
            Axis { key: "cluster.token_ms".into(), values: vec!["1000".into(), "3000".into(), "5000".into()] }
        );
        assert!("cluster.token_ms".parse::<Axis>().expect_err("refused").contains("KEY=V1,V2"));
        assert!("cluster.token_ms=1000,,3000".parse::<Axis>().expect_err("refused").contains("no empty"));
        assert!("=1".parse::<Axis>().expect_err("refused").contains("no empty"));
        assert!("a.b=1,2,1".parse::<Axis>().expect_err("refused").contains("value 1 is given twice"));
    }

    #[test]
    fn the_grid_is_every_combination_with_the_first_axis_slowest() {
        let points = grid(&[axis("cluster.token_ms=1000,3000"), axis("postgres.synchronous=false,true")]);
        let labels: Vec<String> = points.iter().map(Point::label).collect();
        assert_eq!(
            labels,
            [
                "cluster.token_ms=1000, postgres.synchronous=false",
                "cluster.token_ms=1000, postgres.synchronous=true",
                "cluster.token_ms=3000, postgres.synchronous=false",
                "cluster.token_ms=3000, postgres.synchronous=true",
            ]
        );
        assert_eq!(grid(&[]).len(), 1, "no axis: the configuration as it is");
    }

    #[test]
    fn only_a_setting_the_cluster_is_made_with_makes_the_lab_anew() {
        assert!(changes_setup("cluster.token_ms") && changes_setup("postgres.synchronous"));
        assert!(!changes_setup("heartbeat.rate_hz") && !changes_setup("timeouts.healthy_s"));
        let points = grid(&[axis("cluster.token_ms=1000,3000"), axis("heartbeat.rate_hz=5,10")]);
        let news: Vec<bool> =
            points.iter().enumerate().map(|(i, p)| p.needs_new_lab(i.checked_sub(1).map(|j| &points[j]))).collect();
        assert_eq!(news, [true, false, true, false], "the first point, and each new token");
        let rates = grid(&[axis("heartbeat.rate_hz=5,10")]);
        assert!(!rates[0].needs_new_lab(None), "probes' settings run on the lab as it is");
    }

    #[test]
    fn the_table_has_a_row_per_point_with_medians_and_spread() {
        let run = |seed, passed, write: f64, lost| PointRun {
            seed,
            passed,
            write_outage_ms: Some(write),
            read_outage_ms: Some(0.0),
            new_master_ms: None,
            lost_writes: lost,
        };
        let points = grid(&[axis("cluster.token_ms=1000,5000")]);
        let sweep = Sweep {
            scenario: "poweroff-master".into(),
            lab: "t".into(),
            repeat: 2,
            seed: 7,
            axes: vec![axis("cluster.token_ms=1000,5000")],
            points: vec![
                PointResult {
                    point: points[0].clone(),
                    new_lab: true,
                    run_dir: "a".into(),
                    runs: vec![run(7, true, 4000.0, 0), run(8, true, 6000.0, 0)],
                },
                PointResult {
                    point: points[1].clone(),
                    new_lab: true,
                    run_dir: "b".into(),
                    runs: vec![run(7, false, 12_000.0, 3)],
                },
            ],
            interrupted: false,
        };
        let table = sweep.markdown();
        assert!(
            table.contains("| cluster.token_ms | passed | write outage s | read outage s | new master s |"),
            "{table}"
        );
        assert!(table.contains("| 1000 | 2 of 2 | 4.0 (4.0–6.0) | 0.0 (0.0–0.0) | – | 0 |"), "{table}");
        assert!(table.contains("| 5000 | 0 of 1 | 12.0 | 0.0 | – | 3 |"), "{table}");
        assert_eq!((sweep.runs(), sweep.passed()), (3, 2));
    }
}
