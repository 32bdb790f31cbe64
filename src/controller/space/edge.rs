//! Part of step "apply": what publishes the space, its Ingress or its HTTPRoute (the class's
//! `spec.ingress.gateway`), and the move from one to the other. The new object is written first
//! and the old one deleted only once the new one is taken: a route once its Gateway reports it
//! `Accepted` (and its backend resolved) for the route's current generation (Gateway API
//! `RouteConditionAccepted`, `RouteConditionResolvedRefs`), an Ingress once its controller gave it
//! an address (`status.loadBalancer.ingress`, as ingress-nginx publishes it). In between both
//! exist, so the space is never unreachable; the old one serves until the new one is taken.

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;

use kube::runtime::events::EventType;

use super::namespace::{deleted, written};
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::class::GatewayParent;
use crate::api::gateway::{HTTPRoute, RouteParentStatus};
use crate::controller::Context;
use crate::controller::apply::ChangeSignal;
use crate::controller::caches::MetaCache;
use crate::error::Result;
use crate::render::names;

/// What the Gateway said of the route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteVerdict {
    Accepted,
    /// Accepted as an earlier generation: the route serves, as the Gateway last read it (enough
    /// for the space to be reachable, not to delete its Ingress).
    AcceptedEarlier,
    /// Not (yet) said.
    Pending,
    /// Accepted or ResolvedRefs False: the reason and message of the Gateway's controller.
    Refused {
        reason: String,
        message: String,
    },
}

/// What publishes the space after the step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The class publishes through Ingress; `route_kept`: its former HTTPRoute still serves, until
    /// the Ingress has an address.
    Ingress { exists: bool, route_kept: bool },
    /// The class publishes through its Gateway; `ingress_kept`: the former Ingress still serves,
    /// until the route is accepted.
    Route { gateway: GatewayParent, verdict: RouteVerdict, ingress_kept: bool },
    /// The class names a Gateway, but the cluster served no HTTPRoute kind at the operator's start.
    NoGatewayApi { gateway: GatewayParent, ingress_kept: bool },
}

/// The verdict of the Gateway `gateway` on a route of generation `generation` in `namespace`.
pub fn verdict(parents: &[RouteParentStatus], gateway: &GatewayParent, namespace: &str, generation: Option<i64>) -> RouteVerdict {
    let ours = parents.iter().find(|p| {
        p.parent_ref.name == gateway.name
            && p.parent_ref.namespace.as_deref().unwrap_or(namespace) == gateway.namespace
            && (gateway.section_name.is_none() || p.parent_ref.section_name == gateway.section_name)
    });
    let Some(parent) = ours else { return RouteVerdict::Pending };
    let find = |t: &str| parent.conditions.iter().find(|c| c.type_ == t);
    let current = |c: &crate::api::conditions::Condition| generation.is_none() || c.observed_generation >= generation;
    match (find("Accepted"), find("ResolvedRefs")) {
        (Some(a), _) if !a.is_true() && current(a) => RouteVerdict::Refused { reason: a.reason.clone(), message: a.message.clone() },
        (Some(a), Some(r)) if a.is_true() && !r.is_true() && current(r) => {
            RouteVerdict::Refused { reason: r.reason.clone(), message: r.message.clone() }
        }
        (Some(a), r) if a.is_true() && r.is_none_or(|r| r.is_true()) => {
            if current(a) {
                RouteVerdict::Accepted
            } else {
                RouteVerdict::AcceptedEarlier
            }
        }
        _ => RouteVerdict::Pending,
    }
}

/// Whether an Ingress has been given an address by its controller.
fn has_address(ingress: &Ingress) -> bool {
    let lb = ingress.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
    lb.is_some_and(|list| list.iter().any(|i| i.ip.is_some() || i.hostname.is_some()))
}

const ACTION: &str = "Publish";

/// The class publishes through its Gateway: the route applied, the Ingress deleted once it is
/// accepted (Event `MovedToGateway`). Returns the edge and the writes.
pub async fn through_gateway(
    space: &AssociationSpace,
    ctx: &Context,
    ns: &str,
    gateway: &GatewayParent,
    desired: HTTPRoute,
) -> Result<(Edge, usize)> {
    let ingress_cached = ctx.owned.ingresses.get_meta(Some(ns), names::NEXTCLOUD).is_some();
    let Some(routes) = &ctx.owned.routes else {
        return Ok((Edge::NoGatewayApi { gateway: gateway.clone(), ingress_kept: ingress_cached }, 0));
    };
    let live = routes.get_with_content(Some(ns), names::NEXTCLOUD);
    let api: Api<HTTPRoute> = Api::namespaced(ctx.client.clone(), ns);
    let mut writes = written(ctx.applier.apply(&api, desired, live.as_ref().map(|(m, _)| m), ChangeSignal::Generation).await?);
    // Just written: the Gateway has not seen this generation yet.
    let verdict = match live {
        Some((meta, parents)) if writes == 0 => verdict(&parents, gateway, ns, meta.generation),
        _ => RouteVerdict::Pending,
    };
    let mut ingress_kept = ingress_cached;
    if ingress_cached && verdict == RouteVerdict::Accepted {
        let deleted = deleted(ctx, &Api::<Ingress>::namespaced(ctx.client.clone(), ns), names::NEXTCLOUD).await?;
        writes += deleted;
        ingress_kept = false;
        if deleted > 0 {
            let note = format!(
                "Gateway {}/{} accepted the HTTPRoute nextcloud: the Ingress nextcloud is deleted",
                gateway.namespace, gateway.name
            );
            publish(space, ctx, EventType::Normal, "MovedToGateway", &note, ACTION).await;
        }
    }
    Ok((Edge::Route { gateway: gateway.clone(), verdict, ingress_kept }, writes))
}

