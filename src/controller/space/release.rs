//! Deletion: the space's data is released according to its policy while its namespace and
//! credentials exist, then the finalizer goes and Kubernetes' garbage collector deletes the
//! namespace the space owns. The operator needs no right to delete namespaces, so it can never
//! delete one that is not a space's.

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use tracing::info;

use super::conditions::{self, Release};
use super::placement;
use super::provisioning::text;
use super::tenant::bucket_name;
use super::{credentials, finalizer, status};
use crate::api::AssociationSpace;
use crate::api::conditions::now_rfc3339;
use crate::api::space::{DeletionPolicy, Placement};
use crate::controller::Context;
use crate::controller::caches::MetaCache;
use crate::error::Result;
use crate::provision::TenantNames;
use crate::provision::minio::Bucket;
use crate::render::credentials as keys;
use crate::render::names;

/// The deletion path of the pipeline.
pub async fn finalize(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    if !finalizer::is_held(space) {
        return Ok(Action::await_change());
    }
    let name = space.name_any();
    let ns = names::namespace(&name);
    // Also while the namespace terminates (a foreground deletion collects it before the space).
    if let Some(meta) = ctx.owned.namespaces.get_meta(None, &ns) {
        release(space, ctx, &ns, &meta).await?;
    }
    ctx.applier.forget_namespace(&ns);
    placement::forget(ctx, &name).await;
    finalizer::set(space, ctx, false).await?;
    ctx.own_writes.forget(&name);
    info!(namespace = %ns, "space deleted; its namespace is collected");
    Ok(Action::await_change())
}

/// Applies the deletion policy to the space's data and says so in its status.
async fn release(space: &AssociationSpace, ctx: &Context, ns: &str, ns_meta: &kube::core::ObjectMeta) -> Result<()> {
    let name = space.name_any();
    let placement = placement::recorded(space, Some(ns_meta));
    let creds = credentials::read(ctx, ns).await?.map(|s| credentials::secret_data(&s)).unwrap_or_default();
    let quota = space.status.as_ref().and_then(|s| s.quota.as_deref()).and_then(|q| crate::api::quantity::parse_bytes(q).ok()).unwrap_or(0);
    let policy = space.spec.deletion_policy;
    // An adopted database and bucket are never revoked or deleted, whatever the policy: they were
    // there before the space and stay after it. The operator's own cache user goes: a cache holds
    // nothing that is not elsewhere, and a revoked user would keep its database pinned while no
    // ledger entry (an adopted space has none) tells placement it is taken.
    let adopted = space.spec.adoption.is_some();
    let data = if adopted { Placement { database_pool: None, storage_pool: None, ..placement.clone() } } else { placement.clone() };
    let cache_policy = if adopted { DeletionPolicy::Delete } else { policy };
    let released = release_data(ctx, &name, cache_policy, &data, &creds, quota).await;
    if released.is_ok() && adopted {
        let note = "the adopted database and bucket are kept as they are, with their credentials: they were not the operator's to delete or revoke";
        status::publish(space, ctx, EventType::Normal, "AdoptedDataKept", note, "Delete").await;
    }
    if released.is_ok() && !adopted {
        let keep = (policy == DeletionPolicy::Retain && placement != Placement::default()).then(|| placement::RetainedEntry {
            placement: placement.clone(),
            nextcloud: super::install::recorded(ctx, ns, &space.status.clone().unwrap_or_default()),
        });
        if keep.is_some() {
            // Before the ledger entry: a re-attach finds the identity whenever it finds the data.
            credentials::keep_retained_identity(ctx, &name, &creds).await?;
        }
        placement::record_retained(ctx, &name, keep.as_ref()).await?;
    }
    let previous = space.status.clone().unwrap_or_default();
    let outcome = match &released {
        Ok(_) => Release::Done { policy, namespace: ns },
        Err(e) => Release::Failed { reason: e.reason(), message: e.to_string() },
    };
    status::write(space, ctx, conditions::deleting(&previous, space.metadata.generation, &outcome, &now_rfc3339())).await?;
    let (_, skipped) = released?;
    for pool in skipped {
        let note = format!("{pool} no longer exists: its share of the space was left as it is");
        status::publish(space, ctx, EventType::Warning, "PoolMissing", &note, "Reconcile").await;
    }
    Ok(())
}

/// On deletion: Retain revokes the space's access and keeps its data; Delete removes the data.
/// A pool object that no longer exists cannot be reached and is skipped (reported by the caller).
async fn release_data(
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
                DeletionPolicy::Delete => admin.delete(&names, placement.cache_database).await?.0,
            };
        } else {
            skipped.push(format!("CachePool {pool}"));
        }
    }
    if let Some(pool) = placement.storage_pool.as_deref() {
        match ctx.pools.storage_pool(pool) {
            Ok(p) => {
                let admin = ctx.pools.s3(pool).await?;
                let (access, secret) = (text(creds, keys::S3_ACCESS_KEY), text(creds, keys::S3_SECRET_KEY));
                let bucket = bucket_name(&p, space, None);
                let b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes, writable: true };
                writes += match policy {
                    DeletionPolicy::Retain => admin.revoke(&b).await?.0,
                    DeletionPolicy::Delete => admin.delete(&b).await?.0,
                };
            }
            Err(_) => skipped.push(format!("StoragePool {pool}")),
        }
    }
    ctx.forget_verified(space);
    Ok((writes, skipped))
}
