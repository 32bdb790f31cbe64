//! Caches of the objects the operator creates for spaces, and the watch streams that fill them
//! and trigger the owning space. Namespaces keep their pruned metadata (the pool assignments are
//! annotations); the other kinds are kept in compact caches (see `compact`). Secrets are
//! not watched at all: that would need the right to read every Secret of the cluster; they are
//! read when a space is reconciled, through a RoleBinding in its own namespace.

use std::fmt::Debug;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::apply::hash64;
use super::compact::{self, CompactStore};
use super::workload::{WorkloadObservation, observe_deployment};
use crate::api::AssociationSpace;
use crate::api::gateway::{HTTPRoute, RouteParentStatus};
use crate::api::labels::{MANAGED_BY_SELECTOR, OWN_PREFIX, SPACE_LABEL};

pub type MetaStore<K> = Store<PartialObjectMeta<K>>;
/// The compact cache of an owned kind watched by metadata only.
pub type OwnedCache<K> = CompactStore<PartialObjectMeta<K>>;

/// The caches of every kind the operator creates for spaces.
#[derive(Clone)]
pub struct OwnedCaches {
    /// Whole metadata (pruned): the pool assignments are read from the namespaces' annotations.
    pub namespaces: MetaStore<Namespace>,
    pub role_bindings: OwnedCache<RoleBinding>,
    pub config_maps: OwnedCache<ConfigMap>,
    /// What the space's WorkloadReady condition reads of its Deployment.
    pub deployments: CompactStore<Deployment, WorkloadObservation>,
    pub services: OwnedCache<Service>,
    pub ingresses: OwnedCache<Ingress>,
    pub network_policies: OwnedCache<NetworkPolicy>,
    /// With the digest of the spec and labels the operator owns (usage is not kept).
    pub resource_quotas: CompactStore<ResourceQuota>,
    pub limit_ranges: OwnedCache<LimitRange>,
    /// The occ Jobs, with status (their pod template is dropped from the cache).
    pub jobs: Store<Job>,
    /// The spaces' HTTPRoutes with what the Gateways reported of them (`status.parents`); `None`
    /// when the cluster served no HTTPRoute kind at the operator's start.
    pub routes: Option<RouteCache>,
}

/// The HTTPRoutes' cache: each route's parents' statuses.
pub type RouteCache = CompactStore<HTTPRoute, Vec<RouteParentStatus>>;

/// The space an owned object belongs to, from its label.
pub fn owning_space<K: Resource>(obj: &K) -> Option<ObjectRef<AssociationSpace>> {
    obj.labels().get(SPACE_LABEL).map(|name| ObjectRef::new(name))
}

/// The objects the operator creates, by their managed-by label.
pub fn owned_objects() -> watcher::Config {
    watcher::Config::default().labels(MANAGED_BY_SELECTOR)
}

/// The watch events of one kind, after they are reflected into its store.
pub type Events<K> = std::pin::Pin<Box<dyn Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send>>;

/// Drops from a cached object's metadata what no reconcile reads: at 10,000 spaces and ten owned
/// objects each, owner references, timestamps and foreign labels and annotations would be most
/// of the operator's memory. Only the operator's own labels and annotations (`frama.space/…`)
/// are kept.
pub fn prune(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    meta.owner_references = None;
    meta.creation_timestamp = None;
    meta.uid = None;
    meta.generate_name = None;
    meta.finalizers = None;
    for map in [&mut meta.labels, &mut meta.annotations] {
        if let Some(m) = map.as_mut() {
            m.retain(|k, _| k.starts_with(OWN_PREFIX));
            if m.is_empty() {
                *map = None;
            }
        }
    }
}

/// A metadata-only watch of one owned kind, reflected into a full metadata store.
pub fn meta_watch<K>(client: &Client) -> (MetaStore<K>, Events<PartialObjectMeta<K>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    owned_watch(Api::<PartialObjectMeta<K>>::all(client.clone()), |_| {})
}

/// A metadata-only watch of one owned kind, kept in a compact cache.
pub fn compact_meta_watch<K>(client: &Client) -> (OwnedCache<K>, Events<PartialObjectMeta<K>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    compact_owned_watch(Api::<PartialObjectMeta<K>>::all(client.clone()), |_| {}, compact::no_content)
}

fn compact_owned_watch<K, C>(api: Api<K>, strip: fn(&mut K), content: fn(&K) -> C) -> (CompactStore<K, C>, Events<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    let (reader, writer) = compact::store(content);
    (reader, pruned_watch(api, strip).inspect_ok(move |event| writer.apply(event)).boxed())
}

fn owned_watch<K>(api: Api<K>, strip: fn(&mut K)) -> (Store<K>, Events<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    (reader, pruned_watch(api, strip).reflect(writer).boxed())
}

/// The watch of the operator's objects of one kind, pruned (see [`prune`]) and stripped of what
/// the kind's cache does not keep.
fn pruned_watch<K>(api: Api<K>, strip: fn(&mut K)) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watcher(api, owned_objects()).default_backoff().modify(move |o| {
        prune(o.meta_mut());
        strip(o);
    })
}

/// A full watch of a kind, reflected into a store, as events.
pub fn full_watch_events<K>(client: &Client) -> (Store<K>, Events<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .boxed();
    (reader, stream)
}

