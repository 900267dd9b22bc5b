//! Runs one scenario against a lab, for real: roll back to `setup`, start
//! the cluster, wait until healthy, start the probes, inject the fault,
//! observe until the service resumes, restore the victim as an operator
//! would, check that no acknowledged write was lost, and judge.
//!
//! # Layout
//! - this module: the run itself, over [`ports::ScenarioPorts`] (every side
//!   effect) and [`events::RunEvents`] (everything it tells), so a whole
//!   run is tested in milliseconds against fakes under a paused clock;
//! - [`ports`]: the traits and the real lab behind them;
//! - [`events`]: what a run tells, and the terminal's progress display.

use std::time::Duration;

use heartbeat::{Attempt, Clock};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::cluster::services::{ServiceName, ServiceSpec};
use crate::cluster::state::ClusterState;
use crate::lifecycle::{Lab, LabError};
use crate::report::judge::{FiredFault, PlacementSample, ProbeSummary, RunStart, RunTimings, ScenarioResult};
use crate::report::phases::{self, FailoverPhases, PhaseWatch};
use crate::report::results::RunRecord;
use crate::report::split_brain::split_brains;
use crate::run::faults;
use crate::run::probes::ProbeKind;
use crate::run::scenario::{Fault, Scenario};

pub mod events;
pub mod ports;
#[cfg(test)]
mod tests;

use events::{ProgressEvents, RunEvent, RunEvents};
use ports::{LabPorts, ProbeSet, ScenarioPorts};

/// Runs `scenario` once on `lab`, showing its phases as progress, and
/// returns its judged result. `seed` drives every random choice (victim,
/// timing); the same seed replays the same run.
pub async fn run(
    lab: &Lab,
    scenario: &Scenario,
    seed: u64,
    iteration: u32,
    start: RunStart,
) -> Result<RunRecord, LabError> {
    let events = ProgressEvents::new(lab.progress.clone());
    run_from(&LabPorts(lab), &events, scenario, seed, iteration, start).await
}

