//! Reports a CI can read, rendered from a suite's results: JUnit XML for
//! test dashboards, Markdown for a job summary, one self-contained HTML page
//! with a timeline per run, and the `results.json` itself.
//!
//! Every renderer is a pure function of its inputs (no clock, no random ids),
//! so the same results always give the same bytes and can be golden-tested.

pub mod html;
pub mod junit;
pub mod markdown;
pub mod spread;
pub mod sweep;
pub mod timeline;

use std::path::Path;

use heartbeat::Role;

pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub use timeline::timeline_svg;

use crate::report::baseline::Comparison;
use crate::report::judge::ScenarioResult;
use crate::report::results::{RunRecord, SuiteResults};
use crate::report::stats::lost_writes;

/// Writes `results.json`, `junit.xml`, `summary.md` and `report.html` into
/// `dir` (created if missing).
pub fn write_all(
    dir: &Path,
    suite: &SuiteResults,
    records: &[RunRecord],
    comparison: Option<&Comparison>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(suite).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), json + "\n")?;
    std::fs::write(dir.join("junit.xml"), junit(suite))?;
    std::fs::write(dir.join("summary.md"), markdown(suite, comparison))?;
    std::fs::write(dir.join("report.html"), html(suite, records, comparison))
}

/// `kill-postgres-master#2`: a run's name in reports.
pub(crate) fn run_name(run: &ScenarioResult) -> String {
    format!("{}#{}", run.scenario, run.iteration)
}

/// The serialized (lowercase) name of a value such as a backend kind or a
/// fault action: `container`, `kill-postgres`.
pub(crate) fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "?".to_owned(),
    }
}

/// `kill postgres on master`, then each `[[then]]` step with its time
/// after the first: `…, then kill postgres on master at +60 s`.
pub(crate) fn fault_name(run: &ScenarioResult) -> String {
    let mut name = fault_label(&run.fault);
    for step in &run.then {
        let after_s = (step.at_ms - run.fault_at_ms) / 1000.0;
        name.push_str(&format!(", then {} (+{after_s:.0} s)", fault_label(&step.fault)));
    }
    name
}

/// Every fault of a run with when it hit, on the probes' clock:
/// `kill postgres on master at 6.0 s, then kill postgres on master
/// (tuchanka-a) at 66.7 s`.
pub(crate) fn faults_at(run: &ScenarioResult) -> String {
    let lifted = |at_ms: Option<f64>| at_ms.map_or_else(String::new, |ms| format!(", lifted at {:.1} s", ms / 1000.0));
    let mut text =
        format!("{} at {:.1} s{}", fault_label(&run.fault), run.fault_at_ms / 1000.0, lifted(run.lifted_at_ms));
    for step in &run.then {
        let at_s = step.at_ms / 1000.0;
        text.push_str(&format!(
            ", then {} ({}) at {at_s:.1} s{}",
            fault_label(&step.fault),
            step.victim,
            lifted(step.lifted_at_ms)
        ));
    }
    text
}

/// One fault: `kill postgres on master`, `poweroff on redis master`,
/// `restart pg-master-vip on master`, `SIGSTOP corosync on master`,
/// `partition (out) from nodes on master`: the action, then what it hit.
pub(crate) fn fault_label(fault: &crate::run::scenario::Fault) -> String {
    use crate::run::scenario::FaultAction;
    let target = serde_name(&fault.target);
    let action = match (&fault.process, &fault.from) {
        (Some(process), _) => {
            return with_duration(format!("SIG{} {process} on {target}", fault.signal_name()), fault);
        }
        (_, Some(from)) => {
            let from: Vec<String> = from.iter().map(serde_name).collect();
            let way = match fault.direction {
                Some(direction) if direction != crate::run::scenario::Direction::Both => {
                    format!(" ({})", serde_name(&direction))
                }
                _ => String::new(),
            };
            return with_duration(format!("partition{way} from {} on {target}", from.join(",")), fault);
        }
        _ => fault.action.name(),
    };
    let service = fault.service.map(|s| s.to_string());
    let label = match (&fault.resource, service) {
        (Some(resource), _) => format!("{action} {resource} on {target}"),
        (None, Some(service)) if fault.action.hits_a_process() => format!("{action} {service} on {target}"),
        // Disabled cluster-wide: no node to name.
        (None, Some(service)) if fault.action == FaultAction::Disable => format!("{action} {service}"),
        (None, Some(service)) => format!("{action} on {service} {target}"),
        (None, None) => format!("{action} on {target}"),
    };
    with_duration(label, fault)
}

