//! Whole scenario runs against fake ports: recorded crm_mon views of a
//! two-node lab, probes whose attempts follow the paused tokio clock, and a
//! fault that takes PostgreSQL's writes down for a set time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heartbeat::{AckCheck, Attempt, Clock, Outcome, Recording, Role};

use super::events::{RunEvent, RunEvents};
use super::ports::{ProbeSet, RunContext, ScenarioPorts};
use super::*;
use crate::backend::Capabilities;
use crate::cluster::profile::ProfileName;
use crate::cluster::services::ServiceName;
use crate::cluster::state::ClusterState;
use crate::config::BackendKind;
use crate::fenced::FenceEvent;
use crate::run::probes::ProbeKind;
use crate::run::scenario::Fault;

/// Attempts per second of the fake probes.
const RATE_HZ: u64 = 10;

/// Where the fake cluster is in the run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Healthy,
    FailedOver,
    Restored,
}

/// A two-node lab whose master `<stack>-a` fails over to `<stack>-b` when a
/// fault hits it: Tuchanka's PostgreSQL, or skyha's whole group with DRBD.
struct FakeLab {
    stack: ProfileName,
    stage: Mutex<Stage>,
    /// How long the writers of PostgreSQL fail after the fault.
    write_outage: Duration,
    /// Acknowledged writes of PostgreSQL that the new master lacks.
    lost: Vec<u64>,
    /// The restore fails with this.
    restore_fails: Option<String>,
    /// How many lost-write checks fail to connect before one answers.
    unanswered_checks: Mutex<u32>,
    calls: Mutex<Vec<String>>,
    /// When the fault hit, on the probes' clock.
    fault_at: Arc<Mutex<Option<Duration>>>,
    /// When the fault was lifted: the writes resume `RESUME_AFTER_LIFT` later.
    lifted_at: Arc<Mutex<Option<Duration>>>,
    clock: Mutex<Option<Clock>>,
    /// Nodes fenced by sbd and their watchdog: lab's fence daemon sees nothing.
    watchdog: bool,
    /// PostgreSQL's master moves to `tuchanka-b` by itself once the probes
    /// run, before the fault (a group member failed during the warm-up).
    moves_in_warmup: bool,
}

impl FakeLab {
    fn new(write_outage: Duration) -> Self {
        FakeLab {
            stack: ProfileName::Tuchanka,
            stage: Mutex::new(Stage::Healthy),
            write_outage,
            lost: Vec::new(),
            restore_fails: None,
            unanswered_checks: Mutex::new(0),
            calls: Mutex::default(),
            fault_at: Arc::default(),
            lifted_at: Arc::default(),
            clock: Mutex::default(),
            watchdog: false,
            moves_in_warmup: false,
        }
    }

    fn call(&self, what: String) {
        self.calls.lock().expect("calls").push(what);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    fn state(&self) -> ClusterState {
        if self.stack == ProfileName::Skyha {
            return self.skyha_state();
        }
        let healthy = ClusterState::parse(include_str!("../../../tests/data/crm_mon_with_redis.xml")).expect("fixture");
        match *self.stage.lock().expect("stage") {
            Stage::Healthy => healthy,
            Stage::FailedOver => {
                ClusterState::parse(include_str!("../../../tests/data/crm_mon_failed_over.xml")).expect("fixture")
            }
            Stage::Restored => {
                let mut state = healthy;
                let postgres = state.clones.get_mut("pgsqld-clone").expect("PAF clone");
                postgres.promoted = Some("tuchanka-b".into());
                postgres.unpromoted = vec!["tuchanka-a".into()];
                state
            }
        }
    }
}

impl FakeLab {
    /// skyha: everything on `skyha-a`, then (the victim still online) DRBD
    /// promoted and the group on `skyha-b`.
    fn skyha_state(&self) -> ClusterState {
        let healthy = include_str!("../../../tests/data/crm_mon_skyha.xml");
        if *self.stage.lock().expect("stage") == Stage::Healthy {
            return ClusterState::parse(healthy).expect("fixture");
        }
        let (head, rest) = healthy.split_at(healthy.find("<resources>").expect("resources"));
        let moved = rest
            .replace("name=\"skyha-a\" id=\"1\"", "name=\"node-x\"")
            .replace("name=\"skyha-b\" id=\"2\"", "name=\"skyha-a\" id=\"1\"")
            .replace("name=\"node-x\"", "name=\"skyha-b\" id=\"2\"");
        ClusterState::parse(&format!("{head}{moved}")).expect("moved fixture")
    }
}

impl ScenarioPorts for FakeLab {
    type Probes = FakeProbes;

