//! MariaDB on DRBD, as seed 003 runs MySQL: one server under the
//! `ocf:heartbeat:mysql` agent, its data directory (`/var/lib/mysql`) on
//! the DRBD primary, listening on the stack's VIP. DRBD's protocol C makes
//! every commit InnoDB flushed (`innodb_flush_log_at_trx_commit = 1`,
//! MariaDB's default) reach both nodes' disks before it is acknowledged: a
//! power-off of the primary loses none.
//!
//! Probes write and read the `heartbeat` database through the VIP as the
//! `heartbeat` user, with the lab's heartbeat password.

use heartbeat::{AckCheck, AckError, MariadbReader, MariadbTarget, MariadbWriter, ProbeSettings, Recording, Role};

use super::probing::Probed;
use super::{Fragment, Placement, Runtime, ServiceName, ServiceSpec, drbd};
use crate::cluster::stack::{Stack, StackError, guest_script};
use crate::guest::{Guest, Script};
use crate::lifecycle::{Lab, LabError};
use crate::secrets::Secret;

/// MariaDB's own port: the seed's clients use it through the VIP.
pub const PORT: u16 = 3306;

pub const ON_DRBD: ServiceSpec = ServiceSpec {
    name: ServiceName::Mariadb,
    title: "MariaDB (mysql agent on DRBD)",
    runtime: Runtime::Mysql,
    placement: Placement::OnStorage { resource: "p_mysql", storage: drbd::MYSQL.clone },
    master_vip: drbd::MYSQL.vip,
    replica_vip: None,
    probes: &[Role::Writer, Role::Reader],
    process: Some("mariadbd"),
    cib: Fragment { name: "mariadb", text: include_str!("../../../guest/services/mariadb.cib.sh") },
};

/// Pacemaker starts MariaDB: systemd must never. Debian's package enables
/// `mariadb.socket` too, listening on port 3306 and MariaDB's socket: the
/// agent's first status check through that socket had systemd start a
/// second server, on the node's own `/var/lib/mysql` under the DRBD mount,
/// with none of the lab's users. Both units are masked. The data directory
/// is made on the replicated storage, with the probes' user and database.
pub async fn setup<G: Guest>(stack: &Stack<'_, G>, step: &crate::progress::Step) -> Result<(), StackError> {
    step.detail("MariaDB under Pacemaker");
    let not_at_boot = Script::command(
        "mariadb-not-by-systemd",
        "systemctl disable --now mariadb.socket mariadb.service >/dev/null 2>&1; \
         systemctl mask mariadb.socket mariadb.service >/dev/null"
            .into(),
    );
    stack.on_all(&stack.topology().node_names(), &not_at_boot).await?;
    step.detail("MariaDB data directory and heartbeat database on DRBD");
    let init = drbd::on_storage(guest_script!("services/mariadb-init.sh"));
    let init = stack
        .script(init)
        .env("HEARTBEAT_PASSWORD", stack.secret(Secret::Heartbeat)?)
        .env("HEARTBEAT_SCHEMA", heartbeat::mariadb::SCHEMA_SQL);
    stack.run(&stack.first_node()?, &init).await?;
    Ok(())
}

/// MariaDB's probes: through the stack's VIP, as the heartbeat user.
#[derive(Debug)]
pub struct Probes;

impl Probed for Probes {
    type Target = MariadbTarget;
    type Writer = MariadbWriter;
    type Reader = MariadbReader;

    fn target(spec: &ServiceSpec, lab: &Lab, _: Role) -> Result<MariadbTarget, LabError> {
        Ok(MariadbTarget {
            host: spec.master_vip.address.of(&lab.topology).to_string(),
            port: PORT,
            user: "heartbeat".into(),
            password: lab.secrets.get(Secret::Heartbeat)?,
            database: "heartbeat".into(),
        })
    }

    fn writer(target: MariadbTarget, settings: ProbeSettings, run_id: &str) -> MariadbWriter {
        MariadbWriter::new(target, settings, run_id)
    }

    fn reader(target: MariadbTarget, settings: ProbeSettings, run_id: &str) -> MariadbReader {
        MariadbReader::new(target, settings, run_id)
    }

    async fn check(target: MariadbTarget, settings: ProbeSettings, recording: Recording) -> Result<AckCheck, AckError> {
        heartbeat::check_mariadb_acknowledged(&target, &settings, &recording).await
    }
}
