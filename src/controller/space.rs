//! The AssociationSpace controller: from one space to its namespace, credentials, configuration,
//! Nextcloud workload, exposure and limits, then a status that says how far it got.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, debug, info, info_span, warn};

use super::apply::{Applied, ChangeSignal};
use super::children::{self, ChildStores, get_meta};
use super::space_status::{
    self, INGRESS_READY, Observation, StepFailure, WORKLOAD_READY, WorkloadObservation,
};
use super::{Config, Context};
use crate::api::conditions::{self, ConditionStatus, now_rfc3339};
use crate::api::space::{AssociationSpaceStatus, SpacePhase};
use crate::api::{AssociationSpace, SpaceClass};
use crate::error::{Error, Result};
use crate::render::credentials::{self, OsRandom};
use crate::render::names::{self, FIELD_MANAGER, FINALIZER};
use crate::render::objects;
use crate::render::resolve::{self, ResolvedSpace};
use kube::runtime::events::Reporter;

/// Spaces whose reconcile depends on `class`: those naming it, and those naming none (the
/// default class may have changed).
fn spaces_of_class(
    spaces: &Store<AssociationSpace>,
    class: &SpaceClass,
) -> Vec<ObjectRef<AssociationSpace>> {
    let name = class.name_any();
    spaces
        .state()
        .iter()
        .filter(|s| match &s.spec.space_class_name {
            Some(c) => *c == name,
            None => true,
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

pub async fn run(client: Client, reporter: Reporter, config: Config) -> Result<()> {
    let (classes, class_writer) = reflector::store::<SpaceClass>();
    let class_stream = watcher(
        Api::<SpaceClass>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|c| c.managed_fields_mut().clear())
    .reflect(class_writer)
    .touched_objects();

    let (namespaces, ns_stream) = children::meta_watch::<Namespace>(&client);
    let (secrets, secret_stream) = children::meta_watch::<Secret>(&client);
    let (config_maps, cm_stream) = children::meta_watch(&client);
    let (deployments, deploy_stream) = children::deployment_watch(&client);
    let (services, svc_stream) = children::meta_watch(&client);
    let (ingresses, ing_stream) = children::meta_watch(&client);
    let (network_policies, np_stream) = children::meta_watch(&client);
    let (resource_quotas, rq_stream) = children::meta_watch(&client);
    let (limit_ranges, lr_stream) = children::meta_watch(&client);
    let stores = ChildStores {
        namespaces,
        secrets,
        config_maps,
        deployments,
        services,
        ingresses,
        network_policies,
        resource_quotas,
        limit_ranges,
    };

    let controller_config = ControllerConfig::default()
        .concurrency(config.concurrency)
        .debounce(Duration::from_millis(200));
    let ctx = super::new_context(client.clone(), reporter, config, classes, stores);
    let controller = Controller::new(
        Api::<AssociationSpace>::all(client),
        watcher::Config::default(),
    )
    .with_config(controller_config);
    let spaces = controller.store();
    let class_status = tokio::spawn(super::class::run(ctx.client.clone(), spaces.clone()));
    controller
        .watches_stream(class_stream, move |class| spaces_of_class(&spaces, &class))
        .watches_stream(ns_stream, |o| children::owning_space(&o))
        .watches_stream(secret_stream, |o| children::owning_space(&o))
        .watches_stream(cm_stream, |o| children::owning_space(&o))
        .watches_stream(deploy_stream, |o| children::owning_space(&o))
        .watches_stream(svc_stream, |o| children::owning_space(&o))
        .watches_stream(ing_stream, |o| children::owning_space(&o))
        .watches_stream(np_stream, |o| children::owning_space(&o))
        .watches_stream(rq_stream, |o| children::owning_space(&o))
        .watches_stream(lr_stream, |o| children::owning_space(&o))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "reconcile failed");
            }
        })
        .await;
    class_status.abort();
    Ok(())
}