    fn context(&self) -> RunContext {
        RunContext {
            lab: "fake".into(),
            capabilities: Capabilities {
                own_kernel: false,
                live_snapshots: false,
                link_shaping: false,
                watchdog: self.watchdog,
            },
            backend: if self.stack == ProfileName::Skyha { BackendKind::Qemu } else { BackendKind::Container },
            stack: self.stack.profile(),
            nodes: ["a", "b"].map(|n| format!("{}-{n}", self.stack)).to_vec(),
            witness: Some("witness".into()),
            time_factor: 1.0,
            healthy_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
        }
    }

    async fn rollback(&self) -> Result<Duration, LabError> {
        self.call("rollback".into());
        tokio::time::sleep(Duration::from_secs(4)).await;
        Ok(Duration::from_secs(4))
    }

    async fn start_cluster(&self) -> Result<(), LabError> {
        self.call("start cluster".into());
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }

    async fn wait_healthy(&self, detail: &(dyn Fn(&str) + Sync)) -> Result<ClusterState, LabError> {
        let probing = self.clock.lock().expect("clock").is_some();
        if self.moves_in_warmup && probing {
            let mut stage = self.stage.lock().expect("stage");
            if *stage == Stage::Healthy {
                *stage = Stage::Restored;
            }
        }
        let state = self.state();
        detail(&format!("{:?}", *self.stage.lock().expect("stage")));
        Ok(state)
    }

    async fn healthy_now(&self) -> Result<ClusterState, LabError> {
        self.call("healthy now?".into());
        let stage = *self.stage.lock().expect("stage");
        match stage {
            Stage::FailedOver => Err(LabError::Probe("postgres has no replica".into())),
            Stage::Healthy | Stage::Restored => Ok(self.state()),
        }
    }

    async fn cluster_state(&self, _avoid: &str) -> Result<ClusterState, LabError> {
        Ok(self.state())
    }

    async fn inject(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        self.call(format!("inject {} {service} on {victim}", fault.action.name()));
        let clock = self.clock.lock().expect("clock").expect("probes started before the fault");
        *self.fault_at.lock().expect("fault_at") = Some(clock.elapsed());
        *self.stage.lock().expect("stage") = Stage::FailedOver;
        Ok(())
    }

    async fn lift(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        self.call(format!("lift {} {service} on {victim}", fault.action.name()));
        let clock = self.clock.lock().expect("clock").expect("probes started before the lift");
        *self.lifted_at.lock().expect("lifted_at") = Some(clock.elapsed());
        Ok(())
    }

    async fn restore(&self, fault: &Fault, service: ServiceName, victim: &str) -> Result<(), LabError> {
        self.call(format!("restore {} {service} on {victim}", fault.action.name()));
        tokio::time::sleep(Duration::from_secs(15)).await;
        if let Some(error) = &self.restore_fails {
            return Err(LabError::Probe(error.clone()));
        }
        *self.stage.lock().expect("stage") = Stage::Restored;
        Ok(())
    }

    fn start_probes(&self, kinds: &[ProbeKind], run_id: &str, clock: Clock) -> Result<FakeProbes, LabError> {
        *self.clock.lock().expect("clock") = Some(clock);
        Ok(FakeProbes {
            kinds: kinds.to_vec(),
            run_id: run_id.to_owned(),
            clock,
            fault_at: self.fault_at.clone(),
            lifted_at: self.lifted_at.clone(),
            write_outage: self.write_outage,
        })
    }

