//! Layered configuration.
//!
//! The embedded `config.default.toml` is both the defaults and the schema:
//! every key lab knows appears there, so a key in a user layer that the
//! defaults lack is a typo and is rejected, with the file and line it came
//! from. Layers, later winning: defaults < user file < `LAB_*` environment <
//! command-line `--set`/flags. Tables merge key by key; any other value
//! (including an array of tables such as `[[cluster.node]]`) is replaced whole.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

mod validate;

/// The defaults, compiled in.
pub const DEFAULTS: &str = include_str!("../../../config.default.toml");

/// Prefix of environment variables that override configuration keys.
const ENV_PREFIX: &str = "LAB_";

/// The whole configuration, after layering.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub lab: LabSection,
    pub image: ImageSection,
    pub network: NetworkSection,
    pub stack: StackSection,
    pub topology: TopologySection,
    pub cluster: ClusterSection,
    pub postgres: PostgresSection,
    pub redis: RedisSection,
    pub beanstalkd: BeanstalkdSection,
    pub heartbeat: HeartbeatSection,
    pub timeouts: TimeoutsSection,
    pub report: ReportSection,
    pub qemu: QemuSection,
    pub virtualbox: VirtualBoxSection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabSection {
    pub name: String,
    pub state_dir: PathBuf,
    pub backend: BackendKind,
}

/// Which kind of node a lab runs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// systemd-nspawn containers on the host's kernel.
    Container,
    /// QEMU virtual machines with their own kernel, driven over QMP.
    Qemu,
    /// VirtualBox VMs installed from a RHEL-like ISO (Tuchanka's setup).
    #[value(name = "virtualbox")]
    VirtualBox,
}

impl BackendKind {
    /// Whether lab makes this backend's lab network itself, as network
    /// namespaces nothing routes out of. VirtualBox makes its host-only
    /// network on the host instead, as Tuchanka's labs have it.
    pub fn owns_network(self) -> bool {
        self != BackendKind::VirtualBox
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Container => "container",
            BackendKind::Qemu => "qemu",
            BackendKind::VirtualBox => "virtualbox",
        })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub mirror: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub host_address: Ipv4Addr,
    pub prefix: u8,
    pub fence_port: u16,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    pub profile: crate::cluster::profile::ProfileName,
    /// The size of the DRBD device of stacks on DRBD, in MiB.
    pub drbd_size_mb: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySection {
    /// One of Tuchanka's layouts instead of the one cluster `[cluster]` describes.
    pub preset: crate::topology::preset::Preset,
    /// The cluster commands act on in a lab of several (`--cluster`); empty:
    /// the lab's only one.
    pub cluster: String,
}

