//! Ingress rules shared by the spaces' and the office backends' Ingresses.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IngressBackend, IngressRule, IngressServiceBackend, ServiceBackendPort,
};

/// An Ingress rule sending every path of `host` to a Service port.
pub fn host_rule(host: &str, service: &str, port: ServiceBackendPort) -> IngressRule {
    IngressRule {
        host: Some(host.to_string()),
        http: Some(HTTPIngressRuleValue {
            paths: vec![HTTPIngressPath {
                path: Some("/".into()),
                path_type: "Prefix".into(),
                backend: IngressBackend {
                    service: Some(IngressServiceBackend { name: service.to_string(), port: Some(port) }),
                    resource: None,
                },
            }],
        }),
    }
}
