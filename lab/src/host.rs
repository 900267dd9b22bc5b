//! Running programs on the host.
//!
//! Every host-side action (ip, mount, mmdebstrap, systemd-nspawn, ssh-keygen)
//! goes through [`Host`], so each one is logged the same way and its failure
//! names the command and the tail of its stderr.

use std::ffi::OsStr;
use std::process::Stdio;

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("`{program}` is not installed: {hint}")]
    Missing { program: String, hint: &'static str },
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed { command: String, status: std::process::ExitStatus, stderr: String },
}

/// Host programs lab needs, with the Debian package that provides each.
pub const REQUIRED_TOOLS: &[(&str, &str)] = &[
    ("ip", "apt-get install iproute2"),
    ("mmdebstrap", "apt-get install mmdebstrap"),
    ("systemd-nspawn", "apt-get install systemd-container"),
    ("ssh", "apt-get install openssh-client"),
    ("ssh-keygen", "apt-get install openssh-client"),
    ("mount", "apt-get install mount"),
    ("qemu-system-x86_64", "apt-get install qemu-system-x86"),
    ("qemu-img", "apt-get install qemu-utils"),
    ("mkfs.ext4", "apt-get install e2fsprogs"),
    ("xorriso", "apt-get install xorriso"),
];

/// Fails with the install hint for the first tool of `tools` not on PATH.
pub fn require(tools: &[&str]) -> Result<(), HostError> {
    for tool in tools {
        if which(tool).is_none() {
            return Err(missing(tool));
        }
    }
    Ok(())
}

/// A tool that is not installed, with the Debian package that provides it.
fn missing(tool: &str) -> HostError {
    let hint = REQUIRED_TOOLS.iter().find(|(name, _)| *name == tool).map_or("install it", |(_, hint)| hint);
    HostError::Missing { program: tool.to_owned(), hint }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Runs host programs, logging each command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Host;

impl Host {
    /// Runs `program args…` to completion and returns its stdout.
    pub async fn run<I, S>(&self, program: &str, args: I) -> Result<String, HostError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args);
        self.output(command).await
    }

    /// Runs a prepared command to completion and returns its stdout.
    pub async fn output(&self, mut command: Command) -> Result<String, HostError> {
        let line = describe(&command);
        tracing::info!(command = %line, "host");
        let output = command
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| HostError::Spawn { command: line.clone(), source })?;
        finish(line, output)
    }

    /// Like [`Host::run`], blocking the thread, for the few callers that are
    /// not async (reading and making ISOs). A program that is not installed
    /// is reported with the package to install.
    pub fn run_blocking<I, S>(&self, program: &str, args: I) -> Result<String, HostError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = std::process::Command::new(program);
        command.args(args).stdin(Stdio::null());
        let line = describe_std(&command);
        tracing::info!(command = %line, "host");
        let output = command.output().map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => missing(program),
            _ => HostError::Spawn { command: line.clone(), source },
        })?;
        finish(line, output)
    }
}

/// A finished command's stdout, or the failure with its stderr's tail.
fn finish(line: String, output: std::process::Output) -> Result<String, HostError> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(HostError::Failed { command: line, status: output.status, stderr: tail(&stderr) })
    }
}

/// The command line as a user would type it, for logs and errors.
pub fn describe(command: &Command) -> String {
    describe_std(command.as_std())
}

fn describe_std(command: &std::process::Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last few lines of a program's error output: enough to act on,
/// short enough for a one-line error.
pub fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() { "no error output".to_owned() } else { joined }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failure_names_command_and_stderr() {
        let err = Host.run("sh", ["-c", "echo first >&2; echo boom >&2; exit 3"]).await.expect_err("fails");
        let msg = err.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("first | boom"), "{msg}");
    }

    #[tokio::test]
    async fn success_returns_stdout() {
        assert_eq!(Host.run("echo", ["hi"]).await.expect("echo"), "hi\n");
    }

    #[test]
    fn missing_tool_names_the_package() {
        let err = require(&["definitely-not-a-tool-xyz"]).expect_err("missing");
        assert!(err.to_string().contains("definitely-not-a-tool-xyz"));
        let err = HostError::Missing { program: "mmdebstrap".into(), hint: "apt-get install mmdebstrap" };
        assert!(err.to_string().contains("apt-get install mmdebstrap"));
    }
}
