//! The objects of office (Collabora Online, OnlyOffice) and preview (Imaginary) backends, their
//! replica count, and Collabora's WOPI alias groups. Pure: unit-tested without a cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, PodSpec, PodTemplateSpec, Probe, SecretKeySelector, Service,
    ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressSpec, IngressTLS, ServiceBackendPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use crate::api::backend::{BackendPods, BackendScaling};
use crate::api::labels::{
    BACKEND_LABEL, COMPONENT_LABEL, FIELD_MANAGER, INSTANCE_LABEL, MANAGED_BY_LABEL, NAME_LABEL, NODE_POOL_LABEL, PART_OF_LABEL,
};
use crate::api::office_backend::{OfficeBackend, OfficeBackendType};
use crate::api::preview_backend::PreviewBackend;

pub const COLLABORA_IMAGE: &str = "docker.io/collabora/code:25.04.7.2.1";
pub const ONLYOFFICE_IMAGE: &str = "docker.io/onlyoffice/documentserver:9.1.0";
pub const IMAGINARY_IMAGE: &str = "docker.io/nextcloud/aio-imaginary:20250909_081514";
/// The key of the JWT in an OnlyOffice backend's Secret.
pub const JWT_KEY: &str = "jwt-secret";
pub const IMAGINARY_PORT: i32 = 9000;

/// `ceil(spaces / spacesPerReplica)`, kept within `[minReplicas, maxReplicas]`.
pub fn desired_replicas(assigned: i64, scaling: &BackendScaling) -> i32 {
    let per = i64::from(scaling.spaces_per_replica.max(1));
    let wanted = (assigned.max(0) + per - 1) / per;
    let min = i64::from(scaling.min_replicas.max(0));
    let max = i64::from(scaling.max_replicas.max(scaling.min_replicas).max(0));
    wanted.clamp(min, max) as i32
}

/// Spaces a backend can serve at its largest.
pub fn capacity(scaling: &BackendScaling) -> i64 {
    i64::from(scaling.spaces_per_replica) * i64::from(scaling.max_replicas)
}

/// Collabora matches WOPI hosts against alias regexes (a full match): one pattern per base domain
/// accepts every space host `https://<name>.<domain>:443` of the classes, and nothing else: the
/// name is one DNS label, dots are escaped and nothing may follow the port.
pub fn space_hosts_pattern(base_domain: &str) -> String {
    format!("https://[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?\\.{}:443", regex_escape(base_domain))
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if !c.is_ascii_alphanumeric() && c != '-' {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// `aliasgroupN` variables of the Collabora image: per base domain, the domain itself as the
/// group's host and the pattern of its space hosts as alias. Sorted and deduplicated, so the
/// Deployment only changes when a class brings a new domain.
pub fn collabora_alias_groups(base_domains: &[String]) -> Vec<(String, String)> {
    let mut domains: Vec<&String> = base_domains.iter().collect();
    domains.sort();
    domains.dedup();
    domains
        .into_iter()
        .enumerate()
        .map(|(i, d)| (format!("aliasgroup{}", i + 1), format!("https://{d}:443,{}", space_hosts_pattern(d))))
        .collect()
}

pub fn office_workload(backend: &str) -> String {
    format!("office-{backend}")
}

pub fn preview_workload(backend: &str) -> String {
    format!("preview-{backend}")
}

pub fn jwt_secret_name(backend: &str) -> String {
    format!("office-{backend}-jwt")
}

/// The URL spaces give Nextcloud for the office server: its public host (browsers load it too).
pub fn office_url(backend: &OfficeBackend) -> String {
    format!("https://{}", backend.spec.host)
}

/// Imaginary is only called by Nextcloud servers: its cluster-internal Service.
pub fn preview_url(backend: &str, namespace: &str) -> String {
    format!("http://{}.{namespace}.svc:{IMAGINARY_PORT}", preview_workload(backend))
}

fn labels(workload: &str, component: &str, backend: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string()),
        (PART_OF_LABEL.to_string(), "framaspace".to_string()),
        (NAME_LABEL.to_string(), component.to_string()),
        (INSTANCE_LABEL.to_string(), workload.to_string()),
        (BACKEND_LABEL.to_string(), backend.to_string()),
    ])
}

fn selector(workload: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(INSTANCE_LABEL.to_string(), workload.to_string())])
}