/// One cluster of the lab, as configured: the preset's, or the one
/// `[cluster]`, `[postgres]` and `[redis]` describe.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterEntry {
    pub name: String,
    /// The stack it runs: `[stack]`'s, or the preset's own for this cluster.
    pub stack: crate::cluster::profile::ProfileName,
    pub nodes: Vec<NodeEntry>,
    /// Its VIPs' addresses (more replica VIPs come from presets only).
    pub vips: crate::topology::ClusterVips,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    pub name: String,
    pub witness_address: Ipv4Addr,
    pub token_ms: u32,
    pub dc_deadtime_ms: u32,
    pub fencing: crate::cluster::fencing::Fencing,
    /// Whether a cluster has the witness as its quorum device.
    pub quorum_device: crate::cluster::quorum::QuorumDevice,
    /// sbd's watchdog timeout, in seconds (`fencing = "sbd"`).
    pub watchdog_timeout_s: u32,
    pub node: Vec<NodeEntry>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: String,
    pub address: Ipv4Addr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSection {
    pub version: u32,
    pub master_vip: Ipv4Addr,
    pub replica_vip: Ipv4Addr,
    /// Stacks with a second database (tuchanka1): the VIP following its master.
    pub second_master_vip: Ipv4Addr,
    pub port: u16,
    /// Commits wait until a replica has the WAL (synchronous replication).
    #[serde(default)]
    pub synchronous: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    pub master_vip: Ipv4Addr,
    pub port: u16,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeanstalkdSection {
    pub port: u16,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSection {
    pub rate_hz: f64,
    pub tcg_rate_hz: f64,
    pub connect_timeout_ms: u64,
    pub query_timeout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    pub boot_s: u64,
    pub command_s: u64,
    pub healthy_s: u64,
}

impl TimeoutsSection {
    /// Stretches every timeout for hosts `factor` times slower than native.
    pub fn scale(&mut self, factor: f64) {
        for value in [&mut self.boot_s, &mut self.command_s, &mut self.healthy_s] {
            *value = (*value as f64 * factor.max(1.0)).ceil() as u64;
        }
    }
}

/// The QEMU backend's VMs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSection {
    pub accel: crate::backend::accel::AccelChoice,
    pub memory_mb: u32,
    pub witness_memory_mb: u32,
    pub cpus: u32,
    pub tcg_slowdown: f64,
    /// Local copies of the repositories an ISO installation needs (see
    /// [`crate::install::repo_mirror`]); empty: none.
    pub repo_mirror: PathBuf,
    pub repo_mirror_port: u16,
    pub disk_gb: u32,
    pub install_timeout_s: u64,
}

/// The VirtualBox backend's VMs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualBoxSection {
    pub memory_mb: u32,
    pub witness_memory_mb: u32,
    pub cpus: u32,
    pub disk_mb: u32,
    pub uplink: bool,
    pub install_timeout_s: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    pub regression_tolerance: f64,
    pub regression_tolerance_ms: f64,
}

/// Where a configuration value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source} (check the path given to --config)", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: malformed TOML: {message}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{origin}: unknown key `{key}` (`lab config show --defaults` lists every known key)")]
    UnknownKey { origin: Origin, key: String },
    #[error("{origin}: key `{key}` must be {expected}, as in `lab config show --defaults`")]
    WrongType { origin: Origin, key: String, expected: &'static str },
    #[error("{origin}: expected KEY=VALUE with a dotted key such as heartbeat.rate_hz=100, got `{raw}`")]
    BadOverride { origin: Origin, raw: String },
    #[error("{origin}: configuration key `{key}`: {reason}")]
    Invalid { origin: String, key: String, reason: String },
}

/// One override from the environment or the command line: `section.key = value`.
#[derive(Clone, Debug)]
pub struct Override {
    pub origin: Origin,
    pub path: Vec<String>,
    pub value: Value,
}

impl Override {
    /// Parses `section.key=value` (from `--set`); the value is read as TOML,
    /// and as a plain string when it is not valid TOML.
    pub fn parse_flag(raw: &str) -> Result<Self, ConfigError> {
        let origin = Origin::Flag(format!("--set {raw}"));
        let Some((key, value)) = raw.split_once('=') else {
            return Err(ConfigError::BadOverride { origin, raw: raw.to_owned() });
        };
        let path: Vec<String> = key.trim().split('.').map(str::to_owned).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::BadOverride { origin, raw: raw.to_owned() });
        }
        Ok(Override { origin, path, value: parse_scalar(value.trim()) })
    }

    /// A plain key/value set by a dedicated flag such as `--lab`.
    pub fn flag(flag: &str, path: &[&str], value: Value) -> Self {
        Override { origin: Origin::Flag(flag.to_owned()), path: path.iter().map(|s| (*s).to_owned()).collect(), value }
    }

    /// Reads `LAB_SECTION__KEY=value` variables. Variables whose name does not
    /// have the `__` separator (such as `LAB_LOG`) are not configuration keys.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Self> {
        let mut overrides: Vec<Self> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                if !rest.contains("__") {
                    return None;
                }
                let path = rest.split("__").map(str::to_lowercase).collect();
                Some(Override { origin: Origin::Env(name.clone()), path, value: parse_scalar(&value) })
            })
            .collect();
        overrides.sort_by(|a, b| a.path.cmp(&b.path));
        overrides
    }
}

fn parse_scalar(raw: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// One key of the effective configuration: its value as TOML and where it
/// came from (`default`, `lab.toml:5`, `environment variable LAB_...`,
/// `flag --set ...`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: String,
}

