//! Bad input through the real binary: one-line errors naming what to fix,
//! exit code 2, and nothing created.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::installer::{CENTOS7_TREEINFO, ROCKY9_TREEINFO, installer_iso, iso};

fn lab(state_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--lab")
        .arg("clitest")
        .args(args)
        .env_remove("LAB_LAB__NAME")
        .output()
        .expect("run lab")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn nothing_made(state_dir: &Path) -> bool {
    !state_dir.join("labs").join("clitest").exists()
}

/// A refused make-all: exit 2, the error says `says`, and no lab was begun.
fn assert_refused(state_dir: &Path, out: &Output, says: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(says), "{}", stderr(out));
    assert!(nothing_made(state_dir));
}

/// `lab completions bash` prints a script bash accepts, naming the
/// commands, and needs no lab, configuration or log.
#[test]
fn completions_for_bash_parse_and_name_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    for command in ["make-all", "scenario", "suite", "destroy", "completions"] {
        assert!(script.contains(command), "{command} missing from:\n{script}");
    }
    let script_file = dir.path().join("lab.bash");
    std::fs::write(&script_file, &script).expect("write");
    let parsed = Command::new("bash").arg("-n").arg(&script_file).output().expect("bash");
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    assert!(!dir.path().join("labs").exists() && !dir.path().join("logs").exists());
    let unknown = lab(dir.path(), &["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2));
}

/// `lab config show` gives every key's value and origin; `--defaults` the
/// embedded file; an invalid value exits 2 naming its origin.
#[test]
fn config_show_says_where_each_value_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, "[heartbeat]\n\nquery_timeout_ms = 2500\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["--config"])
        .arg(&file)
        .args(["--set", "heartbeat.rate_hz=100", "config", "show"])
        .env("LAB_LAB__NAME", "from-env")
        .output()
        .expect("lab");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |key: &str| text.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_default().to_owned();
    assert!(line("heartbeat.rate_hz").ends_with("# flag --set heartbeat.rate_hz=100"), "{text}");
    assert!(line("heartbeat.query_timeout_ms").ends_with(&format!("# {}:3", file.display())), "{text}");
    assert!(
        line("lab.name").contains("\"from-env\"") && line("lab.name").ends_with("# environment variable LAB_LAB__NAME")
    );
    assert!(line("heartbeat.connect_timeout_ms").ends_with("# default"), "{text}");

    let defaults = lab(dir.path(), &["config", "show", "--defaults"]);
    assert_eq!(String::from_utf8_lossy(&defaults.stdout), lab::config::DEFAULTS);
    let bad = lab(dir.path(), &["--set", "heartbeat.rate_hz=-1", "config", "show"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("flag --set heartbeat.rate_hz=-1"), "{}", stderr(&bad));
    assert!(!dir.path().join("logs").exists(), "showing the configuration writes no log");
}

/// CI reads stderr as plain text: log lines there carry no colour codes
/// when it is not a terminal (seen as `^[[2m` with `-v 2>&1 | cat -v`).
#[test]
fn log_lines_off_a_terminal_are_plain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["-v", "status"]);
    let text = stderr(&out);
    assert!(text.contains("command=Status"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn unknown_scenario_exits_2_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["scenario", "kill-everything"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown scenario `kill-everything`") && err.contains("kill-postgres-master"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

/// A share of a suite needs the same seed on every machine, and a share
/// that is no K/N is refused by the parser; neither touches a lab.
#[test]
fn a_suite_share_needs_a_seed_and_a_k_of_n() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["suite", "--partition", "2/4"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--partition 2/4 needs --seed"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "one-line error: {}", stderr(&out));
    let out = lab(dir.path(), &["suite", "--partition", "5/4", "--seed", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("K must be 1 to N"), "{}", stderr(&out));
    assert!(nothing_made(dir.path()));
}

#[test]
fn malformed_config_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[lab]\nname = \"x\"\n[heartbeat]\nrate_hz = = 3\n").expect("write");
    let out = lab(dir.path(), &["--config", config.to_str().expect("utf8"), "status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad.toml:4:") && err.contains("malformed TOML"), "{err}");
    assert!(nothing_made(dir.path()));
}

#[test]
fn unknown_config_key_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("typo.toml");
    std::fs::write(&config, "[postgres]\nmaster_vip = \"192.168.89.103\"\nreplica_ip = \"192.168.89.104\"\n")
        .expect("write");
    let out = lab(dir.path(), &["--config", config.to_str().expect("utf8"), "make-all"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("typo.toml:3") && err.contains("postgres.replica_ip"), "{err}");
    assert!(nothing_made(dir.path()));
}

#[test]
fn status_of_a_lab_that_does_not_exist_says_how_to_make_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("lab make-all"), "{}", stderr(&out));
}

