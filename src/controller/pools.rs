//! Pools: admin clients for each DatabasePool, CachePool and StoragePool (built from the pool spec
//! and its admin Secret, rebuilt when either changes), and the controllers that report each pool's
//! health, spaces assigned and free capacity. Assignments are counted from the placement
//! annotations of the space namespaces, never kept as counters that drift.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tracing::{Instrument, warn};

use super::Stop;
use super::fanout::Subscription;
use super::s3_admin::{S3Admin, S3Provider};
use super::status::write_status;
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::labels::{CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, SPACE_LABEL, STORAGE_POOL_ANNOTATION};
use crate::api::pool::{CaSecretRef, PoolStatus};
use crate::api::storage_pool::StorageProvider;
use crate::api::{CachePool, DatabasePool, StoragePool};
use crate::error::{Error, Result};
use crate::gate::WriteGate;
use crate::provision::ProvisionError;
use crate::provision::garage::GarageAdmin;
use crate::provision::minio::MinioAdmin;
use crate::provision::postgres::{PgAdmin, PgTarget};
use crate::provision::redis::{RedisAdmin, RedisTarget};

type Cached<T> = Mutex<HashMap<String, (String, Arc<T>)>>;

pub struct PoolRegistry {
    pub namespace: String,
    /// Handed to every admin client: their writes ask it first.
    gate: WriteGate,
    pub databases: Store<DatabasePool>,
    pub caches: Store<CachePool>,
    pub storages: Store<StoragePool>,
    admin_secrets: Store<Secret>,
    pg: Cached<PgAdmin>,
    redis: Cached<RedisAdmin>,
    s3: Cached<S3Admin>,
    /// The certificates taken from each CA Secret key, by the Secret's version: every space's
    /// bindings ask for its pools' CAs at each reconcile, and parsing them is done once.
    cas: std::sync::Mutex<HashMap<(String, String), (String, String)>>,
}

fn pool_error(kind: &'static str, name: &str, message: impl Into<String>) -> Error {
    Error::Pool { kind, name: name.to_string(), message: message.into() }
}

impl PoolRegistry {
    pub fn new(
        namespace: String,
        databases: Store<DatabasePool>,
        caches: Store<CachePool>,
        storages: Store<StoragePool>,
        admin_secrets: Store<Secret>,
        gate: WriteGate,
    ) -> Self {
        PoolRegistry {
            namespace,
            gate,
            databases,
            caches,
            storages,
            admin_secrets,
            pg: Mutex::default(),
            redis: Mutex::default(),
            s3: Mutex::default(),
            cas: std::sync::Mutex::default(),
        }
    }

    /// A Secret of the operator's namespace, from the cache.
    pub fn operator_secret(&self, name: &str) -> Option<Arc<Secret>> {
        self.admin_secrets.get(&ObjectRef::new(name).within(&self.namespace))
    }

