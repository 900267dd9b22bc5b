//! Heartbeat probes run by lab against the VIPs, inside the lab network:
//! PostgreSQL's writer on the master VIP and reader on the replica VIP (as
//! the per-lab `heartbeat` user), Redis's writer and reader on the Redis
//! master VIP.

use std::time::Duration;

use heartbeat::{
    Attempt, Clock, PgReader, PgWriter, ProbeSettings, Recording, RedisReader, RedisTarget, RedisWriter, Role,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::lifecycle::{Lab, LabError};
use crate::scenario::Scenario;
use crate::secrets::Secret;

/// The service a probe exercises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    #[default]
    Postgres,
    Redis,
}

/// One of the probes lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    PgWriter,
    PgReader,
    RedisWriter,
    RedisReader,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::PgWriter => "pg-writer",
            ProbeKind::PgReader => "pg-reader",
            ProbeKind::RedisWriter => "redis-writer",
            ProbeKind::RedisReader => "redis-reader",
        }
    }

    pub fn role(self) -> Role {
        match self {
            ProbeKind::PgWriter | ProbeKind::RedisWriter => Role::Writer,
            ProbeKind::PgReader | ProbeKind::RedisReader => Role::Reader,
        }
    }

    pub fn service(self) -> Service {
        match self {
            ProbeKind::PgWriter | ProbeKind::PgReader => Service::Postgres,
            ProbeKind::RedisWriter | ProbeKind::RedisReader => Service::Redis,
        }
    }

    /// The probes a scenario asks for, writers first.
    pub fn for_scenario(scenario: &Scenario) -> Vec<ProbeKind> {
        let p = &scenario.probes;
        [
            (ProbeKind::PgWriter, p.writer),
            (ProbeKind::PgReader, p.reader),
            (ProbeKind::RedisWriter, p.redis),
            (ProbeKind::RedisReader, p.redis),
        ]
        .into_iter()
        .filter_map(|(kind, on)| on.then_some(kind))
        .collect()
    }
}

/// The probe settings from the configuration.
pub fn settings(lab: &Lab) -> ProbeSettings {
    let h = &lab.config.heartbeat;
    ProbeSettings {
        rate_hz: h.rate_hz,
        connect_timeout: Duration::from_millis(h.connect_timeout_ms),
        query_timeout: Duration::from_millis(h.query_timeout_ms),
    }
}

/// Where a PostgreSQL probe of `role` connects: the writer to the master
/// VIP, the reader to the replica VIP, both as the heartbeat user.
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

/// Where Redis probes connect: the Redis master VIP.
pub fn redis_target(lab: &Lab) -> Result<RedisTarget, LabError> {
    Ok(RedisTarget {
        host: lab.topology.redis_vip.to_string(),
        port: lab.topology.redis_port,
        password: lab.secrets.get(Secret::Redis)?,
    })
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
    let run = Run { kind, run_id: run_id.to_owned(), rate: settings.rate_hz, clock, stop, live };
    let role = kind.role();
    Ok(match kind {
        ProbeKind::PgWriter => run.launch(lab, PgWriter::new(target(lab, role)?, settings, run_id)),
        ProbeKind::PgReader => run.launch(lab, PgReader::new(target(lab, role)?, settings, run_id)),
        ProbeKind::RedisWriter => run.launch(lab, RedisWriter::new(redis_target(lab)?, settings, run_id)),
        ProbeKind::RedisReader => run.launch(lab, RedisReader::new(redis_target(lab)?, settings, run_id)),
    })
}

/// Everything a probe loop needs besides the probe itself.
struct Run {
    kind: ProbeKind,
    run_id: String,
    rate: f64,
    clock: Clock,
    stop: watch::Receiver<bool>,
    live: mpsc::UnboundedSender<Attempt>,
}

impl Run {
    fn launch<P: heartbeat::Probe + 'static>(self, lab: &Lab, probe: P) -> JoinHandle<Recording> {
        let Run { kind, run_id, rate, clock, stop, live } = self;
        lab.labnet().handle().spawn(async move {
            heartbeat::run(probe, kind.name(), kind.role(), &run_id, rate, clock, stop, Some(live)).await
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
    pub fn start(lab: &Lab, scenario: &Scenario, run_id: &str, clock: Clock) -> Result<Self, LabError> {
        let (stop, stop_rx) = watch::channel(false);
        let settings = settings(lab);
        let mut handles = Vec::new();
        let mut live = Vec::new();
        for kind in ProbeKind::for_scenario(scenario) {
            let (tx, rx) = mpsc::unbounded_channel();
            handles.push((kind, spawn(lab, kind, settings.clone(), run_id, clock, stop_rx.clone(), tx)?));
            live.push(LiveProbe { kind, incoming: rx, seen: Vec::new() });
        }
        Ok(Probes { stop, handles, live: tokio::sync::Mutex::new(live) })
    }

    /// Every attempt so far, per probe.
    pub async fn snapshot(&self) -> Vec<(ProbeKind, Vec<Attempt>)> {
        let mut live = self.live.lock().await;
        live.iter_mut()
            .map(|probe| {
                while let Ok(attempt) = probe.incoming.try_recv() {
                    probe.seen.push(attempt);
                }
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
