//! The composition root: the client, the lease and the write gate, one watch per kind shared by
//! every controller that reads it, every controller started here, and one stop for all of them
//! (SIGTERM or the loss of the lease).
//!
//! Watches (each kind once):
//! - the operator's own kinds: AssociationSpace (the space controller), SpaceClass (spaces, class
//!   status), the three pools (spaces, pool status), OfficeBackend, PreviewBackend and TalkBackend (spaces'
//!   placement, backend controllers);
//! - the objects the operator creates, by their managed-by label, metadata only where the spec is
//!   not read: Namespace, RoleBinding, ConfigMap, Deployment (spaces and backends), Service,
//!   Ingress, NetworkPolicy, ResourceQuota, LimitRange, Job;
//! - the Secrets of the operator's namespace (the pools' admin credentials, the backends' JWTs);
//! - the Lease, by the leader, to keep its write gate open (see `crate::gate`).

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

use super::backends::{self, BackendStores};
use super::caches::{self, OwnedCaches};
use super::fanout::Fanout;
use super::pools::{self, PoolRegistry};
use super::space::{self, conditions::workload_fingerprint, triggers};
use super::{Config, apply::ApplyTracker, class, leader, news};
use crate::api::labels::{BACKEND_LABEL, CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, FIELD_MANAGER, STORAGE_POOL_ANNOTATION};
use crate::api::space::SpacePhase;
use crate::api::{
    AssociationSpace, CachePool, DatabasePool, OfficeBackend, PreviewBackend, SpaceClass, SpaceRestore, StoragePool, TalkBackend,
};
use crate::error::{Error, Result};
use crate::gate::WriteGate;
use crate::telemetry::metrics::Metrics;
use kube::runtime::reflector::ObjectRef;

/// Runs every controller until a termination signal, or, with leader election, while this process
/// holds the lease. Losing the lease is an error: the process exits and comes back as a standby.
pub async fn run(config: Config) -> Result<()> {
    let mut kube_config = kube::Config::infer().await?;
    // Named in the API server's audit log and metrics, so its writes can be told from others'.
    let identity = config.leader_election.as_ref().map(|e| e.identity.as_str());
    kube_config.headers.push((http::header::USER_AGENT, super::user_agent(identity)));
    // 429 (priority and fairness), 503 and 504 are retried with backoff by the client itself.
    kube_config.default_retry = true;
    let client = Client::try_from(kube_config)?;
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_string(),
        instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
    };
    info!(concurrency = config.concurrency, resync_s = config.resync.as_secs(), "starting framaspace-operator");
    let metrics = Arc::new(Metrics::new());
    let (leading_tx, leading) = watch::channel(false);
    let (filled_tx, filled) = watch::channel(false);
    let probes = crate::telemetry::server::Probes { metrics: metrics.clone(), leading, caches_ready: filled.clone() };
    // Bound before anything else so a port in use stops the process instead of running it blind.
    let listener = tokio::net::TcpListener::bind(config.metrics_address).await.map_err(Error::MetricsEndpoint)?;
    let server = tokio::spawn(async move {
        if let Err(e) = crate::telemetry::server::serve(listener, probes).await {
            warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    let (stop, stopping) = watch::channel(false);
    let shared = Shared { client, reporter, metrics: metrics.clone(), filled_tx, filled, stopping };
    let result = match config.leader_election.clone() {
        None => {
            let _ = leading_tx.send(true);
            metrics.set_leader(true);
            let signal = tokio::spawn(async move {
                termination_signal().await;
                let _ = stop.send(true);
            });
            let result = run_controllers(shared, config, WriteGate::always_open()).await;
            signal.abort();
            result
        }
        Some(election) => lead_then_run(shared, config, election, leading_tx, stop).await,
    };
    server.abort();
    result
}

/// What the controllers share beyond their configuration.
struct Shared {
    client: Client,
    reporter: Reporter,
    metrics: Arc<Metrics>,
    /// Opened once every cache holds its initial list.
    filled_tx: watch::Sender<bool>,
    filled: watch::Receiver<bool>,
    /// Becomes true when everything must stop.
    stopping: watch::Receiver<bool>,
}

async fn lead_then_run(
    shared: Shared,
    config: Config,
    election: leader::LeaderElection,
    leading: watch::Sender<bool>,
    stop: watch::Sender<bool>,
) -> Result<()> {
    let Some(mut leadership) = leader::acquire(shared.client.clone(), &election, termination_signal()).await? else {
        info!("stopped before becoming the leader");
        return Ok(());
    };
    let gate = WriteGate::leased(election.write_validity());
    gate.confirm(std::time::Instant::now());
    let renewals = tokio::spawn(leader::confirm_renewals(shared.client.clone(), election.clone(), gate.clone()));
    let _ = leading.send(true);
    shared.metrics.set_leader(true);
    let watchdog_gate = gate.clone();
    let watchdog = tokio::spawn(async move {
        let lost = tokio::select! {
            _ = termination_signal() => None,
            reason = leadership.lost() => Some(reason),
        };
        if lost.is_some() {
            // Nothing more is written from now on, even by the reconciles still in flight.
            watchdog_gate.close();
        }
        let _ = stop.send(true);
        (leadership, lost)
    });
    let result = run_controllers(shared, config, gate.clone()).await;
    let (leadership, lost) = watchdog.await.map_err(|e| Error::LeadershipLost(format!("the lease watchdog ended: {e}")))?;
    renewals.abort();
    gate.close();
    if let Some(reason) = lost {
        return Err(Error::LeadershipLost(reason));
    }
    if let Err(e) = leadership.release().await {
        warn!(error = %e, "the lease could not be released; the standby takes over when it expires");
    }
    result
}

/// SIGINT or SIGTERM.
pub async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    crate::telemetry::heap_profile::finish();
}

/// Completes when `stopping` turns true (or its sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// A metadata-only watch of an owned kind, and the events of it that are news for a space.
fn owned_news<K>(
    client: &Client,
    applier: &Arc<ApplyTracker>,
) -> (caches::OwnedCache<K>, impl futures::Stream<Item = std::result::Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, events) = caches::compact_meta_watch::<K>(client);
    (store, news::news(events, applier.clone(), None))
}

