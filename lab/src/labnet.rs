//! A tokio runtime whose threads live in the lab's network namespace.
//!
//! The lab subnet exists only inside the lab namespace. A namespace is a
//! per-thread property and is inherited by threads and processes at
//! creation, so sockets (probes, fence daemon) and ssh processes must be
//! created from threads that entered it. This runtime's threads are started
//! by a thread that entered the namespace first; everything spawned on it
//! reaches the lab, and nothing else in lab has to care.

use std::future::Future;
use std::path::Path;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum LabNetError {
    #[error("cannot open network namespace {path}: {source} (is the lab up? try `lab status`)")]
    Open { path: String, source: std::io::Error },
    #[error("cannot enter network namespace {path}: {source}")]
    Enter { path: String, source: nix::Error },
    #[error("cannot start the lab network runtime: {0}")]
    Runtime(std::io::Error),
    #[error("a task in the lab network ended abnormally: {0}")]
    Task(String),
}

/// Handle to the lab-side runtime; dropping it stops the runtime.
#[derive(Debug)]
pub struct LabNet {
    handle: Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LabNet {
    /// Starts a runtime inside the namespace at `netns_path`.
    pub fn enter(netns_path: &Path) -> Result<Self, LabNetError> {
        let path = netns_path.display().to_string();
        let file =
            std::fs::File::open(netns_path).map_err(|source| LabNetError::Open { path: path.clone(), source })?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lab-net".into())
            .spawn(move || {
                if let Err(source) = nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET) {
                    let _ = ready_tx.send(Err(LabNetError::Enter { path, source }));
                    return;
                }
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("lab-net-worker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(LabNetError::Runtime(e)));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = shutdown_rx.await;
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(LabNetError::Runtime)?;
        let handle =
            ready_rx.recv().map_err(|_| LabNetError::Task("lab network thread died while starting".into()))??;
        Ok(LabNet { handle, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// Runs `future` inside the lab network and waits for it.
    pub async fn run<F>(&self, future: F) -> Result<F::Output, LabNetError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future).await.map_err(|e| LabNetError::Task(e.to_string()))
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for LabNet {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
