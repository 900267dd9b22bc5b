//! How lab probes a service through its VIP: each service names the
//! heartbeat crate's writer, reader and lost-write check for it and where
//! they connect ([`Probed`]); starting them on the lab network and running
//! the check there is the same for all.

use std::fmt::Display;
use std::future::Future;

use heartbeat::{AckCheck, AckError, Probe, ProbeSettings, Recording, Role};

use super::ServiceSpec;
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;

/// A service's probes, from the heartbeat crate.
pub trait Probed {
    /// Where they connect (its `Display` is for people: `lab heartbeat`).
    type Target: Display + Send + 'static;
    type Writer: Probe + 'static;
    type Reader: Probe + 'static;

    /// Where a probe of `role` connects in `lab`.
    fn target(spec: &ServiceSpec, lab: &Lab, role: Role) -> Result<Self::Target, LabError>;

    fn writer(target: Self::Target, settings: ProbeSettings, run_id: &str) -> Self::Writer;

    fn reader(target: Self::Target, settings: ProbeSettings, run_id: &str) -> Self::Reader;

    /// Which of the writer's acknowledged writes `target` no longer has.
    fn check(
        target: Self::Target,
        settings: ProbeSettings,
        recording: Recording,
    ) -> impl Future<Output = Result<AckCheck, AckError>> + Send + 'static;
}

/// Starts `spec`'s probe of `role` on the lab network.
pub fn launch<P: Probed>(
    spec: &ServiceSpec,
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run: ProbeRun,
) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
    let target = P::target(spec, lab, role)?;
    let run_id = run.run_id.clone();
    Ok(match role {
        Role::Writer => run.launch(lab, P::writer(target, settings, &run_id)),
        Role::Reader => run.launch(lab, P::reader(target, settings, &run_id)),
    })
}

/// After recovery, on the lab network: which of the writer's acknowledged
/// writes `spec`'s master no longer has.
pub async fn check<P: Probed>(
    spec: &ServiceSpec,
    lab: &Lab,
    settings: ProbeSettings,
    recording: Recording,
) -> Result<AckCheck, LabError> {
    let target = P::target(spec, lab, Role::Writer)?;
    let checked = lab.labnet().run(P::check(target, settings, recording)).await?;
    checked.map_err(|e| LabError::Probe(format!("lost-write check of {}: {e}", spec.name)))
}

/// Where `spec`'s probe of `role` connects, for people.
pub fn target<P: Probed>(spec: &ServiceSpec, lab: &Lab, role: Role) -> Result<String, LabError> {
    Ok(P::target(spec, lab, role)?.to_string())
}