#[test]
fn missing_mmdebstrap_is_reported_with_the_package_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A PATH with every tool make-all needs except mmdebstrap.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    for tool in ["ip", "systemd-nspawn", "ssh", "ssh-keygen", "mount"] {
        let real =
            ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists());
        if let Some(real) = real {
            std::os::unix::fs::symlink(real, bin.join(tool)).expect("symlink");
        } else {
            // Not installed here: the error would name that tool instead.
            std::fs::write(bin.join(tool), "#!/bin/sh\n").expect("stub");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["--state-dir", dir.path().join("state").to_str().expect("utf8"), "--lab", "clitest", "make-all"])
        .env("PATH", &bin)
        .output()
        .expect("run lab");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("apt-get install mmdebstrap"), "{}", stderr(&out));
    assert!(!dir.path().join("state").join("labs").exists(), "nothing half-made");
}

#[test]
fn a_missing_iso_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["make-all", "/nonexistent/centos7.iso", "key.pub"]);
    assert_refused(dir.path(), &out, "/nonexistent/centos7.iso: cannot read");
}

#[test]
fn an_iso_that_is_no_rhel_installer_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let debian = iso(&dir.path().join("debian12.iso"), "Debian 12", &[(".disk/info", "Debian GNU/Linux 12")]);
    let out = lab(dir.path(), &["make-all", debian.to_str().expect("utf8")]);
    assert_refused(dir.path(), &out, "not a RHEL-like installation ISO (a Debian or Ubuntu ISO?)");
}

#[test]
fn a_recognised_iso_still_needs_a_valid_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let centos = installer_iso(&dir.path().join("centos7.iso"), "CentOS 7 x86_64", CENTOS7_TREEINFO);
    let key = dir.path().join("key.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB'x user@host\n").expect("write");
    let out = lab(dir.path(), &["make-all", centos.to_str().expect("utf8"), key.to_str().expect("utf8")]);
    assert_refused(dir.path(), &out, "key.pub");

    std::fs::write(
        &key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcBL1VtUC1JiSbn8ZhQ3iAlbMNHfzCTGVNJA+ir3ELT user@host\n",
    )
    .expect("write");
    let out = lab(dir.path(), &["make-all", centos.to_str().expect("utf8"), key.to_str().expect("utf8")]);
    assert_refused(dir.path(), &out, "CentOS 7 recognised");
}

#[test]
fn an_unreadable_key_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["make-all", "/nonexistent/key.pub"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/key.pub"), "{}", stderr(&out));
    assert!(nothing_made(dir.path()));
}

#[test]
fn a_quote_in_the_key_outside_its_comment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB'x user@host\n").expect("write");
    let out = lab(dir.path(), &["make-all", key.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("key.pub") && stderr(&out).contains('\''), "{}", stderr(&out));
    assert!(nothing_made(dir.path()));
}

