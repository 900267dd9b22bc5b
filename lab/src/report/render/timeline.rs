//! A run's timeline as SVG: what each probe saw, attempt by attempt, with
//! the fault and its consequences marked.
//!
//! One horizontal lane per probe recording, then, when the run recorded the
//! cluster's polls, a lane for where the fault's service had its master and
//! one for its VIP, coloured by node. Every attempt is a tick at its
//! start time, green when it succeeded and red when it failed, as tall as it
//! took (log scale, 1 ms to 1 s); writes found lost are crossed, writes that
//! committed without an acknowledgement ringed; outage
//! windows (as defined by [`heartbeat::outage`]) are shaded red behind the
//! ticks. Vertical lines mark the fault (black), the new master (blue),
//! fencing actions (amber) and the promotion and VIP start the journals
//! showed (violet). The x axis is seconds on the probes' clock, the
//! same clock `fault_at_ms` is measured on.
//!
//! Drawn with plotters' SVG backend without its `ttf` feature: text goes
//! out as `<text>` elements and the viewer picks the font, so nothing on
//! the host is needed to render.
//!
//! # Wall clock
//!
//! Fence events and journal lines carry wall-clock time. Results record the
//! wall-clock time of the probes' clock origin (`probe_clock_unix_ms`), so
//! fence events are placed exactly and the axis says when 0 was. Results
//! written before that are placed at `unix_ms − started_unix_ms −
//! (rollback_s + cluster_start_s)`, late by the moments between the cluster
//! start and the probes' start; their label says `≈`. Events outside the
//! plotted time range are left out.
//!
//! # Size
//!
//! Ticks that land on the same pixel column of a lane with the same outcome
//! are drawn once, so a long, fast-probed run stays a few thousand elements
//! at most.

use std::collections::BTreeMap;
use std::error::Error;

use heartbeat::{Recording, Role};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{fault_label, serde_name};
use crate::report::judge::{PlacementSample, ScenarioResult};

/// Width of the image in pixels.
pub const WIDTH: u32 = 900;
/// Height of one probe lane.
const LANE_PX: u32 = 44;
/// Space above the lanes for the markers' labels, in lanes.
const BAND: f64 = 2.0;
/// Title, margins and the x axis.
const CHROME_PX: u32 = 34 + 10 + 40;

/// Stroke of a succeeded attempt.
pub const OK_COLOR: RGBColor = RGBColor(22, 163, 74);
/// Stroke of a failed attempt; shading of outage windows.
pub const FAILED_COLOR: RGBColor = RGBColor(220, 38, 38);
const FAULT_COLOR: RGBColor = RGBColor(17, 24, 39);
const MASTER_COLOR: RGBColor = RGBColor(37, 99, 235);
const FENCE_COLOR: RGBColor = RGBColor(217, 119, 6);
/// Phases of the failover read from the journals.
const PHASE_COLOR: RGBColor = RGBColor(124, 58, 237);
const GRID_COLOR: RGBColor = RGBColor(209, 213, 219);
const FONT: &str = "sans-serif";
/// Font sizes as plotters takes them: its SVG backend writes `size / 1.24`
/// pixels, so these come out as exactly 16, 14, 12 and 11 px.
const TITLE_SIZE: f64 = 19.84;
const LANE_SIZE: f64 = 17.36;
const TEXT_SIZE: f64 = 14.88;
const SMALL_SIZE: f64 = 13.64;

/// The run's timeline as a standalone SVG document (no XML declaration, so
/// it can also be inlined in HTML).
pub fn timeline_svg(result: &ScenarioResult, recordings: &[Recording]) -> String {
    let placements = placement_lanes(result);
    let lanes = (recordings.len() + placements.len()).max(1);
    let height = CHROME_PX + (((lanes as f64) + BAND) * f64::from(LANE_PX)).round() as u32;
    let mut svg = String::new();
    match draw(&mut svg, (WIDTH, height), result, recordings, &placements) {
        Ok(()) => svg,
        Err(e) => not_drawn("timeline", &*e),
    }
}

/// A one-line SVG saying that `what` could not be drawn, and why.
pub(crate) fn not_drawn(what: &str, error: &dyn Error) -> String {
    format!(
        "<svg width=\"{WIDTH}\" height=\"40\" viewBox=\"0 0 {WIDTH} 40\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text x=\"10\" y=\"24\">{what} could not be drawn: {}</text></svg>\n",
        error.to_string().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    )
}

