//! Step "usage": the space's bucket measured against its quota every `usageCheckSeconds` of its
//! StoragePool, because the stores' own quotas do not hold everything (hostile pass 2, F4 and
//! F5): MinIO checks an upload against its scanner's last figure (cmd/bucket-quota.go
//! `enforceQuotaHard`), so parallel uploads pass it; Garage leaves unfinished multipart uploads
//! out of its quota. Over the quota, the space's key may read and delete but not upload (MinIO:
//! its policy loses `s3:PutObject`; Garage refuses by its own quota once the parts are gone) and
//! unfinished uploads are aborted; back under, uploads are allowed again. The figures go to
//! `status.usage.storage`, the changes to Events and `framaspace_storage_quota_actions_total`.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use kube::runtime::events::EventType;

use super::placement::bucket_name;
use super::provisioning::text;
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::space::{Placement, SpaceUsage, StorageUsageStatus};
use crate::controller::Context;
use crate::error::Error;
use crate::provision::StorageUsage;
use crate::provision::minio::Bucket;
use crate::render::credentials;
use crate::render::resolve::ResolvedSpace;

const ACTION: &str = "MeasureStorage";

/// What the step leaves: the usage to show, the writes it made, a transient failure.
pub struct Measured {
    pub usage: Option<SpaceUsage>,
    pub writes: u32,
    pub failure: Option<Error>,
}

/// Whether uploads are refused now, as the last measure left it: the provisioning step keeps the
/// bucket's policy that way.
pub fn writes_refused(previous: Option<&SpaceUsage>) -> bool {
    previous.and_then(|u| u.storage.as_ref()).is_some_and(|s| s.writes_refused)
}

/// Whether a measure is due. A space this process has not measured yet, but that shows figures,
/// is measured at a random point of the coming interval: after a restart, 10,000 spaces would
/// otherwise list their buckets in the first minutes, each reconcile waiting on the pool's
/// `maxConcurrentOperations`. One never measured is measured at once.
fn due(ctx: &Context, key: &str, inputs: u64, interval: std::time::Duration, never_measured: bool) -> bool {
    let Ok(mut m) = ctx.verified.lock() else { return true };
    match m.get(key).copied() {
        Some((h, at)) => h != inputs || at.elapsed() >= interval,
        None if never_measured => true,
        None => {
            let spread = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
            let ago = std::time::Duration::from_millis(getrandom::u64().unwrap_or(0) % spread);
            m.insert(key.to_string(), (inputs, Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)));
            false
        }
    }
}

/// What a measure depends on besides time.
fn fingerprint(pool: &str, quota: u64, refused: bool) -> u64 {
    let mut h = DefaultHasher::new();
    (pool, quota, refused).hash(&mut h);
    h.finish()
}

fn mark_measured(ctx: &Context, key: String, inputs: u64) {
    if let Ok(mut m) = ctx.verified.lock() {
        m.insert(key, (inputs, Instant::now()));
    }
}

