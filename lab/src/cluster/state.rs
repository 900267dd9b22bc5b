//! What the cluster looks like right now, read from `crm_mon --output-as=xml`.
//!
//! Scenarios pick their victim by role ("the current master"), wait for the
//! cluster to be healthy, and report where the master ended up: all from
//! this one parsed view. It knows Pacemaker, not the services: which clone
//! and VIPs are a service's, and when it is healthy, its
//! [`ServiceSpec`] says.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::services::ServiceSpec;

/// Fence devices are named `fence-<node>`.
pub const FENCE_PREFIX: &str = "fence-";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterState {
    pub quorate: bool,
    pub online: Vec<String>,
    pub offline: Vec<String>,
    /// Each promotable clone by id: where it is promoted and where it runs
    /// unpromoted. Which service a clone is, its [`ServiceSpec`] says.
    pub clones: BTreeMap<String, CloneState>,
    /// Each primitive resource outside the clones (VIPs, fence devices) and
    /// the node it runs on, if any.
    pub resources: BTreeMap<String, Option<String>>,
    /// Node attributes holding promotion scores (`master-<resource>`), by
    /// attribute and node.
    pub promotion_scores: BTreeMap<String, BTreeMap<String, i64>>,
    /// Failed actions still recorded (cleared by `pcs resource cleanup`).
    pub failed_actions: usize,
}

/// Where a promotable clone's instances run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CloneState {
    pub promoted: Option<String>,
    /// Sorted.
    pub unpromoted: Vec<String>,
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
        // A group's members are resources like any other, by their own ids.
        let elements = resources.children().filter(|n| n.is_element()).flat_map(|element| {
            if element.has_tag_name("group") {
                element.children().filter(|n| n.is_element()).collect::<Vec<_>>()
            } else {
                vec![element]
            }
        });
        for element in elements {
            let id = element.attribute("id").unwrap_or_default();
            if element.has_tag_name("clone") && element.attribute("multi_state") == Some("true") {
                let clone = state.clones.entry(id.to_owned()).or_default();
                for instance in element.children().filter(|n| n.has_tag_name("resource")) {
                    let Some(node) = running_on(instance) else { continue };
                    match instance.attribute("role") {
                        Some("Promoted" | "Master") => clone.promoted = Some(node),
                        Some("Unpromoted" | "Slave") => clone.unpromoted.push(node),
                        _ => {}
                    }
                }
                clone.unpromoted.sort();
            } else if element.has_tag_name("resource") {
                let node = if element.attribute("active") == Some("true") { running_on(element) } else { None };
                state.resources.insert(id.to_owned(), node);
            }
        }
        if let Some(attributes) = find("node_attributes") {
            for node in attributes.children().filter(|n| n.has_tag_name("node")) {
                let name = node.attribute("name").unwrap_or_default();
                for attribute in node.children().filter(|a| a.has_tag_name("attribute")) {
                    let (Some(key), Some(value)) = (attribute.attribute("name"), attribute.attribute("value")) else {
                        continue;
                    };
                    if let (true, Ok(score)) = (key.starts_with("master-"), value.parse()) {
                        state.promotion_scores.entry(key.to_owned()).or_default().insert(name.to_owned(), score);
                    }
                }
            }
        }
        state.failed_actions =
            find("failures").map_or(0, |f| f.children().filter(|n| n.has_tag_name("failure")).count());
        Ok(state)
    }

    /// Where promotable clone `clone` is promoted, if it is.
    pub fn promoted(&self, clone: &str) -> Option<&str> {
        self.clones.get(clone).and_then(|c| c.promoted.as_deref())
    }

    /// Where promotable clone `clone` runs unpromoted, sorted.
    pub fn unpromoted(&self, clone: &str) -> &[String] {
        self.clones.get(clone).map_or(&[], |c| c.unpromoted.as_slice())
    }

    /// Where a resource runs, if it runs.
    pub fn location(&self, resource: &str) -> Option<&str> {
        self.resources.get(resource).and_then(|n| n.as_deref())
    }

    /// The promotion score `attribute` gives `node`, if it has one.
    pub fn promotion_score(&self, attribute: &str, node: &str) -> Option<i64> {
        self.promotion_scores.get(attribute).and_then(|scores| scores.get(node)).copied()
    }

    /// Quorum, every node online, fencing ready, every resource running
    /// and every one of `services` healthy (see [`ServiceSpec::is_healthy`]):
    /// the state every scenario starts from and must return to.
    ///
    /// A resource no service names counts too: a group member that failed
    /// and stopped (seed 004's nfs-notify) leaves the service up where it
    /// is, and the fault would then hit a cluster already degraded.
    pub fn is_healthy(&self, nodes: &[String], services: &[&ServiceSpec]) -> bool {
        self.quorate
            && self.online.len() == nodes.len()
            && self.fencing_ready()
            && self.stopped().is_empty()
            && services.iter().all(|service| service.is_healthy(self, nodes))
    }

    /// The primitives outside promotable clones that run nowhere.
    pub fn stopped(&self) -> Vec<&str> {
        self.resources.iter().filter(|(_, node)| node.is_none()).map(|(id, _)| id.as_str()).collect()
    }

    /// Every fence device runs somewhere: without them no failure that
    /// needs fencing (a crashed master, a lost node) can be recovered.
    pub fn fencing_ready(&self) -> bool {
        self.resources.iter().filter(|(id, _)| id.starts_with(FENCE_PREFIX)).all(|(_, node)| node.is_some())
    }

    /// One line for progress and logs.
    pub fn summary(&self, services: &[&ServiceSpec]) -> String {
        let services: Vec<String> = services.iter().map(|s| s.summary(self)).collect();
        let stopped = self.stopped();
        format!(
            "{}; online [{}]{}{}",
            services.join("; "),
            self.online.join(" "),
            if self.quorate { "" } else { ", no quorum" },
            if stopped.is_empty() { String::new() } else { format!(", stopped [{}]", stopped.join(" ")) }
        )
    }
}

