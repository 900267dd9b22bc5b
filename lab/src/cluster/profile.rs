//! Stack profiles: which services a lab's cluster runs, composed from
//! [`crate::cluster::services`], and on which backends it can.
//!
//! Chosen with `[stack] profile` (or `lab make-all --stack NAME`) and
//! recorded in `lab.json`, so every later command acts on the stack the lab
//! was made with. `lab stacks` lists them.

use serde::{Deserialize, Serialize};

use crate::cluster::services::{
    Placement, Runtime, ServiceName, ServiceSpec, beanstalkd, drbd, mariadb, nfs, postgres, redis,
};
use crate::config::BackendKind;

/// A stack profile lab can build, by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// Tuchanka's second cluster (seed 002): PAF PostgreSQL and Redis.
    #[default]
    Tuchanka,
    /// Tuchanka's first cluster (seed 002): two PAF PostgreSQL databases
    /// consolidated on two nodes, each node master of one.
    Tuchanka1,
    /// skyha (seed 000): PostgreSQL, Redis and Beanstalkd in Docker
    /// containers and an NFS export, all on a DRBD primary behind one VIP.
    Skyha,
    /// drbd-nfs (seed 004): an NFS export on DRBD (xfs) behind one VIP.
    DrbdNfs,
    /// drbd-mariadb (seed 003): MariaDB with its data on DRBD (xfs) behind one VIP.
    DrbdMariadb,
}

/// What a profile is made of.
#[derive(Debug)]
pub struct StackProfile {
    pub name: ProfileName,
    pub description: &'static str,
    /// Where the stack comes from among the seed documents.
    pub seed: &'static str,
    /// Its services, in the order their resources are made (a group's
    /// members start in this order).
    pub services: &'static [&'static ServiceSpec],
    /// The resource group that holds the services' `<service>_group`
    /// primitives, if the stack has one.
    pub group: Option<&'static str>,
    /// Packages the guest image needs beyond the common HA stack.
    pub packages: &'static [&'static str],
    /// The backends that can run it (DRBD needs a kernel of its own).
    pub backends: &'static [BackendKind],
    /// The scenario to try first on a new lab: the seed's own test.
    pub first_scenario: &'static str,
}

/// A service asked of a stack that does not run it.
#[derive(Debug, thiserror::Error)]
#[error("the {stack} stack runs no {service}")]
pub struct NotInStack {
    pub stack: ProfileName,
    pub service: ServiceName,
}

/// A profile for `lab stacks --json`.
#[derive(Debug, Serialize)]
pub struct ProfileSummary {
    pub name: ProfileName,
    pub description: &'static str,
    pub seed: &'static str,
    pub services: Vec<ServiceName>,
    pub backends: &'static [BackendKind],
}

const TUCHANKA: StackProfile = StackProfile {
    name: ProfileName::Tuchanka,
    description: "Tuchanka's second cluster: PostgreSQL streaming replication under PAF with a master and \
                  a replica VIP, Redis with its master VIP, qdevice on the witness, fencing",
    seed: "002 (Tuchanka)",
    services: &[&postgres::PAF, &redis::AGENT],
    group: None,
    packages: &[],
    backends: &[BackendKind::Container, BackendKind::Qemu, BackendKind::VirtualBox],
    first_scenario: "kill-postgres-master",
};

const TUCHANKA1: StackProfile = StackProfile {
    name: ProfileName::Tuchanka1,
    description: "Tuchanka's first cluster: two PostgreSQL databases under PAF consolidated on two nodes, each \
                  at home as master on one node and replica on the other, a master VIP each and no replica \
                  VIP, qdevice on the witness, fencing",
    seed: "002 (Tuchanka)",
    services: &[&postgres::PAF_AT_HOME, &postgres::PAF_SECOND],
    group: None,
    packages: &[],
    // Its second database is made with Debian's pg_createcluster: lab's
    // own image only (VirtualBox hosts are installed from a RHEL-like ISO).
    backends: &[BackendKind::Container, BackendKind::Qemu],
    first_scenario: "poweroff-master",
};

