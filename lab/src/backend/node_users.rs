//! A container node's users, mapped away from the host's.
//!
//! Every container node runs in a user namespace of its own: its root and
//! its service users (postgres, redis, hacluster) are host uids
//! `base..base + 65536`, which no host account has and no other node
//! shares. Its capabilities then act only on its own namespaces: it cannot
//! write host-wide kernel settings, read the host's kernel log or remount
//! what the host mounted for it.
//!
//! The shared guest image stays as mmdebstrap made it (owned by 0..65535).
//! A node sees it through an idmapped mount that shifts every owner by the
//! node's base; the node's own writable layer holds shifted owners, as the
//! node's processes write them. Files lab writes into a node from the host
//! are given to the node's root ([`write_owned`]).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::backend::GuestFile;

/// Host uids (and gids) of one node: `base` is its root.
pub const RANGE: u32 = 65536;
/// The bases lab chooses from: systemd-nspawn's own range for containers
/// (`--private-users=pick`), above every account a host has.
const FIRST: u32 = 0x0008_0000;
const LAST: u32 = 0x6FFF_0000;

#[derive(Debug, thiserror::Error)]
pub enum NodeUsersError {
    #[error("cannot {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(
        "host uids {base}..{end} of node `{node}` are in use by pid {pid} ({command}); \
         make the lab again (`lab make-all --force`) to get a free range"
    )]
    Taken { node: String, base: u32, end: u32, pid: i32, command: String },
    #[error("no free range of {RANGE} host uids is left for container nodes")]
    Exhausted,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeUsersError {
    let what = what.into();
    move |source| NodeUsersError::Io { what, source }
}

/// A range of host uids some user namespace maps onto: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn of_base(base: u32) -> Self {
        Span { start: base, end: base.saturating_add(RANGE) }
    }

    fn overlaps(self, other: Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// The host uids a process's user namespace maps onto, from the lines of
/// its `uid_map` (`inside outside count`); the host's own identity map maps
/// nothing away and counts as none.
pub fn mapped_spans(uid_map: &str) -> Vec<Span> {
    uid_map
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
            let (inside, outside, count) = (fields.next()??, fields.next()??, fields.next()??);
            if inside == 0 && outside == 0 && count == u64::from(u32::MAX) {
                return None;
            }
            let start = u32::try_from(outside).ok()?;
            Some(Span { start, end: u32::try_from(outside + count).unwrap_or(u32::MAX) })
        })
        .collect()
}

/// Every range of host uids some running process's user namespace maps
/// onto, with one such process (a zombie, which has exited, runs nothing).
pub fn spans_in_use() -> Vec<(Span, i32)> {
    let mut found = Vec::new();
    for pid in crate::process::running_pids() {
        if let Ok(map) = std::fs::read_to_string(format!("/proc/{pid}/uid_map")) {
            found.extend(mapped_spans(&map).into_iter().map(|span| (span, pid)));
        }
    }
    found
}

/// Bases for `count` nodes that overlap none of `taken`, starting from a
/// place drawn from `seed` (so that labs do not all crowd the first ranges).
pub fn choose(count: usize, taken: &[Span], seed: u64) -> Result<Vec<u32>, NodeUsersError> {
    let slots = (LAST - FIRST) / RANGE;
    let first = (seed % u64::from(slots)) as u32;
    let mut chosen: Vec<u32> = Vec::with_capacity(count);
    for step in 0..slots {
        if chosen.len() == count {
            break;
        }
        let base = FIRST + ((first + step) % slots) * RANGE;
        let span = Span::of_base(base);
        if !taken.iter().any(|t| t.overlaps(span)) {
            chosen.push(base);
        }
    }
    if chosen.len() < count {
        return Err(NodeUsersError::Exhausted);
    }
    Ok(chosen)
}

/// Refuses to start node `node` on `base` while another process's user
/// namespace maps onto its uids: two nodes would be the same host users.
pub fn refuse_if_taken(node: &str, base: u32) -> Result<(), NodeUsersError> {
    let span = Span::of_base(base);
    match spans_in_use().into_iter().find(|(other, _)| other.overlaps(span)) {
        Some((_, pid)) => Err(NodeUsersError::Taken {
            node: node.to_owned(),
            base,
            end: span.end,
            pid,
            command: crate::process::command_line(pid).trim().to_owned(),
        }),
        None => Ok(()),
    }
}

