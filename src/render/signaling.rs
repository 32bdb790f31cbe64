//! Talk's High-performance backend of a TalkBackend: the signaling server
//! (strukturag/nextcloud-spreed-signaling) with its Janus and NATS, its configuration, and the
//! secret each space shares with it. Pure: unit-tested without a cluster.
//!
//! The signaling server authenticates every request between it and a Nextcloud with an
//! HMAC-SHA256 of a random and the body, keyed with the secret of that Nextcloud's backend entry
//! (`Spreed-Signaling-Random`, `Spreed-Signaling-Checksum`, `Spreed-Signaling-Backend`: its
//! `api_backend.go`, `backend_server.go`). Each space is its own backend entry (`[backend]
//! backends = ...`, one section per space with its `urls` and `secret`: its `server.conf.in`), so
//! a space's secret opens the rooms of that space only, and a space moved elsewhere loses its
//! entry. The server reads its configuration again on SIGHUP (its `cmd/server/main.go`, the
//! static backend storage's `Reload`), which the container's wrapper sends when the Secret's
//! file changes: a new space never restarts the calls under way.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HTTPGetAction, PodSecurityContext, Probe, SecurityContext, Service, VolumeMount,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec, IngressTLS, ServiceBackendPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use sha2::Sha256;

use super::backends::{Workload, deployment, meta, secret_file, service};
use crate::api::talk_backend::{SignalingSettings, TalkBackend};

pub const SIGNALING_IMAGE: &str = "docker.io/strukturag/nextcloud-spreed-signaling:2.1.1";
pub const NATS_IMAGE: &str = "docker.io/library/nats:2.12.2-alpine";
/// The user the signaling image's entrypoint runs the server as (`spreedbackend`, 850): the
/// wrapper here runs it directly as that user.
const SIGNALING_UID: i64 = 850;
/// Where the signaling server listens, on its node's network.
pub const SIGNALING_PORT: i32 = 8088;
/// Keys of the backend's signaling Secret.
pub const MASTER_KEY: &str = "master-secret";
pub const HASH_KEY: &str = "session-hash-key";
pub const BLOCK_KEY: &str = "session-block-key";
pub const INTERNAL_KEY: &str = "internal-secret";
pub const CONFIG_KEY: &str = "server.conf";
/// The environment variable of the talk occ Job that carries the space's signaling secret.
pub const SIGNALING_SECRET_ENV: &str = "FRAMASPACE_TALK_SIGNALING_SECRET";
const CONFIG_DIR: &str = "/etc/framaspace-signaling";

pub fn signaling_workload(backend: &str) -> String {
    format!("talk-{backend}-signaling")
}

pub fn signaling_secret_name(backend: &str) -> String {
    format!("talk-{backend}-signaling")
}

/// The URL Talk is given (`talk:signaling:add`); browsers connect to its `/spreed` with wss.
pub fn signaling_url(s: &SignalingSettings) -> String {
    format!("https://{}/", s.host)
}

/// A space's signaling secret: HMAC-SHA256 of the space's uid under the backend's master secret
/// (64 hex digits from the CSPRNG, generated once). A space re-created under the same name has a
/// new uid, so a new secret; only the operator holds the master.
pub fn space_secret(master: &[u8], space_uid: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"framaspace-signaling:");
    mac.update(space_uid.as_bytes());
    super::config::hex(&mac.finalize().into_bytes())
}

/// A space the signaling server serves: its backend id, URL and secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalingSpace {
    pub name: String,
    pub url: String,
    pub secret: String,
}

/// What the signaling configuration is made of besides the spaces.
pub struct SignalingKeys<'a> {
    pub hash_key: &'a str,
    pub block_key: &'a str,
    pub internal_secret: &'a str,
}