/// `…  for 20 s` when the fault is lifted while probing.
fn with_duration(label: String, fault: &crate::run::scenario::Fault) -> String {
    match fault.lift_after_s {
        Some(lift) => format!("{label} for {lift:.0} s"),
        None => label,
    }
}

/// Milliseconds as a whole number, `-` for none.
pub(crate) fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// The run's longest outage for `role` of the fault's service in ms; `-`
/// without such a probe, `never recovered` when it did not.
pub(crate) fn outage(run: &ScenarioResult, role: Role) -> String {
    match run.probe(role) {
        None => "-".to_owned(),
        Some(p) => p.longest_outage().unwrap_or_else(|| "never recovered".to_owned()),
    }
}

/// One row per scenario and failover phase seen in its runs: the scenario,
/// the phase, and runs, avg, p50 and p95 in ms.
pub(crate) fn phase_rows(suite: &SuiteResults) -> Vec<(String, String, [String; 4])> {
    let mut rows = Vec::new();
    for stats in crate::report::stats::scenario_stats(suite) {
        for (phase, s) in stats.phases {
            let cells = [s.n.to_string(), ms(Some(s.mean)), ms(Some(s.p50)), ms(Some(s.p95))];
            rows.push((stats.scenario.clone(), phase, cells));
        }
    }
    rows
}

/// `1 of 402`, `0 of 402 (+2 unacknowledged)` when writes committed that
/// their client was not told about, or `-` when writes were not checked.
pub(crate) fn lost(run: &ScenarioResult) -> String {
    run.acks().map_or_else(
        || "-".to_owned(),
        |a| match a.unacknowledged.len() {
            0 => format!("{} of {}", lost_writes(run), a.acknowledged),
            n => format!("{} of {} (+{n} unacknowledged)", lost_writes(run), a.acknowledged),
        },
    )
}

/// The run's facts on one line.
pub(crate) fn facts_line(run: &ScenarioResult) -> String {
    let mut parts = vec![
        format!("victim {}", run.victim),
        format!("fault {}", faults_at(run)),
        format!("seed {}", run.seed),
        format!("master {} → {}", run.master_before, run.master_after.as_deref().unwrap_or("none")),
    ];
    for (role, what) in [(Role::Writer, "write outage"), (Role::Reader, "read outage")] {
        if let Some(p) = run.probe(role) {
            parts.push(match p.longest_outage() {
                Some(v) => format!("{what} {v} ms"),
                None => format!("{what} never recovered"),
            });
        }
    }
    parts.push(match run.new_master_after_ms {
        Some(v) => format!("new master after {v:.0} ms"),
        None => "no new master".to_owned(),
    });
    if run.acks().is_some() {
        parts.push(format!("lost writes {}", lost(run)));
    }
    parts.join(", ")
}

/// The failed checks, one line each: `write outage: expected ≤ 60000 ms, got 71234 ms`.
pub(crate) fn failed_checks(run: &ScenarioResult) -> Vec<String> {
    run.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.actual))
        .collect()
}

/// `2026-01-01 00:00:12 UTC`; the raw number if out of range.
pub(crate) fn utc(unix_ms: u128) -> String {
    utc_formatted(unix_ms, "%Y-%m-%d %H:%M:%S UTC")
}

/// `22:15:01.123 UTC`: a moment to find in the journals.
pub(crate) fn utc_precise(unix_ms: u128) -> String {
    utc_formatted(unix_ms, "%H:%M:%S%.3f UTC")
}

fn utc_formatted(unix_ms: u128, format: &str) -> String {
    i64::try_from(unix_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| format!("{unix_ms} ms since the epoch"), |t| t.strftime(format).to_string())
}