/// Mounts `source` at `target` with every owner shifted by `base` (an
/// idmapped bind mount): the image's root appears as host uid `base`.
/// No safe wrapper of mount_setattr(2) exists (rustix lists it as not
/// implemented yet): three raw system calls.
#[allow(unsafe_code)]
pub fn bind_shifted(source: &Path, target: &Path, base: u32) -> Result<(), NodeUsersError> {
    let userns = user_namespace(base)?;
    let source_c = c_path(source)?;
    let target_c = c_path(target)?;
    // SAFETY: plain system calls on paths and descriptors this function
    // owns; every result is checked.
    unsafe {
        let tree = libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source_c.as_ptr(),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
        );
        if tree < 0 {
            return Err(io(format!("clone the mount of {}", source.display()))(std::io::Error::last_os_error()));
        }
        let tree = OwnedFd::from_raw_fd(tree as i32);
        let attr = libc::mount_attr {
            attr_set: libc::MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        };
        let empty = c"";
        if libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        ) < 0
        {
            return Err(io(format!(
                "shift the owners of {} (idmapped mounts need Linux 5.12 or later)",
                source.display()
            ))(std::io::Error::last_os_error()));
        }
        if libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH as libc::c_uint,
        ) < 0
        {
            return Err(io(format!("mount {} at {}", source.display(), target.display()))(
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// A user namespace mapping 0..65536 onto `base..`: a short-lived child
/// enters a new one, lab writes its maps and keeps a descriptor of it.
fn user_namespace(base: u32) -> Result<OwnedFd, NodeUsersError> {
    let mut child = std::process::Command::new("unshare")
        .args(["--user", "sleep", "60"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(io("start a process for a user namespace (unshare)"))?;
    // unshare execs sleep once it is in the new namespace.
    let own = std::fs::read_link("/proc/self/ns/user").ok();
    let proc = PathBuf::from(format!("/proc/{}", child.id()));
    for _ in 0..200 {
        if std::fs::read_link(proc.join("ns/user")).ok() != own {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let result = (|| {
        let map = format!("0 {base} {RANGE}\n");
        std::fs::write(proc.join("uid_map"), &map).map_err(io("write a uid_map"))?;
        std::fs::write(proc.join("setgroups"), "deny").map_err(io("write setgroups"))?;
        std::fs::write(proc.join("gid_map"), &map).map_err(io("write a gid_map"))?;
        let file = std::fs::File::open(proc.join("ns/user")).map_err(io("open a user namespace"))?;
        Ok(OwnedFd::from(file))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn c_path(path: &Path) -> Result<CString, NodeUsersError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| NodeUsersError::Io {
        what: format!("use {}", path.display()),
        source: std::io::ErrorKind::InvalidInput.into(),
    })
}

/// Writes `files` under a node's `root` (its mounted overlay) as the node's
/// root user: lab writes as host root, whose uid the node does not map.
/// Directories created on the way are given to it too; existing ones keep
/// their owners.
pub fn write_owned(root: &Path, files: &[GuestFile], base: u32) -> std::io::Result<()> {
    let owner = Some(base);
    for file in files {
        let relative = file.path.strip_prefix("/").unwrap_or(&file.path);
        let mut dir = root.to_path_buf();
        if let Some(parent) = relative.parent() {
            for component in parent.components() {
                dir.push(component);
                if !dir.exists() {
                    std::fs::create_dir(&dir)?;
                    std::os::unix::fs::lchown(&dir, owner, owner)?;
                }
            }
        }
        crate::backend::write_tree(root, std::slice::from_ref(file))?;
        std::os::unix::fs::lchown(root.join(relative), owner, owner)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_own_map_maps_nothing_away() {
        assert_eq!(mapped_spans("         0          0 4294967295\n"), vec![]);
        assert_eq!(mapped_spans("         0    1048576      65536\n"), vec![Span { start: 1_048_576, end: 1_114_112 }]);
        assert_eq!(mapped_spans("garbage\n0 5\n"), vec![]);
    }

    #[test]
    fn chosen_bases_avoid_every_taken_range_and_each_other() {
        let first = FIRST + 7 * RANGE;
        let taken = [Span::of_base(first), Span { start: first + RANGE + 10, end: first + RANGE + 20 }];
        let bases = choose(3, &taken, 7).expect("free");
        assert_eq!(bases, vec![first + 2 * RANGE, first + 3 * RANGE, first + 4 * RANGE]);
        for base in &bases {
            assert!(*base >= FIRST && base + RANGE <= LAST);
            assert!(taken.iter().all(|t| !t.overlaps(Span::of_base(*base))));
        }
    }

    #[test]
    fn the_search_wraps_around_and_knows_when_nothing_is_left() {
        let slots = (LAST - FIRST) / RANGE;
        let last = FIRST + (slots - 1) * RANGE;
        assert_eq!(choose(2, &[], u64::from(slots - 1)).expect("free"), vec![last, FIRST]);
        let everything = [Span { start: 0, end: u32::MAX }];
        assert!(matches!(choose(1, &everything, 0), Err(NodeUsersError::Exhausted)));
    }
}
