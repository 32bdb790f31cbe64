//! The AssociationSpace controller: from one space to its placement, namespace, credentials,
//! database, cache user, bucket, configuration, Nextcloud workload, exposure and limits, then a
//! status that says how far it got.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};

use super::apply::{Applied, ChangeSignal};
use super::backing;
use super::children::{self, ChildStores, MetaCache};
use super::office;
use super::pools::{self, CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, PoolRegistry, STORAGE_POOL_ANNOTATION};
use super::space_status::{self, INGRESS_READY, OFFICE_READY, Observation, StepFailure, WORKLOAD_READY, WorkloadObservation};
use super::triggers;
use super::{Config, Context};
use crate::api::conditions::{self, ConditionStatus, now_rfc3339};
use crate::api::space::{AssociationSpaceStatus, Placement, SpacePhase};
use crate::api::{AssociationSpace, CachePool, DatabasePool, OfficeBackend, PreviewBackend, SpaceClass, StoragePool};
use crate::error::{Error, Result};
use crate::render::bindings::Bindings;
use crate::render::credentials::{self, OsRandom};
use crate::render::names::{self, FIELD_MANAGER, FINALIZER};
use crate::render::objects;
use crate::render::resolve::{self, ResolvedSpace};

/// Spaces whose reconcile depends on `class`: those naming it, and those naming none (the
/// default class may have changed).
fn spaces_of_class(spaces: &Store<AssociationSpace>, class: &SpaceClass) -> Vec<ObjectRef<AssociationSpace>> {
    let name = class.name_any();
    spaces
        .state()
        .iter()
        .filter(|s| s.spec.space_class_name.as_ref().is_none_or(|c| *c == name))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Maps an owned object to its space, when that space exists: objects outliving their space
/// (being collected) or merely carrying the label (copied by hand) trigger nothing.
fn owned_by<K: Resource>(spaces: &Store<AssociationSpace>) -> impl Fn(K) -> Option<ObjectRef<AssociationSpace>> + use<K> {
    let spaces = spaces.clone();
    move |o| children::owning_space(&o).filter(|space| spaces.get(space).is_some())
}

/// A metadata-only watch of an owned kind, and the events of it that are news for a space.
fn meta_news<K>(
    client: &kube::Client,
    applier: &Arc<super::apply::ApplyTracker>,
) -> (
    children::OwnedCache<K>,
    impl futures::Stream<Item = std::result::Result<kube::core::PartialObjectMeta<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, events) = children::compact_meta_watch::<K>(client);
    (store, triggers::news(events, applier.clone(), None))
}

/// Spaces affected by a pool's change: those placed on it, and those still waiting for a pool.
fn spaces_of_pool(
    spaces: &Store<AssociationSpace>,
    namespaces: &children::MetaStore<Namespace>,
    annotation: &str,
    pool: &str,
) -> Vec<ObjectRef<AssociationSpace>> {
    let mut refs: Vec<ObjectRef<AssociationSpace>> = namespaces
        .state()
        .iter()
        .filter(|ns| ns.annotations().get(annotation).map(String::as_str) == Some(pool))
        .filter_map(|ns| children::owning_space(ns.as_ref()))
        .collect();
    refs.extend(
        spaces
            .state()
            .iter()
            .filter(|s| {
                let placed =
                    s.status.as_ref().and_then(|st| conditions::find(&st.conditions, space_status::PLACED)).is_some_and(|c| c.is_true());
                !placed
            })
            .map(|s| ObjectRef::from_obj(s.as_ref())),
    );
    refs
}

