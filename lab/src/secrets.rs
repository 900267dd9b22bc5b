//! Per-lab secrets: generated once per lab, never hard-coded, stored 0600.
//!
//! Each secret is one file under the lab's `secrets/` directory (0700), so a
//! user can read one with `cat` when debugging a node by hand.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngExt;

/// The secrets a lab needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Secret {
    /// Password of the `hacluster` user that pcsd authenticates.
    Hacluster,
    /// Password of the PostgreSQL `replicator` role.
    Replication,
    /// Password of the PostgreSQL `heartbeat` role used by the probes.
    Heartbeat,
    /// Token the guests' fence agent presents to the host fence daemon.
    FenceToken,
    /// Redis `requirepass` and `masterauth`.
    Redis,
    /// Corosync's `authkey`: encrypts and authenticates cluster traffic.
    CorosyncKey,
    /// Pacemaker's `authkey` (remote CIB and node communication).
    PacemakerKey,
    /// root's password on hosts installed from an ISO (the kickstart gets
    /// its SHA-512 crypt hash only); root logs in with keys.
    RootPassword,
}

impl Secret {
    pub const ALL: [Secret; 8] = [
        Secret::Hacluster,
        Secret::Replication,
        Secret::Heartbeat,
        Secret::FenceToken,
        Secret::Redis,
        Secret::CorosyncKey,
        Secret::PacemakerKey,
        Secret::RootPassword,
    ];

    /// Characters of the secret: passwords are typed into shells and SQL,
    /// keys are files whose length the daemons check (corosync wants at
    /// least 1024 bits).
    fn length(self) -> usize {
        match self {
            Secret::CorosyncKey | Secret::PacemakerKey => 256,
            _ => 24,
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Secret::Hacluster => "hacluster-password",
            Secret::Replication => "replication-password",
            Secret::Heartbeat => "heartbeat-password",
            Secret::FenceToken => "fence-token",
            Secret::Redis => "redis-password",
            Secret::CorosyncKey => "corosync-authkey",
            Secret::PacemakerKey => "pacemaker-authkey",
            Secret::RootPassword => "root-password",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot write secret {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read secret {}: {source} (run `lab make-all` to create the lab)", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

/// The secrets directory of one lab.
#[derive(Clone, Debug)]
pub struct Secrets {
    dir: PathBuf,
}

impl Secrets {
    pub fn new(dir: &Path) -> Self {
        Secrets { dir: dir.to_owned() }
    }

    /// Creates every secret that does not exist yet.
    pub fn generate(&self) -> Result<(), SecretError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|source| SecretError::Write { path: self.dir.clone(), source })?;
        for secret in Secret::ALL {
            let path = self.dir.join(secret.file_name());
            if path.exists() {
                continue;
            }
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
                file.write_all(random_secret(secret.length()).as_bytes())
            };
            write().map_err(|source| SecretError::Write { path: path.clone(), source })?;
        }
        Ok(())
    }

    pub fn get(&self, secret: Secret) -> Result<String, SecretError> {
        let path = self.dir.join(secret.file_name());
        std::fs::read_to_string(&path).map(|s| s.trim().to_owned()).map_err(|source| SecretError::Read { path, source })
    }
}

/// Writes a file only root may read (kickstarts: they carry the hosts'
/// private keys), replacing one that was there.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)
}

/// Alphanumeric characters (~5.95 bits each: 24 make ~142 bits), safe
/// inside shell and SQL quotes.
fn random_secret(length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..length).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_are_private_distinct_and_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::new(&dir.path().join("secrets"));
        secrets.generate().expect("generate");
        let first: Vec<String> = Secret::ALL.iter().map(|s| secrets.get(*s).expect("get")).collect();
        for (i, a) in first.iter().enumerate() {
            assert_eq!(a.len(), Secret::ALL[i].length());
            assert!(first[i + 1..].iter().all(|b| a != b), "secrets must differ");
        }
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        assert_eq!(mode(&dir.path().join("secrets/fence-token")), 0o600);
        secrets.generate().expect("again");
        let second: Vec<String> = Secret::ALL.iter().map(|s| secrets.get(*s).expect("get")).collect();
        assert_eq!(first, second, "generate keeps existing secrets");
    }
}
