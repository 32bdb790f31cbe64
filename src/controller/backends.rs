//! OfficeBackend and PreviewBackend controllers: each backend's Deployment, Service (and Ingress
//! for office servers) in the operator's namespace, scaled from the spaces assigned to it (counted
//! from the space namespaces' annotations), and its status.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{Instrument, warn};

use super::Context;
use super::apply::ChangeSignal;
use super::backing::Placeable;
use super::children::get_meta;
use crate::api::backend::{BackendScaling, BackendStatus};
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::office_backend::{OfficeBackend, OfficeBackendType};
use crate::api::preview_backend::PreviewBackend;
use crate::api::space::OfficeSuite;
use crate::error::{Error, Result};
use crate::render::backends::{self as desired, JWT_KEY};
use crate::render::credentials::{self, OsRandom};
use crate::render::names::FIELD_MANAGER;

/// Namespace annotations recording the backends of a space, like its pools.
pub const OFFICE_ANNOTATION: &str = "frama.space/office-backend";
pub const PREVIEW_ANNOTATION: &str = "frama.space/preview-backend";

/// The caches of both backend kinds.
#[derive(Clone)]
pub struct BackendStores {
    pub offices: Store<OfficeBackend>,
    pub previews: Store<PreviewBackend>,
}

impl BackendStores {
    pub fn office(&self, name: &str) -> Option<Arc<OfficeBackend>> {
        self.offices.get(&ObjectRef::new(name))
    }

    pub fn preview(&self, name: &str) -> Option<Arc<PreviewBackend>> {
        self.previews.get(&ObjectRef::new(name))
    }

    pub async fn wait_until_ready(&self) {
        let _ = self.offices.wait_until_ready().await;
        let _ = self.previews.wait_until_ready().await;
    }
}

/// Whether an office backend runs the suite a space asks for.
pub fn serves(backend: &OfficeBackend, suite: OfficeSuite) -> bool {
    matches!(
        (backend.spec.type_, suite),
        (OfficeBackendType::Collabora, OfficeSuite::Collabora) | (OfficeBackendType::Onlyoffice, OfficeSuite::Onlyoffice)
    )
}

fn status_ready(status: Option<&BackendStatus>) -> bool {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).is_some_and(|c| c.is_true())
}

impl Placeable for OfficeBackend {
    const KIND: &'static str = "OfficeBackend";
    const ANNOTATION: &'static str = OFFICE_ANNOTATION;
    fn max_spaces(&self) -> i64 {
        desired::capacity(&self.spec.scaling)
    }
    fn is_placeable(&self) -> bool {
        status_ready(self.status.as_ref())
    }
}

impl Placeable for PreviewBackend {
    const KIND: &'static str = "PreviewBackend";
    const ANNOTATION: &'static str = PREVIEW_ANNOTATION;
    fn max_spaces(&self) -> i64 {
        desired::capacity(&self.spec.scaling)
    }
    fn is_placeable(&self) -> bool {
        status_ready(self.status.as_ref())
    }
}

/// What differs between the two backend kinds.
pub trait BackendKind: Placeable + Clone + DeserializeOwned + Serialize + std::fmt::Debug + Send + Sync + 'static {
    fn scaling(&self) -> &BackendScaling;
    fn backend_status(&self) -> Option<&BackendStatus>;
    fn workload(&self) -> String;
    /// Applies the backend's objects with `replicas`; returns the number of writes.
    fn apply(&self, ctx: &BackendContext, replicas: i32) -> impl Future<Output = Result<usize>> + Send;
}

/// The operator's context plus the caches that trigger backend reconciles: read from them, a
/// reconcile sees at least the change that triggered it.
pub struct BackendContext {
    ctx: Arc<Context>,
    namespaces: super::children::MetaStore<k8s_openapi::api::core::v1::Namespace>,
    deployments: Store<Deployment>,
    /// Opens once both caches above hold their initial lists (one waiter per store: kube's
    /// `Store::wait_until_ready` wakes only the last task that polled it).
    ready: tokio::sync::watch::Receiver<bool>,
}

