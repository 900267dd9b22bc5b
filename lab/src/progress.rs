//! Progress: one spinner per long step on a terminal, finished with the
//! step's duration, so a user sees what lab is doing and how long each part
//! took. Not on a terminal (CI, a pipe, a log file) each step is one plain
//! line when it starts and one when it ends, so a job that runs for many
//! minutes is never silent; on a terminal with `--json` nothing is drawn.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How steps show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Display {
    Hidden,
    /// Spinners on a terminal.
    Spinners,
    /// One line per start and end, for logs.
    Lines,
}

/// Creates steps.
#[derive(Clone, Debug)]
pub struct Progress {
    display: Display,
}

impl Progress {
    /// Spinners on a terminal unless `spinners` is false (`--json`); plain
    /// lines whenever stderr is not a terminal.
    pub fn new(spinners: bool) -> Self {
        let display = match (std::io::IsTerminal::is_terminal(&std::io::stderr()), spinners) {
            (false, _) => Display::Lines,
            (true, true) => Display::Spinners,
            (true, false) => Display::Hidden,
        };
        Progress { display }
    }

    pub fn hidden() -> Self {
        Progress { display: Display::Hidden }
    }

    /// Starts a step; logs it too, so the log file has the same story.
    pub fn step(&self, message: impl Into<String>) -> Step {
        let message = message.into();
        tracing::info!(step = %message, "start");
        if self.display == Display::Lines {
            eprintln!("▸ {message}");
        }
        let bar = if self.display == Display::Spinners {
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
        Step { bar, message, started: Instant::now(), visible: self.display != Display::Hidden }
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
