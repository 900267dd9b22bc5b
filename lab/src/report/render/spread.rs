//! How a scenario's measures spread over its runs, as SVG: one row per
//! measure (write and read outage, new master, and the failover's phases),
//! a dot per run, the mean with a bar of ± one standard deviation, like
//! Tuchanka's avg ± sd table but showing every run. A regression that is
//! one slow run out of five looks different from a shift of all five.

use std::error::Error;

use heartbeat::Role;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::timeline::{FAILED_COLOR, OK_COLOR, WIDTH, not_drawn};
use crate::report::judge::ScenarioResult;
use crate::report::stats::{outage_ms, summarize};

/// Height of one measure's row.
const ROW_PX: u32 = 30;
/// Title, margins and the x axis.
const CHROME_PX: u32 = 34 + 10 + 40;
const MEAN_COLOR: RGBColor = RGBColor(17, 24, 39);
const FONT: &str = "sans-serif";
/// 16 and 14 px (plotters writes `size / 1.24`), as the timeline's.
const TEXT_SIZE: f64 = 19.84;
const SMALL_SIZE: f64 = 17.36;

/// One measure over the runs: each run's value and whether the run passed.
struct Measure {
    name: String,
    values: Vec<(f64, bool)>,
}

/// The measures of `runs` (all of one scenario) that at least one run has.
fn measures(runs: &[&ScenarioResult]) -> Vec<Measure> {
    let mut measures = Vec::new();
    let mut add = |name: String, value: &dyn Fn(&ScenarioResult) -> Option<f64>| {
        let values: Vec<(f64, bool)> =
            runs.iter().filter_map(|r| value(r).filter(|v| v.is_finite()).map(|v| (v, r.passed))).collect();
        if !values.is_empty() {
            measures.push(Measure { name, values });
        }
    };
    add("write outage".into(), &|r| outage_ms(r, Role::Writer));
    add("read outage".into(), &|r| outage_ms(r, Role::Reader));
    add("new master".into(), &|r| r.new_master_after_ms);
    let phases = runs.iter().find_map(|r| r.phases.as_ref()).map(|p| p.named().map(|(name, _)| name));
    for (i, phase) in phases.into_iter().flatten().enumerate() {
        add(format!("{phase} (after fault)"), &|r| r.phases.as_ref().and_then(|p| p.named()[i].1));
    }
    measures
}

/// The spread of `runs` of one scenario, or `None` with fewer than two runs
/// (one run has no spread) or nothing measured.
pub fn spread_svg(scenario: &str, runs: &[&ScenarioResult]) -> Option<String> {
    let measures = measures(runs);
    if runs.len() < 2 || measures.is_empty() {
        return None;
    }
    let height = CHROME_PX + ROW_PX * measures.len() as u32;
    let mut svg = String::new();
    match draw(&mut svg, (WIDTH, height), scenario, runs.len(), &measures) {
        Ok(()) => Some(svg),
        Err(e) => Some(not_drawn("spread", &*e)),
    }
}

fn draw(
    svg: &mut String,
    size: (u32, u32),
    scenario: &str,
    runs: usize,
    measures: &[Measure],
) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let x_end = measures.iter().flat_map(|m| m.values.iter().map(|(v, _)| *v)).fold(0.0, f64::max) * 1.08 + 1.0;
    let rows = measures.len() as f64;
    let title = format!("{scenario}: {runs} runs (dot: a run, red if it failed; bar: mean ± sd)");
    root.draw(&Text::new(
        title,
        (10, 8),
        (FONT, TEXT_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    let longest = measures.iter().map(|m| m.name.chars().count()).max().unwrap_or(0) as u32;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .margin_top(34)
        .margin_right(20)
        .x_label_area_size(40)
        .y_label_area_size(longest * 9 + 16)
        .build_cartesian_2d(0.0..x_end, 0.0..rows)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(10)
        .x_label_formatter(&|ms| format!("{ms:.0}"))
        .x_desc("milliseconds")
        .max_light_lines(0)
        .label_style((FONT, SMALL_SIZE).into_font())
        .axis_desc_style((FONT, SMALL_SIZE).into_font())
        .draw()?;
    let (plot_left, _) = chart.backend_coord(&(0.0, rows));
    for (i, measure) in measures.iter().enumerate() {
        let y = rows - i as f64 - 0.5;
        let values: Vec<f64> = measure.values.iter().map(|(v, _)| *v).collect();
        if let Some(s) = summarize(&values) {
            let bar = [(s.mean - s.sd).max(0.0), s.mean + s.sd];
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(bar[0], y), (bar[1], y)],
                MEAN_COLOR.mix(0.35).stroke_width(6),
            )))?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(s.mean, y - 0.3), (s.mean, y + 0.3)],
                MEAN_COLOR.stroke_width(2),
            )))?;
        }
        chart.draw_series(measure.values.iter().map(|(v, passed)| {
            let color = if *passed { OK_COLOR } else { FAILED_COLOR };
            Circle::new((*v, y), 4, color.filled())
        }))?;
        let (_, text_y) = chart.backend_coord(&(0.0, y));
        let style = (FONT, SMALL_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(measure.name.clone(), (plot_left - 8, text_y), style))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    #[test]
    fn two_runs_of_a_scenario_have_a_dot_each_per_measure() {
        let suite = fixtures::suite();
        let kills: Vec<&ScenarioResult> = suite.runs.iter().filter(|r| r.scenario == "kill-postgres-master").collect();
        let svg = spread_svg("kill-postgres-master", &kills).expect("two runs");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let dots = doc.descendants().filter(|n| n.has_tag_name("circle")).count();
        // write outage, read outage and new master, for each of the two runs
        assert_eq!(dots, 6, "{svg}");
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        for name in ["write outage", "read outage", "new master"] {
            assert!(texts.contains(&name), "{texts:?}");
        }
    }

    #[test]
    fn one_run_has_no_spread() {
        let suite = fixtures::suite();
        let power: Vec<&ScenarioResult> = suite.runs.iter().filter(|r| r.scenario != "kill-postgres-master").collect();
        assert_eq!(power.len(), 1);
        assert_eq!(spread_svg("power-off-master", &power), None);
    }
}
