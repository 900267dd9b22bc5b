//! The builtin scenarios and the names people call them by.
//!
//! A user types what they know: `lab scenario link-down` (the fault, with
//! its usual target, the master), Tuchanka's test names (`PowerOff`,
//! `UnLink`, `Postgres-KILL`…), or a near miss (`link-dwon`). Each resolves
//! to one builtin scenario and says so; a name lab has no scenario for
//! says why, or which names come close.

/// The scenarios shipped with lab, by name, in the order a suite runs them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("kill-postgres-master", include_str!("../../../scenarios/kill-postgres-master.toml")),
    ("kill-postgres-replica", include_str!("../../../scenarios/kill-postgres-replica.toml")),
    ("kill-postgres-master-twice", include_str!("../../../scenarios/kill-postgres-master-twice.toml")),
    ("stop-postgres-master", include_str!("../../../scenarios/stop-postgres-master.toml")),
    ("poweroff-master", include_str!("../../../scenarios/poweroff-master.toml")),
    ("poweroff-replica", include_str!("../../../scenarios/poweroff-replica.toml")),
    ("shutdown-master", include_str!("../../../scenarios/shutdown-master.toml")),
    ("stop-corosync-master", include_str!("../../../scenarios/stop-corosync-master.toml")),
    ("kill-corosync-master", include_str!("../../../scenarios/kill-corosync-master.toml")),
    ("link-down-master", include_str!("../../../scenarios/link-down-master.toml")),
    ("link-down-replica", include_str!("../../../scenarios/link-down-replica.toml")),
    ("partition-nodes", include_str!("../../../scenarios/partition-nodes.toml")),
    ("partition-witness", include_str!("../../../scenarios/partition-witness.toml")),
    ("oneway-master", include_str!("../../../scenarios/oneway-master.toml")),
    ("reset-master", include_str!("../../../scenarios/reset-master.toml")),
    ("standby-master", include_str!("../../../scenarios/standby-master.toml")),
    ("move-master", include_str!("../../../scenarios/move-master.toml")),
    ("ban-master", include_str!("../../../scenarios/ban-master.toml")),
    ("restart-master-vip", include_str!("../../../scenarios/restart-master-vip.toml")),
    ("disable-postgres", include_str!("../../../scenarios/disable-postgres.toml")),
    ("poweroff-witness", include_str!("../../../scenarios/poweroff-witness.toml")),
    ("kill-redis-master", include_str!("../../../scenarios/kill-redis-master.toml")),
    ("poweroff-redis-master", include_str!("../../../scenarios/poweroff-redis-master.toml")),
    ("kernel-panic-master", include_str!("../../../scenarios/kernel-panic-master.toml")),
    ("fork-bomb-master", include_str!("../../../scenarios/fork-bomb-master.toml")),
    ("degrade-master-link", include_str!("../../../scenarios/degrade-master-link.toml")),
    ("clock-jump-master", include_str!("../../../scenarios/clock-jump-master.toml")),
    ("disk-full-master", include_str!("../../../scenarios/disk-full-master.toml")),
    ("starve-cpu-master", include_str!("../../../scenarios/starve-cpu-master.toml")),
    ("starve-memory-master", include_str!("../../../scenarios/starve-memory-master.toml")),
    ("docker-stop-redis", include_str!("../../../scenarios/docker-stop-redis.toml")),
    ("docker-stop-postgres", include_str!("../../../scenarios/docker-stop-postgres.toml")),
    ("docker-kill-postgres", include_str!("../../../scenarios/docker-kill-postgres.toml")),
    ("replication-link-down", include_str!("../../../scenarios/replication-link-down.toml")),
    ("kill-mariadb", include_str!("../../../scenarios/kill-mariadb.toml")),
    ("sbd-stop-master", include_str!("../../../scenarios/sbd-stop-master.toml")),
];

/// Other names of builtin scenarios, matched without regard to case: a
/// fault's short name means its master variant (the mission's `lab
/// scenario link-down`), and Tuchanka's test names mean the scenario that
/// does what that test does.
pub const ALIASES: &[(&str, &str)] = &[
    ("poweroff", "poweroff-master"),
    ("power-off", "poweroff-master"),
    ("link-down", "link-down-master"),
    ("unlink", "link-down-master"),
    ("reset", "reset-master"),
    ("shutdown", "shutdown-master"),
    ("kill-postgres", "kill-postgres-master"),
    ("stop-postgres", "stop-postgres-master"),
    ("kill-redis", "kill-redis-master"),
    ("kernel-panic", "kernel-panic-master"),
    ("standby", "standby-master"),
    ("move", "move-master"),
    ("ban", "ban-master"),
    ("disable", "disable-postgres"),
    ("fork-bomb", "fork-bomb-master"),
    ("degrade", "degrade-master-link"),
    ("clock-jump", "clock-jump-master"),
    ("disk-full", "disk-full-master"),
    ("starve-cpu", "starve-cpu-master"),
    ("starve-memory", "starve-memory-master"),
    ("docker-stop", "docker-stop-redis"),
    ("docker-kill", "docker-kill-postgres"),
    // Tuchanka's own test names (its README's table of failover times).
    ("postgres-kill", "kill-postgres-master"),
    ("postgres-stop", "stop-postgres-master"),
    ("partition", "partition-nodes"),
    ("forkbomb", "fork-bomb-master"),
    ("sbd-stop", "sbd-stop-master"),
];

