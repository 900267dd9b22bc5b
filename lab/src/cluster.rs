//! What the cluster looks like right now, read from `crm_mon --output-as=xml`.
//!
//! Scenarios pick their victim by role ("the current master"), wait for the
//! cluster to be healthy, and report where the master ended up: all from
//! this one parsed view.

use std::collections::BTreeMap;

use serde::Serialize;

/// Name of the PAF promotable clone and the floating IPs, as set up by
/// `guest/cluster-resources.sh`.
pub const PG_CLONE: &str = "pgsqld-clone";
pub const MASTER_VIP: &str = "pg-master-vip";
pub const REPLICA_VIP: &str = "pg-replica-vip";
/// The Redis promotable clone and its VIP.
pub const REDIS_CLONE: &str = "redisd-clone";
pub const REDIS_VIP: &str = "redis-master-vip";
/// Fence devices are named `fence-<node>`.
pub const FENCE_PREFIX: &str = "fence-";
/// Node attribute where PAF keeps each node's promotion score.
pub const PROMOTION_SCORE: &str = "master-pgsqld";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterState {
    pub quorate: bool,
    pub online: Vec<String>,
    pub offline: Vec<String>,
    /// Node where PostgreSQL is promoted.
    pub master: Option<String>,
    /// Nodes where PostgreSQL runs as a replica.
    pub replicas: Vec<String>,
    /// Node where Redis is promoted.
    pub redis_master: Option<String>,
    /// Nodes where Redis runs as a replica.
    pub redis_replicas: Vec<String>,
    /// Each primitive resource outside the clone (VIPs, fence devices) and
    /// the node it runs on, if any.
    pub resources: BTreeMap<String, Option<String>>,
    /// PAF's promotion score per node (`master-pgsqld`). PAF gives a
    /// replica a positive score only once the master has seen it streaming;
    /// a replica at -1000 would not be promoted if the master failed.
    pub promotion_scores: BTreeMap<String, i64>,
    /// Failed actions still recorded (cleared by `pcs resource cleanup`).
    pub failed_actions: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read crm_mon output: {0}")]
pub struct ParseError(String);

impl ClusterState {
    pub fn parse(xml: &str) -> Result<Self, ParseError> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| ParseError(e.to_string()))?;
        let root = doc.root_element();
        let mut state = ClusterState::default();
        let find = |name: &str| root.descendants().find(|n| n.has_tag_name(name));
        state.quorate = find("current_dc").and_then(|n| n.attribute("with_quorum")) == Some("true");
        if let Some(nodes) = find("nodes") {
            for node in nodes.children().filter(|n| n.has_tag_name("node")) {
                let name = node.attribute("name").unwrap_or_default().to_owned();
                let online = node.attribute("online") == Some("true") && node.attribute("standby") != Some("true");
                if online { state.online.push(name) } else { state.offline.push(name) }
            }
        }
        let Some(resources) = find("resources") else {
            return Err(ParseError("no <resources> element".into()));
        };
        for element in resources.children().filter(|n| n.is_element()) {
            let id = element.attribute("id").unwrap_or_default();
            if element.has_tag_name("clone") && (id == PG_CLONE || id == REDIS_CLONE) {
                let (master, replicas) = if id == PG_CLONE {
                    (&mut state.master, &mut state.replicas)
                } else {
                    (&mut state.redis_master, &mut state.redis_replicas)
                };
                for instance in element.children().filter(|n| n.has_tag_name("resource")) {
                    let Some(node) = running_on(instance) else { continue };
                    match instance.attribute("role") {
                        Some("Promoted" | "Master") => *master = Some(node),
                        Some("Unpromoted" | "Slave") => replicas.push(node),
                        _ => {}
                    }
                }
            } else if element.has_tag_name("resource") {
                let node = if element.attribute("active") == Some("true") { running_on(element) } else { None };
                state.resources.insert(id.to_owned(), node);
            }
        }
        state.replicas.sort();
        state.redis_replicas.sort();
        if let Some(attributes) = find("node_attributes") {
            for node in attributes.children().filter(|n| n.has_tag_name("node")) {
                let name = node.attribute("name").unwrap_or_default();
                let score = node
                    .children()
                    .find(|a| a.attribute("name") == Some(PROMOTION_SCORE))
                    .and_then(|a| a.attribute("value"))
                    .and_then(|v| v.parse().ok());
                if let Some(score) = score {
                    state.promotion_scores.insert(name.to_owned(), score);
                }
            }
        }
        state.failed_actions =
            find("failures").map_or(0, |f| f.children().filter(|n| n.has_tag_name("failure")).count());
        Ok(state)
    }

    /// Where a resource runs, if it runs.
    pub fn location(&self, resource: &str) -> Option<&str> {
        self.resources.get(resource).and_then(|n| n.as_deref())
    }

    /// A master, a replica on every other node that PAF would promote, the
    /// master VIP with the master and the replica VIP up: the state every
    /// scenario starts from and must return to.
    pub fn is_healthy(&self, nodes: &[String]) -> bool {
        let Some(master) = &self.master else {
            return false;
        };
        let mut expected: Vec<&String> = nodes.iter().filter(|n| *n != master).collect();
        expected.sort();
        let replicas: Vec<&String> = self.replicas.iter().collect();
        self.quorate
            && self.online.len() == nodes.len()
            && replicas == expected
            && self.replicas.iter().all(|r| self.promotion_scores.get(r).is_some_and(|s| *s > 0))
            && self.location(MASTER_VIP) == Some(master.as_str())
            && self.location(REPLICA_VIP).is_some()
            && self.fencing_ready()
            && self.redis_ready(nodes)
    }

    /// Redis, where the lab has it: a master with its VIP and a replica on
    /// every other node. A cluster without the Redis resource is not judged
    /// on it.
    pub fn redis_ready(&self, nodes: &[String]) -> bool {
        if !self.resources.contains_key(REDIS_VIP) {
            return true;
        }
        let Some(master) = &self.redis_master else { return false };
        let mut expected: Vec<&String> = nodes.iter().filter(|n| *n != master).collect();
        expected.sort();
        self.redis_replicas.iter().collect::<Vec<_>>() == expected && self.location(REDIS_VIP) == Some(master.as_str())
    }

    /// Every fence device runs somewhere: without them no failure that
    /// needs fencing (a crashed master, a lost node) can be recovered.
    pub fn fencing_ready(&self) -> bool {
        self.resources.iter().filter(|(id, _)| id.starts_with(FENCE_PREFIX)).all(|(_, node)| node.is_some())
    }

    /// One line for progress and logs.
    pub fn summary(&self) -> String {
        format!(
            "master {}, replicas [{}], redis master {}, online [{}]{}",
            self.master.as_deref().unwrap_or("none"),
            self.replicas.join(" "),
            self.redis_master.as_deref().unwrap_or("none"),
            self.online.join(" "),
            if self.quorate { "" } else { ", no quorum" }
        )
    }
}