    /// The username and password of a class's mail Secret: only a Secret labelled
    /// `frama.space/purpose: smtp-credentials` and named by no pool as its admin Secret (whoever
    /// may edit a class must not have the operator copy a pool's admin credentials into every
    /// space and send them to an SMTP host of their choice: hostile pass 2, F1).
    pub fn mail_secret(&self, name: &str) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
        use crate::api::labels::{PURPOSE_LABEL, SMTP_PURPOSE};
        let ns = &self.namespace;
        let s = self.operator_secret(name).ok_or_else(|| format!("Secret {ns}/{name} not found"))?;
        if s.labels().get(PURPOSE_LABEL).map(String::as_str) != Some(SMTP_PURPOSE) {
            return Err(format!("Secret {ns}/{name} is not labelled {PURPOSE_LABEL}={SMTP_PURPOSE}: nothing of it is copied"));
        }
        let pools = self.databases.state().into_iter().map(|p| ("DatabasePool", p.name_any(), p.spec.admin_secret_ref.name.clone()));
        let pools = pools
            .chain(self.caches.state().into_iter().map(|p| ("CachePool", p.name_any(), p.spec.admin_secret_ref.name.clone())))
            .chain(self.storages.state().into_iter().map(|p| ("StoragePool", p.name_any(), p.spec.admin_secret_ref.name.clone())));
        if let Some((kind, pool, _)) = pools.into_iter().find(|(_, _, secret)| secret == name) {
            return Err(format!("Secret {ns}/{name} is the admin Secret of {kind} {pool}: nothing of it is copied"));
        }
        let data = s.data.as_ref().ok_or_else(|| format!("Secret {ns}/{name} is empty"))?;
        match (data.get("username"), data.get("password")) {
            (Some(u), Some(p)) => Ok((u.0.clone(), p.0.clone())),
            _ => Err(format!("Secret {ns}/{name} lacks the key username or password")),
        }
    }

    /// A key of a pool's admin Secret, and the Secret's version (to rebuild clients on rotation).
    /// A value of a pool's admin Secret, only when the Secret is bound to the server the pool
    /// would send it to (and to the pool, when it names pools): hostile pass 2, F2.
    fn admin_value(&self, kind: &'static str, pool: &str, endpoint: &str, secret: &str, key: &str) -> Result<(String, String)> {
        let s = self
            .admin_secrets
            .get(&ObjectRef::new(secret).within(&self.namespace))
            .ok_or_else(|| pool_error(kind, pool, format!("admin Secret {}/{secret} not found", self.namespace)))?;
        super::admin_binding::admin_secret_bound(s.annotations(), kind, pool, endpoint)
            .map_err(|why| pool_error(kind, pool, format!("admin Secret {}/{secret} {why}", self.namespace)))?;
        let value = s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .ok_or_else(|| pool_error(kind, pool, format!("admin Secret {}/{secret} has no key {key:?}", self.namespace)))?;
        Ok((value, s.resource_version().unwrap_or_default()))
    }

    /// The certificates of a pool's CA Secret (only those: `provision::tls::certificates_only`)
    /// and the Secret's version.
    fn ca_value(&self, kind: &'static str, pool: &str, r: &CaSecretRef) -> Result<(String, String)> {
        let s = self
            .admin_secrets
            .get(&ObjectRef::new(&r.name).within(&self.namespace))
            .ok_or_else(|| pool_error(kind, pool, format!("CA Secret {}/{} not found", self.namespace, r.name)))?;
        let version = s.resource_version().unwrap_or_default();
        let slot = (r.name.clone(), r.key.clone());
        if let Some((pem, _)) = self.cas.lock().ok().and_then(|c| c.get(&slot).filter(|(_, v)| *v == version).cloned()) {
            return Ok((pem, version));
        }
        let raw = s
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .ok_or_else(|| pool_error(kind, pool, format!("CA Secret {}/{} has no key {:?}", self.namespace, r.name, r.key)))?;
        let pem = crate::provision::tls::certificates_only(&raw.0)
            .map_err(|e| pool_error(kind, pool, format!("key {:?} of CA Secret {}/{} {e}", r.key, self.namespace, r.name)))?;
        if let Ok(mut c) = self.cas.lock() {
            c.insert(slot, (pem.clone(), version.clone()));
        }
        Ok((pem, version))
    }

    /// The CA a DatabasePool's clients trust, if it names one that holds certificates.
    pub fn database_ca(&self, pool: &DatabasePool) -> Option<String> {
        let r = pool.spec.ca_secret_ref.as_ref()?;
        self.ca_value("DatabasePool", &pool.name_any(), r).ok().map(|(pem, _)| pem)
    }

    /// The CA a CachePool's clients trust, if it names one that holds certificates.
    pub fn cache_ca(&self, pool: &CachePool) -> Option<String> {
        let r = pool.spec.ca_secret_ref.as_ref()?;
        self.ca_value("CachePool", &pool.name_any(), r).ok().map(|(pem, _)| pem)
    }

    async fn cached<T, F>(cache: &Cached<T>, name: &str, fingerprint: String, build: F) -> Result<Arc<T>>
    where
        F: AsyncFnOnce() -> Result<T, ProvisionError>,
    {
        let mut map = cache.lock().await;
        if let Some((fp, client)) = map.get(name)
            && *fp == fingerprint
        {
            return Ok(client.clone());
        }
        let client = Arc::new(build().await?);
        map.insert(name.to_string(), (fingerprint, client.clone()));
        Ok(client)
    }

    /// Waits until the pools' admin Secrets are cached (a pool checked earlier would look
    /// misconfigured). Only one task may wait (see `runtime::caches_ready`); the pools themselves
    /// are awaited through their shared watch.
    pub async fn wait_until_secrets_ready(&self) {
        let _ = self.admin_secrets.wait_until_ready().await;
    }

    pub fn database_pool(&self, name: &str) -> Result<Arc<DatabasePool>> {
        self.databases.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("DatabasePool", name, "not found"))
    }
    pub fn cache_pool(&self, name: &str) -> Result<Arc<CachePool>> {
        self.caches.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("CachePool", name, "not found"))
    }
    pub fn storage_pool(&self, name: &str) -> Result<Arc<StoragePool>> {
        self.storages.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("StoragePool", name, "not found"))
    }

    pub async fn postgres(&self, name: &str) -> Result<Arc<PgAdmin>> {
        let pool = self.database_pool(name)?;
        let s = &pool.spec;
        let endpoint = super::admin_binding::host_port(&s.host, s.port);
        let (user, _) = self.admin_value("DatabasePool", name, &endpoint, &s.admin_secret_ref.name, "username")?;
        let (password, version) = self.admin_value("DatabasePool", name, &endpoint, &s.admin_secret_ref.name, "password")?;
        let ca = s.ca_secret_ref.as_ref().map(|r| self.ca_value("DatabasePool", name, r)).transpose()?;
        let fingerprint =
            format!("{}/{version}/{}", pool.metadata.generation.unwrap_or_default(), ca.as_ref().map(|(_, v)| v.as_str()).unwrap_or(""));
        let target = PgTarget {
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(5432),
            username: user,
            password,
            ssl_mode: s.ssl_mode,
            isolation: s.isolation,
            shared_database: s.shared_database.clone(),
            max_connections: u32::try_from(s.max_concurrent_operations.unwrap_or(4)).unwrap_or(4),
            ca: ca.map(|(pem, _)| pem),
            tenant_connections: u32::try_from(s.tenant_connection_limit).unwrap_or(10),
        };
        let gate = self.gate.clone();
        Self::cached(&self.pg, name, fingerprint, async || Ok(PgAdmin::connect(target).await?.with_gate(gate))).await
    }

    pub async fn redis(&self, name: &str) -> Result<Arc<RedisAdmin>> {
        let pool = self.cache_pool(name)?;
        let s = &pool.spec;
        let endpoint = super::admin_binding::host_port(&s.host, s.port);
        let (user, _) = self.admin_value("CachePool", name, &endpoint, &s.admin_secret_ref.name, "username")?;
        let (password, version) = self.admin_value("CachePool", name, &endpoint, &s.admin_secret_ref.name, "password")?;
        let ca = s.ca_secret_ref.as_ref().map(|r| self.ca_value("CachePool", name, r)).transpose()?;
        let fingerprint =
            format!("{}/{version}/{}", pool.metadata.generation.unwrap_or_default(), ca.as_ref().map(|(_, v)| v.as_str()).unwrap_or(""));
        let target = RedisTarget {
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(6379),
            tls: s.tls,
            username: user,
            password,
            max_concurrent: usize::try_from(s.max_concurrent_operations.unwrap_or(8)).unwrap_or(8),
            ca: ca.map(|(pem, _)| pem),
        };
        let gate = self.gate.clone();
        Self::cached(&self.redis, name, fingerprint, async || Ok(RedisAdmin::connect(&target).await?.with_gate(gate))).await
    }

    pub async fn s3(&self, name: &str) -> Result<Arc<S3Admin>> {
        let pool = self.storage_pool(name)?;
        let s = &pool.spec;
        let admin_endpoint = s.admin_endpoint.clone().unwrap_or_else(|| s.endpoint.clone());
        let endpoint = super::admin_binding::url_host_port(&admin_endpoint)
            .ok_or_else(|| pool_error("StoragePool", name, "its admin endpoint has no host"))?;
        let (fingerprint, admin) = match s.provider {
            StorageProvider::Minio => {
                let (access, _) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "accessKey")?;
                let (secret, version) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "secretKey")?;
                let fp = format!("{}/{version}", pool.metadata.generation.unwrap_or_default());
                (
                    fp,
                    MinioAdmin::new(&admin_endpoint, &s.region, &access, &secret)
                        .map(|a| S3Provider::Minio(a.with_gate(self.gate.clone()))),
                )
            }
            StorageProvider::Garage => {
                let (token, version) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "token")?;
                let fp = format!("{}/{version}", pool.metadata.generation.unwrap_or_default());
                (
                    fp,
                    GarageAdmin::new(&admin_endpoint, &token, &s.endpoint, &s.region)
                        .map(|a| S3Provider::Garage(a.with_gate(self.gate.clone()))),
                )
            }
        };
        let limit = usize::try_from(s.max_concurrent_operations.unwrap_or(4)).unwrap_or(4).max(1);
        Self::cached(&self.s3, name, fingerprint, async || admin.map(|provider| S3Admin::new(provider, limit))).await
    }
}

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
    fn health(registry: &PoolRegistry, name: &str) -> impl Future<Output = Result<Health>> + Send;
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
    async fn health(registry: &PoolRegistry, name: &str) -> Result<Health> {
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
        Ok(Health { version, databases: None, connection_capacity: Some(spaces), server_id: None, note })
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
    async fn health(registry: &PoolRegistry, name: &str) -> Result<Health> {
        let admin = registry.redis(name).await?;
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
            claimed_first(o, &pool).then(|| (o.name_any(), how))
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
            connection_capacity: None,
            server_id: Some(info.run_id).filter(|r| !r.is_empty()),
            note,
        })
    }
    async fn lost_tenants(registry: &PoolRegistry, name: &str, spaces: Vec<String>) -> Result<Vec<String>> {
        let users = registry.redis(name).await?.users().await?;
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
    async fn health(registry: &PoolRegistry, name: &str) -> Result<Health> {
        let admin = registry.s3(name).await?;
        let version = admin.server_version().await?;
        if let Some(why) = admin.cannot_provision().await? {
            return Err(pool_error("StoragePool", name, format!("{why}: no space is placed here")));
        }
        Ok(Health { version, databases: None, connection_capacity: None, server_id: None, note: None })
    }
}