    async fn check_acknowledged(
        &self,
        recordings: &[(ProbeKind, Recording)],
    ) -> Result<BTreeMap<ServiceName, AckCheck>, LabError> {
        self.call("check writes".into());
        let unanswered = {
            let mut left = self.unanswered_checks.lock().expect("checks");
            let unanswered = *left > 0;
            *left = left.saturating_sub(1);
            unanswered
        };
        if unanswered {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Err(LabError::Probe("connecting to 10.0.0.3:5432 timed out after 1s".into()));
        }
        let writers = recordings.iter().filter(|(kind, _)| kind.role == Role::Writer);
        Ok(writers
            .map(|(kind, recording)| {
                let acknowledged = recording.attempts.iter().filter(|a| a.outcome.is_ok()).count() as u64;
                let lost = if kind.service == ServiceName::Postgres { self.lost.clone() } else { Vec::new() };
                (
                    kind.service,
                    AckCheck { acknowledged, present: acknowledged - lost.len() as u64, lost, unacknowledged: vec![] },
                )
            })
            .collect())
    }

    fn fence_events(&self) -> Vec<FenceEvent> {
        let fenced = *self.stage.lock().expect("stage") != Stage::Healthy && !self.watchdog;
        let event = FenceEvent { unix_ms: 0, action: "reboot".into(), node: "tuchanka-a".into(), answer: "OK".into() };
        if fenced { vec![event] } else { Vec::new() }
    }

    /// The survivor's journal of a failover: detected 1.5 s after the
    /// fault, fenced at 4 s, promoted at 6 s, the VIP up at 6.5 s.
    async fn journals(&self, fault_unix_ms: u128) -> Vec<(String, String)> {
        let at = |ms: u128| {
            let t = jiff::Timestamp::from_millisecond(i64::try_from(fault_unix_ms + ms).expect("ms")).expect("time");
            t.strftime("%Y-%m-%dT%H:%M:%S.%6f+00:00").to_string()
        };
        let b = format!("{}-b", self.stack);
        let journal = [
            (1500, "corosync[7]:   [TOTEM ] Token has not been received in 1237 ms".to_owned()),
            (
                4000,
                format!(
                    "pacemaker-controld[8]: notice: Peer {}-a was terminated (reboot) by {b} on behalf of x: OK",
                    self.stack
                ),
            ),
            (6000, format!("pacemaker-controld[8]: notice: Result of promote operation for pgsqld on {b}: ok")),
            (6500, format!("pacemaker-controld[8]: notice: Result of start operation for pg-master-vip on {b}: ok")),
        ]
        .map(|(ms, text)| format!("{} {b} {text}\n", at(ms)))
        .concat();
        vec![(b, journal)]
    }

    fn console_marks(&self) -> Vec<(String, u64)> {
        Vec::new()
    }