/// Whether the API server serves Gateway API's HTTPRoute (gateway.networking.k8s.io/v1), looked up
/// once at start (cert-manager, too, wants the Gateway API CRDs before it starts with its Gateway
/// support on: its 1.15 upgrade notes). A group the server does not know is a 404.
async fn gateway_api_served(client: &Client) -> Result<bool> {
    match client.list_api_group_resources("gateway.networking.k8s.io/v1").await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == "httproutes")),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn run_controllers(shared: Shared, config: Config, gate: WriteGate) -> Result<()> {
    let Shared { client, reporter, metrics, filled_tx, filled, stopping } = shared;
    let refusals = metrics.clone();
    gate.observe_refusals(move |system| refusals.write_refused(system));
    let secret_access = super::secret_access(&client, config.secret_access_role.as_deref()).await?;
    // Echoes of the operator's own writes are dropped from every trigger stream (see `news`).
    let applier = Arc::new(ApplyTracker::new(gate.clone()));

    // The operator's own kinds, each watched once and handed to every controller that reads it.
    let (classes, class_events) = caches::full_watch_events::<SpaceClass>(&client);
    let mut class_fanout = Fanout::new("SpaceClass", class_events);
    let (databases, db_events) = caches::full_watch_events::<DatabasePool>(&client);
    let mut db_fanout = Fanout::new("DatabasePool", db_events);
    let (cache_pools, cache_events) = caches::full_watch_events::<CachePool>(&client);
    let mut cache_fanout = Fanout::new("CachePool", cache_events);
    let (storages, storage_events) = caches::full_watch_events::<StoragePool>(&client);
    let mut storage_fanout = Fanout::new("StoragePool", storage_events);
    let (offices, office_events) = caches::full_watch_events::<OfficeBackend>(&client);
    let mut office_fanout = Fanout::new("OfficeBackend", office_events);
    let (previews, preview_events) = caches::full_watch_events::<PreviewBackend>(&client);
    let mut preview_fanout = Fanout::new("PreviewBackend", preview_events);
    let (talks, talk_events) = caches::full_watch_events::<TalkBackend>(&client);
    let mut talk_fanout = Fanout::new("TalkBackend", talk_events);
    let (restores, restore_events) = caches::full_watch_events::<SpaceRestore>(&client);
    let mut restore_fanout = Fanout::new("SpaceRestore", restore_events);
    let (admin_secrets, w) = reflector::store::<Secret>();
    let admin_secret_watch = watcher(Api::<Secret>::namespaced(client.clone(), &config.namespace), watcher::Config::default())
        .default_backoff()
        .reflect(w)
        .applied_objects();
    let registry = Arc::new(PoolRegistry::new(config.namespace.clone(), databases, cache_pools, storages, admin_secrets, gate.clone()));

    // The objects the operator creates.
    let (namespaces, ns_events) = caches::meta_watch::<Namespace>(&client);
    // The backends count their spaces from the namespaces' annotations, which the operator writes.
    let (assignment_feed, assignments) = backends::AssignmentFeed::new();
    let ns_events = ns_events.inspect(move |e| {
        if let Ok(e) = e {
            assignment_feed.observe(e);
        }
    });
    let ns_stream = news::news(ns_events, applier.clone(), None);
    let (role_bindings, rb_stream) = owned_news::<RoleBinding>(&client, &applier);
    let (config_maps, cm_stream) = owned_news::<ConfigMap>(&client, &applier);
    let (deployments, deploy_events) = caches::deployment_watch(&client);
    let mut deploy_fanout = Fanout::new("Deployment", deploy_events);
    let operator_namespace = config.namespace.clone();
    let of_backends = move |d: &k8s_openapi::api::apps::v1::Deployment| {
        d.namespace().as_deref() == Some(operator_namespace.as_str()) && d.labels().contains_key(BACKEND_LABEL)
    };
    let office_deployments = deploy_fanout.subscribe_filtered(of_backends.clone());
    let preview_deployments = deploy_fanout.subscribe_filtered(of_backends.clone());
    let talk_deployments = deploy_fanout.subscribe_filtered(of_backends);
    let deploy_stream = news::news(deploy_fanout.subscribe(), applier.clone(), Some(workload_fingerprint));
    let (services, svc_stream) = owned_news::<Service>(&client, &applier);
    let (ingresses, ing_stream) = owned_news::<Ingress>(&client, &applier);
    let (network_policies, np_stream) = owned_news::<NetworkPolicy>(&client, &applier);
    let (resource_quotas, rq_events) = caches::resource_quota_watch(&client);
    let rq_stream = news::news(rq_events, applier.clone(), Some(news::resource_quota_fingerprint));
    let (limit_ranges, lr_stream) = owned_news::<LimitRange>(&client, &applier);
    // Gateway API is optional: its HTTPRoutes are watched only where the cluster serves them.
    let (routes, route_stream) = if gateway_api_served(&client).await? {
        let (routes, events) = caches::route_watch(&client);
        (Some(routes), news::news(events, applier.clone(), None).boxed())
    } else {
        info!("the cluster serves no gateway.networking.k8s.io/v1 HTTPRoute: classes with spec.ingress.gateway wait for it");
        (None, futures::stream::pending().boxed())
    };
    let (jobs, job_events) = caches::job_watch(&client);
    let job_stream = news::news(job_events, applier.clone(), None);
    let class_jobs = jobs.clone();
    let owned = OwnedCaches {
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
        routes,
    };
    let backend_stores = BackendStores { offices, previews, talks };

    // A class's or a pool's status changes with every space placed (its counts): that is no news
    // for the spaces, which would all be reconciled again each time.
    let class_stream = news::news(class_fanout.subscribe(), applier.clone(), Some(news::class_fingerprint));
    let db_stream = news::news(db_fanout.subscribe(), applier.clone(), Some(news::pool_fingerprint::<DatabasePool>));
    let cache_stream = news::news(cache_fanout.subscribe(), applier.clone(), Some(news::pool_fingerprint::<CachePool>));
    let storage_stream = news::news(storage_fanout.subscribe(), applier.clone(), Some(news::pool_fingerprint::<StoragePool>));
    let talk_stream = news::news(talk_fanout.subscribe(), applier.clone(), Some(news::talk_backend_fingerprint));
    // A restore reconciles the space it names (its status is the operator's own echo).
    let restore_stream = news::news(restore_fanout.subscribe(), applier.clone(), None);

    let shared_kinds = vec![
        class_fanout.filled(),
        db_fanout.filled(),
        cache_fanout.filled(),
        storage_fanout.filled(),
        office_fanout.filled(),
        preview_fanout.filled(),
        talk_fanout.filled(),
        restore_fanout.filled(),
    ];
    let fill = tokio::spawn(caches_ready(shared_kinds, registry.clone(), owned.clone(), filled_tx));
    let (spaces, space_writer) = reflector::store();
    let ctx = super::new_context(
        client.clone(),
        reporter,
        config.clone(),
        super::Caches {
            classes: classes.clone(),
            owned,
            pools: registry.clone(),
            ready: filled.clone(),
            secret_access,
            backends: backend_stores,
            applier: applier.clone(),
            spaces: spaces.clone(),
            restores,
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
                    ctx.own_writes.caught_up(s);
                }
            }
        });

    // A space whose turn to upgrade came (its wave started, a slot on its pool freed).
    let (turn_tx, turn_rx) = futures::channel::mpsc::unbounded::<ObjectRef<AssociationSpace>>();
    ctx.rollouts.connect(turn_tx);
    // A space whose Redis user its server lost: forget that it was verified, and reconcile it.
    let (lost_tx, lost_rx) = futures::channel::mpsc::unbounded::<PartialObjectMeta<Namespace>>();
    let lost: pools::LostTenant = {
        let ctx = ctx.clone();
        Arc::new(move |space: &str, ns: &PartialObjectMeta<Namespace>| {
            ctx.forget_verified(space);
            // Only fails once the space controller is gone (shutting down).
            let _ = lost_tx.unbounded_send(ns.clone());
        })
    };
    let pool_args = pools::PoolControllerArgs {
        client: client.clone(),
        registry: registry.clone(),
        namespaces: ctx.owned.namespaces.clone(),
        interval: config.pool_check,
        ready: filled.clone(),
        metrics: metrics.clone(),
        gate: gate.clone(),
        lost,
        recorder: ctx.recorder.clone(),
    };
    let stop = || -> super::Stop { Box::pin(stopped(stopping.clone())) };
    let controllers = vec![
        tokio::spawn(class::run(class::ClassArgs {
            rollouts: ctx.rollouts.clone(),
            metrics: metrics.clone(),
            client: client.clone(),
            gate: gate.clone(),
            spaces: spaces.clone(),
            classes: classes.clone(),
            events: class_fanout.subscribe(),
            jobs: class_jobs,
            namespace: config.namespace.clone(),
            pools: registry.clone(),
            stop: stop(),
        })),
        tokio::spawn(super::restore_test::run(ctx.clone(), stop())),
        tokio::spawn(pools::run_pool_controller(pool_args.clone(), registry.databases.clone(), db_fanout.subscribe(), stop())),
        tokio::spawn(pools::run_pool_controller(pool_args.clone(), registry.caches.clone(), cache_fanout.subscribe(), stop())),
        tokio::spawn(pools::run_pool_controller(pool_args, registry.storages.clone(), storage_fanout.subscribe(), stop())),
        tokio::spawn(backends::run::<OfficeBackend>(backends::BackendArgs {
            ctx: ctx.clone(),
            backends: ctx.backends.offices.clone(),
            events: office_fanout.subscribe(),
            deployments: office_deployments,
            assignments: assignments.office,
            stop: stop(),
        })),
        tokio::spawn(backends::run::<PreviewBackend>(backends::BackendArgs {
            ctx: ctx.clone(),
            backends: ctx.backends.previews.clone(),
            events: preview_fanout.subscribe(),
            deployments: preview_deployments,
            assignments: assignments.preview,
            stop: stop(),
        })),
        tokio::spawn(backends::run::<TalkBackend>(backends::BackendArgs {
            ctx: ctx.clone(),
            backends: ctx.backends.talks.clone(),
            events: talk_fanout.subscribe(),
            deployments: talk_deployments,
            assignments: assignments.talk,
            stop: stop(),
        })),
    ];
    // The shared watches run as long as one of their subscribers does.
    let background = [
        fill,
        tokio::spawn(class_fanout.run()),
        tokio::spawn(db_fanout.run()),
        tokio::spawn(cache_fanout.run()),
        tokio::spawn(storage_fanout.run()),
        tokio::spawn(office_fanout.run()),
        tokio::spawn(preview_fanout.run()),
        tokio::spawn(talk_fanout.run()),
        tokio::spawn(restore_fanout.run()),
        tokio::spawn(deploy_fanout.run()),
        // The admin Secrets only need to be cached; a rotation is picked up at the next use.
        tokio::spawn(admin_secret_watch.for_each(|_| async {})),
        tokio::spawn(count_phases(spaces.clone(), metrics.clone())),
    ];

    let controller_config = ControllerConfig::default().concurrency(config.concurrency).debounce(Duration::from_millis(200));
    let ns_store = ctx.owned.namespaces.clone();
    let (s1, s2, s3, s4, s5) = (spaces.clone(), spaces.clone(), spaces.clone(), spaces.clone(), spaces.clone());
    let (n1, n2, n3, n4) = (ns_store.clone(), ns_store.clone(), ns_store.clone(), ns_store);
    Controller::for_stream(news::news(space_events, applier, None), spaces.clone())
        .with_config(controller_config)
        .watches_stream(class_stream, move |class| triggers::spaces_of_class(&s1, &class))
        .watches_stream(db_stream, move |p| triggers::spaces_of_pool(&s2, &n1, DATABASE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(cache_stream, move |p| triggers::spaces_of_pool(&s3, &n2, CACHE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(storage_stream, move |p| triggers::spaces_of_pool(&s4, &n3, STORAGE_POOL_ANNOTATION, &p.name_any()))
        .watches_stream(talk_stream, move |b| triggers::spaces_of_talk_backend(&s5, &n4, &b.name_any()))
        .watches_stream(ns_stream, triggers::owned_by(&spaces))
        .watches_stream(rb_stream, triggers::owned_by(&spaces))
        .watches_stream(cm_stream, triggers::owned_by(&spaces))
        .watches_stream(deploy_stream, triggers::owned_by(&spaces))
        .watches_stream(svc_stream, triggers::owned_by(&spaces))
        .watches_stream(ing_stream, triggers::owned_by(&spaces))
        .watches_stream(np_stream, triggers::owned_by(&spaces))
        .watches_stream(route_stream, triggers::owned_by(&spaces))
        .watches_stream(rq_stream, triggers::owned_by(&spaces))
        .watches_stream(lr_stream, triggers::owned_by(&spaces))
        .watches_stream(job_stream, triggers::owned_by(&spaces))
        .watches_stream(lost_rx.map(Ok), triggers::owned_by(&spaces))
        .watches_stream(restore_stream, |r: SpaceRestore| {
            let clone = r.spec.clone_target().map(ObjectRef::<AssociationSpace>::new);
            std::iter::once(ObjectRef::new(&r.spec.space)).chain(clone)
        })
        .reconcile_on(turn_rx)
        .graceful_shutdown_on(stopped(stopping.clone()))
        .run(space::reconcile, space::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "reconcile failed");
            }
        })
        .await;
    // Every controller shuts down on the same signal, finishing the reconciles in flight.
    for controller in controllers {
        if let Err(e) = controller.await {
            warn!(error = %e, "a controller task ended abnormally");
        }
    }
    for task in background {
        task.abort();
    }
    Ok(())
}

