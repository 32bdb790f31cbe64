//! Caches of the objects the operator creates for spaces, and the watch streams that fill them
//! and trigger the owning space. Only metadata is cached, except for Deployments whose status is
//! needed (and whose pod template is dropped from the cache: it is never read back). Secrets are
//! not watched at all: that would need the right to read every Secret of the cluster; they are
//! read when a space is reconciled, through a RoleBinding in its own namespace.

use std::fmt::Debug;

use futures::Stream;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::api::AssociationSpace;
use crate::render::names::{MANAGED_BY_SELECTOR, SPACE_LABEL};

pub type MetaStore<K> = Store<PartialObjectMeta<K>>;

#[derive(Clone)]
pub struct ChildStores {
    pub namespaces: MetaStore<Namespace>,
    pub role_bindings: MetaStore<RoleBinding>,
    pub config_maps: MetaStore<ConfigMap>,
    pub deployments: Store<Deployment>,
    pub services: MetaStore<Service>,
    pub ingresses: MetaStore<Ingress>,
    pub network_policies: MetaStore<NetworkPolicy>,
    pub resource_quotas: MetaStore<ResourceQuota>,
    pub limit_ranges: MetaStore<LimitRange>,
    /// The occ Jobs, with status (their pod template is dropped from the cache).
    pub jobs: Store<Job>,
}

/// The space an owned object belongs to, from its label.
pub fn owning_space<K: Resource>(obj: &K) -> Option<ObjectRef<AssociationSpace>> {
    obj.labels().get(SPACE_LABEL).map(|name| ObjectRef::new(name))
}

/// The objects the operator creates, by their managed-by label.
pub fn owned_objects() -> watcher::Config {
    watcher::Config::default().labels(MANAGED_BY_SELECTOR)
}

/// A metadata-only watch of one owned kind, reflected into a store.
pub fn meta_watch<K>(client: &Client) -> (MetaStore<K>, impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<PartialObjectMeta<K>>::all(client.clone()), owned_objects())
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// A full watch of a kind, reflected into a store.
pub fn full_watch<K>(client: &Client, config: watcher::Config) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<K>::all(client.clone()), config)
        .default_backoff()
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// The Deployment watch keeps status and metadata only.
pub fn deployment_watch(client: &Client) -> (Store<Deployment>, impl Stream<Item = Result<Deployment, watcher::Error>> + Send + 'static) {
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<Deployment>::all(client.clone()), owned_objects())
        .default_backoff()
        .modify(|d| {
            d.managed_fields_mut().clear();
            if let Some(spec) = d.spec.as_mut() {
                spec.template = Default::default();
            }
        })
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

/// The occ Job watch keeps status and metadata only.
pub fn job_watch(client: &Client) -> (Store<Job>, impl Stream<Item = Result<Job, watcher::Error>> + Send + 'static) {
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<Job>::all(client.clone()), owned_objects())
        .default_backoff()
        .modify(|j| {
            j.managed_fields_mut().clear();
            if let Some(spec) = j.spec.as_mut() {
                spec.template = Default::default();
            }
        })
        .reflect(writer)
        .touched_objects();
    (reader, stream)
}

pub fn get_meta<K>(store: &MetaStore<K>, namespace: Option<&str>, name: &str) -> Option<ObjectMeta>
where
    K: Resource<DynamicType = ()> + Clone,
{
    let mut r = ObjectRef::<PartialObjectMeta<K>>::new(name);
    if let Some(ns) = namespace {
        r = r.within(ns);
    }
    store.get(&r).map(|o| o.metadata.clone())
}

impl ChildStores {
    /// Waits until every cache holds its initial list, so a reconcile never mistakes a cold cache
    /// for missing objects. Only one task may wait (see `controller::caches_ready`).
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
    }
}
