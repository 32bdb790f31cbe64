//! OfficeBackend, PreviewBackend and TalkBackend controllers: each backend's Deployment, Service
//! (and Ingress for office servers; a Secret with the TURN secret and coturn's configuration for
//! Talk) in the operator's namespace, scaled from the spaces assigned to it (counted from the
//! space namespaces' annotations), and its status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{Instrument, warn};

use super::Context;
use super::Stop;
use super::apply::ChangeSignal;
use super::caches::MetaCache;
use super::fanout::Subscription;
use super::status::write_status;
use super::workload::WorkloadObservation;
use crate::api::backend::{BackendScaling, BackendStatus};
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::labels::{
    BACKEND_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, OFFICE_BACKEND_ANNOTATION as OFFICE_ANNOTATION,
    PREVIEW_BACKEND_ANNOTATION as PREVIEW_ANNOTATION, TALK_BACKEND_ANNOTATION as TALK_ANNOTATION,
};
use crate::api::office_backend::{OfficeBackend, OfficeBackendType};
use crate::api::preview_backend::PreviewBackend;
use crate::api::space::OfficeSuite;
use crate::api::talk_backend::TalkBackend;
use crate::error::{Error, Result};
use crate::placement::Placeable;
use crate::render::backends::{self as desired, JWT_KEY};
use crate::render::credentials::{self, OsRandom};

/// The caches of the backend kinds.
#[derive(Clone)]
pub struct BackendStores {
    pub offices: Store<OfficeBackend>,
    pub previews: Store<PreviewBackend>,
    pub talks: Store<TalkBackend>,
}

impl BackendStores {
    pub fn office(&self, name: &str) -> Option<Arc<OfficeBackend>> {
        self.offices.get(&ObjectRef::new(name))
    }

    pub fn preview(&self, name: &str) -> Option<Arc<PreviewBackend>> {
        self.previews.get(&ObjectRef::new(name))
    }

    pub fn talk(&self, name: &str) -> Option<Arc<TalkBackend>> {
        self.talks.get(&ObjectRef::new(name))
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

impl Placeable for TalkBackend {
    const KIND: &'static str = "TalkBackend";
    const ANNOTATION: &'static str = TALK_ANNOTATION;
    fn max_spaces(&self) -> i64 {
        desired::capacity(&self.spec.scaling)
    }
    fn is_placeable(&self) -> bool {
        status_ready(self.status.as_ref())
    }
}

/// What differs between the backend kinds.
pub trait BackendKind: Placeable + Clone + DeserializeOwned + Serialize + std::fmt::Debug + Send + Sync + 'static {
    fn scaling(&self) -> &BackendScaling;
    fn backend_status(&self) -> Option<&BackendStatus>;
    fn workload(&self) -> String;
    /// Applies the backend's objects with `replicas`; returns the number of writes.
    fn apply(&self, ctx: &Context, replicas: i32) -> impl Future<Output = Result<usize>> + Send;
    /// Conditions besides Ready, for what the backend runs besides its scaled workload.
    fn more_conditions(&self, _ctx: &Context) -> Vec<Condition> {
        Vec::new()
    }
    /// Why the backend cannot serve whatever its replicas say (Ready False with this reason
    /// and message, so no space is placed on it).
    fn refusal(&self, _ctx: &Context) -> Option<(&'static str, String)> {
        None
    }
}

/// A backend's Deployment, as the owned Deployments' cache keeps it (the watch that triggers the
/// backend is the same one, so a reconcile sees at least its trigger).
pub(super) fn live_deployment(ctx: &Context, name: &str) -> Option<(kube::core::ObjectMeta, WorkloadObservation)> {
    ctx.owned.deployments.get_with_content(Some(&ctx.pools.namespace), name)
}

pub(super) fn api<K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>>(ctx: &Context) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &ctx.pools.namespace)
}

pub(super) fn written(applied: super::apply::Applied) -> usize {
    usize::from(applied == super::apply::Applied::Written)
}

