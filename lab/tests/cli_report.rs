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
/// beside the results), with every write outage multiplied by `factor`.
fn scaled(dir: &Path, factor: f64) -> PathBuf {
    let mut suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).expect("fixture")).expect("json");
    for run in suite["runs"].as_array_mut().expect("runs") {
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

#[test]
fn same_results_are_no_regression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let current = scaled(dir.path(), 1.0);
    let out = report(&current, &fixture(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(dir.path().join("summary.md").is_file(), "summary.md rewritten with the comparison");
}

#[test]
fn much_longer_write_outages_regress_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let current = scaled(dir.path(), 3.0);
    let out = report(&current, &fixture(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("regression"));
}

#[test]
fn a_wide_tolerance_accepts_the_same_slowdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let current = scaled(dir.path(), 3.0);
    let out = report(&current, &fixture(), &["--tolerance", "5"]);
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
