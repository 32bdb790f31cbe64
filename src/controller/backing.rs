//! A space's backing services: placement on pools (decided once, recorded on the namespace),
//! provisioning of its database, Redis user and bucket, the conditions that say how that went,
//! and their release on deletion according to the space's deletion policy.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use kube::ResourceExt;
use kube::core::ObjectMeta;
use kube::core::{Selector, SelectorExt};
use tracing::Instrument;

use super::Context;
use super::pools::{self, CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, PoolKind, STORAGE_POOL_ANNOTATION, is_ready};
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::database_pool::DatabaseIsolation;
use crate::api::pool::PoolStatus;
use crate::api::space::{AssociationSpace, DeletionPolicy, Placement};
use crate::api::storage_pool::StorageProvider;
use crate::api::{CachePool, DatabasePool, StoragePool};
use crate::error::{Error, Result};
use crate::placement::{self, Candidate, PlacementError};
use crate::provision::TenantNames;
use crate::provision::minio::Bucket;
use crate::render::bindings::{Bindings, CacheBinding, DatabaseBinding, OfficeBinding, PreviewBinding, StorageBinding};
use crate::render::credentials;
use crate::render::resolve::ResolvedSpace;

use super::space_status::{CACHE_READY, DATABASE_READY, PLACED, STORAGE_READY};

/// The placement recorded for a space: the namespace's annotations win over the status, so a space
/// restored without its status (GitOps) keeps its pools and never lands on an empty database.
pub fn recorded(space: &AssociationSpace, namespace: Option<&ObjectMeta>) -> Placement {
    let from_status = space.status.as_ref().and_then(|s| s.placement.clone()).unwrap_or_default();
    let annotations = namespace.and_then(|m| m.annotations.clone()).unwrap_or_default();
    let get = |key: &str, fallback: &Option<String>| annotations.get(key).cloned().or_else(|| fallback.clone());
    Placement {
        database_pool: get(DATABASE_POOL_ANNOTATION, &from_status.database_pool),
        cache_pool: get(CACHE_POOL_ANNOTATION, &from_status.cache_pool),
        storage_pool: get(STORAGE_POOL_ANNOTATION, &from_status.storage_pool),
        office_backend: get(super::backends::OFFICE_ANNOTATION, &from_status.office_backend),
        preview_backend: get(super::backends::PREVIEW_ANNOTATION, &from_status.preview_backend),
    }
}

