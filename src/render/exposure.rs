//! How a space is reached and what it may reach: its Service, its Ingress (the class's ingress
//! settings) and its NetworkPolicy (the ingress controller and its backends in, its services out).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    Ingress, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bindings::Bindings;
use super::names;
use super::objects::{HTTP_PORT, meta};
use super::resolve::ResolvedSpace;
use crate::api::labels::COMPONENT_LABEL;

/// The component label of the wake component's pods (the chart's).
pub const WAKE_COMPONENT: &str = "wake";

pub fn service(space: &ResolvedSpace) -> Service {
    Service {
        metadata: meta(space, names::NEXTCLOUD),
        spec: Some(ServiceSpec {
            selector: Some(names::pod_selector(&space.name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The Service a sleeping space's requests go to: a name in the space's namespace for the wake
/// component's Service in the operator's (`target`, its cluster DNS name), so the space's
/// Ingress (whose backends must be in its own namespace) and HTTPRoute name a Service that
/// always exists. Applied for every space of a class with a sleep policy, before any route
/// points at it.
pub fn wake_service(space: &ResolvedSpace, target: &str) -> Service {
    Service {
        metadata: meta(space, names::WAKE_SERVICE),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(target.to_string()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The space's Ingress, to `backend` (its own Service, or the wake Service while it sleeps).
pub fn ingress(space: &ResolvedSpace, backend: &str) -> Ingress {
    let settings = &space.class.ingress;
    let mut annotations = BTreeMap::from([
        ("nginx.ingress.kubernetes.io/proxy-body-size".to_string(), settings.max_upload_size.clone()),
        // Large uploads stream to Nextcloud instead of filling the controller's disk first.
        ("nginx.ingress.kubernetes.io/proxy-request-buffering".to_string(), "off".to_string()),
    ]);
    if let Some(issuer) = &settings.tls_issuer {
        annotations.insert("cert-manager.io/cluster-issuer".into(), issuer.clone());
    }
    let mut metadata = meta(space, names::NEXTCLOUD);
    metadata.annotations = Some(annotations);
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: settings.class_name.clone(),
            tls: settings
                .tls_issuer
                .as_ref()
                .map(|_| vec![IngressTLS { hosts: Some(vec![space.host.clone()]), secret_name: Some(names::TLS_SECRET.into()) }]),
            rules: Some(vec![super::ingress::host_rule(
                &space.host,
                backend,
                ServiceBackendPort { name: Some("http".into()), number: None },
            )]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

/// Objects whose label `key` is one of `values`.
fn label_in(key: &str, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.into(),
            operator: "In".into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        ..LabelSelector::default()
    }
}

fn namespace_peer(label: &str, values: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer { namespace_selector: Some(label_in(label, values)), ..NetworkPolicyPeer::default() }
}

/// The pods of the office or preview backends, wherever the operator runs them.
fn backend_pods_peer(components: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        pod_selector: Some(label_in(COMPONENT_LABEL, components)),
        ..NetworkPolicyPeer::default()
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some(protocol.into()), port: Some(IntOrString::Int(number)), end_port: None }
}

/// Least privilege on the network: in, only the ingress controller, the office backends (WOPI
/// callbacks) and the wake component (the requests it held while the space woke); out, DNS, the office and preview backends, and the TCP ports of the space's pools.
pub fn network_policy(space: &ResolvedSpace, bindings: &Bindings) -> NetworkPolicy {
    let pool_ports = bindings.egress_ports();
    let mut egress = vec![
        NetworkPolicyEgressRule {
            to: Some(vec![namespace_peer("kubernetes.io/metadata.name", &["kube-system"])]),
            ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
        },
        NetworkPolicyEgressRule { to: Some(vec![backend_pods_peer(&["office", "preview"])]), ports: None },
    ];
    if !pool_ports.is_empty() {
        egress.push(NetworkPolicyEgressRule { to: None, ports: Some(pool_ports.iter().map(|p| port("TCP", *p)).collect()) });
    }
    NetworkPolicy {
        metadata: meta(space, names::NEXTCLOUD),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    namespace_peer("kubernetes.io/metadata.name", &[space.class.ingress.controller_namespace.as_str()]),
                    backend_pods_peer(&["office", WAKE_COMPONENT]),
                ]),
                ports: Some(vec![port("TCP", HTTP_PORT)]),
            }]),
            egress: Some(egress),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::labels::MANAGED_BY_LABEL;
    use crate::render::objects::tests::{bound, deployment, render, resolved};
    use crate::render::objects::{SecretAccess, config_map, credentials_secret, limit_range, operator_access, resource_quota};

    #[test]
    fn ingress_uses_class_settings() {
        let mut s = resolved();
        s.class.ingress.class_name = Some("nginx".into());
        s.class.ingress.tls_issuer = Some("letsencrypt".into());
        let i = ingress(&s, names::NEXTCLOUD);
        let ann = i.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.get("cert-manager.io/cluster-issuer").map(String::as_str), Some("letsencrypt"));
        assert_eq!(ann.get("nginx.ingress.kubernetes.io/proxy-body-size").map(String::as_str), Some("16G"));
        let spec = i.spec.expect("spec");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        assert_eq!(spec.tls.unwrap_or_default()[0].hosts, Some(vec!["mon-asso.frama.space".to_string()]));
        assert_eq!(spec.rules.unwrap_or_default()[0].host.as_deref(), Some("mon-asso.frama.space"));
    }

    #[test]
    fn ingress_without_issuer_has_no_tls() {
        let i = ingress(&resolved(), names::NEXTCLOUD);
        assert!(i.spec.and_then(|s| s.tls).is_none());
        assert!(!i.metadata.annotations.unwrap_or_default().contains_key("cert-manager.io/cluster-issuer"));
    }

    #[test]
    fn network_policy_admits_only_the_ingress_controller_and_office() {
        let np = network_policy(&resolved(), &bound());
        let spec = np.spec.expect("spec");
        let from = spec.ingress.unwrap_or_default()[0].from.clone().unwrap_or_default();
        let json = serde_json::to_string(&from).unwrap_or_default();
        assert!(json.contains("ingress-nginx") && json.contains("office"));
        assert_eq!(from.len(), 2);
        let egress = spec.egress.unwrap_or_default();
        assert_eq!(egress.len(), 3, "DNS, backends and the pool ports");
        assert_eq!(network_policy(&resolved(), &Bindings::default()).spec.and_then(|s| s.egress).map(|e| e.len()), Some(2));
    }

    #[test]
    fn every_namespaced_object_is_labelled_owned_and_in_the_space_namespace() {
        let s = resolved();
        let files = render(&s);
        let metas = [
            credentials_secret(&s, BTreeMap::new()).metadata,
            config_map(&s, files.clone()).metadata,
            deployment(&s, &files).metadata,
            service(&s).metadata,
            ingress(&s, names::NEXTCLOUD).metadata,
            network_policy(&s, &Bindings::default()).metadata,
            resource_quota(&s).metadata,
            limit_range(&s).metadata,
            operator_access(&s, &SecretAccess::for_user("r".into(), "u")).metadata,
        ];
        for m in metas {
            assert_eq!(m.namespace.as_deref(), Some("space-mon-asso"));
            let labels = m.labels.unwrap_or_default();
            assert_eq!(labels.get(MANAGED_BY_LABEL).map(String::as_str), Some("framaspace-operator"));
            assert_eq!(labels.get(crate::api::labels::SPACE_LABEL).map(String::as_str), Some("mon-asso"));
            let owner = &m.owner_references.unwrap_or_default()[0];
            assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("AssociationSpace", "uid-1", Some(true)));
        }
    }
}
