//! `TalkBackend`: the TURN servers that let Nextcloud Talk calls through NATs and firewalls.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::{BackendPods, BackendScaling, BackendStatus};

/// A pool of TURN servers (coturn) for Nextcloud Talk, deployed on TURN nodes and scaled with the
/// spaces assigned to it, and optionally Talk's High-performance backend (the signaling server
/// with Janus and NATS) that calls of more than a handful of participants need. Its secrets are
/// generated once by the operator and given only to the spaces assigned to it (each wired with
/// `occ talk:turn:add`, `talk:stun:add` and `talk:signaling:add`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "TalkBackend",
    plural = "talkbackends",
    singular = "talkbackend",
    shortname = "talk",
    category = "framaspace",
    status = "BackendStatus",
    derive = "PartialEq",
    doc = "TURN servers for the Nextcloud Talk calls of Framaspace spaces.",
    printcolumn(name = "TURN", type_ = "string", json_path = ".spec.turn.host"),
    printcolumn(name = "Port", type_ = "integer", json_path = ".spec.turn.port"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desiredReplicas"),
    printcolumn(name = "Ready-Replicas", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Signaling", type_ = "string", json_path = ".status.conditions[?(@.type==\"SignalingReady\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.signaling) || self.scaling.spacesPerReplica * self.scaling.maxReplicas <= 3000").message("a TalkBackend with signaling serves at most 3000 spaces (spacesPerReplica x maxReplicas): its signaling server's configuration lists each space, in one Secret of at most 1 MiB; add TalkBackends for more"))]
pub struct TalkBackendSpec {
    /// The TURN server the spaces' browsers and apps reach.
    pub turn: TurnSettings,
    /// Talk's High-performance backend: one signaling server with its Janus and NATS, on the
    /// node's network, behind its own Ingress. Without it, calls are peer to peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signaling: Option<SignalingSettings>,
    /// Container image of coturn with tag; a pinned default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
    /// Replicas from the number of spaces assigned (one TURN server per node: they use the
    /// node's network).
    pub scaling: BackendScaling,
    /// Resources and node placement of the pods (`frama.space/node-pool: turn` by default).
    #[serde(default)]
    pub pods: BackendPods,
}

/// Where the TURN server listens and which ports it relays on.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.relayPorts.min <= self.relayPorts.max").message("turn.relayPorts.min must not exceed turn.relayPorts.max"))]
#[x_kube(validation = Rule::new("self.port < self.relayPorts.min || self.port > self.relayPorts.max").message("turn.port must lie outside turn.relayPorts"))]
pub struct TurnSettings {
    /// Public DNS name of the TURN nodes (one A record per node), given to the spaces' Talk.
    #[schemars(length(min = 3, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"))]
    pub host: String,
    /// Listening port, UDP and TCP (also answers STUN).
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The UDP ports relayed media uses, opened on the TURN nodes' firewall.
    #[serde(default)]
    pub relay_ports: PortRange,
}

/// Talk's High-performance backend of a TalkBackend.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mediaPorts.min <= self.mediaPorts.max").message("signaling.mediaPorts.min must not exceed signaling.mediaPorts.max"))]
pub struct SignalingSettings {
    /// Public host of the signaling server (its own Ingress; browsers connect to it with wss).
    #[schemars(length(min = 3, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"))]
    pub host: String,
    /// Image of the signaling server with tag; a pinned default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
    /// Image of Janus 1.x with its VideoRoom plugin and its WebSocket transport on
    /// 127.0.0.1:8188 (no Janus image is published by its authors: build one, as Nextcloud AIO's
    /// talk image does).
    #[schemars(length(min = 1, max = 255))]
    pub janus_image: String,
    /// Image of the NATS server with tag; a pinned default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub nats_image: Option<String>,
    /// The UDP ports Janus sends and receives media on, on the node's network (open them on the
    /// node's firewall).
    #[serde(default = "default_media_ports")]
    pub media_ports: PortRange,
}

fn default_media_ports() -> PortRange {
    PortRange { min: 20000, max: 40000 }
}

/// A range of ports, both ends included.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    #[schemars(range(min = 1024, max = 65535))]
    pub min: i32,
    #[schemars(range(min = 1024, max = 65535))]
    pub max: i32,
}

impl Default for PortRange {
    /// coturn's own default relay range (`turnserver.conf`: min-port 49152, max-port 65535).
    fn default() -> Self {
        PortRange { min: 49152, max: 65535 }
    }
}

fn default_port() -> i32 {
    3478
}