pub fn annotations(p: &Placement) -> BTreeMap<String, String> {
    [
        (DATABASE_POOL_ANNOTATION, &p.database_pool),
        (CACHE_POOL_ANNOTATION, &p.cache_pool),
        (STORAGE_POOL_ANNOTATION, &p.storage_pool),
        (super::backends::OFFICE_ANNOTATION, &p.office_backend),
        (super::backends::PREVIEW_ANNOTATION, &p.preview_backend),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect()
}

/// Office and preview backends are optional for a space to serve its files: their placement
/// errors show in OfficeReady, not in Placed.
pub fn is_backend_error(e: &PlacementError) -> bool {
    matches!(e.kind(), "OfficeBackend" | "PreviewBackend")
}

/// What placement needs of a pool or backend kind.
pub trait Placeable: kube::Resource<DynamicType = ()> {
    const KIND: &'static str;
    /// The namespace annotation recording a space's choice.
    const ANNOTATION: &'static str;
    fn max_spaces(&self) -> i64;
    /// Ready to receive spaces.
    fn is_placeable(&self) -> bool;
}

impl<K: PoolKind> Placeable for K {
    const KIND: &'static str = <K as PoolKind>::KIND;
    const ANNOTATION: &'static str = <K as PoolKind>::ANNOTATION;
    fn max_spaces(&self) -> i64 {
        PoolKind::max_spaces(self)
    }
    fn is_placeable(&self) -> bool {
        is_ready(self.pool_status())
    }
}

fn candidates<K: Placeable>(pools: &[std::sync::Arc<K>]) -> Vec<(String, BTreeMap<String, String>, bool, i64)> {
    pools.iter().map(|p| (p.name_any(), p.labels().clone(), p.is_placeable(), p.max_spaces())).collect()
}

fn choose_one<K: Placeable>(
    ctx: &Context,
    pools: &[std::sync::Arc<K>],
    pending: &HashMap<String, Placement>,
    pick: fn(&Placement) -> &Option<String>,
    selector: &Option<Selector>,
) -> std::result::Result<String, PlacementError> {
    let allowed = |labels: &BTreeMap<String, String>| selector.as_ref().is_none_or(|s| s.matches(labels));
    // Counting assignments walks every namespace: not when nothing could be chosen anyway (a kind
    // with no object, e.g. no PreviewBackend, would cost that walk on every reconcile).
    if !pools.iter().any(|p| allowed(p.labels())) {
        return Err(PlacementError::NoPool { kind: K::KIND });
    }
    let mut assigned = pools::assignments(&ctx.children.namespaces, K::ANNOTATION);
    for p in pending.values() {
        if let Some(name) = pick(p) {
            *assigned.entry(name.clone()).or_insert(0) += 1;
        }
    }
    let owned = candidates(pools);
    let c: Vec<Candidate<'_>> = owned.iter().map(|(n, l, r, m)| Candidate { name: n, labels: l, ready: *r, max_spaces: *m }).collect();
    placement::choose(K::KIND, &c, &assigned, allowed).map(str::to_string)
}

/// Completes the recorded placement with a choice for every kind still missing. Choices are made
/// under one lock and held as pending until the namespace records them, so concurrent reconciles
/// never overfill a pool.
pub async fn place(
    ctx: &Context,
    space: &ResolvedSpace,
    recorded: Placement,
    retained: Option<Placement>,
) -> (Placement, Vec<PlacementError>) {
    let mut placement = recorded;
    // A space re-created after a Retain deletion goes back to the pools that kept its data.
    if let Some(r) = retained {
        placement.database_pool = placement.database_pool.or(r.database_pool.filter(|p| ctx.pools.database_pool(p).is_ok()));
        placement.cache_pool = placement.cache_pool.or(r.cache_pool.filter(|p| ctx.pools.cache_pool(p).is_ok()));
        placement.storage_pool = placement.storage_pool.or(r.storage_pool.filter(|p| ctx.pools.storage_pool(p).is_ok()));
    }
    let selector = space.class.pool_selector.clone().and_then(|s| Selector::try_from(s).ok());
    let mut errors = Vec::new();
    let mut pending = ctx.placing.lock().await;
    pending.remove(&space.name);
    if placement.database_pool.is_none() {
        match choose_one(ctx, &ctx.pools.databases.state(), &pending, |p| &p.database_pool, &selector) {
            Ok(n) => placement.database_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    if placement.cache_pool.is_none() {
        match choose_one(ctx, &ctx.pools.caches.state(), &pending, |p| &p.cache_pool, &selector) {
            Ok(n) => placement.cache_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    if placement.storage_pool.is_none() {
        match choose_one(ctx, &ctx.pools.storages.state(), &pending, |p| &p.storage_pool, &selector) {
            Ok(n) => placement.storage_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    // Office and preview backends, unlike pools, follow the spec: a space that switches suites
    // moves to a backend of the other type, and `office: none` leaves its backend.
    let office = ctx.backends.offices.state();
    let fits = |name: &String| office.iter().any(|b| b.name_any() == *name && super::backends::serves(b, space.office));
    if placement.office_backend.as_ref().is_some_and(|b| !fits(b)) {
        placement.office_backend = None;
    }
    if placement.office_backend.is_none() && space.office != crate::api::space::OfficeSuite::None {
        let candidates: Vec<_> = office.iter().filter(|b| super::backends::serves(b, space.office)).cloned().collect();
        match choose_one(ctx, &candidates, &pending, |p| &p.office_backend, &selector) {
            Ok(n) => placement.office_backend = Some(n),
            Err(e) => errors.push(e),
        }
    }
    let previews = ctx.backends.previews.state();
    if placement.preview_backend.as_ref().is_some_and(|b| !previews.iter().any(|p| p.name_any() == *b)) {
        placement.preview_backend = None;
    }
    if placement.preview_backend.is_none() {
        match choose_one(ctx, &previews, &pending, |p| &p.preview_backend, &selector) {
            Ok(n) => placement.preview_backend = Some(n),
            Err(e) => errors.push(e),
        }
    }
    pending.insert(space.name.clone(), placement.clone());
    (placement, errors)
}

/// Where retained spaces' data stays after the space is deleted, so a space re-created under the
/// same name goes back to its database, cache user and bucket instead of empty new ones.
pub const RETAINED_LEDGER: &str = "framaspace-retained-placements";

fn ledger_api(ctx: &Context) -> kube::Api<k8s_openapi::api::core::v1::ConfigMap> {
    kube::Api::namespaced(ctx.client.clone(), &ctx.pools.namespace)
}

/// The placement a retained space of this name had, if any.
pub async fn retained_placement(ctx: &Context, space: &str) -> Result<Option<Placement>> {
    let cm = ledger_api(ctx).get_opt(RETAINED_LEDGER).await?;
    Ok(cm.and_then(|c| c.data).and_then(|d| d.get(space).cloned()).and_then(|v| serde_json::from_str(&v).ok()))
}

/// Records (Some) or forgets (None) a retained placement; a merge patch touches only this key.
pub async fn record_retained(ctx: &Context, space: &str, placement: Option<&Placement>) -> Result<()> {
    use kube::api::{Patch, PatchParams, PostParams};
    let api = ledger_api(ctx);
    let value = match placement {
        Some(p) => serde_json::Value::String(serde_json::to_string(p).map_err(|source| Error::Encode { what: "placement", source })?),
        None => serde_json::Value::Null,
    };
    let exists = api.get_opt(RETAINED_LEDGER).await?.is_some();
    if placement.is_none() && !exists {
        return Ok(());
    }
    if !exists {
        let cm = k8s_openapi::api::core::v1::ConfigMap {
            metadata: ObjectMeta {
                name: Some(RETAINED_LEDGER.into()),
                namespace: Some(ctx.pools.namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &cm).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    api.patch(RETAINED_LEDGER, &PatchParams::default(), &Patch::Merge(serde_json::json!({ "data": { space: value } }))).await?;
    Ok(())
}

/// Forgets the in-flight choice once the namespace carries it.
pub async fn settled(ctx: &Context, space: &str) {
    ctx.placing.lock().await.remove(space);
}

pub fn storage_provider(ctx: &Context, placement: &Placement) -> Option<StorageProvider> {
    placement.storage_pool.as_deref().and_then(|n| ctx.pools.storage_pool(n).ok()).map(|p| p.spec.provider)
}

/// Where the space's services are, from the placement and the pools' specs.
pub fn bindings(ctx: &Context, space: &ResolvedSpace, placement: &Placement) -> Bindings {
    let names = TenantNames::new(&space.name);
    let database = placement.database_pool.as_deref().and_then(|n| ctx.pools.database_pool(n).ok()).map(|p| DatabaseBinding {
        host: p.spec.tenant_host.clone().unwrap_or_else(|| p.spec.host.clone()),
        port: p.spec.tenant_port.unwrap_or(p.spec.port),
        database: match p.spec.isolation {
            DatabaseIsolation::Database => names.sql.clone(),
            DatabaseIsolation::Schema => p.spec.shared_database.clone(),
        },
        user: names.sql.clone(),
    });
    let cache = placement.cache_pool.as_deref().and_then(|n| ctx.pools.cache_pool(n).ok()).map(|p| CacheBinding {
        host: p.spec.host.clone(),
        port: p.spec.port,
        tls: p.spec.tls,
        user: names.redis_user.clone(),
        prefix: names.redis_prefix.clone(),
    });
    let storage = placement
        .storage_pool
        .as_deref()
        .and_then(|n| ctx.pools.storage_pool(n).ok())
        .and_then(|p| StorageBinding::from_endpoint(&p.spec.endpoint, &p.spec.region, &bucket_name(&p, &space.name)));
    let office = placement.office_backend.as_deref().and_then(|n| ctx.backends.office(n)).map(|b| OfficeBinding {
        suite: space.office,
        backend: b.name_any(),
        url: crate::render::backends::office_url(&b),
    });
    let preview = placement
        .preview_backend
        .as_deref()
        .filter(|n| ctx.backends.preview(n).is_some())
        .map(|n| PreviewBinding { backend: n.to_string(), url: crate::render::backends::preview_url(n, &ctx.pools.namespace) });
    Bindings { database, cache, storage, office, preview }
}

pub fn bucket_name(pool: &StoragePool, space: &str) -> String {
    format!("{}{space}", pool.spec.bucket_prefix)
}

fn text(creds: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
    creds.get(key).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
}

/// The outcome of provisioning: conditions, writes, and the first transient failure (for backoff).
pub struct Provisioned {
    pub conditions: Vec<Condition>,
    pub writes: u32,
    pub failure: Option<Error>,
}

fn ready_since(status: Option<&PoolStatus>) -> String {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).map(|c| c.last_transition_time.clone()).unwrap_or_default()
}

/// Skips an external check made recently with the same inputs. The inputs include when the pool
/// last became Ready, so a pool that comes back after an outage (a restarted Redis forgets its
/// in-memory users) is checked again at once.
fn recently_verified(ctx: &Context, key: &str, inputs: u64) -> bool {
    let ttl = ctx.config.external_check;
    ctx.verified.lock().ok().and_then(|m| m.get(key).copied()).is_some_and(|(h, at)| h == inputs && at.elapsed() < ttl)
}

fn mark_verified(ctx: &Context, key: String, inputs: u64) {
    if let Ok(mut m) = ctx.verified.lock() {
        m.insert(key, (inputs, Instant::now()));
    }
}

fn hash_of(parts: &[&str]) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn cond(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(type_, status, reason, message)
}

/// Provisions what is placed; a kind without a pool or with an unhealthy pool gets a False
/// condition and no call (the pool's own health check triggers the space again when it recovers).
pub async fn provision(
    ctx: &Context,
    space: &ResolvedSpace,
    placement: &Placement,
    errors: &[PlacementError],
    creds: &BTreeMap<String, Vec<u8>>,
) -> Provisioned {
    use ConditionStatus::*;
    let names = TenantNames::new(&space.name);
    let mut out = Provisioned { conditions: Vec::new(), writes: 0, failure: None };
    out.conditions.push(match errors.first() {
        None => cond(
            PLACED,
            True,
            "Placed",
            format!(
                "database on {}, cache on {}, files on {}",
                placement.database_pool.as_deref().unwrap_or("-"),
                placement.cache_pool.as_deref().unwrap_or("-"),
                placement.storage_pool.as_deref().unwrap_or("-")
            ),
        ),
        Some(e) => cond(PLACED, False, e.reason(), errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")),
    });

    let state = |r: Result<(Option<PoolStatus>, Option<i64>)>| r.map(|(status, generation)| (status, generation.unwrap_or_default()));

    let pool = placement.database_pool.as_deref();
    let password = text(creds, credentials::DATABASE_PASSWORD);
    let lookup = pool.map(|n| state(ctx.pools.database_pool(n).map(|p| (p.status.clone(), p.metadata.generation))));
    let ensure = async |pool: &str| Ok(ctx.pools.postgres(pool).await?.ensure(&names, &password).await?.0);
    step(
        ctx,
        &mut out,
        Step {
            condition: DATABASE_READY,
            kind: <DatabasePool as PoolKind>::KIND,
            system: <DatabasePool as PoolKind>::SYSTEM,
            key: format!("{}/postgres", space.name),
        },
        pool,
        lookup,
        &[&password],
        ensure,
    )
    .await;

    let pool = placement.cache_pool.as_deref();
    let password = text(creds, credentials::REDIS_PASSWORD);
    let lookup = pool.map(|n| state(ctx.pools.cache_pool(n).map(|p| (p.status.clone(), p.metadata.generation))));
    let ensure = async |pool: &str| Ok(ctx.pools.redis(pool).await?.ensure(&names, &password).await?.0);
    step(
        ctx,
        &mut out,
        Step {
            condition: CACHE_READY,
            kind: <CachePool as PoolKind>::KIND,
            system: <CachePool as PoolKind>::SYSTEM,
            key: format!("{}/redis", space.name),
        },
        pool,
        lookup,
        &[&password],
        ensure,
    )
    .await;

    let pool = placement.storage_pool.as_deref();
    let (access, secret) = (text(creds, credentials::S3_ACCESS_KEY), text(creds, credentials::S3_SECRET_KEY));
    let found = pool.map(|n| ctx.pools.storage_pool(n));
    let bucket = found.as_ref().and_then(|r| r.as_ref().ok()).map(|p| bucket_name(p, &space.name)).unwrap_or_default();
    let lookup = found.map(|r| state(r.map(|p| (p.status.clone(), p.metadata.generation))));
    let quota = space.quota_bytes.to_string();
    let ensure = async |pool: &str| {
        let b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes: space.quota_bytes };
        Ok(ctx.pools.s3(pool).await?.ensure(&b).await?.0)
    };
    step(
        ctx,
        &mut out,
        Step {
            condition: STORAGE_READY,
            kind: <StoragePool as PoolKind>::KIND,
            system: <StoragePool as PoolKind>::SYSTEM,
            key: format!("{}/s3", space.name),
        },
        pool,
        lookup,
        &[&access, &secret, &quota],
        ensure,
    )
    .await;
    out
}

/// One kind of backing service of a space: the condition it sets, its pool kind, and the key of its
/// recent-verification record.
struct Step {
    condition: &'static str,
    kind: &'static str,
    system: &'static str,
    key: String,
}

/// Provisions one kind of backing service: no pool, a missing or unhealthy pool, or the outcome of
/// `ensure`, each recorded as the step's condition. `ensure` is skipped when the same inputs were
/// verified recently.
async fn step(
    ctx: &Context,
    out: &mut Provisioned,
    step: Step,
    pool: Option<&str>,
    lookup: Option<Result<(Option<PoolStatus>, i64)>>,
    inputs: &[&str],
    ensure: impl AsyncFnOnce(&str) -> Result<u32>,
) {
    use ConditionStatus::*;
    let (pool, lookup) = match (pool, lookup) {
        (Some(pool), Some(lookup)) => (pool, lookup),
        _ => {
            out.conditions.push(cond(step.condition, False, "NotPlaced", format!("no {} is assigned", step.kind)));
            return;
        }
    };
    let result = match lookup {
        Err(e) => Err(e),
        Ok((status, _)) if !is_ready(status.as_ref()) => {
            out.conditions.push(not_ready(step.condition, step.kind, pool, status.as_ref()));
            return;
        }
        Ok((status, generation)) => {
            let generation = generation.to_string();
            let ready = ready_since(status.as_ref());
            let mut parts = vec![pool, generation.as_str(), ready.as_str()];
            parts.extend_from_slice(inputs);
            let fingerprint = hash_of(&parts);
            if recently_verified(ctx, &step.key, fingerprint) {
                Ok(0)
            } else {
                let started = Instant::now();
                let span = tracing::info_span!("external_call", system = step.system, operation = "ensure", pool);
                let result = ensure(pool).instrument(span).await;
                ctx.metrics.external_call(step.system, "ensure", started.elapsed(), result.as_ref().err().map(|e| e.reason()));
                if let Ok(w) = &result {
                    ctx.metrics.external_writes(step.system, *w);
                    mark_verified(ctx, step.key, fingerprint);
                }
                result
            }
        }
    };
    match result {
        Ok(w) => {
            out.writes += w;
            out.conditions.push(cond(step.condition, True, "Provisioned", format!("provisioned on {pool}")));
        }
        Err(e) => {
            out.conditions.push(cond(step.condition, False, e.reason(), e.to_string()));
            if out.failure.is_none() {
                out.failure = Some(e);
            }
        }
    }
}

fn not_ready(type_: &str, kind: &str, pool: &str, status: Option<&PoolStatus>) -> Condition {
    let why = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_else(|| "not checked yet".into());
    cond(type_, ConditionStatus::False, "PoolNotReady", format!("{kind} {pool} is not Ready ({why})"))
}

/// On deletion: Retain revokes the space's access and keeps its data; Delete removes the data.
/// A pool object that no longer exists cannot be reached and is skipped (reported by the caller).
pub async fn release(
    ctx: &Context,
    space: &str,
    policy: DeletionPolicy,
    placement: &Placement,
    creds: &BTreeMap<String, Vec<u8>>,
    quota_bytes: u64,
) -> Result<(u32, Vec<String>)> {
    let names = TenantNames::new(space);
    let mut writes = 0;
    let mut skipped = Vec::new();
    if let Some(pool) = placement.database_pool.as_deref() {
        if ctx.pools.database_pool(pool).is_ok() {
            let admin = ctx.pools.postgres(pool).await?;
            writes += match policy {
                DeletionPolicy::Retain => admin.revoke(&names).await?.0,
                DeletionPolicy::Delete => admin.remove(&names).await?.0,
            };
        } else {
            skipped.push(format!("DatabasePool {pool}"));
        }
    }
    if let Some(pool) = placement.cache_pool.as_deref() {
        if ctx.pools.cache_pool(pool).is_ok() {
            let admin = ctx.pools.redis(pool).await?;
            writes += match policy {
                DeletionPolicy::Retain => admin.revoke(&names).await?.0,
                DeletionPolicy::Delete => admin.delete(&names).await?.0,
            };
        } else {
            skipped.push(format!("CachePool {pool}"));
        }
    }
    if let Some(pool) = placement.storage_pool.as_deref() {
        match ctx.pools.storage_pool(pool) {
            Ok(p) => {
                let admin = ctx.pools.s3(pool).await?;
                let (access, secret) = (text(creds, credentials::S3_ACCESS_KEY), text(creds, credentials::S3_SECRET_KEY));
                let bucket = bucket_name(&p, space);
                let b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes };
                writes += match policy {
                    DeletionPolicy::Retain => admin.revoke(&b).await?.0,
                    DeletionPolicy::Delete => admin.delete(&b).await?.0,
                };
            }
            Err(_) => skipped.push(format!("StoragePool {pool}")),
        }
    }
    if let Ok(mut v) = ctx.verified.lock() {
        v.retain(|k, _| !k.starts_with(&format!("{space}/")));
    }
    Ok((writes, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::AssociationSpaceStatus;
    use crate::render::resolve::tests as fixtures;

    #[test]
    fn namespace_annotations_win_over_status() {
        let mut space = fixtures::space("a");
        space.status = Some(AssociationSpaceStatus {
            placement: Some(Placement {
                database_pool: Some("from-status".into()),
                cache_pool: Some("redis-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let ns = ObjectMeta {
            annotations: Some(BTreeMap::from([(DATABASE_POOL_ANNOTATION.to_string(), "from-namespace".to_string())])),
            ..Default::default()
        };
        let p = recorded(&space, Some(&ns));
        assert_eq!(p.database_pool.as_deref(), Some("from-namespace"));
        assert_eq!(p.cache_pool.as_deref(), Some("redis-1"), "status fills what the namespace does not say");
        let restored = recorded(&fixtures::space("a"), Some(&ns));
        assert_eq!(restored.database_pool.as_deref(), Some("from-namespace"), "a restore without status keeps its pool");
    }

    #[test]
    fn annotations_round_trip() {
        let p = Placement { database_pool: Some("pg".into()), storage_pool: Some("s3".into()), ..Default::default() };
        let a = annotations(&p);
        assert_eq!(a.len(), 2);
        let ns = ObjectMeta { annotations: Some(a), ..Default::default() };
        assert_eq!(recorded(&fixtures::space("x"), Some(&ns)), p);
    }
}