impl BackendContext {
    fn live_deployment(&self, name: &str) -> Option<Arc<Deployment>> {
        self.deployments.get(&ObjectRef::new(name).within(&self.ctx.pools.namespace))
    }
}

fn api<K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>>(ctx: &Context) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &ctx.pools.namespace)
}

fn written(applied: super::apply::Applied) -> usize {
    usize::from(applied == super::apply::Applied::Written)
}

/// Applies a backend's Deployment and Service; returns the number of writes.
async fn apply_workload(
    bctx: &BackendContext,
    name: &str,
    deployment: Deployment,
    service: k8s_openapi::api::core::v1::Service,
) -> Result<usize> {
    let ctx = &bctx.ctx;
    let live = bctx.live_deployment(name).map(|d| d.metadata.clone());
    let mut writes = written(ctx.applier.apply(&api(ctx), deployment, live.as_ref(), ChangeSignal::Generation).await?);
    let live = get_meta(&ctx.children.services, Some(&ctx.pools.namespace), name);
    writes += written(ctx.applier.apply(&api(ctx), service, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    Ok(writes)
}

impl BackendKind for OfficeBackend {
    fn scaling(&self) -> &BackendScaling {
        &self.spec.scaling
    }
    fn backend_status(&self) -> Option<&BackendStatus> {
        self.status.as_ref()
    }
    fn workload(&self) -> String {
        desired::office_workload(&self.name_any())
    }
    async fn apply(&self, bctx: &BackendContext, replicas: i32) -> Result<usize> {
        let ctx = &bctx.ctx;
        let ns = ctx.pools.namespace.as_str();
        let mut writes = 0;
        if self.spec.type_ == OfficeBackendType::Onlyoffice {
            writes += ensure_jwt(self, ctx).await?;
        }
        let mut domains: Vec<String> = ctx.classes.state().iter().map(|c| c.spec.base_domain.clone()).collect();
        domains.sort();
        let (deployment, service, ingress) = desired::office_objects(self, ns, replicas, &domains);
        let name = self.workload();
        writes += apply_workload(bctx, &name, deployment, service).await?;
        let live = get_meta(&ctx.children.ingresses, Some(ns), &name);
        writes += written(ctx.applier.apply(&api(ctx), ingress, live.as_ref(), ChangeSignal::Generation).await?);
        Ok(writes)
    }
}

/// The OnlyOffice JWT: generated once, kept in a Secret of the operator's namespace owned by the
/// backend, and copied by the operator into the credentials of the spaces assigned to it only.
async fn ensure_jwt(backend: &OfficeBackend, ctx: &Context) -> Result<usize> {
    let name = desired::jwt_secret_name(&backend.name_any());
    if ctx.pools.operator_secret(&name).and_then(|s| s.data.clone()).is_some_and(|d| d.contains_key(JWT_KEY)) {
        return Ok(0);
    }
    // The cache may lag behind a write: the API server decides whether it exists.
    let secrets: Api<Secret> = api(ctx);
    if secrets.get_opt(&name).await?.and_then(|s| s.data).is_some_and(|d| d.contains_key(JWT_KEY)) {
        return Ok(0);
    }
    let token = credentials::office_jwt(&mut OsRandom)?;
    let owner =
        backend.controller_owner_ref(&()).ok_or_else(|| Error::StillTerminating(format!("OfficeBackend {}", backend.name_any())))?;
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": name, "namespace": ctx.pools.namespace, "ownerReferences": [owner],
                      "labels": { crate::render::names::MANAGED_BY_LABEL: FIELD_MANAGER, desired::BACKEND_LABEL: backend.name_any() } },
        "type": "Opaque",
        "stringData": { JWT_KEY: token },
    });
    // Create, never overwrite: a concurrent creation wins and its value is kept.
    match secrets
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(secret).map_err(|e| Error::Encode { what: "Secret", source: e })?,
        )
        .await
    {
        Ok(_) => Ok(1),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(0),
        // The body of a failed Secret write is never shown: it could echo the token back.
        Err(e) => {
            let code = if let kube::Error::Api(s) = &e { s.code } else { 0 };
            Err(Error::SecretWrite { namespace: ctx.pools.namespace.clone(), name, code })
        }
    }
}

