//! What every service run as a Docker container shares (skyha, seed 000):
//! the image lab builds offline for it, its data directory on the
//! replicated storage, and the set-up that fills that directory once.
//!
//! No registry is reachable from a lab: each image is a root file system
//! made by mmdebstrap from the service's Debian package when the guest
//! image is built ([`crate::install::image`]), shipped inside the guest
//! image and `docker import`ed on every node at install time. dockerd runs
//! with overlay2 storage on the node's ext4, no iptables and no bridge;
//! containers use the node's network, so the VIP reaches them directly.

use super::{ServiceName, ServiceSpec, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::Guest;
use crate::secrets::Secret;

/// An image lab builds for a container: its name in `docker images`, the
/// Debian packages its root file system holds, and what of them it leaves
/// out. Every node imports every image at install, which under TCG costs
/// about a minute per 30 MB: an image carries only what its service runs.
#[derive(Debug, PartialEq, Eq)]
pub struct ContainerImage {
    pub name: &'static str,
    pub packages: &'static [&'static str],
    /// Files of those packages not installed (dpkg path-exclude patterns).
    pub excluded: &'static [&'static str],
    /// Paths their installation made that are removed afterwards.
    pub removed: &'static [&'static str],
}

/// What no container image needs: message translations.
pub const EXCLUDED_FROM_EVERY_IMAGE: &[&str] = &["/usr/share/locale/*"];

/// Where the guest image keeps the images' tarballs.
pub const TARBALLS: &str = "/usr/local/share/lab/containers";

/// The image of each service that can run in a container. Debian 12's
/// PostgreSQL is 15, whose programs are in [`POSTGRES_BINDIR`].
pub const IMAGES: &[ContainerImage] = &[
    ContainerImage {
        name: "postgres",
        packages: &["postgresql"],
        // LLVM (and its z3) is only PostgreSQL's JIT, off in the container
        // (guest/services/postgres-container-init.sh): a quarter of the image.
        excluded: &["/usr/lib/x86_64-linux-gnu/libLLVM-*", "/usr/lib/x86_64-linux-gnu/libz3.so*"],
        // The package's own cluster: the container's is made on DRBD.
        removed: &["/var/lib/postgresql/15/main", "/etc/postgresql/15/main"],
    },
    ContainerImage { name: "redis", packages: &["redis-server"], excluded: &[], removed: &[] },
    ContainerImage { name: "beanstalkd", packages: &["beanstalkd"], excluded: &[], removed: &[] },
];

/// PostgreSQL's programs inside its image (Debian 12's PostgreSQL 15).
pub const POSTGRES_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// Fills the service's data directory on the replicated storage, from the
/// first node, with the storage mounted outside the cluster.
pub async fn setup<G: Guest>(
    spec: &ServiceSpec,
    stack: &Stack<'_, G>,
    step: &crate::progress::Step,
) -> Result<(), StackError> {
    step.detail(format!("{} container data on DRBD", spec.name));
    let script = match spec.name {
        ServiceName::Postgres => drbd::on_storage(guest_script!("services/postgres-container-init.sh"))
            .env("CONTAINER_PG_BINDIR", POSTGRES_BINDIR)
            .env("HEARTBEAT_PASSWORD", stack.secret(Secret::Heartbeat)?)
            .env("HEARTBEAT_SCHEMA", heartbeat::SCHEMA_SQL),
        ServiceName::Redis => drbd::on_storage(guest_script!("services/redis-container-init.sh"))
            .env("REDIS_PASSWORD", stack.secret(Secret::Redis)?),
        ServiceName::Beanstalkd => drbd::on_storage(guest_script!("services/beanstalkd-container-init.sh")),
        ServiceName::PostgresB | ServiceName::Drbd | ServiceName::Nfs | ServiceName::Mariadb => return Ok(()),
    };
    stack.run(&stack.first_node()?, &stack.script(script)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::profile::ProfileName;

    /// Every container a stack runs has an image lab knows how to build.
    #[test]
    fn every_container_has_an_image() {
        for profile in ProfileName::ALL {
            for spec in profile.profile().services {
                if let Some(image) = spec.image() {
                    assert!(IMAGES.iter().any(|i| i.name == image), "{}'s image {image} is not built", spec.name);
                }
            }
        }
    }
}