fn running_on(resource: roxmltree::Node<'_, '_>) -> Option<String> {
    resource.children().find(|n| n.has_tag_name("node")).and_then(|n| n.attribute("name")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::services;

    /// Trimmed from real `crm_mon -1 --output-as=xml` of a lab cluster.
    const HEALTHY: &str = include_str!("../../tests/data/crm_mon_healthy.xml");
    const FAILED_OVER: &str = include_str!("../../tests/data/crm_mon_failed_over.xml");

    fn nodes() -> Vec<String> {
        vec!["tuchanka-a".into(), "tuchanka-b".into()]
    }

    fn postgres() -> &'static ServiceSpec {
        &services::postgres::PAF
    }

    fn redis() -> &'static ServiceSpec {
        &services::redis::AGENT
    }

    #[test]
    fn healthy_cluster_is_recognised() {
        let state = ClusterState::parse(HEALTHY).expect("parse");
        assert_eq!(postgres().master(&state), Some("tuchanka-a"));
        assert_eq!(postgres().replicas(&state), ["tuchanka-b"]);
        assert_eq!(state.location("pg-master-vip"), Some("tuchanka-a"));
        assert_eq!(state.location("pg-replica-vip"), Some("tuchanka-b"));
        assert!(state.quorate);
        assert!(state.is_healthy(&nodes(), &[postgres()]), "{state:?}");
        assert!(!state.is_healthy(&nodes(), &[postgres(), redis()]), "this cluster has no Redis");
        assert_eq!(
            state.summary(&[postgres()]),
            "postgres master tuchanka-a, replicas [tuchanka-b]; online [tuchanka-a tuchanka-b]"
        );
    }

    #[test]
    fn a_replica_paf_would_not_promote_is_not_healthy() {
        // Right after promotion the master's first monitor may not see the
        // replica streaming yet and scores it -1000: a fault then finds no
        // replica to promote.
        let xml = HEALTHY.replace(r#"name="master-pgsqld" value="1000""#, r#"name="master-pgsqld" value="-1000""#);
        let state = ClusterState::parse(&xml).expect("parse");
        assert_eq!(state.promotion_score("master-pgsqld", "tuchanka-b"), Some(-1000));
        assert!(!state.is_healthy(&nodes(), &[postgres()]));
    }

    #[test]
    fn lone_survivor_is_not_healthy_but_serves_both_vips() {
        let state = ClusterState::parse(FAILED_OVER).expect("parse");
        assert_eq!(postgres().master(&state), Some("tuchanka-b"));
        assert!(postgres().replicas(&state).is_empty());
        assert_eq!(state.offline, ["tuchanka-a"]);
        assert_eq!(state.location("pg-replica-vip"), Some("tuchanka-b"));
        assert!(!state.is_healthy(&nodes(), &[postgres()]));
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
        assert!(!state.is_healthy(&nodes(), &[postgres()]));
    }

    #[test]
    fn a_stopped_resource_no_service_names_is_not_healthy() {
        let xml = HEALTHY.replacen(
            r#"<resource id="pg-replica-vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true""#,
            r#"<resource id="pg-replica-vip" resource_agent="ocf:heartbeat:IPaddr2" role="Stopped" active="false""#,
            1,
        );
        let state = ClusterState::parse(&xml).expect("parse");
        assert_eq!(state.stopped(), ["pg-replica-vip"]);
        // PostgreSQL without its replica VIP still counts as healthy by
        // itself: the rule is the cluster's.
        let bare = ServiceSpec { replica_vip: None, ..services::postgres::PAF };
        assert!(bare.is_healthy(&state, &nodes()));
        assert!(!state.is_healthy(&nodes(), &[&bare]));
        assert!(state.summary(&[&bare]).ends_with(", stopped [pg-replica-vip]"), "{}", state.summary(&[&bare]));
    }

    #[test]
    fn each_service_reads_its_own_clone_and_vip() {
        let state = ClusterState::parse(include_str!("../../tests/data/crm_mon_with_redis.xml")).expect("parse");
        assert_eq!(redis().master(&state), Some("tuchanka-b"));
        assert_eq!(redis().replicas(&state), ["tuchanka-a"]);
        assert_eq!(state.location("redis-master-vip"), Some("tuchanka-b"));
        assert!(redis().is_healthy(&state, &nodes()));
        assert_eq!(postgres().master(&state), Some("tuchanka-a"), "PostgreSQL is read apart from Redis");
        assert!(state.is_healthy(&nodes(), &[postgres(), redis()]));
    }

    /// Pacemaker 1.1 (RHEL 7) answers `crm_mon -X` in its own shape: root
    /// `<crm_mon>`, roles Master/Slave, agents `ocf::heartbeat:…` (the lab
    /// of `crm_mon_with_redis.xml`, written as Pacemaker 1.1 prints it).
    #[test]
    fn pacemaker_1_1_output_reads_the_same() {
        let old = ClusterState::parse(include_str!("../../tests/data/crm_mon_pacemaker_1_1.xml")).expect("parse");
        let new = ClusterState::parse(include_str!("../../tests/data/crm_mon_with_redis.xml")).expect("parse");
        assert_eq!(format!("{old:?}"), format!("{new:?}"));
        assert_eq!(postgres().master(&old), Some("tuchanka-a"));
        assert_eq!(redis().master(&old), Some("tuchanka-b"));
    }

    /// skyha: DRBD promoted on one node, and there a group of the file
    /// system, the VIP, the containers and NFS (written as Pacemaker 2.1
    /// prints a group).
    #[test]
    fn services_on_the_storage_primary_read_from_the_group() {
        use services::{beanstalkd, drbd, nfs, postgres, redis};
        let skyha = [&drbd::STORAGE, &postgres::CONTAINER, &redis::CONTAINER, &beanstalkd::CONTAINER, &nfs::SERVER];
        let nodes: Vec<String> = vec!["skyha-a".into(), "skyha-b".into()];
        let xml = include_str!("../../tests/data/crm_mon_skyha.xml");
        let state = ClusterState::parse(xml).expect("parse");
        for service in skyha {
            assert_eq!(service.master(&state), Some("skyha-a"), "{}", service.name);
            assert_eq!(service.replicas(&state), ["skyha-b"], "{} stands by where DRBD is secondary", service.name);
        }
        assert_eq!(state.location("skyfs"), Some("skyha-a"));
        assert!(state.is_healthy(&nodes, &skyha), "{state:?}");

        // `docker stop redis`: Pacemaker sees the container stopped.
        let stopped = xml.replacen(
            r#"<resource id="redis" resource_agent="ocf:heartbeat:docker" role="Started" active="true""#,
            r#"<resource id="redis" resource_agent="ocf:heartbeat:docker" role="Stopped" active="false""#,
            1,
        );
        let state = ClusterState::parse(&stopped).expect("parse");
        assert_eq!(redis::CONTAINER.master(&state), None);
        assert!(!redis::CONTAINER.is_healthy(&state, &nodes));
        assert!(postgres::CONTAINER.is_healthy(&state, &nodes), "the other containers still run");
        assert!(!state.is_healthy(&nodes, &skyha));

        // A secondary that is not scored to be promoted is no standby yet.
        let b_score = "<node name=\"skyha-b\">\n      <attribute name=\"master-skydata\" value=\"10000\"/>";
        assert!(xml.contains(b_score));
        let unsynced = xml.replace(b_score, "<node name=\"skyha-b\">");
        assert!(!ClusterState::parse(&unsynced).expect("parse").is_healthy(&nodes, &skyha));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ClusterState::parse("not xml").is_err());
        assert!(ClusterState::parse("<pacemaker-result/>").is_err());
    }
}
