//! Every difference between the guest distributions lab installs, in one
//! place: package names and repositories for the stack, where PostgreSQL
//! keeps its programs and data, service names, the firewall and the package
//! manager.
//!
//! Debian is the embedded guest image (`images/debian12.toml`); RHEL-like
//! 7, 8 and 9 are installed from an ISO with a kickstart, as Tuchanka does
//! with CentOS 7. PostgreSQL on RHEL-like hosts comes from PGDG (the
//! distribution's own is older and has no PAF), so its paths carry the
//! version: `/usr/pgsql-15/bin`, `/var/lib/pgsql/15/data`.
//!
//! Guest shell scripts get these facts as environment variables
//! ([`Family::guest_env`]) instead of testing for the distribution
//! themselves.

use std::fmt;

use crate::cluster::pacemaker::ClusterStack;

/// Which rebuild of RHEL an ISO holds: it decides where the packages that
/// are not on the ISO come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// CentOS Linux 7 (end of life: its repositories are on vault.centos.org).
    CentOs,
    /// CentOS Stream 8 or 9.
    CentOsStream,
    Rocky,
    Alma,
}

/// A guest distribution family and release.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "family")]
pub enum Family {
    /// Debian 12, the embedded guest image (and every lab made before lab
    /// knew other distributions).
    #[default]
    Debian,
    /// RHEL 7, 8 or 9 and its rebuilds.
    RhelLike { vendor: Vendor, major: u32 },
}

/// A package repository an installation needs besides the ISO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    /// A short name (kickstart `repo --name`).
    pub name: String,
    pub baseurl: String,
}

/// How a host's firewall must be opened for the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Firewall {
    /// No firewall runs (the Debian image installs none).
    None,
    /// firewalld runs: these services and TCP ports must be open.
    Firewalld { services: Vec<String>, tcp_ports: Vec<u16> },
}

impl Family {
    /// Packages the stack needs on every host (nodes and witness get the
    /// same set, as in Tuchanka), besides the distribution's minimal system.
    pub fn packages(&self, pg_version: u32) -> Vec<String> {
        let list: Vec<String> = match self {
            Family::Debian => [
                "openssh-server",
                "python3",
                "libxml2-utils",
                "corosync",
                "pacemaker",
                "pacemaker-cli-utils",
                "pcs",
                "corosync-qdevice",
                "corosync-qnetd",
                "resource-agents",
                "resource-agents-paf",
                "postgresql",
                "redis-server",
                // Partitions (packet filters on a node): nftables' iptables.
                "iptables",
            ]
            .map(str::to_owned)
            .to_vec(),
            Family::RhelLike { .. } => {
                let mut list: Vec<String> = [
                    "openssh-server",
                    "python3",
                    "libxml2",
                    "chrony",
                    "firewalld",
                    "policycoreutils",
                    // Cluster stack: base repository on 7, HighAvailability on 8 and 9.
                    "corosync",
                    "pacemaker",
                    "pcs",
                    "corosync-qdevice",
                    "corosync-qnetd",
                    "resource-agents",
                    // PAF (pgsqlms), from PGDG's common repository.
                    "resource-agents-paf",
                    // EPEL on 7, AppStream on 8 and 9.
                    "redis",
                    // Partitions (packet filters on a node).
                    "iptables",
                ]
                .map(str::to_owned)
                .to_vec();
                list.push(format!("postgresql{pg_version}-server"));
                list
            }
        };
        list
    }

