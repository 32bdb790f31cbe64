//! Nextcloud Talk's calls: a TalkBackend's TURN servers (coturn) and the `occ` commands that
//! wire a space's Talk to them. Pure: unit-tested without a cluster.
//!
//! Talk computes a call's TURN credentials from the shared secret the way coturn's REST API
//! expects them (spreed `lib/Config.php` getTurnSettings: username `<expiry>:<random>`, password
//! base64(HMAC-SHA1(secret, username)), valid 24 h); coturn checks them with `use-auth-secret`
//! and `static-auth-secret` (spreed `docs/TURN.md`, "Configure turnserver.conf for usage with
//! Nextcloud Talk").

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, Probe, TCPSocketAction, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use sha2::Digest;

use super::backends::{Workload, deployment, secret_file};
use super::bindings::TalkBinding;
use crate::api::labels::INSTANCE_LABEL;
use crate::api::talk_backend::{TalkBackend, TalkBackendSpec};

pub const COTURN_IMAGE: &str = "docker.io/coturn/coturn:4.6.3";
/// The user the coturn image runs as (its Dockerfile: `USER nobody:nogroup`).
const COTURN_UID: i64 = 65534;
/// The key of the shared secret in a TalkBackend's Secret.
pub const TURN_SECRET_KEY: &str = "turn-secret";
/// The key of coturn's configuration in the same Secret (it holds the secret too).
pub const TURN_CONFIG_KEY: &str = "turnserver.conf";
/// The environment variable of the talk occ Job that carries the space's copy of the secret.
pub const TURN_SECRET_ENV: &str = "FRAMASPACE_TALK_TURN_SECRET";
const CONFIG_DIR: &str = "/etc/framaspace-turn";

pub fn turn_workload(backend: &str) -> String {
    format!("talk-{backend}")
}

pub fn turn_secret_name(backend: &str) -> String {
    format!("talk-{backend}-turn")
}

/// A short digest of a TURN secret: it names the talk Job of a wiring, so a new secret (a
/// backend re-created) rewires the space, and says nothing of the secret itself.
pub fn secret_fingerprint(secret: &[u8]) -> String {
    super::config::hex(&sha2::Sha256::digest(secret)[..4])
}

/// Peers a relay must never reach: loopback, private, shared-address (CGNAT), link-local and
/// multicast ranges, so that a TURN allocation cannot be used to reach the cluster's own
/// network or the cloud's metadata service (RFC 8656 §21.3.4, "Relaying to private addresses").
const DENIED_PEERS: &[&str] = &[
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "224.0.0.0-255.255.255.255",
    "::1",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];

/// coturn's configuration for Talk: the settings spreed's `docs/TURN.md` gives (fingerprint,
/// use-auth-secret with the static secret, the realm, no quota, stale-nonce, no multicast peers),
/// the backend's ports, no TLS (Talk does not use it, same document), no CLI, and no private
/// peers. The secret appears here only: the file lives in the backend's Secret.
pub fn turnserver_conf(spec: &TalkBackendSpec, secret: &str) -> String {
    let t = &spec.turn;
    let mut lines = vec![
        format!("listening-port={}", t.port),
        "fingerprint".into(),
        "use-auth-secret".into(),
        format!("static-auth-secret={secret}"),
        format!("realm={}", t.host),
        "total-quota=0".into(),
        "bps-capacity=0".into(),
        "stale-nonce".into(),
        "no-multicast-peers".into(),
        format!("min-port={}", t.relay_ports.min),
        format!("max-port={}", t.relay_ports.max),
        "no-tls".into(),
        "no-dtls".into(),
        "no-cli".into(),
        "log-file=stdout".into(),
        "simple-log".into(),
    ];
    lines.extend(DENIED_PEERS.iter().map(|p| format!("denied-peer-ip={p}")));
    lines.join("\n") + "\n"
}