/// The signaling server's `server.conf`: one backend entry per space (sorted, so the file only
/// changes with the spaces), NATS and Janus on the pod's loopback. `url` is written beside
/// `urls` for the servers older than 1.0 that know only `url` (newer ones take `urls` first:
/// `talk/backend_storage_static.go`).
pub fn server_conf(keys: &SignalingKeys<'_>, spaces: &[SignalingSpace]) -> String {
    let mut spaces: Vec<&SignalingSpace> = spaces.iter().collect();
    spaces.sort_by(|a, b| a.name.cmp(&b.name));
    let ids: Vec<&str> = spaces.iter().map(|s| s.name.as_str()).collect();
    let mut out = format!(
        "[http]\nlisten = 0.0.0.0:{SIGNALING_PORT}\n\n[app]\ndebug = false\n\n[sessions]\nhashkey = {}\nblockkey = {}\n\n\
         [clients]\ninternalsecret = {}\n\n[backend]\nbackends = {}\nallowall = false\ntimeout = 10\nconnectionsperhost = 8\n\n\
         [nats]\nurl = nats://127.0.0.1:4222\n\n[mcu]\ntype = janus\nurl = ws://127.0.0.1:8188\n",
        keys.hash_key,
        keys.block_key,
        keys.internal_secret,
        ids.join(", ")
    );
    for s in spaces {
        out.push_str(&format!("\n[{}]\nurl = {}\nurls = {}\nsecret = {}\n", s.name, s.url, s.url, s.secret));
    }
    out
}

/// The signaling container's script: the server in the background, SIGHUP to it when the
/// mounted configuration changes (the kubelet swaps a Secret volume's files atomically), its
/// stop signal (SIGUSR1, the image's STOPSIGNAL: it lets calls end) on TERM.
fn signaling_script() -> String {
    format!(
        "set -u\nconf={CONFIG_DIR}/{CONFIG_KEY}\n/usr/bin/nextcloud-spreed-signaling -config \"$conf\" &\npid=$!\n\
         trap 'kill -USR1 $pid; wait $pid; exit 0' TERM INT\nseen=$(sha256sum \"$conf\")\n\
         while kill -0 $pid 2>/dev/null; do\n  sleep 10 & wait $!\n  now=$(sha256sum \"$conf\")\n  \
         if [ \"$now\" != \"$seen\" ]; then seen=$now; kill -HUP $pid; fi\ndone\nwait $pid\n"
    )
}

fn port(name: &str, number: i32, protocol: &str) -> ContainerPort {
    ContainerPort { name: Some(name.into()), container_port: number, protocol: Some(protocol.into()), ..ContainerPort::default() }
}

