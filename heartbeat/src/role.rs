//! What a probe does against the database.
//!
//! The role decides how a recording is read afterwards: only a writer's
//! successful attempts are acknowledged writes that must survive a failover.

use serde::{Deserialize, Serialize};

/// Whether a probe writes heartbeats or reads them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Records one write per attempt and moves the beat forward; needs the
    /// primary (PostgreSQL) or master (Redis).
    Writer,
    /// Reads the beat; any server (primary or replica) will do.
    Reader,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_lowercase() {
        assert_eq!(serde_json::to_string(&Role::Writer).expect("json"), r#""writer""#);
        assert_eq!(serde_json::from_str::<Role>(r#""reader""#).expect("json"), Role::Reader);
    }
}
