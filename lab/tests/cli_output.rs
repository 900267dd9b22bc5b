//! What each command prints, through the real binary, compared with golden
//! files in `tests/data/cli/` (`UPDATE_GOLDEN=1` rewrites them after an
//! intended change): every `--help` with its examples and exit codes, the
//! listings (`scenarios`, `stacks`, `config show`), and `lab list` and
//! `lab snapshot list` over a state directory holding a made lab (its
//! lab.json, snapshots and last run, nothing running), a half-made one and
//! a busy one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lab::config::Config;
use lab::topology::Topology;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cli")
}

/// `lab ARGS` with `--state-dir STATE`, no user configuration file.
fn lab(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .current_dir(state)
        .env("XDG_CONFIG_HOME", state)
        .env("HOME", state)
        .env("COLUMNS", "100")
        .env_remove("LAB_LAB__NAME")
        .output()
        .expect("run lab")
}

/// Stdout of a command that must succeed, with the state directory
/// written `STATE`.
fn stdout(state: &Path, args: &[&str]) -> String {
    let out = lab(state, args);
    assert_eq!(out.status.code(), Some(0), "lab {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).replace(&*state.to_string_lossy(), "STATE")
}

fn assert_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; UPDATE_GOLDEN=1 makes it", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
        panic!(
            "{} differs from the output (first differing line {line:?}); if intended, rerun with UPDATE_GOLDEN=1\n{actual}",
            path.display()
        );
    }
}

/// The commands of `lab --help`, as typed.
const COMMANDS: [&str; 21] = [
    "make-all",
    "status",
    "list",
    "ssh",
    "mon",
    "rollback",
    "snapshot",
    "destroy",
    "heartbeat",
    "scenario",
    "suite",
    "scenarios",
    "stacks",
    "config",
    "completions",
    "report",
    "bench",
    "snapshot save",
    "snapshot list",
    "snapshot delete",
    "config show",
];

#[test]
fn every_help_has_examples_and_exit_codes() {
    let state = tempfile::tempdir().expect("tempdir");
    assert_golden("help/lab.txt", &stdout(state.path(), &["--help"]));
    for command in COMMANDS {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let help = stdout(state.path(), &args);
        assert!(help.contains("\nExamples:\n  lab "), "`lab {command} --help` has no example:\n{help}");
        assert!(help.contains("\nExit codes: "), "`lab {command} --help` gives no exit codes:\n{help}");
        assert_golden(&format!("help/{}.txt", command.replace(' ', "-")), &help);
    }
    assert!(!state.path().join("logs").exists(), "help writes no log");
}

#[test]
fn listings_match_golden() {
    let state = tempfile::tempdir().expect("tempdir");
    assert_golden("scenarios.txt", &stdout(state.path(), &["scenarios"]));
    assert_golden("stacks.txt", &stdout(state.path(), &["stacks"]));
    // A fixed state directory (never made: `config show` only reads), so
    // that the columns do not depend on where temporary files go.
    let args =
        ["--lab", "golden", "--state-dir", "/var/tmp/lab-golden", "--set", "heartbeat.rate_hz=50", "config", "show"];
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .current_dir(state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env_remove("LAB_LAB__NAME")
        .output()
        .expect("lab");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_golden("config-show.txt", &String::from_utf8_lossy(&out.stdout));
    assert!(!Path::new("/var/tmp/lab-golden").exists());
}

/// A lab as make-all leaves it on disk (lab.json, snapshot records), its
/// last run, nothing running.
fn made_lab(state: &Path, name: &str, snapshots: &[(&str, &str)]) {
    let mut config = Config::defaults().expect("defaults");
    config.lab.name = name.to_owned();
    config.lab.state_dir = state.to_owned();
    let topology = Topology::from_config(&config, "21e9cdaab9e662e9").expect("topology");
    let root = state.join("labs").join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    topology.save(&root.join("lab.json")).expect("lab.json");
    for (snapshot, saved) in snapshots {
        let dir = root.join("snapshots").join(snapshot);
        std::fs::create_dir_all(&dir).expect("snapshot");
        let touched = Command::new("touch").arg("-d").arg(saved).arg(&dir).status().expect("touch");
        assert!(touched.success());
    }
}

#[test]
fn lab_list_and_snapshot_list_match_golden() {
    let state = tempfile::tempdir().expect("tempdir");
    let state = state.path();
    assert_golden("list-empty.txt", &stdout(state, &["list"]));
    made_lab(
        state,
        "nightly",
        &[("install", "2026-12-01 00:00:00Z"), ("setup", "2026-12-01 00:03:00Z"), ("tuned", "2026-12-01 01:00:00Z")],
    );
    let latest = state.join("runs/nightly/latest");
    std::fs::create_dir_all(&latest).expect("runs");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/render/suite.json"),
        latest.join("results.json"),
    )
    .expect("results");
    // What an interrupted make-all with --keep-failed leaves: no lab.json.
    std::fs::create_dir_all(state.join("labs/broken/nodes")).expect("half-made");
    // A lab some command is working on: `lab list` says so and takes nothing.
    made_lab(state, "busy", &[]);
    let _held = lab::lock::LabLock::acquire(&lab::paths::LabPaths::new(state, "busy"), "lab suite").expect("lock");

    let listed = stdout(state, &["list"]).replace(&std::process::id().to_string(), "PID");
    assert_golden("list.txt", &listed);
    let json: serde_json::Value = serde_json::from_str(&stdout(state, &["--json", "list"])).expect("json");
    let names: Vec<&str> = json.as_array().expect("array").iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["broken", "busy", "nightly"]);
    assert_eq!(json[2]["running"], 0);
    assert_eq!(json[2]["snapshots"], serde_json::json!(["install", "setup", "tuned"]));
    assert_eq!(json[0]["complete"], false);

    assert_golden("snapshot-list.txt", &stdout(state, &["--lab", "nightly", "snapshot", "list"]));
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(state, &["--lab", "nightly", "--json", "snapshot", "list"])).expect("json");
    assert_eq!(listed[2]["name"], "tuned");
    assert_eq!(listed[2]["made_by_make_all"], false);
    assert_eq!(listed[2]["saved_unix_s"], 1_796_086_800_u64);
    assert!(!state.join("logs").exists(), "listing writes no log");
}

