//! Runs one scenario against a lab, for real: roll back to `setup`, start
//! the cluster, wait until healthy, start the probes, inject the fault,
//! observe until the service resumes, restore the victim as an operator
//! would, check that no acknowledged write was lost, and judge.

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use heartbeat::{AckCheck, Attempt, Clock, Role};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::NodeBackend;
use crate::faults;
use crate::fenced::read_events;
use crate::lifecycle::{Lab, LabError, SETUP};
use crate::probes::{self, ProbeKind, Probes};
use crate::report::{ProbeSummary, RunTimings, ScenarioResult};
use crate::results::RunRecord;
use crate::scenario::Scenario;
use crate::services::ServiceName;

/// Runs `scenario` once and returns its judged result. `seed` drives every
/// random choice (victim, timing); the same seed replays the same run.
pub async fn run(lab: &Lab, scenario: &Scenario, seed: u64, iteration: u32) -> Result<RunRecord, LabError> {
    let stack = lab.topology.stack.profile();
    if let Some(why) = scenario.unsupported_by(lab.backend.capabilities(), stack) {
        return Err(LabError::Unsupported(why));
    }
    let service = scenario.service(stack);
    // Limits are written for native speed; emulated hosts get them stretched.
    let scenario = &scenario.stretched(lab.topology.time_factor());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let started_unix_ms = unix_ms();
    let run_id =
        format!("{}-{}", jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S"), scenario.name) + &format!("-{iteration}");
    let mut timings = RunTimings::default();
    let progress = &lab.progress;

    let consoles = ConsoleMarks::now(lab);
    let step = progress.step(format!("roll back to `{SETUP}` and boot"));
    timings.rollback_s = lab.rollback(SETUP).await?.as_secs_f64();
    step.done();

    let step = progress.step("start the cluster and wait until healthy");
    let cluster_started = Instant::now();
    lab.stack().start().await?;
    let healthy = Duration::from_secs(lab.config.timeouts.healthy_s);
    let before = lab.stack().wait_healthy(healthy, &step).await?;
    timings.cluster_start_s = cluster_started.elapsed().as_secs_f64();
    step.done();

    // A healthy cluster has a master of every service.
    let master_before = service.spec().master(&before).unwrap_or_default().to_owned();
    let witness = lab.stack().witness().unwrap_or_default();
    let target = scenario.fault.target;
    let victim = faults::choose_victim(target, service, &before, &lab.topology.node_names(), &witness, &mut rng)
        .ok_or_else(|| LabError::Probe(format!("no {service} {target:?} to hit in the cluster")))?;
    let jitter = if scenario.probes.jitter_s > 0.0 { rng.random_range(0.0..scenario.probes.jitter_s) } else { 0.0 };

    let action = scenario.fault.action.name();
    let step = progress.step(format!("probe, then {action} on {victim} ({service} {target:?})"));
    let observe_started = Instant::now();
    let fence_events_before = read_events(&lab.paths.root().join("fence-events.jsonl")).len();
    let clock = Clock::start();
    let probes = Probes::start(lab, scenario, &run_id, clock)?;
    tokio::time::sleep(Duration::from_secs_f64(scenario.probes.warmup_s + jitter)).await;
    // The fault must hit a cluster that can fail over: under the warm-up's
    // writes a lagging replica is scored -1000 by PAF for a while (seen on
    // emulated VMs), and a master lost then has no successor.
    lab.stack().wait_healthy(healthy, &step).await?;
    let fault_at = clock.elapsed();
    faults::inject(lab, &scenario.fault, service, &victim).await?;
    let watch = Watch { service, victim: &victim, master_before: &master_before, fault_at };
    let observation = observe(lab, scenario, &probes, &watch, clock, &step).await;
    let recordings = probes.stop().await?;
    timings.observe_s = observe_started.elapsed().as_secs_f64();
    step.done();

    // A cluster that failed to recover is a finding, not a crash of lab:
    // restore problems are reported, and judged, like everything else.
    let step = progress.step(format!("restore {victim} as a replica and wait until healthy"));
    let restore_started = Instant::now();
    let restored = async {
        faults::restore(lab, &scenario.fault, service, &victim).await?;
        Ok::<_, LabError>(lab.stack().wait_healthy(healthy, &step).await?)
    }
    .await;
    timings.restore_s = restore_started.elapsed().as_secs_f64();
    let (after, restore_error) = match restored {
        Ok(state) => {
            step.done();
            (Some(state), None)
        }
        Err(e) => {
            tracing::error!(error = %e, "restore failed");
            (None, Some(e.to_string()))
        }
    };

    let acks = match after {
        Some(_) => check_acknowledged(lab, &recordings).await?,
        None => BTreeMap::new(),
    };

    let fence_events = read_events(&lab.paths.root().join("fence-events.jsonl")).split_off(fence_events_before);
    timings.total_s = started.elapsed().as_secs_f64();
    let summaries =
        recordings.iter().map(|(kind, r)| ProbeSummary::from_recording(r, kind.service, fault_at)).collect();
    let result = ScenarioResult::judge(
        scenario,
        crate::report::RunFacts {
            run_id,
            seed,
            iteration,
            lab: lab.topology.lab.clone(),
            backend: lab.topology.backend,
            started_unix_ms,
            service,
            victim,
            master_before,
            master_after: after
                .as_ref()
                .and_then(|a| service.spec().master(a).map(str::to_owned))
                .or(observation.master_seen),
            restore_error,
            new_master_after: observation.new_master_at.map(|t| t.saturating_sub(fault_at)),
            fault_at,
            recovered: observation.recovered,
            probes: summaries,
            acks,
            fence_events,
            timings,
        },
    );
    Ok(RunRecord {
        result,
        recordings: recordings.into_iter().map(|(_, r)| r).collect(),
        consoles: consoles.read_since(lab),
    })
}

/// How long each host's console log was when a run started.
struct ConsoleMarks(Vec<(String, u64)>);

impl ConsoleMarks {
    fn now(lab: &Lab) -> Self {
        let length = |host: &str| std::fs::metadata(lab.paths.console(host)).map_or(0, |m| m.len());
        ConsoleMarks(lab.topology.host_names().into_iter().map(|h| (h.clone(), length(&h))).collect())
    }

    /// What each host's console printed since the marks (lossy UTF-8).
    fn read_since(&self, lab: &Lab) -> Vec<(String, String)> {
        use std::io::{Read, Seek};
        let read = |host: &str, from: u64| -> std::io::Result<String> {
            let mut file = std::fs::File::open(lab.paths.console(host))?;
            file.seek(std::io::SeekFrom::Start(from))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        self.0.iter().filter_map(|(host, from)| Some((host.clone(), read(host, *from).ok()?))).collect()
    }
}

pub fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// After recovery: which acknowledged writes of each writer are missing,
/// read from its service's current master.
async fn check_acknowledged(
    lab: &Lab,
    recordings: &[(ProbeKind, heartbeat::Recording)],
) -> Result<BTreeMap<ServiceName, AckCheck>, LabError> {
    let settings = probes::settings(lab);
    let mut checks = BTreeMap::new();
    for (kind, recording) in recordings.iter().filter(|(kind, _)| kind.role == Role::Writer) {
        let check = kind.service.check_acknowledged(lab, settings.clone(), recording.clone()).await?;
        checks.insert(kind.service, check);
    }
    Ok(checks)
}

/// What the observation watches for.
#[derive(Clone, Copy)]
struct Watch<'a> {
    /// The fault's service: a new master of it is what a failover means.
    service: ServiceName,
    victim: &'a str,
    master_before: &'a str,
    fault_at: Duration,
}

struct Observation {
    recovered: bool,
    new_master_at: Option<Duration>,
    /// The last master the cluster showed while observing.
    master_seen: Option<String>,
}

/// Watches probes and cluster until every probe works again (and, when the
/// scenario expects a failover, a new master is up), or the timeout.
async fn observe(
    lab: &Lab,
    scenario: &Scenario,
    probes: &Probes,
    watch: &Watch<'_>,
    clock: Clock,
    step: &crate::progress::Step,
) -> Observation {
    let Watch { service, victim, master_before, fault_at } = *watch;
    let settle = Duration::from_secs_f64(scenario.observe.settle_s);
    let deadline = fault_at + Duration::from_secs_f64(scenario.observe.timeout_s);
    let wants_failover = scenario.expect.master == crate::scenario::MasterExpectation::Other;
    let mut new_master_at = None;
    let mut master_seen = None;
    loop {
        if let Ok(state) = lab.stack().state_avoiding(victim).await {
            let master = service.spec().master(&state);
            if new_master_at.is_none() && master.is_some_and(|m| m != master_before) {
                new_master_at = Some(clock.elapsed());
            }
            master_seen = master.map(str::to_owned);
        }
        let now = clock.elapsed();
        let attempts = probes.snapshot().await;
        let recovered = attempts.iter().all(|(_, a)| probe_recovered(a, fault_at, now, settle));
        let status: Vec<String> = attempts
            .iter()
            .map(|(kind, a)| {
                let failed = a.iter().filter(|x| x.started >= fault_at && !x.outcome.is_ok()).count();
                format!("{}: {failed} failed", kind.name())
            })
            .collect();
        step.detail(format!(
            "{:.0} s after fault; {}; new {service} master: {}",
            now.saturating_sub(fault_at).as_secs_f64(),
            status.join(", "),
            if new_master_at.is_some() { "yes" } else { "not yet" }
        ));
        if recovered && (new_master_at.is_some() || !wants_failover) && now >= fault_at + settle {
            return Observation { recovered: true, new_master_at, master_seen };
        }
        if now >= deadline {
            return Observation { recovered: false, new_master_at, master_seen };
        }
        tokio::time::sleep(lab.stack().poll_interval()).await;
    }
}

/// A probe has recovered when it has attempts after the fault and none of
/// the attempts in the last `settle` failed.
pub fn probe_recovered(attempts: &[Attempt], fault_at: Duration, now: Duration, settle: Duration) -> bool {
    let since = now.saturating_sub(settle).max(fault_at);
    let recent: Vec<&Attempt> = attempts.iter().filter(|a| a.started >= since).collect();
    !recent.is_empty() && recent.iter().all(|a| a.outcome.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat::Outcome;

    fn attempt(started_ms: u64, ok: bool) -> Attempt {
        Attempt {
            seq: started_ms,
            started: Duration::from_millis(started_ms),
            latency: Duration::from_millis(2),
            outcome: if ok { Outcome::Ok } else { Outcome::Timeout },
            observed_seq: None,
        }
    }

    #[test]
    fn recovered_needs_a_clean_settle_window_after_the_fault() {
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
}