/// A vertical marker: where, what colour, what it says.
struct Marker {
    at_s: f64,
    color: RGBColor,
    label: String,
}

fn markers(result: &ScenarioResult) -> Vec<Marker> {
    let fault_s = result.fault_at_ms / 1000.0;
    let mut markers = vec![Marker {
        at_s: fault_s,
        color: FAULT_COLOR,
        label: format!("{} → {} at {fault_s:.1} s", fault_label(&result.fault), result.victim),
    }];
    for step in &result.then {
        let at_s = step.at_ms / 1000.0;
        markers.push(Marker {
            at_s,
            color: FAULT_COLOR,
            label: format!("then {} → {} at {at_s:.1} s", fault_label(&step.fault), step.victim),
        });
    }
    let lifts = std::iter::once((&result.fault, result.lifted_at_ms))
        .chain(result.then.iter().map(|step| (&step.fault, step.lifted_at_ms)));
    for (fault, lifted_at_ms) in lifts {
        if let Some(at_ms) = lifted_at_ms {
            let at_s = at_ms / 1000.0;
            markers.push(Marker {
                at_s,
                color: FAULT_COLOR,
                label: format!("{} lifted at {at_s:.1} s", fault.action.name()),
            });
        }
    }
    if let Some(after) = result.new_master_after_ms {
        markers.push(Marker {
            at_s: fault_s + after / 1000.0,
            color: MASTER_COLOR,
            label: format!("new master {} (+{:.1} s)", result.master_after.as_deref().unwrap_or("?"), after / 1000.0),
        });
    }
    let (origin_ms, about) = match result.probe_clock_unix_ms {
        Some(origin) => (origin as f64, ""),
        None => {
            let t = &result.timings;
            (result.started_unix_ms as f64 + (t.rollback_s + t.cluster_start_s) * 1000.0, "≈ ")
        }
    };
    for event in &result.fence_events {
        markers.push(Marker {
            at_s: (event.unix_ms as f64 - origin_ms) / 1000.0,
            color: FENCE_COLOR,
            label: format!("{about}fence {} {} ({})", event.action, event.node, event.answer),
        });
    }
    let phases = result.phases.iter().flat_map(|p| [("promoted", p.promoted_ms), ("VIP up", p.vip_ms)]);
    for (phase, at) in phases {
        if let Some(at) = at {
            markers.push(Marker {
                at_s: fault_s + at / 1000.0,
                color: PHASE_COLOR,
                label: format!("{phase} (+{:.1} s)", at / 1000.0),
            });
        }
    }
    markers
}

/// The axis caption: which clock, when it read 0 if known, and what a
/// tick's height means.
fn x_caption(result: &ScenarioResult) -> String {
    let backend = serde_name(&result.backend);
    let zero =
        result.probe_clock_unix_ms.map_or_else(String::new, |origin| format!(", 0 = {}", super::utc_precise(origin)));
    format!("seconds on the probes' clock{zero} ({backend} backend); tick height: latency, 1 ms–1 s, log")
}

/// The lane's name: the probe, and its role when the name does not say it.
fn lane_name(recording: &Recording) -> String {
    let role = match recording.role {
        Role::Writer => "writer",
        Role::Reader => "reader",
    };
    if recording.probe.contains(role) { recording.probe.clone() } else { format!("{} ({role})", recording.probe) }
}

/// Room left of the plot for the longest lane name (16 px text, about 9 px
/// a character), so that no name is clipped.
fn label_area_px(names: &[String]) -> u32 {
    let longest = names.iter().map(|name| name.chars().count()).max().unwrap_or(0);
    (longest as u32 * 9 + 16).max(110)
}

/// A lane of where the cluster had something: its name and, per poll, the
/// node (on the probes' clock, in seconds).
struct PlacementLane {
    name: String,
    spans: Vec<(f64, Option<String>)>,
}

/// Lanes for the fault's service's master and its VIP, when the run
/// recorded the cluster's polls.
fn placement_lanes(result: &ScenarioResult) -> Vec<PlacementLane> {
    if result.placements.is_empty() {
        return Vec::new();
    }
    let lane = |name: String, node: fn(&PlacementSample) -> &Option<String>| PlacementLane {
        name,
        spans: result.placements.iter().map(|p| (p.at_ms / 1000.0, node(p).clone())).collect(),
    };
    vec![lane(format!("{} master", result.service), |p| &p.master), lane(format!("{} VIP", result.service), |p| &p.vip)]
}

