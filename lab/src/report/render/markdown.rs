//! Markdown fit for a GitHub job summary (`$GITHUB_STEP_SUMMARY`): a
//! headline, the runs, the per-scenario statistics, the failed checks and,
//! given a baseline, what changed.

use std::fmt::Write as _;

use heartbeat::Role;

use super::{fault_name, lost, ms, outage, phase_rows, run_name, serde_name, utc};
use crate::report::baseline::{Comparison, value};
use crate::report::results::SuiteResults;
use crate::report::stats::{Summary, scenario_stats};

/// Escapes text for a Markdown table cell or line: table pipes, inline
/// markup and raw HTML, and folds line breaks.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '*' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A summary's field as a whole number, `-` without a summary.
fn stat(summary: &Option<Summary>, field: fn(&Summary) -> f64) -> String {
    ms(summary.as_ref().map(field))
}

/// The job summary; `comparison` adds a section of deltas against a baseline.
pub fn markdown(suite: &SuiteResults, comparison: Option<&Comparison>) -> String {
    let mut out = String::new();
    let verdict = suite.verdict();
    let label = if suite.label.is_empty() { "lab" } else { suite.label.as_str() };
    let _ = writeln!(out, "## {} {}: {} — {}\n", verdict.mark(), verdict.word(), esc(label), suite.counts());
    let _ = writeln!(
        out,
        "lab `{}` · backend `{}` · seed `{}` · {} run{} · started {}\n",
        suite.lab.replace('`', "'"),
        serde_name(&suite.backend),
        suite.seed,
        suite.runs.len(),
        if suite.runs.len() == 1 { "" } else { "s" },
        utc(suite.started_unix_ms)
    );

    out.push_str("### Runs\n\n");
    out.push_str(
        "| scenario | # | victim | fault | write outage ms | read outage ms | new master ms | lost writes | result |\n",
    );
    out.push_str("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | :---: |\n");
    for run in &suite.runs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            esc(&run.scenario),
            run.iteration,
            esc(&run.victim),
            esc(&fault_name(run)),
            outage(run, Role::Writer),
            outage(run, Role::Reader),
            ms(run.new_master_after_ms),
            lost(run),
            if run.passed { "✅" } else { "❌" }
        );
    }

    if !suite.unfinished.is_empty() {
        out.push_str("\n### Not finished\n\n| scenario | # | seed | why |\n| --- | ---: | ---: | --- |\n");
        for u in &suite.unfinished {
            let _ = writeln!(out, "| {} | {} | {} | {} |", esc(&u.scenario), u.iteration, u.seed, esc(&u.reason()));
        }
    }

    out.push_str("\n### Statistics\n\n");
    out.push_str(
        "| scenario | runs | passed | write avg ms | write sd ms | write p50 ms | write p95 ms | read p50 ms \
         | read p95 ms | new master p50 ms | lost writes |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for s in scenario_stats(suite) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            esc(&s.scenario),
            s.runs,
            s.passed,
            stat(&s.write_outage_ms, |s| s.mean),
            stat(&s.write_outage_ms, |s| s.sd),
            stat(&s.write_outage_ms, |s| s.p50),
            stat(&s.write_outage_ms, |s| s.p95),
            stat(&s.read_outage_ms, |s| s.p50),
            stat(&s.read_outage_ms, |s| s.p95),
            stat(&s.new_master_ms, |s| s.p50),
            s.lost_writes
        );
    }
    out.push_str("\nOutages are the longest after the fault per run; p50/p95 by nearest rank.\n");
    phases_table(&mut out, suite);

    let failing: Vec<_> = suite.runs.iter().filter(|r| !r.passed).collect();
    if !failing.is_empty() {
        out.push_str("\n### Failed checks\n\n");
        for run in failing {
            let _ = writeln!(
                out,
                "- **{}** (victim {}, run `{}`; replay: `lab scenario {} --seed {}`)",
                esc(&run_name(run)),
                esc(&run.victim),
                run.run_id.replace('`', "'"),
                run.scenario.replace('`', "'"),
                run.seed
            );
            for c in run.checks.iter().filter(|c| !c.passed) {
                let _ = writeln!(out, "  - {}: expected {}, got {}", esc(&c.name), esc(&c.expected), esc(&c.actual));
            }
            if let Some(error) = &run.restore_error {
                let _ = writeln!(out, "  - restore failed: {}", esc(error));
            }
        }
    }

    if let Some(comparison) = comparison {
        out.push_str("\n### Compared with the baseline\n\n");
        if comparison.deltas.is_empty() {
            out.push_str("Nothing to compare.\n");
        } else {
            out.push_str("| scenario | metric | baseline | current | change | |\n");
            out.push_str("| --- | --- | ---: | ---: | --- | :---: |\n");
            for d in &comparison.deltas {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    esc(&d.scenario),
                    esc(&d.metric),
                    value(d.baseline),
                    value(d.current),
                    esc(&d.note),
                    if d.regression { "❌ regression" } else { "" }
                );
            }
        }
        // A sentence of its own: `**No regressions.**`, `**2 regressions.**`.
        let verdict = comparison.verdict();
        let (first, rest) = verdict.split_at(1);
        let _ = writeln!(out, "\n**{}{rest}.**", first.to_uppercase());
    }
    out
}

