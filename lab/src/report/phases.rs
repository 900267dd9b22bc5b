//! A failover broken into its phases, read from the cluster's own journals.
//!
//! An outage of 12 s says that something is slow, not what. The nodes'
//! journals say when the cluster noticed the fault, when the victim was
//! fenced, when the survivor was promoted and when the VIP came up; the
//! writer says when the first write was acknowledged again. On one clock
//! (milliseconds after the fault), these show which phase to tune: the
//! corosync token, the fence agent, the promotion, or the clients.
//!
//! The lines are Pacemaker 2.1's and Corosync 3's, as Pacemaker's own
//! Cluster Test Suite matches them (`python/pacemaker/_cts/patterns.py`):
//! `Node X state is now lost`, `Unexpected result ... recorded for`,
//! `Peer X was terminated (reboot) by ... : OK`, `Result of promote
//! operation for R on N: ok`. Journals are `journalctl -o
//! short-iso-precise` text, kept as is in the run directory for people.

use serde::{Deserialize, Serialize};

/// Milliseconds after the fault at which each phase of a failover ended;
/// `None` for a phase that did not happen (no fencing after a process
/// kill) or was not seen in the journals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FailoverPhases {
    /// The cluster noticed: a node lost from the membership, a token lost,
    /// or a resource's unexpected result.
    pub detected_ms: Option<f64>,
    /// The victim's fencing was confirmed.
    pub fenced_ms: Option<f64>,
    /// The service's promotable clone was promoted on a node.
    pub promoted_ms: Option<f64>,
    /// The service's master VIP was started.
    pub vip_ms: Option<f64>,
    /// The first acknowledged write after the fault's outage.
    pub first_write_ms: Option<f64>,
}

impl FailoverPhases {
    /// The phases as `(name, ms)`, in the order they happen.
    pub fn named(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("detected", self.detected_ms),
            ("fenced", self.fenced_ms),
            ("promoted", self.promoted_ms),
            ("VIP up", self.vip_ms),
            ("first write", self.first_write_ms),
        ]
    }

    /// `detected 1.2 s, fenced 3.4 s, ...` with the phases seen, or `None`
    /// when none was.
    pub fn line(&self) -> Option<String> {
        let parts: Vec<String> =
            self.named().iter().filter_map(|(name, ms)| ms.map(|ms| format!("{name} {:.1} s", ms / 1000.0))).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// What a run's phases are looked for: the service's resources, the fault's
/// moment, and the first acknowledged write the probes saw.
#[derive(Clone, Debug)]
pub struct PhaseWatch<'a> {
    /// The primitive inside the promotable clone (`pgsqld` of
    /// `pgsqld-clone`): Pacemaker logs operations by primitive.
    pub promotable: &'a str,
    /// The master VIP's resource.
    pub vip: &'a str,
    /// The fault, in milliseconds since the Unix epoch.
    pub fault_unix_ms: f64,
    /// The first acknowledged write after the outage, same clock.
    pub first_write_unix_ms: Option<f64>,
}

/// The phases in `journals` (one text per host) after the fault.
pub fn from_journals(journals: &[(String, String)], watch: &PhaseWatch<'_>) -> FailoverPhases {
    let lines: Vec<(f64, &str)> = journals
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|line| Some((timestamp_ms(line)?, line)))
        .filter(|(at, _)| *at >= watch.fault_unix_ms)
        .collect();
    let first = |matches: &dyn Fn(&str) -> bool| {
        lines.iter().filter(|(_, line)| matches(line)).map(|(at, _)| at - watch.fault_unix_ms).min_by(f64::total_cmp)
    };
    let promote = format!("Result of promote operation for {} on ", watch.promotable);
    let vip_start = format!("Result of start operation for {} on ", watch.vip);
    FailoverPhases {
        detected_ms: first(&is_detection),
        fenced_ms: first(&|line| line.contains("was terminated (") && ends_ok(line)),
        promoted_ms: first(&|line| line.contains(&promote) && ends_ok(line)),
        vip_ms: first(&|line| line.contains(&vip_start) && ends_ok(line)),
        first_write_ms: watch.first_write_unix_ms.map(|at| at - watch.fault_unix_ms).filter(|ms| *ms >= 0.0),
    }
}