#[test]
fn the_virtualbox_backend_needs_an_iso_and_roots_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["--backend", "virtualbox", "make-all"]);
    assert_refused(
        dir.path(),
        &out,
        "installs its hosts from a RHEL-like ISO: `lab --backend virtualbox make-all ISO KEY.pub`",
    );

    let centos = installer_iso(&dir.path().join("centos7.iso"), "CentOS 7 x86_64", CENTOS7_TREEINFO);
    let out = lab(dir.path(), &["--backend", "virtualbox", "make-all", centos.to_str().expect("utf8")]);
    assert_refused(dir.path(), &out, "needs root's SSH public key: `lab make-all ISO KEY.pub`");

    let rocky = installer_iso(&dir.path().join("rocky9.iso"), "Rocky-9-3-x86_64-dvd", ROCKY9_TREEINFO);
    let out = lab(dir.path(), &["--backend", "virtualbox", "make-all", rocky.to_str().expect("utf8")]);
    assert_refused(dir.path(), &out, "needs root's SSH public key: `lab make-all ISO KEY.pub`");
}

/// A Rocky 9 installer ISO and a valid public key in `dir`.
fn rocky_iso_and_key(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let rocky = installer_iso(&dir.join("rocky9.iso"), "Rocky-9-3-x86_64-dvd", ROCKY9_TREEINFO);
    let key = dir.join("key.pub");
    let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGcBL1VtUC1JiSbn8ZhQ3iAlbMNHfzCTGVNJA+ir3ELT user@host\n";
    std::fs::write(&key, line).expect("write");
    (rocky, key)
}

/// A stack with packages of its own, and sbd fencing, need lab's own image;
/// each refusal says what else the user can do.
#[test]
fn what_needs_lab_s_own_image_is_refused_with_an_iso() {
    let cases: [(&[&str], &str, &str); 2] = [
        (
            &["make-all", "--stack", "skyha"],
            "the skyha stack runs on lab's own Debian 12 image (it needs drbd-utils, docker.io, apparmor, \
             nfs-kernel-server, e2fsprogs), not on hosts installed from",
            "; leave out the ISO",
        ),
        (
            &["--set", "cluster.fencing=sbd", "make-all"],
            "fencing = \"sbd\" runs on lab's own Debian 12 image (it needs the sbd package), not on hosts \
             installed from",
            "; leave out the ISO, or set cluster.fencing = \"lab\"",
        ),
    ];
    for (args, says, ends) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rocky, key) = rocky_iso_and_key(dir.path());
        let (rocky, key) = (rocky.to_str().expect("utf8"), key.to_str().expect("utf8"));
        let out = lab(dir.path(), &[&["--backend", "qemu"], args, &[rocky, key]].concat());
        assert_refused(dir.path(), &out, says);
        assert!(stderr(&out).trim_end().ends_with(ends), "{}", stderr(&out));
    }
}