fn owner<K: Resource<DynamicType = ()>>(backend: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: backend.name_any(),
        uid: backend.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub(super) fn meta<K: Resource<DynamicType = ()>>(backend: &K, name: &str, component: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels(name, component, &backend.name_any())),
        owner_references: Some(vec![owner(backend)]),
        ..ObjectMeta::default()
    }
}

fn http_probe(path: &str, port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction { path: Some(path.into()), port: IntOrString::Int(port), ..HTTPGetAction::default() }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}

pub(super) struct Workload<'a> {
    pub name: &'a str,
    pub component: &'a str,
    pub namespace: &'a str,
    pub replicas: i32,
    pub container: Container,
    pub pods: &'a BackendPods,
    pub node_pool: &'a str,
}

/// The volume `config` of one key of a Secret, readable by the pod's group only: the servers
/// that read it run as their image's user, given the group by the pod's `fsGroup`.
pub(super) fn secret_file(secret: &str, key: &str) -> k8s_openapi::api::core::v1::Volume {
    use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource, Volume};
    Volume {
        name: "config".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            items: Some(vec![KeyToPath { key: key.into(), path: key.into(), mode: Some(0o440) }]),
            default_mode: Some(0o440),
            optional: Some(false),
        }),
        ..Volume::default()
    }
}

