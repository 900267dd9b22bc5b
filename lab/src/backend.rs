//! What lab needs from whatever runs its nodes.
//!
//! Scenario logic, fencing and snapshots talk to this trait only, so they are
//! the same for every backend and testable without one. Each operation is
//! one a fault or an operator performs on a real machine: power on, pull the
//! plug, pull the cable, roll the disks back.

use std::future::Future;
use std::path::PathBuf;

use crate::host::HostError;
use crate::topology::HostSpec;

/// A file placed on a node before its first boot (identity, keys, agents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// What a backend can do; a scenario that needs more refuses to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    /// Nodes run their own kernel (DRBD, softdog, kernel panics).
    pub own_kernel: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("node `{node}` {problem}")]
    Node { node: String, problem: String },
    #[error("snapshot `{name}` does not exist; make it with `lab make-all` (snapshots: install, setup)")]
    NoSnapshot { name: String },
}

pub trait NodeBackend: Send + Sync {
    /// Creates a node from the image, with `files` in place for its first boot.
    fn create(&self, host: &HostSpec, files: &[GuestFile]) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Powers a node on (boots it).
    fn start(&self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Pulls the plug: no shutdown, processes just stop.
    fn power_off(&self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn is_running(&self, node: &str) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Pulls (`up == false`) or reconnects a node's network cable.
    fn set_link(&self, node: &str, up: bool) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Saves the disks of `nodes`, which must be powered off.
    fn save_snapshot(&self, name: &str, nodes: &[String]) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Powers `nodes` off and rolls their disks back to a snapshot.
    fn restore_snapshot(&self, name: &str, nodes: &[String]) -> impl Future<Output = Result<(), BackendError>> + Send;
    fn capabilities(&self) -> Capabilities;
}
