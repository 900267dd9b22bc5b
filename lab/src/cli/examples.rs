//! The examples and exit codes at the end of each command's `--help`:
//! what a user reaches for first, kept apart from the parser's shape.

pub const MAKE_ALL: &str = r#"Examples:
  lab make-all                                   # containers, the embedded Debian 12 image
  lab --backend qemu make-all --stack skyha      # VMs, seed 000's DRBD + Docker cluster
  lab make-all --topology tuchanka               # Tuchanka's three clusters, one witness
  lab make-all rocky9.iso ~/.ssh/id_ed25519.pub  # hosts installed from an ISO

Exit codes: 0 the lab is ready, 2 bad input (nothing was made), 3 a step failed (the half-made lab
  is removed unless --keep-failed), 130 interrupted (removed too)."#;

pub const STATUS: &str = r#"Examples:
  lab status
  lab --lab nightly --json status

Exit codes: 0 shown, 2 no such lab."#;

pub const LIST: &str = r#"Examples:
  lab list
  lab --state-dir /srv/lab --json list

Exit codes: 0 listed."#;

pub const SSH: &str = r#"Examples:
  lab ssh tuchanka-a
  lab ssh witness journalctl -u corosync-qnetd -n 20

Exit codes: ssh's own, 2 no such lab or host."#;

pub const MON: &str = r#"Examples:
  lab mon
  lab mon --node tuchanka-b

Exit codes: crm_mon's own, 2 no such lab or Pacemaker runs nowhere."#;

pub const ROLLBACK: &str = r#"Examples:
  lab rollback setup --start-cluster
  lab rollback before-upgrade

Exit codes: 0 rolled back, 2 no such lab or snapshot, 3 a host failed to boot, 130 interrupted."#;

pub const SNAPSHOT: &str = r#"Examples:
  lab snapshot save tuned
  lab snapshot list
  lab rollback tuned
  lab snapshot delete tuned

Exit codes: 0 done, 2 bad name, no such lab or snapshot, a name in use without --force, 3 the
  backend failed."#;

pub const DESTROY: &str = r#"Examples:
  lab destroy
  lab --lab nightly destroy

Exit codes: 0 removed (or nothing was there), 2 the lab is busy, 3 something could not be removed."#;

pub const HEARTBEAT: &str = r#"Examples:
  lab heartbeat writer --rate 50 --seconds 30
  lab heartbeat reader --service redis

Exit codes: 0 done, 2 no such lab or service, 130 stopped by Ctrl-C (the summary is printed)."#;

pub const SCENARIO: &str = r#"Examples:
  lab scenario kill-postgres-master
  lab scenario poweroff-master --repeat 5 --seed 42
  lab scenario ./my-fault.toml
  lab --cluster tuchanka4 scenario link-down-master   # one cluster of a lab of several

Exit codes: 0 passed, 1 missed an expectation, 2 unknown scenario or bad file, 3 the lab failed, 130
  interrupted."#;

pub const SUITE: &str = r#"Examples:
  lab suite
  lab suite --only poweroff-master --only link-down-master --repeat 3
  lab suite --partition 2/4 --seed "$CI_PIPELINE_ID"   # share 2 of a 4-machine CI matrix

Exit codes: 0 every run passed, 1 a run missed an expectation, 2 bad input, 3 a run ended by an
  error, 130 interrupted (the reports say what did not run)."#;

pub const SCENARIOS: &str = r#"Examples:
  lab scenarios

Exit codes: 0 listed."#;

pub const STACKS: &str = r#"Examples:
  lab stacks
  lab --json stacks

Exit codes: 0 listed."#;

pub const CONFIG: &str = r#"Examples:
  lab config show
  lab --set heartbeat.rate_hz=100 config show
  lab config show --defaults > lab.toml

Exit codes: 0 shown, 2 the configuration is invalid (the message names the key and where it came
  from)."#;

pub const COMPLETIONS: &str = r#"Examples:
  lab completions bash > /etc/bash_completion.d/lab

Exit codes: 0 printed, 2 unknown shell."#;

pub const REPORT: &str = r#"Examples:
  lab report
  lab report --baseline /var/lib/lab/runs/tuchanka/baseline/results.json
  lab report runs/nightly/latest/results.json --baseline base.json --tolerance 0.2
  lab report --merge share-1/ share-2/ --out whole/ --baseline base.json

Exit codes: 0 no regression, 1 a regression, a failed or unfinished run or a missing scenario, 2
  unreadable results, a baseline of another backend or stack, or shares that are not all of one
  suite."#;

pub const BENCH: &str = r#"Examples:
  lab bench
  lab bench --repeat 5 --only kill-postgres-master

Exit codes: 0 measured, 2 bad input, 3 the lab failed, 130 interrupted."#;

pub const SWEEP: &str = r#"Examples:
  lab sweep poweroff-master --vary cluster.token_ms=1000,3000,5000
  lab sweep kill-postgres-master --vary postgres.synchronous=false,true --repeat 3 --force
  lab sweep link-down-master --vary cluster.token_ms=1000,3000 --vary heartbeat.rate_hz=5,20

Writes sweep.md, sweep.json and sweep.svg in a new directory under the lab's runs,
beside each point's own reports.

Exit codes: 0 every run passed, 1 a run missed its expectations, 2 bad input (nothing
ran), 3 the lab failed, 130 interrupted (the points done are written)."#;

pub const SNAPSHOT_SAVE: &str = r#"Examples:
  lab snapshot save before-upgrade
  lab snapshot save setup --force   # every scenario starts from the lab as it is now

Exit codes: 0 saved, 2 bad name, no such lab, a name in use without --force, 3 the backend failed."#;

pub const SNAPSHOT_LIST: &str = r#"Examples:
  lab snapshot list
  lab --json snapshot list

Exit codes: 0 listed, 2 no such lab."#;

pub const SNAPSHOT_DELETE: &str = r#"Examples:
  lab snapshot delete before-upgrade

Exit codes: 0 deleted, 2 bad name, no such lab or snapshot, or make-all's install or setup, 3 the
  backend failed."#;
