//! Running commands on lab hosts, over SSH with host keys known in advance.
//!
//! Guest-side work is shell scripts embedded in lab (`lab/guest/*.sh`), sent
//! on stdin to `bash -s` with their parameters exported in front, so secrets
//! never appear on a command line. The [`Guest`] trait is what the cluster
//! setup and the scenarios use; [`SshGuest`] is the real thing.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use tokio::sync::Mutex;

use crate::install::identity::SshMaterial;
use crate::paths::LabPaths;

/// A guest-side shell script with its parameters.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: &'static str,
    body: std::borrow::Cow<'static, str>,
    env: Vec<(String, String)>,
}

impl Script {
    pub fn new(name: &'static str, body: &'static str) -> Self {
        Script { name, body: body.into(), env: Vec::new() }
    }

    /// One script made of `parts` in order: shell libraries first, then
    /// the script that uses them.
    pub fn composed(name: &'static str, parts: &[&'static str]) -> Self {
        Script { name, body: parts.join("\n").into(), env: Vec::new() }
    }

    /// The script with a shell library (functions, or steps every such
    /// script starts with) in front of its body.
    pub fn prepend(mut self, library: &'static str) -> Self {
        self.body = format!("{library}\n{}", self.body).into();
        self
    }

    /// An ad-hoc command (e.g. `crm_mon -1`).
    pub fn command(name: &'static str, command: String) -> Self {
        Script { name, body: "".into(), env: vec![("LAB_COMMAND".into(), command)] }
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }

    /// The text sent to `bash -s`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.env {
            text.push_str(&format!("export {key}={}\n", shell_quote(value)));
        }
        if self.body.is_empty() {
            text.push_str("eval \"$LAB_COMMAND\"\n");
        } else {
            text.push_str(&self.body);
        }
        text
    }
}

/// Quotes a value for a POSIX shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("cannot reach {node} over ssh: {message}")]
    Unreachable { node: String, message: String },
    #[error("{node} did not answer ssh within {timeout:?}; see its console log {}", console.display())]
    NeverAnswered { node: String, timeout: Duration, console: PathBuf },
    #[error("{script} on {node} failed ({status}): {stderr}")]
    Failed { node: String, script: String, status: String, stderr: String },
    #[error("{script} on {node} did not finish within {timeout:?}")]
    Timeout { node: String, script: String, timeout: Duration },
}

/// Runs scripts on lab hosts.
pub trait Guest: Send + Sync {
    /// Runs `script` on `node`; returns its stdout, or fails on non-zero exit.
    fn run(&self, node: &str, script: &Script) -> impl Future<Output = Result<String, GuestError>> + Send;
    /// Waits until `node` accepts commands.
    fn wait_ready(&self, node: &str, timeout: Duration) -> impl Future<Output = Result<(), GuestError>> + Send;
    /// Forgets connections to `node` (after a power-off, link-down or rollback).
    fn forget(&self, node: &str) -> impl Future<Output = ()> + Send;
}

