//! Heartbeat probes for a database behind a floating IP.
//!
//! A writer commits one numbered write per tick and a reader reads the latest
//! one back, on persistent connections with tight timeouts. Attempts start
//! on every tick even while earlier ones still wait on a dead VIP
//! ([`probe`]), so the moment the database stops answering (and the moment it
//! answers again) is observed within one probe period. From the recorded
//! attempts the crate derives outage windows ([`outage`]) and, after
//! recovery, whether any write the database acknowledged was lost, and which
//! committed without an acknowledgement ([`ack`]).
//!
//! These services are supported, with the same recording format and the same
//! outage and lost-write analysis:
//!
//! * PostgreSQL ([`postgres`]): [`PgWriter`] and [`PgReader`] against a
//!   [`Target`], checked afterwards with [`check_acknowledged`].
//! * Redis ([`redis_probe`]): [`RedisWriter`] and [`RedisReader`] against a
//!   [`RedisTarget`], checked afterwards with [`check_redis_acknowledged`].
//! * Beanstalkd ([`beanstalk`]): [`BeanstalkWriter`] (one job per attempt) and
//!   [`BeanstalkReader`] against a [`BeanstalkTarget`], checked afterwards
//!   with [`check_beanstalk_acknowledged`].
//!   A `READONLY` reply from a demoted master counts as a failure and makes
//!   the probe reconnect, like any other error.
//! * MariaDB ([`mariadb`], or MySQL: the probes speak its protocol):
//!   [`MariadbWriter`] (one transaction per attempt) and [`MariadbReader`]
//!   against a [`MariadbTarget`], checked afterwards with
//!   [`check_mariadb_acknowledged`]. A server with `read_only` on is refused
//!   to the writer and the check, as a PostgreSQL standby is.
//! * NFSv3 ([`nfs`]): [`NfsWriter`] (one `FILE_SYNC` record per attempt in a
//!   file of the run) and [`NfsReader`] against an [`NfsTarget`], checked
//!   afterwards with [`check_nfs_acknowledged`]. The probes speak NFS over
//!   TCP themselves, from reserved ports, rather than mount the export.
//!
//! The crate knows nothing about clusters or VMs: it is given a target,
//! [`ProbeSettings`] and a shared [`Clock`], and returns [`Recording`]s.
//!
//! Durations in serialized recordings are integer microseconds (fields end
//! in `_us`); timeouts in settings are integer milliseconds (`_ms`).

pub mod ack;
pub mod beanstalk;
pub mod clock;
mod duration_serde;
mod error_chain;
#[doc(hidden)]
pub mod idle;
pub mod mariadb;
pub mod nfs;
pub mod outage;
pub mod postgres;
pub mod probe;
pub mod record;
pub mod redis_probe;
pub mod role;
pub mod session;
pub mod settings;
pub mod target;
#[cfg(test)]
mod test_servers;

pub use ack::{AckCheck, AckError, check_acknowledged, check_redis_acknowledged, compare};
pub use beanstalk::{BeanstalkReader, BeanstalkTarget, BeanstalkWriter, check_beanstalk_acknowledged};
pub use clock::Clock;
pub use mariadb::{MariadbReader, MariadbTarget, MariadbWriter, check_mariadb_acknowledged};
pub use nfs::{NfsReader, NfsTarget, NfsWriter, check_nfs_acknowledged, file_name};
pub use outage::{Outage, Stall, first_ok_after, outages, outages_after, stalls};
pub use postgres::{PgReader, PgWriter, SCHEMA_SQL};
pub use probe::{Probe, run};
pub use record::{Attempt, Outcome, Recording};
pub use redis_probe::{RedisReader, RedisTarget, RedisWriter};
pub use role::Role;
pub use session::ConnectError;
pub use settings::{MAX_RATE_HZ, ProbeSettings, SettingsError, period_from_rate};
pub use target::Target;
