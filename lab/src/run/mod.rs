//! Running faults against a lab and measuring them.
//!
//! # Layout
//! - [`scenario`]: scenario files (fault, probes, expectations);
//!   [`catalog`]: the builtin ones and the names people call them by.
//! - [`runner`]: one run, over ports, emitting events.
//! - [`faults`]: injecting a fault and restoring after it.
//! - [`probes`]: heartbeat probes on the VIPs.
//! - [`suite`]: several runs and their reports; [`bench`](mod@bench): medians over
//!   repeated runs; [`live`]: `lab heartbeat`.

pub mod bench;
pub mod catalog;
pub mod faults;
pub mod live;
pub mod probes;
pub mod runner;
pub mod scenario;
pub mod suite;
pub mod sweep;