/// [`Guest`] over OpenSSH multiplexed sessions, started inside the lab network.
#[derive(Clone, Debug)]
pub struct SshGuest {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The lab's client key, known hosts and ssh configuration.
    ssh: SshMaterial,
    /// Where the multiplexed sessions' sockets live.
    control_dir: PathBuf,
    labnet: Handle,
    command_timeout: Duration,
    /// Where a node that never answers keeps its console log.
    paths: LabPaths,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl SshGuest {
    /// Sessions to the hosts of the lab at `paths`; `labnet` must be a
    /// runtime inside the lab network namespace.
    pub fn new(paths: LabPaths, labnet: Handle, command_timeout: Duration) -> Self {
        SshGuest {
            inner: Arc::new(Inner {
                ssh: SshMaterial::new(&paths.ssh()),
                control_dir: paths.ssh_control(),
                labnet,
                command_timeout,
                paths,
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    async fn session(&self, node: &str) -> Result<Arc<Session>, GuestError> {
        let mut sessions = self.inner.sessions.lock().await;
        if let Some(session) = sessions.get(node) {
            if session.check().await.is_ok() {
                return Ok(session.clone());
            }
            sessions.remove(node);
        }
        let inner = self.inner.clone();
        let target = node.to_owned();
        let session = self
            .inner
            .labnet
            .spawn(async move {
                std::fs::create_dir_all(&inner.control_dir).map_err(|e| e.to_string())?;
                SessionBuilder::default()
                    .config_file(inner.ssh.config())
                    .user_known_hosts_file(inner.ssh.known_hosts())
                    .known_hosts_check(KnownHosts::Strict)
                    .connect_timeout(Duration::from_secs(5))
                    .server_alive_interval(Duration::from_secs(2))
                    .control_directory(&inner.control_dir)
                    .connect_mux(&target)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|message| GuestError::Unreachable { node: node.to_owned(), message })?;
        let session = Arc::new(session);
        sessions.insert(node.to_owned(), session.clone());
        Ok(session)
    }

    async fn run_once(&self, node: &str, script: &Script) -> Result<String, GuestError> {
        let session = self.session(node).await?;
        let text = script.render();
        tracing::info!(node, script = script.name, "guest");
        tracing::debug!(node, script = script.name, body = %redact(&text), "guest script");
        let unreachable = |e: openssh::Error| GuestError::Unreachable { node: node.to_owned(), message: e.to_string() };
        let work = async {
            let mut child = session
                .command("bash")
                .arg("-c")
                .arg(RUN_SCRIPT)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
                .map_err(unreachable)?;
            if let Some(mut stdin) = child.stdin().take() {
                stdin
                    .write_all(text.as_bytes())
                    .await
                    .map_err(|e| GuestError::Unreachable { node: node.to_owned(), message: e.to_string() })?;
                drop(stdin);
            }
            child.wait_with_output().await.map_err(unreachable)
        };
        let output =
            tokio::time::timeout(self.inner.command_timeout, work).await.map_err(|_| GuestError::Timeout {
                node: node.to_owned(),
                script: script.name.to_owned(),
                timeout: self.inner.command_timeout,
            })??;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.trim().is_empty() {
            tracing::debug!(node, script = script.name, stderr = %stderr.trim(), "guest stderr");
        }
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(GuestError::Failed {
                node: node.to_owned(),
                script: script.name.to_owned(),
                status: output.status.to_string(),
                stderr: crate::host::tail(&format!("{stdout}\n{stderr}")),
            })
        }
    }
}

/// How a script runs on a host: `bash -s` reading it from stdin. Exit status
/// 127 (a command the script runs was not found, or a container's) is
/// passed on as 126: ssh clients take 127 for "the remote command could not
/// be executed" and drop the script's output, which says what was missing.
const RUN_SCRIPT: &str = "bash -s; status=$?; [ \"$status\" -ne 127 ] || status=126; exit \"$status\"";

/// Hides exported values in logs: they may be secrets.
fn redact(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("export ").and_then(|rest| rest.split_once('=')) {
            Some((key, _)) => format!("export {key}=…"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Guest for SshGuest {
    async fn run(&self, node: &str, script: &Script) -> Result<String, GuestError> {
        let result = self.run_once(node, script).await;
        if matches!(result, Err(GuestError::Unreachable { .. } | GuestError::Timeout { .. })) {
            self.forget(node).await;
        }
        result
    }

    async fn wait_ready(&self, node: &str, timeout: Duration) -> Result<(), GuestError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let probe = Script::command("ready", "systemctl is-system-running --wait >/dev/null 2>&1; true".into());
        loop {
            match self.run_once(node, &probe).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    self.forget(node).await;
                    if tokio::time::Instant::now() >= deadline {
                        tracing::warn!(node, error = %e, "never answered");
                        return Err(GuestError::NeverAnswered {
                            node: node.to_owned(),
                            timeout,
                            console: self.inner.paths.console(node),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn forget(&self, node: &str) {
        let session = self.inner.sessions.lock().await.remove(node);
        if let Some(session) = session {
            if let Ok(session) = Arc::try_unwrap(session) {
                let _ = tokio::time::timeout(Duration::from_secs(2), session.close()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn script_exports_parameters_before_the_body() {
        let text = Script::new("x", "echo \"$A\"\n").env("A", "a b").render();
        assert_eq!(text, "export A='a b'\necho \"$A\"\n");
    }

    /// Runs `text` here the way a host runs a script ([`RUN_SCRIPT`]).
    async fn run_as_a_host_would(text: &str) -> std::process::Output {
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(RUN_SCRIPT)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bash");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).await.expect("write");
        drop(stdin);
        child.wait_with_output().await.expect("output")
    }

    #[tokio::test]
    async fn rendered_script_runs_in_bash_with_its_parameters() {
        let script = Script::new("x", "printf '%s|%s' \"$A\" \"$B\"\n").env("A", "it's").env("B", "$HOME `x`");
        let out = run_as_a_host_would(&script.render()).await;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's|$HOME `x`");
    }

    /// A script whose command is missing fails with its output kept.
    #[tokio::test]
    async fn a_missing_command_is_exit_126_with_its_message() {
        let out = run_as_a_host_would("set -e\nno-such-lab-command\necho never\n").await;
        assert_eq!(out.status.code(), Some(126));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-lab-command: command not found"));
    }

    #[test]
    fn logs_never_show_exported_values() {
        let text = Script::new("x", "true\n").env("PASSWORD", "hunter2").render();
        assert!(!redact(&text).contains("hunter2"));
    }
}