/// The fencing the cluster confirmed in `journals` from `since_unix_ms`
/// on, oldest first: `Peer X was terminated (reboot) by Y on behalf of Z:
/// OK`. With sbd no fence device reports to lab's daemon: a node is
/// counted as fenced when its watchdog surely reset it, and only the
/// cluster's own journals say when that was. Every node that saw it logs
/// the same confirmation; each is kept once.
pub fn fencings(journals: &[(String, String)], since_unix_ms: f64) -> Vec<crate::fenced::FenceEvent> {
    let mut events: Vec<crate::fenced::FenceEvent> = journals
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|line| {
            let at = timestamp_ms(line).filter(|at| *at >= since_unix_ms)?;
            let (_, peer) = line.split_once(" Peer ")?;
            let (node, rest) = peer.split_once(" was terminated (")?;
            let (action, _) = rest.split_once(')')?;
            let result = line.split(" | ").next().unwrap_or(line).trim_end().rsplit_once(": ")?.1;
            Some(crate::fenced::FenceEvent {
                unix_ms: at.max(0.0) as u128,
                action: action.to_owned(),
                node: node.to_owned(),
                answer: if ends_ok(line) { "OK".to_owned() } else { result.to_owned() },
            })
        })
        .collect();
    events.sort_by_key(|e| e.unix_ms);
    // The same confirmation from several nodes lands within a second.
    let mut kept: Vec<crate::fenced::FenceEvent> = Vec::new();
    for event in events {
        let seen = kept
            .iter()
            .any(|k| k.node == event.node && k.action == event.action && event.unix_ms.abs_diff(k.unix_ms) < 2_000);
        if !seen {
            kept.push(event);
        }
    }
    kept
}

/// A line that shows the cluster noticing a fault.
fn is_detection(line: &str) -> bool {
    const SIGNS: [&str; 4] = [
        // pacemaker-controld/attrd: a peer left the membership
        "state is now lost",
        // corosync: the token went round no more
        "Token has not been received in",
        "A processor failed, forming new configuration",
        // pacemaker-schedulerd: a monitor found a resource failed
        "Unexpected result (",
    ];
    SIGNS.iter().any(|sign| line.contains(sign))
}

/// Whether a result line says the operation succeeded. Pacemaker writes
/// the result after the last `: ` and may add details after ` | ` (its
/// `CRM_XS`): `...: ok | call=45 key=pgsqld_promote_0 confirmed=true`;
/// 2.0 wrote `0 (ok)`, 2.1 `ok`, later `OK`.
fn ends_ok(line: &str) -> bool {
    let line = line.split(" | ").next().unwrap_or(line).trim_end();
    let Some((_, result)) = line.rsplit_once(": ") else { return false };
    let result = result.trim().to_ascii_lowercase();
    result == "ok" || result == "0 (ok)"
}