pub(super) fn deployment<K: Resource<DynamicType = ()>>(backend: &K, w: Workload<'_>) -> Deployment {
    let mut node_selector = w.pods.node_selector.clone();
    if node_selector.is_empty() {
        node_selector.insert(NODE_POOL_LABEL.into(), w.node_pool.into());
    }
    let mut container = w.container;
    container.resources = w.pods.resources.clone();
    Deployment {
        metadata: meta(backend, w.name, w.component, w.namespace),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas),
            selector: LabelSelector { match_labels: Some(selector(w.name)), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some({
                        let mut l = labels(w.name, w.component, &backend.name_any());
                        l.insert(COMPONENT_LABEL.into(), w.component.into());
                        l
                    }),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    node_selector: Some(node_selector),
                    enable_service_links: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

pub(super) fn service<K: Resource<DynamicType = ()>>(backend: &K, name: &str, component: &str, namespace: &str, port: i32) -> Service {
    Service {
        metadata: meta(backend, name, component, namespace),
        spec: Some(ServiceSpec {
            selector: Some(selector(name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port,
                target_port: Some(IntOrString::Int(port)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The office server's objects: Deployment, Service and an Ingress on its own host.
pub fn office_objects(backend: &OfficeBackend, namespace: &str, replicas: i32, base_domains: &[String]) -> (Deployment, Service, Ingress) {
    let name = office_workload(&backend.name_any());
    let (image, port, container) = match backend.spec.type_ {
        OfficeBackendType::Collabora => {
            let mut vars = vec![
                env("extra_params", "--o:ssl.enable=false --o:ssl.termination=true --o:welcome.enable=false"),
                env("server_name", &backend.spec.host),
                env("DONT_GEN_SSL_CERT", "true"),
            ];
            vars.extend(collabora_alias_groups(base_domains).into_iter().map(|(k, v)| env(&k, &v)));
            let image = backend.spec.image.clone().unwrap_or_else(|| COLLABORA_IMAGE.into());
            (image, 9980, Container { env: Some(vars), ..Container::default() })
        }
        OfficeBackendType::Onlyoffice => {
            let jwt = EnvVar {
                name: "JWT_SECRET".into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: jwt_secret_name(&backend.name_any()),
                        key: JWT_KEY.into(),
                        optional: Some(false),
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            };
            let vars = vec![env("JWT_ENABLED", "true"), env("JWT_HEADER", "Authorization"), jwt];
            let image = backend.spec.image.clone().unwrap_or_else(|| ONLYOFFICE_IMAGE.into());
            (image, 80, Container { env: Some(vars), ..Container::default() })
        }
    };
    let probe_path = match backend.spec.type_ {
        OfficeBackendType::Collabora => "/hosting/discovery",
        OfficeBackendType::Onlyoffice => "/healthcheck",
    };
    let container = Container {
        name: "office".into(),
        image: Some(image),
        ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: port, ..ContainerPort::default() }]),
        readiness_probe: Some(http_probe(probe_path, port, 10, 3)),
        // Document servers take a while to start; a liveness probe must not kill them meanwhile.
        startup_probe: Some(http_probe(probe_path, port, 10, 30)),
        liveness_probe: Some(http_probe(probe_path, port, 30, 4)),
        ..container
    };
    let workload =
        Workload { name: &name, component: "office", namespace, replicas, container, pods: &backend.spec.pods, node_pool: "office" };
    let deployment = deployment(backend, workload);
    let service = service(backend, &name, "office", namespace, port);
    let ingress = Ingress {
        metadata: ObjectMeta {
            annotations: Some(BTreeMap::from([
                // Documents are uploaded to and saved through the office server.
                ("nginx.ingress.kubernetes.io/proxy-body-size".to_string(), "0".to_string()),
                ("nginx.ingress.kubernetes.io/proxy-read-timeout".to_string(), "3600".to_string()),
            ])),
            ..meta(backend, &name, "office", namespace)
        },
        spec: Some(IngressSpec {
            tls: Some(vec![IngressTLS { hosts: Some(vec![backend.spec.host.clone()]), secret_name: Some(format!("{name}-tls")) }]),
            rules: Some(vec![super::ingress::host_rule(
                &backend.spec.host,
                &name,
                ServiceBackendPort { number: Some(port), ..ServiceBackendPort::default() },
            )]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    };
    (deployment, service, ingress)
}

/// The Imaginary server's objects: Deployment and Service (internal only: Nextcloud calls it).
pub fn preview_objects(backend: &PreviewBackend, namespace: &str, replicas: i32) -> (Deployment, Service) {
    let name = preview_workload(&backend.name_any());
    let container = Container {
        name: "imaginary".into(),
        image: Some(backend.spec.image.clone().unwrap_or_else(|| IMAGINARY_IMAGE.into())),
        args: Some(["-p", "9000", "-return-size", "-max-allowed-resolution", "222.2"].map(String::from).to_vec()),
        ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: IMAGINARY_PORT, ..ContainerPort::default() }]),
        readiness_probe: Some(http_probe("/health", IMAGINARY_PORT, 10, 3)),
        liveness_probe: Some(http_probe("/health", IMAGINARY_PORT, 30, 4)),
        ..Container::default()
    };
    let workload =
        Workload { name: &name, component: "preview", namespace, replicas, container, pods: &backend.spec.pods, node_pool: "preview" };
    (deployment(backend, workload), service(backend, &name, "preview", namespace, IMAGINARY_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::office_backend::OfficeBackendSpec;
    use crate::api::preview_backend::PreviewBackendSpec;

    fn scaling(per: i32, min: i32, max: i32) -> BackendScaling {
        BackendScaling { spaces_per_replica: per, min_replicas: min, max_replicas: max }
    }

    #[test]
    fn replicas_follow_the_spaces_within_bounds() {
        let s = scaling(3, 1, 5);
        let cases = [(0, 1), (1, 1), (3, 1), (4, 2), (7, 3), (9, 3), (10, 4), (15, 5), (100, 5), (-2, 1)];
        for (assigned, want) in cases {
            assert_eq!(desired_replicas(assigned, &s), want, "{assigned} spaces");
        }
        assert_eq!(desired_replicas(0, &scaling(3, 0, 5)), 0, "minReplicas 0 scales to zero");
        assert_eq!(desired_replicas(7, &scaling(3, 4, 5)), 4, "never below minReplicas");
        assert_eq!(capacity(&s), 15);
    }

    fn full_match(pattern: &str, host: &str) -> bool {
        regex::Regex::new(&format!("^(?:{pattern})$")).expect("valid regex").is_match(host)
    }

    #[test]
    fn the_alias_pattern_accepts_every_space_host_of_the_domain_and_nothing_else() {
        let p = space_hosts_pattern("frama.space");
        for host in ["collectif-velo", "a", "jardins-partages", "x1", &"a".repeat(63)] {
            assert!(full_match(&p, &format!("https://{host}.frama.space:443")), "{host}");
        }
        for other in [
            "https://frama.space:443",                        // the apex is not a space
            "https://a.b.frama.space:443",                    // one label only
            "https://evil.frama.space.attacker.example:443",  // look-alike suffix
            "https://evil.frama.space:443.attacker.example",  // nothing after the port
            "https://evilframa.space:443",                    // the dot is not a wildcard
            "https://evil.framaXspace:443",                   // escaped dots
            "https://collectif-velo.frama.space:8443",        // another port
            "http://collectif-velo.frama.space:443",          // another scheme
            "https://collectif-velo.premium.frama.space:443", // another class's domain
            "https://-bad.frama.space:443",                   // not a DNS label
            "https://Upper.frama.space:443",
            &format!("https://{}.frama.space:443", "a".repeat(64)),
        ] {
            assert!(!full_match(&p, other), "{other}");
        }
    }

    #[test]
    fn alias_groups_cover_each_domain_once_in_a_stable_order() {
        let groups = collabora_alias_groups(&["premium.frama.space".into(), "frama.space".into(), "frama.space".into()]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, "aliasgroup1");
        assert!(groups[0].1.starts_with("https://frama.space:443,https://"));
        assert!(groups[1].1.starts_with("https://premium.frama.space:443,"));
        let alias = groups[1].1.split_once(',').map(|(_, a)| a).unwrap_or_default();
        assert!(full_match(alias, "https://club.premium.frama.space:443"));
        assert!(!full_match(alias, "https://club.frama.space:443"));
    }

    fn office(type_: OfficeBackendType) -> OfficeBackend {
        let mut b = OfficeBackend::new(
            "collabora-1",
            OfficeBackendSpec {
                type_,
                host: "office.frama.space".into(),
                image: None,
                scaling: scaling(3, 1, 10),
                pods: BackendPods::default(),
            },
        );
        b.metadata.uid = Some("uid-1".into());
        b
    }

    #[test]
    fn collabora_runs_on_office_nodes_behind_its_own_host() {
        let (d, s, i) = office_objects(&office(OfficeBackendType::Collabora), "framaspace-system", 3, &["frama.space".into()]);
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(3));
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.node_selector.unwrap_or_default().get("frama.space/node-pool").map(String::as_str), Some("office"));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some(COLLABORA_IMAGE));
        let env: BTreeMap<_, _> = c.env.clone().unwrap_or_default().into_iter().map(|e| (e.name, e.value.unwrap_or_default())).collect();
        assert!(env["aliasgroup1"].contains(r"\.frama\.space:443"));
        assert_eq!(env["server_name"], "office.frama.space");
        assert!(c.startup_probe.is_some());
        assert_eq!(s.spec.and_then(|s| s.ports).map(|p| p[0].port), Some(9980));
        let rule = &i.spec.and_then(|s| s.rules).unwrap_or_default()[0];
        assert_eq!(rule.host.as_deref(), Some("office.frama.space"));
        let owner = &d.metadata.owner_references.unwrap_or_default()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("OfficeBackend", "uid-1"));
        assert_eq!(d.metadata.labels.unwrap_or_default().get(BACKEND_LABEL).map(String::as_str), Some("collabora-1"));
    }

    #[test]
    fn onlyoffice_reads_its_jwt_from_a_secret_never_from_a_literal() {
        let (d, _, _) = office_objects(&office(OfficeBackendType::Onlyoffice), "ns", 1, &[]);
        let c = &d.spec.and_then(|s| s.template.spec).expect("pod").containers[0];
        let jwt = c.env.clone().unwrap_or_default().into_iter().find(|e| e.name == "JWT_SECRET").expect("JWT_SECRET");
        assert!(jwt.value.is_none());
        let key = jwt.value_from.and_then(|v| v.secret_key_ref).expect("from a Secret");
        assert_eq!((key.name.as_str(), key.key.as_str()), ("office-collabora-1-jwt", JWT_KEY));
    }

    #[test]
    fn imaginary_runs_on_preview_nodes_with_a_cluster_url() {
        let b = PreviewBackend::new(
            "imaginary-1",
            PreviewBackendSpec { image: None, scaling: scaling(50, 1, 4), pods: BackendPods::default() },
        );
        let (d, s) = preview_objects(&b, "framaspace-system", 2);
        let pod = d.spec.and_then(|s| s.template.spec).expect("pod");
        assert_eq!(pod.node_selector.unwrap_or_default().get("frama.space/node-pool").map(String::as_str), Some("preview"));
        assert_eq!(s.metadata.name.as_deref(), Some("preview-imaginary-1"));
        assert_eq!(preview_url("imaginary-1", "framaspace-system"), "http://preview-imaginary-1.framaspace-system.svc:9000");
    }
}