impl Config {
    /// Layers the user's file (if any) and the overrides over the defaults.
    pub fn load(user_file: Option<&Path>, overrides: &[Override]) -> Result<Self, ConfigError> {
        Self::layered(user_file, overrides).map(|(config, _)| config)
    }

    /// Every key of the configuration `load` gives, in the defaults' order
    /// of tables, with where its value came from.
    pub fn explain(user_file: Option<&Path>, overrides: &[Override]) -> Result<Vec<Setting>, ConfigError> {
        let (_, (merged, origins)) = Self::layered(user_file, overrides)?;
        let mut settings = Vec::new();
        flatten(&merged, "", &mut |key, value| {
            let origin = origins.of(key);
            let origin = if origin == "config.default.toml" { "default".to_owned() } else { origin };
            settings.push(Setting { key: key.to_owned(), value: value.to_string(), origin });
        });
        Ok(settings)
    }

    /// The configuration, the merged table it came from and where each set
    /// key was set.
    fn layered(user_file: Option<&Path>, overrides: &[Override]) -> Result<(Self, (Table, Origins)), ConfigError> {
        let defaults: Table = toml::from_str(DEFAULTS).map_err(|e| ConfigError::Invalid {
            origin: "config.default.toml".into(),
            key: "(any)".into(),
            reason: e.to_string(),
        })?;
        let mut merged = defaults.clone();
        let mut origins = Origins::default();
        if let Some(path) = user_file {
            let source =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            let user = parse_user_file(path, &source, &defaults, &mut origins)?;
            merge(&mut merged, user);
        }
        for o in overrides {
            check_override(o, &defaults)?;
            set_path(&mut merged, &o.path, o.value.clone());
            origins.0.insert(o.path.join("."), o.origin.clone());
        }
        let config: Config = Value::Table(merged.clone()).try_into().map_err(|e: toml::de::Error| {
            let key = origins.culprit(&merged, &defaults).unwrap_or_else(|| "(any)".into());
            origins.invalid(&key, e.message().trim())
        })?;
        config.validate().map_err(|e| origins.invalid(&e.key, &e.reason))?;
        let preset = config.topology.preset;
        let layouts = preset.layouts();
        let mut laid_out: Vec<&str> = if layouts.is_empty() { Vec::new() } else { LAID_OUT_BY_PRESETS.to_vec() };
        // A preset whose every cluster runs a stack of its own (tuchanka1)
        // takes none from [stack] either.
        if !layouts.is_empty() && layouts.iter().all(|l| l.stack.is_some()) {
            laid_out.push("stack.profile");
        }
        if let Some(key) = laid_out.iter().find(|key| origins.0.contains_key(**key)) {
            return Err(origins.invalid(
                key,
                &format!(
                    "topology.preset = \"{}\" lays out the clusters' nodes, VIPs and stacks itself: remove this \
                     key, or the preset",
                    preset.name()
                ),
            ));
        }
        Ok((config, (merged, origins)))
    }

    /// The embedded defaults alone.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::load(None, &[])
    }

    /// The lab's clusters: the preset's, laid out in the lab's subnet, or
    /// the one `[cluster]` describes.
    pub fn clusters(&self) -> Vec<ClusterEntry> {
        let layouts = self.topology.preset.layouts();
        if layouts.is_empty() {
            let stack = self.stack.profile;
            let second = stack.profile().has(crate::cluster::services::ServiceName::PostgresB);
            return vec![ClusterEntry {
                name: self.cluster.name.clone(),
                stack,
                nodes: self.cluster.node.clone(),
                vips: crate::topology::ClusterVips {
                    master_vip: self.postgres.master_vip,
                    replica_vip: self.postgres.replica_vip,
                    more_replica_vips: Vec::new(),
                    second_master_vip: second.then_some(self.postgres.second_master_vip),
                    redis_vip: self.redis.master_vip,
                },
            }];
        }
        let at = |host| crate::topology::preset::in_subnet(self.network.host_address, self.network.prefix, host);
        layouts
            .iter()
            .map(|layout| ClusterEntry {
                name: layout.name.to_owned(),
                stack: layout.stack.unwrap_or(self.stack.profile),
                nodes: layout
                    .nodes
                    .iter()
                    .map(|(name, host)| NodeEntry { name: (*name).to_owned(), address: at(*host) })
                    .collect(),
                // VIPs the stack does not use keep the master VIP's address.
                vips: crate::topology::ClusterVips {
                    master_vip: at(layout.master_vip),
                    replica_vip: at(layout.replica_vip.unwrap_or(layout.master_vip)),
                    more_replica_vips: layout.more_replica_vips.iter().map(|host| at(*host)).collect(),
                    second_master_vip: layout.second_master_vip.map(at),
                    redis_vip: at(layout.redis_vip.unwrap_or(layout.master_vip)),
                },
            })
            .collect()
    }
}

