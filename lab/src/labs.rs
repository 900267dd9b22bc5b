//! `lab list`: every lab on this host (one state directory), like
//! `vagrant global-status`: what it is, what runs, which snapshots it has,
//! how its last run ended and whether a command is working on it now.
//!
//! It only looks: no lab's network is entered, no lock taken, no host
//! touched (a running suite must not see its lab busy because someone
//! listed it).

use std::path::Path;

use serde::Serialize;

use crate::backend::{Backend, NodeBackend};
use crate::config::{BackendKind, Config};
use crate::paths::LabPaths;
use crate::topology::Topology;

/// One lab in `lab list`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabSummary {
    pub name: String,
    /// Made and described by its lab.json; otherwise what an interrupted or
    /// failed make-all kept (`lab destroy` removes it).
    pub complete: bool,
    pub backend: Option<BackendKind>,
    pub stack: Option<crate::cluster::profile::ProfileName>,
    pub hosts: usize,
    /// Hosts powered on; none when the backend could not say.
    pub running: Option<usize>,
    pub snapshots: Vec<String>,
    pub last_run: Option<LastRun>,
    /// The command working on the lab now, as it described itself.
    pub busy: Option<String>,
}

/// The newest scenario or suite run of a lab.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LastRun {
    /// `suite` or the scenario's name.
    pub label: String,
    pub started_unix_ms: u128,
    /// pass, FAIL, ERROR or INCOMPLETE.
    pub verdict: String,
}

/// Every lab under `state_dir`, by name.
pub async fn list(state_dir: &Path, config: &Config) -> Vec<LabSummary> {
    let mut labs = Vec::new();
    for name in names(state_dir) {
        labs.push(summarise(&LabPaths::new(state_dir, &name), config).await);
    }
    labs
}

/// The names of the labs under `state_dir` (whole or half-made), sorted.
pub fn names(state_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state_dir.join("labs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn summarise(paths: &LabPaths, config: &Config) -> LabSummary {
    let name = paths.lab_name().to_owned();
    let snapshots = crate::snapshot::list(paths).into_iter().map(|s| s.name).collect();
    let last_run = last_run(&paths.runs());
    let busy = crate::lock::holder(paths);
    let Ok(topology) = Topology::load(&paths.manifest(), &name) else {
        return LabSummary {
            name,
            complete: false,
            backend: None,
            stack: None,
            hosts: 0,
            running: None,
            snapshots,
            last_run,
            busy,
        };
    };
    let running = match Backend::open(paths, &topology, config) {
        Ok(backend) => count_running(&backend, &topology.host_names()).await,
        Err(_) => None,
    };
    LabSummary {
        name,
        complete: true,
        backend: Some(topology.backend),
        stack: Some(topology.stack),
        hosts: topology.hosts.len(),
        running,
        snapshots,
        last_run,
        busy,
    }
}

async fn count_running(backend: &impl NodeBackend, hosts: &[String]) -> Option<usize> {
    let mut running = 0;
    for host in hosts {
        running += usize::from(backend.is_running(host).await.ok()?);
    }
    Some(running)
}

fn last_run(runs: &Path) -> Option<LastRun> {
    let results = crate::report::results::newest_results(runs)?;
    let suite = crate::report::results::SuiteResults::load(&results).ok()?;
    Some(LastRun {
        verdict: suite.verdict().word().to_owned(),
        label: suite.label,
        started_unix_ms: suite.started_unix_ms,
    })
}

/// `lab list` for people: a table, one lab a line.
pub fn render(labs: &[LabSummary]) -> String {
    if labs.is_empty() {
        return "no labs here; `lab make-all` makes one\n".into();
    }
    let mut out =
        format!("{:<16} {:<10} {:<9} {:<8} {:<28} {}\n", "LAB", "BACKEND", "STACK", "RUNNING", "SNAPSHOTS", "LAST RUN");
    for lab in labs {
        let (backend, stack) = match (lab.backend, lab.stack) {
            (Some(backend), Some(stack)) => (backend.to_string(), stack.to_string()),
            _ => ("-".into(), "-".into()),
        };
        let running = match (lab.complete, lab.running) {
            (false, _) => "-".to_owned(),
            (true, Some(n)) => format!("{n}/{}", lab.hosts),
            (true, None) => format!("?/{}", lab.hosts),
        };
        let snapshots = if lab.snapshots.is_empty() { "-".to_owned() } else { lab.snapshots.join(",") };
        let last = lab.last_run.as_ref().map_or_else(
            || "-".to_owned(),
            |run| format!("{} {} {}", run.verdict, run.label, crate::report::render::utc(run.started_unix_ms)),
        );
        out.push_str(&format!("{:<16} {backend:<10} {stack:<9} {running:<8} {snapshots:<28} {last}\n", lab.name));
        if !lab.complete {
            out.push_str(&format!(
                "  {}: incomplete (no lab.json); `lab --lab {} destroy` removes it\n",
                lab.name, lab.name
            ));
        }
        if let Some(busy) = &lab.busy {
            out.push_str(&format!("  {}: busy, {busy}\n", lab.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(name: &str) -> LabSummary {
        LabSummary {
            name: name.into(),
            complete: true,
            backend: Some(BackendKind::Container),
            stack: Some(crate::cluster::profile::ProfileName::Tuchanka),
            hosts: 3,
            running: Some(0),
            snapshots: vec!["install".into(), "setup".into()],
            last_run: None,
            busy: None,
        }
    }

    #[test]
    fn the_table_says_what_runs_what_failed_and_what_is_half_made() {
        let done = LabSummary {
            running: Some(3),
            last_run: Some(LastRun {
                label: "suite".into(),
                started_unix_ms: 1_796_083_200_000,
                verdict: "FAIL".into(),
            }),
            busy: Some("pid 7 runs `lab suite`".into()),
            ..lab("nightly")
        };
        let half = LabSummary {
            complete: false,
            backend: None,
            stack: None,
            hosts: 0,
            running: None,
            snapshots: vec![],
            ..lab("broken")
        };
        let text = render(&[done, half]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("LAB "), "{text}");
        assert!(lines[1].starts_with("nightly          container  tuchanka  3/3      install,setup"), "{text}");
        assert!(lines[1].ends_with("FAIL suite 2026-12-01 00:00:00 UTC"), "{text}");
        assert_eq!(lines[2], "  nightly: busy, pid 7 runs `lab suite`");
        assert!(lines[3].starts_with("broken           -          -         -        -"), "{text}");
        assert_eq!(lines[4], "  broken: incomplete (no lab.json); `lab --lab broken destroy` removes it");
        assert_eq!(render(&[]), "no labs here; `lab make-all` makes one\n");
    }
}
