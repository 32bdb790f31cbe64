//! The ports a TalkBackend's pods take on their nodes' own network, and where two TalkBackends on
//! the same nodes would take the same ones. coturn and the High-performance backend run with
//! `hostNetwork` (Talk's TURN and Janus media go to the node's public address): the scheduler
//! keeps two pods off one node only for the ports a pod declares (coturn's listening port, the
//! signaling server's), never for coturn's relay range or Janus's media range, thousands of
//! ports no pod lists. Two backends whose ranges overlap would both run, and each would fail
//! its calls' relays at random on the ports the other holds.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::signaling::SIGNALING_PORT;
use crate::api::labels::NODE_POOL_LABEL;
use crate::api::talk_backend::{TalkBackend, TalkBackendSpec};
use crate::placement::came_first;

/// A run of ports a backend's pods hold on a node, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePorts {
    pub what: &'static str,
    pub first: i32,
    pub last: i32,
}

impl NodePorts {
    fn overlaps(&self, other: &NodePorts) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    fn shown(&self) -> String {
        if self.first == self.last {
            format!("{} port {}", self.what, self.first)
        } else {
            format!("{} ports {}-{}", self.what, self.first, self.last)
        }
    }
}

/// Every port run the backend's pods hold on their nodes.
pub fn node_ports(spec: &TalkBackendSpec) -> Vec<NodePorts> {
    let t = &spec.turn;
    let mut ports = vec![
        NodePorts { what: "TURN", first: t.port, last: t.port },
        NodePorts { what: "relay", first: t.relay_ports.min, last: t.relay_ports.max },
    ];
    if let Some(s) = &spec.signaling {
        ports.push(NodePorts { what: "signaling", first: SIGNALING_PORT, last: SIGNALING_PORT });
        ports.push(NodePorts { what: "media", first: s.media_ports.min, last: s.media_ports.max });
    }
    ports
}

/// The nodes a backend's pods go to: its node selector, or the TURN nodes.
fn nodes(backend: &TalkBackend) -> BTreeMap<String, String> {
    let selector = &backend.spec.pods.node_selector;
    if selector.is_empty() { [(NODE_POOL_LABEL.to_string(), "turn".to_string())].into() } else { selector.clone() }
}

/// Why `backend` cannot have its ports: the first overlap with a TalkBackend that came before it
/// on the same nodes (the same node selector), said for its PortConflict condition.
pub fn port_conflict<'a>(backend: &TalkBackend, others: impl IntoIterator<Item = &'a TalkBackend>) -> Option<String> {
    let here = nodes(backend);
    let mine = node_ports(&backend.spec);
    others
        .into_iter()
        .filter(|o| o.name_any() != backend.name_any() && o.metadata.deletion_timestamp.is_none())
        .filter(|o| nodes(o) == here && came_first::<TalkBackend>(o, backend))
        .find_map(|o| {
            let theirs = node_ports(&o.spec);
            mine.iter().find_map(|m| theirs.iter().find(|t| m.overlaps(t)).map(|t| (m, t))).map(|(m, t)| {
                let on: Vec<String> = here.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "its {} overlap the {} of TalkBackend {} on the same nodes ({}); both use the nodes' own network, so each TalkBackend there needs ports of its own",
                    m.shown(),
                    t.shown(),
                    o.name_any(),
                    on.join(",")
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::talk_backend::TalkBackend;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn backend(name: &str, created: i64, spec: serde_json::Value) -> TalkBackend {
        let spec: TalkBackendSpec = serde_json::from_value(spec).unwrap_or_else(|e| panic!("spec: {e}"));
        let mut b = TalkBackend::new(name, spec);
        b.metadata.creation_timestamp = jiff::Timestamp::from_second(created).ok().map(Time);
        b
    }

    fn turn(host: &str, port: i32, relay: (i32, i32)) -> serde_json::Value {
        serde_json::json!({
            "turn": { "host": host, "port": port, "relayPorts": { "min": relay.0, "max": relay.1 } },
            "scaling": { "spacesPerReplica": 1250, "minReplicas": 2, "maxReplicas": 8 }
        })
    }

    #[test]
    fn a_second_backend_on_the_turn_nodes_needs_ports_of_its_own() {
        let first = backend("turn-1", 100, turn("turn.frama.space", 3478, (49152, 65535)));
        // Another listening port, coturn's default relay range: the scheduler would run both.
        let second = backend("turn-2", 200, turn("turn2.frama.space", 3479, (49152, 65535)));
        let why = port_conflict(&second, [&first, &second]).unwrap_or_default();
        assert!(why.contains("relay ports 49152-65535 overlap the relay ports 49152-65535 of TalkBackend turn-1"), "{why}");
        assert!(why.contains("frama.space/node-pool=turn"), "{why}");
        assert_eq!(port_conflict(&first, [&first, &second]), None, "the one that came first keeps its ports");
        let apart = backend("turn-2", 200, turn("turn2.frama.space", 3479, (41000, 48999)));
        assert_eq!(port_conflict(&apart, [&first]), None);
    }

    #[test]
    fn the_media_ports_of_a_signaling_server_count_and_other_nodes_do_not_conflict() {
        let mut with_signaling = turn("turn.frama.space", 3478, (49152, 65535));
        with_signaling["signaling"] = serde_json::json!({ "host": "signaling.frama.space", "janusImage": "janus:1" });
        let first = backend("turn-1", 100, with_signaling);
        let second = backend("turn-2", 200, turn("turn2.frama.space", 3479, (30000, 30999)));
        let why = port_conflict(&second, [&first]).unwrap_or_default();
        assert!(why.contains("relay ports 30000-30999 overlap the media ports 20000-40000 of TalkBackend turn-1"), "{why}");
        let mut elsewhere = turn("turn2.frama.space", 3478, (49152, 65535));
        elsewhere["pods"] = serde_json::json!({ "nodeSelector": { "frama.space/node-pool": "turn-b" } });
        assert_eq!(port_conflict(&backend("turn-3", 300, elsewhere), [&first]), None, "other nodes, other ports");
        let same_time = backend("turn-0", 100, turn("turn0.frama.space", 3478, (49152, 65535)));
        assert!(port_conflict(&first, [&same_time]).is_some(), "created in the same second: the first by name keeps them");
    }
}
