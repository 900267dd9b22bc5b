//! What makes each cloned host itself: hostname, hosts file, SSH host key,
//! machine id, the lab's client key, and the fence agent with its token.
//!
//! SSH host keys are generated on the host before the first boot, so the
//! lab's known_hosts is complete in advance and ssh never has to trust a key
//! on first use.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rand::RngExt;

use crate::backend::GuestFile;
use crate::host::{Host, HostError};
use crate::topology::{HostRole, HostSpec, Topology};

/// The guests' fence agent (see its own header).
const FENCE_AGENT: &str = include_str!("../../guest/fence_lab");

/// The lab's SSH material under `labs/<lab>/ssh/`.
#[derive(Clone, Debug)]
pub struct SshMaterial {
    dir: PathBuf,
}

impl SshMaterial {
    pub fn new(dir: &Path) -> Self {
        SshMaterial { dir: dir.to_owned() }
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("config")
    }

    fn host_key(&self, host: &str) -> PathBuf {
        self.dir.join("hostkeys").join(host)
    }

    /// Creates the client key, one host key per host, known_hosts and an ssh
    /// config that names every host.
    pub async fn generate(&self, topology: &Topology) -> Result<(), HostError> {
        let io = |e: std::io::Error| HostError::Spawn { command: format!("mkdir {}", self.dir.display()), source: e };
        std::fs::create_dir_all(self.dir.join("hostkeys")).map_err(io)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        keygen(&self.client_key(), &format!("lab@{}", topology.lab)).await?;
        let mut known_hosts = String::new();
        let mut config = String::new();
        for host in &topology.hosts {
            let key = self.host_key(&host.name);
            keygen(&key, &format!("root@{}", host.name)).await?;
            let public = std::fs::read_to_string(key.with_extension("pub")).map_err(io)?;
            let mut words = public.split_whitespace();
            let (kind, blob) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
            known_hosts.push_str(&format!("{},{} {kind} {blob}\n", host.name, host.address));
            config.push_str(&format!("Host {}\n    HostName {}\n", host.name, host.address));
        }
        config.push_str(&format!(
            "Host *\n    User root\n    IdentityFile {}\n    IdentitiesOnly yes\n    UserKnownHostsFile {}\n    \
             StrictHostKeyChecking yes\n    CheckHostIP no\n    ConnectTimeout 5\n    ServerAliveInterval 2\n    \
             ServerAliveCountMax 3\n    LogLevel ERROR\n",
            self.client_key().display(),
            self.known_hosts().display()
        ));
        std::fs::write(self.known_hosts(), known_hosts).map_err(io)?;
        std::fs::write(self.config(), config).map_err(io)?;
        Ok(())
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, HostError> {
        std::fs::read(path).map_err(|source| HostError::Spawn { command: format!("read {}", path.display()), source })
    }
}

async fn keygen(path: &Path, comment: &str) -> Result<(), HostError> {
    if path.exists() {
        return Ok(());
    }
    Host.run(
        "ssh-keygen",
        [
            "-q".as_ref(),
            "-t".as_ref(),
            "ed25519".as_ref(),
            "-N".as_ref(),
            "".as_ref(),
            "-C".as_ref(),
            comment.as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ],
    )
    .await
    .map(drop)
}

/// Files that make `host` itself, placed before its first boot.
pub fn guest_files(
    topology: &Topology,
    host: &HostSpec,
    ssh: &SshMaterial,
    extra_authorized_keys: &[String],
    fence_token: &str,
) -> Result<Vec<GuestFile>, HostError> {
    let file = GuestFile::new;
    let mut hosts = String::from("127.0.0.1\tlocalhost\n");
    for h in &topology.hosts {
        hosts.push_str(&format!("{}\t{}\n", h.address, h.name));
    }
    hosts.push_str(&format!("{}\tlab-host\n", topology.host_address));
    // The VIPs have names too, as Tuchanka's hosts file gives them: tools
    // that resolve an address (sm-notify, run by seed 004's nfsnotify from
    // the VIP) otherwise ask DNS, which no lab reaches, and fail.
    // A node names its own cluster's VIPs (the witness the first cluster's).
    let own = topology.cluster_of(&host.name).unwrap_or_else(|| topology.clone());
    for vip in own.named_vips() {
        hosts.push_str(&format!("{}\t{}\n", vip.address, vip.host_name));
    }
    let mut authorized = String::from_utf8_lossy(&ssh.read(&ssh.client_key().with_extension("pub"))?).into_owned();
    for key in extra_authorized_keys {
        authorized.push_str(key.trim());
        authorized.push('\n');
    }
    let host_key = ssh.host_key(&host.name);
    let mut files = vec![
        file("/etc/hostname", format!("{}\n", host.name).into_bytes(), 0o644),
        file("/etc/hosts", hosts.into_bytes(), 0o644),
        file("/etc/machine-id", format!("{}\n", machine_id()).into_bytes(), 0o444),
        file("/etc/ssh/ssh_host_ed25519_key", ssh.read(&host_key)?, 0o600),
        file("/etc/ssh/ssh_host_ed25519_key.pub", ssh.read(&host_key.with_extension("pub"))?, 0o644),
        file(
            "/etc/ssh/sshd_config.d/lab.conf",
            b"# lab: only the host key known in advance, keys only, no DNS lookups.\n\
              HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nUseDNS no\n"
                .to_vec(),
            0o644,
        ),
        file("/root/.ssh/authorized_keys", authorized.into_bytes(), 0o600),
    ];
    if host.role == HostRole::Node {
        files.push(file("/usr/sbin/fence_lab", FENCE_AGENT.as_bytes().to_vec(), 0o755));
        files.push(file(
            "/etc/lab/fence.conf",
            format!("host={}\nport={}\ntoken={fence_token}\n", topology.host_address, topology.fence_port).into_bytes(),
            0o600,
        ));
    }
    Ok(files)
}

fn machine_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn hosts_get_distinct_keys_and_the_agent_only_on_nodes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let topology = Topology::from_config(&Config::defaults().expect("config"), "img").expect("topology");
        let ssh = SshMaterial::new(dir.path());
        ssh.generate(&topology).await.expect("keys");
        let known = std::fs::read_to_string(ssh.known_hosts()).expect("known_hosts");
        assert_eq!(known.lines().count(), 3);
        assert!(known.contains("tuchanka-a,192.168.89.11 ssh-ed25519 "));