async fn reconcile(space: Arc<AssociationSpace>, ctx: Arc<Context>) -> Result<Action> {
    let name = space.name_any();
    let span = info_span!("reconcile", space = %name, generation = space.metadata.generation.unwrap_or_default());
    async move {
        if !ctx.children.wait_until_ready(Duration::from_secs(60)).await {
            return Err(Error::StillTerminating(
                "the caches of owned objects (initial sync)".into(),
            ));
        }
        let result = if space.metadata.deletion_timestamp.is_some() {
            finalize(&space, &ctx).await
        } else {
            converge(&space, &ctx).await
        };
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
    space_api(ctx)
        .patch(
            &space.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Writes the status when it differs from the stored one; at most one status write per reconcile.
/// Returns whether it wrote.
async fn write_status(
    space: &AssociationSpace,
    ctx: &Context,
    status: AssociationSpaceStatus,
) -> Result<bool> {
    let previous = space.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(false);
    }
    announce(space, ctx, &previous, &status).await;
    let patch = json!({ "apiVersion": "frama.space/v1alpha1", "kind": "AssociationSpace", "status": status });
    space_api(ctx)
        .patch_status(
            &space.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(true)
}

/// An Event when the Ready condition changes, for `kubectl describe` and `kubectl get events`.
async fn announce(
    space: &AssociationSpace,
    ctx: &Context,
    previous: &AssociationSpaceStatus,
    status: &AssociationSpaceStatus,
) {
    let before = conditions::find(&previous.conditions, space_status::READY);
    let Some(after) = conditions::find(&status.conditions, space_status::READY) else {
        return;
    };
    if before.is_some_and(|b| b.status == after.status && b.reason == after.reason) {
        return;
    }
    let type_ = match (after.status, status.phase) {
        (ConditionStatus::True, _)
        | (_, Some(SpacePhase::Provisioning | SpacePhase::Suspended | SpacePhase::Deleting)) => {
            EventType::Normal
        }
        _ => EventType::Warning,
    };
    let event = Event {
        type_,
        reason: after.reason.clone(),
        note: Some(after.message.clone()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &space.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

fn observe_workload(ctx: &Context, namespace: &str) -> WorkloadObservation {
    let key = ObjectRef::<Deployment>::new(names::NEXTCLOUD).within(namespace);
    let Some(d) = ctx.children.deployments.get(&key) else {
        return WorkloadObservation::default();
    };
    let status = d.status.clone().unwrap_or_default();
    WorkloadObservation {
        exists: true,
        generation: d.metadata.generation.unwrap_or_default(),
        observed_generation: status.observed_generation.unwrap_or_default(),
        replicas: status.replicas.unwrap_or_default(),
        ready_replicas: status.ready_replicas.unwrap_or_default(),
        updated_replicas: status.updated_replicas.unwrap_or_default(),
    }
}

async fn converge(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    let classes = ctx.classes.state();
    let resolved =
        resolve::choose_class(space, &classes).and_then(|class| resolve::resolve(space, class));
    let previous = space.status.clone().unwrap_or_default();
    let generation = space.metadata.generation;
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) => {
            // Nothing that runs is touched: an invalid spec or a missing class only shows in status.
            let o = Observation {
                generation,
                deleting: false,
                resolved: Err(&e),
                workload: WorkloadObservation::default(),
                ingress_exists: false,
                failure: None,
                previous: &previous,
            };
            write_status(space, ctx, space_status::compute(&o, &now_rfc3339())).await?;
            return Err(e.into());
        }
    };

    if !has_finalizer(space) {
        set_finalizer(space, ctx, true).await?;
    }
    let (writes, outcome) = apply_children(&resolved, ctx).await;
    let failure = outcome.as_ref().err().map(|(condition, e)| StepFailure {
        condition,
        reason: e.reason().to_string(),
        message: e.to_string(),
    });
    let ingress_exists = writes.ingress_applied
        || get_meta(
            &ctx.children.ingresses,
            Some(&resolved.namespace),
            names::NEXTCLOUD,
        )
        .is_some();
    let o = Observation {
        generation,
        deleting: false,
        resolved: Ok(&resolved),
        workload: observe_workload(ctx, &resolved.namespace),
        ingress_exists,
        failure,
        previous: &previous,
    };
    let status_written =
        write_status(space, ctx, space_status::compute(&o, &now_rfc3339())).await?;
    if writes.count > 0 {
        info!(writes = writes.count, "applied");
    }
    debug!(space = %space.name_any(), writes = writes.count, status_written, "reconciled");
    match outcome {
        Ok(()) => Ok(Action::requeue(ctx.resync_delay())),
        Err((_, e)) => Err(e),
    }
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

/// Applies every child object, stopping at the first failure; returns the condition it affects.
async fn apply_children(
    space: &ResolvedSpace,
    ctx: &Context,
) -> (Writes, std::result::Result<(), (&'static str, Error)>) {
    let mut writes = Writes::default();
    let result = apply_workload(space, ctx, &mut writes)
        .await
        .map_err(|e| (WORKLOAD_READY, e));
    let result = match result {
        Ok(()) => apply_exposure(space, ctx, &mut writes)
            .await
            .map_err(|e| (INGRESS_READY, e)),
        Err(e) => Err(e),
    };
    (writes, result)
}

async fn apply_workload(space: &ResolvedSpace, ctx: &Context, writes: &mut Writes) -> Result<()> {
    let c = &ctx.children;
    let ns = space.namespace.as_str();
    let client = &ctx.client;
    let ns_meta = get_meta(&c.namespaces, None, ns);
    if ns_meta
        .as_ref()
        .is_some_and(|m| m.deletion_timestamp.is_some())
    {
        // A space re-created under the name of one being deleted waits for the old namespace.
        return Err(Error::StillTerminating(format!("namespace {ns}")));
    }
    writes.add(
        ctx.applier
            .apply(
                &Api::all(client.clone()),
                objects::namespace(space),
                ns_meta.as_ref(),
                ChangeSignal::ResourceVersion,
            )
            .await?,
    );
    writes.add(ensure_credentials(space, ctx).await?);

    let files = crate::render::config::render(space);
    let live = get_meta(&c.config_maps, Some(ns), names::CONFIG_MAP);
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::config_map(space, files.clone()),
                live.as_ref(),
                ChangeSignal::ResourceVersion,
            )
            .await?,
    );
    let live = get_meta_of_deployment(ctx, ns);
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::deployment(space, &files),
                live.as_ref(),
                ChangeSignal::Generation,
            )
            .await?,
    );
    let live = get_meta(&c.resource_quotas, Some(ns), names::RESOURCE_QUOTA);
    // A ResourceQuota's status changes with every pod; its spec bumps no generation, so the
    // resourceVersion is the only signal, at the price of one no-op apply after pod churn.
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::resource_quota(space),
                live.as_ref(),
                ChangeSignal::ResourceVersion,
            )
            .await?,
    );
    let live = get_meta(&c.limit_ranges, Some(ns), names::LIMIT_RANGE);
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::limit_range(space),
                live.as_ref(),
                ChangeSignal::ResourceVersion,
            )
            .await?,
    );
    Ok(())
}