/// Node colours of the placement lanes, by the node's first appearance.
const NODE_COLORS: [RGBColor; 4] =
    [RGBColor(59, 130, 246), RGBColor(20, 184, 166), RGBColor(249, 115, 22), RGBColor(236, 72, 153)];
const NOWHERE_COLOR: RGBColor = RGBColor(229, 231, 235);

fn draw(
    svg: &mut String,
    size: (u32, u32),
    result: &ScenarioResult,
    recordings: &[Recording],
    placements: &[PlacementLane],
) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;

    let mut names: Vec<String> = recordings.iter().map(lane_name).collect();
    names.extend(placements.iter().map(|p| p.name.clone()));
    let lanes = names.len().max(1) as f64;
    let data_end =
        recordings.iter().flat_map(|r| r.attempts.last()).map(|a| a.completed().as_secs_f64()).fold(0.0, f64::max);
    let fault_s = result.fault_at_ms / 1000.0;
    let master_s = result.new_master_after_ms.map_or(0.0, |m| fault_s + m / 1000.0);
    let x_end = (data_end.max(fault_s).max(master_s) + 1.0).ceil().max(1.0);
    let markers: Vec<Marker> = markers(result).into_iter().filter(|m| (0.0..=x_end).contains(&m.at_s)).collect();

    // The first fault only: the markers name the ones that followed, and a
    // long title would run into the legend.
    let more = match result.then.len() {
        0 => String::new(),
        n => format!(" + {n} more"),
    };
    let title = format!(
        "{} #{}: {} → {}{more} ({})",
        result.scenario,
        result.iteration,
        fault_label(&result.fault),
        result.victim,
        if result.passed { "passed" } else { "FAILED" }
    );
    let title_style = (FONT, TITLE_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top));
    root.draw(&Text::new(title, (10, 8), title_style))?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .margin_top(34)
        .margin_right(20)
        .x_label_area_size(40)
        .y_label_area_size(label_area_px(&names))
        .build_cartesian_2d(0.0..x_end, 0.0..lanes + BAND)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(12)
        .x_label_formatter(&seconds)
        .x_desc(x_caption(result))
        .max_light_lines(0)
        .bold_line_style(GRID_COLOR)
        .label_style((FONT, TEXT_SIZE).into_font())
        .axis_desc_style((FONT, TEXT_SIZE).into_font())
        .draw()?;

    // Lane i from the top: y in [lanes - i - 1, lanes - i).
    let lane_bottom = |i: usize| lanes - i as f64 - 1.0;
    for i in 1..names.len() {
        let y = lane_bottom(i) + 1.0;
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, y), (x_end, y)], GRID_COLOR)))?;
    }

    // Outage windows, behind the ticks.
    for (i, recording) in recordings.iter().enumerate() {
        let y = lane_bottom(i);
        chart.draw_series(recording.outages().iter().map(|o| {
            let start = o.start.as_secs_f64();
            let end = o.end.map_or(x_end, |e| e.as_secs_f64());
            Rectangle::new([(start, y + 0.1), (end, y + 0.9)], FAILED_COLOR.mix(0.13).filled())
        }))?;
    }

    // One tick per attempt, as tall as its latency, deduplicated per pixel
    // column and outcome (the slowest of a column is drawn).
    for (i, recording) in recordings.iter().enumerate() {
        let y = lane_bottom(i);
        let mut columns: BTreeMap<(i32, bool), (f64, f64)> = BTreeMap::new();
        for attempt in &recording.attempts {
            let x = attempt.started.as_secs_f64();
            let column = (chart.backend_coord(&(x, y)).0, attempt.outcome.is_ok());
            let height = latency_height(attempt.latency);
            let tick = columns.entry(column).or_insert((x, height));
            tick.1 = tick.1.max(height);
        }
        chart.draw_series(columns.into_iter().map(|((_, ok), (x, height))| {
            let color = if ok { OK_COLOR } else { FAILED_COLOR };
            PathElement::new(vec![(x, y + 0.2), (x, y + 0.2 + 0.6 * height)], color.stroke_width(2))
        }))?;
    }

    // Writes the lost-write check found lost (a black cross) or committed
    // without an acknowledgement (a violet ring), on their writer's lane.
    for (i, recording) in recordings.iter().enumerate() {
        let Some(acks) = writes_checked(result, recording) else { continue };
        let y = lane_bottom(i) + 0.85;
        let at = |seq: &u64| recording.attempts.iter().find(|a| a.seq == *seq).map(|a| a.started.as_secs_f64());
        chart
            .draw_series(acks.lost.iter().filter_map(at).map(|x| Cross::new((x, y), 5, FAULT_COLOR.stroke_width(2))))?;
        chart.draw_series(
            acks.unacknowledged.iter().filter_map(at).map(|x| Circle::new((x, y), 4, PHASE_COLOR.stroke_width(2))),
        )?;
    }

    // Where the cluster had the service: a bar per poll, coloured by node,
    // named where it changes.
    let mut nodes: Vec<&str> = Vec::new();
    for (j, lane) in placements.iter().enumerate() {
        let y = lane_bottom(recordings.len() + j);
        for (k, (from, node)) in lane.spans.iter().enumerate() {
            let to = lane.spans.get(k + 1).map_or(x_end, |(next, _)| *next).min(x_end);
            let color = match node {
                Some(node) => {
                    let index = nodes.iter().position(|n| n == node).unwrap_or_else(|| {
                        nodes.push(node);
                        nodes.len() - 1
                    });
                    NODE_COLORS[index % NODE_COLORS.len()]
                }
                None => NOWHERE_COLOR,
            };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(*from, y + 0.3), (to, y + 0.7)],
                color.mix(0.55).filled(),
            )))?;
            if k == 0 || lane.spans[k - 1].1 != *node {
                let (x, text_y) = chart.backend_coord(&(*from, y + 0.5));
                let style = (FONT, SMALL_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
                root.draw(&Text::new(node.clone().unwrap_or_else(|| "none".into()), (x + 3, text_y), style))?;
            }
        }
    }

    // Markers: a line through the lanes, the label in the band above them,
    // on the first of five rows where it does not run into another label.
    let (plot_left, _) = chart.backend_coord(&(0.0, lanes + BAND));
    let (plot_right, _) = chart.backend_coord(&(x_end, 0.0));
    let mut markers = markers;
    markers.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    // Labels of markers in the right third go on the line's left.
    let placed: Vec<(i32, HPos, (i32, i32))> = markers
        .iter()
        .map(|marker| {
            let (x, _) = chart.backend_coord(&(marker.at_s, 0.0));
            let width = LABEL_CHAR_PX * marker.label.chars().count() as i32;
            if x > plot_left + (plot_right - plot_left) * 2 / 3 {
                (x - 4, HPos::Right, (x - 4 - width, x - 4))
            } else {
                (x + 4, HPos::Left, (x + 4, x + 4 + width))
            }
        })
        .collect();
    let rows = label_rows(&placed.iter().map(|(_, _, extent)| *extent).collect::<Vec<_>>(), LABEL_ROWS);
    for ((marker, (x, h, _)), row) in markers.iter().zip(placed).zip(rows) {
        let top = lanes + BAND - 0.3 - 0.4 * row as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(marker.at_s, 0.0), (marker.at_s, top)],
            marker.color.stroke_width(2),
        )))?;
        let (_, y) = chart.backend_coord(&(marker.at_s, top));
        let style = (FONT, TEXT_SIZE).into_font().color(&marker.color).pos(Pos::new(h, VPos::Center));
        root.draw(&Text::new(marker.label.clone(), (x, y), style))?;
    }

    // Lane names left of the plot.
    for (i, name) in names.iter().enumerate() {
        let (_, y) = chart.backend_coord(&(0.0, lane_bottom(i) + 0.5));
        let style = (FONT, LANE_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(name.clone(), (plot_left - 8, y), style))?;
    }
    if recordings.is_empty() {
        let (_, y) = chart.backend_coord(&(0.0, 0.5));
        let style = (FONT, TEXT_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new("no probe recordings", (plot_left + 8, y), style))?;
    }

    legend(&root, (plot_right, 8))?;
    root.present()?;
    Ok(())
}