    fn consoles_since(&self, _marks: &[(String, u64)]) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Probes whose attempts are computed from the clock: one per tick, every
/// one fine except PostgreSQL's writes during the outage after the fault.
struct FakeProbes {
    kinds: Vec<ProbeKind>,
    run_id: String,
    clock: Clock,
    fault_at: Arc<Mutex<Option<Duration>>>,
    lifted_at: Arc<Mutex<Option<Duration>>>,
    write_outage: Duration,
}

/// How long after a lift the fake service answers again.
const RESUME_AFTER_LIFT: Duration = Duration::from_secs(3);

impl FakeProbes {
    fn attempts(&self, kind: ProbeKind) -> Vec<Attempt> {
        let now = self.clock.elapsed();
        let fault_at = *self.fault_at.lock().expect("fault_at");
        let lifted_at = *self.lifted_at.lock().expect("lifted_at");
        let down = |t: Duration| {
            kind == ProbeKind { service: ServiceName::Postgres, role: Role::Writer }
                && fault_at.is_some_and(|at| t >= at && t < at + self.write_outage)
                && lifted_at.is_none_or(|lifted| t < lifted + RESUME_AFTER_LIFT)
        };
        let ticks = (now.as_millis() as u64 * RATE_HZ / 1000).saturating_sub(1);
        (0..ticks)
            .map(|seq| {
                let started = Duration::from_millis(seq * 1000 / RATE_HZ);
                Attempt {
                    seq,
                    started,
                    latency: Duration::from_millis(5),
                    outcome: if down(started) { Outcome::Timeout } else { Outcome::Ok },
                    observed_seq: None,
                }
            })
            .collect()
    }
}

impl ProbeSet for FakeProbes {
    async fn snapshot(&self) -> Vec<(ProbeKind, Vec<Attempt>)> {
        self.kinds.iter().map(|kind| (*kind, self.attempts(*kind))).collect()
    }

    async fn stop(self) -> Result<Vec<(ProbeKind, Recording)>, LabError> {
        Ok(self
            .kinds
            .iter()
            .map(|kind| {
                let recording = Recording {
                    probe: kind.name(),
                    role: kind.role,
                    run_id: self.run_id.clone(),
                    attempts: self.attempts(*kind),
                };
                (*kind, recording)
            })
            .collect())
    }
}

/// Keeps every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<RunEvent>>);

impl RunEvents for Recorder {
    fn emit(&self, event: RunEvent) {
        self.0.lock().expect("events").push(event);
    }
}

impl Recorder {
    fn phases(&self) -> Vec<String> {
        let events = self.0.lock().expect("events");
        events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Phase(p) => Some(p.clone()),
                RunEvent::PhaseDone => Some("done".into()),
                RunEvent::PhaseFailed(_) => Some("failed".into()),
                RunEvent::Fault { action, service, victim, .. } => Some(format!("fault: {action} {service} {victim}")),
                RunEvent::Lifted { action, victim, .. } => Some(format!("lifted: {action} {victim}")),
                RunEvent::Judged { passed } => Some(format!("judged: {passed}")),
                RunEvent::Detail(_) => None,
            })
            .collect()
    }
}

fn scenario(name: &str) -> Scenario {
    Scenario::find(name).expect("builtin")
}

#[tokio::test(start_paused = true)]
async fn a_lab_fenced_by_sbd_has_its_fencing_read_from_the_journals() {
    let lab = FakeLab { watchdog: true, ..FakeLab::new(Duration::from_secs(8)) };
    let record = run_with(&lab, &Recorder::default(), &scenario("sbd-stop-master"), 7, 1).await.expect("run");
    let result = &record.result;
    assert!(lab.calls().contains(&"inject sbd-stop postgres on tuchanka-a".to_owned()), "{:?}", lab.calls());
    let fenced: Vec<(&str, &str, &str)> =
        result.fence_events.iter().map(|e| (e.node.as_str(), e.action.as_str(), e.answer.as_str())).collect();
    assert_eq!(fenced, [("tuchanka-a", "reboot", "OK")]);
    let fault_unix_ms = result.probe_clock_unix_ms.expect("clock") as f64 + result.fault_at_ms;
    let after_fault = result.fence_events[0].unix_ms as f64 - fault_unix_ms;
    assert!((3999.0..=4001.0).contains(&after_fault), "the journal's confirmation, 4 s after the fault: {after_fault}");
}

