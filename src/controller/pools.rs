//! Pools: the controllers that report each DatabasePool's, CachePool's and StoragePool's health,
//! spaces assigned and free capacity (their admin clients are `pool_registry`'s). Assignments are counted from the placement
//! annotations of the space namespaces, never kept as counters that drift.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::{Instrument, warn};

use super::Stop;
use super::fanout::Subscription;
pub use super::pool_registry::PoolRegistry;
use super::pool_registry::pool_error;
use super::status::write_status;
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::labels::{CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, SPACE_LABEL, STORAGE_POOL_ANNOTATION};
use crate::api::pool::PoolStatus;
use crate::api::{CachePool, DatabasePool, StoragePool};
use crate::error::{Error, Result};
use crate::gate::WriteGate;
use crate::placement::came_first;
use crate::provision::ProvisionError;
use crate::provision::cache::CacheAdmin;

/// What the three pool kinds share for their status controller.
pub trait PoolKind: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static {
    const KIND: &'static str;
    /// The system name in metrics.
    const SYSTEM: &'static str;
    const ANNOTATION: &'static str;
    /// `spec.capacity.maxSpaces`.
    fn declared_spaces(&self) -> i64;
    fn pool_status(&self) -> Option<&PoolStatus>;
    /// How many spaces the pool takes: [`capacity`] of what its spec declares and what its last
    /// check found.
    fn max_spaces(&self) -> i64 {
        let status = self.pool_status();
        capacity(self.declared_spaces(), status.and_then(|s| s.databases), status.and_then(|s| s.connection_capacity))
    }
    /// The pool's check; `spaces` are those placed on it (a cluster gives their users back to
    /// the nodes that lack them).
    fn health(registry: &PoolRegistry, name: &str, spaces: &[String]) -> impl Future<Output = Result<Health>> + Send;
    /// Of `spaces` (placed on the pool), those whose account the server no longer has. Only a
    /// CachePool loses them (its ACL users live in memory); the others keep theirs on disk.
    fn lost_tenants(registry: &PoolRegistry, name: &str, spaces: Vec<String>) -> impl Future<Output = Result<Vec<String>>> + Send {
        let _ = (registry, name, spaces);
        async { Ok(Vec::new()) }
    }
}

impl PoolKind for DatabasePool {
    const KIND: &'static str = "DatabasePool";
    const SYSTEM: &'static str = "postgres";
    const ANNOTATION: &'static str = DATABASE_POOL_ANNOTATION;
    fn declared_spaces(&self) -> i64 {
        i64::from(self.spec.capacity.max_spaces)
    }
    fn pool_status(&self) -> Option<&PoolStatus> {
        self.status.as_ref()
    }
    async fn health(registry: &PoolRegistry, name: &str, _spaces: &[String]) -> Result<Health> {
        let admin = registry.postgres(name).await?;
        let version = admin.server_version().await?;
        if let Some(why) = admin.cannot_provision().await? {
            return Err(pool_error("DatabasePool", name, format!("{why}: no space is placed here")));
        }
        let note = match admin.confine_tenants().await {
            Ok(open) if open.is_empty() => None,
            Ok(open) => Some(format!(
                "spaces' roles can still connect to {}: only their owner or a superuser can revoke PUBLIC's CONNECT",
                open.join(" and ")
            )),
            // Another replica leads; it confines them.
            Err(ProvisionError::NotLeader(_)) => None,
            Err(e) => Some(format!("could not keep spaces' roles out of the server's own databases: {e}")),
        };
        let (spaces, max_connections) = admin.connection_capacity().await?;
        let pool = registry.database_pool(name)?;
        let crowded = (i64::from(pool.spec.capacity.max_spaces) > spaces).then(|| {
            format!(
                "its connections hold {spaces} spaces, not {}: max_connections {max_connections} at tenantConnectionLimit {} each, room kept for the superusers and the operator (so many tenants at their limit lock the rest out: lower the limit, or put a PgBouncer in front as tenantHost); it takes no more",
                pool.spec.capacity.max_spaces, pool.spec.tenant_connection_limit
            )
        });
        // PostgreSQL shares these between the schemas of one database; no grant closes them.
        let shared = (pool.spec.isolation == crate::api::database_pool::DatabaseIsolation::Schema).then(|| {
            "isolation schema: its spaces see one another's table statistics (pg_stat_user_tables), function bodies (pg_proc) and NOTIFY channels; keep untrusted sign-ups on isolation database pools".to_string()
        });
        let notes: Vec<String> = [note, crowded, shared].into_iter().flatten().collect();
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        Ok(Health { version, connection_capacity: Some(spaces), note, ..Health::default() })
    }
}

