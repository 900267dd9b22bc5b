//! The exit-code contract, and the one error type `main` prints.
//!
//! Scripts and CI jobs branch on the exit code, so it is part of the
//! interface: 0 everything held, 1 a scenario missed its expectations,
//! 2 the user asked for something wrong (usage, configuration, input files),
//! 3 the infrastructure failed (a tool, a node, the cluster), 130 interrupted.

use std::process::ExitCode;

/// Why `lab` stopped; carries the exit code and a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A scenario ran but its expectations did not hold.
    #[error("{0}")]
    Expectations(String),
    /// Bad usage, configuration or input: the user can fix it.
    #[error("{0}")]
    Usage(String),
    /// Something the lab depends on failed.
    #[error("{0}")]
    Infrastructure(String),
    /// Ctrl-C.
    #[error("interrupted; `lab destroy` removes whatever is left of the lab")]
    Interrupted,
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Expectations(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Infrastructure(_) => 3,
            Failure::Interrupted => 130,
        })
    }

    pub fn usage(error: impl std::fmt::Display) -> Self {
        Failure::Usage(error.to_string())
    }

    pub fn infra(error: impl std::fmt::Display) -> Self {
        Failure::Infrastructure(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        let code = |f: Failure| format!("{:?}", f.exit_code());
        assert_eq!(code(Failure::Expectations(String::new())), format!("{:?}", ExitCode::from(1)));
        assert_eq!(code(Failure::Usage(String::new())), format!("{:?}", ExitCode::from(2)));
        assert_eq!(code(Failure::Infrastructure(String::new())), format!("{:?}", ExitCode::from(3)));
        assert_eq!(code(Failure::Interrupted), format!("{:?}", ExitCode::from(130)));
    }
}