/// Checks the writers' acknowledged writes once the cluster is healthy
/// again. A VIP that has just moved, or a guest still busy with its own
/// recovery (seen under TCG: the check's first connection timed out right
/// after the cluster was reported healthy), may not answer at once; that
/// says nothing about lost writes, so the check is tried again until the
/// cluster's healthy timeout has passed, and only then ends the run.
async fn check_writes(
    ports: &impl ScenarioPorts,
    recordings: &[(ProbeKind, heartbeat::Recording)],
) -> Result<std::collections::BTreeMap<ServiceName, heartbeat::AckCheck>, LabError> {
    let context = ports.context();
    let deadline = Instant::now() + context.healthy_timeout;
    loop {
        match ports.check_acknowledged(recordings).await {
            Ok(checks) => return Ok(checks),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(error = %e, "lost-write check failed; trying again");
                tokio::time::sleep(context.poll_interval).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs `scenario` once through `ports` from a rolled-back lab, telling
/// `events` what happens.
pub async fn run_with(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    scenario: &Scenario,
    seed: u64,
    iteration: u32,
) -> Result<RunRecord, LabError> {
    run_from(ports, events, scenario, seed, iteration, RunStart::Rollback).await
}

/// Gets the healthy cluster a run faults: with `RunStart::Reused`, the
/// cluster as the previous run left it when it is healthy now (its restore
/// ended healthy; failed actions cleaned up), else by rolling back to
/// `setup` and starting the cluster. How it was got goes into `timings`.
async fn healthy_start(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    requested: RunStart,
    timings: &mut RunTimings,
) -> Result<ClusterState, LabError> {
    let detail = |text: &str| events.emit(RunEvent::Detail(text.to_owned()));
    if requested == RunStart::Reused {
        events.emit(RunEvent::Phase("reuse the previous run's cluster if healthy".into()));
        let checked = Instant::now();
        match ports.healthy_now().await {
            Ok(state) => {
                timings.start = RunStart::Reused;
                timings.cluster_start_s = checked.elapsed().as_secs_f64();
                events.emit(RunEvent::PhaseDone);
                return Ok(state);
            }
            Err(e) => events.emit(RunEvent::PhaseFailed(format!("{e}; rolling back to `setup`"))),
        }
    }
    timings.start = RunStart::Rollback;
    events.emit(RunEvent::Phase("roll back to `setup` and boot".into()));
    timings.rollback_s = ports.rollback().await?.as_secs_f64();
    events.emit(RunEvent::PhaseDone);

    events.emit(RunEvent::Phase("start the cluster and wait until healthy".into()));
    let cluster_started = Instant::now();
    ports.start_cluster().await?;
    let state = ports.wait_healthy(&detail).await?;
    timings.cluster_start_s = cluster_started.elapsed().as_secs_f64();
    events.emit(RunEvent::PhaseDone);
    Ok(state)
}

/// Runs `scenario` once through `ports`, from the start `start` asks for.
pub async fn run_from(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    scenario: &Scenario,
    seed: u64,
    iteration: u32,
    start: RunStart,
) -> Result<RunRecord, LabError> {
    let lab = ports.context();
    if let Some(why) = scenario.unsupported_by(lab.capabilities, lab.stack) {
        return Err(LabError::Unsupported(why));
    }
    let service = scenario.service(lab.stack);
    let spec = lab.stack.require(service)?;
    // Limits are written for native speed; emulated hosts get them stretched.
    let scenario = &scenario.stretched(lab.time_factor);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let started_unix_ms = unix_ms();
    let run_id = format!("{}-{}-{iteration}", crate::paths::run_stamp(), scenario.name);
    let mut timings = RunTimings::default();
    let detail = |text: &str| events.emit(RunEvent::Detail(text.to_owned()));

    let consoles = ports.console_marks();
    let before = healthy_start(ports, events, start, &mut timings).await?;

    let witness = lab.witness.clone().unwrap_or_default();
    let target = scenario.fault.target;
    let victim = faults::choose_victim(target, spec, &before, &lab.nodes, &witness, &mut rng)
        .ok_or_else(|| LabError::Probe(format!("no {service} {} to hit in the cluster", target.name())))?;
    let jitter = if scenario.probes.jitter_s > 0.0 { rng.random_range(0.0..scenario.probes.jitter_s) } else { 0.0 };

    let action = scenario.fault.action.name();
    events.emit(RunEvent::Phase(format!("probe, then {action} on {victim} ({service} {})", target.name())));
    let observe_started = Instant::now();
    let fence_events_before = ports.fence_events().len();
    let clock = Clock::start();
    let clock_unix_ms = unix_ms();
    let probes = ports.start_probes(&crate::run::probes::for_scenario(scenario, lab.stack), &run_id, clock)?;
    tokio::time::sleep(Duration::from_secs_f64(scenario.probes.warmup_s + jitter)).await;
    // The fault must hit a cluster that can fail over: under the warm-up's
    // writes a lagging replica is scored -1000 by PAF for a while (seen on
    // emulated VMs), and a master lost then has no successor.
    let at_fault = ports.wait_healthy(&detail).await?;
    // The cluster may have moved the role by itself during the warm-up (a
    // resource failed and its group moved): the fault hits the node that
    // holds it now, and the master is counted from there.
    let victim = if faults::holds(target, spec, &at_fault, &victim) {
        victim
    } else {
        let now = faults::choose_victim(target, spec, &at_fault, &lab.nodes, &witness, &mut rng)
            .ok_or_else(|| LabError::Probe(format!("no {service} {} to hit in the cluster", target.name())))?;
        tracing::warn!(before = %victim, now = %now, "the {service} {} moved during the warm-up", target.name());
        detail(&format!("the {service} {} moved from {victim} to {now} during the warm-up", target.name()));
        now
    };
    // A healthy cluster has a master of every service.
    let master_before = spec.master(&at_fault).unwrap_or_default().to_owned();
    let fault_at = clock.elapsed();
    let placed_before = placement(spec, &at_fault, fault_at);
    ports.inject(&scenario.fault, service, &victim).await?;
    events.emit(RunEvent::Fault { action, service, victim: victim.clone(), at: fault_at });
    let watch = Watch { service: spec, victim: &victim, master_before: &master_before, fault_at };
    let observed = observe(ports, events, scenario, &probes, &watch, clock, &mut rng).await;
    let observed_until = clock.elapsed();
    let recordings = probes.stop().await?;
    let observation = observed?;
    timings.observe_s = observe_started.elapsed().as_secs_f64();
    events.emit(RunEvent::PhaseDone);

    // A cluster that failed to recover is a finding, not a crash of lab:
    // restore problems are reported, and judged, like everything else.
    events.emit(RunEvent::Phase(format!("restore {victim} as a replica and wait until healthy")));
    let restore_started = Instant::now();
    let restored = async {
        // The last fault first: each undoes what it did to its own victim.
        for step in observation.fired.iter().rev() {
            ports.restore(&step.fault, step.service, &step.victim).await?;
        }
        ports.restore(&scenario.fault, service, &victim).await?;
        ports.wait_healthy(&detail).await
    }
    .await;
    timings.restore_s = restore_started.elapsed().as_secs_f64();
    let (after, restore_error) = match restored {
        Ok(state) => {
            events.emit(RunEvent::PhaseDone);
            (Some(state), None)
        }
        Err(e) => {
            events.emit(RunEvent::PhaseFailed(e.to_string()));
            (None, Some(e.to_string()))
        }
    };

    let acks = match after {
        Some(_) => check_writes(ports, &recordings).await?,
        None => Default::default(),
    };

    let mut fence_events = ports.fence_events().split_off(fence_events_before);
    let summaries: Vec<ProbeSummary> =
        recordings.iter().map(|(kind, r)| ProbeSummary::from_recording(r, kind.service, fault_at)).collect();
    let fault_unix_ms = clock_unix_ms + fault_at.as_millis();
    let journals = ports.journals(fault_unix_ms).await;
    if lab.capabilities.watchdog {
        // sbd fences without lab's daemon: only the cluster's journals say when.
        fence_events.extend(phases::fencings(&journals, clock_unix_ms as f64));
    }
    let phases = failover_phases(&journals, &lab, spec, &summaries, clock_unix_ms, fault_at);
    timings.total_s = started.elapsed().as_secs_f64();
    let result = ScenarioResult::judge(
        scenario,
        crate::report::judge::RunFacts {
            run_id,
            seed,
            iteration,
            lab: lab.lab,
            backend: lab.backend,
            started_unix_ms,
            service,
            victim,
            master_before,
            // Where the fault left the master: a cluster that returns a
            // master to its home node once the victim rejoins (Tuchanka's
            // consolidated databases) moves it again while restoring.
            master_after: observation
                .master_seen
                .or_else(|| after.as_ref().and_then(|a| spec.master(a).map(str::to_owned))),
            restore_error,
            new_master_after: observation.new_master_at.map(|t| t.saturating_sub(fault_at)),
            fault_at,
            recovered: observation.recovered,
            probes: summaries,
            acks,
            fence_events,
            timings,
            phases: Some(phases),
            probe_clock_unix_ms: clock_unix_ms,
            placements: std::iter::once(placed_before).chain(observation.placements).collect(),
            then: observation.fired,
            lifted_at: observation.lifted_at,
            observed_until,
            split_brains: lab.stack.storage().map(|_| split_brains(&journals, fault_unix_ms as f64)),
        },
    );
    events.emit(RunEvent::Judged { passed: result.passed });
    Ok(RunRecord {
        result,
        recordings: recordings.into_iter().map(|(_, r)| r).collect(),
        consoles: ports.consoles_since(&consoles),
        journals,
    })
}

/// The failover's phases from the journals, on the fault's clock. The first
/// write is the end of the fault's service's longest write outage: when its
/// clients were served again.
fn failover_phases(
    journals: &[(String, String)],
    lab: &ports::RunContext,
    spec: &ServiceSpec,
    summaries: &[ProbeSummary],
    clock_unix_ms: u128,
    fault_at: Duration,
) -> FailoverPhases {
    let on_unix_clock = |t: Duration| clock_unix_ms as f64 + t.as_secs_f64() * 1000.0;
    let writer = summaries.iter().find(|p| p.service == spec.name && p.role == heartbeat::Role::Writer);
    let back = writer.and_then(|w| w.outages.iter().filter_map(|o| Some((o.duration()?, o.end?))).max());
    let watch = PhaseWatch {
        promotable: lab.stack.promoted_primitive(spec).unwrap_or_default(),
        vip: spec.master_vip.resource,
        fault_unix_ms: on_unix_clock(fault_at),
        first_write_unix_ms: back.map(|(_, end)| on_unix_clock(end)),
    };
    phases::from_journals(journals, &watch)
}

pub fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

struct Observation {
    /// The `[[then]]` steps injected, in order.
    fired: Vec<FiredFault>,
    /// When the first fault was lifted, if it was.
    lifted_at: Option<Duration>,
    recovered: bool,
    new_master_at: Option<Duration>,
    /// The last master the cluster showed while observing.
    master_seen: Option<String>,
    /// Where the service was at each poll.
    placements: Vec<PlacementSample>,
}

/// Where `state` has `service`'s master and VIP, at `at` on the probes' clock.
fn placement(service: &ServiceSpec, state: &ClusterState, at: Duration) -> PlacementSample {
    PlacementSample {
        at_ms: at.as_secs_f64() * 1000.0,
        master: service.master(state).map(str::to_owned),
        vip: state.location(service.master_vip.resource).map(str::to_owned),
    }
}

/// What the observation watches for.
#[derive(Clone, Copy)]
struct Watch<'a> {
    /// The fault's service: a new master of it is what a failover means.
    service: &'a ServiceSpec,
    victim: &'a str,
    master_before: &'a str,
    fault_at: Duration,
}

/// Watches probes and cluster until every probe works again (and, when the
/// scenario expects a failover, a new master is up), or the timeout.
async fn observe(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    scenario: &Scenario,
    probes: &impl ProbeSet,
    watch: &Watch<'_>,
    clock: Clock,
    rng: &mut ChaCha8Rng,
) -> Result<Observation, LabError> {
    let Watch { service, victim, master_before, fault_at } = *watch;
    let mut fired: Vec<FiredFault> = Vec::new();
    let poll_interval = ports.context().poll_interval;
    let settle = Duration::from_secs_f64(scenario.observe.settle_s);
    let hold = Duration::from_secs_f64(scenario.observe.hold_s);
    let deadline = fault_at + Duration::from_secs_f64(scenario.observe.timeout_s);
    let wants_failover = scenario.expect.master == crate::run::scenario::MasterExpectation::Other;
    let mut new_master_at = None;
    let mut master_seen = None;
    let mut placements = Vec::new();
    // The first fault as the `[[then]]` steps are kept: each may be lifted.
    let mut first = FiredFault {
        fault: scenario.fault.clone(),
        service: service.name,
        victim: victim.to_owned(),
        at_ms: fault_at.as_secs_f64() * 1000.0,
        lifted_at_ms: None,
    };
    let to_ms = |d: Duration| d.as_secs_f64() * 1000.0;
    loop {
        let state = ports.cluster_state(victim).await;
        if let Some(step) = scenario.then.get(fired.len()).filter(|s| due(s, fault_at, clock.elapsed())) {
            let state =
                state.as_ref().map_err(|e| LabError::Probe(format!("no cluster state for the next fault: {e}")))?;
            fired.push(fire(ports, events, step, state, rng, clock).await?);
        }
        let now = clock.elapsed();
        for step in
            std::iter::once(&mut first).chain(&mut fired).filter(|f| f.lifted_at_ms.is_none() && lift_due(f, now))
        {
            step.lifted_at_ms = Some(to_ms(lift(ports, events, step, clock).await?));
        }
        if let Ok(state) = state {
            let master = service.master(&state);
            if new_master_at.is_none() && master.is_some_and(|m| m != master_before) {
                new_master_at = Some(clock.elapsed());
            }
            master_seen = master.map(str::to_owned);
            placements.push(placement(service, &state, clock.elapsed()));
        }
        let now = clock.elapsed();
        let attempts = probes.snapshot().await;
        // Recovery counts from the last fault injected or lifted so far.
        let last_fault = std::iter::once(&first)
            .chain(&fired)
            .flat_map(|f| [Some(f.at_ms), f.lifted_at_ms])
            .flatten()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .fold(fault_at, Duration::max);
        let recovered = attempts.iter().all(|(_, a)| probe_recovered(a, last_fault, now, settle));
        let status: Vec<String> = attempts
            .iter()
            .map(|(kind, a)| {
                let failed = a.iter().filter(|x| x.started >= fault_at && !x.outcome.is_ok()).count();
                format!("{}: {failed} failed", kind.name())
            })
            .collect();
        events.emit(RunEvent::Detail(format!(
            "{:.0} s after fault; {}; new {} master: {}",
            now.saturating_sub(fault_at).as_secs_f64(),
            status.join(", "),
            service.name,
            if new_master_at.is_some() { "yes" } else { "not yet" }
        )));
        let held = now >= fault_at + settle.max(hold) && now >= last_fault + settle;
        let all_fired = fired.len() == scenario.then.len();
        let all_lifted =
            std::iter::once(&first).chain(&fired).all(|f| f.fault.lift_after_s.is_none() || f.lifted_at_ms.is_some());
        let done = recovered && all_fired && all_lifted && (new_master_at.is_some() || !wants_failover) && held;
        if done || now >= deadline {
            let lifted_at = first.lifted_at_ms.map(|ms| Duration::from_secs_f64(ms / 1000.0));
            return Ok(Observation { fired, lifted_at, recovered: done, new_master_at, master_seen, placements });
        }
        tokio::time::sleep(poll_interval).await;
    }
}

/// Whether `step` is due `now`: its `after_s` after the first fault.
fn due(step: &Fault, fault_at: Duration, now: Duration) -> bool {
    now >= fault_at + Duration::from_secs_f64(step.after_s.unwrap_or_default())
}

/// Whether `fault`, injected at its `at_ms`, is due to be lifted `now`.
fn lift_due(fault: &FiredFault, now: Duration) -> bool {
    fault.fault.lift_after_s.is_some_and(|lift| now.as_secs_f64() * 1000.0 >= fault.at_ms + lift * 1000.0)
}

/// Lifts `fault` from its victim; when, on the probes' clock.
async fn lift(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    fault: &FiredFault,
    clock: Clock,
) -> Result<Duration, LabError> {
    ports.lift(&fault.fault, fault.service, &fault.victim).await?;
    let at = clock.elapsed();
    events.emit(RunEvent::Lifted { action: fault.fault.action.name(), victim: fault.victim.clone(), at });
    Ok(at)
}

/// Injects a `[[then]]` step on the host its target names in the cluster
/// as it is now (the new master, after a failover).
async fn fire(
    ports: &impl ScenarioPorts,
    events: &impl RunEvents,
    step: &Fault,
    state: &ClusterState,
    rng: &mut ChaCha8Rng,
    clock: Clock,
) -> Result<FiredFault, LabError> {
    let lab = ports.context();
    let service = step.service.unwrap_or_else(|| lab.stack.primary());
    let spec = lab.stack.require(service)?;
    let witness = lab.witness.clone().unwrap_or_default();
    let victim = faults::choose_victim(step.target, spec, state, &lab.nodes, &witness, rng).ok_or_else(|| {
        LabError::Probe(format!("no {service} {} to hit with the next fault in the cluster", step.target.name()))
    })?;
    ports.inject(step, service, &victim).await?;
    let at = clock.elapsed();
    events.emit(RunEvent::Fault { action: step.action.name(), service, victim: victim.clone(), at });
    Ok(FiredFault { fault: step.clone(), service, victim, at_ms: at.as_secs_f64() * 1000.0, lifted_at_ms: None })
}

/// A probe has recovered when it has attempts after the fault and none of
/// the attempts in the last `settle` failed.
pub fn probe_recovered(attempts: &[Attempt], fault_at: Duration, now: Duration, settle: Duration) -> bool {
    let since = now.saturating_sub(settle).max(fault_at);
    let recent: Vec<&Attempt> = attempts.iter().filter(|a| a.started >= since).collect();
    !recent.is_empty() && recent.iter().all(|a| a.outcome.is_ok())
}