impl PoolKind for CachePool {
    const KIND: &'static str = "CachePool";
    const SYSTEM: &'static str = "redis";
    const ANNOTATION: &'static str = CACHE_POOL_ANNOTATION;
    fn declared_spaces(&self) -> i64 {
        i64::from(self.spec.capacity.max_spaces)
    }
    fn pool_status(&self) -> Option<&PoolStatus> {
        self.status.as_ref()
    }
    async fn health(registry: &PoolRegistry, name: &str, spaces: &[String]) -> Result<Health> {
        let client = registry.redis(name).await?;
        let admin = match client.as_ref() {
            CacheAdmin::Cluster(cluster) => {
                let pool = registry.cache_pool(name)?;
                // Two pools on one cluster would fight over its maxmemory at every check.
                if let Some(other) = registry
                    .caches
                    .state()
                    .iter()
                    .filter(|o| o.name_any() != name)
                    .find(|o| (shares_cluster(&pool, o) || shares_cluster(o, &pool)) && came_first::<CachePool>(o, &pool))
                {
                    return Err(pool_error(
                        "CachePool",
                        name,
                        format!("its cluster is CachePool {}'s (a seed or node in common): no space is placed here", other.name_any()),
                    ));
                }
                let h = super::cache_cluster::health(cluster, &pool, spaces).await?;
                return Ok(Health {
                    version: h.version,
                    note: h.note,
                    node_count: Some(h.nodes.len() as i64),
                    nodes: h.nodes,
                    degraded: h.degraded,
                    lost: Some(h.lost),
                    ..Health::default()
                });
            }
            CacheAdmin::Server(admin) => admin,
        };
        let info = admin.server_info().await?;
        if let Some(why) = admin.cannot_provision().await? {
            return Err(pool_error("CachePool", name, format!("{why}: no space is placed here")));
        }
        let pool = registry.cache_pool(name)?;
        // Before anything is set on the server: two pools would fight over its maxmemory at each
        // check and hand out the same databases (hostile pass 2, F12).
        let others = registry.caches.state();
        if let Some((other, how)) = others.iter().filter(|o| o.name_any() != name).find_map(|o| {
            let how = shares_server(&pool, o, &info.run_id)?;
            came_first::<CachePool>(o, &pool).then(|| (o.name_any(), how))
        }) {
            return Err(pool_error(
                "CachePool",
                name,
                format!(
                    "its server is CachePool {other}'s ({how}): two pools on one server would fight over its maxmemory and give out the same databases; no space is placed here"
                ),
            ));
        }
        let note = match pool.spec.max_memory.as_deref().map(crate::api::quantity::parse_bytes) {
            None => None,
            Some(Err(e)) => Some(format!("spec.maxMemory is not a quantity: {e}")),
            Some(Ok(bytes)) => match admin.ensure_memory(bytes, pool.spec.eviction_policy.as_str()).await {
                Ok(_) | Err(ProvisionError::NotLeader(_)) => None,
                Err(e) => Some(format!("its memory is not bounded as spec.maxMemory says: {e}")),
            },
        };
        Ok(Health {
            version: info.version,
            databases: Some(i64::from(info.databases)),
            server_id: Some(info.run_id).filter(|r| !r.is_empty()),
            note,
            ..Health::default()
        })
    }
    async fn lost_tenants(registry: &PoolRegistry, name: &str, spaces: Vec<String>) -> Result<Vec<String>> {
        let admin = registry.redis(name).await?;
        let CacheAdmin::Server(admin) = admin.as_ref() else { return Ok(Vec::new()) };
        let users = admin.users().await?;
        Ok(spaces.into_iter().filter(|s| !users.contains(&crate::provision::TenantNames::new(s).redis_user)).collect())
    }
}

