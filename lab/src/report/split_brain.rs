//! DRBD split brains, as the nodes' kernels log them.
//!
//! With DRBD's Pacemaker fencing (`fencing resource-only`) a primary cut off
//! from its peer forbids promoting it, so both sides never write at once: a
//! split brain means that promise broke. DRBD notices it when the two sides
//! reconnect, and either resolves it by a policy (`after-sb-*`: one side's
//! changes are thrown away, whatever it had acknowledged) or stands alone
//! until an operator reconnects one side with `--discard-my-data`, as lab's
//! restore then does. Either way a run where one happened is a finding.

use serde::{Deserialize, Serialize};

use super::phases::timestamp_ms;

/// One split brain a node's DRBD detected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitBrain {
    pub node: String,
    /// When, in ms since the epoch.
    pub unix_ms: f64,
    /// Whether DRBD's policy resolved it by itself (throwing one side's
    /// changes away) rather than dropping the connection.
    pub resolved_by_policy: bool,
    /// The kernel's line.
    pub line: String,
}

/// The split brains logged in `journals` (node, journal text) from
/// `since_unix_ms` on, oldest first.
pub fn split_brains(journals: &[(String, String)], since_unix_ms: f64) -> Vec<SplitBrain> {
    let mut found: Vec<SplitBrain> = journals
        .iter()
        .flat_map(|(node, text)| text.lines().map(move |line| (node, line)))
        .filter(|(_, line)| line.contains("Split-Brain detected"))
        .filter_map(|(node, line)| {
            let unix_ms = timestamp_ms(line).filter(|at| *at >= since_unix_ms)?;
            Some(SplitBrain {
                node: node.clone(),
                unix_ms,
                resolved_by_policy: line.contains("automatically solved"),
                line: line.to_owned(),
            })
        })
        .collect();
    found.sort_by(|a, b| a.unix_ms.total_cmp(&b.unix_ms));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DRBD 8.4's own words (drbd_receiver.c), in journalctl's
    /// short-iso-precise format.
    #[test]
    fn both_kinds_of_split_brain_are_found_with_their_node_and_time() {
        let a = "2026-12-03T07:00:01.000000+00:00 node-a kernel: drbd data: Split-Brain detected but unresolved, dropping connection!\n\
                 2026-12-03T07:00:01.500000+00:00 node-a kernel: drbd data: helper command: /sbin/drbdadm split-brain minor-1\n";
        let b = "2026-12-03T06:59:00.000000+00:00 node-b kernel: drbd data: Split-Brain detected, 1 primaries, automatically solved. Sync from this node\n\
                 2026-12-03T07:00:00.000000+00:00 node-b kernel: drbd data: Split-Brain detected, 0 primaries, automatically solved. Sync from peer node\n\
                 2026-12-03T07:00:02.000000+00:00 node-b kernel: drbd data: conn( WFReportParams -> Connected )\n";
        let journals = [("node-a".to_owned(), a.to_owned()), ("node-b".to_owned(), b.to_owned())];
        let since = timestamp_ms("2026-12-03T06:59:30+00:00 x").expect("stamp");
        let found = split_brains(&journals, since);
        let seen: Vec<(&str, bool)> = found.iter().map(|s| (s.node.as_str(), s.resolved_by_policy)).collect();
        assert_eq!(seen, [("node-b", true), ("node-a", false)], "oldest first, none before `since`");
        assert!(found[1].line.ends_with("dropping connection!"));
        assert!(split_brains(&journals[1..], since + 60_000.0).is_empty(), "none after 07:00:30");
    }
}