/// A tick's height as a share of the lane for an attempt's latency, on a
/// log scale: 1 ms or less is the shortest, 1 s or more the full height.
fn latency_height(latency: std::time::Duration) -> f64 {
    let ms = latency.as_secs_f64() * 1000.0;
    (ms.max(1.0).log10() / 3.0).clamp(0.15, 1.0)
}

/// The lost-write check of a writer's service, if `recording` is a writer's.
fn writes_checked<'r>(result: &'r ScenarioResult, recording: &Recording) -> Option<&'r heartbeat::AckCheck> {
    if recording.role != Role::Writer {
        return None;
    }
    let probes = result.probes.iter().filter(|p| p.probe == recording.probe);
    probes.filter_map(|p| result.lost_writes.get(&p.service)).next()
}

/// Rows of marker labels in the band above the lanes.
const LABEL_ROWS: usize = 5;
/// Estimated width of a character of a 12 px label (the viewer picks the
/// font, so this is on the wide side).
const LABEL_CHAR_PX: i32 = 7;

/// A row for each label, given its horizontal extent in pixels (in the
/// order they are drawn): the first of `rows` rows where it clears every
/// label already there by 6 px, else the row whose labels end leftmost.
fn label_rows(extents: &[(i32, i32)], rows: usize) -> Vec<usize> {
    let mut ends: Vec<Option<i32>> = vec![None; rows.max(1)];
    extents
        .iter()
        .map(|&(left, right)| {
            let free = ends.iter().position(|end| end.is_none_or(|end| end + 6 <= left));
            let row = free.unwrap_or_else(|| (0..ends.len()).min_by_key(|&r| ends[r].unwrap_or(i32::MIN)).unwrap_or(0));
            ends[row] = Some(ends[row].map_or(right, |end| end.max(right)));
            row
        })
        .collect()
}