pub(crate) async fn run(shared: super::Shared, config: Config, stop: futures::channel::oneshot::Receiver<()>) -> Result<()> {
    let super::Shared { client, reporter, metrics, gate, caches_ready: ready } = shared;
    let secret_access = super::secret_access(&client, config.secret_access_role.as_deref()).await?;
    let (classes, class_writer) = reflector::store::<SpaceClass>();
    let class_events = watcher(Api::<SpaceClass>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|c| c.managed_fields_mut().clear())
        .reflect(class_writer);

    // Echoes of the operator's own writes are dropped from every trigger stream (see `triggers`).
    let applier = Arc::new(super::apply::ApplyTracker::default());
    let (namespaces, ns_events) = children::meta_watch::<Namespace>(&client);
    // The backends count their spaces from the namespaces' annotations, which the operator writes.
    let (assignment_feed, assignments) = super::backends::AssignmentFeed::new();
    let ns_events = ns_events.inspect(move |e| {
        if let Ok(e) = e {
            assignment_feed.observe(e);
        }
    });
    let ns_stream = triggers::news(ns_events, applier.clone(), None);
    let (role_bindings, rb_stream) = meta_news::<RoleBinding>(&client, &applier);
    let (config_maps, cm_stream) = meta_news::<ConfigMap>(&client, &applier);
    let (deployments, deploy_events) = children::deployment_watch(&client);
    let deploy_stream = triggers::news(deploy_events, applier.clone(), Some(space_status::workload_fingerprint));
    let (services, svc_stream) = meta_news::<Service>(&client, &applier);
    let (ingresses, ing_stream) = meta_news::<Ingress>(&client, &applier);
    let (network_policies, np_stream) = meta_news::<NetworkPolicy>(&client, &applier);
    let (resource_quotas, rq_events) = children::resource_quota_watch(&client);
    let rq_stream = triggers::news(rq_events, applier.clone(), Some(triggers::resource_quota_fingerprint));
    let (limit_ranges, lr_stream) = meta_news::<LimitRange>(&client, &applier);
    let (jobs, job_events) = children::job_watch(&client);
    let job_stream = triggers::news(job_events, applier.clone(), None);
    let stores = ChildStores {
        namespaces,
        role_bindings,
        config_maps,
        deployments,
        services,
        ingresses,
        network_policies,
        resource_quotas,
        limit_ranges,
        jobs,
    };

    // A class's or a pool's status changes with every space placed (its counts): that is no news
    // for the spaces, which would all be reconciled again each time.
    let class_stream = triggers::news(class_events, applier.clone(), Some(triggers::class_fingerprint));
    let (databases, db_events) = children::full_watch_events::<DatabasePool>(&client);
    let db_stream = triggers::news(db_events, applier.clone(), Some(triggers::pool_fingerprint::<DatabasePool>));
    let (caches, cache_events) = children::full_watch_events::<CachePool>(&client);
    let cache_stream = triggers::news(cache_events, applier.clone(), Some(triggers::pool_fingerprint::<CachePool>));
    let (storages, storage_events) = children::full_watch_events::<StoragePool>(&client);
    let storage_stream = triggers::news(storage_events, applier.clone(), Some(triggers::pool_fingerprint::<StoragePool>));
    let (admin_secrets, w) = reflector::store::<Secret>();
    let admin_stream = watcher(Api::<Secret>::namespaced(client.clone(), &config.namespace), watcher::Config::default())
        .default_backoff()
        .reflect(w)
        .applied_objects();
    let registry = Arc::new(PoolRegistry::new(config.namespace.clone(), databases, caches, storages, admin_secrets));

    let controller_config = ControllerConfig::default().concurrency(config.concurrency).debounce(Duration::from_millis(200));
    let pool_check = config.pool_check;
    let (offices, office_stream) = children::full_watch::<OfficeBackend>(&client);
    let (previews, preview_stream) = children::full_watch::<PreviewBackend>(&client);
    let backend_stores = super::backends::BackendStores { offices, previews };
    let caches = tokio::spawn(super::caches_ready(classes.clone(), registry.clone(), stores.clone(), backend_stores.clone(), gate));
    let (spaces, space_writer) = reflector::store();
    let ctx = super::new_context(
        client.clone(),
        reporter,
        config,
        super::Caches {
            classes,
            children: stores,
            pools: registry.clone(),
            ready: ready.clone(),
            secret_access,
            backends: backend_stores,
            applier: applier.clone(),
            spaces: spaces.clone(),
        },
        metrics.clone(),
    );
    let space_events = watcher(Api::<AssociationSpace>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(|s| s.managed_fields_mut().clear())
        .reflect(space_writer)
        .inspect_ok({
            let ctx = ctx.clone();
            move |event| {
                if let watcher::Event::Apply(s) | watcher::Event::InitApply(s) = event {
                    ctx.latest.caught_up(s);
                }
            }
        });
    let controller = Controller::for_stream(triggers::news(space_events, applier, None), spaces.clone()).with_config(controller_config);
    let ns_store = ctx.children.namespaces.clone();
    let pool_controllers = pools::PoolControllerArgs {
        client: client.clone(),
        registry: registry.clone(),
        namespaces: ns_store.clone(),
        interval: pool_check,
        ready: ready.clone(),
        metrics: metrics.clone(),
    };
    let background = [
        caches,
        tokio::spawn(count_phases(spaces.clone(), metrics.clone())),
        tokio::spawn(super::class::run(client.clone(), spaces.clone())),
        tokio::spawn(pools::run_pool_controller::<DatabasePool>(pool_controllers.clone())),
        tokio::spawn(pools::run_pool_controller::<CachePool>(pool_controllers.clone())),
        tokio::spawn(pools::run_pool_controller::<StoragePool>(pool_controllers)),
        // The spaces' view of the backends (placement, bindings) is only cached; each backend
        // controller has its own watch (kube's store readiness wakes one waiter only).
        tokio::spawn(office_stream.for_each(|_| async {})),
        tokio::spawn(preview_stream.for_each(|_| async {})),
        tokio::spawn(super::backends::run::<OfficeBackend>(ctx.clone(), assignments.office)),
        tokio::spawn(super::backends::run::<PreviewBackend>(ctx.clone(), assignments.preview)),
        // The admin Secrets only need to be cached; a rotation is picked up at the next use.
        tokio::spawn(admin_stream.for_each(|_| async {})),
    ];
    let (s1, s2, s3, s4) = (spaces.clone(), spaces.clone(), spaces.clone(), spaces.clone());
    let (n1, n2, n3) = (ns_store.clone(), ns_store.clone(), ns_store);
    controller
        .watches_stream(class_stream, move |class| spaces_of_class(&s1, &class))
        .watches_stream(db_stream, move |p| spaces_of_pool(&s2, &n1, DATABASE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(cache_stream, move |p| spaces_of_pool(&s3, &n2, CACHE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(storage_stream, move |p| spaces_of_pool(&s4, &n3, STORAGE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(ns_stream, owned_by(&spaces))
        .watches_stream(rb_stream, owned_by(&spaces))
        .watches_stream(cm_stream, owned_by(&spaces))
        .watches_stream(deploy_stream, owned_by(&spaces))
        .watches_stream(svc_stream, owned_by(&spaces))
        .watches_stream(ing_stream, owned_by(&spaces))
        .watches_stream(np_stream, owned_by(&spaces))
        .watches_stream(rq_stream, owned_by(&spaces))
        .watches_stream(lr_stream, owned_by(&spaces))
        .watches_stream(job_stream, owned_by(&spaces))
        .graceful_shutdown_on(async move {
            let _ = stop.await;
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "reconcile failed");
            }
        })
        .await;
    for task in background {
        task.abort();
    }
    Ok(())
}

/// Keeps the spaces-by-phase gauges current (every phase, zero included, so dashboards show them).
async fn count_phases(spaces: Store<AssociationSpace>, metrics: Arc<crate::telemetry::metrics::Metrics>) {
    loop {
        let all = spaces.state();
        for phase in SpacePhase::ALL {
            let count = all.iter().filter(|s| s.status.as_ref().and_then(|st| st.phase) == Some(phase)).count();
            metrics.set_spaces(phase.as_str(), count as i64);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

async fn reconcile(space: Arc<AssociationSpace>, ctx: Arc<Context>) -> Result<Action> {
    let space = ctx.latest.newest(space);
    let metrics = ctx.metrics.clone();
    metrics.reconcile("space", reconcile_space(space, ctx)).await
}

async fn reconcile_space(space: Arc<AssociationSpace>, ctx: Arc<Context>) -> Result<Action> {
    let name = space.name_any();
    let span = info_span!("reconcile", space = %name, generation = space.metadata.generation.unwrap_or_default());
    async move {
        // A cold cache would read as missing objects, classes or pools: a space would render
        // without its bindings and roll its pods for nothing.
        if !ctx.wait_until_ready(Duration::from_secs(60)).await {
            return Err(Error::StillTerminating("the initial sync of the caches".into()));
        }
        let result = if space.metadata.deletion_timestamp.is_some() { finalize(&space, &ctx).await } else { converge(&space, &ctx).await };
        if result.is_ok() {
            ctx.clear_failures(&name);
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy(space: Arc<AssociationSpace>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_permanent() {
        return Action::await_change();
    }
    let delay = ctx.retry_delay(&space.name_any());
    warn!(space = %space.name_any(), reason = error.reason(), error = %error, retry_in_ms = delay.as_millis() as u64, "transient failure, will retry");
    Action::requeue(delay)
}

fn space_api(ctx: &Context) -> Api<AssociationSpace> {
    Api::all(ctx.client.clone())
}

fn has_finalizer(space: &AssociationSpace) -> bool {
    space.finalizers().iter().any(|f| f == FINALIZER)
}

/// The finalizer is applied with the operator's field manager: only this list entry is owned, so a
/// GitOps tool that applies the space never removes it, and no other finalizer is touched.
async fn set_finalizer(space: &AssociationSpace, ctx: &Context, present: bool) -> Result<()> {
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { vec![] };
    let patch = json!({
        "apiVersion": "frama.space/v1alpha1",
        "kind": "AssociationSpace",
        "metadata": { "name": space.name_any(), "finalizers": finalizers }
    });
    let written = space_api(ctx).patch(&space.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    note_write(ctx, space, written);
    Ok(())
}

/// Tells the space's watch that this version is the operator's own write (see `triggers`), and
/// the next reconcile that it is newer than what the cache may still show (see `latest`).
fn note_write(ctx: &Context, base: &AssociationSpace, written: AssociationSpace) {
    let name = written.name_any();
    let key = super::apply::ObjectKey { kind: "AssociationSpace", namespace: None, name: &name };
    ctx.applier.note_write(&key, written.metadata.resource_version.as_deref());
    ctx.latest.wrote(base, written);
}

/// Writes the status when it differs from the stored one; at most one status write per reconcile.
/// Returns whether it wrote.
async fn write_status(space: &AssociationSpace, ctx: &Context, status: AssociationSpaceStatus) -> Result<bool> {
    let previous = space.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(false);
    }
    announce(space, ctx, &previous, &status).await;
    let patch = json!({ "apiVersion": "frama.space/v1alpha1", "kind": "AssociationSpace", "status": status });
    let written = space_api(ctx).patch_status(&space.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    note_write(ctx, space, written);
    Ok(true)
}

/// An Event when the Ready condition changes, for `kubectl describe` and `kubectl get events`.
async fn announce(space: &AssociationSpace, ctx: &Context, previous: &AssociationSpaceStatus, status: &AssociationSpaceStatus) {
    let before = conditions::find(&previous.conditions, space_status::READY);
    let Some(after) = conditions::find(&status.conditions, space_status::READY) else { return };
    if before.is_some_and(|b| b.status == after.status && b.reason == after.reason) {
        return;
    }
    let type_ = match (after.status, status.phase) {
        (ConditionStatus::True, _) | (_, Some(SpacePhase::Provisioning | SpacePhase::Suspended | SpacePhase::Deleting)) => {
            EventType::Normal
        }
        _ => EventType::Warning,
    };
    publish(space, ctx, type_, &after.reason, &after.message, "Reconcile").await;
}

pub(super) async fn publish(space: &AssociationSpace, ctx: &Context, type_: EventType, reason: &str, note: &str, action: &str) {
    let event = Event { type_, reason: reason.to_string(), note: Some(note.to_string()), action: action.into(), secondary: None };
    if let Err(e) = ctx.recorder.publish(&event, &space.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

fn observe_workload(ctx: &Context, namespace: &str) -> WorkloadObservation {
    ctx.children.deployments.get_with_content(Some(namespace), names::NEXTCLOUD).map(|(_, w)| w).unwrap_or_default()
}

async fn converge(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    let classes = ctx.classes.state();
    let resolved = resolve::choose_class(space, &classes).and_then(|class| resolve::resolve(space, class));
    let previous = space.status.clone().unwrap_or_default();
    let generation = space.metadata.generation;
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            // Nothing that runs is touched: an invalid spec or a missing class only shows in status.
            let o = Observation {
                generation,
                backing: Vec::new(),
                deleting: false,
                resolved: Err(&e),
                workload: WorkloadObservation::default(),
                ingress_exists: false,
                failure: None,
                office: None,
                previous: &previous,
            };
            write_status(space, ctx, space_status::compute(&o, &now_rfc3339())).await?;
            return Err(e.into());
        }
    };

    if !has_finalizer(space) {
        set_finalizer(space, ctx, true).await?;
    }
    let ns_meta = ctx.children.namespaces.get_meta(None, &resolved.namespace);
    let recorded = backing::recorded(space, ns_meta.as_ref());
    let complete = recorded.database_pool.is_some() && recorded.cache_pool.is_some() && recorded.storage_pool.is_some();
    // Only a space that is not fully placed looks for data a former space of its name retained.
    let retained = if complete { None } else { backing::retained_placement(ctx, &resolved.name).await? };
    let had_retained = retained.is_some();
    let (placement, placement_errors) = backing::place(ctx, &resolved, recorded, retained).await;
    let bindings = backing::bindings(ctx, &resolved, &placement);

    let mut writes = Writes::default();
    let mut provisioned = None;
    let mut outcome = apply_namespace(&resolved, ctx, &placement, &mut writes).await.map_err(|e| (WORKLOAD_READY, e));
    if outcome.is_ok() {
        backing::settled(ctx, &resolved.name).await;
        if had_retained {
            // The namespace now records the placement: the ledger entry has done its job.
            backing::record_retained(ctx, &resolved.name, None).await?;
        }
        outcome = match ensure_credentials(&resolved, ctx, &placement, &bindings).await {
            Ok((applied, creds)) => {
                writes.add(applied);
                let pool_errors: Vec<_> = placement_errors.iter().filter(|e| !backing::is_backend_error(e)).cloned().collect();
                let p = backing::provision(ctx, &resolved, &placement, &pool_errors, &creds).await;
                writes.count += p.writes as usize;
                provisioned = Some(p);
                Ok(())
            }
            Err(e) => Err((WORKLOAD_READY, e)),
        };
    }
    if outcome.is_ok() {
        outcome = apply_workload(&resolved, ctx, &bindings, &mut writes).await.map_err(|e| (WORKLOAD_READY, e));
    }
    if outcome.is_ok() {
        outcome = apply_exposure(&resolved, ctx, &bindings, &mut writes).await.map_err(|e| (INGRESS_READY, e));
    }
    let mut office = None;
    if outcome.is_ok() {
        match office::wire(space, &resolved, ctx, &bindings, &placement_errors, &previous).await {
            Ok((condition, w)) => {
                writes.count += w;
                office = Some(condition);
            }
            Err(e) => outcome = Err((OFFICE_READY, e)),
        }
    }

    let failure =
        outcome.as_ref().err().map(|(condition, e)| StepFailure { condition, reason: e.reason().to_string(), message: e.to_string() });
    let ingress_exists = writes.ingress_applied || ctx.children.ingresses.get_meta(Some(&resolved.namespace), names::NEXTCLOUD).is_some();
    let (backing_conditions, provision_failure) = match provisioned {
        Some(p) => (p.conditions, p.failure),
        None => (previous.conditions.iter().filter(|c| is_backing(&c.type_)).cloned().collect(), None),
    };
    let o = Observation {
        generation,
        backing: backing_conditions,
        deleting: false,
        resolved: Ok(&resolved),
        workload: observe_workload(ctx, &resolved.namespace),
        ingress_exists,
        failure,
        office,
        previous: &previous,
    };
    let mut status = space_status::compute(&o, &now_rfc3339());
    status.placement = Some(placement).filter(|p| *p != Placement::default());
    let status_written = write_status(space, ctx, status).await?;
    if writes.count > 0 {
        info!(writes = writes.count, "applied");
    }
    debug!(space = %space.name_any(), writes = writes.count, status_written, "reconciled");
    match (outcome, provision_failure) {
        (Err((_, e)), _) | (Ok(()), Some(e)) => Err(e),
        (Ok(()), None) => Ok(Action::requeue(ctx.resync_delay())),
    }
}

fn is_backing(type_: &str) -> bool {
    [space_status::PLACED, space_status::DATABASE_READY, space_status::CACHE_READY, space_status::STORAGE_READY].contains(&type_)
}

#[derive(Default)]
struct Writes {
    count: usize,
    ingress_applied: bool,
}

impl Writes {
    fn add(&mut self, applied: Applied) {
        if applied == Applied::Written {
            self.count += 1;
        }
    }
}

async fn apply_namespace(space: &ResolvedSpace, ctx: &Context, placement: &Placement, writes: &mut Writes) -> Result<()> {
    let ns = space.namespace.as_str();
    let ns_meta = ctx.children.namespaces.get_meta(None, ns);
    if ns_meta.as_ref().is_some_and(|m| m.deletion_timestamp.is_some()) {
        // A space re-created under the name of one being deleted waits for the old namespace.
        return Err(Error::StillTerminating(format!("namespace {ns}")));
    }
    let desired = objects::namespace(space, backing::annotations(placement));
    writes.add(ctx.applier.apply(&Api::all(ctx.client.clone()), desired, ns_meta.as_ref(), ChangeSignal::ResourceVersion).await?);
    if let Some(access) = &ctx.secret_access {
        let live = ctx.children.role_bindings.get_meta(Some(ns), names::OPERATOR_ACCESS);
        let desired = objects::operator_access(space, access);
        writes.add(ctx.applier.apply(&ns_api(ctx, ns), desired, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    }
    Ok(())
}

/// Reads the space's credentials Secret. Right after its RoleBinding is created the API server's
/// authorizer may not know it yet for a moment: a refusal is retried briefly before it counts.
async fn read_credentials(ctx: &Context, ns: &str) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut attempts = 0;
    loop {
        match api.get_opt(names::CREDENTIALS_SECRET).await {
            Err(kube::Error::Api(s)) if s.code == 403 && ctx.secret_access.is_some() && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return Ok(other?),
        }
    }
}

async fn apply_workload(space: &ResolvedSpace, ctx: &Context, bindings: &Bindings, writes: &mut Writes) -> Result<()> {
    let c = &ctx.children;
    let ns = space.namespace.as_str();
    let files = crate::render::config::render(space, bindings);
    let live = c.config_maps.get_meta(Some(ns), names::CONFIG_MAP);
    writes.add(
        ctx.applier
            .apply(&ns_api(ctx, ns), objects::config_map(space, files.clone()), live.as_ref(), ChangeSignal::ResourceVersion)
            .await?,
    );
    let live = c.deployments.get(Some(ns), names::NEXTCLOUD);
    writes.add(
        ctx.applier.apply(&ns_api(ctx, ns), objects::deployment(space, bindings, &files), live.as_ref(), ChangeSignal::Generation).await?,
    );
    // A ResourceQuota's usage changes with every pod and its spec bumps no generation: what
    // the operator owns of it is compared by content.
    let live = c.resource_quotas.get_with_content(Some(ns), names::RESOURCE_QUOTA);
    let live = live.as_ref().map(|(meta, digest)| (meta, *digest));
    writes.add(ctx.applier.apply_content(&ns_api(ctx, ns), objects::resource_quota(space), live, triggers::resource_quota_digest).await?);
    let live = c.limit_ranges.get_meta(Some(ns), names::LIMIT_RANGE);
    writes.add(ctx.applier.apply(&ns_api(ctx, ns), objects::limit_range(space), live.as_ref(), ChangeSignal::ResourceVersion).await?);
    Ok(())
}

async fn apply_exposure(space: &ResolvedSpace, ctx: &Context, bindings: &Bindings, writes: &mut Writes) -> Result<()> {
    let c = &ctx.children;
    let ns = space.namespace.as_str();
    let live = c.services.get_meta(Some(ns), names::NEXTCLOUD);
    writes.add(ctx.applier.apply(&ns_api(ctx, ns), objects::service(space), live.as_ref(), ChangeSignal::ResourceVersion).await?);
    let live = c.ingresses.get_meta(Some(ns), names::NEXTCLOUD);
    let applied = ctx.applier.apply(&ns_api(ctx, ns), objects::ingress(space), live.as_ref(), ChangeSignal::Generation).await?;
    writes.ingress_applied = applied == Applied::Written;
    writes.add(applied);
    let live = c.network_policies.get_meta(Some(ns), names::NEXTCLOUD);
    writes
        .add(ctx.applier.apply(&ns_api(ctx, ns), objects::network_policy(space, bindings), live.as_ref(), ChangeSignal::Generation).await?);
    Ok(())
}

fn ns_api<K>(ctx: &Context, ns: &str) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    Api::namespaced(ctx.client.clone(), ns)
}

fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

/// The credentials of the space, read from the API server at each reconcile (one GET, never a
/// write when nothing changed). An existing Secret is the source of truth: it is completed with
/// what is missing, never regenerated, and applied only when it is not what the operator last wrote.
async fn ensure_credentials(
    space: &ResolvedSpace,
    ctx: &Context,
    placement: &Placement,
    bindings: &Bindings,
) -> Result<(Applied, BTreeMap<String, Vec<u8>>)> {
    let ns = space.namespace.as_str();
    let current = read_credentials(ctx, ns).await?;
    let storage = backing::storage_provider(ctx, placement);
    let existing = current.as_ref().map(secret_data).unwrap_or_default();
    // The OnlyOffice JWT is the backend's, copied while the space uses that backend, removed after.
    let jwt = bindings
        .office
        .as_ref()
        .filter(|o| o.suite == crate::api::space::OfficeSuite::Onlyoffice)
        .and_then(|o| super::backends::office_jwt(ctx, &o.backend));
    if let Some(s) = &current
        && ctx.applier.untouched_since_applied::<Secret>(&s.metadata, ChangeSignal::ResourceVersion)
        // Still complete for the current placement (a StoragePool may have been assigned since).
        && credentials::is_complete(&existing, storage)
        && existing.get(credentials::ONLYOFFICE_JWT) == jwt.as_ref()
    {
        return Ok((Applied::Unchanged, existing));
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut data = credentials::complete(&existing, storage, &mut OsRandom)?;
    match jwt {
        Some(jwt) => data.insert(credentials::ONLYOFFICE_JWT.to_string(), jwt),
        None => data.remove(credentials::ONLYOFFICE_JWT),
    };
    let live = current.map(|s| s.metadata);
    let applied =
        ctx.applier.apply(&api, objects::credentials_secret(space, data.clone()), live.as_ref(), ChangeSignal::ResourceVersion).await?;
    Ok((applied, data))
}

/// Deletion: the space's data is released according to its policy while its namespace and
/// credentials exist, then the finalizer goes and Kubernetes' garbage collector deletes the
/// namespace the space owns. The operator needs no right to delete namespaces, so it can never
/// delete one that is not a space's.
async fn finalize(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    if !has_finalizer(space) {
        return Ok(Action::await_change());
    }
    let name = space.name_any();
    let ns = names::namespace(&name);
    // Also while the namespace terminates (a foreground deletion collects it before the space).
    if let Some(meta) = ctx.children.namespaces.get_meta(None, &ns) {
        release(space, ctx, &ns, &meta).await?;
    }
    ctx.applier.forget_namespace(&ns);
    set_finalizer(space, ctx, false).await?;
    ctx.latest.forget(&name);
    info!(namespace = %ns, "space deleted; its namespace is collected");
    Ok(Action::await_change())
}

/// Applies the deletion policy to the space's data and says so in its status.
async fn release(space: &AssociationSpace, ctx: &Context, ns: &str, ns_meta: &kube::core::ObjectMeta) -> Result<()> {
    let name = space.name_any();
    let placement = backing::recorded(space, Some(ns_meta));
    let creds = read_credentials(ctx, ns).await?.map(|s| secret_data(&s)).unwrap_or_default();
    let quota = space.status.as_ref().and_then(|s| s.quota.as_deref()).and_then(|q| crate::api::quantity::parse_bytes(q).ok()).unwrap_or(0);
    let policy = space.spec.deletion_policy;
    let released = backing::release(ctx, &name, policy, &placement, &creds, quota).await;
    if released.is_ok() {
        let keep = (policy == crate::api::space::DeletionPolicy::Retain && placement != Placement::default()).then_some(&placement);
        backing::record_retained(ctx, &name, keep).await?;
    }

    let previous = space.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    status.phase = Some(SpacePhase::Deleting);
    let ready = match &released {
        Ok(_) => conditions::Condition::new(
            space_status::READY,
            ConditionStatus::False,
            "Deleting",
            format!("{policy:?} policy applied; namespace {ns} is deleted with the space"),
        ),
        Err(e) => {
            conditions::Condition::new(space_status::READY, ConditionStatus::False, e.reason(), format!("releasing the space's data: {e}"))
        }
    };
    let mut fresh: Vec<_> = previous.conditions.iter().filter(|c| c.type_ != space_status::READY).cloned().collect();
    fresh.insert(0, ready);
    status.conditions = conditions::merge_conditions(&previous.conditions, fresh, space.metadata.generation, &now_rfc3339());
    write_status(space, ctx, status).await?;
    let (_, skipped) = released?;
    for pool in skipped {
        publish(
            space,
            ctx,
            EventType::Warning,
            "PoolMissing",
            &format!("{pool} no longer exists: its share of the space was left as it is"),
            "Reconcile",
        )
        .await;
    }
    Ok(())
}
