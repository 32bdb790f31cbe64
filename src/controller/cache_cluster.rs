//! The pool check of a CachePool that is a cluster: every node found and reached, the users of
//! the pool's spaces given back where a node lacks them, and what the status shows of it (each
//! node, `Ready` only when every node holds every user, `Available` while the spaces are served).

use kube::runtime::events::EventType;

use crate::api::CachePool;
use crate::api::pool::CacheNodeStatus;
use crate::provision::redis_cluster::{ClusterAdmin, ClusterReport};

/// Why a pool that answers is not Ready: a cluster with a node down or lacking users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degraded {
    pub reason: &'static str,
    pub message: String,
    /// The spaces are served meanwhile (`Available`).
    pub serving: bool,
}

/// What a cluster pool's check found.
#[derive(Debug)]
pub struct ClusterHealth {
    pub version: String,
    pub note: Option<String>,
    pub nodes: Vec<CacheNodeStatus>,
    pub degraded: Option<Degraded>,
    /// The spaces no node holds: their own provisioning gives them back.
    pub lost: Vec<String>,
}

/// The check of one cluster pool, for the spaces placed on it.
pub async fn health(admin: &ClusterAdmin, pool: &CachePool, spaces: &[String]) -> crate::error::Result<ClusterHealth> {
    let memory = match pool.spec.max_memory.as_deref().map(crate::api::quantity::parse_bytes) {
        Some(Ok(bytes)) => Some(bytes),
        _ => None,
    };
    let report = admin.check(spaces, memory.map(|b| (b, pool.spec.eviction_policy.as_str()))).await?;
    Ok(summarise(report, spaces.len()))
}

/// What changed between two checks that a person should see (`kubectl describe cachepool`):
/// a node lost or back, users given back to a node.
pub fn news(previous: &[CacheNodeStatus], now: &[CacheNodeStatus]) -> Vec<(EventType, &'static str, String)> {
    let mut out = Vec::new();
    for n in now {
        let before = previous.iter().find(|p| p.address == n.address);
        match (before.map(|b| b.reachable), n.reachable) {
            (Some(true) | None, false) => out.push((
                EventType::Warning,
                "NodeUnreachable",
                format!("node {} ({}) not reached: {}", n.address, n.role, n.message.as_deref().unwrap_or("no answer")),
            )),
            (Some(false), true) => out.push((EventType::Normal, "NodeReachable", format!("node {} ({}) answers again", n.address, n.role))),
            _ => {}
        }
        if n.users_restored > 0 {
            out.push((
                EventType::Normal,
                "UsersRestored",
                format!("node {} ({}) lacked {} space users: given back and saved", n.address, n.role, n.users_restored),
            ));
        }
    }
    out
}