/// The time of a `short-iso-precise` journal line in ms since the epoch:
/// `2026-11-30T22:15:01.123456+00:00 host ident[pid]: text` (systemd before
/// 249 wrote the offset as `+0000`).
pub fn timestamp_ms(line: &str) -> Option<f64> {
    let stamp = line.split_ascii_whitespace().next()?;
    let normalized;
    let stamp = match stamp.len().checked_sub(5).and_then(|i| stamp.get(i..).map(|tail| (i, tail))) {
        Some((i, tail)) if (tail.starts_with('+') || tail.starts_with('-')) && !tail.contains(':') => {
            normalized = format!("{}{}:{}", &stamp[..i], &tail[..3], &tail[3..]);
            normalized.as_str()
        }
        _ => stamp,
    };
    let at: jiff::Timestamp = stamp.parse().ok()?;
    Some(at.as_microsecond() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30T22:15:00Z in ms since the epoch.
    const FAULT: f64 = 1_796_076_900_000.0;

    /// Lines as a Debian 12 node of a poweroff-master run writes them.
    const SURVIVOR: &str = "\
2026-11-30T22:14:59.900000+00:00 tuchanka-a pacemaker-controld[812]: notice: Result of monitor operation for pgsqld on tuchanka-a: ok
2026-11-30T22:15:01.250311+00:00 tuchanka-a corosync[701]:   [TOTEM ] Token has not been received in 1237 ms
2026-11-30T22:15:01.660021+00:00 tuchanka-a corosync[701]:   [TOTEM ] A processor failed, forming new configuration: token timed out (1650ms), waiting 1980ms for consensus.
2026-11-30T22:15:03.702442+00:00 tuchanka-a pacemaker-controld[812]: notice: Node tuchanka-b state is now lost
2026-11-30T22:15:06.913205+00:00 tuchanka-a pacemaker-controld[812]: notice: Peer tuchanka-b was terminated (reboot) by tuchanka-a on behalf of pacemaker-controld.812: OK
2026-11-30T22:15:09.001100+00:00 tuchanka-a pacemaker-controld[812]: notice: Result of promote operation for pgsqld on tuchanka-a: ok
2026-11-30T22:15:09.400000+00:00 tuchanka-a pacemaker-controld[812]: notice: Result of start operation for pg-replica-vip on tuchanka-a: ok
2026-11-30T22:15:09.512000+00:00 tuchanka-a pacemaker-controld[812]: notice: Result of start operation for pg-master-vip on tuchanka-a: ok
";

    #[test]
    fn watchdog_fencing_is_read_from_the_journals_once() {
        let other = "\
2026-11-30T22:15:06.990000+00:00 witness x[1]: notice: Peer tuchanka-b was terminated (reboot) by tuchanka-a on behalf of pacemaker-controld.812: OK
2026-11-30T22:15:20.000000+00:00 tuchanka-a pacemaker-controld[812]: notice: Peer tuchanka-b was terminated (off) by tuchanka-a on behalf of x.1: Timeout | initiator=a
";
        let journals = [("tuchanka-a".to_owned(), SURVIVOR.to_owned()), ("witness".to_owned(), other.to_owned())];
        let events = fencings(&journals, FAULT);
        let seen: Vec<(&str, &str, &str)> =
            events.iter().map(|e| (e.node.as_str(), e.action.as_str(), e.answer.as_str())).collect();
        assert_eq!(seen, [("tuchanka-b", "reboot", "OK"), ("tuchanka-b", "off", "Timeout")]);
        assert_eq!(events[0].unix_ms, 1_796_076_906_913);
        assert!(fencings(&journals, FAULT + 30_000.0).is_empty(), "only from the given moment on");
    }

    fn watch() -> PhaseWatch<'static> {
        PhaseWatch {
            promotable: "pgsqld",
            vip: "pg-master-vip",
            fault_unix_ms: FAULT,
            first_write_unix_ms: Some(FAULT + 10_250.0),
        }
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 0.01)
    }

    #[test]
    fn a_power_off_failover_in_its_phases() {
        let phases = from_journals(&[("tuchanka-a".into(), SURVIVOR.into())], &watch());
        assert!(close(phases.detected_ms, 1250.311), "{phases:?}");
        assert!(close(phases.fenced_ms, 6913.205), "{phases:?}");
        assert!(close(phases.promoted_ms, 9001.1), "{phases:?}");
        assert!(close(phases.vip_ms, 9512.0), "the master VIP, not the replica's: {phases:?}");
        assert!(close(phases.first_write_ms, 10_250.0), "{phases:?}");
        assert_eq!(
            phases.line().as_deref(),
            Some("detected 1.3 s, fenced 6.9 s, promoted 9.0 s, VIP up 9.5 s, first write 10.2 s")
        );
    }

    #[test]
    fn the_earliest_line_of_any_host_counts() {
        let victim = "2026-11-30T22:15:00.800000+00:00 tuchanka-b pacemaker-schedulerd[9]: warning: \
                      Unexpected result (not running) was recorded for monitor of pgsqld:1 on tuchanka-b at Nov 30 22:15:00 2026\n";
        let journals = [("tuchanka-a".to_owned(), SURVIVOR.to_owned()), ("tuchanka-b".to_owned(), victim.to_owned())];
        let phases = from_journals(&journals, &watch());
        assert!(close(phases.detected_ms, 800.0), "{phases:?}");
    }

    #[test]
    fn what_did_not_happen_is_none() {
        let kill = "2026-11-30T22:15:02.000000+00:00 tuchanka-b pacemaker-controld[9]: notice: \
                    Result of promote operation for pgsqld on tuchanka-b: error\n";
        let phases =
            from_journals(&[("tuchanka-b".into(), kill.into())], &PhaseWatch { first_write_unix_ms: None, ..watch() });
        assert_eq!(phases, FailoverPhases::default(), "a failed promote is no promotion");
        assert_eq!(phases.line(), None);
    }

    #[test]
    fn lines_before_the_fault_are_ignored() {
        let early = PhaseWatch { fault_unix_ms: FAULT + 7000.0, first_write_unix_ms: None, ..watch() };
        let phases = from_journals(&[("tuchanka-a".into(), SURVIVOR.into())], &early);
        assert_eq!(phases.detected_ms, None);
        assert_eq!(phases.fenced_ms, None);
        assert!(close(phases.promoted_ms, 2001.1), "{phases:?}");
    }

    #[test]
    fn results_are_read_past_pacemakers_details() {
        assert!(ends_ok(
            "notice: Result of promote operation for pgsqld on b: ok | call=45 key=pgsqld_promote_0 confirmed=true"
        ));
        assert!(ends_ok("notice: Result of start operation for vip on b: 0 (ok) | call=9"));
        assert!(ends_ok(
            "notice: Peer a was terminated (reboot) by b on behalf of pacemaker-controld.8: OK | initiator=b"
        ));
        assert!(!ends_ok("notice: Result of promote operation for pgsqld on b: error | call=45"));
        assert!(!ends_ok("notice: Result of promote operation for pgsqld on b: not running"));
    }

    #[test]
    fn both_offset_forms_and_junk_lines() {
        assert_eq!(timestamp_ms("2026-11-30T22:15:00.000000+0000 host x: y"), Some(FAULT));
        assert_eq!(timestamp_ms("2026-11-30T23:15:00.000000+01:00 host x: y"), Some(FAULT));
        assert_eq!(timestamp_ms("-- Boot 1b2c... --"), None);
        assert_eq!(timestamp_ms(""), None);
    }
}