/// Keys a preset lays out itself: set beside it, one of the two would be
/// silently ignored.
const LAID_OUT_BY_PRESETS: &[&str] = &[
    "cluster.name",
    "cluster.node",
    "postgres.master_vip",
    "postgres.replica_vip",
    "postgres.second_master_vip",
    "redis.master_vip",
];

/// Calls `each` with every leaf key of `table` (dotted, under `prefix`) and
/// its value; arrays are leaves.
fn flatten(table: &Table, prefix: &str, each: &mut dyn FnMut(&str, &Value)) {
    for (name, value) in table {
        let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        match value {
            Value::Table(inner) => flatten(inner, &key, each),
            leaf => each(&key, leaf),
        }
    }
}

/// Where each key set above the defaults was set: errors about a value name
/// the file and line, the variable or the flag it came from.
#[derive(Default)]
struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Where `key` (or the nearest table holding it) was set; the embedded
    /// defaults when nothing set it.
    fn of(&self, key: &str) -> String {
        let mut path = key;
        loop {
            if let Some(origin) = self.0.get(path) {
                return origin.to_string();
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => return "config.default.toml".into(),
            }
        }
    }

    fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        ConfigError::Invalid { origin: self.of(key), key: key.to_owned(), reason: reason.to_owned() }
    }

    /// The key whose value the typed configuration cannot take (an address
    /// such as 999.1.1.1, an unknown backend): the one set key that, put
    /// back to its default, lets the whole configuration deserialize.
    fn culprit(&self, merged: &Table, defaults: &Table) -> Option<String> {
        self.0
            .keys()
            .rev()
            .find(|key| {
                let mut table = merged.clone();
                let path: Vec<&str> = key.split('.').collect();
                reset_to_default(&mut table, defaults, &path);
                Value::Table(table).try_into::<Config>().is_ok()
            })
            .cloned()
    }
}

/// Puts `path` in `table` back to its value in `defaults`; an array (of
/// tables) on the way is put back whole.
fn reset_to_default(table: &mut Table, defaults: &Table, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(default) = defaults.get(*first) else { return };
    match (table.get_mut(*first), default) {
        (Some(Value::Table(inner)), Value::Table(inner_default)) if !rest.is_empty() => {
            reset_to_default(inner, inner_default, rest);
        }
        _ => {
            table.insert((*first).to_owned(), default.clone());
        }
    }
}

/// Parses the user's file and checks each key against the defaults, keeping
/// line numbers for errors.
fn parse_user_file(path: &Path, source: &str, defaults: &Table, origins: &mut Origins) -> Result<Table, ConfigError> {
    let doc = toml_edit::Document::parse(source.to_owned()).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(source, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax { path: path.to_owned(), line, column, message: e.message().trim().to_owned() }
    })?;
    let at = |span: Option<std::ops::Range<usize>>| Origin::File {
        path: path.to_owned(),
        line: span.map(|s| line_col(source, s.start).0).unwrap_or(1),
    };
    check_table(doc.as_table(), defaults, &mut Vec::new(), &at, origins)?;
    toml::from_str(source).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: 1,
        column: 1,
        message: e.message().to_owned(),
    })
}