impl PoolKind for StoragePool {
    const KIND: &'static str = "StoragePool";
    const SYSTEM: &'static str = "s3";
    const ANNOTATION: &'static str = STORAGE_POOL_ANNOTATION;
    fn declared_spaces(&self) -> i64 {
        i64::from(self.spec.capacity.max_spaces)
    }
    fn pool_status(&self) -> Option<&PoolStatus> {
        self.status.as_ref()
    }
    async fn health(registry: &PoolRegistry, name: &str, _spaces: &[String]) -> Result<Health> {
        let admin = registry.s3(name).await?;
        let version = admin.server_version().await?;
        if let Some(why) = admin.cannot_provision().await? {
            return Err(pool_error("StoragePool", name, format!("{why}: no space is placed here")));
        }
        Ok(Health { version, ..Health::default() })
    }
}

/// How `other` shares `pool`'s server, if it does: the same address, or the run_id its last check
/// recorded.
pub fn shares_server(pool: &CachePool, other: &CachePool, run_id: &str) -> Option<&'static str> {
    if pool.spec.host.eq_ignore_ascii_case(&other.spec.host) && pool.spec.port == other.spec.port {
        return Some("the same host and port");
    }
    if other.spec.cluster.is_some() && shares_cluster(pool, other) {
        return Some("a node of its cluster");
    }
    let recorded = other.status.as_ref().and_then(|s| s.server_id.as_deref());
    (!run_id.is_empty() && recorded == Some(run_id)).then_some("the same run_id under another address")
}

/// Whether `pool` names a server of `other`'s cluster: a seed in common, or one of the nodes
/// `other`'s last check found.
pub fn shares_cluster(pool: &CachePool, other: &CachePool) -> bool {
    let norm = |a: &str| a.trim().trim_end_matches('.').to_ascii_lowercase();
    let theirs: Vec<String> = other
        .spec
        .seeds()
        .iter()
        .map(|a| norm(a))
        .chain(other.status.iter().flat_map(|s| s.nodes.iter().map(|n| norm(&n.address))))
        .collect();
    pool.spec.seeds().iter().any(|a| theirs.contains(&norm(a)))
}

/// A declared capacity capped by what the server holds: a CachePool's databases (one per space,
/// database 0 is kept), a DatabasePool's connections at its tenants' limit with room kept for
/// the superusers and the operator (hostile pass 2, F7: one more tenant at its limit would take
/// the operator's connections).
pub fn capacity(declared: i64, databases: Option<i64>, connection_capacity: Option<i64>) -> i64 {
    let by_databases = databases.map_or(i64::MAX, |d| (d - 1).max(0));
    let by_connections = connection_capacity.map_or(i64::MAX, |c| c.max(0));
    declared.min(by_databases).min(by_connections)
}

/// What a health check learns of a pool's server.
#[derive(Default)]
pub struct Health {
    pub version: String,
    /// CachePool: its logical databases.
    pub databases: Option<i64>,
    /// DatabasePool: the spaces its connections hold.
    pub connection_capacity: Option<i64>,
    /// CachePool: its server's run_id.
    pub server_id: Option<String>,
    /// What the Ready message adds: a hardening the server did not allow.
    pub note: Option<String>,
    /// A cluster: how many nodes, and each one.
    pub node_count: Option<i64>,
    pub nodes: Vec<crate::api::pool::CacheNodeStatus>,
    /// A cluster that answers but is not whole.
    pub degraded: Option<super::cache_cluster::Degraded>,
    /// A cluster: the spaces no node holds (asked for again), found by the check itself.
    pub lost: Option<Vec<String>>,
}

impl<K: PoolKind> crate::placement::Placeable for K {
    const KIND: &'static str = <K as PoolKind>::KIND;
    const ANNOTATION: &'static str = <K as PoolKind>::ANNOTATION;
    fn max_spaces(&self) -> i64 {
        PoolKind::max_spaces(self)
    }
    fn is_placeable(&self) -> bool {
        is_serving(self.pool_status())
    }
    fn is_checked(&self) -> bool {
        self.pool_status().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready"))
    }
}