/// The class publishes through Ingress (already applied, `ingress_written` now): a route left
/// from a Gateway is deleted once the Ingress has an address (one GET of the Ingress while a
/// route is left; Event `MovedToIngress`). Returns the edge and the writes.
pub async fn through_ingress(space: &AssociationSpace, ctx: &Context, ns: &str, ingress_written: bool) -> Result<(Edge, usize)> {
    let exists = ingress_written || ctx.owned.ingresses.get_meta(Some(ns), names::NEXTCLOUD).is_some();
    let route_cached = ctx.owned.routes.as_ref().is_some_and(|r| r.get(Some(ns), names::NEXTCLOUD).is_some());
    if !route_cached {
        return Ok((Edge::Ingress { exists, route_kept: false }, 0));
    }
    let ingresses: Api<Ingress> = Api::namespaced(ctx.client.clone(), ns);
    let addressed = exists && ingresses.get_opt(names::NEXTCLOUD).await?.as_ref().is_some_and(has_address);
    if !addressed {
        return Ok((Edge::Ingress { exists, route_kept: true }, 0));
    }
    let writes = deleted(ctx, &Api::<HTTPRoute>::namespaced(ctx.client.clone(), ns), names::NEXTCLOUD).await?;
    if writes > 0 {
        let note = "the Ingress nextcloud has an address: the HTTPRoute nextcloud is deleted";
        publish(space, ctx, EventType::Normal, "MovedToIngress", note, ACTION).await;
    }
    Ok((Edge::Ingress { exists, route_kept: false }, writes))
}

/// What the cache shows, for a reconcile that stopped before the apply step.
pub fn observed(ctx: &Context, ns: &str, gateway: Option<&GatewayParent>) -> Edge {
    let ingress = ctx.owned.ingresses.get_meta(Some(ns), names::NEXTCLOUD).is_some();
    let route = ctx.owned.routes.as_ref().and_then(|r| r.get_with_content(Some(ns), names::NEXTCLOUD));
    match (gateway, &ctx.owned.routes) {
        (None, _) => Edge::Ingress { exists: ingress, route_kept: route.is_some() },
        (Some(g), None) => Edge::NoGatewayApi { gateway: g.clone(), ingress_kept: ingress },
        (Some(g), Some(_)) => {
            let verdict = route.map_or(RouteVerdict::Pending, |(meta, parents)| verdict(&parents, g, ns, meta.generation));
            Edge::Route { gateway: g.clone(), verdict, ingress_kept: ingress }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::{Condition, ConditionStatus};
    use crate::api::gateway::ParentReference;

    fn gateway() -> GatewayParent {
        GatewayParent { name: "public".into(), namespace: "edge".into(), section_name: None }
    }

    fn parent(name: &str, conditions: Vec<(&str, ConditionStatus, i64)>) -> RouteParentStatus {
        RouteParentStatus {
            parent_ref: ParentReference { name: name.into(), namespace: Some("edge".into()), ..Default::default() },
            controller_name: "example.net/gateway".into(),
            conditions: conditions
                .into_iter()
                .map(|(t, s, g)| Condition { observed_generation: Some(g), ..Condition::new(t, s, "Why", "what the gateway says") })
                .collect(),
        }
    }

    #[test]
    fn a_route_is_taken_only_when_its_own_gateway_accepts_its_current_generation() {
        use ConditionStatus::{False, True};
        let g = gateway();
        assert_eq!(verdict(&[], &g, "space-a", Some(1)), RouteVerdict::Pending, "no word yet");
        let accepted = parent("public", vec![("Accepted", True, 2), ("ResolvedRefs", True, 2)]);
        assert_eq!(verdict(std::slice::from_ref(&accepted), &g, "space-a", Some(2)), RouteVerdict::Accepted);
        assert_eq!(
            verdict(std::slice::from_ref(&accepted), &g, "space-a", Some(3)),
            RouteVerdict::AcceptedEarlier,
            "said of an older generation: it serves, not yet as it is now"
        );
        let stale_refusal = parent("public", vec![("Accepted", False, 1)]);
        assert_eq!(verdict(&[stale_refusal], &g, "space-a", Some(2)), RouteVerdict::Pending, "a refusal of an older generation");
        let other = parent("internal", vec![("Accepted", True, 2)]);
        assert_eq!(verdict(&[other], &g, "space-a", Some(2)), RouteVerdict::Pending, "another Gateway's word");
        let refused = parent("public", vec![("Accepted", False, 2)]);
        assert!(matches!(verdict(&[refused], &g, "space-a", Some(2)), RouteVerdict::Refused { .. }));
        let unresolved = parent("public", vec![("Accepted", True, 2), ("ResolvedRefs", False, 2)]);
        assert!(matches!(verdict(&[unresolved], &g, "space-a", Some(2)), RouteVerdict::Refused { .. }), "a backend it cannot reach");
        let mut listener = g.clone();
        listener.section_name = Some("https".into());
        assert_eq!(verdict(&[accepted], &listener, "space-a", Some(2)), RouteVerdict::Pending, "another listener's word");
    }

    #[test]
    fn an_ingress_is_taken_once_it_has_an_address() {
        use k8s_openapi::api::networking::v1::{IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus};
        let mut i = Ingress::default();
        assert!(!has_address(&i));
        i.status = Some(IngressStatus {
            load_balancer: Some(IngressLoadBalancerStatus {
                ingress: Some(vec![IngressLoadBalancerIngress { ip: Some("192.0.2.7".into()), ..Default::default() }]),
            }),
        });
        assert!(has_address(&i));
    }
}
