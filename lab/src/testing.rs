//! Test doubles for the side-effect traits, for unit tests only.

use std::collections::BTreeSet;
use std::sync::Mutex;

use std::time::Duration;

use crate::backend::{BackendError, Capabilities, GuestFile, NodeBackend};
use crate::guest::{Guest, GuestError, Script};
use crate::topology::HostSpec;

/// A [`NodeBackend`] that records calls and keeps a power state per node.
#[derive(Debug, Default)]
pub struct FakeBackend {
    running: Mutex<BTreeSet<String>>,
    calls: Mutex<Vec<String>>,
}

impl FakeBackend {
    pub fn with_running(nodes: &[&str]) -> Self {
        FakeBackend { running: Mutex::new(nodes.iter().map(|n| (*n).to_owned()).collect()), calls: Mutex::default() }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn call(&self, what: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(what);
        }
    }

    fn set(&self, node: &str, on: bool) {
        if let Ok(mut running) = self.running.lock() {
            if on {
                running.insert(node.to_owned())
            } else {
                running.remove(node)
            };
        }
    }
}

impl NodeBackend for FakeBackend {
    async fn create(&self, host: &HostSpec, files: &[GuestFile]) -> Result<(), BackendError> {
        self.call(format!("create {} ({} files)", host.name, files.len()));
        Ok(())
    }

    async fn start(&self, node: &str) -> Result<(), BackendError> {
        self.call(format!("start {node}"));
        self.set(node, true);
        Ok(())
    }

    async fn power_off(&self, node: &str) -> Result<(), BackendError> {
        self.call(format!("power_off {node}"));
        self.set(node, false);
        Ok(())
    }

    async fn is_running(&self, node: &str) -> Result<bool, BackendError> {
        Ok(self.running.lock().map(|r| r.contains(node)).unwrap_or(false))
    }

    async fn set_link(&self, node: &str, up: bool) -> Result<(), BackendError> {
        self.call(format!("set_link {node} {}", if up { "up" } else { "down" }));
        Ok(())
    }

    async fn link_is_up(&self, node: &str) -> Result<bool, BackendError> {
        let last = self.calls().into_iter().rev().find(|c| c.starts_with(&format!("set_link {node} ")));
        Ok(last.is_none_or(|c| c.ends_with(" up")))
    }

    async fn limit_cpu(&self, node: &str, percent: Option<u32>) -> Result<(), BackendError> {
        self.call(match percent {
            Some(percent) => format!("limit_cpu {node} {percent}%"),
            None => format!("limit_cpu {node} off"),
        });
        Ok(())
    }

    async fn save_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        self.call(format!("save_snapshot {name} {}", nodes.join(",")));
        Ok(())
    }

    async fn restore_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        self.call(format!("restore_snapshot {name} {}", nodes.join(",")));
        for node in nodes {
            self.set(node, false);
        }
        Ok(())
    }

    async fn delete_snapshot(&self, name: &str, nodes: &[String]) -> Result<(), BackendError> {
        self.call(format!("delete_snapshot {name} {}", nodes.join(",")));
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { own_kernel: false, live_snapshots: false, link_shaping: false, watchdog: false }
    }
}

/// Records what would be sent to each host; scripts on `failing` fail.
#[derive(Default)]
pub struct RecordingGuest {
    /// Each host sent a script and the script's text.
    pub sent: Mutex<Vec<(String, String)>>,
    /// Each host sent a script and the script's name.
    pub names: Mutex<Vec<(String, &'static str)>>,
    pub failing: Option<&'static str>,
}

impl Guest for RecordingGuest {
    async fn run(&self, node: &str, script: &Script) -> Result<String, GuestError> {
        self.sent.lock().expect("lock").push((node.to_owned(), script.render()));
        self.names.lock().expect("lock").push((node.to_owned(), script.name));
        if self.failing == Some(node) {
            return Err(GuestError::Failed {
                node: node.to_owned(),
                script: script.name.to_owned(),
                status: "exit status: 102".into(),
                stderr: "crm_resource: Could not connect to the controller".into(),
            });
        }
        Ok(String::new())
    }

    async fn wait_ready(&self, _node: &str, _timeout: Duration) -> Result<(), GuestError> {
        Ok(())
    }

    async fn forget(&self, _node: &str) {}
}