fn check_table(
    user: &dyn toml_edit::TableLike,
    schema: &Table,
    prefix: &mut Vec<String>,
    at: &dyn Fn(Option<std::ops::Range<usize>>) -> Origin,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    for (key, item) in user.iter() {
        let span = user.key(key).and_then(toml_edit::Key::span);
        prefix.push(key.to_owned());
        let dotted = prefix.join(".");
        let Some(expected) = schema.get(key) else {
            return Err(ConfigError::UnknownKey { origin: at(span), key: dotted });
        };
        match (item, expected) {
            (toml_edit::Item::ArrayOfTables(tables), Value::Array(elems)) => {
                origins.0.insert(dotted.clone(), at(span));
                let element_schema = elems.first().and_then(Value::as_table);
                for table in tables.iter() {
                    if let Some(element_schema) = element_schema {
                        check_table(table, element_schema, prefix, at, origins)?;
                    }
                }
            }
            (item, Value::Table(sub)) => match item.as_table_like() {
                Some(table) => check_table(table, sub, prefix, at, origins)?,
                None => {
                    return Err(ConfigError::WrongType { origin: at(span), key: dotted, expected: "a table" });
                }
            },
            (toml_edit::Item::Value(value), expected) => {
                if !same_kind(value, expected) {
                    return Err(ConfigError::WrongType {
                        origin: at(span),
                        key: dotted,
                        expected: kind_name(expected),
                    });
                }
                origins.0.insert(dotted, at(span));
            }
            (_, expected) => {
                return Err(ConfigError::WrongType { origin: at(span), key: dotted, expected: kind_name(expected) });
            }
        }
        prefix.pop();
    }
    Ok(())
}