/// Each scenario's failover phases over its runs, when journals showed any.
fn phases_table(out: &mut String, suite: &SuiteResults) {
    let rows = phase_rows(suite);
    if rows.is_empty() {
        return;
    }
    out.push_str("\n### Failover phases\n\n| scenario | phase | runs | avg ms | p50 ms | p95 ms |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: |\n");
    for (scenario, phase, [runs, avg, p50, p95]) in rows {
        let _ = writeln!(out, "| {} | {phase} | {runs} | {avg} | {p50} | {p95} |", esc(&scenario));
    }
    out.push_str("\nMilliseconds after the fault, from the nodes' journals and the writer.\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::baseline::{Tolerance, compare};
    use crate::report::render::fixtures;

    /// The fixture suite as a baseline in which every run passed and the
    /// power-off master outage was 40 s.
    fn baseline() -> SuiteResults {
        let mut suite = fixtures::suite();
        let run = &mut suite.runs[2];
        run.passed = true;
        run.probes[0].longest_outage_ms = Some(40000.0);
        for acks in run.lost_writes.values_mut() {
            acks.lost.clear();
        }
        suite
    }

    /// An outage is shown with how far its true length can be from it.
    #[test]
    fn an_outage_carries_its_uncertainty() {
        let mut suite = fixtures::suite();
        let probe = &mut suite.runs[0].probes[0];
        probe.longest_outage_ms = Some(17208.0);
        probe.longest_outage_uncertainty_ms = Some(1008.0);
        let text = markdown(&suite, None);
        assert!(text.contains("17208 ± 1008"), "{text}");
        assert!(crate::report::render::facts_line(&suite.runs[0]).contains("outage 17208 ± 1008 ms"));
    }

    /// Writes that committed although their client saw a failure are shown
    /// beside the lost ones, in the table and in the report's facts.
    #[test]
    fn committed_unacknowledged_writes_are_shown_beside_lost_ones() {
        let mut suite = fixtures::suite();
        let run = &mut suite.runs[0];
        let service = run.service;
        run.lost_writes.get_mut(&service).expect("the fault's service was checked").unacknowledged = vec![812, 813];
        let text = markdown(&suite, None);
        assert!(text.contains("(+2 unacknowledged)"), "{text}");
        let html = crate::report::render::html::html(&suite, &[], None);
        assert!(html.contains("2 committed although their attempt failed or was cut short: seq 812, 813"), "{html}");
    }

    /// Phases read from journals are summarized per scenario, and each
    /// run's report links its hosts' journals.
    #[test]
    fn failover_phases_and_journals_are_shown() {
        let mut suite = fixtures::suite();
        suite.runs[0].phases = Some(crate::report::phases::FailoverPhases {
            detected_ms: Some(1250.0),
            promoted_ms: Some(9001.0),
            ..Default::default()
        });
        let text = markdown(&suite, None);
        assert!(text.contains("| kill-postgres-master | detected | 1 | 1250 | 1250 | 1250 |"), "{text}");
        assert!(text.contains("| kill-postgres-master | promoted | 1 | 9001 |"), "{text}");
        assert!(!text.contains("| fenced |"), "a phase no run saw is left out: {text}");
        let record = crate::report::results::RunRecord {
            result: suite.runs[0].clone(),
            recordings: Vec::new(),
            consoles: Vec::new(),
            journals: vec![("tuchanka-a".into(), "...".into())],
        };
        let html = crate::report::render::html::html(&suite, &[record], None);
        assert!(html.contains("after the fault: detected 1.2 s, promoted 9.0 s"), "{html}");
        assert!(html.contains("<a href=\"kill-postgres-master-1/journals/tuchanka-a.log\">tuchanka-a</a>"), "{html}");
        assert!(html.contains("<h2>Failover phases</h2>"), "{html}");
    }

    /// The comparison ends in a sentence, whatever the count.
    #[test]
    fn the_comparison_ends_with_its_verdict() {
        let suite = baseline();
        let same = compare(&suite, &suite, &Tolerance::default());
        assert!(markdown(&suite, Some(&same)).trim_end().ends_with("**No regressions.**"));
    }

    #[test]
    fn markdown_matches_golden() {
        fixtures::assert_golden("summary.md", &markdown(&fixtures::suite(), None));
    }

    #[test]
    fn markdown_with_a_comparison_matches_golden() {
        let suite = fixtures::suite();
        let comparison = compare(&baseline(), &suite, &Tolerance::default());
        fixtures::assert_golden("summary-compared.md", &markdown(&suite, Some(&comparison)));
    }

    #[test]
    fn markdown_has_headline_tables_and_failures() {
        let text = markdown(&fixtures::suite(), None);
        assert!(text.starts_with("## ❌ FAIL: suite — 2 passed, 1 failed\n"), "{text}");
        assert!(text.contains("lab `ci` · backend `container` · seed `42`"), "{text}");
        let run_rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| kill-postgres-master | ")).collect();
        // two runs, one stats row
        assert_eq!(run_rows.len(), 3, "{text}");
        assert!(
            text.contains(
                "| power-off-master | 1 | node1 | poweroff on master | 71234 | 9121 | 64120 | 1 of 402 | ❌ |"
            )
        );
        // stats: mean of 12004 and 14230.9, sd = 2226.9/√2 = 1574.66
        assert!(
            text.contains("| kill-postgres-master | 2 | 2 | 13117 | 1575 | 12004 | 14231 | 7411 | 8003 | 9480 | 0 |")
        );
        assert!(text.contains("  - write outage: expected ≤ 60000 ms, got 71234 ms\n"));
        assert!(!text.contains("baseline"));
        // every table row has the same number of cells as its header
        for table in text.split("\n\n").filter(|b| b.starts_with('|')) {
            let cells: Vec<usize> = table.lines().map(|l| l.matches(" | ").count()).collect();
            assert!(cells.iter().all(|&c| c == cells[0]), "{table}");
        }
    }

    #[test]
    fn markdown_lists_regressions() {
        let suite = fixtures::suite();
        let comparison = compare(&baseline(), &suite, &Tolerance::default());
        let text = markdown(&suite, Some(&comparison));
        assert!(text.contains("### Compared with the baseline"));
        assert!(
            text.contains(
                "| power-off-master | write outage p50 (ms) | 40000 | 71234 | +31234 ms (+78 %) | ❌ regression |"
            ),
            "{text}"
        );
        assert!(text.trim_end().ends_with("**3 regressions.**"), "{text}");
    }

    #[test]
    fn markdown_escapes_markup() {
        let mut suite = fixtures::suite();
        suite.runs[0].victim = "a|b <i>".into();
        let text = markdown(&suite, None);
        assert!(text.contains("| a\\|b &lt;i&gt; |"), "{text}");
        let all_pass = {
            let mut s = fixtures::suite();
            s.runs.truncate(2);
            s
        };
        let text = markdown(&all_pass, None);
        assert!(text.starts_with("## ✅ PASS: suite — 2 passed, 0 failed"), "{text}");
        assert!(!text.contains("Failed checks"));
    }
}