    /// Repositories the packages come from besides the installation ISO
    /// (none for Debian: its image is built from the host's mirror).
    pub fn repos(&self, pg_version: u32) -> Vec<Repo> {
        let Family::RhelLike { vendor, major } = *self else {
            return Vec::new();
        };
        let repo = |name: &str, baseurl: String| Repo { name: name.to_owned(), baseurl };
        let mut repos = Vec::new();
        match vendor {
            Vendor::CentOs => {
                // A Minimal ISO holds no cluster stack; CentOS 7's mirrors are archived.
                repos.push(repo("base", format!("https://vault.centos.org/centos/{major}/os/x86_64/")));
                repos.push(repo("updates", format!("https://vault.centos.org/centos/{major}/updates/x86_64/")));
            }
            Vendor::CentOsStream => repos.push(repo(
                "highavailability",
                format!("https://mirror.stream.centos.org/{major}-stream/HighAvailability/x86_64/os/"),
            )),
            Vendor::Rocky => repos.push(repo(
                "highavailability",
                format!("https://dl.rockylinux.org/pub/rocky/{major}/HighAvailability/x86_64/os/"),
            )),
            Vendor::Alma => repos.push(repo(
                "highavailability",
                format!("https://repo.almalinux.org/almalinux/{major}/HighAvailability/x86_64/os/"),
            )),
        }
        if major == 7 {
            repos.push(repo("epel", "https://dl.fedoraproject.org/pub/archive/epel/7/x86_64/".into()));
            // PGDG moved its end-of-life RHEL 7 repositories to its archive.
            repos.push(repo("pgdg-common", "https://yum-archive.postgresql.org/common/redhat/rhel-7-x86_64/".into()));
            repos.push(repo(
                &format!("pgdg{pg_version}"),
                format!("https://yum-archive.postgresql.org/{pg_version}/redhat/rhel-7-x86_64/"),
            ));
        } else {
            let pgdg = "https://download.postgresql.org/pub/repos/yum";
            repos.push(repo("pgdg-common", format!("{pgdg}/common/redhat/rhel-{major}-x86_64/")));
            repos.push(repo(&format!("pgdg{pg_version}"), format!("{pgdg}/{pg_version}/redhat/rhel-{major}-x86_64/")));
        }
        repos
    }

