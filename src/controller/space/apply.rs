//! Step "apply": the space's workload and exposure objects, server-side applied with the
//! operator's field manager, each skipped when the cache shows it exactly as last applied.

use k8s_openapi::api::core::v1::Service;
use kube::Api;

use super::build::{ExposureObjects, WorkloadObjects};
use super::edge::{self, Edge};
use super::namespace::written;
use crate::api::AssociationSpace;
use crate::api::class::GatewayParent;
use crate::controller::Context;
use crate::controller::apply::ChangeSignal;
use crate::controller::caches::{MetaCache, resource_quota_digest};
use crate::error::Result;
use crate::render::names;

/// What the exposure step did.
pub struct Exposed {
    pub writes: usize,
    /// What publishes the space now.
    pub edge: Edge,
}

/// Configuration, Deployment (once installed), ResourceQuota, LimitRange; returns the number of writes.
pub async fn workload(ctx: &Context, ns: &str, objects: WorkloadObjects) -> Result<usize> {
    let WorkloadObjects { config_map, deployment, resource_quota, limit_range } = objects;
    let c = &ctx.owned;
    let live = c.config_maps.get_meta(Some(ns), names::CONFIG_MAP);
    let mut writes = written(ctx.applier.apply(&ns_api(ctx, ns), config_map, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    if let Some(deployment) = deployment {
        let live = c.deployments.get(Some(ns), names::NEXTCLOUD);
        writes += written(ctx.applier.apply(&ns_api(ctx, ns), deployment, live.as_ref(), ChangeSignal::Generation).await?);
    }
    // A ResourceQuota's usage changes with every pod and its spec bumps no generation: what
    // the operator owns of it is compared by content.
    let live = c.resource_quotas.get_with_content(Some(ns), names::RESOURCE_QUOTA);
    let live = live.as_ref().map(|(meta, digest)| (meta, *digest));
    writes += written(ctx.applier.apply_content(&ns_api(ctx, ns), resource_quota, live, resource_quota_digest).await?);
    let live = c.limit_ranges.get_meta(Some(ns), names::LIMIT_RANGE);
    writes += written(ctx.applier.apply(&ns_api(ctx, ns), limit_range, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    Ok(writes)
}

/// Service, Ingress or HTTPRoute (see `edge`), NetworkPolicy.
pub async fn exposure(
    space: &AssociationSpace,
    ctx: &Context,
    ns: &str,
    objects: ExposureObjects,
    gateway: Option<&GatewayParent>,
) -> Result<Exposed> {
    let ExposureObjects { service, ingress, route, wake_service, network_policy } = objects;
    let c = &ctx.owned;
    let live = c.services.get_meta(Some(ns), names::NEXTCLOUD);
    let mut writes = written(ctx.applier.apply(&ns_api(ctx, ns), service, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    // The wake Service exists before the Ingress or route may name it (a class with a sleep
    // policy), and goes once neither does (the policy removed, every space awake).
    let live = c.services.get_meta(Some(ns), names::WAKE_SERVICE);
    match wake_service {
        Some(w) => writes += written(ctx.applier.apply(&ns_api(ctx, ns), w, live.as_ref(), ChangeSignal::ResourceVersion).await?),
        None if live.is_some() => writes += super::namespace::deleted(ctx, &ns_api::<Service>(ctx, ns), names::WAKE_SERVICE).await?,
        None => {}
    }
    let live = c.network_policies.get_meta(Some(ns), names::NEXTCLOUD);
    writes += written(ctx.applier.apply(&ns_api(ctx, ns), network_policy, live.as_ref(), ChangeSignal::Generation).await?);
    let (edge, edge_writes) = match (gateway, route) {
        (Some(gateway), Some(route)) => edge::through_gateway(space, ctx, ns, gateway, route).await?,
        _ => {
            let live = c.ingresses.get_meta(Some(ns), names::NEXTCLOUD);
            let ingress = written(ctx.applier.apply(&ns_api(ctx, ns), ingress, live.as_ref(), ChangeSignal::Generation).await?);
            let (edge, w) = edge::through_ingress(space, ctx, ns, ingress > 0).await?;
            (edge, w + ingress)
        }
    };
    Ok(Exposed { writes: writes + edge_writes, edge })
}

fn ns_api<K>(ctx: &Context, ns: &str) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    Api::namespaced(ctx.client.clone(), ns)
}
