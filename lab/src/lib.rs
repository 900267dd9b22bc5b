//! `lab`: a chaos lab for Pacemaker/Corosync clusters.
//!
//! It builds real hosts (two cluster nodes and a witness), installs and sets
//! up the real HA stack, snapshots them, probes the floating IPs, injects
//! faults and reports how long the service was down and whether any
//! acknowledged write was lost.
//!
//! # Layout
//!
//! - [`backend`]: what runs the hosts (containers, QEMU, VirtualBox).
//! - [`install`]: the guest image or an ISO install, and each host's identity.
//! - [`cluster`]: the HA stack, its stack profiles and services, its state.
//! - [`run`]: scenarios, the runner, faults, probes, suites.
//! - [`report`]: judging, results.json, statistics, baselines, rendering.
//! - The lab itself: [`lifecycle`] (make-all, rollback), [`topology`] (the
//!   lab's fixed shape), [`guest`] (ssh), [`fenced`] (host-side fence
//!   daemon), [`netns`] and [`labnet`] (the lab network), [`teardown`]
//!   (`lab destroy`), [`status`], [`snapshot`] (named snapshots), [`labs`]
//!   (every lab on the host).
//! - Plumbing: [`cli`], [`exit`] (exit codes), [`config`], [`host`] (host
//!   commands), [`process`] (host processes by pid), [`paths`], [`lock`]
//!   (one changing command per lab), [`mounts`] (mounts, and removing trees
//!   that hold some), [`interrupt`] (Ctrl-C, SIGTERM),
//!   [`secrets`], [`progress`].

pub mod backend;
pub mod cli;
pub mod cluster;
mod commands;
pub mod config;
pub mod exit;
pub mod fenced;
mod fenced_main;
pub mod guest;
pub mod host;
pub mod install;
pub mod interrupt;
pub mod labnet;
pub mod labs;
pub mod lifecycle;
pub mod lock;
pub mod mounts;
pub mod netns;
pub mod paths;
pub mod process;
pub mod progress;
pub mod report;
pub mod run;
pub mod secrets;
pub mod snapshot;
pub mod status;
pub mod teardown;
#[cfg(test)]
mod testing;
pub mod topology;