    /// PostgreSQL's programs (`pg_ctl`, `pg_controldata`; PAF's `bindir`).
    pub fn pg_bindir(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => format!("/usr/lib/postgresql/{pg_version}/bin"),
            Family::RhelLike { .. } => format!("/usr/pgsql-{pg_version}/bin"),
        }
    }

    /// The database cluster's data directory (PAF's `datadir`).
    pub fn pg_datadir(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => format!("/var/lib/postgresql/{pg_version}/main"),
            Family::RhelLike { .. } => format!("/var/lib/pgsql/{pg_version}/data"),
        }
    }

    /// Where `postgresql.conf` lives (PAF's `pgdata`): Debian keeps it under
    /// /etc, PGDG in the data directory.
    pub fn pg_confdir(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => format!("/etc/postgresql/{pg_version}/main"),
            Family::RhelLike { .. } => self.pg_datadir(pg_version),
        }
    }

    /// [`Family::pg_datadir`] of the database cluster named `cluster`
    /// (`main` is the one every node has; Debian's `pg_createcluster`
    /// makes others beside it).
    pub fn pg_datadir_of(&self, pg_version: u32, cluster: &str) -> String {
        match self {
            Family::Debian => format!("/var/lib/postgresql/{pg_version}/{cluster}"),
            Family::RhelLike { .. } if cluster == "main" => self.pg_datadir(pg_version),
            Family::RhelLike { .. } => format!("/var/lib/pgsql/{pg_version}/{cluster}"),
        }
    }

    /// [`Family::pg_confdir`] of the database cluster named `cluster`.
    pub fn pg_confdir_of(&self, pg_version: u32, cluster: &str) -> String {
        match self {
            Family::Debian => format!("/etc/postgresql/{pg_version}/{cluster}"),
            Family::RhelLike { .. } => self.pg_datadir_of(pg_version, cluster),
        }
    }

    /// The postgres user's home (where `.pgpass` goes).
    pub fn pg_home(&self) -> &'static str {
        match self {
            Family::Debian => "/var/lib/postgresql",
            Family::RhelLike { .. } => "/var/lib/pgsql",
        }
    }

    /// The systemd unit that starts PostgreSQL at boot (stopped and
    /// disabled: the cluster manager starts it). On Debian that is the
    /// umbrella unit pulling in every `postgresql@VERSION-main`.
    pub fn pg_service(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => "postgresql".to_owned(),
            Family::RhelLike { .. } => format!("postgresql-{pg_version}"),
        }
    }

    /// The shell command that replaces the database cluster with a fresh,
    /// empty one (run by root; cloned hosts must not share a system
    /// identifier). Debian has its cluster tools; PGDG its setup script.
    pub fn pg_new_cluster(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => {
                format!("pg_dropcluster --stop {pg_version} main && pg_createcluster {pg_version} main >/dev/null")
            }
            Family::RhelLike { .. } => format!(
                "rm -rf {datadir} && {bindir}/postgresql-{pg_version}-setup initdb >/dev/null",
                datadir = self.pg_datadir(pg_version),
                bindir = self.pg_bindir(pg_version),
            ),
        }
    }

    /// The shell command that makes a second database cluster beside the
    /// first, named `$PG_CLUSTER` and listening on `$PG_PORT`, started by
    /// the cluster manager only.
    pub fn pg_add_cluster(&self, pg_version: u32) -> String {
        match self {
            Family::Debian => {
                format!(
                    "pg_createcluster {pg_version} \"$PG_CLUSTER\" --port \"$PG_PORT\" --start-conf manual >/dev/null"
                )
            }
            Family::RhelLike { .. } => format!(
                "runuser -u postgres -- {bindir}/initdb -D \"$PG_DATADIR\" >/dev/null && \
                 echo \"port = $PG_PORT\" >> \"$PG_DATADIR/postgresql.conf\"",
                bindir = self.pg_bindir(pg_version),
            ),
        }
    }

    pub fn redis_service(&self) -> &'static str {
        match self {
            Family::Debian => "redis-server",
            Family::RhelLike { .. } => "redis",
        }
    }

    pub fn redis_conf(&self) -> &'static str {
        match self {
            Family::Debian | Family::RhelLike { major: 9.., .. } => "/etc/redis/redis.conf",
            Family::RhelLike { .. } => "/etc/redis.conf",
        }
    }

    /// The generation of its cluster stack (see [`crate::cluster::pacemaker`]).
    pub fn cluster_stack(&self) -> ClusterStack {
        match self {
            Family::RhelLike { major: ..=7, .. } => ClusterStack::Pacemaker1,
            _ => ClusterStack::Pacemaker2,
        }
    }

    /// What must be opened: corosync, pcsd and qnetd (firewalld's
    /// `high-availability` service), ssh, PostgreSQL and Redis.
    pub fn firewall(&self, pg_port: u16, redis_port: u16) -> Firewall {
        match self {
            Family::Debian => Firewall::None,
            Family::RhelLike { .. } => Firewall::Firewalld {
                services: vec!["ssh".into(), "high-availability".into()],
                tcp_ports: vec![pg_port, redis_port],
            },
        }
    }

    pub fn package_manager(&self) -> &'static str {
        match self {
            Family::Debian => "apt-get",
            Family::RhelLike { major: ..=7, .. } => "yum",
            Family::RhelLike { .. } => "dnf",
        }
    }

    /// The facts above as environment variables for guest scripts:
    /// PG_BINDIR, PG_DATADIR, PG_CONFDIR, PG_HOME, PG_SERVICE,
    /// PG_NEW_CLUSTER (a command), REDIS_SERVICE, REDIS_CONF, FIREWALL
    /// (`firewalld` or `none`), PKG_MANAGER.
    pub fn guest_env(&self, pg_version: u32) -> Vec<(String, String)> {
        let firewall = match self.firewall(0, 0) {
            Firewall::None => "none",
            Firewall::Firewalld { .. } => "firewalld",
        };
        [
            ("PG_BINDIR", self.pg_bindir(pg_version)),
            ("PG_DATADIR", self.pg_datadir(pg_version)),
            ("PG_CONFDIR", self.pg_confdir(pg_version)),
            ("PG_HOME", self.pg_home().to_owned()),
            ("PG_SERVICE", self.pg_service(pg_version)),
            ("PG_NEW_CLUSTER", self.pg_new_cluster(pg_version)),
            ("PG_ADD_CLUSTER", self.pg_add_cluster(pg_version)),
            ("REDIS_SERVICE", self.redis_service().to_owned()),
            ("REDIS_CONF", self.redis_conf().to_owned()),
            ("FIREWALL", firewall.to_owned()),
            ("PKG_MANAGER", self.package_manager().to_owned()),
            ("CLUSTER_STACK", self.cluster_stack().guest_name().to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::Debian => f.write_str("Debian"),
            Family::RhelLike { major, .. } => write!(f, "RHEL-like {major}"),
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vendor::CentOs => "CentOS Linux",
            Vendor::CentOsStream => "CentOS Stream",
            Vendor::Rocky => "Rocky Linux",
            Vendor::Alma => "AlmaLinux",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTOS7: Family = Family::RhelLike { vendor: Vendor::CentOs, major: 7 };
    const ROCKY9: Family = Family::RhelLike { vendor: Vendor::Rocky, major: 9 };

    fn env(family: Family) -> std::collections::BTreeMap<String, String> {
        family.guest_env(15).into_iter().collect()
    }

    #[test]
    fn postgres_paths_follow_pgdg_on_rhel_and_debian_on_debian() {
        let rhel = env(CENTOS7);
        assert_eq!(rhel["PG_BINDIR"], "/usr/pgsql-15/bin");
        assert_eq!(rhel["PG_DATADIR"], "/var/lib/pgsql/15/data");
        assert_eq!(rhel["PG_CONFDIR"], "/var/lib/pgsql/15/data");
        assert_eq!(rhel["PG_SERVICE"], "postgresql-15");
        assert_eq!(rhel["FIREWALL"], "firewalld");
        assert_eq!(rhel["PKG_MANAGER"], "yum");
        assert_eq!(rhel["REDIS_CONF"], "/etc/redis.conf");

        let debian = env(Family::Debian);
        assert_eq!(debian["PG_BINDIR"], "/usr/lib/postgresql/15/bin");
        assert_eq!(debian["PG_DATADIR"], "/var/lib/postgresql/15/main");
        assert_eq!(debian["PG_CONFDIR"], "/etc/postgresql/15/main");
        assert_eq!(debian["PG_SERVICE"], "postgresql");
        assert_eq!(debian["PG_NEW_CLUSTER"], "pg_dropcluster --stop 15 main && pg_createcluster 15 main >/dev/null");
        assert_eq!(
            rhel["PG_NEW_CLUSTER"],
            "rm -rf /var/lib/pgsql/15/data && /usr/pgsql-15/bin/postgresql-15-setup initdb >/dev/null"
        );
        assert_eq!(debian["FIREWALL"], "none");
        assert_eq!(debian["PKG_MANAGER"], "apt-get");

        let rocky = env(ROCKY9);
        assert_eq!(rocky["PKG_MANAGER"], "dnf");
        assert_eq!(rocky["REDIS_CONF"], "/etc/redis/redis.conf");
        assert_eq!(rhel.keys().collect::<Vec<_>>(), debian.keys().collect::<Vec<_>>(), "same variables everywhere");
    }

    #[test]
    fn rhel_packages_include_pgdg_postgres_and_the_whole_stack() {
        let packages = CENTOS7.packages(13);
        for needed in ["pacemaker", "pcs", "corosync-qdevice", "corosync-qnetd", "resource-agents-paf", "redis"] {
            assert!(packages.iter().any(|p| p == needed), "{needed} in {packages:?}");
        }
        assert!(packages.contains(&"postgresql13-server".to_owned()));
        assert!(!packages.iter().any(|p| p == "postgresql"), "not the distribution's own PostgreSQL");
    }

    #[test]
    fn repositories_per_vendor_and_release() {
        let names = |family: Family| family.repos(15).into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(CENTOS7), ["base", "updates", "epel", "pgdg-common", "pgdg15"]);
        assert_eq!(names(ROCKY9), ["highavailability", "pgdg-common", "pgdg15"]);
        assert!(Family::Debian.repos(15).is_empty());
        let rocky = ROCKY9.repos(15);
        assert_eq!(rocky[0].baseurl, "https://dl.rockylinux.org/pub/rocky/9/HighAvailability/x86_64/os/");
        assert_eq!(rocky[2].baseurl, "https://download.postgresql.org/pub/repos/yum/15/redhat/rhel-9-x86_64/");
        let alma8 = Family::RhelLike { vendor: Vendor::Alma, major: 8 }.repos(16);
        assert_eq!(alma8[0].baseurl, "https://repo.almalinux.org/almalinux/8/HighAvailability/x86_64/os/");
    }

    #[test]
    fn only_rhel_7_runs_pacemaker_1_1() {
        assert_eq!(CENTOS7.cluster_stack(), ClusterStack::Pacemaker1);
        assert_eq!(ROCKY9.cluster_stack(), ClusterStack::Pacemaker2);
        assert_eq!(Family::RhelLike { vendor: Vendor::Alma, major: 8 }.cluster_stack(), ClusterStack::Pacemaker2);
        assert_eq!(Family::Debian.cluster_stack(), ClusterStack::Pacemaker2);
    }

    #[test]
    fn firewalld_opens_the_ha_service_and_the_service_ports() {
        assert_eq!(Family::Debian.firewall(5432, 6379), Firewall::None);
        assert_eq!(
            ROCKY9.firewall(5432, 6379),
            Firewall::Firewalld {
                services: vec!["ssh".into(), "high-availability".into()],
                tcp_ports: vec![5432, 6379]
            }
        );
    }

    /// The Debian list here must not drift from the image recipe that
    /// really installs it.
    #[test]
    fn debian_packages_are_in_the_image_recipe() {
        let recipe = include_str!("../../../images/debian12.toml");
        for package in Family::Debian.packages(15) {
            assert!(recipe.contains(&format!("\"{package}\"")), "{package} missing from images/debian12.toml");
        }
    }
}