/// Opens the gate once every cache holds its initial list. kube's `Store::wait_until_ready` wakes
/// only the last task that polled it, and the kinds' own controllers wait on their stores: the
/// shared kinds are awaited through their watch (`Fanout::filled`), the caches only the space
/// controller reads here, one waiter each, and every reconciler waits on the gate instead (a
/// `watch` channel wakes all of its waiters).
pub async fn caches_ready(
    shared_kinds: Vec<watch::Receiver<bool>>,
    pools: Arc<PoolRegistry>,
    owned: OwnedCaches,
    filled: watch::Sender<bool>,
) {
    for mut kind in shared_kinds {
        let _ = kind.wait_for(|listed| *listed).await;
    }
    pools.wait_until_secrets_ready().await;
    owned.wait_until_ready().await;
    let _ = filled.send(true);
}

/// Keeps the spaces-by-phase gauges current (every phase, zero included, so dashboards show them),
/// and the fleet's usage and adoption counts.
async fn count_phases(spaces: Store<AssociationSpace>, metrics: Arc<Metrics>) {
    loop {
        let all = spaces.state();
        for phase in SpacePhase::ALL {
            let count = all.iter().filter(|s| s.status.as_ref().and_then(|st| st.phase) == Some(phase)).count();
            metrics.set_spaces(phase.as_str(), count as i64);
        }
        metrics.set_usage(&super::usage_census::count(&all, jiff::Timestamp::now().as_second()));
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
