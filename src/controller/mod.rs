//! Controllers and what they share: the client, the caches of owned objects, the apply tracker,
//! the write gate, the event recorder. `runtime` composes them; `space` is the space pipeline.

pub mod admin_binding;
pub mod apply;
pub mod backends;
pub mod cache_cluster;
pub mod caches;
pub mod class;
pub mod compact;
pub mod events;
pub mod fanout;
pub mod leader;
pub mod news;
pub mod own_writes;
pub mod pool_registry;
pub mod pools;
pub mod restore_test;
pub mod rollouts;
pub mod runtime;
pub mod s3_admin;
pub mod space;
pub mod status;
pub mod talk_backend;
pub mod usage_census;
pub mod wake_slots;
pub mod workload;

pub use runtime::run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;
use kube::{Api, Client};

use crate::api::SpaceClass;
use crate::error::{Error, Result};
use crate::gate::WriteGate;
use apply::ApplyTracker;
use caches::OwnedCaches;

/// How a controller is told to stop: the one stop of the process (see `runtime`).
pub type Stop = std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

pub const USER_AGENT: &str = concat!("framaspace-operator/", env!("CARGO_PKG_VERSION"));

/// The user agent of this replica: the product, and its identity, so the API server's audit log
/// tells which replica sent a write.
pub fn user_agent(identity: Option<&str>) -> http::HeaderValue {
    identity
        .and_then(|id| http::HeaderValue::from_str(&format!("{USER_AGENT} ({id})")).ok())
        .unwrap_or_else(|| http::HeaderValue::from_static(USER_AGENT))
}

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
    /// The wake component's Service as a DNS name (`<service>.<namespace>.svc.<domain>`); `None`:
    /// no wake component, and no space sleeps.
    pub wake_service: Option<String>,
}

pub struct Context {
    pub client: Client,
    pub config: Config,
    pub classes: Store<SpaceClass>,
    pub owned: OwnedCaches,
    pub applier: Arc<ApplyTracker>,
    /// Asked before every write (see `crate::gate`).
    pub gate: WriteGate,
    pub recorder: Arc<events::EventRecorder>,
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
    pub own_writes: own_writes::OwnSpaceWrites,
    /// Every space (the controller's cache): which hosts are taken.
    pub spaces: Store<crate::api::AssociationSpace>,
    /// Every SpaceRestore: which space is to be restored.
    pub restores: Store<crate::api::SpaceRestore>,
    /// The classes' rollouts: whose upgrade may start, and the slots per DatabasePool.
    pub rollouts: Arc<rollouts::RolloutBook>,
    /// The wakes under way per DatabasePool (`wake_slots`).
    pub wakes: wake_slots::WakeSlots,
    failures: Mutex<HashMap<String, usize>>,
}

impl Context {
    /// Delay before retrying an object after its `n`-th consecutive transient failure: exponential
    /// from 1 s to 5 min with jitter, so a pool outage does not make every space retry in step.
    /// The external checks of a space are made again at its next reconcile.
    pub fn forget_verified(&self, space: &str) {
        if let Ok(mut v) = self.verified.lock() {
            v.retain(|k, _| !k.starts_with(&format!("{space}/")));
        }
    }

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

    /// Waits until every cache the reconciler reads holds its initial list (see `runtime::caches_ready`).
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        wait_for_caches(&self.ready, timeout).await
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

/// The caches a reconciler reads, and the gate that says they are filled.
pub(crate) struct Caches {
    pub classes: Store<SpaceClass>,
    pub owned: OwnedCaches,
    pub pools: Arc<pools::PoolRegistry>,
    pub ready: tokio::sync::watch::Receiver<bool>,
    pub secret_access: Option<crate::render::objects::SecretAccess>,
    pub backends: backends::BackendStores,
    /// Shared with the watch filters, which tell the operator's own writes from news.
    pub applier: Arc<ApplyTracker>,
    pub spaces: Store<crate::api::AssociationSpace>,
    pub restores: Store<crate::api::SpaceRestore>,
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
    let Caches { classes, owned, pools, ready, secret_access, backends, applier, spaces, restores } = caches;
    Arc::new(Context {
        backends,
        secret_access,
        recorder: Arc::new(events::EventRecorder::new(client.clone(), reporter)),
        client,
        config,
        classes,
        owned,
        gate: applier.gate().clone(),
        applier,
        pools,
        ready,
        metrics,
        placing: tokio::sync::Mutex::default(),
        verified: Mutex::default(),
        own_writes: own_writes::OwnSpaceWrites::new(spaces.clone()),
        spaces,
        restores,
        rollouts: Arc::new(rollouts::RolloutBook::default()),
        wakes: wake_slots::WakeSlots::default(),
        failures: Mutex::new(HashMap::new()),
    })
}

/// Waits, at most `timeout`, until the caches behind `filled` hold their initial lists.
pub async fn wait_for_caches(filled: &tokio::sync::watch::Receiver<bool>, timeout: Duration) -> bool {
    let mut filled = filled.clone();
    matches!(tokio::time::timeout(timeout, filled.wait_for(|open| *open)).await, Ok(Ok(_)))
}