/// Applies a backend's Deployment and Service; returns the number of writes.
pub(super) async fn apply_workload(
    ctx: &Context,
    name: &str,
    deployment: Deployment,
    service: k8s_openapi::api::core::v1::Service,
) -> Result<usize> {
    let live = live_deployment(ctx, name).map(|(meta, _)| meta);
    let mut writes = written(ctx.applier.apply(&api(ctx), deployment, live.as_ref(), ChangeSignal::Generation).await?);
    let live = ctx.owned.services.get_meta(Some(&ctx.pools.namespace), name);
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
    async fn apply(&self, ctx: &Context, replicas: i32) -> Result<usize> {
        let ns = ctx.pools.namespace.as_str();
        let mut writes = 0;
        if self.spec.type_ == OfficeBackendType::Onlyoffice {
            writes += ensure_jwt(self, ctx).await?;
        }
        let mut domains: Vec<String> = ctx.classes.state().iter().map(|c| c.spec.base_domain.clone()).collect();
        domains.sort();
        let (deployment, service, ingress) = desired::office_objects(self, ns, replicas, &domains);
        let name = self.workload();
        writes += apply_workload(ctx, &name, deployment, service).await?;
        let live = ctx.owned.ingresses.get_meta(Some(ns), &name);
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
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": name, "namespace": ctx.pools.namespace, "ownerReferences": [owner],
                      "labels": { MANAGED_BY_LABEL: FIELD_MANAGER, BACKEND_LABEL: backend.name_any() } },
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
    async fn apply(&self, ctx: &Context, replicas: i32) -> Result<usize> {
        let ns = ctx.pools.namespace.as_str();
        let (deployment, service) = desired::preview_objects(self, ns, replicas);
        apply_workload(ctx, &self.workload(), deployment, service).await
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

async fn reconcile<K: BackendKind>(backend: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let metrics = ctx.metrics.clone();
    let span = tracing::info_span!("reconcile", controller = K::KIND, backend = %backend.name_any());
    metrics.reconcile(K::KIND, reconcile_once(backend, ctx)).instrument(span).await
}

async fn reconcile_once<K: BackendKind>(backend: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.wait_until_ready(Duration::from_secs(60)).await {
        return Err(Error::StillTerminating("the initial sync of the caches".into()));
    }
    let name = backend.name_any();
    let assigned = super::pools::assignments(&ctx.owned.namespaces, K::ANNOTATION).get(&name).copied().unwrap_or(0);
    let refusal = backend.refusal(&ctx);
    let replicas = if refusal.is_some() { 0 } else { desired::desired_replicas(assigned, backend.scaling()) };
    backend.apply(&ctx, replicas).await?;
    let deployment = live_deployment(&ctx, &backend.workload()).map(|(_, w)| w);
    let ready_replicas = deployment.as_ref().map(|w| w.ready_replicas).unwrap_or(0);
    let observed = deployment.as_ref().is_some_and(|w| w.observed_generation >= w.generation && w.desired_replicas == replicas);
    let ready = match refusal {
        Some((reason, message)) => Condition::new("Ready", ConditionStatus::False, reason, message),
        None => ready_condition(replicas, ready_replicas, observed),
    };
    ctx.metrics.set_pool(K::KIND, &name, desired::capacity(backend.scaling()), assigned, ready.is_true());
    ctx.metrics.set_backend_replicas(K::KIND, &name, replicas, ready_replicas);
    let previous = backend.backend_status().cloned().unwrap_or_default();
    let generation = backend.meta().generation;
    let status = BackendStatus {
        assigned_spaces: assigned,
        desired_replicas: replicas,
        ready_replicas,
        observed_generation: generation,
        conditions: merge_conditions(
            &previous.conditions,
            std::iter::once(ready).chain(backend.more_conditions(&ctx)).collect(),
            generation,
            &now_rfc3339(),
        ),
    };
    write_status(&ctx.client, &ctx.gate, backend.as_ref(), backend.backend_status(), &status).await?;
    // The namespace and Deployment watches trigger the next reconcile; this is a safety net.
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy<K: BackendKind>(backend: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(kind = K::KIND, backend = %backend.name_any(), error = %error, "backend reconcile failed");
    Action::requeue(ctx.retry_delay(&format!("{}/{}", K::KIND, backend.name_any())))
}

/// Which backends a namespace event concerns: the one it is assigned to now, and the one it left
/// (a space switching suites, or going away), remembered in `last`.
pub fn moved(last: &mut HashMap<String, String>, namespace: &str, now: Option<&str>, gone: bool) -> Vec<String> {
    let before = match (now, gone) {
        (Some(b), false) => last.insert(namespace.to_string(), b.to_string()),
        _ => last.remove(namespace),
    };
    let mut backends: Vec<String> = now.iter().map(|n| n.to_string()).collect();
    backends.extend(before.filter(|b| Some(b.as_str()) != now));
    backends
}

struct Feed {
    annotation: &'static str,
    last: Mutex<HashMap<String, String>>,
    sender: UnboundedSender<String>,
}

/// Tells the backend controllers that their assignments moved. Fed by the space controller's own
/// namespace watch (every event, the operator's own writes included: they are what assigns a
/// space), so the backends need no second cache of 10,000 namespaces.
pub struct AssignmentFeed {
    feeds: [Feed; 3],
}

/// The receiving ends of an [`AssignmentFeed`], one per backend kind.
pub struct AssignmentTriggers {
    pub office: UnboundedReceiver<String>,
    pub preview: UnboundedReceiver<String>,
    pub talk: UnboundedReceiver<String>,
}

impl AssignmentFeed {
    pub fn new() -> (Self, AssignmentTriggers) {
        let (office_tx, office) = futures::channel::mpsc::unbounded();
        let (preview_tx, preview) = futures::channel::mpsc::unbounded();
        let (talk_tx, talk) = futures::channel::mpsc::unbounded();
        let feed = |annotation, sender| Feed { annotation, last: Mutex::default(), sender };
        (
            AssignmentFeed {
                feeds: [feed(OFFICE_ANNOTATION, office_tx), feed(PREVIEW_ANNOTATION, preview_tx), feed(TALK_ANNOTATION, talk_tx)],
            },
            AssignmentTriggers { office, preview, talk },
        )
    }

    pub fn observe(&self, event: &watcher::Event<PartialObjectMeta<Namespace>>) {
        let (ns, deleted) = match event {
            watcher::Event::Apply(ns) | watcher::Event::InitApply(ns) => (ns, false),
            watcher::Event::Delete(ns) => (ns, true),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let gone = deleted || ns.metadata.deletion_timestamp.is_some();
        let name = ns.name_any();
        for feed in &self.feeds {
            let now = ns.annotations().get(feed.annotation).map(String::as_str);
            let Ok(mut last) = feed.last.lock() else { continue };
            for backend in moved(&mut last, &name, now, gone) {
                // The receiver goes only when the operator stops.
                let _ = feed.sender.unbounded_send(backend);
            }
        }
    }
}

/// What a backend controller is given by the runtime.
pub struct BackendArgs<K: Resource<DynamicType = ()> + Clone + 'static> {
    pub ctx: Arc<Context>,
    pub backends: Store<K>,
    /// The runtime's one watch of this kind.
    pub events: Subscription<K>,
    /// The events of the backends' Deployments, from the runtime's one Deployment watch.
    pub deployments: Subscription<Deployment>,
    pub assignments: UnboundedReceiver<String>,
    pub stop: Stop,
}

/// Runs the controller of one backend kind: triggered by the backend, its Deployment (replicas
/// becoming ready) and the space namespaces' assignments.
pub async fn run<K: BackendKind>(args: BackendArgs<K>) {
    let BackendArgs { ctx, backends, events, deployments, assignments, stop } = args;
    let by_label = |labels: &std::collections::BTreeMap<String, String>, key: &str| labels.get(key).map(|n| ObjectRef::<K>::new(n));
    Controller::for_stream(events.touched_objects(), backends)
        .watches_stream(deployments.touched_objects(), move |d| by_label(d.labels(), BACKEND_LABEL))
        .reconcile_on(assignments.map(|name| ObjectRef::new(&name)))
        .graceful_shutdown_on(stop)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod assignment_tests {
    use super::moved;
    use std::collections::HashMap;

    #[test]
    fn a_new_assignment_triggers_its_backend() {
        let mut last = HashMap::new();
        assert_eq!(moved(&mut last, "space-a", Some("collabora"), false), vec!["collabora"]);
    }

    #[test]
    fn a_switch_triggers_both_backends() {
        let mut last = HashMap::new();
        moved(&mut last, "space-a", Some("collabora"), false);
        assert_eq!(moved(&mut last, "space-a", Some("onlyoffice"), false), vec!["onlyoffice", "collabora"]);
    }

    #[test]
    fn leaving_triggers_the_backend_left() {
        let mut last = HashMap::new();
        moved(&mut last, "space-a", Some("collabora"), false);
        assert_eq!(moved(&mut last, "space-a", Some("collabora"), true), vec!["collabora"]);
        assert!(moved(&mut last, "space-a", None, true).is_empty(), "forgotten once gone");
        assert!(moved(&mut last, "space-b", None, false).is_empty(), "a space without office");
    }
}
