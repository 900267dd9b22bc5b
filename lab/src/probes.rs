//! Heartbeat probes run by lab against the VIPs, inside the lab network:
//! a writer on the master VIP and a reader on the replica VIP, both as the
//! per-lab `heartbeat` user.

use std::time::Duration;

use heartbeat::{Attempt, Clock, PgReader, PgWriter, ProbeSettings, Recording, Role};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::lifecycle::{Lab, LabError};
use crate::scenario::Scenario;
use crate::secrets::Secret;

/// The probe settings from the configuration.
pub fn settings(lab: &Lab) -> ProbeSettings {
    let h = &lab.config.heartbeat;
    ProbeSettings {
        rate_hz: h.rate_hz,
        connect_timeout: Duration::from_millis(h.connect_timeout_ms),
        query_timeout: Duration::from_millis(h.query_timeout_ms),
    }
}

/// Where a probe of `role` connects: the writer to the master VIP, the
/// reader to the replica VIP, both as the heartbeat user.
pub fn target(lab: &Lab, role: Role) -> Result<heartbeat::Target, LabError> {
    let t = &lab.topology;
    let vip = match role {
        Role::Writer => t.master_vip,
        Role::Reader => t.replica_vip,
    };
    Ok(heartbeat::Target {
        host: vip.to_string(),
        port: t.pg_port,
        dbname: "heartbeat".into(),
        user: "heartbeat".into(),
        password: lab.secrets.get(Secret::Heartbeat)?,
    })
}

/// Starts one probe of `role` on the lab network runtime; every attempt is
/// also sent to `live`.
pub fn spawn(
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run_id: &str,
    clock: Clock,
    stop: watch::Receiver<bool>,
    live: mpsc::UnboundedSender<Attempt>,
) -> Result<JoinHandle<Recording>, LabError> {
    let target = target(lab, role)?;
    let run_id = run_id.to_owned();
    let rate = settings.rate_hz;
    Ok(lab.labnet().handle().spawn(async move {
        match role {
            Role::Writer => {
                let probe = PgWriter::new(target, settings, run_id.clone());
                heartbeat::run(probe, "pg-writer", role, &run_id, rate, clock, stop, Some(live)).await
            }
            Role::Reader => {
                let probe = PgReader::new(target, settings, run_id.clone());
                heartbeat::run(probe, "pg-reader", role, &run_id, rate, clock, stop, Some(live)).await
            }
        }
    }))
}

/// The probes of a scenario run, inside the lab network.
#[derive(Debug)]
pub struct Probes {
    stop: watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<Recording>>,
    live: tokio::sync::Mutex<Vec<LiveProbe>>,
}

/// The attempts of one probe as they arrive.
#[derive(Debug)]
struct LiveProbe {
    role: Role,
    incoming: mpsc::UnboundedReceiver<Attempt>,
    seen: Vec<Attempt>,
}

impl Probes {
    pub fn start(lab: &Lab, scenario: &Scenario, run_id: &str, clock: Clock) -> Result<Self, LabError> {
        let (stop, stop_rx) = watch::channel(false);
        let settings = settings(lab);
        let mut handles = Vec::new();
        let mut live = Vec::new();
        let roles = [(Role::Writer, scenario.probes.writer), (Role::Reader, scenario.probes.reader)];
        for (role, enabled) in roles {
            if !enabled {
                continue;
            }
            let (tx, rx) = mpsc::unbounded_channel();
            handles.push(spawn(lab, role, settings.clone(), run_id, clock, stop_rx.clone(), tx)?);
            live.push(LiveProbe { role, incoming: rx, seen: Vec::new() });
        }
        Ok(Probes { stop, handles, live: tokio::sync::Mutex::new(live) })
    }

    /// Every attempt so far, per probe.
    pub async fn snapshot(&self) -> Vec<(Role, Vec<Attempt>)> {
        let mut live = self.live.lock().await;
        live.iter_mut()
            .map(|probe| {
                while let Ok(attempt) = probe.incoming.try_recv() {
                    probe.seen.push(attempt);
                }
                (probe.role, probe.seen.clone())
            })
            .collect()
    }

    pub async fn stop(self) -> Result<Vec<Recording>, LabError> {
        let _ = self.stop.send(true);
        let mut recordings = Vec::new();
        for handle in self.handles {
            recordings.push(handle.await.map_err(|e| LabError::Probe(format!("probe task failed: {e}")))?);
        }
        Ok(recordings)
    }
}
