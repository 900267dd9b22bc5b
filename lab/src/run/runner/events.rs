//! What a scenario run tells whoever watches it. The runner emits events
//! and never prints; the terminal's progress display is one subscriber
//! ([`ProgressEvents`]), a test's recorder another.

use std::sync::Mutex;
use std::time::Duration;

use crate::cluster::services::ServiceName;
use crate::progress::{Progress, Step};

/// One thing that happened in a run.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEvent {
    /// A phase began: roll back, start the cluster, probe and fault, restore.
    Phase(String),
    /// What the current phase is doing now.
    Detail(String),
    /// The current phase ended well.
    PhaseDone,
    /// The current phase failed; the run goes on to report it.
    PhaseFailed(String),
    /// The fault hit `victim`, `at` on the probes' clock.
    Fault { action: String, service: ServiceName, victim: String, at: Duration },
    /// The fault on `victim` was lifted (`lift_after_s`), `at` on the
    /// probes' clock.
    Lifted { action: String, victim: String, at: Duration },
    /// The run is judged.
    Judged { passed: bool },
}

/// A subscriber to a run's events.
pub trait RunEvents: Sync {
    fn emit(&self, event: RunEvent);
}

/// Shows a run's phases as progress steps on the terminal (and in the log).
#[derive(Debug)]
pub struct ProgressEvents {
    progress: Progress,
    step: Mutex<Option<Step>>,
}

impl ProgressEvents {
    pub fn new(progress: Progress) -> Self {
        ProgressEvents { progress, step: Mutex::new(None) }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Step>> {
        self.step.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RunEvents for ProgressEvents {
    fn emit(&self, event: RunEvent) {
        match event {
            // A step replaced before it was done is shown as failed.
            RunEvent::Phase(message) => *self.current() = Some(self.progress.step(message)),
            RunEvent::Detail(detail) => {
                if let Some(step) = self.current().as_ref() {
                    step.detail(detail);
                }
            }
            RunEvent::PhaseDone => {
                if let Some(step) = self.current().take() {
                    step.done();
                }
            }
            RunEvent::PhaseFailed(error) => {
                tracing::error!(%error, "phase failed");
                self.current().take();
            }
            RunEvent::Fault { action, service, victim, at } => {
                tracing::warn!(%action, %service, %victim, at_s = at.as_secs_f64(), "fault injected");
            }
            RunEvent::Lifted { action, victim, at } => {
                tracing::warn!(%action, %victim, at_s = at.as_secs_f64(), "fault lifted");
            }
            RunEvent::Judged { passed } => tracing::info!(passed, "judged"),
        }
    }
}