/// The TURN servers' Deployment: coturn on the node's network (a TURN server is reached at its
/// node's public address, and relays on thousands of ports no Service could list), one per node,
/// on the TURN nodes, its configuration from the backend's Secret.
pub fn turn_deployment(backend: &TalkBackend, namespace: &str, replicas: i32) -> Deployment {
    let name = turn_workload(&backend.name_any());
    let port = backend.spec.turn.port;
    let container = Container {
        name: "turn".into(),
        image: Some(backend.spec.image.clone().unwrap_or_else(|| COTURN_IMAGE.into())),
        args: Some(vec!["-c".into(), format!("{CONFIG_DIR}/{TURN_CONFIG_KEY}")]),
        ports: Some(
            [("turn-udp", "UDP"), ("turn-tcp", "TCP")]
                .map(|(n, protocol)| ContainerPort {
                    name: Some(n.into()),
                    container_port: port,
                    host_port: Some(port),
                    protocol: Some(protocol.into()),
                    ..ContainerPort::default()
                })
                .to_vec(),
        ),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port), ..TCPSocketAction::default() }),
            period_seconds: Some(10),
            ..Probe::default()
        }),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port), ..TCPSocketAction::default() }),
            period_seconds: Some(30),
            failure_threshold: Some(4),
            ..Probe::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let workload = Workload { name: &name, component: "turn", namespace, replicas, container, pods: &backend.spec.pods, node_pool: "turn" };
    let mut d = deployment(backend, workload);
    if let Some(pod) = d.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
        pod.host_network = Some(true);
        pod.dns_policy = Some("ClusterFirstWithHostNet".into());
        pod.volumes = Some(vec![secret_file(&turn_secret_name(&backend.name_any()), TURN_CONFIG_KEY)]);
        // The coturn image runs as nobody (65534): the configuration is its group's.
        pod.security_context = Some(PodSecurityContext { fs_group: Some(COTURN_UID), ..PodSecurityContext::default() });
        // Two TURN servers cannot share a node's port.
        pod.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some([(INSTANCE_LABEL.to_string(), name.clone())].into()),
                        ..LabelSelector::default()
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..PodAffinityTerm::default()
                }]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    d
}

