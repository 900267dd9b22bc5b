//! Processes on the host: the pids lab keeps in files, the processes in a
//! lab's network namespaces, and killing them and waiting until they are
//! gone. Everything reads `/proc`; a process that is gone (or a zombie,
//! which has exited but not been waited for) counts as gone everywhere.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// The pid in a pid file, if it holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// SIGKILLs every process in a network namespace until none is left.
pub async fn kill_namespace(ns: &str, timeout: Duration) -> Result<(), String> {
    kill_until_gone(|| pids_in(ns), timeout).await.map(drop)
}

/// SIGKILLs the processes `pids` finds, again and again, until it finds
/// none; how many it found at first.
pub async fn kill_until_gone(pids: impl Fn() -> Vec<i32>, timeout: Duration) -> Result<usize, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let found = pids().len();
    loop {
        let pids = pids();
        if pids.is_empty() {
            return Ok(found);
        }
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("processes {pids:?} are still there after SIGKILL"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every process on the host that has not exited (zombies left out).
pub fn running_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.parse::<i32>().ok())
        .filter(|pid| !is_zombie(*pid))
        .collect()
}

/// SIGKILLs a process and waits until it has exited.
pub async fn kill_and_wait(pid: i32, timeout: Duration) -> bool {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    wait_gone(pid, timeout).await
}

/// Waits until a process has exited (a zombie counts as exited).
pub async fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !is_zombie(pid) {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Processes whose network namespace is `ns`: for a container node these
/// are all of its processes, init included.
pub fn pids_in(ns: &str) -> Vec<i32> {
    let Ok(target) = std::fs::metadata(crate::netns::netns_path(ns)) else {
        return Vec::new();
    };
    running_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
        })
        .collect()
}

/// A process's arguments, argv[0] first; empty when it is gone.
pub fn args(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

pub fn command_line(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// A zombie has exited; only its parent's wait is missing.
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_a_zombie() {
        assert!(!is_zombie(std::process::id() as i32));
        assert!(is_zombie(-1), "a pid that does not exist counts as gone");
    }
}

/// Kills a whole process group when dropped: a tool that runs others
/// (mmdebstrap runs apt and dpkg inside the image it builds) is started as
/// the leader of a group of its own, and an interrupted build then takes
/// every one of them down with it, not only the leader `kill_on_drop`
/// reaches.
#[derive(Debug)]
pub struct GroupKiller {
    group: Option<i32>,
}

impl GroupKiller {
    /// Guards the group `leader` leads (a child spawned with
    /// `process_group(0)`).
    pub fn new(leader: Option<u32>) -> Self {
        GroupKiller { group: leader.and_then(|pid| i32::try_from(pid).ok()) }
    }

    /// The group ended by itself: nothing to kill.
    pub fn disarm(mut self) {
        self.group = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            tracing::info!(group, "killing an interrupted tool and everything it started");
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), nix::sys::signal::Signal::SIGKILL);
        }
    }
}