/// How `other` shares `pool`'s server, if it does: the same address, or the run_id its last check
/// recorded.
pub fn shares_server(pool: &CachePool, other: &CachePool, run_id: &str) -> Option<&'static str> {
    if pool.spec.host.eq_ignore_ascii_case(&other.spec.host) && pool.spec.port == other.spec.port {
        return Some("the same host and port");
    }
    let recorded = other.status.as_ref().and_then(|s| s.server_id.as_deref());
    (!run_id.is_empty() && recorded == Some(run_id)).then_some("the same run_id under another address")
}

/// Whether `other` came first, and keeps the server: the older pool, or the first by name.
pub fn claimed_first(other: &CachePool, pool: &CachePool) -> bool {
    let created = |p: &CachePool| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (created(other), other.name_any()) < (created(pool), pool.name_any())
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
}

impl<K: PoolKind> crate::placement::Placeable for K {
    const KIND: &'static str = <K as PoolKind>::KIND;
    const ANNOTATION: &'static str = <K as PoolKind>::ANNOTATION;
    fn max_spaces(&self) -> i64 {
        PoolKind::max_spaces(self)
    }
    fn is_placeable(&self) -> bool {
        is_ready(self.pool_status())
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

/// Called for a space whose account its pool's server lost: the space is provisioned again
/// (its namespace's metadata is the trigger the space controller maps back to it).
pub type LostTenant = Arc<dyn Fn(&str, &PartialObjectMeta<Namespace>) + Send + Sync>;

struct PoolContext {
    client: Client,
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
async fn recover_lost<K: PoolKind>(ctx: &PoolContext, name: &str) {
    let placed = placed_on(&ctx.namespaces, K::ANNOTATION, name);
    if placed.is_empty() {
        return;
    }
    let spaces = placed.iter().map(|(s, _)| s.clone()).collect();
    match K::lost_tenants(&ctx.registry, name, spaces).await {
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
    let health = K::health(&ctx.registry, &name).instrument(span).await;
    ctx.metrics.external_call(K::SYSTEM, "health", started.elapsed(), health.as_ref().err().map(|e| e.reason()));
    ctx.metrics.set_pool(K::KIND, &name, pool.max_spaces(), assigned, health.is_ok());
    if health.is_ok() {
        recover_lost::<K>(&ctx, &name).await;
    }
    let (ready, version, databases, connection_capacity, server_id) = match health {
        Ok(h) => (
            Condition::new(
                "Ready",
                ConditionStatus::True,
                "Reachable",
                match &h.note {
                    None => format!("the operator reaches the server with its admin credentials ({})", h.version),
                    Some(note) => format!("the operator reaches the server with its admin credentials ({}); {note}", h.version),
                },
            ),
            Some(h.version),
            h.databases,
            h.connection_capacity,
            h.server_id,
        ),
        Err(e) => (
            Condition::new("Ready", ConditionStatus::False, e.reason(), e.to_string()),
            previous.server_version.clone(),
            previous.databases,
            previous.connection_capacity,
            None,
        ),
    };
    let max_spaces = capacity(pool.declared_spaces(), databases, connection_capacity);
    let status = PoolStatus {
        assigned_spaces: assigned,
        free_capacity: (max_spaces - assigned).max(0),
        server_version: version,
        databases,
        connection_capacity,
        server_id,
        observed_generation: pool.meta().generation,
        conditions: merge_conditions(&previous.conditions, vec![ready], pool.meta().generation, &now_rfc3339()),
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
}

/// Runs the status controller of one pool kind, on the runtime's one watch of that kind.
pub async fn run_pool_controller<K: PoolKind>(args: PoolControllerArgs, pools: Store<K>, events: Subscription<K>, stop: Stop) {
    let PoolControllerArgs { client, registry, namespaces, interval, ready, metrics, gate, lost } = args;
    let ctx = Arc::new(PoolContext { client, gate, metrics, ready, registry, namespaces, interval, lost });
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
        assert!(claimed_first(&first, &twin) && !claimed_first(&twin, &first));
        let aliased = cache_pool("redis-alias", "10.0.0.7", 6379, 300, None);
        assert_eq!(shares_server(&aliased, &first, "abc"), Some("the same run_id under another address"));
        assert_eq!(shares_server(&first, &aliased, "abc"), None, "a refused pool records no run_id: the first is never refused for it");
        let other = cache_pool("redis-2", "10.0.0.8", 6379, 50, Some("def"));
        assert_eq!(shares_server(&other, &first, "def"), None);
        assert_eq!(shares_server(&aliased, &first, ""), None, "an unknown run_id matches nothing");
    }
}