/// The JWT an OnlyOffice backend shares with its spaces, from the cache.
pub fn office_jwt(ctx: &Context, backend: &str) -> Option<Vec<u8>> {
    ctx.pools
        .operator_secret(&desired::jwt_secret_name(backend))
        .and_then(|s| s.data.clone())
        .and_then(|d| d.get(JWT_KEY).map(|v| v.0.clone()))
}

impl BackendKind for PreviewBackend {
    fn scaling(&self) -> &BackendScaling {
        &self.spec.scaling
    }
    fn backend_status(&self) -> Option<&BackendStatus> {
        self.status.as_ref()
    }
    fn workload(&self) -> String {
        desired::preview_workload(&self.name_any())
    }
    async fn apply(&self, bctx: &BackendContext, replicas: i32) -> Result<usize> {
        let ctx = &bctx.ctx;
        let ns = ctx.pools.namespace.as_str();
        let (deployment, service) = desired::preview_objects(self, ns, replicas);
        apply_workload(bctx, &self.workload(), deployment, service).await
    }
}

/// The Ready condition from the replicas wanted and ready.
pub fn ready_condition(desired: i32, ready: i32, observed: bool) -> Condition {
    use ConditionStatus::*;
    if !observed {
        Condition::new("Ready", False, "RollingOut", "the Deployment has not observed its latest change yet")
    } else if desired == 0 {
        Condition::new("Ready", True, "ScaledToZero", "no space is assigned and minReplicas is 0")
    } else if ready >= desired {
        Condition::new("Ready", True, "Available", format!("{ready}/{desired} replicas ready"))
    } else {
        Condition::new("Ready", False, "ScalingUp", format!("{ready}/{desired} replicas ready"))
    }
}

async fn reconcile<K: BackendKind>(backend: Arc<K>, ctx: Arc<BackendContext>) -> Result<Action> {
    let metrics = ctx.ctx.metrics.clone();
    let span = tracing::info_span!("reconcile", controller = K::KIND, backend = %backend.name_any());
    metrics.reconcile(K::KIND, reconcile_once(backend, ctx)).instrument(span).await
}

