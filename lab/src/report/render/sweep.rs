//! A sweep's failover figures against its points, as SVG: a column per
//! point (the values it set), a dot per run and measure, and a line through
//! each measure's medians, so that the trend a setting makes and the
//! scatter of the runs around it are seen together.

use std::error::Error;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::timeline::{FAILED_COLOR, WIDTH, not_drawn};
use crate::run::sweep::{Measure, Sweep};

const HEIGHT: u32 = 420;
const FONT: &str = "sans-serif";
/// 14 px (plotters writes `size / 1.24`), as the other plots' small text.
const SMALL_SIZE: f64 = 17.36;

fn color(measure: Measure) -> RGBColor {
    match measure {
        Measure::WriteOutage => RGBColor(37, 99, 235),
        Measure::ReadOutage => RGBColor(22, 163, 74),
        Measure::NewMaster => RGBColor(217, 119, 6),
    }
}

/// The sweep's plot as a standalone SVG document.
pub fn sweep_svg(sweep: &Sweep) -> String {
    let mut svg = String::new();
    match draw(&mut svg, sweep) {
        Ok(()) => svg,
        Err(e) => not_drawn("sweep", &*e),
    }
}

fn draw(svg: &mut String, sweep: &Sweep) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let keys: Vec<&str> = sweep.axes.iter().map(|a| a.key.as_str()).collect();
    let title = format!(
        "{} against {} ({} runs a point; dot: a run, circled red if it failed; line: medians)",
        sweep.scenario,
        keys.join(", "),
        sweep.repeat
    );
    root.draw(&Text::new(
        title,
        (10, 8),
        (FONT, SMALL_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    let points = sweep.points.len().max(1);
    let top = sweep
        .points
        .iter()
        .flat_map(|p| p.runs.iter().flat_map(|r| Measure::ALL.map(|m| m.of(r))))
        .flatten()
        .fold(0.0, f64::max)
        / 1000.0;
    let labels: Vec<String> = sweep
        .points
        .iter()
        .map(|p| p.point.settings.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(", "))
        .collect();
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .margin_top(40)
        .margin_right(170)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(points as f64 - 0.5), 0.0..(top * 1.1 + 1.0))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(points)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc(keys.join(", "))
        .y_desc("seconds after the fault")
        .y_label_formatter(&|s| format!("{s:.0}"))
        .max_light_lines(0)
        .label_style((FONT, SMALL_SIZE).into_font())
        .axis_desc_style((FONT, SMALL_SIZE).into_font())
        .draw()?;
    let mut drawn = Vec::new();
    for (k, measure) in Measure::ALL.into_iter().enumerate() {
        let color = color(measure);
        // Side by side within a point's column, so the measures' dots do not hide each other.
        let shift = (k as f64 - 1.0) * 0.08;
        let dots: Vec<(f64, f64, bool)> = sweep
            .points
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.runs.iter().filter_map(move |r| Some((i as f64 + shift, measure.of(r)? / 1000.0, r.passed)))
            })
            .collect();
        if dots.is_empty() {
            continue;
        }
        let medians: Vec<(f64, f64)> = sweep
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as f64 + shift, p.summary(measure)?.p50 / 1000.0)))
            .collect();
        chart.draw_series(LineSeries::new(medians, color.stroke_width(2)))?;
        drawn.push(measure);
        chart.draw_series(dots.iter().map(|(x, y, _)| Circle::new((*x, *y), 4, color.filled())))?;
        chart.draw_series(
            dots.iter()
                .filter(|(_, _, passed)| !passed)
                .map(|(x, y, _)| Circle::new((*x, *y), 7, FAILED_COLOR.stroke_width(2))),
        )?;
    }
    // The legend in the right margin, beside the plot: never over a point's dots.
    let (plot_right, plot_top) = chart.plotting_area().get_pixel_range();
    let (left, top) = (plot_right.end + 12, plot_top.start + 8);
    for (row, measure) in drawn.into_iter().enumerate() {
        let y = top + row as i32 * 22;
        root.draw(&PathElement::new(vec![(left, y), (left + 20, y)], color(measure).stroke_width(3)))?;
        let style = (FONT, SMALL_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(measure.name(), (left + 28, y), style))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::sweep::{Axis, PointResult, PointRun, grid};

    #[test]
    fn a_dot_per_run_and_measure_and_a_label_per_point() {
        let axis: Axis = "cluster.token_ms=1000,5000".parse().expect("axis");
        let points = grid(std::slice::from_ref(&axis));
        let run = |passed, write: f64| PointRun {
            seed: 1,
            passed,
            write_outage_ms: Some(write),
            read_outage_ms: None,
            new_master_ms: Some(write - 500.0),
            lost_writes: 0,
        };
        let sweep = Sweep {
            scenario: "poweroff-master".into(),
            lab: "t".into(),
            repeat: 2,
            seed: 1,
            axes: vec![axis],
            points: points
                .into_iter()
                .zip([[run(true, 4000.0), run(true, 5000.0)], [run(true, 9000.0), run(false, 14_000.0)]])
                .map(|(point, runs)| PointResult { point, new_lab: true, run_dir: "d".into(), runs: runs.to_vec() })
                .collect(),
            interrupted: false,
        };
        let svg = sweep_svg(&sweep);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let circles = doc.descendants().filter(|n| n.has_tag_name("circle")).count();
        // 4 runs × 2 measured figures, and a red ring round each of the failed run's.
        assert_eq!(circles, 4 * 2 + 2, "{svg}");
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        for text in ["1000", "5000", "write outage", "new master", "cluster.token_ms"] {
            assert!(texts.contains(&text), "{text} in {texts:?}");
        }
        assert!(!texts.contains(&"read outage"), "nothing measured, no legend");
    }
}