/// The signaling server's objects: one pod of signaling, Janus and NATS on the node's network
/// (Janus's media ports are public; TURN refuses private peers, so it could not relay to a pod
/// address), on the TURN nodes; its Service and Ingress (websockets: long timeouts). `runs`
/// false: no pod (a backend refused its ports).
pub fn signaling_objects(backend: &TalkBackend, s: &SignalingSettings, namespace: &str, runs: bool) -> (Deployment, Service, Ingress) {
    let name = signaling_workload(&backend.name_any());
    let probe = |period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/api/v1/welcome".into()),
            port: IntOrString::Int(SIGNALING_PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        ..Probe::default()
    };
    let signaling = Container {
        name: "signaling".into(),
        image: Some(s.image.clone().unwrap_or_else(|| SIGNALING_IMAGE.into())),
        command: Some(vec!["/bin/sh".into(), "-c".into(), signaling_script()]),
        ports: Some(vec![port("http", SIGNALING_PORT, "TCP")]),
        readiness_probe: Some(probe(10)),
        liveness_probe: Some(Probe { failure_threshold: Some(4), ..probe(30) }),
        volume_mounts: Some(vec![VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        security_context: Some(SecurityContext {
            run_as_user: Some(SIGNALING_UID),
            run_as_group: Some(SIGNALING_UID),
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let janus = Container {
        name: "janus".into(),
        image: Some(s.janus_image.clone()),
        args: Some(vec![
            format!("--rtp-port-range={}-{}", s.media_ports.min, s.media_ports.max),
            format!("--stun-server={}:{}", backend.spec.turn.host, backend.spec.turn.port),
            "--full-trickle".into(),
        ]),
        ..Container::default()
    };
    let nats = Container {
        name: "nats".into(),
        image: Some(s.nats_image.clone().unwrap_or_else(|| NATS_IMAGE.into())),
        args: Some(["-a", "127.0.0.1", "-p", "4222"].map(String::from).to_vec()),
        ..Container::default()
    };
    let workload = Workload {
        name: &name,
        component: "signaling",
        namespace,
        replicas: i32::from(runs),
        container: signaling,
        pods: &backend.spec.pods,
        node_pool: "turn",
    };
    let mut d = deployment(backend, workload);
    if let Some(spec) = d.spec.as_mut() {
        // Two servers on one node's ports cannot overlap.
        spec.strategy = Some(DeploymentStrategy { type_: Some("Recreate".into()), ..DeploymentStrategy::default() });
        if let Some(pod) = spec.template.spec.as_mut() {
            pod.containers.extend([janus, nats]);
            pod.host_network = Some(true);
            pod.dns_policy = Some("ClusterFirstWithHostNet".into());
            pod.volumes = Some(vec![secret_file(&signaling_secret_name(&backend.name_any()), CONFIG_KEY)]);
            pod.security_context = Some(PodSecurityContext { fs_group: Some(SIGNALING_UID), ..PodSecurityContext::default() });
        }
    }
    let svc = service(backend, &name, "signaling", namespace, SIGNALING_PORT);
    let ingress = Ingress {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([
                ("nginx.ingress.kubernetes.io/proxy-read-timeout".to_string(), "3600".to_string()),
                ("nginx.ingress.kubernetes.io/proxy-send-timeout".to_string(), "3600".to_string()),
            ])),
            ..meta(backend, &name, "signaling", namespace)
        },
        spec: Some(IngressSpec {
            tls: Some(vec![IngressTLS { hosts: Some(vec![s.host.clone()]), secret_name: Some(format!("{name}-tls")) }]),
            rules: Some(vec![super::ingress::host_rule(
                &s.host,
                &name,
                ServiceBackendPort { number: Some(SIGNALING_PORT), ..ServiceBackendPort::default() },
            )]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    };
    (d, svc, ingress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SignalingKeys<'static> {
        SignalingKeys { hash_key: "h", block_key: "b", internal_secret: "i" }
    }

    #[test]
    fn each_space_is_its_own_backend_with_its_own_secret() {
        let a = SignalingSpace { name: "b-asso".into(), url: "https://b-asso.frama.space".into(), secret: space_secret(b"m", "uid-b") };
        let b = SignalingSpace { name: "a-asso".into(), url: "https://a-asso.frama.space".into(), secret: space_secret(b"m", "uid-a") };
        let conf = server_conf(&keys(), &[a.clone(), b.clone()]);
        assert!(conf.contains("\nbackends = a-asso, b-asso\nallowall = false\n"), "{conf}");
        assert!(conf.contains(&format!(
            "\n[b-asso]\nurl = https://b-asso.frama.space\nurls = https://b-asso.frama.space\nsecret = {}\n",
            a.secret
        )));
        assert!(conf.contains("url = nats://127.0.0.1:4222") && conf.contains("type = janus\nurl = ws://127.0.0.1:8188"));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.secret.len(), 64);
        assert_ne!(space_secret(b"m", "uid-a"), space_secret(b"other", "uid-a"), "another backend's master, another secret");
        assert_eq!(conf, server_conf(&keys(), &[b, a]), "the order of the spaces changes nothing");
    }

    #[test]
    fn the_server_is_reloaded_when_its_configuration_changes_and_stopped_gently() {
        let s = signaling_script();
        assert!(s.contains("kill -HUP $pid") && s.contains("kill -USR1 $pid"));
        assert!(std::process::Command::new("sh").args(["-n", "-c", &s]).status().is_ok_and(|st| st.success()), "the script parses");
    }
}