fn running_on(resource: roxmltree::Node<'_, '_>) -> Option<String> {
    resource.children().find(|n| n.has_tag_name("node")).and_then(|n| n.attribute("name")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from real `crm_mon -1 --output-as=xml` of a lab cluster.
    const HEALTHY: &str = include_str!("../tests/data/crm_mon_healthy.xml");
    const FAILED_OVER: &str = include_str!("../tests/data/crm_mon_failed_over.xml");

    fn nodes() -> Vec<String> {
        vec!["tuchanka-a".into(), "tuchanka-b".into()]
    }

    #[test]
    fn healthy_cluster_is_recognised() {
        let state = ClusterState::parse(HEALTHY).expect("parse");
        assert_eq!(state.master.as_deref(), Some("tuchanka-a"));
        assert_eq!(state.replicas, ["tuchanka-b"]);
        assert_eq!(state.location(MASTER_VIP), Some("tuchanka-a"));
        assert_eq!(state.location(REPLICA_VIP), Some("tuchanka-b"));
        assert!(state.quorate);
        assert!(state.is_healthy(&nodes()), "{state:?}");
    }

    #[test]
    fn a_replica_paf_would_not_promote_is_not_healthy() {
        // Right after promotion the master's first monitor may not see the
        // replica streaming yet and scores it -1000: a fault then finds no
        // replica to promote.
        let xml = HEALTHY.replace(r#"name="master-pgsqld" value="1000""#, r#"name="master-pgsqld" value="-1000""#);
        let state = ClusterState::parse(&xml).expect("parse");
        assert_eq!(state.promotion_scores.get("tuchanka-b"), Some(&-1000));
        assert!(!state.is_healthy(&nodes()));
    }

    #[test]
    fn lone_survivor_is_not_healthy_but_serves_both_vips() {
        let state = ClusterState::parse(FAILED_OVER).expect("parse");
        assert_eq!(state.master.as_deref(), Some("tuchanka-b"));
        assert!(state.replicas.is_empty());
        assert_eq!(state.offline, ["tuchanka-a"]);
        assert_eq!(state.location(REPLICA_VIP), Some("tuchanka-b"));
        assert!(!state.is_healthy(&nodes()));
    }

    #[test]
    fn stopped_fencing_is_not_healthy() {
        let xml = HEALTHY.replacen(
            r#"<resource id="fence-tuchanka-a" resource_agent="stonith:fence_lab" role="Started" active="true""#,
            r#"<resource id="fence-tuchanka-a" resource_agent="stonith:fence_lab" role="Stopped" active="false""#,
            1,
        );
        let state = ClusterState::parse(&xml).expect("parse");
        assert!(!state.fencing_ready());
        assert!(!state.is_healthy(&nodes()));
    }

    #[test]
    fn redis_clone_and_vip_are_read() {
        let state = ClusterState::parse(include_str!("../tests/data/crm_mon_with_redis.xml")).expect("parse");
        assert_eq!(state.redis_master.as_deref(), Some("tuchanka-b"));
        assert_eq!(state.redis_replicas, ["tuchanka-a"]);
        assert_eq!(state.location(REDIS_VIP), Some("tuchanka-b"));
        assert!(state.redis_ready(&nodes()));
        assert_eq!(state.master.as_deref(), Some("tuchanka-a"), "PostgreSQL is read apart from Redis");
    }

    /// Pacemaker 1.1 (RHEL 7) answers `crm_mon -X` in its own shape: root
    /// `<crm_mon>`, roles Master/Slave, agents `ocf::heartbeat:…` (the lab
    /// of `crm_mon_with_redis.xml`, written as Pacemaker 1.1 prints it).
    #[test]
    fn pacemaker_1_1_output_reads_the_same() {
        let old = ClusterState::parse(include_str!("../tests/data/crm_mon_pacemaker_1_1.xml")).expect("parse");
        let new = ClusterState::parse(include_str!("../tests/data/crm_mon_with_redis.xml")).expect("parse");
        assert_eq!(format!("{old:?}"), format!("{new:?}"));
        assert_eq!(old.master.as_deref(), Some("tuchanka-a"));
        assert_eq!(old.redis_master.as_deref(), Some("tuchanka-b"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ClusterState::parse("not xml").is_err());
        assert!(ClusterState::parse("<pacemaker-result/>").is_err());
    }
}