/// `lab make-all rocky9.iso key.pub` as typed picks the backend that can
/// install an ISO and says so; a backend the user chose is kept.
#[test]
fn an_iso_without_a_backend_gets_one_that_installs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rocky, key) = rocky_iso_and_key(dir.path());
    let (rocky, key) = (rocky.to_str().expect("utf8"), key.to_str().expect("utf8"));
    let with_path = |path: &str, extra: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command.arg("--state-dir").arg(dir.path()).args(["--lab", "clitest", "make-all", rocky, key]);
        command.env("PATH", path).env_remove("LAB_LAB__BACKEND");
        for (k, v) in extra {
            command.env(k, v);
        }
        command.output().expect("lab")
    };
    let system_path = std::env::var("PATH").unwrap_or_default();
    let out = with_path(&system_path, &[]);
    assert!(
        stderr(&out).contains("installing the ISO with the qemu backend (no VBoxManage on PATH)"),
        "{}",
        stderr(&out)
    );
    assert_refused(dir.path(), &out, "a QEMU lab reaches nothing outside: set [qemu] repo_mirror");

    let out = with_path(&system_path, &[("LAB_LAB__BACKEND", "container")]);
    assert!(!stderr(&out).contains("installing the ISO with"), "{}", stderr(&out));
    assert_refused(dir.path(), &out, "the container backend runs the embedded Debian 12 image and installs no ISO");

    // A VBoxManage on PATH (a stand-in that fails: only its presence decides;
    // the contract tests drive VirtualBox itself).
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let vboxmanage = bin.join("VBoxManage");
    std::fs::write(&vboxmanage, "#!/bin/sh\nexit 1\n").expect("write");
    std::fs::set_permissions(&vboxmanage, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let out = with_path(&format!("{}:{system_path}", bin.display()), &[]);
    let said = stderr(&out);
    assert!(said.contains("installing the ISO with the virtualbox backend (VBoxManage is on PATH)"), "{said}");
    assert!(
        said.contains("`VBoxManage list hostonlyifs` failed"),
        "the stand-in fails VirtualBox's first step: {said}"
    );
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn the_qemu_backend_installs_isos_from_a_local_repository_mirror() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rocky, key) = rocky_iso_and_key(dir.path());
    let (rocky, key) = (rocky.to_str().expect("utf8"), key.to_str().expect("utf8"));
    let out = lab(dir.path(), &["--backend", "qemu", "make-all", rocky, key]);
    assert_refused(
        dir.path(),
        &out,
        "Rocky Linux 9.3 recognised, but its hosts also need packages from highavailability, pgdg-common, pgdg15 \
         and a QEMU lab reaches nothing outside: set [qemu] repo_mirror",
    );

    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(mirror.join("highavailability/repodata")).expect("mkdir");
    std::fs::write(mirror.join("highavailability/repodata/repomd.xml"), "<repomd/>").expect("write");
    let set = format!("qemu.repo_mirror={}", mirror.display());
    let out = lab(dir.path(), &["--backend", "qemu", "--set", &set, "make-all", rocky, key]);
    assert_refused(
        dir.path(),
        &out,
        &format!(
            "[qemu] repo_mirror {}: no repository `pgdg-common` (no pgdg-common/repodata/repomd.xml)",
            mirror.display()
        ),
    );
    assert!(stderr(&out).contains("dnf reposync --download-metadata --repoid=pgdg-common"), "{}", stderr(&out));
}

#[test]
fn stacks_lists_each_profile_with_its_services_and_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["--json", "stacks"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stacks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tuchanka = stacks.as_array().and_then(|s| s.iter().find(|p| p["name"] == "tuchanka")).expect("tuchanka");
    assert_eq!(tuchanka["services"], serde_json::json!(["postgres", "redis"]));
    assert_eq!(tuchanka["backends"], serde_json::json!(["container", "qemu", "virtualbox"]));
    let text = String::from_utf8_lossy(&lab(dir.path(), &["stacks"]).stdout).into_owned();
    assert!(text.starts_with("tuchanka  Tuchanka's second cluster"), "{text}");
    assert!(text.contains("services: postgres, redis"), "{text}");
    let skyha = stacks.as_array().and_then(|s| s.iter().find(|p| p["name"] == "skyha")).expect("skyha");
    assert_eq!(skyha["services"], serde_json::json!(["drbd", "postgres", "redis", "beanstalkd", "nfs"]));
    assert_eq!(skyha["backends"], serde_json::json!(["qemu"]));
}

#[test]
fn a_stack_on_drbd_is_refused_on_containers_naming_the_backends_that_run_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["--backend", "container", "make-all", "--stack", "skyha"]);
    assert_refused(dir.path(), &out, "the skyha stack does not run on the container backend; use --backend qemu");
    assert_eq!(stderr(&out).trim().lines().count(), 1, "one-line error: {}", stderr(&out));
}

#[test]
fn an_unknown_stack_exits_2_naming_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lab(dir.path(), &["make-all", "--stack", "galera"]);
    assert_refused(dir.path(), &out, "possible values: tuchanka, tuchanka1, skyha");
}

