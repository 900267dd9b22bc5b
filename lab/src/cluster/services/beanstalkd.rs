//! Beanstalkd, the work queue of skyha (seed 000), in a Docker container in
//! the group on the DRBD primary, its binlog on DRBD fsynced on every write
//! (`-f 0`), so a job whose `put` was acknowledged survives a failover.
//! Probes put numbered jobs through the stack's VIP, and afterwards every
//! acknowledged job must still be queued.

use heartbeat::{AckCheck, BeanstalkReader, BeanstalkTarget, BeanstalkWriter, ProbeSettings, Recording, Role};

use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, drbd};
use crate::lifecycle::{Lab, LabError};
use crate::run::probes::ProbeRun;

pub const CONTAINER: ServiceSpec = ServiceSpec {
    name: ServiceName::Beanstalkd,
    title: "Beanstalkd (Docker on DRBD)",
    // The seed names its resource, and so the container, `bstkd`.
    runtime: Runtime::Container { container: "bstkd", image: "beanstalkd" },
    placement: Placement::OnStorage { resource: "bstkd", storage: drbd::CLONE },
    master_vip: drbd::VIP,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("beanstalkd"),
    cib: Fragment {
        name: "beanstalkd_container",
        text: include_str!("../../../guest/services/beanstalkd_container.cib.sh"),
    },
};

/// Where Beanstalkd probes connect: the service's master VIP.
pub fn target(spec: &ServiceSpec, lab: &Lab) -> BeanstalkTarget {
    BeanstalkTarget { host: spec.master_vip.address.of(&lab.topology).to_string(), port: lab.topology.beanstalkd_port }
}

pub fn launch_probe(
    spec: &ServiceSpec,
    lab: &Lab,
    role: Role,
    settings: ProbeSettings,
    run: ProbeRun,
) -> Result<tokio::task::JoinHandle<Recording>, LabError> {
    let target = target(spec, lab);
    Ok(super::launch_role(
        lab,
        (role, run),
        (target, settings),
        |target, settings, run_id| BeanstalkWriter::new(target, settings, run_id),
        |target, settings, run_id| BeanstalkReader::new(target, settings, run_id),
    ))
}

pub async fn check_acknowledged(
    spec: &ServiceSpec,
    lab: &Lab,
    settings: ProbeSettings,
    recording: Recording,
) -> Result<AckCheck, LabError> {
    let target = target(spec, lab);
    let check = async move { heartbeat::check_beanstalk_acknowledged(&target, &settings, &recording).await };
    super::check_on_lab_network(lab, spec.name, check).await
}