#[test]
fn snapshot_names_and_make_alls_snapshots_are_refused_before_anything_happens() {
    let state = tempfile::tempdir().expect("tempdir");
    let state = state.path();
    made_lab(state, "nightly", &[("install", "2026-12-01 00:00:00Z"), ("setup", "2026-12-01 00:03:00Z")]);
    let refusals: [(&[&str], &str); 8] = [
        (&["rollback", "nosuch"], "snapshot `nosuch` does not exist; `lab snapshot list` shows"),
        (&["snapshot", "delete", "nosuch"], "snapshot `nosuch` does not exist"),
        (&["snapshot", "save", "../x"], "may hold only letters, digits"),
        (&["snapshot", "save", "setup"], "`lab snapshot save setup --force` replaces it"),
        (&["snapshot", "delete", "setup"], "make-all's snapshot"),
        (&["snapshot", "delete", "install"], "make-all's snapshot"),
        (&["rollback", "a.b"], "may hold only letters, digits"),
        (&["snapshot", "list"], "lab `tuchanka` does not exist"),
    ];
    for (args, says) in refusals {
        let mut full = vec!["--lab", "nightly"];
        if args == ["snapshot", "list"] {
            full = vec!["--lab", "tuchanka"];
        }
        full.extend_from_slice(args);
        let out = lab(state, &full);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "lab {full:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(says), "lab {full:?}: {stderr}");
    }
    let snapshots = std::fs::read_dir(state.join("labs/nightly/snapshots")).expect("dir").count();
    assert_eq!(snapshots, 2, "nothing made or removed");
    assert!(!state.join("logs").exists() && !state.join("locks").exists(), "no log, no lock");
}

/// The mission's `lab scenario link-down`, Tuchanka's test names and near
/// misses: an alias is resolved and said, an unknown name gets the closest.
#[test]
fn scenario_short_names_aliases_and_near_misses() {
    let state = tempfile::tempdir().expect("tempdir");
    let state = state.path();
    for (typed, name) in [
        ("link-down", "link-down-master"),
        ("PowerOff", "poweroff-master"),
        ("ShutDown", "shutdown-master"),
        ("SBD-STOP", "sbd-stop-master"),
    ] {
        // No lab here, so it stops at that, after naming the scenario.
        let out = lab(state, &["--lab", "nolab", "scenario", typed]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("lab: `{typed}` is scenario {name}")), "{stderr}");
        assert!(stderr.contains("lab `nolab` does not exist"), "{stderr}");
    }
    let out = lab(state, &["scenario", "link-dwon"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown scenario `link-dwon`; did you mean `link-down`?"), "{stderr}");

    let listed: serde_json::Value = serde_json::from_str(&stdout(state, &["--json", "scenarios"])).expect("json");
    let link_down =
        listed.as_array().and_then(|all| all.iter().find(|s| s["name"] == "link-down-master")).expect("listed");
    assert_eq!(link_down["aliases"], serde_json::json!(["link-down", "unlink"]));
    assert_eq!(link_down["action"], "link-down");
    let sbd_stop = listed.as_array().and_then(|all| all.iter().find(|s| s["name"] == "sbd-stop-master")).expect("sbd");
    assert_eq!((&sbd_stop["needs_watchdog"], &link_down["needs_watchdog"]), (&true.into(), &false.into()));
    assert_eq!(link_down["target"], "master");
    let names: Vec<&str> = listed.as_array().expect("array").iter().filter_map(|s| s["name"].as_str()).collect();
    let text = stdout(state, &["scenarios"]);
    assert_eq!(
        text.lines().count(),
        names.len() + 1,
        "the table (with its header) and the JSON list the same scenarios"
    );
    let degrade =
        listed.as_array().and_then(|all| all.iter().find(|s| s["name"] == "degrade-master-link")).expect("listed");
    assert_eq!(
        (degrade["needs_link_shaping"].as_bool(), degrade["needs_own_kernel"].as_bool()),
        (Some(true), Some(false))
    );
}