#[tokio::test(start_paused = true)]
async fn a_failover_is_measured_restored_and_judged() {
    let lab = FakeLab::new(Duration::from_secs(8));
    let events = Recorder::default();
    let record = run_with(&lab, &events, &scenario("kill-postgres-master"), 7, 1).await.expect("run");
    let result = &record.result;
    assert!(result.passed, "{}", result.render());
    assert_eq!((result.victim.as_str(), result.master_before.as_str()), ("tuchanka-a", "tuchanka-a"));
    assert_eq!(result.master_after.as_deref(), Some("tuchanka-b"));
    assert_eq!(result.service, ServiceName::Postgres);
    // The writer failed from the fault's tick for 8 s; the outage ends as
    // the first success starts.
    let writer = result.probe(Role::Writer).expect("writer");
    let outage = writer.longest_outage_ms.expect("recovered");
    assert!((8000.0..=8100.0).contains(&outage), "{outage}");
    assert_eq!(result.probe(Role::Reader).and_then(|p| p.longest_outage_ms), Some(0.0));
    assert!(result.new_master_after_ms.is_some_and(|ms| ms <= 1000.0), "seen at the first poll after the fault");
    assert_eq!(record.recordings.len(), 4, "both probes of both services");
    assert_eq!(result.lost_writes.keys().copied().collect::<Vec<_>>(), [ServiceName::Postgres, ServiceName::Redis]);
    assert_eq!(result.fence_events.len(), 1);
    // The survivor's journal, on the fault's clock, then the first write.
    let phases = result.phases.clone().expect("phases");
    let near = |ms: Option<f64>, expected: f64| ms.is_some_and(|ms| (ms - expected).abs() <= 1.0);
    assert!(near(phases.detected_ms, 1500.0), "{phases:?}");
    assert!(near(phases.fenced_ms, 4000.0), "{phases:?}");
    assert!(near(phases.promoted_ms, 6000.0), "{phases:?}");
    assert!(near(phases.vip_ms, 6500.0), "{phases:?}");
    assert!(near(phases.first_write_ms, outage), "the end of the write outage: {phases:?}");
    assert_eq!(record.journals.len(), 1, "kept for the run directory");
    // Where the master was: on the victim at the fault, then on the survivor.
    let masters: Vec<Option<&str>> = result.placements.iter().map(|p| p.master.as_deref()).collect();
    assert_eq!(masters.first(), Some(&Some("tuchanka-a")), "{masters:?}");
    assert_eq!(masters.last(), Some(&Some("tuchanka-b")), "{masters:?}");
    assert!(result.placements.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert_eq!(result.placements[0].at_ms, result.fault_at_ms, "sampled as the fault is injected");
    assert_eq!(
        lab.calls(),
        [
            "rollback",
            "start cluster",
            "inject kill postgres on tuchanka-a",
            "restore kill postgres on tuchanka-a",
            "check writes"
        ]
    );
    assert_eq!(
        events.phases(),
        [
            "roll back to `setup` and boot",
            "done",
            "start the cluster and wait until healthy",
            "done",
            "probe, then kill on tuchanka-a (postgres master)",
            "fault: kill postgres tuchanka-a",
            "done",
            "restore tuchanka-a as a replica and wait until healthy",
            "done",
            "judged: true",
        ]
    );
    // Paused time: the run's own waits, as they would be on a real lab.
    assert_eq!(result.timings.rollback_s, 4.0);
    assert!((30.0..31.0).contains(&result.timings.cluster_start_s), "{:?}", result.timings);
    assert!(result.timings.restore_s >= 15.0, "{:?}", result.timings);
}

/// A reused cluster: no rollback, no cluster start, the run faults the
/// cluster as the previous run restored it; an unhealthy one is rolled back.
#[tokio::test(start_paused = true)]
async fn a_healthy_cluster_is_reused_and_an_unhealthy_one_rolled_back() {
    let lab = FakeLab::new(Duration::from_secs(8));
    *lab.stage.lock().expect("stage") = Stage::Restored;
    let events = Recorder::default();
    let reused = run_from(&lab, &events, &scenario("kill-postgres-master"), 7, 2, RunStart::Reused).await.expect("run");
    let result = &reused.result;
    // (The fake fails over to tuchanka-b whoever the victim: no verdict here.)
    assert_eq!(result.victim, "tuchanka-b", "the master as the previous run left it");
    assert_eq!((result.timings.start, result.timings.rollback_s), (RunStart::Reused, 0.0));
    assert_eq!(lab.calls()[..2], ["healthy now?", "inject kill postgres on tuchanka-b"], "the master as restored");
    assert_eq!(events.phases()[..2], ["reuse the previous run's cluster if healthy", "done"]);

    let broken = FakeLab::new(Duration::from_secs(8));
    *broken.stage.lock().expect("stage") = Stage::FailedOver;
    let events = Recorder::default();
    let record = run_from(&broken, &events, &scenario("kill-postgres-master"), 7, 2, RunStart::Reused).await;
    let result = record.expect("run").result;
    assert_eq!(result.timings.start, RunStart::Rollback);
    assert_eq!(broken.calls()[..3], ["healthy now?", "rollback", "start cluster"]);
    assert_eq!(
        events.phases()[..3],
        ["reuse the previous run's cluster if healthy", "failed", "roll back to `setup` and boot"]
    );
}

#[tokio::test(start_paused = true)]
async fn an_outage_beyond_the_limit_and_a_lost_write_fail_the_run() {
    let mut lab = FakeLab::new(Duration::from_secs(70));
    lab.lost = vec![42];
    let record = run_with(&lab, &Recorder::default(), &scenario("kill-postgres-master"), 7, 1).await.expect("run");
    let failed: Vec<&str> = record.result.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["postgres write outage", "lost acknowledged postgres writes"]);
}

