//! A space's HTTPRoute, when its class publishes through Gateway API (`spec.ingress.gateway`):
//! its host, all paths, to the space's Service, attached to the class's Gateway.
//!
//! What the Ingress said with ingress-nginx annotations, said the Gateway API way:
//! - timeouts: `rules[].timeouts` (Extended support, standard channel since v1.2). One hour for the
//!   whole request and for the backend's answer, the time Nextcloud itself gives a request:
//!   `OC::init()` (nextcloud/server lib/base.php) raises `max_execution_time` and `max_input_time`
//!   to 3600 s so that big uploads and long PROPFINDs finish. An implementation's default would cut
//!   them (Envoy's is 15 s: Envoy Gateway's "HTTP Timeouts" task).
//! - headers: none to add. Nextcloud reads the client's address from `X-Forwarded-For` of its
//!   `trusted_proxies` (the class's `trustedProxies`), which every Gateway implementation sets, and
//!   its scheme and host from `overwriteprotocol` / `overwrite.cli.url` (render/config.rs), not
//!   from the proxy.
//! - upload size: Gateway API has no field for it (an implementation's policy attached to the
//!   route sets it, e.g. NGINX Gateway Fabric's ClientSettingsPolicy `body.maxSize`); the pod keeps
//!   `maxUploadSize` in Apache and PHP (render/objects.rs), so the limit holds at the space.
//! - TLS: ended by the Gateway's listener (a wildcard certificate), so no per-space certificate.

use super::names;
use super::objects::{HTTP_PORT, meta};
use super::resolve::ResolvedSpace;
use crate::api::gateway::{
    BackendRef, HTTPRoute, HttpPathMatch, HttpRouteMatch, HttpRouteRule, HttpRouteSpec, HttpRouteTimeouts, ParentReference,
};

/// The time a request may take, as Nextcloud allows it (see the module's comment).
pub const REQUEST_TIMEOUT: &str = "1h";

/// The space's HTTPRoute to `backend` (its Service, or the wake Service while it sleeps), or
/// none when its class publishes through Ingress.
pub fn http_route(space: &ResolvedSpace, backend: &str) -> Option<HTTPRoute> {
    let gateway = space.class.ingress.gateway.as_ref()?;
    let mut route = HTTPRoute::new(
        names::NEXTCLOUD,
        HttpRouteSpec {
            parent_refs: vec![parent_ref(gateway)],
            hostnames: vec![space.host.clone()],
            rules: vec![HttpRouteRule {
                matches: vec![HttpRouteMatch { path: HttpPathMatch { type_: "PathPrefix".into(), value: "/".into() } }],
                backend_refs: vec![BackendRef { name: backend.into(), port: HTTP_PORT }],
                timeouts: Some(HttpRouteTimeouts { request: REQUEST_TIMEOUT.into(), backend_request: REQUEST_TIMEOUT.into() }),
            }],
        },
    );
    route.metadata = meta(space, names::NEXTCLOUD);
    Some(route)
}

/// The class's Gateway as a route names it.
pub fn parent_ref(gateway: &crate::api::class::GatewayParent) -> ParentReference {
    ParentReference {
        group: Some("gateway.networking.k8s.io".into()),
        kind: Some("Gateway".into()),
        name: gateway.name.clone(),
        namespace: Some(gateway.namespace.clone()),
        section_name: gateway.section_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::class::GatewayParent;
    use crate::render::objects::tests::resolved;

    #[test]
    fn a_class_with_a_gateway_routes_its_spaces_host_to_their_service() {
        let mut s = resolved();
        assert!(http_route(&s, names::NEXTCLOUD).is_none(), "an Ingress class has no route");
        s.class.ingress.gateway =
            Some(GatewayParent { name: "public".into(), namespace: "edge".into(), section_name: Some("https".into()) });
        let r = http_route(&s, names::NEXTCLOUD).expect("a route");
        assert_eq!(r.metadata.namespace.as_deref(), Some(s.namespace.as_str()));
        assert_eq!(r.metadata.name.as_deref(), Some(names::NEXTCLOUD));
        assert_eq!(r.spec.hostnames, vec![s.host.clone()]);
        let parent = &r.spec.parent_refs[0];
        assert_eq!(
            (parent.name.as_str(), parent.namespace.as_deref(), parent.section_name.as_deref()),
            ("public", Some("edge"), Some("https"))
        );
        let rule = &r.spec.rules[0];
        assert_eq!(rule.backend_refs[0].name, names::NEXTCLOUD);
        assert_eq!(rule.backend_refs[0].port, HTTP_PORT);
        assert_eq!(rule.timeouts.as_ref().map(|t| t.request.as_str()), Some("1h"));
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(json["kind"], "HTTPRoute");
        assert_eq!(json["spec"]["rules"][0]["matches"][0]["path"]["type"], "PathPrefix");
        assert!(json.get("status").is_none(), "the operator never applies a status");
    }
}