async fn apply_exposure(space: &ResolvedSpace, ctx: &Context, writes: &mut Writes) -> Result<()> {
    let c = &ctx.children;
    let ns = space.namespace.as_str();
    let client = &ctx.client;
    let live = get_meta(&c.services, Some(ns), names::NEXTCLOUD);
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::service(space),
                live.as_ref(),
                ChangeSignal::ResourceVersion,
            )
            .await?,
    );
    let live = get_meta(&c.ingresses, Some(ns), names::NEXTCLOUD);
    let applied = ctx
        .applier
        .apply(
            &Api::namespaced(client.clone(), ns),
            objects::ingress(space),
            live.as_ref(),
            ChangeSignal::Generation,
        )
        .await?;
    writes.ingress_applied = applied == Applied::Written;
    writes.add(applied);
    let live = get_meta(&c.network_policies, Some(ns), names::NEXTCLOUD);
    writes.add(
        ctx.applier
            .apply(
                &Api::namespaced(client.clone(), ns),
                objects::network_policy(space, &[]),
                live.as_ref(),
                ChangeSignal::Generation,
            )
            .await?,
    );
    Ok(())
}

fn get_meta_of_deployment(ctx: &Context, ns: &str) -> Option<kube::core::ObjectMeta> {
    ctx.children
        .deployments
        .get(&ObjectRef::<Deployment>::new(names::NEXTCLOUD).within(ns))
        .map(|d| d.metadata.clone())
}

/// The credentials Secret: read only when the cache shows it changed since the operator wrote it,
/// completed with what is missing, never regenerated.
async fn ensure_credentials(space: &ResolvedSpace, ctx: &Context) -> Result<Applied> {
    let ns = space.namespace.as_str();
    let live = get_meta(&ctx.children.secrets, Some(ns), names::CREDENTIALS_SECRET);
    if live.as_ref().is_some_and(|m| {
        ctx.applier
            .untouched_since_applied::<Secret>(m, ChangeSignal::ResourceVersion)
    }) {
        return Ok(Applied::Unchanged);
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let existing: BTreeMap<String, Vec<u8>> = match live {
        Some(_) => api
            .get_opt(names::CREDENTIALS_SECRET)
            .await?
            .and_then(|s| s.data)
            .map(|d| d.into_iter().map(|(k, v)| (k, v.0)).collect())
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let data = credentials::complete(&existing, &mut OsRandom)?;
    ctx.applier
        .apply(
            &api,
            objects::credentials_secret(space, data),
            live.as_ref(),
            ChangeSignal::ResourceVersion,
        )
        .await
}

/// Deletion: the namespace goes first and the finalizer last, so the space stays visible (phase
/// Deleting) until everything it owned is gone.
async fn finalize(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    if !has_finalizer(space) {
        return Ok(Action::await_change());
    }
    let name = space.name_any();
    let ns = names::namespace(&name);
    let previous = space.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    status.phase = Some(SpacePhase::Deleting);
    let ready = conditions::Condition::new(
        space_status::READY,
        ConditionStatus::False,
        "Deleting",
        format!("deleting namespace {ns}"),
    );
    let mut fresh: Vec<_> = previous
        .conditions
        .iter()
        .filter(|c| c.type_ != space_status::READY)
        .cloned()
        .collect();
    fresh.insert(0, ready);
    status.conditions = conditions::merge_conditions(
        &previous.conditions,
        fresh,
        space.metadata.generation,
        &now_rfc3339(),
    );
    write_status(space, ctx, status).await?;

    match get_meta(&ctx.children.namespaces, None, &ns) {
        Some(meta) => {
            if meta.deletion_timestamp.is_none() {
                let api: Api<Namespace> = Api::all(ctx.client.clone());
                match api.delete(&ns, &DeleteParams::background()).await {
                    Ok(_) => info!(namespace = %ns, "deleting namespace"),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // The namespace watch triggers the next reconcile when it is gone; the requeue is a safety net.
            Ok(Action::requeue(Duration::from_secs(5)))
        }
        None => {
            ctx.applier.forget_namespace(&ns);
            set_finalizer(space, ctx, false).await?;
            info!("space deleted");
            Ok(Action::await_change())
        }
    }
}
