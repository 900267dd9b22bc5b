//! `lab`: a chaos lab for Pacemaker/Corosync clusters.
//!
//! It builds real hosts (two cluster nodes and a witness), installs and sets
//! up the real HA stack, snapshots them, probes the floating IPs, injects
//! faults and reports how long the service was down and whether any
//! acknowledged write was lost.
//!
//! # Layout
//!
//! - Configuration and inputs: [`config`] (layered, schema = defaults),
//!   [`scenario`] (fault files), [`topology`] (the lab's fixed shape).
//! - Hosts: [`image`] (guest image), [`netns`] (lab network), [`backend`]
//!   (the node trait) with [`container`] (systemd-nspawn) and [`qemu`]
//!   (VMs over [`qmp`], on the [`vm_disk`], under the [`accel`]erator),
//!   [`identity`] (per-host keys and files), [`teardown`] (`lab destroy`).
//! - Hosts from an ISO: [`iso`], [`kickstart`], [`distro`] (what differs
//!   per distribution), [`repo_mirror`] (packages inside a QEMU lab),
//!   [`virtualbox`].
//! - Guests and the cluster: [`guest`] (ssh), [`stack`] (setup and
//!   operations through `guest/*.sh`), [`profile`] (which services a stack
//!   runs), [`services`] (one module per service: its resources, health,
//!   probes and faults), [`cluster`] (crm_mon view), [`fenced`] (host-side
//!   fence daemon).
//! - Runs: [`lifecycle`] (make-all, rollback), [`runner`] (a scenario),
//!   [`probes`] (heartbeat probes on the VIPs),
//!   [`report`] (results, tables, JSON), [`live`] (`lab heartbeat`).
//! - Plumbing: [`cli`], [`exit`] (exit codes), [`host`] (host commands),
//!   [`labnet`] (runtime inside the lab network), [`paths`], [`secrets`],
//!   [`progress`].

pub mod accel;
pub mod backend;
pub mod baseline;
pub mod bench;
pub mod cli;
pub mod cluster;
mod commands;
pub mod config;
pub mod container;
pub mod distro;
pub mod exit;
pub mod faults;
pub mod fenced;
mod fenced_main;
pub mod guest;
pub mod host;
pub mod identity;
pub mod image;
pub mod iso;
pub mod kickstart;
pub mod labnet;
pub mod lifecycle;
pub mod live;
pub mod netns;
pub mod pacemaker;
pub mod paths;
pub mod probes;
pub mod profile;
pub mod progress;
pub mod pubkey;
pub mod qemu;
pub mod qmp;
pub mod render;
pub mod repo_mirror;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod secrets;
pub mod services;
pub mod sha_crypt;
pub mod stack;
pub mod stats;
pub mod status;
pub mod suite;
pub mod teardown;
#[cfg(test)]
mod testing;
pub mod topology;
pub mod virtualbox;
pub mod vm_disk;
