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
    let hint = if tool == "qemu-system-x86_64" && qemu_utils_blocks_the_emulator() {
        QEMU_FROM_BOOKWORM
    } else {
        REQUIRED_TOOLS.iter().find(|(name, _)| *name == tool).map_or("install it", |(_, hint)| hint)
    };
    HostError::Missing { program: tool.to_owned(), hint }
}

/// The way to the emulator when a newer qemu-utils stands in its way.
///
/// Some Debian 12 machine images ship qemu-utils from backports (10.x), which
/// declares `Breaks: qemu-system-common (<< 1:8.0)`, while Debian 12 itself
/// offers QEMU 7.2: `apt-get install qemu-system-x86` then fails with "held
/// broken packages". Taking qemu-utils back to bookworm's makes one set.
const QEMU_FROM_BOOKWORM: &str = "the installed qemu-utils is newer than Debian 12's qemu-system-x86 accepts \
     (it Breaks qemu-system-common < 8); install QEMU as one set from bookworm: \
     apt-get install --allow-downgrades qemu-system-x86 qemu-utils/bookworm";

/// Whether this host is Debian 12 with a qemu-img of QEMU 8 or later, the
/// case where [`QEMU_FROM_BOOKWORM`] is the fix.
fn qemu_utils_blocks_the_emulator() -> bool {
    let codename = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let qemu_img = std::process::Command::new("qemu-img").arg("--version").stdin(Stdio::null()).output();
    let version = qemu_img.map(|out| String::from_utf8_lossy(&out.stdout).into_owned()).unwrap_or_default();
    is_bookworm(&codename) && qemu_major(&version).is_some_and(|major| major >= 8)
}

fn is_bookworm(os_release: &str) -> bool {
    os_release.lines().any(|line| line.trim() == "VERSION_CODENAME=bookworm")
}

/// The major version in `qemu-img --version`'s first line ("qemu-img version 10.0.2 (...)").
fn qemu_major(version_output: &str) -> Option<u32> {
    let version = version_output.lines().next()?.strip_prefix("qemu-img version ")?;
    version.split('.').next()?.parse().ok()
}

/// Where `program` is on PATH (or in /usr/sbin, /sbin), if anywhere.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Whether the host kernel has tc netem (the kernel of every container's
/// link): loaded, built in, or a module it can load. Read from /sys and
/// /lib/modules, never by trying (a try would change the host).
pub fn kernel_has_netem() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = std::path::Path::new("/lib/modules").join(release.trim());
    let listed = |file: &str| std::fs::read_to_string(modules.join(file)).is_ok_and(|text| lists_netem(&text));
    std::path::Path::new("/sys/module/sch_netem").exists() || listed("modules.builtin") || listed("modules.dep")
}

/// Whether a modules.dep or modules.builtin lists sch_netem.
fn lists_netem(text: &str) -> bool {
    text.lines().any(|line| {
        let path = line.split(':').next().unwrap_or_default();
        path.rsplit('/').next().is_some_and(|file| file.starts_with("sch_netem.ko"))
    })
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

    #[test]
    fn netem_is_found_in_module_lists_by_its_file_name() {
        let dep = "kernel/net/sched/sch_prio.ko.xz:\nkernel/net/sched/sch_netem.ko.xz:\n";
        assert!(lists_netem(dep));
        assert!(lists_netem("kernel/net/sched/sch_netem.ko\n"), "modules.builtin");
        assert!(!lists_netem("kernel/net/sched/sch_prio.ko.xz:\nkernel/net/sched/sch_netem_extra.txt:\n"));
    }

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

    #[test]
    fn a_backported_qemu_utils_is_recognised_on_bookworm_only() {
        let backport = "qemu-img version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025\n";
        let bookworm = "qemu-img version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18+b2)\n";
        assert_eq!(qemu_major(backport), Some(10));
        assert_eq!(qemu_major(bookworm), Some(7));
        assert_eq!(qemu_major(""), None);
        assert!(is_bookworm("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n"));
        assert!(!is_bookworm("VERSION_CODENAME=trixie\n"));
    }

    #[test]
    fn the_conflict_hint_is_a_command_that_resolves_it() {
        let err = HostError::Missing { program: "qemu-system-x86_64".into(), hint: QEMU_FROM_BOOKWORM };
        let msg = err.to_string();
        assert!(msg.contains("Breaks qemu-system-common < 8"), "{msg}");
        assert!(msg.ends_with("apt-get install --allow-downgrades qemu-system-x86 qemu-utils/bookworm"), "{msg}");
    }
}