#[tokio::test(start_paused = true)]
async fn a_second_fault_hits_the_new_master_when_due_and_is_restored_first() {
    let lab = FakeLab::new(Duration::from_secs(8));
    let record =
        run_with(&lab, &Recorder::default(), &scenario("kill-postgres-master-twice"), 7, 1).await.expect("run");
    let result = &record.result;
    assert!(result.passed, "{}", result.render());
    assert_eq!(result.then.len(), 1);
    let second = &result.then[0];
    assert_eq!(second.victim, "tuchanka-b", "the master after the first failover");
    let after = second.at_ms - result.fault_at_ms;
    assert!((60_000.0..62_000.0).contains(&after), "fired 60 s after the first fault: {after}");
    let faults: Vec<String> =
        lab.calls().into_iter().filter(|c| c.starts_with("inject") || c.starts_with("restore")).collect();
    assert_eq!(
        faults,
        [
            "inject kill postgres on tuchanka-a",
            "inject kill postgres on tuchanka-b",
            "restore kill postgres on tuchanka-b",
            "restore kill postgres on tuchanka-a"
        ]
    );
    // Observing went on until the service recovered from the second fault.
    assert!(result.timings.observe_s > 60.0 + 8.0, "{:?}", result.timings);
}

#[tokio::test(start_paused = true)]
async fn a_fault_nobody_notices_still_lasts_its_hold_time() {
    let lab = FakeLab::new(Duration::ZERO);
    let partition = scenario("partition-witness");
    assert_eq!(partition.observe.hold_s, 45.0);
    let record = run_with(&lab, &Recorder::default(), &partition, 7, 1).await.expect("run");
    let observed = record.result.timings.observe_s;
    // Observing starts with the probes' 5 s warm-up before the fault.
    assert!((50.0..55.0).contains(&observed), "held 45 s, then restored at once: {observed}");
    let quick = run_with(&lab, &Recorder::default(), &scenario("poweroff-witness"), 7, 1).await.expect("run");
    assert!(quick.result.timings.observe_s < 15.0, "{:?}", quick.result.timings);
}