const SKYHA: StackProfile = StackProfile {
    name: ProfileName::Skyha,
    description: "skyha: DRBD on a loop file, and on its primary a group of the file system, one VIP, \
                  PostgreSQL, Redis and Beanstalkd in Docker containers and an NFS export; qdevice on the \
                  witness, fencing",
    seed: "000 (skyha)",
    services: &[&drbd::STORAGE, &postgres::CONTAINER, &redis::CONTAINER, &beanstalkd::CONTAINER, &nfs::SERVER],
    group: Some("master-group"),
    // Debian's kernel enables AppArmor, and dockerd then confines every
    // container with its profile: without apparmor_parser (a Recommends of
    // docker.io, which images leave out) no container starts.
    packages: &["drbd-utils", "docker.io", "apparmor", "nfs-kernel-server", "e2fsprogs"],
    // DRBD is a kernel module: containers share the host's kernel. Its
    // packages are Debian's, and VirtualBox hosts are installed from a
    // RHEL-like ISO: QEMU with lab's own image only.
    backends: &[BackendKind::Qemu],
    // The seed's "docker stop redis".
    first_scenario: "docker-stop-redis",
};

const DRBD_NFS: StackProfile = StackProfile {
    name: ProfileName::DrbdNfs,
    description: "NFS on DRBD: DRBD on a loop file, and on its primary the group nfsshare of a VIP, the xfs \
                  file system, the kernel NFS server, its export and nfsnotify; qdevice on the witness, fencing",
    seed: "004 (NFS on DRBD with pcs)",
    services: &[&drbd::NFSDATA_STORAGE, &nfs::NFSDATA_SERVER],
    group: Some("nfsshare"),
    packages: &["drbd-utils", "nfs-kernel-server", "xfsprogs"],
    backends: &[BackendKind::Qemu],
    // The seed's own test: `pcs cluster standby` of the NFS server's node.
    first_scenario: "standby-master",
};

const DRBD_MARIADB: StackProfile = StackProfile {
    name: ProfileName::DrbdMariadb,
    description: "MariaDB on DRBD: DRBD on a loop file, and on its primary the group g_mysql of a VIP, the xfs \
                  file system at /var/lib/mysql and MariaDB under the mysql agent; qdevice on the witness, fencing",
    seed: "003 (MySQL on DRBD with Pacemaker)",
    services: &[&drbd::MYSQL_STORAGE, &mariadb::ON_DRBD],
    group: Some("g_mysql"),
    packages: &["drbd-utils", "mariadb-server", "xfsprogs"],
    backends: &[BackendKind::Qemu],
    first_scenario: "kill-mariadb",
};

impl ProfileName {
    pub const ALL: &[ProfileName] = &[
        ProfileName::Tuchanka,
        ProfileName::Tuchanka1,
        ProfileName::Skyha,
        ProfileName::DrbdNfs,
        ProfileName::DrbdMariadb,
    ];

    pub fn profile(self) -> &'static StackProfile {
        match self {
            ProfileName::Tuchanka => &TUCHANKA,
            ProfileName::Tuchanka1 => &TUCHANKA1,
            ProfileName::Skyha => &SKYHA,
            ProfileName::DrbdNfs => &DRBD_NFS,
            ProfileName::DrbdMariadb => &DRBD_MARIADB,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::Tuchanka => "tuchanka",
            ProfileName::Tuchanka1 => "tuchanka1",
            ProfileName::Skyha => "skyha",
            ProfileName::DrbdNfs => "drbd-nfs",
            ProfileName::DrbdMariadb => "drbd-mariadb",
        }
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl StackProfile {
    /// The service a fault is about when the scenario names none: the
    /// first one with probes.
    pub fn primary(&self) -> ServiceName {
        self.services.iter().find(|s| !s.probes.is_empty()).unwrap_or(&self.services[0]).name
    }

    /// Which of the lab's VIP addresses its services carry, each once.
    pub fn vip_addresses(&self) -> Vec<crate::cluster::services::VipAddress> {
        let mut addresses = Vec::new();
        let vips = self.services.iter().flat_map(|s| std::iter::once(s.master_vip).chain(s.replica_vip));
        for vip in vips {
            if !addresses.contains(&vip.address) {
                addresses.push(vip.address);
            }
        }
        addresses
    }

    /// Its services' names, in order.
    pub fn names(&self) -> Vec<ServiceName> {
        self.services.iter().map(|s| s.name).collect()
    }

    pub fn has(&self, service: ServiceName) -> bool {
        self.spec(service).is_some()
    }

    /// How this stack runs `service`, if it runs it.
    pub fn spec(&self, service: ServiceName) -> Option<&'static ServiceSpec> {
        self.services.iter().copied().find(|s| s.name == service)
    }

