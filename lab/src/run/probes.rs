//! Heartbeat probes run by lab against the VIPs, inside the lab network:
//! each probed service's writer on its master VIP and reader on its replica
//! VIP. What a probe connects to and speaks is its service's
//! ([`crate::cluster::services`]); this module runs them and collects their attempts.

use std::time::Duration;

use heartbeat::{Attempt, Clock, ProbeSettings, Recording};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::cluster::profile::StackProfile;
pub use crate::cluster::services::ProbeKind;
use crate::lifecycle::{Lab, LabError};
use crate::run::scenario::Scenario;

/// The probes a scenario asks for in `stack`, by service in the stack's
/// order, writers first.
pub fn for_scenario(scenario: &Scenario, stack: &StackProfile) -> Vec<ProbeKind> {
    let p = &scenario.probes;
    let mut kinds = Vec::new();
    let names = stack.names();
    for service in stack.services.iter().filter(|s| p.covers(s.name, &names)) {
        for role in service.probes {
            let wanted = match role {
                heartbeat::Role::Writer => p.writer,
                heartbeat::Role::Reader => p.reader,
            };
            if wanted {
                kinds.push(ProbeKind { service: service.name, role: *role });
            }
        }
    }
    kinds
}

/// The probe settings from the configuration: `heartbeat.tcg_rate_hz` on
/// VMs whose CPU QEMU emulates, `heartbeat.rate_hz` elsewhere.
pub fn settings(lab: &Lab) -> ProbeSettings {
    let h = &lab.config.heartbeat;
    let emulated = lab.topology.vm.is_some_and(|vm| vm.accel == crate::backend::accel::Accel::Tcg);
    ProbeSettings {
        rate_hz: if emulated { h.tcg_rate_hz } else { h.rate_hz },
        connect_timeout: Duration::from_millis(h.connect_timeout_ms),
        query_timeout: Duration::from_millis(h.query_timeout_ms),
    }
}

/// Starts one probe on the lab network runtime; every attempt is also sent
/// to `live`.
pub fn spawn(
    lab: &Lab,
    kind: ProbeKind,
    settings: ProbeSettings,
    run_id: &str,
    clock: Clock,
    stop: watch::Receiver<bool>,
    live: mpsc::UnboundedSender<Attempt>,
) -> Result<JoinHandle<Recording>, LabError> {
    let run = ProbeRun { kind, run_id: run_id.to_owned(), settings: settings.clone(), clock, stop, live };
    let spec = lab.stack().profile().require(kind.service)?;
    spec.launch_probe(lab, kind.role, settings, run)
}

/// Everything a probe loop needs besides the probe itself.
#[derive(Debug)]
pub struct ProbeRun {
    kind: ProbeKind,
    pub run_id: String,
    settings: ProbeSettings,
    clock: Clock,
    stop: watch::Receiver<bool>,
    live: mpsc::UnboundedSender<Attempt>,
}

impl ProbeRun {
    /// Runs `probe` on the lab network runtime until told to stop.
    pub fn launch<P: heartbeat::Probe + 'static>(self, lab: &Lab, probe: P) -> JoinHandle<Recording> {
        let ProbeRun { kind, run_id, settings, clock, stop, live } = self;
        lab.labnet().handle().spawn(async move {
            heartbeat::run(probe, &kind.name(), kind.role, &run_id, settings, clock, stop, Some(live)).await
        })
    }
}

/// The probes of a scenario run, inside the lab network.
#[derive(Debug)]
pub struct Probes {
    stop: watch::Sender<bool>,
    handles: Vec<(ProbeKind, JoinHandle<Recording>)>,
    live: tokio::sync::Mutex<Vec<LiveProbe>>,
}

/// The attempts of one probe as they arrive.
#[derive(Debug)]
struct LiveProbe {
    kind: ProbeKind,
    incoming: mpsc::UnboundedReceiver<Attempt>,
    seen: Vec<Attempt>,
}

impl Probes {
    /// Starts `kinds` on the lab network, all on one `clock`.
    pub fn start(lab: &Lab, kinds: &[ProbeKind], run_id: &str, clock: Clock) -> Result<Self, LabError> {
        let (stop, stop_rx) = watch::channel(false);
        let settings = settings(lab);
        let mut handles = Vec::new();
        let mut live = Vec::new();
        for &kind in kinds {
            let (tx, rx) = mpsc::unbounded_channel();
            handles.push((kind, spawn(lab, kind, settings.clone(), run_id, clock, stop_rx.clone(), tx)?));
            live.push(LiveProbe { kind, incoming: rx, seen: Vec::new() });
        }
        Ok(Probes { stop, handles, live: tokio::sync::Mutex::new(live) })
    }

    /// Every attempt completed so far, per probe, in the order they started.
    pub async fn snapshot(&self) -> Vec<(ProbeKind, Vec<Attempt>)> {
        let mut live = self.live.lock().await;
        live.iter_mut()
            .map(|probe| {
                while let Ok(attempt) = probe.incoming.try_recv() {
                    probe.seen.push(attempt);
                }
                // Attempts overlap and arrive as they complete; outages are
                // read in the order they started, as in the recording.
                probe.seen.sort_by_key(|attempt| attempt.seq);
                (probe.kind, probe.seen.clone())
            })
            .collect()
    }

    pub async fn stop(self) -> Result<Vec<(ProbeKind, Recording)>, LabError> {
        let _ = self.stop.send(true);
        let mut recordings = Vec::new();
        for (kind, handle) in self.handles {
            let recording = handle.await.map_err(|e| LabError::Probe(format!("probe task failed: {e}")))?;
            recordings.push((kind, recording));
        }
        Ok(recordings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::services::ServiceName;
    use heartbeat::Role;

    #[test]
    fn a_scenario_probes_every_service_of_the_stack_unless_it_names_some() {
        let stack = crate::cluster::profile::ProfileName::Tuchanka.profile();
        let mut scenario = Scenario::find("poweroff-master").expect("builtin");
        let names = |s: &Scenario| for_scenario(s, stack).into_iter().map(ProbeKind::name).collect::<Vec<_>>();
        assert_eq!(names(&scenario), ["postgres-writer", "postgres-reader", "redis-writer", "redis-reader"]);
        scenario.probes.services = Some(vec![ServiceName::Redis]);
        scenario.probes.reader = false;
        assert_eq!(for_scenario(&scenario, stack), [ProbeKind { service: ServiceName::Redis, role: Role::Writer }]);
    }
}
