//! Where a probe connects.
//!
//! In the lab this is the floating IP of the cluster, but the crate does not
//! care: a target is just host, port, database and credentials. The password
//! is redacted from `Debug` output because targets end up in logs.

use std::fmt;

/// Connection coordinates of the database a probe talks to.
#[derive(Clone)]
pub struct Target {
    /// Host name or IP address (the VIP, in the lab).
    pub host: String,
    /// TCP port of the PostgreSQL server.
    pub port: u16,
    /// Database name.
    pub dbname: String,
    /// Role to log in as.
    pub user: String,
    /// Password of `user`; never printed by `Debug`.
    pub password: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for Target {
    /// `user@host:port/dbname`, for log lines and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}/{}", self.user, self.host, self.port, self.dbname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            host: "10.0.0.5".into(),
            port: 5432,
            dbname: "lab".into(),
            user: "heartbeat".into(),
            password: "hunter2".into(),
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let shown = format!("{:?}", target());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("10.0.0.5"), "{shown}");
    }

    #[test]
    fn display_names_user_host_port_and_database() {
        assert_eq!(target().to_string(), "heartbeat@10.0.0.5:5432/lab");
    }
}