    /// How this stack runs `service`, which it must run (a scenario was
    /// checked against the stack before it ran).
    pub fn require(&self, service: ServiceName) -> Result<&'static ServiceSpec, NotInStack> {
        self.spec(service).ok_or(NotInStack { stack: self.name, service })
    }

    /// The primitive whose promotion moves `service`'s master: its own
    /// promotable clone's, or that of the clone holding its storage.
    pub fn promoted_primitive(&self, service: &ServiceSpec) -> Option<&'static str> {
        let clone = service.promotable();
        self.services.iter().find_map(|s| match s.placement {
            Placement::Promotable { clone: c, primitive, .. } if c == clone => Some(primitive),
            _ => None,
        })
    }

    /// The replicated storage its services keep their data on, if any.
    pub fn storage(&self) -> Option<&'static drbd::Volume> {
        self.services.iter().find_map(|s| match s.runtime {
            Runtime::Drbd(volume) => Some(volume),
            _ => None,
        })
    }

    /// Why a DRBD device of `size_mb` (`stack.drbd_size_mb`) cannot hold
    /// this stack's file system, if it cannot.
    pub fn refuses_storage_size(&self, size_mb: u32) -> Option<String> {
        let fstype = self.storage()?.fstype;
        (size_mb < fstype.min_size_mb()).then(|| {
            format!(
                "{size_mb} MiB is too small for the {} stack's {} file system: set it to {} or more",
                self.name,
                fstype.as_str(),
                fstype.min_size_mb()
            )
        })
    }

    /// Why it cannot run on a cluster of `nodes` nodes, if it cannot: DRBD
    /// replicates between two (the seeds' resources name two hosts).
    pub fn refuses_nodes(&self, nodes: usize) -> Option<String> {
        self.storage()?;
        (nodes != 2).then(|| format!("the {} stack runs on two nodes (DRBD pairs them), not {nodes}", self.name))
    }

    /// The Docker images its containers need.
    pub fn container_images(&self) -> Vec<&'static crate::cluster::services::container::ContainerImage> {
        let images: Vec<&str> = self.services.iter().filter_map(|s| s.image()).collect();
        crate::cluster::services::container::IMAGES.iter().filter(|i| images.contains(&i.name)).collect()
    }

    /// Why this stack cannot run on `backend`, if it cannot: make-all
    /// refuses before anything is made.
    pub fn refuses(&self, backend: BackendKind) -> Option<String> {
        (!self.backends.contains(&backend)).then(|| {
            let fits: Vec<String> = self.backends.iter().map(|b| format!("--backend {b}")).collect();
            format!("the {} stack does not run on the {backend} backend; use {}", self.name, fits.join(" or "))
        })
    }

    /// The profile as `lab stacks --json` shows it.
    pub fn summary(&self) -> ProfileSummary {
        ProfileSummary {
            name: self.name,
            description: self.description,
            seed: self.seed,
            services: self.names(),
            backends: self.backends,
        }
    }

    /// The profile as `lab stacks` shows it.
    pub fn render(&self) -> String {
        let services: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        let backends: Vec<String> = self.backends.iter().map(ToString::to_string).collect();
        format!(
            "{:<10}{}\n{:<10}services: {}\n{:<10}backends: {}\n{:<10}seed:     {}\n",
            self.name,
            self.description,
            "",
            services.join(", "),
            "",
            backends.join(", "),
            "",
            self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuchanka_is_the_default_and_runs_everywhere() {
        let profile = ProfileName::default().profile();
        assert_eq!(profile.name, ProfileName::Tuchanka);
        assert_eq!(profile.primary(), ServiceName::Postgres);
        assert!(profile.has(ServiceName::Redis));
        for backend in [BackendKind::Container, BackendKind::Qemu, BackendKind::VirtualBox] {
            assert_eq!(profile.refuses(backend), None);
        }
    }

    /// make-all ends suggesting it: it must exist and run on the stack.
    #[test]
    fn each_stack_s_first_scenario_is_a_builtin_one_written_for_it() {
        use crate::run::catalog::{Resolved, resolve};
        use crate::run::scenario::Scenario;
        for name in ProfileName::ALL {
            let first = name.profile().first_scenario;
            let Resolved::Builtin { text, .. } = resolve(first) else { panic!("{name}: no scenario {first}") };
            let scenario = Scenario::parse(first, "builtin", text).expect("parses");
            assert!(scenario.stacks.contains(name), "{first} is not written for {name}");
        }
    }

    #[test]
    fn names_serialize_as_the_config_spells_them() {
        for name in ProfileName::ALL {
            assert_eq!(serde_json::to_value(name).expect("json"), name.as_str());
            assert_eq!(name.profile().name, *name);
        }
    }

    /// Pacemaker's logs name the primitive, not the clone: a failover's
    /// promotion is looked for under these names.
    #[test]
    fn a_master_moves_with_the_promotion_of_its_own_or_its_storage_primitive() {
        let primitive = |profile: &StackProfile, service| {
            profile.promoted_primitive(profile.require(service).expect("in the stack"))
        };
        assert_eq!(primitive(&TUCHANKA, ServiceName::Postgres), Some("pgsqld"));
        assert_eq!(primitive(&TUCHANKA, ServiceName::Redis), Some("redisd"));
        let skyha = ProfileName::Skyha.profile();
        for service in
            [ServiceName::Postgres, ServiceName::Redis, ServiceName::Beanstalkd, ServiceName::Nfs, ServiceName::Drbd]
        {
            assert_eq!(primitive(skyha, service), Some("skydata"), "{service}");
        }
    }

    /// mkfs.xfs refuses file systems under 300 MB: refused when read, not
    /// at set-up twenty minutes later.
    #[test]
    fn an_xfs_stack_refuses_a_device_mkfs_would() {
        let nfs = ProfileName::DrbdNfs.profile();
        assert_eq!(nfs.storage(), Some(&drbd::NFSDATA));
        let why = nfs.refuses_storage_size(256).expect("too small for xfs");
        assert_eq!(why, "256 MiB is too small for the drbd-nfs stack's xfs file system: set it to 320 or more");
        assert_eq!(nfs.refuses_storage_size(320), None);
        assert_eq!(ProfileName::Skyha.profile().refuses_storage_size(64), None, "ext4 fits");
        assert_eq!(TUCHANKA.refuses_storage_size(64), None, "no DRBD at all");
    }

    #[test]
    fn drbd_pairs_two_nodes_and_paf_takes_any_number() {
        let why = ProfileName::DrbdNfs.profile().refuses_nodes(4).expect("four nodes on DRBD");
        assert_eq!(why, "the drbd-nfs stack runs on two nodes (DRBD pairs them), not 4");
        assert_eq!(ProfileName::DrbdNfs.profile().refuses_nodes(2), None);
        assert_eq!(TUCHANKA.refuses_nodes(4), None);
    }

    #[test]
    fn a_stack_refused_on_a_backend_names_the_ones_that_run_it() {
        let only_vms = StackProfile { backends: &[BackendKind::Qemu], ..TUCHANKA };
        let why = only_vms.refuses(BackendKind::Container).expect("refused");
        assert_eq!(why, "the tuchanka stack does not run on the container backend; use --backend qemu");
    }
}