/// A resource disabled for 20 s: the service stays down until the lift
/// and is watched until it resumes after it; the outage spans the lift.
#[tokio::test(start_paused = true)]
async fn a_fault_with_a_duration_is_lifted_while_probing_and_recovery_counts_from_the_lift() {
    let lab = FakeLab::new(Duration::from_secs(100_000));
    let events = Recorder::default();
    let record = run_with(&lab, &events, &scenario("disable-postgres"), 7, 1).await.expect("run");
    let result = &record.result;
    let lift_after = result.fault.lift_after_s.expect("a timed fault");
    let lifted = result.lifted_at_ms.expect("lifted") - result.fault_at_ms;
    assert!((lift_after * 1000.0..lift_after * 1000.0 + 1100.0).contains(&lifted), "lifted on time: {lifted}");
    let outage = result.probe(Role::Writer).and_then(|p| p.longest_outage_ms).expect("resumed");
    let expected = lifted + RESUME_AFTER_LIFT.as_secs_f64() * 1000.0;
    assert!((expected - 200.0..=expected + 200.0).contains(&outage), "down until 3 s after the lift: {outage}");
    assert!(result.passed, "{}", result.render());
    let order: Vec<String> = lab.calls().into_iter().filter(|c| !c.starts_with("check")).collect();
    assert_eq!(
        order[2..],
        [
            "inject disable postgres on tuchanka-a",
            "lift disable postgres on tuchanka-a",
            "restore disable postgres on tuchanka-a"
        ]
    );
    assert!(events.phases().contains(&"lifted: disable tuchanka-a".to_owned()));
    // Observing ended once the service had settled after the lift, not at the timeout.
    assert!(result.timings.observe_s < 5.0 + lift_after + 10.0, "{:?}", result.timings);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_never_resumes_is_judged_after_the_observe_timeout() {
    let lab = FakeLab::new(Duration::from_secs(100_000));
    let record = run_with(&lab, &Recorder::default(), &scenario("kill-postgres-master"), 7, 1).await.expect("run");
    let result = &record.result;
    assert!(!result.passed);
    let resumed = result.checks.iter().find(|c| c.name == "service resumed").expect("check");
    assert_eq!((resumed.actual.as_str(), resumed.passed), ("no", false));
    assert!(result.timings.observe_s >= 300.0, "waited the whole observe window: {:?}", result.timings);
}

#[tokio::test(start_paused = true)]
async fn a_failed_restore_is_a_finding_not_a_crash() {
    let mut lab = FakeLab::new(Duration::from_secs(8));
    lab.restore_fails = Some("pg_basebackup: could not connect".into());
    let events = Recorder::default();
    let record = run_with(&lab, &events, &scenario("kill-postgres-master"), 7, 1).await.expect("run");
    let result = &record.result;
    assert!(!result.passed);
    assert!(result.restore_error.as_deref().is_some_and(|e| e.contains("pg_basebackup")), "{result:?}");
    assert!(result.lost_writes.is_empty(), "writes are only checked on a restored cluster");
    assert!(events.phases().contains(&"failed".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_lost_write_check_that_cannot_connect_at_first_is_tried_again() {
    let lab = FakeLab::new(Duration::from_secs(8));
    *lab.unanswered_checks.lock().expect("checks") = 3;
    let record = run_with(&lab, &Recorder::default(), &scenario("kill-postgres-master"), 7, 1).await.expect("run");
    assert!(record.result.passed, "{}", record.result.render());
    assert_eq!(record.result.lost_writes.len(), 2, "both writers checked in the end");
    assert_eq!(lab.calls().iter().filter(|c| *c == "check writes").count(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_lost_write_check_that_never_connects_ends_the_run_after_the_healthy_timeout() {
    let lab = FakeLab::new(Duration::from_secs(8));
    *lab.unanswered_checks.lock().expect("checks") = u32::MAX;
    let before = Instant::now();
    let error = run_with(&lab, &Recorder::default(), &scenario("kill-postgres-master"), 7, 1).await.expect_err("error");
    assert!(error.to_string().contains("timed out"), "{error}");
    let checking = lab.calls().iter().filter(|c| *c == "check writes").count();
    assert!((100..=160).contains(&checking), "tried every 2 s for 300 s: {checking}");
    assert!(before.elapsed() >= Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn a_scenario_the_lab_cannot_take_is_refused_before_anything_runs() {
    let lab = FakeLab::new(Duration::from_secs(8));
    let error =
        run_with(&lab, &Recorder::default(), &scenario("kernel-panic-master"), 7, 1).await.expect_err("refused");
    assert!(matches!(error, LabError::Unsupported(_)), "{error}");
    assert!(lab.calls().is_empty(), "{:?}", lab.calls());
}

#[test]
fn recovered_needs_a_clean_settle_window_after_the_fault() {
    let attempt = |started_ms: u64, ok: bool| Attempt {
        seq: started_ms,
        started: Duration::from_millis(started_ms),
        latency: Duration::from_millis(2),
        outcome: if ok { Outcome::Ok } else { Outcome::Timeout },
        observed_seq: None,
    };
    let ms = Duration::from_millis;
    let fault = ms(1000);
    let attempts: Vec<Attempt> = (0..30).map(|i| attempt(i * 100, !(12..=20).contains(&i))).collect();
    // At 2.5 s the last failure (2.0 s) is inside a 1 s settle window.
    assert!(!probe_recovered(&attempts, fault, ms(2500), ms(1000)));
    // At 3.0 s the window 2.0..3.0 holds only the failure at 2.0 s.
    assert!(!probe_recovered(&attempts, fault, ms(3000), ms(1000)));
    assert!(probe_recovered(&attempts, fault, ms(3050), ms(1000)));
    // No attempts after the fault yet: not recovered.
    assert!(!probe_recovered(&attempts[..5], fault, ms(3050), ms(1000)));
}

/// The master moved by itself during the warm-up: the fault hits where it
/// is now, and the run counts the master from there, instead of hitting a
/// replica and passing with no outage at all.
#[tokio::test(start_paused = true)]
async fn a_master_that_moved_during_the_warm_up_is_the_one_hit() {
    let lab = FakeLab { moves_in_warmup: true, ..FakeLab::new(Duration::from_secs(8)) };
    let recorder = Recorder::default();
    let record = run_with(&lab, &recorder, &scenario("kill-postgres-master"), 3, 1).await.expect("run");
    let result = &record.result;
    assert_eq!((result.victim.as_str(), result.master_before.as_str()), ("tuchanka-b", "tuchanka-b"));
    assert!(lab.calls().contains(&"inject kill postgres on tuchanka-b".to_owned()), "{:?}", lab.calls());
}

/// skyha's own failover test through the runner: `docker stop` of Redis's
/// container on the DRBD primary moves the whole group; every probed
/// service's master ends on the other node.
#[tokio::test(start_paused = true)]
async fn a_docker_stop_on_skyha_moves_the_group() {
    let lab = FakeLab { stack: ProfileName::Skyha, ..FakeLab::new(Duration::from_secs(8)) };
    let record = run_with(&lab, &Recorder::default(), &scenario("docker-stop-redis"), 3, 1).await.expect("run");
    let result = &record.result;
    assert!(result.passed, "{}", result.render());
    assert_eq!(result.service, ServiceName::Redis);
    assert_eq!((result.victim.as_str(), result.master_after.as_deref()), ("skyha-a", Some("skyha-b")));
    assert_eq!(record.recordings.len(), 8, "a writer and a reader of PostgreSQL, Redis, Beanstalkd and NFS");
    assert_eq!(
        result.lost_writes.keys().copied().collect::<Vec<_>>(),
        [ServiceName::Postgres, ServiceName::Redis, ServiceName::Beanstalkd, ServiceName::Nfs]
    );
    assert_eq!(
        lab.calls()[2..],
        ["inject docker-stop redis on skyha-a", "restore docker-stop redis on skyha-a", "check writes"]
    );

    // Tuchanka's file-less default does not run there.
    let tuchanka_only = scenario("kill-postgres-replica");
    let error = run_with(&lab, &Recorder::default(), &tuchanka_only, 3, 1).await.expect_err("not skyha's");
    assert!(error.to_string().contains("written for the tuchanka stack"), "{error}");
}