/// The occ commands that wire a space's Talk to its TURN server, or unwire it (`None`). Talk's
/// `talk:turn:add` and `talk:stun:add` refuse a server already listed ("Server already exists",
/// exit 1: spreed `lib/Command/Turn/Add.php`, `lib/Command/Stun/Add.php`), so the lists are
/// emptied first (`config:app:delete`, which succeeds whether or not the key exists): a Job run
/// again, or a space moved to another backend, ends with exactly one TURN and one STUN server,
/// and the backend's signaling server or none (`talk:signaling:add` appends: spreed
/// `lib/Command/Signaling/Add.php`).
/// The secret is never in a command: the Job's shell expands it from the space's Secret.
pub fn talk_commands(talk: Option<&TalkBinding>) -> Vec<String> {
    let mut commands = ["turn_servers", "stun_servers", "signaling_servers"].map(|k| format!("config:app:delete spreed {k}")).to_vec();
    if let Some(t) = talk {
        // Talk's commands exist only while the app is enabled (a class that adds spreed back
        // runs this Job beside its apps Job): enabling it first is a no-op when it is.
        commands.insert(0, "app:enable spreed".to_string());
        commands.push(format!("talk:stun:add {}:{}", t.host, t.port));
        commands.push(format!("talk:turn:add turn {}:{} udp,tcp --secret=\"${TURN_SECRET_ENV}\"", t.host, t.port));
        // `talk:signaling:add <server> <secret> [--verify]` (spreed lib/Command/Signaling/Add.php).
        if let Some(s) = &t.signaling {
            commands.push(format!("talk:signaling:add {} \"${}\" --verify", s.url, super::signaling::SIGNALING_SECRET_ENV));
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backend::{BackendPods, BackendScaling};
    use crate::api::talk_backend::{PortRange, TurnSettings};

    fn backend() -> TalkBackend {
        let mut b = TalkBackend::new(
            "turn-1",
            TalkBackendSpec {
                turn: TurnSettings { host: "turn.frama.space".into(), port: 3478, relay_ports: PortRange::default() },
                signaling: None,
                image: None,
                scaling: BackendScaling { spaces_per_replica: 2000, min_replicas: 2, max_replicas: 8 },
                pods: BackendPods::default(),
            },
        );
        b.metadata.uid = Some("u".into());
        b
    }

    #[test]
    fn coturn_is_configured_for_talk_and_relays_to_no_private_address() {
        let conf = turnserver_conf(&backend().spec, "s3cret");
        for line in [
            "use-auth-secret",
            "static-auth-secret=s3cret",
            "realm=turn.frama.space",
            "listening-port=3478",
            "min-port=49152",
            "max-port=65535",
            "no-cli",
            "fingerprint",
        ] {
            assert!(conf.lines().any(|l| l == line), "{line} in\n{conf}");
        }
        for private in
            ["10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255"]
        {
            assert!(conf.contains(&format!("denied-peer-ip={private}")), "{private}");
        }
    }

    #[test]
    fn the_turn_servers_use_the_nodes_network_one_per_node_and_read_the_secret_from_a_file() {
        let d = turn_deployment(&backend(), "framaspace-system", 2);
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(2));
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.host_network, Some(true));
        assert_eq!(pod.node_selector.expect("nodes").get("frama.space/node-pool").map(String::as_str), Some("turn"));
        assert!(pod.affinity.and_then(|a| a.pod_anti_affinity).is_some(), "two TURN servers never share a node's port");
        let c = &pod.containers[0];
        assert!(c.env.is_none(), "the secret is never in the environment of the TURN pod");
        assert!(c.args.as_ref().expect("args").iter().all(|a| !a.contains("secret")));
        let ports: Vec<_> = c.ports.iter().flatten().map(|p| (p.host_port, p.protocol.clone())).collect();
        assert_eq!(ports, [(Some(3478), Some("UDP".into())), (Some(3478), Some("TCP".into()))]);
        assert_eq!(
            pod.volumes.expect("volumes")[0].secret.as_ref().and_then(|s| s.secret_name.clone()).as_deref(),
            Some("talk-turn-1-turn")
        );
    }

    #[test]
    fn a_space_is_wired_to_exactly_one_turn_server_and_the_secret_is_never_in_a_command() {
        let mut t = TalkBinding {
            backend: "turn-1".into(),
            host: "turn.frama.space".into(),
            port: 3478,
            fingerprint: "ab12cd34".into(),
            signaling: None,
        };
        let c = talk_commands(Some(&t));
        assert_eq!(
            c[..4],
            [
                "app:enable spreed",
                "config:app:delete spreed turn_servers",
                "config:app:delete spreed stun_servers",
                "config:app:delete spreed signaling_servers"
            ]
        );
        assert_eq!(c[4], "talk:stun:add turn.frama.space:3478");
        assert_eq!(c[5], "talk:turn:add turn turn.frama.space:3478 udp,tcp --secret=\"$FRAMASPACE_TALK_TURN_SECRET\"");
        assert_eq!(c.len(), 6, "no signaling server: Talk signals itself");
        t.signaling =
            Some(crate::render::bindings::SignalingBinding { url: "https://signaling.frama.space/".into(), fingerprint: "ff".into() });
        assert_eq!(
            talk_commands(Some(&t))[6],
            "talk:signaling:add https://signaling.frama.space/ \"$FRAMASPACE_TALK_SIGNALING_SECRET\" --verify"
        );
        assert_eq!(talk_commands(None).len(), 3, "unwired: the three lists emptied, nothing added");
        assert_ne!(secret_fingerprint(b"a"), secret_fingerprint(b"b"));
        assert_eq!(secret_fingerprint(b"a").len(), 8);
    }
}