/// An axis label: `5`, `2.5`, never `0.30000000000000004`.
fn seconds(x: &f64) -> String {
    let text = format!("{x:.1}");
    text.strip_suffix(".0").map_or_else(|| text.clone(), str::to_owned)
}

/// `▮ ok attempt ▮ failed attempt ▮ outage`, ending at `right`, `top` down.
fn legend(root: &DrawingArea<SVGBackend<'_>, Shift>, (right, top): (i32, i32)) -> Result<(), Box<dyn Error>> {
    let entries = [
        ("outage", FAILED_COLOR.mix(0.13).filled()),
        ("failed attempt", FAILED_COLOR.filled()),
        ("ok attempt", OK_COLOR.filled()),
    ];
    // From the right; the text width is estimated (the viewer picks the font).
    let mut x = right;
    for (label, style) in entries {
        x -= 6 * label.chars().count() as i32;
        let text = (FONT, SMALL_SIZE).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(label, (x, top + 6), text))?;
        root.draw(&Rectangle::new([(x - 14, top + 1), (x - 4, top + 11)], style))?;
        x -= 14 + 16;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    fn color(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    fn strokes(doc: &roxmltree::Document<'_>, c: RGBColor) -> usize {
        let c = color(c);
        doc.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(c.as_str())).count()
    }

    /// Labels of markers close together go on different rows; ones far
    /// apart share the first.
    #[test]
    fn marker_labels_take_the_first_row_where_they_fit() {
        // fault, then fence, promoted, VIP and new master close together
        let extents = [(100, 300), (320, 500), (520, 640), (505, 600), (530, 700), (900, 1000)];
        assert_eq!(label_rows(&extents, 3), vec![0, 0, 0, 1, 2, 0]);
        // nowhere free: the row whose labels end leftmost
        assert_eq!(label_rows(&[(0, 100), (10, 90), (20, 80), (30, 70)], 3), vec![0, 1, 2, 2]);
    }

    /// With the probes' clock on the wall clock, fencing is placed exactly
    /// and the journals' phases are marked.
    #[test]
    fn phases_and_exact_fencing_are_marked_on_the_wall_clock() {
        let mut run = fixtures::suite().runs[0].clone();
        let origin = run.started_unix_ms + 40_000;
        run.probe_clock_unix_ms = Some(origin);
        run.fence_events = vec![crate::fenced::FenceEvent {
            unix_ms: origin + 12_500,
            action: "reboot".into(),
            node: run.victim.clone(),
            answer: "OK".into(),
        }];
        run.phases = Some(crate::report::phases::FailoverPhases { promoted_ms: Some(2500.0), ..Default::default() });
        let svg = timeline_svg(&run, &fixtures::recordings());
        assert!(svg.contains(&format!("fence reboot {} (OK)", run.victim)), "{svg}");
        assert!(!svg.contains("≈ fence"), "{svg}");
        assert!(svg.contains("promoted (+2.5 s)"), "{svg}");
        assert!(svg.contains("0 = "), "the axis says when 0 was: {svg}");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(strokes(&doc, PHASE_COLOR), 1);
    }

    #[test]
    fn timeline_matches_golden() {
        let suite = fixtures::suite();
        fixtures::assert_golden("timeline.svg", &timeline_svg(&suite.runs[0], &fixtures::recordings()));
    }

    #[test]
    fn one_red_tick_per_failed_attempt() {
        let suite = fixtures::suite();
        let recordings = fixtures::recordings();
        let svg = timeline_svg(&suite.runs[0], &recordings);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert_eq!(doc.root_element().attribute("width"), Some("900"));
        let failed = recordings.iter().flat_map(|r| &r.attempts).filter(|a| !a.outcome.is_ok()).count();
        let ok = recordings.iter().flat_map(|r| &r.attempts).filter(|a| a.outcome.is_ok()).count();
        assert_eq!(failed, 41, "fixture");
        assert_eq!(strokes(&doc, FAILED_COLOR), failed);
        assert_eq!(strokes(&doc, OK_COLOR), ok);
        // three outage windows shaded: the writer's, the reader's blip and its outage
        let red = color(FAILED_COLOR);
        let shaded = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(red.as_str()))
            .filter(|n| n.attribute("opacity") == Some("0.13"))
            .count();
        assert_eq!(shaded, 3 + 1, "three windows and the legend swatch");
    }

    #[test]
    fn text_is_drawn_as_text_elements() {
        let suite = fixtures::suite();
        let svg = timeline_svg(&suite.runs[0], &fixtures::recordings());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
            .collect();
        for wanted in [
            "kill-postgres-master #1: kill postgres on master → node1 (passed)",
            "kill postgres on master → node1 at 4.8 s",
            "new master node2 (+9.5 s)",
            "≈ fence off node1 (OK)",
            "writer",
            "reader",
        ] {
            assert!(texts.iter().any(|t| t == wanted), "no {wanted:?} in {texts:?}");
        }
        // the fault marker is at 4.8 s, left of the new master at 14.3 s
        let marker_x = |c: RGBColor| {
            let c = color(c);
            doc.descendants()
                .find(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some(c.as_str()))
                .and_then(|n| n.attribute("points"))
                .and_then(|p| p.split(',').next())
                .and_then(|x| x.parse::<i32>().ok())
                .expect("marker")
        };
        // fault at 4.8 s, fence at ≈ 7.9 s, new master at 14.3 s
        assert!(marker_x(FAULT_COLOR) < marker_x(FENCE_COLOR));
        assert!(marker_x(FENCE_COLOR) < marker_x(MASTER_COLOR));
    }

    #[test]
    fn rendering_is_deterministic_and_works_without_recordings() {
        let suite = fixtures::suite();
        let a = timeline_svg(&suite.runs[0], &fixtures::recordings());
        assert_eq!(a, timeline_svg(&suite.runs[0], &fixtures::recordings()));
        let empty = timeline_svg(&suite.runs[2], &[]);
        let doc = roxmltree::Document::parse(&empty).expect("well-formed SVG");
        assert!(doc.descendants().any(|n| n.text().map(str::trim) == Some("no probe recordings")), "{empty}");
        assert_eq!(strokes(&doc, FAILED_COLOR), 0);
    }

    #[test]
    fn ticks_on_one_pixel_are_drawn_once() {
        let suite = fixtures::suite();
        let mut recordings = fixtures::recordings();
        // 5 more successful attempts 1 ms after the first one
        let first = recordings[0].attempts[0].clone();
        for k in 1..=5 {
            let mut a = first.clone();
            a.started += std::time::Duration::from_millis(k);
            recordings[0].attempts.insert(k as usize, a);
        }
        let svg = timeline_svg(&suite.runs[0], &recordings);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(strokes(&doc, OK_COLOR), 79);
    }

    /// `postgres-writer` says its role already, and gets the room its name
    /// needs left of the plot (it was clipped to `gres-writer (writer)`).
    #[test]
    fn lane_names_say_the_role_once_and_fit() {
        let recording =
            |probe: &str, role| Recording { probe: probe.into(), role, run_id: "r".into(), attempts: vec![] };
        let named = [recording("postgres-writer", Role::Writer), recording("beanstalkd-reader", Role::Reader)];
        assert_eq!(lane_name(&named[0]), "postgres-writer");
        assert_eq!(lane_name(&recording("heart", Role::Writer)), "heart (writer)");
        assert_eq!(label_area_px(&named.map(|r| lane_name(&r))), 17 * 9 + 16);
        assert_eq!(label_area_px(&[lane_name(&recording("writer", Role::Writer))]), 110);
    }

    /// A lost write is crossed and a committed but unacknowledged one ringed
    /// on the writer's lane; a reader's lane gets neither.
    #[test]
    fn lost_and_unacknowledged_writes_are_marked() {
        let mut run = fixtures::suite().runs[0].clone();
        let recordings = fixtures::recordings();
        let writer = recordings.iter().find(|r| r.role == Role::Writer).expect("a writer");
        let plain = timeline_svg(&run, &recordings);
        let acks = run.lost_writes.get_mut(&run.service).expect("checked");
        acks.lost = vec![writer.attempts[3].seq];
        acks.unacknowledged = vec![writer.attempts[5].seq, 99_999_999];
        let marked = timeline_svg(&run, &recordings);
        let (plain, marked) =
            (roxmltree::Document::parse(&plain).expect("svg"), roxmltree::Document::parse(&marked).expect("svg"));
        let shapes = |doc: &roxmltree::Document<'_>, tag: &str, c: RGBColor| {
            let c = color(c);
            doc.descendants().filter(|n| n.has_tag_name(tag) && n.attribute("stroke") == Some(c.as_str())).count()
        };
        assert_eq!(shapes(&marked, "line", FAULT_COLOR), 2, "a cross is two lines");
        assert_eq!(shapes(&plain, "line", FAULT_COLOR), 0);
        let rings = |doc: &roxmltree::Document<'_>| shapes(doc, "circle", PHASE_COLOR);
        assert_eq!(rings(&marked), 1, "a seq no attempt has is not drawn");
        assert_eq!(rings(&plain), 0);
    }

    /// The polls' view of the cluster gets a lane for the master and one
    /// for the VIP, named where the node changes.
    #[test]
    fn where_the_master_and_its_vip_were_has_lanes() {
        let mut run = fixtures::suite().runs[0].clone();
        let at = |ms: f64, master: Option<&str>, vip: Option<&str>| PlacementSample {
            at_ms: ms,
            master: master.map(str::to_owned),
            vip: vip.map(str::to_owned),
        };
        let fault_ms = run.fault_at_ms;
        run.placements = vec![
            at(fault_ms - 100.0, Some("tuchanka-a"), Some("tuchanka-a")),
            at(fault_ms + 2000.0, None, None),
            at(fault_ms + 9000.0, Some("tuchanka-b"), Some("tuchanka-b")),
        ];
        let recordings = fixtures::recordings();
        let svg = timeline_svg(&run, &recordings);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        assert!(texts.contains(&"postgres master") && texts.contains(&"postgres VIP"), "{texts:?}");
        assert_eq!(texts.iter().filter(|t| **t == "tuchanka-b").count(), 2, "named once per lane where it changes");
        assert_eq!(texts.iter().filter(|t| **t == "none").count(), 2, "{texts:?}");
        let height: u32 = doc.root_element().attribute("height").and_then(|h| h.parse().ok()).expect("height");
        let without = timeline_svg(&fixtures::suite().runs[0], &recordings);
        let without = roxmltree::Document::parse(&without).expect("svg");
        let before: u32 = without.root_element().attribute("height").and_then(|h| h.parse().ok()).expect("height");
        assert_eq!(height, before + 2 * LANE_PX, "two lanes more");
    }

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(seconds(&5.0), "5");
        assert_eq!(seconds(&0.30000000000000004), "0.3");
        assert_eq!(seconds(&12.5), "12.5");
    }

    #[test]
    fn a_long_run_stays_small() {
        // 10 Hz for 300 s on both probes: 6000 attempts, at most one tick
        // per pixel column and outcome
        let suite = fixtures::suite();
        let mut recordings = fixtures::recordings();
        for r in &mut recordings {
            let template = r.attempts[0].clone();
            r.attempts = (0..3000u64)
                .map(|seq| {
                    let mut a = template.clone();
                    a.seq = seq;
                    a.started = std::time::Duration::from_millis(seq * 100);
                    a
                })
                .collect();
        }
        let svg = timeline_svg(&suite.runs[0], &recordings);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let ticks = strokes(&doc, OK_COLOR);
        assert!(ticks <= 2 * 800 && ticks > 2 * 700, "{ticks} ticks");
    }
}
