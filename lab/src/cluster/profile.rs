//! Stack profiles: which services a lab's cluster runs, composed from
//! [`crate::cluster::services`], and on which backends it can.
//!
//! Chosen with `[stack] profile` (or `lab make-all --stack NAME`) and
//! recorded in `lab.json`, so every later command acts on the stack the lab
//! was made with. `lab stacks` lists them.

use serde::{Deserialize, Serialize};

use crate::cluster::services::ServiceName;
use crate::config::BackendKind;

/// A stack profile lab can build, by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// Tuchanka's second cluster (seed 002): PAF PostgreSQL and Redis.
    #[default]
    Tuchanka,
}

/// What a profile is made of.
#[derive(Debug, Serialize)]
pub struct StackProfile {
    pub name: ProfileName,
    pub description: &'static str,
    /// Where the stack comes from among the seed documents.
    pub seed: &'static str,
    /// Its services; the first is the one a scenario's fault is about
    /// unless the scenario names another.
    pub services: &'static [ServiceName],
    /// The backends that can run it (DRBD needs a kernel of its own).
    pub backends: &'static [BackendKind],
}

const TUCHANKA: StackProfile = StackProfile {
    name: ProfileName::Tuchanka,
    description: "Tuchanka's second cluster: PostgreSQL streaming replication under PAF with a master and \
                  a replica VIP, Redis with its master VIP, qdevice on the witness, fencing",
    seed: "002 (Tuchanka)",
    services: &[ServiceName::Postgres, ServiceName::Redis],
    backends: &[BackendKind::Container, BackendKind::Qemu, BackendKind::VirtualBox],
};

impl ProfileName {
    pub const ALL: &[ProfileName] = &[ProfileName::Tuchanka];

    pub fn profile(self) -> &'static StackProfile {
        match self {
            ProfileName::Tuchanka => &TUCHANKA,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::Tuchanka => "tuchanka",
        }
    }
}

impl std::fmt::Display for ProfileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl StackProfile {
    /// The service a fault is about when the scenario names none.
    pub fn primary(&self) -> ServiceName {
        self.services[0]
    }

    pub fn has(&self, service: ServiceName) -> bool {
        self.services.contains(&service)
    }

    /// Why this stack cannot run on `backend`, if it cannot: make-all
    /// refuses before anything is made.
    pub fn refuses(&self, backend: BackendKind) -> Option<String> {
        (!self.backends.contains(&backend)).then(|| {
            let fits: Vec<String> = self.backends.iter().map(|b| format!("--backend {b}")).collect();
            format!("the {} stack does not run on the {backend} backend; use {}", self.name, fits.join(" or "))
        })
    }

    /// The profile as `lab stacks` shows it.
    pub fn render(&self) -> String {
        let services: Vec<&str> = self.services.iter().map(|s| s.as_str()).collect();
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

    #[test]
    fn names_serialize_as_the_config_spells_them() {
        for name in ProfileName::ALL {
            assert_eq!(serde_json::to_value(name).expect("json"), name.as_str());
            assert_eq!(name.profile().name, *name);
        }
    }

    #[test]
    fn a_stack_refused_on_a_backend_names_the_ones_that_run_it() {
        let only_vms = StackProfile { backends: &[BackendKind::Qemu], ..TUCHANKA };
        let why = only_vms.refuses(BackendKind::Container).expect("refused");
        assert_eq!(why, "the tuchanka stack does not run on the container backend; use --backend qemu");
    }
}
