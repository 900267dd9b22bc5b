//! One self-contained HTML page for a suite: inline CSS, inline SVG, no
//! script and no external URL, so it can be archived as a CI artifact and
//! opened anywhere. Every piece of text from the results is escaped.

use std::fmt::Write as _;

use heartbeat::Role;

use super::spread::spread_svg;
use super::{fault_name, faults_at, lost, ms, outage, phase_rows, run_name, serde_name, timeline_svg, utc};
use crate::report::baseline::{Comparison, value};
use crate::report::judge::ScenarioResult;
use crate::report::phases::FailoverPhases;
use crate::report::results::{CONSOLES, JOURNALS, RunRecord, SuiteResults};
use crate::report::stats::{Summary, runs_by_scenario, scenario_stats};

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#111827;background:#f9fafb}
header{padding:1rem 2rem;color:#fff}
header.pass{background:#15803d}
header.fail{background:#b91c1c}
header h1{margin:0 0 .3rem;font-size:1.6rem}
header p{margin:0}
main{padding:1rem 2rem;max-width:1000px}
table{border-collapse:collapse;margin:.5rem 0 1rem;background:#fff}
th,td{border:1px solid #d1d5db;padding:.25rem .6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.pass td.verdict,td.pass{color:#15803d;font-weight:600}
tr.fail td.verdict,td.fail{color:#b91c1c;font-weight:600}
tr.fail{background:#fef2f2}
section.run{border:1px solid #d1d5db;border-left-width:6px;background:#fff;padding:.5rem 1rem;margin:1rem 0}
section.run.pass{border-left-color:#15803d}
section.run.fail{border-left-color:#b91c1c}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem}
dl.facts dt{color:#4b5563}
dl.facts dd{margin:0}
.muted{color:#6b7280}
figure{margin:.5rem 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}
code{font-size:.9em}
";

/// The report page; `records` give each run its probe recordings for the
/// timeline, matched by `run_id` (a run without a record has no timeline).
pub fn html(suite: &SuiteResults, records: &[RunRecord], comparison: Option<&Comparison>) -> String {
    let ok = suite.passed();
    let label = if suite.label.is_empty() { "lab" } else { suite.label.as_str() };
    let verdict = suite.verdict().word();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>lab {}: {verdict}</title>", escape(label));
    let _ = writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        out,
        "<header class=\"{}\">\n<h1>{} {verdict}: {}</h1>\n<p>{} · lab <code>{}</code> · \
         backend {} · seed {} · started {}</p>\n</header>\n<main>",
        if ok { "pass" } else { "fail" },
        suite.verdict().mark(),
        escape(label),
        escape(&suite.counts()),
        escape(&suite.lab),
        escape(&serde_name(&suite.backend)),
        suite.seed,
        escape(&utc(suite.started_unix_ms))
    );

    if let Some(comparison) = comparison {
        comparison_table(&mut out, comparison);
    }
    unfinished_table(&mut out, suite);
    stats_table(&mut out, suite);
    spreads(&mut out, suite);
    runs_table(&mut out, suite);
    for (i, run) in suite.runs.iter().enumerate() {
        let record = records.iter().find(|r| r.result.run_id == run.run_id);
        run_section(&mut out, i, run, record);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The comparison with a baseline, at the top: a regression is what a
/// nightly run is read for.
fn comparison_table(out: &mut String, comparison: &Comparison) {
    let _ = writeln!(out, "<h2>Compared with the baseline: {}</h2>", comparison.verdict());
    if comparison.deltas.is_empty() {
        out.push_str("<p class=\"muted\">Nothing to compare.</p>\n");
        return;
    }
    out.push_str("<table class=\"comparison\">\n<thead>\n<tr><th>scenario</th><th>metric</th><th>baseline</th>");
    out.push_str("<th>current</th><th>change</th><th></th></tr>\n</thead>\n<tbody>\n");
    for d in &comparison.deltas {
        let class = if d.regression { "fail" } else { "pass" };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{}</td><td class=\"{class}\">{}</td></tr>",
            escape(&d.scenario),
            escape(&d.metric),
            escape(&value(d.baseline)),
            escape(&value(d.current)),
            escape(&d.note),
            if d.regression { "REGRESSION" } else { "ok" }
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// For each scenario run more than once, how its measures spread.
fn spreads(out: &mut String, suite: &SuiteResults) {
    let plots: Vec<String> =
        runs_by_scenario(suite).into_iter().filter_map(|(name, runs)| spread_svg(name, &runs)).collect();
    if plots.is_empty() {
        return;
    }
    out.push_str("<h2>Across runs</h2>\n");
    for plot in plots {
        let _ = write!(out, "<figure>\n{plot}</figure>\n");
    }
}

/// The planned runs without a result, first thing on the page.
fn unfinished_table(out: &mut String, suite: &SuiteResults) {
    if suite.unfinished.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Not finished</h2>\n<table>\n<thead><tr><th>run</th><th>seed</th><th>why</th></tr></thead>\n<tbody>\n",
    );
    for u in &suite.unfinished {
        let _ = writeln!(
            out,
            "<tr class=\"fail\"><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&u.name()),
            u.seed,
            escape(&u.reason())
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn stat(summary: &Option<Summary>, field: fn(&Summary) -> f64) -> String {
    ms(summary.as_ref().map(field))
}

fn stats_table(out: &mut String, suite: &SuiteResults) {
    out.push_str("<h2>Statistics</h2>\n<table class=\"stats\">\n<thead>\n<tr><th rowspan=\"2\">scenario</th>");
    out.push_str("<th rowspan=\"2\">runs</th><th rowspan=\"2\">passed</th><th colspan=\"4\">write outage ms</th>");
    out.push_str("<th colspan=\"2\">read outage ms</th><th colspan=\"2\">new master ms</th>");
    out.push_str("<th rowspan=\"2\">lost writes</th></tr>\n<tr><th>avg</th><th>sd</th><th>p50</th><th>p95</th>");
    out.push_str("<th>p50</th><th>p95</th><th>p50</th><th>p95</th></tr>\n</thead>\n<tbody>\n");
    for s in scenario_stats(suite) {
        let class = if s.passed == s.runs { "pass" } else { "fail" };
        let cells = [
            s.runs.to_string(),
            s.passed.to_string(),
            stat(&s.write_outage_ms, |s| s.mean),
            stat(&s.write_outage_ms, |s| s.sd),
            stat(&s.write_outage_ms, |s| s.p50),
            stat(&s.write_outage_ms, |s| s.p95),
            stat(&s.read_outage_ms, |s| s.p50),
            stat(&s.read_outage_ms, |s| s.p95),
            stat(&s.new_master_ms, |s| s.p50),
            stat(&s.new_master_ms, |s| s.p95),
            s.lost_writes.to_string(),
        ];
        let _ = write!(out, "<tr class=\"{class}\"><td>{}</td>", escape(&s.scenario));
        for cell in cells {
            let _ = write!(out, "<td class=\"n\">{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str("<p class=\"muted\">Outages are the longest after the fault per run; p50/p95 by nearest rank.</p>\n");
    phases_table(out, suite);
}

/// Each scenario's failover phases over its runs, when journals showed any.
fn phases_table(out: &mut String, suite: &SuiteResults) {
    let rows = phase_rows(suite);
    if rows.is_empty() {
        return;
    }
    out.push_str("<h2>Failover phases</h2>\n<table class=\"stats\">\n<thead>\n<tr><th>scenario</th><th>phase</th>");
    out.push_str("<th>runs</th><th>avg ms</th><th>p50 ms</th><th>p95 ms</th></tr>\n</thead>\n<tbody>\n");
    for (scenario, phase, cells) in rows {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td>", escape(&scenario), escape(&phase));
        for cell in cells {
            let _ = write!(out, "<td class=\"n\">{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str(
        "<p class=\"muted\">Milliseconds after the fault, from the nodes' journals (detected: the cluster noticed; ",
    );
    out.push_str(
        "fenced: the victim's fencing confirmed; promoted: the new master promoted; VIP up: its VIP started) ",
    );
    out.push_str("and the writer (first write: acknowledged again).</p>\n");
}

fn runs_table(out: &mut String, suite: &SuiteResults) {
    out.push_str("<h2>Runs</h2>\n<table class=\"runs\">\n<thead>\n<tr><th>run</th><th>victim</th><th>fault</th>");
    out.push_str("<th>write outage ms</th><th>read outage ms</th><th>new master ms</th><th>lost writes</th>");
    out.push_str("<th>result</th></tr>\n</thead>\n<tbody>\n");
    for (i, run) in suite.runs.iter().enumerate() {
        let class = if run.passed { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td><a href=\"#run-{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"verdict\">{}</td></tr>",
            i + 1,
            escape(&run_name(run)),
            escape(&run.victim),
            escape(&fault_name(run)),
            escape(&outage(run, Role::Writer)),
            escape(&outage(run, Role::Reader)),
            escape(&ms(run.new_master_after_ms)),
            escape(&lost(run)),
            if run.passed { "✅ passed" } else { "❌ failed" }
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn run_section(out: &mut String, index: usize, run: &ScenarioResult, record: Option<&RunRecord>) {
    let class = if run.passed { "pass" } else { "fail" };
    let _ = writeln!(
        out,
        "<section class=\"run {class}\" id=\"run-{}\">\n<h2>{} {}</h2>\n<p class=\"description\">{}</p>",
        index + 1,
        if run.passed { "✅" } else { "❌" },
        escape(&run_name(run)),
        escape(&run.description)
    );

    let mut facts: Vec<(String, String)> = vec![
        ("run".into(), run.run_id.clone()),
        ("started".into(), utc(run.started_unix_ms)),
        ("seed".into(), run.seed.to_string()),
        ("fault".into(), faults_at(run)),
        ("victim".into(), run.victim.clone()),
        ("master".into(), format!("{} → {}", run.master_before, run.master_after.as_deref().unwrap_or("none"))),
        ("new master".into(), run.new_master_after_ms.map_or_else(|| "none".into(), |v| format!("after {v:.0} ms"))),
    ];
    for p in &run.probes {
        let longest = p.longest_outage().map_or_else(|| "never recovered".into(), |v| format!("{v} ms"));
        facts.push((
            format!("{} probe", p.probe),
            format!(
                "{} attempts, {} failed; {} outage{} after the fault, longest {longest}",
                p.attempts,
                p.failed,
                p.outages.len(),
                if p.outages.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    for (service, acks) in &run.lost_writes {
        let mut text = format!("{} of {} ({} present)", acks.lost.len(), acks.acknowledged, acks.present);
        if !acks.lost.is_empty() {
            text.push_str(&format!(": seq {}", seq_list(&acks.lost)));
        }
        facts.push((format!("lost {service} writes"), text));
        if !acks.unacknowledged.is_empty() {
            facts.push((
                format!("unacknowledged {service} writes"),
                format!(
                    "{} committed although their attempt failed or was cut short: seq {}",
                    acks.unacknowledged.len(),
                    seq_list(&acks.unacknowledged)
                ),
            ));
        }
    }
    for e in &run.fence_events {
        facts.push(("fenced".into(), format!("{} {} at {}: {}", e.action, e.node, utc(e.unix_ms), e.answer)));
    }
    if let Some(line) = run.phases.as_ref().and_then(FailoverPhases::line) {
        facts.push(("failover phases".into(), format!("after the fault: {line}")));
    }
    let t = &run.timings;
    let start = match t.start {
        crate::report::judge::RunStart::Rollback => {
            format!("rollback {:.1} s, cluster start {:.1} s", t.rollback_s, t.cluster_start_s)
        }
        crate::report::judge::RunStart::Reused => "the previous run's cluster, reused".to_owned(),
    };
    facts.push((
        "timings".into(),
        format!("{start}, observe {:.1} s, restore {:.1} s, total {:.1} s", t.observe_s, t.restore_s, t.total_s),
    ));
    if let Some(error) = &run.restore_error {
        facts.push(("restore failed".into(), error.clone()));
    }
    out.push_str("<dl class=\"facts\">\n");
    for (name, value) in facts {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(&name), escape(&value));
    }
    if let Some(record) = record {
        log_links(out, run, JOURNALS, &record.journals);
        log_links(out, run, CONSOLES, &record.consoles);
    }
    out.push_str("</dl>\n");

    out.push_str("<table class=\"checks\">\n<thead>\n<tr><th>check</th><th>expected</th><th>got</th><th></th></tr>\n");
    out.push_str("</thead>\n<tbody>\n");
    for c in &run.checks {
        let class = if c.passed { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            escape(&c.name),
            escape(&c.expected),
            escape(&c.actual),
            if c.passed { "ok" } else { "FAIL" }
        );
    }
    out.push_str("</tbody>\n</table>\n");

    match record {
        Some(record) => {
            let _ = write!(out, "<figure>\n{}</figure>\n", timeline_svg(run, &record.recordings));
        }
        None => out.push_str("<p class=\"muted\">No probe recordings for this run.</p>\n"),
    }
    out.push_str("</section>\n");
}

/// A fact linking each host's log of `kind` (`journals`, `consoles`) in
/// the run's directory, next to report.html.
fn log_links(out: &mut String, run: &ScenarioResult, kind: &str, logs: &[(String, String)]) {
    if logs.is_empty() {
        return;
    }
    let links: Vec<String> = logs
        .iter()
        .map(|(host, _)| {
            let href = RunRecord::log_link(run, kind, host);
            format!("<a href=\"{}\">{}</a>", escape(&href), escape(host))
        })
        .collect();
    let _ = writeln!(out, "<dt>{kind}</dt><dd>{}</dd>", links.join(" · "));
}

/// Sequence numbers for a reader: the first 20, then how many more.
fn seq_list(seqs: &[u64]) -> String {
    let shown: Vec<String> = seqs.iter().take(20).map(u64::to_string).collect();
    let more = if seqs.len() > 20 { format!(" and {} more", seqs.len() - 20) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures;

    #[test]
    fn html_matches_golden() {
        let suite = fixtures::suite();
        fixtures::assert_golden("report.html", &html(&suite, &fixtures::records(&suite), None));
    }

    #[test]
    fn html_escapes_text_from_results() {
        let suite = fixtures::suite();
        assert!(suite.runs[2].description.contains("<script>"), "fixture");
        let page = html(&suite, &fixtures::records(&suite), None);
        assert!(!page.contains("<script"), "unescaped script");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; no shutdown"));
    }

    #[test]
    fn html_is_self_contained() {
        let suite = fixtures::suite();
        let page = html(&suite, &fixtures::records(&suite), None);
        // the only URL is the SVG namespace
        let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for external in ["http:", "https:", "src=", "<link", "@import", "url("] {
            assert!(!without_ns.contains(external), "{external}");
        }
    }

    /// A nightly run is read for its regressions: the comparison comes
    /// first, each regression marked.
    #[test]
    fn the_comparison_with_a_baseline_tops_the_page() {
        let suite = fixtures::suite();
        let mut baseline = fixtures::suite();
        baseline.runs[2].passed = true;
        baseline.runs[2].probes[0].longest_outage_ms = Some(40000.0);
        let comparison = crate::report::baseline::compare(&baseline, &suite, &Default::default());
        assert!(comparison.regressions() > 0);
        let page = html(&suite, &fixtures::records(&suite), Some(&comparison));
        let compared = page.find("<h2>Compared with the baseline: ").expect("the comparison");
        assert!(compared < page.find("<h2>Statistics</h2>").expect("statistics"), "first thing after the header");
        assert!(page.contains("<td class=\"fail\">REGRESSION</td>"), "{page}");
    }

    #[test]
    fn html_has_a_section_per_run_with_its_timeline() {
        let suite = fixtures::suite();
        let page = html(&suite, &fixtures::records(&suite), None);
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains("<header class=\"fail\">\n<h1>❌ FAIL: suite</h1>"), "{page}");
        assert_eq!(page.matches("<section class=\"run ").count(), 3);
        assert_eq!(page.matches("<section class=\"run fail\"").count(), 1);
        // records exist for runs 1 and 3; only run 1 has recordings, run 2
        // has no record; the two kill-postgres-master runs have a spread
        assert_eq!(page.matches("<svg ").count(), 3);
        assert_eq!(page.matches("<h2>Across runs</h2>").count(), 1);
        assert_eq!(page.matches("No probe recordings for this run.").count(), 1);
        let run2 = &page[page.find("id=\"run-2\"").expect("run 2")..page.find("id=\"run-3\"").expect("run 3")];
        assert!(run2.contains("No probe recordings"));
        assert!(page.contains("<td>write outage</td><td>≤ 60000 ms</td><td>71234 ms</td><td class=\"fail\">FAIL</td>"));
        // the inline SVG of run 1 is well-formed XML
        let start = page.find("<svg ").expect("svg");
        let end = page[start..].find("</svg>").expect("end") + start + "</svg>".len();
        roxmltree::Document::parse(&page[start..end]).expect("inline SVG parses");
    }
}