/// The Deployment watch: the cache keeps what `workload::observe_deployment` reads; the events
/// keep the requested replicas and the rollout's progress, for `space::conditions::workload_fingerprint`.
pub fn deployment_watch(client: &Client) -> (CompactStore<Deployment, WorkloadObservation>, Events<Deployment>) {
    compact_owned_watch(
        Api::all(client.clone()),
        |d| {
            d.spec = d.spec.take().map(|s| DeploymentSpec { replicas: s.replicas, ..Default::default() });
            d.status = d.status.take().map(|s| DeploymentStatus {
                observed_generation: s.observed_generation,
                replicas: s.replicas,
                ready_replicas: s.ready_replicas,
                updated_replicas: s.updated_replicas,
                ..Default::default()
            });
        },
        observe_deployment,
    )
}

/// The ResourceQuota watch keeps the digest of what the operator owns, not the usage that churns with pods.
pub fn resource_quota_watch(client: &Client) -> (CompactStore<ResourceQuota>, Events<ResourceQuota>) {
    compact_owned_watch(Api::all(client.clone()), |q| q.status = None, resource_quota_digest)
}

/// The occ Job watch keeps status and metadata only.
pub fn job_watch(client: &Client) -> (Store<Job>, Events<Job>) {
    owned_watch(Api::all(client.clone()), |j| {
        if let Some(spec) = j.spec.as_mut() {
            spec.template = Default::default();
        }
    })
}

/// The HTTPRoute watch keeps what the Gateways' controllers report (`status.parents`), which a
/// space's IngressReady reads; not the spec, which only the operator writes.
pub fn route_watch(client: &Client) -> (RouteCache, Events<HTTPRoute>) {
    compact_owned_watch(
        Api::all(client.clone()),
        |r| r.spec = Default::default(),
        |r| r.status.as_ref().map(|s| s.parents.clone()).unwrap_or_default(),
    )
}

/// A cache of objects' metadata, looked up by namespace and name.
pub trait MetaCache {
    fn get_meta(&self, namespace: Option<&str>, name: &str) -> Option<ObjectMeta>;
}

impl<K> MetaCache for MetaStore<K>
where
    K: Resource<DynamicType = ()> + Clone,
{
    fn get_meta(&self, namespace: Option<&str>, name: &str) -> Option<ObjectMeta> {
        let mut r = ObjectRef::<PartialObjectMeta<K>>::new(name);
        if let Some(ns) = namespace {
            r = r.within(ns);
        }
        self.get(&r).map(|o| o.metadata.clone())
    }
}

impl<K, C: Clone> MetaCache for CompactStore<K, C> {
    fn get_meta(&self, namespace: Option<&str>, name: &str) -> Option<ObjectMeta> {
        self.get(namespace, name)
    }
}

impl OwnedCaches {
    /// Waits until every cache holds its initial list, so a reconcile never mistakes a cold cache
    /// for missing objects. Only one task may wait (see `runtime::caches_ready`).
    pub async fn wait_until_ready(&self) {
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.role_bindings.wait_until_ready().await;
        let _ = self.config_maps.wait_until_ready().await;
        let _ = self.deployments.wait_until_ready().await;
        let _ = self.services.wait_until_ready().await;
        let _ = self.ingresses.wait_until_ready().await;
        let _ = self.network_policies.wait_until_ready().await;
        let _ = self.resource_quotas.wait_until_ready().await;
        let _ = self.limit_ranges.wait_until_ready().await;
        let _ = self.jobs.wait_until_ready().await;
        if let Some(routes) = &self.routes {
            let _ = routes.wait_until_ready().await;
        }
    }
}

/// What the operator owns of a ResourceQuota: its spec and its own labels and annotations (not
/// its usage), read the same from the API server's answer and from the pruned cache.
pub fn resource_quota_digest(rq: &ResourceQuota) -> u64 {
    let spec = serde_json::to_string(&rq.spec).unwrap_or_default();
    let mut meta = rq.metadata.clone();
    prune(&mut meta);
    hash64(&(spec, &meta.labels, &meta.annotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_usage_is_not_in_the_digest() {
        use k8s_openapi::api::core::v1::{ResourceQuotaSpec, ResourceQuotaStatus};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let hard = |v: &str| Some([("pods".to_string(), Quantity(v.into()))].into_iter().collect());
        let rq = ResourceQuota { spec: Some(ResourceQuotaSpec { hard: hard("10"), ..Default::default() }), ..Default::default() };
        let mut used = rq.clone();
        used.status = Some(ResourceQuotaStatus { used: hard("3"), ..Default::default() });
        used.metadata.resource_version = Some("8".into());
        assert_eq!(resource_quota_digest(&rq), resource_quota_digest(&used));
        let mut edited = rq.clone();
        edited.spec = Some(ResourceQuotaSpec { hard: hard("20"), ..Default::default() });
        assert_ne!(resource_quota_digest(&rq), resource_quota_digest(&edited));
        let mut cached = used.clone();
        cached.metadata.labels = Some([("app.kubernetes.io/managed-by".to_string(), "x".to_string())].into_iter().collect());
        assert_eq!(resource_quota_digest(&rq), resource_quota_digest(&cached), "the cache keeps only the operator's labels");
    }
}
