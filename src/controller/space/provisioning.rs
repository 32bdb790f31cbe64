//! Step "provisioning": the space's database, Redis user and bucket, each on its pool, with the
//! condition that says how it went. A kind without a pool or with an unhealthy pool gets a False
//! condition and no call (the pool's own health check triggers the space again when it
//! recovers); an external check made recently with the same inputs is not repeated.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use tracing::Instrument;

use super::placement::{self, Placed};
use super::tenant::bucket_name;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{CACHE_READY, DATABASE_READY, PLACED, STORAGE_READY};
use crate::api::pool::PoolStatus;
use crate::api::{CachePool, DatabasePool, StoragePool};
use crate::controller::Context;
use crate::controller::pools::{PoolKind, is_serving};
use crate::error::{Error, Result};
use crate::provision::minio::Bucket;
use crate::provision::{ProvisionError, System};
use crate::render::credentials;
use crate::render::resolve::ResolvedSpace;

pub(super) fn text(creds: &BTreeMap<String, Vec<u8>>, key: &str) -> String {
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

/// Provisions what is placed. `refused`: the space is over its storage quota (the usage step's
/// last measure), and its key keeps a policy without uploads.
pub async fn step(ctx: &Context, space: &ResolvedSpace, placed: &Placed, creds: &BTreeMap<String, Vec<u8>>, refused: bool) -> Provisioned {
    use ConditionStatus::*;
    let placement = &placed.placement;
    // Office and preview backends do not hold data: their placement errors show in OfficeReady.
    let errors: Vec<_> = placed.errors.iter().filter(|e| !placement::is_backend_error(e)).collect();
    let names = super::tenant::tenant_names(&space.name, space.adoption.as_ref());
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
    let adopted = space.adoption.is_some();
    let ensure = async |pool: &str| {
        let admin = ctx.pools.postgres(pool).await?;
        if adopted {
            // An adopted database is the instance's: its role's login is checked, nothing written.
            return match admin.password_works(&names, &password).await? {
                true => Ok(0),
                false => Err(ProvisionError::Failed {
                    system: System::Postgres,
                    operation: "log in as the adopted role",
                    message: format!("role {} refused the adoption Secret's dbpassword", names.role),
                }
                .into()),
            };
        }
        Ok(admin.ensure(&names, &password).await?.0)
    };
    provision_one(
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

    // Without its database the space is not placed on the pool yet (Placed says why).
    let pool = placement.cache_pool.as_deref().filter(|_| placement.cache_database.is_some());
    let database = placement.cache_database.unwrap_or_default();
    let password = text(creds, credentials::REDIS_PASSWORD);
    let lookup = pool.map(|n| state(ctx.pools.cache_pool(n).map(|p| (p.status.clone(), p.metadata.generation))));
    let ensure = async |pool: &str| Ok(ctx.pools.redis(pool).await?.ensure(&names, &password, database).await?.0);
    provision_one(
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
    let bucket =
        found.as_ref().and_then(|r| r.as_ref().ok()).map(|p| bucket_name(p, &space.name, space.adoption.as_ref())).unwrap_or_default();
    let lookup = found.map(|r| state(r.map(|p| (p.status.clone(), p.metadata.generation))));
    let quota = format!("{}/{refused}", space.quota_bytes);
    let ensure = async |pool: &str| {
        let b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes: space.quota_bytes, writable: !refused };
        let admin = ctx.pools.s3(pool).await?;
        if adopted {
            // An adopted bucket is the instance's: neither marked nor given a quota or a policy.
            let facts = admin.inspect(&b).await?;
            let why = if !facts.exists {
                "the adopted bucket does not exist"
            } else if !facts.key_reads {
                "the adoption Secret's objectstore-key does not read the adopted bucket"
            } else {
                return Ok(0);
            };
            let system = match placement::storage_provider(ctx, &placed.placement) {
                Some(crate::api::storage_pool::StorageProvider::Garage) => System::Garage,
                _ => System::Minio,
            };
            return Err(ProvisionError::Failed { system, operation: "check the adopted bucket", message: why.into() }.into());
        }
        Ok(admin.ensure(&b).await?.0)
    };
    provision_one(
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
async fn provision_one(
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
        Ok((status, _)) if !is_serving(status.as_ref()) => {
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
