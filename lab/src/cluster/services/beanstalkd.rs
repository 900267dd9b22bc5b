//! Beanstalkd, the work queue of skyha (seed 000), in a Docker container in
//! the group on the DRBD primary, its binlog on DRBD fsynced on every write
//! (`-f 0`), so a job whose `put` was acknowledged survives a failover.
//! Probes put numbered jobs through the stack's VIP, and afterwards every
//! acknowledged job must still be queued.

use heartbeat::{
    AckCheck, AckError, BeanstalkReader, BeanstalkTarget, BeanstalkWriter, ProbeSettings, Recording, Role,
};

use super::probing::Probed;
use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, drbd};
use crate::lifecycle::{Lab, LabError};

pub const CONTAINER: ServiceSpec = ServiceSpec {
    name: ServiceName::Beanstalkd,
    title: "Beanstalkd (Docker on DRBD)",
    // The seed names its resource, and so the container, `bstkd`.
    runtime: Runtime::Container { container: "bstkd", image: "beanstalkd" },
    placement: Placement::OnStorage { resource: "bstkd", storage: drbd::SKYHA.clone },
    master_vip: drbd::SKYHA.vip,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("beanstalkd"),
    cib: Fragment {
        name: "beanstalkd_container",
        text: include_str!("../../../guest/services/beanstalkd_container.cib.sh"),
    },
};

/// Beanstalkd's probes: through the service's master VIP.
#[derive(Debug)]
pub struct Probes;

impl Probed for Probes {
    type Target = BeanstalkTarget;
    type Writer = BeanstalkWriter;
    type Reader = BeanstalkReader;

    fn target(spec: &ServiceSpec, lab: &Lab, _: Role) -> Result<BeanstalkTarget, LabError> {
        let host = spec.master_vip.address.of(&lab.topology).to_string();
        Ok(BeanstalkTarget { host, port: lab.topology.beanstalkd_port })
    }

    fn writer(target: BeanstalkTarget, settings: ProbeSettings, run_id: &str) -> BeanstalkWriter {
        BeanstalkWriter::new(target, settings, run_id)
    }

    fn reader(target: BeanstalkTarget, settings: ProbeSettings, run_id: &str) -> BeanstalkReader {
        BeanstalkReader::new(target, settings, run_id)
    }

    async fn check(
        target: BeanstalkTarget,
        settings: ProbeSettings,
        recording: Recording,
    ) -> Result<AckCheck, AckError> {
        heartbeat::check_beanstalk_acknowledged(&target, &settings, &recording).await
    }
}