/// The status a cluster's report makes: its nodes, and why it is not Ready when it is not.
pub fn summarise(report: ClusterReport, spaces: usize) -> ClusterHealth {
    let nodes: Vec<CacheNodeStatus> = report
        .nodes
        .iter()
        .map(|r| CacheNodeStatus {
            address: r.address.clone(),
            id: r.node.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
            role: if r.node.as_ref().is_some_and(|n| n.master) { "master" } else { "replica" }.into(),
            master_id: r.node.as_ref().and_then(|n| n.master_id.clone()),
            reachable: r.reachable,
            users_in_place: r.users_in_place,
            users_missing: r.users_missing,
            users_restored: r.users_restored,
            persisted: r.persisted,
            message: r.message.clone(),
        })
        .collect();
    let masters = nodes.iter().filter(|n| n.role == "master").count();
    let version = report.nodes.iter().find_map(|r| r.version.clone()).unwrap_or_else(|| "unknown".into());
    let unreachable: Vec<String> =
        nodes.iter().filter(|n| !n.reachable).map(|n| format!("{} ({})", n.address, n.message.as_deref().unwrap_or("no answer"))).collect();
    let missing: Vec<String> =
        nodes.iter().filter(|n| n.reachable && n.users_missing > 0).map(|n| format!("{} lacks {}", n.address, n.users_missing)).collect();
    let restored: i64 = nodes.iter().map(|n| n.users_restored).sum();
    let degraded = if report.state != "ok" {
        Some(Degraded {
            reason: "ClusterDown",
            message: format!("the cluster's state is {}: some slots are not served", report.state),
            serving: false,
        })
    } else if !unreachable.is_empty() {
        Some(Degraded {
            reason: "NodeUnreachable",
            message: format!(
                "{} of {} nodes not reached: {}; the spaces are served by the others",
                unreachable.len(),
                nodes.len(),
                unreachable.join("; ")
            ),
            serving: true,
        })
    } else if !missing.is_empty() {
        Some(Degraded {
            reason: "UsersMissing",
            message: format!("{}; their spaces are provisioned again from their Secrets", missing.join(", ")),
            serving: true,
        })
    } else {
        None
    };
    let unsaved = nodes.iter().filter(|n| n.reachable && !n.persisted).count();
    let mut notes = vec![format!("a cluster of {} nodes ({masters} masters), each holding the users of {spaces} spaces", nodes.len())];
    if restored > 0 {
        notes.push(format!("{restored} users given back to nodes that lacked them"));
    }
    if unsaved > 0 {
        notes.push(format!("{unsaved} nodes without an aclfile lose their users at restart"));
    }
    ClusterHealth { version, note: Some(notes.join("; ")), nodes, degraded, lost: report.lost }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::redis_cluster::{ClusterNode, NodeReport};

    fn node(address: &str, master: bool, reachable: bool, missing: i64) -> NodeReport {
        NodeReport {
            node: Some(ClusterNode {
                id: address.into(),
                address: address.into(),
                master,
                master_id: (!master).then(|| "m".into()),
                failed: false,
            }),
            address: address.into(),
            reachable,
            version: Some("Valkey 9.1.2".into()),
            users_in_place: 2 - missing,
            users_missing: missing,
            users_restored: 0,
            persisted: reachable,
            message: (!reachable).then(|| "connection refused".into()),
        }
    }

    fn report(nodes: Vec<NodeReport>, state: &str) -> ClusterReport {
        ClusterReport { nodes, state: state.into(), lost: Vec::new(), commands: 0 }
    }

    #[test]
    fn a_cluster_is_ready_only_when_every_node_holds_every_user() {
        let h = summarise(report(vec![node("a:1", true, true, 0), node("b:1", false, true, 0)], "ok"), 2);
        assert!(h.degraded.is_none());
        assert_eq!(h.nodes.len(), 2);
        assert_eq!(h.nodes[1].role, "replica");
        let h = summarise(report(vec![node("a:1", true, true, 0), node("b:1", false, false, 0)], "ok"), 2);
        let d = h.degraded.expect("degraded");
        assert_eq!(d.reason, "NodeUnreachable");
        assert!(d.serving && d.message.contains("b:1 (connection refused)"), "{}", d.message);
        let d = summarise(report(vec![node("a:1", true, true, 1)], "ok"), 2).degraded.expect("degraded");
        assert_eq!((d.reason, d.serving), ("UsersMissing", true));
        let d = summarise(report(vec![node("a:1", true, true, 0)], "fail"), 2).degraded.expect("degraded");
        assert_eq!((d.reason, d.serving), ("ClusterDown", false));
    }

    #[test]
    fn a_node_lost_back_or_given_users_is_news_once() {
        let status = |reachable: bool, restored: i64| {
            let mut n = summarise(report(vec![node("a:1", false, reachable, 0)], "ok"), 1).nodes.remove(0);
            n.users_restored = restored;
            n
        };
        let reasons = |p: &[CacheNodeStatus], n: &[CacheNodeStatus]| news(p, n).into_iter().map(|(_, r, _)| r).collect::<Vec<_>>();
        assert_eq!(reasons(&[status(true, 0)], &[status(false, 0)]), ["NodeUnreachable"]);
        assert!(reasons(&[status(false, 0)], &[status(false, 0)]).is_empty(), "still down: said once");
        assert_eq!(reasons(&[status(false, 0)], &[status(true, 2)]), ["NodeReachable", "UsersRestored"]);
        assert!(reasons(&[status(true, 0)], &[status(true, 0)]).is_empty());
    }
}
