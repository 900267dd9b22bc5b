//! `lab heartbeat writer|reader`: one probe against a VIP, every attempt
//! printed as it happens (like Tuchanka's `heart` and `reader` scripts),
//! outage windows summarised at the end.

use std::process::ExitCode;
use std::time::Duration;

use heartbeat::Clock;
use tokio::sync::{mpsc, watch};

use crate::cli::ProbeRole;
use crate::cluster::services::ServiceName;
use crate::config::Config;
use crate::exit::Failure;
use crate::lifecycle::Lab;
use crate::progress::Progress;
use crate::run::probes::{self, ProbeKind};

pub async fn heartbeat(
    config: Config,
    role: ProbeRole,
    service: Option<ServiceName>,
    rate: Option<f64>,
    seconds: Option<f64>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let lab = Lab::open_cluster(config, Progress::hidden())?;
    let stack = lab.topology.stack.profile();
    let service = service.unwrap_or_else(|| stack.primary());
    let spec = stack.require(service).map_err(Failure::usage)?;
    let role = match role {
        ProbeRole::Writer => heartbeat::Role::Writer,
        ProbeRole::Reader => heartbeat::Role::Reader,
    };
    let kind = ProbeKind { service, role };
    let mut settings = probes::settings(&lab);
    if let Some(rate) = rate {
        settings.rate_hz = rate;
    }
    settings.validate().map_err(Failure::usage)?;
    let target = spec.probe_target(&lab, role)?;
    eprintln!("{} probe on {target} at {} Hz; Ctrl-C stops", kind.name(), settings.rate_hz);
    let run_id = format!("live-{}", crate::paths::run_stamp());
    let clock = Clock::start();
    let (stop, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = probes::spawn(&lab, kind, settings, &run_id, clock, stop_rx, tx)?;
    let until = seconds.map(Duration::from_secs_f64);
    loop {
        tokio::select! {
            attempt = rx.recv() => {
                let Some(attempt) = attempt else { break };
                if json {
                    println!("{}", serde_json::to_string(&attempt).unwrap_or_default());
                } else {
                    let seen = attempt.observed_seq.map(|s| format!(" seen #{s}")).unwrap_or_default();
                    println!(
                        "{:>9.3} s  #{:<6} {:>8.1} ms  {}{seen}",
                        attempt.started.as_secs_f64(),
                        attempt.seq,
                        attempt.latency.as_secs_f64() * 1000.0,
                        attempt.outcome
                    );
                }
                if until.is_some_and(|u| clock.elapsed() >= u) {
                    break;
                }
            }
            _ = crate::interrupt::interrupted() => break,
        }
    }
    let _ = stop.send(true);
    let recording = task.await.map_err(Failure::infra)?;
    let outages = recording.outages();
    eprintln!(
        "{} attempts, {} failed, {} outage(s)",
        recording.attempts.len(),
        recording.attempts.iter().filter(|a| !a.outcome.is_ok()).count(),
        outages.len()
    );
    for o in outages {
        eprintln!(
            "  outage from {:.3} s, {}",
            o.start.as_secs_f64(),
            o.duration().map_or("not ended".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        );
    }
    Ok(ExitCode::SUCCESS)
}
