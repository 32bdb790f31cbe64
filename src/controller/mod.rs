//! Controllers and what they share: the client, the caches of owned objects, the apply tracker,
//! the event recorder.

pub mod apply;
pub mod backends;
pub mod backing;
pub mod children;
pub mod class;
pub mod compact;
pub mod latest;
pub mod leader;
pub mod office;
pub mod pools;
pub mod space;
pub mod space_status;
pub mod triggers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client};

use crate::api::SpaceClass;
use crate::error::{Error, Result};
use apply::ApplyTracker;
use children::ChildStores;

pub const USER_AGENT: &str = concat!("framaspace-operator/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Debug)]
pub struct Config {
    pub concurrency: u16,
    pub resync: Duration,
    /// How long a space's external check (database, Redis user, bucket) stays valid with the same inputs.
    pub external_check: Duration,
    /// Namespace of the operator, which holds the pools' admin Secrets.
    pub namespace: String,
    /// Interval between two health checks of a pool.
    pub pool_check: Duration,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_address: std::net::SocketAddr,
    /// `None`: this process reconciles alone, without a lease.
    pub leader_election: Option<leader::LeaderElection>,
    /// The ClusterRole giving access to a namespace's Secrets, bound to the operator in each space
    /// namespace. `None` when the operator's own role already reaches them (an administrator's
    /// kubeconfig in development).
    pub secret_access_role: Option<String>,
}

pub struct Context {
    pub client: Client,
    pub config: Config,
    pub classes: Store<SpaceClass>,
    pub children: ChildStores,
    pub applier: Arc<ApplyTracker>,
    pub recorder: Recorder,
    pub pools: Arc<pools::PoolRegistry>,
    /// Becomes true once every cache has its initial list.
    pub ready: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub backends: backends::BackendStores,
    /// The RoleBinding subject and role that give the operator each space's Secrets.
    pub secret_access: Option<crate::render::objects::SecretAccess>,
    /// Placements chosen but not yet recorded on their namespace.
    pub placing: tokio::sync::Mutex<HashMap<String, crate::api::space::Placement>>,
    /// External checks recently made, by `<space>/<system>`: (hash of inputs, when).
    pub verified: Mutex<HashMap<String, (u64, std::time::Instant)>>,
    /// The operator's own writes of spaces, until the cache shows them.
    pub latest: latest::LatestSpaces,
    failures: Mutex<HashMap<String, usize>>,
}

impl Context {
    /// Delay before retrying an object after its `n`-th consecutive transient failure: exponential
    /// from 1 s to 5 min with jitter, so a pool outage does not make every space retry in step.
    pub fn retry_delay(&self, key: &str) -> Duration {
        let attempt = match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(key.to_string()).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 1,
        };
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(300))
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempt - 1)
            .unwrap_or(Duration::from_secs(300))
    }

    /// Waits until every cache the reconciler reads holds its initial list (see [`caches_ready`]).
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        wait_for_gate(&self.ready, timeout).await
    }

    pub fn clear_failures(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }

    /// The periodic resync interval, jittered by ±10 % so 10,000 spaces do not resync in bursts.
    pub fn resync_delay(&self) -> Duration {
        let base = self.config.resync.as_millis() as u64;
        let spread = base / 5;
        let offset = if spread == 0 { 0 } else { getrandom::u64().unwrap_or(0) % spread };
        Duration::from_millis(base - base / 10 + offset)
    }
}

