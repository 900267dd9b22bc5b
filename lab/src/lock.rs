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
}