/// Fixtures and golden files shared by the renderers' tests.
///
/// Golden files live in `tests/data/render/golden/`. A test renders its
/// output from the JSON fixtures beside them and compares it byte for byte;
/// after an intended change, regenerate them with
///
/// ```text
/// UPDATE_GOLDEN=1 cargo test -p lab --lib render
/// ```
///
/// and review the diff before committing.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::path::PathBuf;

    use heartbeat::Recording;

    use crate::report::results::{RunRecord, SuiteResults};

    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/render")
    }

    /// `suite.json`: two passing runs of kill-postgres-master, one failing
    /// run of power-off-master that lost a write (and whose description
    /// holds a `<script>`). Written in schema 1, so every rendering test
    /// also reads an upgraded file.
    pub fn suite() -> SuiteResults {
        let path = dir().join("suite.json");
        let text = std::fs::read_to_string(&path).expect("suite.json");
        SuiteResults::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `probes.json`: the recordings of the suite's first run: 60 attempts
    /// per probe, with the outage after the fault and a blip before it.
    pub fn recordings() -> Vec<Recording> {
        let path = dir().join("probes.json");
        let text = std::fs::read_to_string(&path).expect("probes.json");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A record for the first run only (with its recordings) and for the
    /// failing one (without): the second run has no record.
    pub fn records(suite: &SuiteResults) -> Vec<RunRecord> {
        vec![
            RunRecord {
                result: suite.runs[0].clone(),
                recordings: recordings(),
                consoles: Vec::new(),
                journals: Vec::new(),
            },
            RunRecord {
                result: suite.runs[2].clone(),
                recordings: Vec::new(),
                consoles: Vec::new(),
                journals: Vec::new(),
            },
        ]
    }

    /// Compares `actual` with the golden file `name`, or rewrites the file
    /// when `UPDATE_GOLDEN=1`.
    pub fn assert_golden(name: &str, actual: &str) {
        let path = dir().join("golden").join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(dir().join("golden")).expect("golden dir");
            std::fs::write(&path, actual).expect("write golden");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; create it with UPDATE_GOLDEN=1", path.display()));
        if expected == actual {
            return;
        }
        let first = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
        let detail = match first {
            Some(i) => format!(
                "first difference at line {}:\n  golden: {}\n  actual: {}",
                i + 1,
                expected.lines().nth(i).unwrap_or_default(),
                actual.lines().nth(i).unwrap_or_default()
            ),
            None => format!("{} lines in golden, {} rendered", expected.lines().count(), actual.lines().count()),
        };
        panic!("{} differs from the rendering ({detail}); if intended, rerun with UPDATE_GOLDEN=1", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_describe_a_run() {
        let suite = fixtures::suite();
        let run = &suite.runs[2];
        assert_eq!(run_name(run), "power-off-master#1");
        assert_eq!(fault_name(run), "poweroff on master");
        let mut signal = run.clone();
        signal.fault = crate::run::scenario::Scenario::find("stop-corosync-master").expect("builtin").fault;
        assert_eq!(fault_name(&signal), "SIGSTOP corosync on master");
        signal.fault = crate::run::scenario::Scenario::find("oneway-master").expect("builtin").fault;
        assert_eq!(fault_name(&signal), "partition (out) from nodes on master");
        signal.fault = crate::run::scenario::Scenario::find("partition-witness").expect("builtin").fault;
        assert_eq!(fault_name(&signal), "partition from witness on master");
        let mut twice = run.clone();
        twice.fault = crate::run::scenario::Scenario::find("kill-postgres-master-twice").expect("builtin").fault;
        twice.then = vec![crate::report::judge::FiredFault {
            fault: twice.fault.clone(),
            service: crate::cluster::services::ServiceName::Postgres,
            victim: "node2".into(),
            at_ms: twice.fault_at_ms + 60_400.0,
            lifted_at_ms: None,
        }];
        assert_eq!(fault_name(&twice), "kill postgres on master, then kill postgres on master (+60 s)");
        let disable = crate::run::scenario::Scenario::find("disable-postgres").expect("builtin").fault;
        assert_eq!(fault_label(&disable), "disable postgres for 20 s");
        let mut disabled = run.clone();
        (disabled.fault, disabled.fault_at_ms, disabled.lifted_at_ms) = (disable, 6900.0, Some(28_100.0));
        assert_eq!(faults_at(&disabled), "disable postgres for 20 s at 6.9 s, lifted at 28.1 s");
        let at = faults_at(&twice);
        assert!(at.ends_with(", then kill postgres on master (node2) at 65.4 s"), "{at}");
        assert_eq!(serde_name(&run.backend), "container");
        assert_eq!(lost(run), "1 of 402");
        assert_eq!(
            failed_checks(run),
            ["write outage: expected ≤ 60000 ms, got 71234 ms", "lost acknowledged writes: expected ≤ 0, got 1 of 402"]
        );
        assert_eq!(utc(1767225612000), "2026-01-01 00:00:12 UTC");
        assert_eq!(utc_precise(1767225612345), "00:00:12.345 UTC");
    }

    #[test]
    fn a_probe_that_never_recovered_says_so() {
        let mut suite = fixtures::suite();
        let run = &mut suite.runs[0];
        run.probes[0].longest_outage_ms = None;
        assert_eq!(outage(run, Role::Writer), "never recovered");
        assert!(facts_line(run).contains("write outage never recovered,"), "{}", facts_line(run));
        run.probes.retain(|p| p.role == Role::Reader);
        assert_eq!(outage(run, Role::Writer), "-");
        assert!(!facts_line(run).contains("write outage"));
    }

    /// The fixture's first run done, an error in the second, the rest cut
    /// off by Ctrl-C: what an interrupted nightly run leaves.
    fn interrupted() -> SuiteResults {
        use crate::report::results::Unfinished;
        let mut suite = fixtures::suite();
        suite.runs.truncate(1);
        let planned = |iteration, error: Option<&str>| Unfinished {
            scenario: "power-off-master".into(),
            iteration,
            seed: 40 + u64::from(iteration),
            error: error.map(str::to_owned),
        };
        suite.unfinished =
            vec![planned(1, Some("ssh to node2: connection refused")), planned(2, None), planned(3, None)];
        suite.interrupted = true;
        suite
    }

    #[test]
    fn an_interrupted_suite_is_incomplete_in_every_report() {
        let suite = interrupted();
        let md = markdown(&suite, None);
        assert!(md.starts_with("## ⏸️ INCOMPLETE: suite — 1 passed, 0 failed, 1 error, 2 not run\n"), "{md}");
        assert!(md.contains("| power-off-master | 2 | 42 | not run: the suite was interrupted |"), "{md}");
        let xml = junit(&suite);
        assert!(xml.contains("tests=\"4\"") && xml.contains("errors=\"3\"") && xml.contains("failures=\"0\""), "{xml}");
        assert!(xml.contains("<error message=\"not run: the suite was interrupted\" type=\"not run\">"), "{xml}");
        assert!(xml.contains("type=\"infrastructure error\""), "{xml}");
        let page = html(&suite, &[], None);
        assert!(page.contains("<title>lab suite: INCOMPLETE</title>"), "no PASS on an unfinished suite");
        assert!(page.contains("<header class=\"fail\">\n<h1>⏸️ INCOMPLETE: suite</h1>"), "{page}");
        assert!(page.contains(
            "<td>power-off-master#1</td><td class=\"n\">41</td><td>error: ssh to node2: connection refused</td>"
        ));
    }

    #[test]
    fn write_all_writes_the_four_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("reports");
        let suite = fixtures::suite();
        write_all(&out, &suite, &fixtures::records(&suite), None).expect("write");
        let names = ["results.json", "junit.xml", "summary.md", "report.html"];
        for name in names {
            let text = std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!text.is_empty(), "{name}");
        }
        let back = SuiteResults::load(&out.join("results.json")).expect("results.json loads back");
        assert_eq!(back.runs.len(), 3);
        assert_eq!(std::fs::read_to_string(out.join("summary.md")).ok(), Some(markdown(&suite, None)));
    }
}
