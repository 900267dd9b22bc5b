//! How lab learns it must stop: Ctrl-C (SIGINT) from a person, SIGTERM from
//! a CI runner whose job timed out or a service manager. Both end the work
//! in progress the same way: make-all removes its half-made lab, a suite
//! writes reports that say what did not run.

/// Resolves when SIGINT or SIGTERM arrives. Should the SIGTERM handler
/// fail to install (it never does on Linux), Ctrl-C still works.
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for SIGTERM; only Ctrl-C interrupts");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