/// Spaces placed on each pool of a kind, from the namespaces' placement annotations.
pub fn assignments(namespaces: &Store<PartialObjectMeta<Namespace>>, annotation: &str) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for ns in namespaces.state() {
        if let Some(pool) = ns.annotations().get(annotation) {
            *counts.entry(pool.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Whether a pool reported itself Ready at its last health check.
pub fn is_ready(status: Option<&PoolStatus>) -> bool {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).is_some_and(|c| c.is_true())
}

/// Whether a pool serves spaces: Ready, or a cluster `Available` while a node is down or is
/// being given its users back (its spaces keep working on the others).
pub fn is_serving(status: Option<&PoolStatus>) -> bool {
    is_ready(status) || status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Available")).is_some_and(|c| c.is_true())
}

/// Called for a space whose account its pool's server lost: the space is provisioned again
/// (its namespace's metadata is the trigger the space controller maps back to it).
pub type LostTenant = Arc<dyn Fn(&str, &PartialObjectMeta<Namespace>) + Send + Sync>;

struct PoolContext {
    client: Client,
    recorder: Arc<super::events::EventRecorder>,
    gate: WriteGate,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    ready: tokio::sync::watch::Receiver<bool>,
    registry: Arc<PoolRegistry>,
    namespaces: Store<PartialObjectMeta<Namespace>>,
    interval: Duration,
    lost: LostTenant,
}

/// The spaces placed on pool `name` of a kind (not being deleted), with their namespaces.
fn placed_on(
    namespaces: &Store<PartialObjectMeta<Namespace>>,
    annotation: &str,
    name: &str,
) -> Vec<(String, Arc<PartialObjectMeta<Namespace>>)> {
    namespaces
        .state()
        .into_iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_none() && ns.annotations().get(annotation).is_some_and(|p| p == name))
        .filter_map(|ns| Some((ns.labels().get(SPACE_LABEL)?.clone(), ns)))
        .collect()
}

/// Asks for a new provisioning of every space on the pool whose account its server lost (a
/// Redis restart or `ACL DELUSER`), at each health check instead of at the spaces' resync.
async fn recover_lost<K: PoolKind>(
    ctx: &PoolContext,
    name: &str,
    placed: &[(String, Arc<PartialObjectMeta<Namespace>>)],
    found: Option<Vec<String>>,
) {
    if placed.is_empty() {
        return;
    }
    let spaces = placed.iter().map(|(s, _)| s.clone()).collect();
    let lost = match found {
        Some(lost) => Ok(lost),
        None => K::lost_tenants(&ctx.registry, name, spaces).await,
    };
    match lost {
        Ok(lost) => {
            for (space, ns) in placed.iter().filter(|(s, _)| lost.contains(s)) {
                warn!(kind = K::KIND, pool = %name, space = %space, "the server lost the space's account; provisioning it again");
                (ctx.lost)(space, ns);
            }
        }
        Err(e) => warn!(kind = K::KIND, pool = %name, error = %e, "could not list the server's accounts"),
    }
}

async fn reconcile_pool<K: PoolKind>(pool: Arc<K>, ctx: Arc<PoolContext>) -> Result<Action> {
    let metrics = ctx.metrics.clone();
    let span = tracing::info_span!("reconcile", controller = K::KIND, pool = %pool.name_any());
    metrics.reconcile(K::KIND, reconcile_pool_once(pool, ctx)).instrument(span).await
}

async fn reconcile_pool_once<K: PoolKind>(pool: Arc<K>, ctx: Arc<PoolContext>) -> Result<Action> {
    if !super::wait_for_caches(&ctx.ready, Duration::from_secs(60)).await {
        return Err(Error::StillTerminating("the initial sync of the caches".into()));
    }
    let name = pool.name_any();
    let assigned = assignments(&ctx.namespaces, K::ANNOTATION).get(&name).copied().unwrap_or(0);
    let previous = pool.pool_status().cloned().unwrap_or_default();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("external_call", system = K::SYSTEM, operation = "health", pool = %name);
    let placed = placed_on(&ctx.namespaces, K::ANNOTATION, &name);
    let spaces: Vec<String> = placed.iter().map(|(s, _)| s.clone()).collect();
    let mut health = K::health(&ctx.registry, &name, &spaces).instrument(span).await;
    ctx.metrics.external_call(K::SYSTEM, "health", started.elapsed(), health.as_ref().err().map(|e| e.reason()));
    let ready = health.as_ref().is_ok_and(|h| h.degraded.is_none());
    ctx.metrics.set_pool(K::KIND, &name, pool.max_spaces(), assigned, ready);
    if let Ok(h) = &health
        && h.node_count.is_some()
    {
        ctx.metrics.set_cache_nodes(&name, &h.nodes);
    }
    if let Ok(h) = health.as_mut() {
        recover_lost::<K>(&ctx, &name, &placed, h.lost.take()).await;
    }
    let cluster = health.as_ref().map(|h| h.node_count.is_some()).unwrap_or(!previous.nodes.is_empty());
    if let Ok(h) = &health {
        for (type_, reason, note) in super::cache_cluster::news(&previous.nodes, &h.nodes) {
            super::events::publish(&ctx.recorder, &ctx.gate, pool.as_ref(), type_, reason, &note, "Check").await;
        }
    }
    let mut conditions = Vec::new();
    let (version, databases, connection_capacity, server_id, node_count, nodes) = match health {
        Ok(h) => {
            let reached = match &h.note {
                None => format!("the operator reaches the server with its admin credentials ({})", h.version),
                Some(note) => format!("the operator reaches the server with its admin credentials ({}); {note}", h.version),
            };
            match &h.degraded {
                None => conditions.push(Condition::new("Ready", ConditionStatus::True, "Reachable", reached)),
                Some(d) => conditions.push(Condition::new("Ready", ConditionStatus::False, d.reason, d.message.clone())),
            }
            if cluster {
                conditions.push(match &h.degraded {
                    Some(d) if !d.serving => Condition::new("Available", ConditionStatus::False, d.reason, d.message.clone()),
                    _ => Condition::new("Available", ConditionStatus::True, "Serving", "the cluster serves every slot to the spaces"),
                });
            }
            (Some(h.version), h.databases, h.connection_capacity, h.server_id, h.node_count, h.nodes)
        }
        Err(e) => {
            conditions.push(Condition::new("Ready", ConditionStatus::False, e.reason(), e.to_string()));
            if cluster {
                conditions.push(Condition::new("Available", ConditionStatus::False, e.reason(), e.to_string()));
            }
            (
                previous.server_version.clone(),
                previous.databases,
                previous.connection_capacity,
                None,
                previous.node_count,
                previous
                    .nodes
                    .iter()
                    .cloned()
                    .map(|mut n| {
                        n.reachable = false;
                        n
                    })
                    .collect(),
            )
        }
    };
    let max_spaces = capacity(pool.declared_spaces(), databases, connection_capacity);
    let status = PoolStatus {
        assigned_spaces: assigned,
        free_capacity: (max_spaces - assigned).max(0),
        server_version: version,
        databases,
        connection_capacity,
        server_id,
        node_count,
        nodes,
        observed_generation: pool.meta().generation,
        conditions: merge_conditions(&previous.conditions, conditions, pool.meta().generation, &now_rfc3339()),
    };
    write_status(&ctx.client, &ctx.gate, pool.as_ref(), pool.pool_status(), &status).await?;
    Ok(Action::requeue(ctx.interval))
}

fn pool_error_policy<K: PoolKind>(pool: Arc<K>, error: &Error, ctx: Arc<PoolContext>) -> Action {
    warn!(kind = K::KIND, pool = %pool.name_any(), error = %error, "pool status update failed");
    Action::requeue(ctx.interval)
}

/// What every pool status controller needs.
#[derive(Clone)]
pub struct PoolControllerArgs {
    pub client: Client,
    pub registry: Arc<PoolRegistry>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// Between two health checks (and re-counts of the assigned spaces).
    pub interval: Duration,
    pub ready: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub gate: WriteGate,
    pub lost: LostTenant,
    /// Events on the pools (a cluster's node lost, back, given its users back).
    pub recorder: Arc<super::events::EventRecorder>,
}

/// Runs the status controller of one pool kind, on the runtime's one watch of that kind.
pub async fn run_pool_controller<K: PoolKind>(args: PoolControllerArgs, pools: Store<K>, events: Subscription<K>, stop: Stop) {
    let PoolControllerArgs { client, registry, namespaces, interval, ready, metrics, gate, lost, recorder } = args;
    let ctx = Arc::new(PoolContext { client, recorder, gate, metrics, ready, registry, namespaces, interval, lost });
    Controller::for_stream(events.touched_objects(), pools)
        .graceful_shutdown_on(stop)
        .run(reconcile_pool::<K>, pool_error_policy::<K>, ctx)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::Condition;

    #[test]
    fn a_pool_takes_no_more_than_its_server_holds() {
        assert_eq!(capacity(500, None, None), 500);
        assert_eq!(capacity(500, Some(16), None), 15, "database 0 is kept");
        assert_eq!(capacity(500, None, Some(14)), 14, "tenants at their limit leave the operator its connections");
        assert_eq!(capacity(10, Some(16), Some(14)), 10);
        assert_eq!(capacity(10, None, Some(-3)), 0);
    }

    #[test]
    fn readiness_comes_from_the_ready_condition() {
        let mut s = PoolStatus::default();
        assert!(!is_ready(Some(&s)));
        s.conditions.push(Condition::new("Ready", ConditionStatus::True, "Reachable", ""));
        assert!(is_ready(Some(&s)));
        assert!(!is_ready(None));
    }

    fn cache_pool(name: &str, host: &str, port: i32, created: i64, run_id: Option<&str>) -> CachePool {
        let spec = serde_json::json!({ "host": host, "port": port, "adminSecretRef": { "name": "a" }, "capacity": { "maxSpaces": 10 } });
        let mut p = CachePool::new(name, serde_json::from_value(spec).expect("a spec"));
        p.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(created).expect("a time")));
        p.status = Some(PoolStatus { server_id: run_id.map(String::from), ..Default::default() });
        p
    }

    #[test]
    fn the_second_pool_on_a_server_is_refused_the_first_keeps_it() {
        let first = cache_pool("redis-1", "valkey.example", 6379, 100, Some("abc"));
        let twin = cache_pool("redis-twin", "VALKEY.example", 6379, 200, None);
        assert_eq!(shares_server(&twin, &first, "abc"), Some("the same host and port"));
        assert!(came_first(&first, &twin) && !came_first(&twin, &first));
        let aliased = cache_pool("redis-alias", "10.0.0.7", 6379, 300, None);
        assert_eq!(shares_server(&aliased, &first, "abc"), Some("the same run_id under another address"));
        assert_eq!(shares_server(&first, &aliased, "abc"), None, "a refused pool records no run_id: the first is never refused for it");
        let other = cache_pool("redis-2", "10.0.0.8", 6379, 50, Some("def"));
        assert_eq!(shares_server(&other, &first, "def"), None);
        assert_eq!(shares_server(&aliased, &first, ""), None, "an unknown run_id matches nothing");
    }

    #[test]
    fn a_second_pool_on_a_cluster_is_refused() {
        let mut cluster = cache_pool("cluster-1", "node-1.example", 6379, 100, None);
        cluster.spec.cluster = Some(serde_json::from_value(serde_json::json!({"seeds": ["node-2.example:6379"]})).expect("a cluster"));
        let mut status = PoolStatus::default();
        status.nodes.push(crate::api::pool::CacheNodeStatus { address: "10.0.0.9:6379".into(), ..Default::default() });
        cluster.status = Some(status);
        let mut twin = cache_pool("cluster-twin", "NODE-2.example", 6379, 200, None);
        twin.spec.cluster = Some(serde_json::from_value(serde_json::json!({})).expect("a cluster"));
        assert!(shares_cluster(&twin, &cluster), "a seed in common");
        let on_a_node = cache_pool("single", "10.0.0.9", 6379, 300, None);
        assert_eq!(shares_server(&on_a_node, &cluster, ""), Some("a node of its cluster"), "a node its check found");
        let elsewhere = cache_pool("redis-2", "10.0.0.8", 6379, 50, None);
        assert!(!shares_cluster(&elsewhere, &cluster));
    }
}
