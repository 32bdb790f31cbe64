//! Controllers and what they share: the client, the caches of owned objects, the apply tracker,
//! the event recorder.

pub mod apply;
pub mod backing;
pub mod children;
pub mod class;
pub mod pools;
pub mod space;
pub mod space_status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;

use crate::api::SpaceClass;
use crate::error::Result;
use apply::ApplyTracker;
use children::ChildStores;

pub const USER_AGENT: &str = concat!("framaspace-operator/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Debug)]
pub struct Config {
    pub concurrency: u16,
    pub resync: Duration,
    /// Namespace of the operator, which holds the pools' admin Secrets.
    pub namespace: String,
    /// Interval between two health checks of a pool.
    pub pool_check: Duration,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_address: std::net::SocketAddr,
}

pub struct Context {
    pub client: Client,
    pub config: Config,
    pub classes: Store<SpaceClass>,
    pub children: ChildStores,
    pub applier: ApplyTracker,
    pub recorder: Recorder,
    pub pools: Arc<pools::PoolRegistry>,
    /// Becomes true once every cache has its initial list.
    pub ready: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// Placements chosen but not yet recorded on their namespace.
    pub placing: tokio::sync::Mutex<HashMap<String, crate::api::space::Placement>>,
    /// External checks recently made, by `<space>/<system>`: (hash of inputs, when).
    pub verified: Mutex<HashMap<String, (u64, std::time::Instant)>>,
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

/// Runs every controller until a termination signal.
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
    space::run(client, reporter, config).await
}

/// The caches a reconciler reads, and the gate that says they are filled.
pub(crate) struct Caches {
    pub classes: Store<SpaceClass>,
    pub children: ChildStores,
    pub pools: Arc<pools::PoolRegistry>,
    pub ready: tokio::sync::watch::Receiver<bool>,
}

pub(crate) fn new_context(
    client: Client,
    reporter: Reporter,
    config: Config,
    caches: Caches,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
) -> Arc<Context> {
    let Caches { classes, children, pools, ready } = caches;
    Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        config,
        classes,
        children,
        applier: ApplyTracker::default(),
        pools,
        ready,
        metrics,
        placing: tokio::sync::Mutex::default(),
        verified: Mutex::default(),
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
    gate: tokio::sync::watch::Sender<bool>,
) {
    let _ = classes.wait_until_ready().await;
    pools.wait_until_ready().await;
    children.wait_until_ready().await;
    let _ = gate.send(true);
}

pub async fn wait_for_gate(gate: &tokio::sync::watch::Receiver<bool>, timeout: Duration) -> bool {
    let mut gate = gate.clone();
    matches!(tokio::time::timeout(timeout, gate.wait_for(|open| *open)).await, Ok(Ok(_)))
}