/// `lab scenarios`: one line per scenario, in columns: name, stacks, what
/// nodes it needs (`vm`: their own kernel; `netem`: tc netem on their
/// links, which VMs have and a container has where the host kernel does;
/// `sbd`: a lab fenced by sbd and a watchdog), description.
pub fn render(scenarios: &[crate::run::scenario::Scenario]) -> String {
    let rows: Vec<[String; 4]> = scenarios
        .iter()
        .map(|s| {
            let stacks: Vec<&str> = s.stacks.iter().map(|p| p.as_str()).collect();
            [s.name.clone(), stacks.join(","), s.needs().to_owned(), s.description.clone()]
        })
        .collect();
    let header = ["SCENARIO", "STACKS", "NEEDS", "DESCRIPTION"].map(String::from);
    let width = |column: usize| rows.iter().chain([&header]).map(|r| r[column].len()).max().unwrap_or(0);
    let (name, stacks, needs) = (width(0), width(1), width(2));
    std::iter::once(&header)
        .chain(&rows)
        .map(|[a, b, c, d]| format!("{a:<name$}  {b:<stacks$}  {c:<needs$}  {d}\n"))
        .collect()
}

/// What a name the user typed stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A builtin scenario; `alias` is the name typed when it was another.
    Builtin { name: &'static str, text: &'static str, alias: Option<String> },
    /// No builtin scenario has this name: a file path, or unknown.
    NotBuiltin,
}

/// Resolves a builtin scenario's name or alias.
pub fn resolve(typed: &str) -> Resolved {
    let builtin = |name: &str| BUILTIN.iter().find(|(n, _)| *n == name).copied();
    if let Some((name, text)) = builtin(typed) {
        return Resolved::Builtin { name, text, alias: None };
    }
    let lower = typed.to_ascii_lowercase();
    let aliased = ALIASES.iter().find(|(alias, _)| *alias == lower).map(|(_, name)| *name);
    let by_case = BUILTIN.iter().find(|(n, _)| *n == lower).map(|(n, _)| *n);
    match aliased.or(by_case).and_then(builtin) {
        Some((name, text)) => Resolved::Builtin { name, text, alias: Some(typed.to_owned()) },
        None => Resolved::NotBuiltin,
    }
}

/// The aliases of builtin scenario `name`.
pub fn aliases_of(name: &str) -> Vec<&'static str> {
    ALIASES.iter().filter(|(_, n)| *n == name).map(|(alias, _)| *alias).collect()
}

/// What to tell someone who typed an unknown name: the names closest to it.
pub fn unknown_hint(typed: &str) -> String {
    let lower = typed.to_ascii_lowercase();
    let names = BUILTIN.iter().map(|(n, _)| *n).chain(ALIASES.iter().map(|(a, _)| *a));
    let mut close: Vec<(usize, &str)> = names
        .map(|n| (strsim::levenshtein(&lower, n), n))
        .filter(|(distance, n)| *distance <= 2.max(lower.len() / 4) || (lower.len() >= 4 && n.contains(&*lower)))
        .collect();
    close.sort();
    close.dedup_by_key(|(_, n)| *n);
    match close.iter().take(3).map(|(_, n)| format!("`{n}`")).collect::<Vec<_>>() {
        suggestions if suggestions.is_empty() => "`lab scenarios` lists them".into(),
        suggestions => format!("did you mean {}?", suggestions.join(" or ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(typed: &str) -> Option<&'static str> {
        match resolve(typed) {
            Resolved::Builtin { name, .. } => Some(name),
            Resolved::NotBuiltin => None,
        }
    }

    #[test]
    fn short_names_and_tuchankas_names_resolve_to_one_scenario() {
        assert_eq!(name_of("link-down"), Some("link-down-master"));
        assert_eq!(name_of("poweroff"), Some("poweroff-master"));
        assert_eq!(name_of("kill-postgres"), Some("kill-postgres-master"));
        assert_eq!(name_of("docker-stop"), Some("docker-stop-redis"));
        assert_eq!(name_of("PowerOff"), Some("poweroff-master"));
        assert_eq!(name_of("UnLink"), Some("link-down-master"));
        assert_eq!(name_of("ShutDown"), Some("shutdown-master"));
        assert_eq!(name_of("Postgres-KILL"), Some("kill-postgres-master"));
        assert_eq!(name_of("ForkBomb"), Some("fork-bomb-master"));
        assert_eq!(name_of("disable"), Some("disable-postgres"));
        assert_eq!(name_of("Postgres-STOP"), Some("stop-postgres-master"));
        assert_eq!(name_of("Reset"), Some("reset-master"));
        assert_eq!(name_of("POWEROFF-REPLICA"), Some("poweroff-replica"));
        assert!(matches!(resolve("reset-master"), Resolved::Builtin { alias: None, .. }));
        assert!(matches!(resolve("Reset"), Resolved::Builtin { alias: Some(ref a), .. } if a == "Reset"));
        assert_eq!(name_of("./mine.toml"), None);
    }

    #[test]
    fn every_alias_names_a_builtin_scenario_and_shadows_none() {
        for (alias, name) in ALIASES {
            assert!(BUILTIN.iter().any(|(n, _)| n == name), "{alias} → {name}");
            assert!(!BUILTIN.iter().any(|(n, _)| n == alias), "{alias} is a scenario's own name");
        }
    }

    #[test]
    fn unknown_names_get_the_closest_or_the_reason() {
        assert_eq!(unknown_hint("link-dwon"), "did you mean `link-down`?");
        assert!(
            unknown_hint("poweroff-mastr").starts_with("did you mean `poweroff-master`"),
            "{}",
            unknown_hint("poweroff-mastr")
        );
        assert!(unknown_hint("redis").contains("`kill-redis`"), "{}", unknown_hint("redis"));
        assert!(unknown_hint("sbd-stp").contains("`sbd-stop`"), "{}", unknown_hint("sbd-stp"));
        assert_eq!(unknown_hint("zzzzzzzzzzzz"), "`lab scenarios` lists them");
    }
}
