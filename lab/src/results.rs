//! `results.json`: every run of one `lab scenario` or `lab suite`
//! invocation, versioned, so CI jobs can keep it as a baseline and compare
//! later runs against it.

use std::path::Path;

use heartbeat::Recording;
use serde::{Deserialize, Serialize};

use crate::config::BackendKind;
use crate::report::ScenarioResult;

/// Version of the `results.json` layout; bumped on incompatible changes.
pub const SCHEMA: u32 = 1;

/// The results of one invocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuiteResults {
    pub schema: u32,
    /// `suite`, or the scenario's name for `lab scenario`.
    pub label: String,
    pub lab: String,
    pub backend: BackendKind,
    pub started_unix_ms: u128,
    /// Base seed; each run's own seed is in its result.
    pub seed: u64,
    pub runs: Vec<ScenarioResult>,
}

impl SuiteResults {
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.passed)
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let results: SuiteResults =
            serde_json::from_str(&text).map_err(|e| format!("{}: not a lab results.json: {e}", path.display()))?;
        if results.schema != SCHEMA {
            return Err(format!("{}: results schema {} is not {SCHEMA}", path.display(), results.schema));
        }
        Ok(results)
    }
}

/// One run's result and its probe recordings, as kept on disk.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub result: ScenarioResult,
    pub recordings: Vec<Recording>,
    /// What each host's console printed during the run, by host: a kernel
    /// panic or a boot after fencing is only seen there.
    pub consoles: Vec<(String, String)>,
}

impl RunRecord {
    /// Writes `result.json`, `probes.json` and `consoles/<host>.log` into `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("result.json"), serde_json::to_string_pretty(&self.result).unwrap_or_default() + "\n")?;
        std::fs::write(dir.join("probes.json"), serde_json::to_string(&self.recordings).unwrap_or_default() + "\n")?;
        if !self.consoles.is_empty() {
            std::fs::create_dir_all(dir.join("consoles"))?;
        }
        for (host, text) in &self.consoles {
            std::fs::write(dir.join("consoles").join(format!("{host}.log")), text)?;
        }
        Ok(())
    }
}
