//! The cluster under test: Corosync and Pacemaker with a quorum device and
//! fencing, and the services a stack profile puts on it.
//!
//! # Layout
//! - [`fencing`]: how a lost node is fenced (lab's daemon or sbd).
//! - [`quorum`]: whether the witness is the cluster's quorum device.
//! - [`stack`]: set-up and operations through the guest scripts.
//! - [`profile`]: which services a stack runs, on which backends.
//! - [`services`]: one module per service (resources, health, probes, faults).
//! - [`state`]: the cluster as `crm_mon` shows it.
//! - [`pacemaker`]: the two generations of the cluster stack's words.

pub mod fencing;
pub mod pacemaker;
pub mod profile;
pub mod quorum;
pub mod services;
pub mod stack;
pub mod state;