/// Runs every controller until a termination signal, or, with leader election, while this process
/// holds the lease. Losing the lease is an error: the process exits and comes back as a standby.
pub async fn run(config: Config) -> Result<()> {
    let mut kube_config = kube::Config::infer().await?;
    // Named in the API server's audit log and metrics, so its writes can be told from others'.
    kube_config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT)));
    // 429 (priority and fairness), 503 and 504 are retried with backoff by the client itself.
    kube_config.default_retry = true;
    let client = Client::try_from(kube_config)?;
    let reporter = Reporter {
        controller: crate::render::names::FIELD_MANAGER.to_string(),
        instance: std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok()),
    };
    tracing::info!(concurrency = config.concurrency, resync_s = config.resync.as_secs(), "starting framaspace-operator");
    let metrics = Arc::new(crate::telemetry::metrics::Metrics::new());
    let (gate, caches_ready) = tokio::sync::watch::channel(false);
    let (leading_tx, leading) = tokio::sync::watch::channel(false);
    let probes = crate::telemetry::server::Probes { metrics: metrics.clone(), leading, caches_ready: caches_ready.clone() };
    // Bound before anything else so a port in use stops the process instead of running it blind.
    let listener = tokio::net::TcpListener::bind(config.metrics_address).await.map_err(Error::MetricsEndpoint)?;
    let server = tokio::spawn(async move {
        if let Err(e) = crate::telemetry::server::serve(listener, probes).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    let shared = Shared { client: client.clone(), reporter, metrics: metrics.clone(), gate, caches_ready };
    let result = match config.leader_election.clone() {
        None => {
            let _ = leading_tx.send(true);
            metrics.set_leader(true);
            let (stop, stopped) = futures::channel::oneshot::channel();
            let signal = tokio::spawn(async move {
                termination_signal().await;
                let _ = stop.send(());
            });
            let result = space::run(shared, config, stopped).await;
            signal.abort();
            result
        }
        Some(election) => lead_then_run(shared, config, election, leading_tx).await,
    };
    server.abort();
    result
}

/// What the controllers share beyond their configuration.
pub(crate) struct Shared {
    pub client: Client,
    pub reporter: Reporter,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub gate: tokio::sync::watch::Sender<bool>,
    pub caches_ready: tokio::sync::watch::Receiver<bool>,
}

async fn lead_then_run(
    shared: Shared,
    config: Config,
    election: leader::LeaderElection,
    leading: tokio::sync::watch::Sender<bool>,
) -> Result<()> {
    let Some(mut leadership) = leader::acquire(shared.client.clone(), &election, termination_signal()).await? else {
        tracing::info!("stopped before becoming the leader");
        return Ok(());
    };
    let _ = leading.send(true);
    shared.metrics.set_leader(true);
    let (stop, stopped) = futures::channel::oneshot::channel();
    let watchdog = tokio::spawn(async move {
        let lost = tokio::select! {
            _ = termination_signal() => None,
            reason = leadership.lost() => Some(reason),
        };
        let _ = stop.send(());
        (leadership, lost)
    });
    let result = space::run(shared, config, stopped).await;
    let (leadership, lost) = watchdog.await.map_err(|e| Error::LeadershipLost(format!("the lease watchdog ended: {e}")))?;
    if let Some(reason) = lost {
        return Err(Error::LeadershipLost(reason));
    }
    if let Err(e) = leadership.release().await {
        tracing::warn!(error = %e, "the lease could not be released; the standby takes over when it expires");
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
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    crate::telemetry::heap_profile::finish();
}

/// The caches a reconciler reads, and the gate that says they are filled.
pub(crate) struct Caches {
    pub classes: Store<SpaceClass>,
    pub children: ChildStores,
    pub pools: Arc<pools::PoolRegistry>,
    pub ready: tokio::sync::watch::Receiver<bool>,
    pub secret_access: Option<crate::render::objects::SecretAccess>,
    pub backends: backends::BackendStores,
    /// Shared with the watch filters, which tell the operator's own writes from news.
    pub applier: Arc<ApplyTracker>,
    pub spaces: Store<crate::api::AssociationSpace>,
}

/// Who the API server says this process is: the subject of the per-namespace Secret access.
pub async fn secret_access(client: &Client, role: Option<&str>) -> Result<Option<crate::render::objects::SecretAccess>> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let Some(role) = role else { return Ok(None) };
    let review =
        Api::<SelfSubjectReview>::all(client.clone()).create(&kube::api::PostParams::default(), &SelfSubjectReview::default()).await?;
    let username = review.status.and_then(|s| s.user_info).and_then(|u| u.username).filter(|u| !u.is_empty());
    match username {
        Some(user) => {
            tracing::info!(user = %user, role, "Secrets of space namespaces are reached through per-namespace RoleBindings");
            Ok(Some(crate::render::objects::SecretAccess::for_user(role.to_string(), &user)))
        }
        None => Err(Error::Identity("the API server did not say who this process is (SelfSubjectReview)".into())),
    }
}

pub(crate) fn new_context(
    client: Client,
    reporter: Reporter,
    config: Config,
    caches: Caches,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
) -> Arc<Context> {
    let Caches { classes, children, pools, ready, secret_access, backends, applier, spaces } = caches;
    Arc::new(Context {
        backends,
        secret_access,
        recorder: Recorder::new(client.clone(), reporter),
        client,
        config,
        classes,
        children,
        applier,
        pools,
        ready,
        metrics,
        placing: tokio::sync::Mutex::default(),
        verified: Mutex::default(),
        latest: latest::LatestSpaces::new(spaces),
        failures: Mutex::new(HashMap::new()),
    })
}

/// Opens the gate once every cache holds its initial list. kube's `Store::wait_until_ready` wakes
/// only the last task that polled it, so the caches are awaited here, one waiter each, and every
/// reconciler waits on the gate instead (a `watch` channel wakes all of its waiters).
pub async fn caches_ready(
    classes: Store<SpaceClass>,
    pools: Arc<pools::PoolRegistry>,
    children: ChildStores,
    backends: backends::BackendStores,
    gate: tokio::sync::watch::Sender<bool>,
) {
    let _ = classes.wait_until_ready().await;
    pools.wait_until_ready().await;
    children.wait_until_ready().await;
    backends.wait_until_ready().await;
    let _ = gate.send(true);
}

pub async fn wait_for_gate(gate: &tokio::sync::watch::Receiver<bool>, timeout: Duration) -> bool {
    let mut gate = gate.clone();
    matches!(tokio::time::timeout(timeout, gate.wait_for(|open| *open)).await, Ok(Ok(_)))
}