fn same_kind(user: &toml_edit::Value, expected: &Value) -> bool {
    use toml_edit::Value as U;
    matches!(
        (user, expected),
        (U::String(_), Value::String(_))
            | (U::Integer(_), Value::Integer(_))
            | (U::Integer(_), Value::Float(_))
            | (U::Float(_), Value::Float(_))
            | (U::Boolean(_), Value::Boolean(_))
            | (U::Array(_), Value::Array(_))
            | (U::Datetime(_), Value::Datetime(_))
    )
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "true or false",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn check_override(o: &Override, defaults: &Table) -> Result<(), ConfigError> {
    let key = o.path.join(".");
    let mut schema = defaults;
    let (last, parents) =
        o.path.split_last().ok_or_else(|| ConfigError::BadOverride { origin: o.origin.clone(), raw: key.clone() })?;
    for part in parents {
        schema = match schema.get(part) {
            Some(Value::Table(t)) => t,
            _ => {
                return Err(ConfigError::UnknownKey { origin: o.origin.clone(), key });
            }
        };
    }
    let Some(expected) = schema.get(last) else {
        return Err(ConfigError::UnknownKey { origin: o.origin.clone(), key });
    };
    let fits = match (&o.value, expected) {
        (Value::Integer(_), Value::Float(_)) => true,
        (value, expected) => std::mem::discriminant(value) == std::mem::discriminant(expected),
    };
    if fits {
        Ok(())
    } else {
        Err(ConfigError::WrongType { origin: o.origin.clone(), key, expected: kind_name(expected) })
    }
}

fn merge(base: &mut Table, layer: Table) {
    for (key, value) in layer {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(layer_table)) => merge(base_table, layer_table),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for part in parents {
        let entry = current.entry(part.clone()).or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(next) = entry else { return };
        current = next;
    }
    let value = match (current.get(last), value) {
        (Some(Value::Float(_)), Value::Integer(i)) => Value::Float(i as f64),
        (_, value) => value,
    };
    current.insert(last.clone(), value);
}

pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("lab.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn defaults_parse_and_validate() {
        let config = Config::defaults().expect("defaults");
        assert_eq!(config.lab.name, "tuchanka");
        assert_eq!(config.cluster.node.len(), 2);
        assert_eq!(config.cluster.node[0].name, "tuchanka-a");
        assert_eq!(config.heartbeat.rate_hz, 10.0);
    }

    #[test]
    fn layers_apply_in_order_file_then_env_then_flag() {
        let (_dir, path) = user_file("[lab]\nname = \"fromfile\"\n[heartbeat]\nrate_hz = 50\n");
        let config = Config::load(Some(&path), &[]).expect("file");
        assert_eq!(config.lab.name, "fromfile");
        assert_eq!(config.heartbeat.rate_hz, 50.0, "an integer is accepted where a float is expected");
        assert_eq!(config.postgres.port, 5432, "untouched keys keep their default");

        let env = Override::from_env([
            ("LAB_LAB__NAME".to_owned(), "fromenv".to_owned()),
            ("LAB_LOG".to_owned(), "debug".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        assert_eq!(env.len(), 1, "only LAB_SECTION__KEY variables are configuration");
        let config = Config::load(Some(&path), &env).expect("env");
        assert_eq!(config.lab.name, "fromenv");

        let mut all = env;
        all.push(Override::parse_flag("lab.name=fromflag").expect("flag"));
        let config = Config::load(Some(&path), &all).expect("flag");
        assert_eq!(config.lab.name, "fromflag");
    }

    #[test]
    fn array_of_tables_replaces_the_default_nodes() {
        let (_dir, path) = user_file(
            "[[cluster.node]]\nname = \"n1\"\naddress = \"192.168.89.1\"\n\
             [[cluster.node]]\nname = \"n2\"\naddress = \"192.168.89.2\"\n\
             [[cluster.node]]\nname = \"n3\"\naddress = \"192.168.89.3\"\n",
        );
        let config = Config::load(Some(&path), &[]).expect("load");
        let names: Vec<_> = config.cluster.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["n1", "n2", "n3"]);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let (_dir, path) = user_file("[lab]\nname = \"x\"\n\n[heartbeat]\nrate = 5\n");
        let err = Config::load(Some(&path), &[]).expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.contains("lab.toml:5"), "{msg}");
        assert!(msg.contains("`heartbeat.rate`"), "{msg}");
    }

    #[test]
    fn unknown_key_inside_node_entry_is_found() {
        let (_dir, path) = user_file("[[cluster.node]]\nname = \"n1\"\nadress = \"192.168.89.1\"\n");
        let msg = Config::load(Some(&path), &[]).expect_err("typo").to_string();
        assert!(msg.contains(":3") && msg.contains("cluster.node.adress"), "{msg}");
    }

    #[test]
    fn malformed_toml_reports_line_and_column() {
        let (_dir, path) = user_file("[lab]\nname = \"x\"\nstate_dir = \n");
        let err = Config::load(Some(&path), &[]).expect_err("syntax");
        assert!(matches!(err, ConfigError::Syntax { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("malformed TOML"), "{err}");
    }

    #[test]
    fn wrong_type_names_expected_kind() {
        let (_dir, path) = user_file("[postgres]\nport = \"fivefour\"\n");
        let msg = Config::load(Some(&path), &[]).expect_err("type").to_string();
        assert!(msg.contains("lab.toml:2") && msg.contains("postgres.port") && msg.contains("an integer"), "{msg}");
    }

    #[test]
    fn env_override_with_unknown_key_names_the_variable() {
        let env = Override::from_env([("LAB_HEARTBEAT__RATEHZ".to_owned(), "5".to_owned())]);
        let msg = Config::load(None, &env).expect_err("unknown").to_string();
        assert!(msg.contains("LAB_HEARTBEAT__RATEHZ") && msg.contains("heartbeat.ratehz"), "{msg}");
    }

    #[test]
    fn missing_file_says_which() {
        let err = Config::load(Some(Path::new("/nonexistent/lab.toml")), &[]).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/lab.toml"), "{err}");
    }

    #[test]
    fn semantic_validation_rejects_long_lab_names() {
        let set = Override::parse_flag("lab.name=a-name-that-is-far-too-long").expect("flag");
        let msg = Config::load(None, &[set]).expect_err("invalid").to_string();
        assert!(msg.contains("lab.name"), "{msg}");
    }

    fn refusal(user: Option<&str>, sets: &[&str]) -> String {
        let dir = user.map(user_file);
        let sets: Vec<Override> = sets.iter().map(|s| Override::parse_flag(s).expect("flag")).collect();
        let path = dir.as_ref().map(|(_, path)| path.as_path());
        let error = Config::load(path, &sets).expect_err("refused");
        assert!(matches!(error, ConfigError::Invalid { .. }), "{error:?}");
        error.to_string()
    }

    #[test]
    fn a_preset_lays_out_tuchankas_clusters_in_the_labs_subnet() {
        let sets = ["topology.preset=\"tuchanka\"", "network.host_address=\"10.7.3.254\""];
        let sets: Vec<Override> = sets.iter().map(|s| Override::parse_flag(s).expect("flag")).collect();
        let config = Config::load(None, &sets).expect("config");
        let clusters = config.clusters();
        let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tuchanka1", "tuchanka2", "tuchanka4"]);
        let one = &clusters[0];
        assert_eq!(one.stack, crate::cluster::profile::ProfileName::Tuchanka1, "tuchanka1 runs its own stack");
        assert_eq!(one.vips.second_master_vip.map(|v| v.to_string()), Some("10.7.3.102".into()));
        assert_eq!(clusters[2].stack, crate::cluster::profile::ProfileName::Tuchanka, "the others run [stack]'s");
        let four = &clusters[2];
        let nodes: Vec<String> = four.nodes.iter().map(|n| format!("{} {}", n.name, n.address)).collect();
        assert_eq!(
            nodes,
            ["tuchanka4a 10.7.3.21", "tuchanka4b 10.7.3.22", "tuchanka4c 10.7.3.23", "tuchanka4d 10.7.3.24"]
        );
        assert_eq!((four.vips.master_vip.octets()[3], four.vips.replica_vip.octets()[3]), (105, 106));
        let custom = Config::defaults().expect("defaults").clusters();
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].name, "tuchanka");
    }

    #[test]
    fn a_preset_refuses_the_keys_it_lays_out_naming_where_they_were_set() {
        let nodes = "[[cluster.node]]\nname = \"a\"\naddress = \"192.168.89.11\"\n\
                     [[cluster.node]]\nname = \"b\"\naddress = \"192.168.89.12\"\n";
        let why = refusal(Some(&format!("[topology]\npreset = \"tuchanka4\"\n{nodes}")), &[]);
        assert!(why.contains("lab.toml:3: configuration key `cluster.node`"), "{why}");
        assert!(why.contains("topology.preset = \"tuchanka4\" lays out the clusters' nodes, VIPs and stacks"), "{why}");
        let why = refusal(None, &["topology.preset=\"tuchanka2\"", "postgres.master_vip=\"192.168.89.50\""]);
        assert!(why.starts_with("flag --set postgres.master_vip"), "{why}");
        let why = refusal(None, &["topology.preset=\"tuchanka3\""]);
        assert!(why.contains("`topology.preset`"), "{why}");
        let why = refusal(None, &["topology.preset=\"tuchanka1\"", "stack.profile=\"tuchanka\""]);
        assert!(why.starts_with("flag --set stack.profile=\"tuchanka\": configuration key `stack.profile`"), "{why}");
    }

    #[test]
    fn a_drbd_stack_is_refused_on_more_than_two_nodes() {
        let why = refusal(None, &["stack.profile=\"drbd-nfs\"", "topology.preset=\"tuchanka4\""]);
        assert!(why.contains("`topology.preset`: cluster `tuchanka4`: the drbd-nfs stack runs on two nodes"), "{why}");
        let third = "[[cluster.node]]\nname = \"a\"\naddress = \"192.168.89.11\"\n\
                     [[cluster.node]]\nname = \"b\"\naddress = \"192.168.89.12\"\n\
                     [[cluster.node]]\nname = \"c\"\naddress = \"192.168.89.13\"\n";
        let why = refusal(Some(third), &["stack.profile=\"skyha\""]);
        assert!(
            why.contains(
                "`cluster.node`: cluster `tuchanka`: the skyha stack runs on two nodes (DRBD pairs them), not 3"
            ),
            "{why}"
        );
    }

    #[test]
    fn watchdog_fencing_needs_a_quorum_device_to_keep_one_half_of_a_split() {
        let sets = ["lab.backend=\"qemu\"", "cluster.fencing=\"sbd\"", "cluster.quorum_device=\"none\""];
        let why = refusal(None, &sets);
        assert!(why.contains("`cluster.quorum_device`: \"none\" with fencing = \"sbd\""), "{why}");
        let auto = sets.map(|s| Override::parse_flag(s).expect("flag"));
        assert!(Config::load(None, &auto[..2]).is_ok(), "sbd with the witness");
    }

    #[test]
    fn a_cluster_named_on_the_command_line_must_be_a_name() {
        let why = refusal(None, &["topology.cluster=\"Tuchanka 4\""]);
        assert!(why.contains("`topology.cluster`: `Tuchanka 4`"), "{why}");
    }

    #[test]
    fn a_value_that_would_crash_a_run_is_refused_naming_its_flag() {
        let msg = refusal(None, &["timeouts.boot_s=9223372036854775807"]);
        assert!(msg.starts_with("flag --set timeouts.boot_s=9223372036854775807: configuration key `timeouts.boot_s`"));
        assert!(msg.contains("between 1 and 86400"), "{msg}");
        for bad in
            ["heartbeat.rate_hz=nan", "qemu.tcg_slowdown=inf", "heartbeat.connect_timeout_ms=0", "postgres.port=0"]
        {
            let key = bad.split('=').next().expect("key");
            assert!(refusal(None, &[bad]).contains(&format!("`{key}`")), "{bad}");
        }
    }

    #[test]
    fn a_value_of_the_wrong_shape_names_its_key_not_the_merged_table() {
        let msg = refusal(None, &["lab.name=fine", "network.host_address=999.1.1.1"]);
        assert_eq!(
            msg,
            "flag --set network.host_address=999.1.1.1: configuration key `network.host_address`: \
             invalid IPv4 address syntax"
        );
        let msg = refusal(Some("[lab]\nbackend = \"vbox\"\n"), &[]);
        assert!(msg.contains(":2: configuration key `lab.backend`: unknown variant `vbox`"), "{msg}");
    }

    #[test]
    fn each_node_is_named_once() {
        let nodes = |a: &str, b: &str| {
            format!(
                "[[cluster.node]]\nname = \"{a}\"\naddress = \"10.0.0.1\"\n\
                 [[cluster.node]]\nname = \"{b}\"\naddress = \"192.168.89.104\"\n"
            )
        };
        let msg = refusal(Some(&nodes("n1", "n1")), &[]);
        assert!(msg.contains(":5: configuration key `cluster.node.name`: `n1` is given twice"), "{msg}");
    }

    #[test]
    fn names_and_paths_that_would_misname_a_lab_are_refused() {
        assert!(refusal(None, &["lab.name=web-"]).contains("`lab.name`"));
        assert!(refusal(None, &["lab.state_dir=var/lib/lab"]).contains("absolute path"));
    }

    #[test]
    fn sbd_fencing_is_refused_where_a_watchdog_would_be_the_hosts() {
        let msg = refusal(None, &["cluster.fencing=sbd"]);
        assert!(msg.contains("`cluster.fencing`") && msg.contains("use --backend qemu"), "{msg}");
        let config = Config::load(
            None,
            &[Override::parse_flag("cluster.fencing=sbd").expect("flag"), {
                Override::parse_flag("lab.backend=qemu").expect("flag")
            }],
        )
        .expect("sbd on QEMU");
        assert_eq!(config.cluster.fencing, crate::cluster::fencing::Fencing::Sbd);
        assert!(refusal(None, &["cluster.fencing=stonith"]).contains("unknown variant `stonith`"));
        assert!(refusal(None, &["cluster.watchdog_timeout_s=1", "lab.backend=qemu"]).contains("between 2 and 60"));
    }

    #[test]
    fn flag_without_equals_is_rejected() {
        assert!(matches!(Override::parse_flag("heartbeat.rate_hz"), Err(ConfigError::BadOverride { .. })));
    }
}