async fn reconcile_once<K: BackendKind>(backend: Arc<K>, bctx: Arc<BackendContext>) -> Result<Action> {
    let ctx = &bctx.ctx;
    if !ctx.wait_until_ready(Duration::from_secs(60)).await {
        return Err(Error::StillTerminating("the initial sync of the caches".into()));
    }
    if !super::wait_for_gate(&bctx.ready, Duration::from_secs(60)).await {
        return Err(Error::StillTerminating("the initial sync of the backend caches".into()));
    }
    let name = backend.name_any();
    let assigned = super::pools::assignments(&bctx.namespaces, K::ANNOTATION).get(&name).copied().unwrap_or(0);
    let replicas = desired::desired_replicas(assigned, backend.scaling());
    backend.apply(&bctx, replicas).await?;
    let deployment = bctx.live_deployment(&backend.workload());
    let ready_replicas = deployment.as_ref().and_then(|d| d.status.as_ref()).and_then(|s| s.ready_replicas).unwrap_or(0);
    let observed = deployment.as_ref().is_some_and(|d| {
        d.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
            && d.spec.as_ref().and_then(|s| s.replicas) == Some(replicas)
    });
    let ready = ready_condition(replicas, ready_replicas, observed);
    ctx.metrics.set_pool(K::KIND, &name, desired::capacity(backend.scaling()), assigned, ready.is_true());
    ctx.metrics.set_backend_replicas(K::KIND, &name, replicas, ready_replicas);
    let previous = backend.backend_status().cloned().unwrap_or_default();
    let generation = backend.meta().generation;
    let status = BackendStatus {
        assigned_spaces: assigned,
        desired_replicas: replicas,
        ready_replicas,
        observed_generation: generation,
        conditions: merge_conditions(&previous.conditions, vec![ready], generation, &now_rfc3339()),
    };
    if backend.backend_status() != Some(&status) {
        let patch = json!({ "apiVersion": K::api_version(&()), "kind": K::KIND, "status": status });
        Api::<K>::all(ctx.client.clone()).patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    }
    // The namespace and Deployment watches trigger the next reconcile; this is a safety net.
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy<K: BackendKind>(backend: Arc<K>, error: &Error, ctx: Arc<BackendContext>) -> Action {
    warn!(kind = K::KIND, backend = %backend.name_any(), error = %error, "backend reconcile failed");
    Action::requeue(ctx.ctx.retry_delay(&format!("{}/{}", K::KIND, backend.name_any())))
}

/// Runs the controller of one backend kind: triggered by the backend, its Deployment (replicas
/// becoming ready) and the space namespaces (assignments). Stopped by aborting its task.
pub async fn run<K: BackendKind>(ctx: Arc<Context>) {
    // Assignments change with the space namespaces' annotations; a second metadata-only watch
    // (the space controller consumes its own) keeps the scaling immediate.
    let (ns_store, namespaces) = super::children::meta_watch::<k8s_openapi::api::core::v1::Namespace>(&ctx.client);
    let (deployments, writer) = kube::runtime::reflector::store();
    let backend_deployments = watcher(
        Api::<Deployment>::namespaced(ctx.client.clone(), &ctx.pools.namespace),
        watcher::Config::default().labels(desired::BACKEND_LABEL),
    )
    .default_backoff()
    .modify(|d| d.managed_fields_mut().clear())
    .reflect(writer)
    .touched_objects();
    let (gate, ready) = tokio::sync::watch::channel(false);
    let (waiting_ns, waiting_deployments) = (ns_store.clone(), deployments.clone());
    let caches = tokio::spawn(async move {
        let _ = waiting_ns.wait_until_ready().await;
        let _ = waiting_deployments.wait_until_ready().await;
        let _ = gate.send(true);
    });
    let bctx = Arc::new(BackendContext { ctx, namespaces: ns_store, deployments, ready });
    let by_label = |labels: &std::collections::BTreeMap<String, String>, key: &str| labels.get(key).map(|n| ObjectRef::<K>::new(n));
    // A space that moves (switching suites) or leaves changes two backends' counts: the mapper
    // remembers each namespace's last backend to trigger the one it left too.
    let last = std::sync::Mutex::new(std::collections::HashMap::<String, String>::new());
    let moved = move |ns: kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Namespace>| {
        let now = ns.annotations().get(K::ANNOTATION).cloned();
        let gone = ns.metadata.deletion_timestamp.is_some();
        let before = match last.lock() {
            Ok(mut map) => match (&now, gone) {
                (Some(b), false) => map.insert(ns.name_any(), b.clone()),
                _ => map.remove(&ns.name_any()),
            },
            Err(_) => None,
        };
        let mut refs: Vec<ObjectRef<K>> = now.iter().map(|n| ObjectRef::new(n)).collect();
        refs.extend(before.filter(|b| Some(b) != now.as_ref()).map(|b| ObjectRef::new(&b)));
        refs
    };
    Controller::new(Api::<K>::all(bctx.ctx.client.clone()), watcher::Config::default())
        .watches_stream(backend_deployments, move |d| by_label(d.labels(), desired::BACKEND_LABEL))
        .watches_stream(namespaces, moved)
        .run(reconcile::<K>, error_policy::<K>, bctx)
        .for_each(|_| async {})
        .await;
    caches.abort();
}
