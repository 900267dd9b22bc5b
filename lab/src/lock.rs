//! One command at a time changes a lab.
//!
//! Two commands changing the same lab at once (a suite rolling back the
//! nodes while a `destroy` removes them) would leave a lab neither of them
//! can explain. Commands that change a lab take an exclusive `flock` on
//! `locks/<lab>.lock` in the state directory (outside the lab's own
//! directory, which `destroy` removes) for as long as they run, and write
//! who they are into it; a second one fails at once naming the holder.
//! Read-only commands (`status`, `report`, `heartbeat`) take no lock. The
//! kernel drops the lock when its holder exits, however it exits, so a
//! crashed `lab` never leaves a lab locked.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::paths::LabPaths;

/// Held while a command changes the lab; released when dropped.
#[derive(Debug)]
pub struct LabLock {
    _held: FileLock,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lab `{lab}` is busy: {holder}; wait until it ends (or stop it), then try again")]
    Busy { lab: String, holder: String },
    #[error("cannot lock lab `{lab}` through {path}: {reason}")]
    Io { lab: String, path: String, reason: String },
}

impl LabLock {
    /// Takes the lab's lock for `command` (how the holder is described to
    /// a second command), or says who holds it.
    pub fn acquire(paths: &LabPaths, command: &str) -> Result<Self, LockError> {
        let path = paths.lock();
        match try_lock(&path, &format!("runs `{command}`")) {
            Ok(Ok(held)) => Ok(LabLock { _held: held }),
            Ok(Err(holder)) => Err(LockError::Busy { lab: paths.lab_name().to_owned(), holder }),
            Err(e) => Err(LockError::Io {
                lab: paths.lab_name().to_owned(),
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
}

/// Who holds the lab's lock now, as they described themselves, read
/// without taking it (`lab list` must not make a real command fail as
/// busy): the kernel's table of locks (`/proc/locks`) says whether any
/// process holds a `flock` on that very file.
pub fn holder(paths: &LabPaths) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = paths.lock();
    let file = std::fs::metadata(&path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    if !locks.lines().any(|line| flock_on(line, file.dev(), file.ino())) {
        return None;
    }
    let described = std::fs::read_to_string(&path).unwrap_or_default();
    Some(if described.trim().is_empty() { "another lab command holds it".into() } else { described })
}

/// Whether a `/proc/locks` line is a `flock` on the file `dev`/`ino`, e.g.
/// `3: FLOCK  ADVISORY  WRITE 27113 00:2a:1234 0 EOF` (device numbers in hex).
fn flock_on(line: &str, dev: u64, ino: u64) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // A blocked waiter's line starts `3: -> FLOCK ...`: skip the arrow.
    let fields: Vec<&str> = fields.into_iter().filter(|f| *f != "->").collect();
    if fields.get(1) != Some(&"FLOCK") {
        return false;
    }
    let Some(id) = fields.get(5) else { return false };
    let parts: Vec<&str> = id.split(':').collect();
    let [major, minor, inode] = parts[..] else { return false };
    let (major_of, minor_of) = (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff), (dev & 0xff) | ((dev >> 12) & !0xff));
    u64::from_str_radix(major, 16) == Ok(major_of)
        && u64::from_str_radix(minor, 16) == Ok(minor_of)
        && inode.parse() == Ok(ino)
}

/// An exclusive `flock` on a file, released when dropped (or when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct FileLock {
    _held: Flock<File>,
}

/// Takes the lock on `path` (made if missing) without waiting, writing
/// `pid N` and `what` into it; if another process holds it, what that one
/// wrote. Used for labs and for guest images being built.
pub fn try_lock(path: &Path, what: &str) -> std::io::Result<Result<FileLock, String>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            held.set_len(0)?;
            held.rewind()?;
            held.write_all(format!("pid {} {what}", std::process::id()).as_bytes())?;
            Ok(Ok(FileLock { _held: held }))
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Err(if holder.trim().is_empty() { "another lab command holds it".into() } else { holder }))
        }
        Err((_, errno)) => Err(std::io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_the_lock_frees_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = LabPaths::new(dir.path(), "locked");
        let first = LabLock::acquire(&paths, "lab suite").expect("first");
        let error = LabLock::acquire(&paths, "lab destroy").expect_err("busy").to_string();
        assert!(error.starts_with("lab `locked` is busy: pid "), "{error}");
        assert!(error.contains("runs `lab suite`"), "{error}");
        drop(first);
        let _again = LabLock::acquire(&paths, "lab destroy").expect("free once dropped");
        let other = LabPaths::new(dir.path(), "other");
        let _other = LabLock::acquire(&other, "lab suite").expect("another lab is another lock");
    }

    #[test]
    fn the_holder_is_read_without_taking_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = LabPaths::new(dir.path(), "held");
        assert_eq!(holder(&paths), None, "no lock file");
        let held = LabLock::acquire(&paths, "lab suite").expect("lock");
        let seen = holder(&paths).expect("held");
        assert!(seen.contains("runs `lab suite`"), "{seen}");
        let _still = holder(&paths);
        assert!(LabLock::acquire(&paths, "lab destroy").is_err(), "looking took nothing");
        drop(held);
        assert_eq!(holder(&paths), None, "released, though the file still names the last holder");
    }

    #[test]
    fn proc_locks_lines_are_matched_by_device_and_inode() {
        let dev = (0x2a << 8) | 0x03; // major 0x2a, minor 3
        assert!(flock_on("3: FLOCK  ADVISORY  WRITE 27113 2a:03:1234 0 EOF", dev, 1234));
        assert!(flock_on("3: -> FLOCK  ADVISORY  WRITE 27114 2a:03:1234 0 EOF", dev, 1234));
        assert!(!flock_on("3: FLOCK  ADVISORY  WRITE 27113 2a:03:1235 0 EOF", dev, 1234));
        assert!(!flock_on("3: POSIX  ADVISORY  WRITE 27113 2a:03:1234 0 EOF", dev, 1234));
        assert!(!flock_on("3: FLOCK  ADVISORY  WRITE 27113 2b:03:1234 0 EOF", dev, 1234));
    }
}