/// Values that parse but would crash a run (an overflowing timeout, a NaN
/// rate, a negative wait) or name the same host twice: refused as they are
/// read, with where they came from, and not even a log file is written.
#[test]
fn values_that_would_crash_a_run_are_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let scenario = dir.path().join("wait.toml");
    std::fs::write(
        &scenario,
        "description = \"x\"\n[fault]\naction = \"kill\"\ntarget = \"master\"\n[observe]\ntimeout_s = -5\n[expect]\n",
    )
    .expect("write");
    let duplicates = dir.path().join("twice.toml");
    std::fs::write(
        &duplicates,
        "[[cluster.node]]\nname = \"n1\"\naddress = \"192.168.89.11\"\n\
         [[cluster.node]]\nname = \"n1\"\naddress = \"192.168.89.12\"\n",
    )
    .expect("write");
    // Each wait of a scenario file that once parsed and then panicked
    // mid-run, after the fault was injected.
    let waits = [("observe", "settle_s", "-1"), ("probes", "warmup_s", "nan"), ("probes", "jitter_s", "inf")];
    for (table, key, value) in waits {
        let file = dir.path().join(format!("{key}.toml"));
        std::fs::write(
            &file,
            format!("description = \"x\"\n[fault]\naction = \"kill\"\ntarget = \"master\"\n[{table}]\n{key} = {value}\n[expect]\n"),
        )
        .expect("write");
        let out = lab(&state, &["scenario", file.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(2), "{key} = {value}: {}", stderr(&out));
        assert!(stderr(&out).starts_with(&format!("lab: {}:6:", file.display())), "{key}: {}", stderr(&out));
        assert!(!state.exists(), "{key} = {value} made {}", state.display());
    }
    // A lab name and a state directory, given as flags of their own.
    for (flag, value, says) in [("--lab", "bad-", "`lab.name`"), ("--state-dir", "relative/state", "absolute")] {
        let out = Command::new(env!("CARGO_BIN_EXE_lab"))
            .current_dir(dir.path())
            .args([flag, value, "make-all"])
            .env_remove("LAB_LAB__NAME")
            .output()
            .expect("run lab");
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", stderr(&out));
        assert!(stderr(&out).lines().next().is_some_and(|l| l.contains(says)), "{flag} {value}: {}", stderr(&out));
        assert!(!dir.path().join("relative").exists() && !state.exists(), "{flag} {value} made something");
    }
    let cases: [(&[&str], &str); 14] = [
        (&["--set", "postgres.replica_vip=192.168.89.11", "make-all"], "address 192.168.89.11 is used twice"),
        (&["--set", "timeouts.boot_s=9223372036854775807", "make-all"], "--set timeouts.boot_s"),
        (&["--set", "network.host_address=999.1.1.1", "make-all"], "`network.host_address`: invalid IPv4"),
        (&["--set", "heartbeat.rate_hz=nan", "status"], "`heartbeat.rate_hz`"),
        (&["--config", duplicates.to_str().expect("utf8"), "make-all"], "twice.toml:5: configuration key"),
        (&["scenario", scenario.to_str().expect("utf8")], "wait.toml:6:"),
        (&["heartbeat", "writer", "--seconds", "nan"], "--seconds"),
        (&["heartbeat", "writer", "--seconds=-1"], "--seconds"),
        (&["heartbeat", "writer", "--seconds", "1e300"], "--seconds"),
        (&["--set", "qemu.tcg_slowdown=inf", "make-all"], "`qemu.tcg_slowdown`"),
        (&["--set", "cluster.fencing=sbd", "make-all"], "`cluster.fencing`: \"sbd\" resets a node"),
        (&["suite", "--repeat", "0"], "invalid value '0' for '--repeat"),
        (&["bench", "--repeat", "0"], "invalid value '0' for '--repeat"),
        (&["sweep", "poweroff-master", "--vary", "cluster.token_ms=1000", "--repeat", "0"], "'--repeat <REPEAT>'"),
    ];
    for (args, says) in cases {
        let out = lab(&state, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.lines().next().is_some_and(|first| first.contains(says)), "said on the first line: {err}");
        assert!(!state.exists(), "{args:?} made {}", state.display());
    }
}

