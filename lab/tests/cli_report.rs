//! `lab report --baseline`: the exit code is the regression verdict, on
//! recorded results (no lab needed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/render/suite.json")
}

fn report(current: &Path, baseline: &Path, extra: &[&str]) -> Output {
    let state = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("report")
        .arg(current)
        .arg("--baseline")
        .arg(baseline)
        .args(extra)
        .output()
        .expect("run lab")
}

/// A copy of the fixture in its own directory (report rewrites summary.md
/// beside the results) where every run passed, with every write outage
/// multiplied by `factor`.
fn scaled(dir: &Path, factor: f64) -> PathBuf {
    let mut suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).expect("fixture")).expect("json");
    for run in suite["runs"].as_array_mut().expect("runs") {
        run["passed"] = serde_json::json!(true);
        for check in run["checks"].as_array_mut().expect("checks") {
            check["passed"] = serde_json::json!(true);
        }
        run["lost_writes"]["lost"] = serde_json::json!([]);
        for probe in run["probes"].as_array_mut().expect("probes") {
            if probe["role"] == "writer" {
                if let Some(ms) = probe["longest_outage_ms"].as_f64() {
                    probe["longest_outage_ms"] = serde_json::json!(ms * factor);
                }
            }
        }
    }
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&suite).expect("json")).expect("write");
    path
}

/// The passing fixture as a baseline, in a directory of its own.
fn baseline(dir: &tempfile::TempDir) -> PathBuf {
    scaled(dir.path(), 1.0)
}

#[test]
fn same_results_are_no_regression() {
    let (dir, base) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let current = scaled(dir.path(), 1.0);
    let out = report(&current, &baseline(&base), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(dir.path().join("summary.md").is_file(), "summary.md rewritten with the comparison");
}

#[test]
fn much_longer_write_outages_regress_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = tempfile::tempdir().expect("tempdir");
    let current = scaled(dir.path(), 3.0);
    let out = report(&current, &baseline(&base), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("regression"));
}

#[test]
fn a_failing_run_fails_even_against_a_baseline_that_failed_too() {
    // The fixture itself has a failing power-off-master run.
    let out = report(&fixture(), &fixture(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failing in baseline too"));
}

#[test]
fn results_of_another_backend_are_refused_unless_allowed() {
    let (dir, base) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let current = scaled(dir.path(), 1.0);
    let text = std::fs::read_to_string(&current).expect("read").replace("\"container\"", "\"qemu\"");
    std::fs::write(&current, text).expect("write");
    let out = report(&current, &baseline(&base), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the backend container, these results on qemu") && stderr.contains("--allow-mismatch"));
    assert_eq!(report(&current, &baseline(&base), &["--allow-mismatch"]).status.code(), Some(0));
}

#[test]
fn a_tolerance_that_would_hide_everything_is_refused() {
    let (dir, base) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let current = scaled(dir.path(), 3.0);
    for bad in ["--tolerance=nan", "--tolerance=inf", "--tolerance=-5", "--tolerance-ms=-1"] {
        let out = report(&current, &baseline(&base), &[bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("must be a finite number"), "{bad}");
    }
}

#[test]
fn a_wide_tolerance_accepts_the_same_slowdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = tempfile::tempdir().expect("tempdir");
    let current = scaled(dir.path(), 3.0);
    let out = report(&current, &baseline(&base), &["--tolerance", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_file_that_is_not_results_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bogus = dir.path().join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").expect("write");
    let out = report(&fixture(), &bogus, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus.json"));
}

/// Without `--baseline`, `lab report RESULTS.json` writes the run's
/// reports anew from results.json (and the runs' records where there are
/// some), and its exit code is the suite's own verdict.
#[test]
fn without_a_baseline_the_reports_are_written_anew() {
    let dir = tempfile::tempdir().expect("tempdir");
    let passing = scaled(dir.path(), 1.0);
    let state = tempfile::tempdir().expect("tempdir");
    let lab = |results: &Path| {
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg("--state-dir")
            .arg(state.path())
            .args(["--json", "report"])
            .arg(results)
            .output()
            .expect("run lab")
    };
    let out = lab(&passing);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let said: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(said["run_dir"], serde_json::json!(dir.path()));
    for name in ["summary.md", "report.html", "junit.xml"] {
        assert!(dir.path().join(name).is_file(), "{name} written");
    }
    assert!(std::fs::read_to_string(dir.path().join("summary.md")).expect("summary").contains("PASS"));

    let failing = tempfile::tempdir().expect("tempdir");
    let copy = failing.path().join("results.json");
    std::fs::copy(fixture(), &copy).expect("copy");
    assert_eq!(lab(&copy).status.code(), Some(1), "the fixture has failed runs: exit 1 as the suite did");
}

/// The passing fixture cut into `count` shares of a suite with base seed 10,
/// each in its own directory as `lab suite --partition K/N` leaves it.
fn shares(root: &Path, count: u32) -> Vec<PathBuf> {
    let whole_dir = root.join("whole-run");
    std::fs::create_dir_all(&whole_dir).expect("mkdir");
    let mut whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scaled(&whole_dir, 1.0)).expect("read")).expect("json");
    whole["seed"] = serde_json::json!(10);
    let runs: Vec<serde_json::Value> = whole["runs"].as_array().expect("runs").clone();
    (1..=count)
        .map(|index| {
            let mut share = whole.clone();
            let mine: Vec<serde_json::Value> = runs
                .iter()
                .enumerate()
                .filter(|(k, _)| *k as u32 % count == index - 1)
                .map(|(k, run)| {
                    let mut run = run.clone();
                    run["seed"] = serde_json::json!(10 + k as u64);
                    run
                })
                .collect();
            share["runs"] = serde_json::json!(mine);
            share["partition"] = serde_json::json!({ "index": index, "count": count });
            let dir = root.join(format!("share-{index}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&share).expect("json"))
                .expect("write");
            dir
        })
        .collect()
}

fn merge(shares: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    let state = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--state-dir")
        .arg(state.path())
        .arg("report")
        .arg("--merge")
        .args(shares)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run lab")
}

#[test]
fn the_shares_of_a_suite_merge_into_the_whole_and_compare_with_a_baseline() {
    let root = tempfile::tempdir().expect("tempdir");
    let given = shares(root.path(), 2);
    let out = root.path().join("merged");
    let merged = merge(&given, &out, &[]);
    let stderr = String::from_utf8_lossy(&merged.stderr);
    assert_eq!(merged.status.code(), Some(0), "every run passed: {stderr}");
    let whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("merged")).expect("json");
    let seeds: Vec<u64> = whole["runs"].as_array().expect("runs").iter().filter_map(|r| r["seed"].as_u64()).collect();
    assert_eq!(seeds, [10, 11, 12], "in the plan's order");
    assert!(whole.get("partition").is_none(), "the whole suite is no share");
    for report in ["report.html", "junit.xml", "summary.md"] {
        assert!(out.join(report).is_file(), "{report}");
    }
    let base = tempfile::tempdir().expect("tempdir");
    let compared =
        merge(&given, &root.path().join("compared"), &["--baseline", baseline(&base).to_str().expect("utf-8")]);
    assert_eq!(compared.status.code(), Some(0), "{}", String::from_utf8_lossy(&compared.stdout));

    let again = merge(&given, &out, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds results"));
    let part = merge(&given[..1], &root.path().join("part"), &[]);
    assert_eq!(part.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&part.stderr);
    assert!(stderr.contains("share 2/2 of the suite is missing"), "{stderr}");
    assert!(!root.path().join("part").exists(), "nothing written for a refused merge");
}