        let a =
            guest_files(&topology, &topology.hosts[0], &ssh, &["ssh-ed25519 AAAA user@x".into()], "tok").expect("a");
        let w = guest_files(&topology, &topology.hosts[2], &ssh, &[], "tok").expect("w");
        let get = |files: &[GuestFile], path: &str| {
            files.iter().find(|f| f.path == Path::new(path)).map(|f| f.contents.clone())
        };
        assert_ne!(get(&a, "/etc/ssh/ssh_host_ed25519_key"), get(&w, "/etc/ssh/ssh_host_ed25519_key"));
        assert_ne!(get(&a, "/etc/machine-id"), get(&w, "/etc/machine-id"));
        assert!(String::from_utf8_lossy(&get(&a, "/root/.ssh/authorized_keys").expect("keys")).contains("user@x"));
        assert!(get(&a, "/usr/sbin/fence_lab").is_some());
        assert!(get(&w, "/usr/sbin/fence_lab").is_none(), "the witness is never fenced");
        let conf = String::from_utf8_lossy(&get(&a, "/etc/lab/fence.conf").expect("conf")).into_owned();
        assert!(conf.contains("host=192.168.89.254") && conf.contains("token=tok"), "{conf}");
        let hosts = String::from_utf8_lossy(&get(&a, "/etc/hosts").expect("hosts")).into_owned();
        for line in ["192.168.89.12\ttuchanka-b", "192.168.89.251\twitness", "192.168.89.103\tmaster-vip"] {
            assert!(hosts.lines().any(|l| l == line), "{line}: {hosts}");
        }
    }
}