/// While one command changes a lab (here a `flock` holding its lock, as
/// `lab suite` would), another fails at once and says the lab is busy;
/// `status` reads it regardless.
#[test]
fn a_busy_lab_refuses_a_second_changing_command_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let locks = dir.path().join("locks");
    std::fs::create_dir_all(&locks).expect("locks");
    let mut holder =
        Command::new("flock").arg(locks.join("clitest.lock")).args(["sleep", "30"]).spawn().expect("flock");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = lab(dir.path(), &["destroy"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("lab `clitest` is busy"), "{}", stderr(&out));
    let status = lab(dir.path(), &["status"]);
    assert!(!stderr(&status).contains("busy"), "status takes no lock: {}", stderr(&status));
}

#[test]
fn make_all_replaces_an_existing_lab_only_with_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("labs").join("clitest")).expect("lab dir");
    let out = lab(dir.path(), &["make-all"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("lab `clitest` exists; `lab make-all --force` replaces it"), "{}", stderr(&out));
    assert!(dir.path().join("labs").join("clitest").exists(), "nothing destroyed");
}

/// A lab of several clusters (Tuchanka's two, sharing the witness): each
/// command that acts on one cluster needs it named, and a name the lab
/// lacks is refused with the ones it has, before anything runs.
#[test]
fn a_lab_of_several_clusters_acts_on_the_one_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sets = ["topology.preset=\"tuchanka\"", "lab.name=\"clitest\""];
    let sets: Vec<lab::config::Override> =
        sets.iter().map(|s| lab::config::Override::parse_flag(s).expect("flag")).collect();
    let config = lab::config::Config::load(None, &sets).expect("config");
    let topology = lab::topology::Topology::from_config(&config, "img").expect("topology");
    let root = dir.path().join("labs").join("clitest");
    std::fs::create_dir_all(&root).expect("lab dir");
    topology.save(&root.join("lab.json")).expect("lab.json");
    let which =
        "lab `clitest` holds the clusters tuchanka1, tuchanka2, tuchanka4: name the one to act on with --cluster NAME";
    let unknown =
        "lab `clitest` has no cluster `tuchanka3`; its clusters: tuchanka1, tuchanka2, tuchanka4 (--cluster NAME)";
    let cases: [(&[&str], &str); 5] = [
        (&["scenario", "kill-postgres-master"], which),
        (&["heartbeat", "writer", "--seconds", "1"], which),
        (&["mon"], which),
        (&["--cluster", "tuchanka3", "suite"], unknown),
        (&["--cluster", "tuchanka3", "mon"], unknown),
    ];
    for (args, says) in cases {
        let out = lab(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim(), format!("lab: {says}"), "{args:?}");
    }
}

/// Topology presets are checked as the configuration is read: an unknown
/// one, a DRBD stack on four nodes, an address two hosts would share.
#[test]
fn a_topology_that_cannot_be_built_is_refused_before_anything_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let which =
        "lab `clitest` holds the clusters tuchanka1, tuchanka2, tuchanka4: name the one to act on with --cluster NAME";
    let cases: [(&[&str], &str); 6] = [
        (&["make-all", "--topology", "tuchanka9"], "flag --topology: configuration key `topology.preset`"),
        (
            &["--backend", "virtualbox", "make-all", "--topology", "tuchanka1"],
            "the tuchanka1 stack does not run on the virtualbox backend; use --backend container or --backend qemu",
        ),
        (&["--set", "topology.preset=tuchanka", "bench"], which),
        (
            &["--set", "topology.preset=tuchanka", "sweep", "poweroff-master", "--vary", "cluster.token_ms=1000,2000"],
            which,
        ),
        (
            &["--backend", "qemu", "make-all", "--stack", "drbd-nfs", "--topology", "tuchanka4"],
            "the drbd-nfs stack runs on two nodes (DRBD pairs them), not 4",
        ),
        (
            &["--set", "cluster.witness_address=192.168.89.21", "make-all", "--topology", "tuchanka"],
            "address 192.168.89.21 is used twice (`tuchanka4a` and `witness`)",
        ),
    ];
    for (args, says) in cases {
        let out = lab(dir.path(), args);
        assert_refused(dir.path(), &out, says);
        assert_eq!(stderr(&out).trim().lines().count(), 1, "one line: {}", stderr(&out));
    }
}