/// The status figures of a measure; `measuredAt` kept when nothing else changed, so a resync
/// that finds the bucket as it was writes no status.
pub fn figures(u: &StorageUsage, quota: u64, refused: bool, previous: Option<&StorageUsageStatus>, now: &str) -> StorageUsageStatus {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut s = StorageUsageStatus {
        used_bytes: as_i64(u.bytes),
        objects: as_i64(u.objects),
        unfinished_upload_bytes: as_i64(u.unfinished_bytes),
        quota_bytes: as_i64(quota),
        measured_at: now.to_string(),
        writes_refused: refused,
    };
    if let Some(p) = previous {
        let mut same = s.clone();
        same.measured_at = p.measured_at.clone();
        if same == *p {
            s.measured_at = p.measured_at.clone();
        }
    }
    s
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The message of StorageReady while uploads are refused.
pub fn over_quota_message(s: &StorageUsageStatus) -> String {
    let n = |v: i64| human(u64::try_from(v).unwrap_or_default());
    format!(
        "the bucket holds {} of its {} quota (measured {}): uploads are refused until files are deleted",
        n(s.used_bytes),
        n(s.quota_bytes),
        s.measured_at
    )
}

/// Measures the bucket when due. Runs only once the bucket is provisioned (`storage_ready`).
pub async fn step(
    ctx: &Context,
    space: &AssociationSpace,
    resolved: &ResolvedSpace,
    placement: &Placement,
    creds: &BTreeMap<String, Vec<u8>>,
    previous: Option<&SpaceUsage>,
    storage_ready: bool,
) -> Measured {
    let mut out = Measured { usage: previous.cloned(), writes: 0, failure: None };
    let Some(pool_name) = placement.storage_pool.as_deref().filter(|_| storage_ready) else { return out };
    let Ok(pool) = ctx.pools.storage_pool(pool_name) else { return out };
    let quota = resolved.quota_bytes;
    let refused = writes_refused(previous);
    let key = format!("{}/usage", resolved.name);
    let inputs = fingerprint(pool_name, quota, refused);
    let never_measured = previous.and_then(|u| u.storage.as_ref()).is_none();
    if !due(ctx, &key, inputs, pool.spec.usage_check(), never_measured) {
        return out;
    }
    let bucket = bucket_name(&pool, &resolved.name);
    let (access, secret) = (text(creds, credentials::S3_ACCESS_KEY), text(creds, credentials::S3_SECRET_KEY));
    let mut b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes: quota, writable: !refused };
    let started = Instant::now();
    let admin = match ctx.pools.s3(pool_name).await {
        Ok(a) => a,
        Err(e) => {
            out.failure = Some(e);
            return out;
        }
    };
    let system = pool.spec.provider_system();
    let measured = admin.measure(&b).await;
    ctx.metrics.external_call(system, "measure", started.elapsed(), measured.as_ref().err().map(|e| e.reason()));
    let usage = match measured {
        Ok(u) => u,
        Err(e) => {
            out.failure = Some(e.into());
            return out;
        }
    };
    if usage.aborted_uploads > 0 {
        ctx.metrics.storage_quota_action(system, "uploads_aborted", usage.aborted_uploads.into());
        let message = format!(
            "{} unfinished upload(s) aborted: with them the bucket was over its {} quota, and no part of them could be completed",
            usage.aborted_uploads,
            human(quota)
        );
        publish(space, ctx, EventType::Warning, "UnfinishedUploadsAborted", &message, ACTION).await;
    }
    let over = usage.over(quota);
    if over != refused {
        b.writable = !over;
        match admin.ensure(&b).await {
            Ok(w) => out.writes += w.0,
            Err(e) => {
                out.failure = Some(e.into());
                return out;
            }
        }
        let (action, type_, reason, message) = if over {
            (
                "writes_refused",
                EventType::Warning,
                "StorageOverQuota",
                format!(
                    "the bucket holds {} of its {} quota: uploads are refused until files are deleted",
                    human(usage.bytes),
                    human(quota)
                ),
            )
        } else {
            (
                "writes_restored",
                EventType::Normal,
                "StorageWithinQuota",
                format!("the bucket holds {} of its {} quota: uploads are allowed again", human(usage.bytes), human(quota)),
            )
        };
        ctx.metrics.storage_quota_action(system, action, 1);
        publish(space, ctx, type_, reason, &message, ACTION).await;
    }
    let now = crate::api::conditions::now_rfc3339();
    let storage = figures(&usage, quota, over, previous.and_then(|u| u.storage.as_ref()), &now);
    out.usage = Some(SpaceUsage { storage: Some(storage) });
    // Keyed by the state just reached: a change of quota or of the refusal measures again at once.
    mark_measured(ctx, key, fingerprint(pool_name, quota, over));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measure_that_finds_the_same_figures_keeps_the_status() {
        let u = StorageUsage { bytes: 10, objects: 2, unfinished_bytes: 0, aborted_uploads: 0 };
        let first = figures(&u, 100, false, None, "2026-12-05T10:00:00Z");
        let again = figures(&u, 100, false, Some(&first), "2026-12-05T10:10:00Z");
        assert_eq!(again, first, "no status write for the same figures");
        let grown = StorageUsage { bytes: 11, ..u };
        assert_eq!(figures(&grown, 100, false, Some(&first), "2026-12-05T10:10:00Z").measured_at, "2026-12-05T10:10:00Z");
    }

    #[test]
    fn over_means_objects_above_the_quota() {
        let u = StorageUsage { bytes: 101, objects: 1, unfinished_bytes: 0, aborted_uploads: 0 };
        assert!(u.over(100));
        assert!(!StorageUsage { bytes: 100, ..u }.over(100), "a bucket exactly full is within its quota");
        assert!(!StorageUsage { bytes: 10, unfinished_bytes: 500, ..u }.over(100), "unfinished parts are aborted, not counted");
    }

    #[test]
    fn messages_name_sizes_a_person_reads() {
        let s = StorageUsageStatus { used_bytes: 6_147_597, quota_bytes: 1 << 20, measured_at: "t".into(), ..Default::default() };
        assert_eq!(
            over_quota_message(&s),
            "the bucket holds 5.9 MiB of its 1.0 MiB quota (measured t): uploads are refused until files are deleted"
        );
        assert_eq!(human(512), "512 B");
    }
}
