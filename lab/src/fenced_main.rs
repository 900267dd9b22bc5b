//! `lab fenced`: the process that serves the fence daemon.
//!
//! It enters the lab network namespace on its main thread before any other
//! thread exists, so the whole process lives there: it listens on the host's
//! lab address, and `lab destroy` finds it among the namespace's processes.

use std::process::ExitCode;
use std::sync::Arc;

use crate::backend::Backend;
use crate::config::Config;
use crate::exit::Failure;
use crate::fenced::{FenceDaemon, serve};
use crate::netns;
use crate::paths::LabPaths;
use crate::secrets::{Secret, Secrets};
use crate::topology::Topology;

pub fn run(config: &Config, paths: &LabPaths) -> Result<ExitCode, Failure> {
    let topology = Topology::load(&paths.manifest(), &config.lab.name).map_err(Failure::usage)?;
    let token = Secrets::new(&paths.secrets()).get(Secret::FenceToken).map_err(Failure::infra)?;
    let netns = std::fs::File::open(netns::lab_namespace(paths, topology.backend)).map_err(Failure::infra)?;
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(Failure::infra)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(Failure::infra)?;
    let backend = Backend::open(paths, &topology, config).map_err(Failure::usage)?;
    let daemon =
        Arc::new(FenceDaemon::new(backend, token, topology.node_names(), paths.root().join("fence-events.jsonl")));
    let address = std::net::SocketAddr::from((topology.host_address, topology.fence_port));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| Failure::Infrastructure(format!("fence daemon cannot listen on {address}: {e}")))?;
        tracing::info!(%address, "fence daemon listening");
        serve(listener, daemon).await;
        Ok(ExitCode::SUCCESS)
    })
}
