//! Progress on the terminal: one spinner per long step, finished with the
//! step's duration, so a user sees what lab is doing and how long each part
//! took. Hidden when output is for machines (`--json`) or not a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Creates step spinners.
#[derive(Clone, Debug)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    pub fn new(visible: bool) -> Self {
        Progress { visible: visible && std::io::IsTerminal::is_terminal(&std::io::stderr()) }
    }

    pub fn hidden() -> Self {
        Progress { visible: false }
    }

    /// Starts a step; logs it too, so the log file has the same story.
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        tracing::info!(step = %message, "start");
        let bar = if self.visible {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix} {wide_msg:.dim} {elapsed:>4}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(message.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        Step { bar, message, started: Instant::now(), visible: self.visible }
    }
}

/// A running step.
#[derive(Debug)]
pub struct Step {
    bar: ProgressBar,
    message: String,
    started: Instant,
    visible: bool,
}

impl Step {
    /// Shows what the step is doing right now (e.g. the last line of a tool).
    pub fn detail(&self, detail: impl Into<String>) {
        self.bar.set_message(detail.into());
    }

    /// Finishes the step and returns how long it took.
    pub fn done(self) -> Duration {
        let took = self.started.elapsed();
        tracing::info!(step = %self.message, seconds = took.as_secs_f64(), "done");
        self.bar.finish_and_clear();
        if self.visible {
            eprintln!("✓ {} ({:.1} s)", self.message, took.as_secs_f64());
        }
        took
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step dropped without `done` failed or was interrupted.
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
            if self.visible {
                eprintln!("✗ {}", self.message);
            }
        }
    }
}
