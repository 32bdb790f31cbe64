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

use super::provisioning::text;
use super::status::publish;
use super::tenant::bucket_name;
use crate::api::AssociationSpace;
use crate::api::conditions::rfc3339_at;
use crate::api::space::{AccountUsageStatus, Placement, SpaceUsage, StorageUsageStatus};
use crate::controller::Context;
use crate::error::Error;
use crate::provision::StorageUsage;
use crate::provision::minio::Bucket;
use crate::provision::postgres::AccountFacts;
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
fn fingerprint(pool: &str, quota: u64, refused: bool, max_accounts: i32, storage: bool, accounts: bool) -> u64 {
    let mut h = DefaultHasher::new();
    (pool, quota, refused, max_accounts, storage, accounts).hash(&mut h);
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

/// What the step reads besides the context.
pub struct UsageInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    pub placement: &'a Placement,
    pub creds: &'a BTreeMap<String, Vec<u8>>,
    pub previous: Option<&'a SpaceUsage>,
    /// The bucket is provisioned (or, adopted, verified).
    pub storage_ready: bool,
    /// Nextcloud is installed and its database ready: its accounts can be counted.
    pub accounts_readable: bool,
}

/// Measures the bucket and counts the accounts when due (every `usageCheckSeconds` of the
/// space's StoragePool): one bucket measure and one database connection per space and interval.
pub async fn step(ctx: &Context, inputs: UsageInputs<'_>) -> Measured {
    let UsageInputs { space, resolved, placement, creds, previous, storage_ready, accounts_readable } = inputs;
    let mut out = Measured { usage: previous.cloned(), writes: 0, failure: None };
    let Some(pool_name) = placement.storage_pool.as_deref().filter(|_| storage_ready || accounts_readable) else { return out };
    let Ok(pool) = ctx.pools.storage_pool(pool_name) else { return out };
    let quota = resolved.quota_bytes;
    let refused = writes_refused(previous);
    let key = format!("{}/usage", resolved.name);
    let inputs = fingerprint(pool_name, quota, refused, resolved.max_accounts, storage_ready, accounts_readable);
    // A space that shows no figure at all is measured at once; one that shows some (its accounts
    // not counted yet by an operator of before the count) waits for its random turn, so an
    // upgrade of the operator does not read 10,000 databases at once.
    let never_measured = previous.is_none_or(|u| u.storage.is_none() && u.accounts.is_none());
    if !due(ctx, &key, inputs, pool.spec.usage_check(), never_measured) {
        return out;
    }
    let now = crate::api::conditions::now_rfc3339();
    let mut usage = previous.cloned().unwrap_or_default();
    let mut over = refused;
    if storage_ready {
        match measure_storage(ctx, space, resolved, &pool, pool_name, creds, refused).await {
            Ok((measured, writes, now_over)) => {
                out.writes += writes;
                over = now_over;
                usage.storage = Some(figures(&measured, quota, over, previous.and_then(|u| u.storage.as_ref()), &now));
            }
            Err(e) => {
                out.failure = Some(e);
                return out;
            }
        }
    }
    if accounts_readable && let Some(db_pool) = placement.database_pool.as_deref() {
        let names = super::tenant::tenant_names(&resolved.name, resolved.adoption.as_ref());
        let password = text(creds, credentials::DATABASE_PASSWORD);
        let started = Instant::now();
        let read = async { Ok::<_, Error>(ctx.pools.postgres(db_pool).await?.account_facts(&names, &password).await?) }.await;
        ctx.metrics.external_call("postgres", "count_accounts", started.elapsed(), read.as_ref().err().map(|e| e.reason()));
        match read {
            Ok(f) => {
                usage.accounts = Some(account_figures(&f, resolved.max_accounts, previous.and_then(|u| u.accounts.as_ref()), &now));
            }
            Err(e) => {
                out.failure = Some(e);
                return out;
            }
        }
    }
    usage.storage_shown = usage.storage.as_ref().map(storage_shown);
    usage.accounts_shown = usage.accounts.as_ref().map(|a| format!("{}/{}", a.accounts, a.max_accounts));
    announce_thresholds(ctx, space, previous, &usage).await;
    out.usage = Some(usage);
    // Keyed by the state just reached: a change of quota or of the refusal measures again at once.
    mark_measured(ctx, key, fingerprint(pool_name, quota, over, resolved.max_accounts, storage_ready, accounts_readable));
    out
}

/// The bucket measured (an adopted one only looked at: its key's policy and quota are the
/// instance's, not the operator's), unfinished uploads aborted and uploads refused or allowed
/// again as its quota says. Returns the figures, the writes and whether uploads are refused now.
async fn measure_storage(
    ctx: &Context,
    space: &AssociationSpace,
    resolved: &ResolvedSpace,
    pool: &crate::api::StoragePool,
    pool_name: &str,
    creds: &BTreeMap<String, Vec<u8>>,
    refused: bool,
) -> Result<(StorageUsage, u32, bool), Error> {
    let quota = resolved.quota_bytes;
    let bucket = bucket_name(pool, &resolved.name, resolved.adoption.as_ref());
    let (access, secret) = (text(creds, credentials::S3_ACCESS_KEY), text(creds, credentials::S3_SECRET_KEY));
    let mut b = Bucket { bucket: &bucket, access_key: &access, secret_key: &secret, quota_bytes: quota, writable: !refused };
    let started = Instant::now();
    let admin = ctx.pools.s3(pool_name).await?;
    let system = pool.spec.provider_system();
    if resolved.adoption.is_some() {
        let facts = admin.inspect(&b).await;
        ctx.metrics.external_call(system, "inspect", started.elapsed(), facts.as_ref().err().map(|e| e.reason()));
        let f = facts?;
        return Ok((StorageUsage { bytes: f.bytes, objects: f.objects, ..Default::default() }, 0, false));
    }
    let measured = admin.measure(&b).await;
    ctx.metrics.external_call(system, "measure", started.elapsed(), measured.as_ref().err().map(|e| e.reason()));
    let usage = measured?;
    let mut writes = 0;
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
        writes += admin.ensure(&b).await?.0;
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
    Ok((usage, writes, over))
}

/// The share of a limit at which a space is announced (Event) and counted near it (metrics, alert).
pub const NEAR_LIMIT: f64 = 0.9;

/// Used storage and accounts as shares of their limits.
pub fn shares(u: &SpaceUsage) -> (Option<f64>, Option<f64>) {
    let storage = u.storage.as_ref().filter(|s| s.quota_bytes > 0).map(|s| s.used_bytes as f64 / s.quota_bytes as f64);
    let accounts = u.accounts.as_ref().filter(|a| a.max_accounts > 0).map(|a| a.accounts as f64 / a.max_accounts as f64);
    (storage, accounts)
}

/// An Event when the space passes 90 % of its quota or of its account limit.
async fn announce_thresholds(ctx: &Context, space: &AssociationSpace, previous: Option<&SpaceUsage>, now: &SpaceUsage) {
    let (before_s, before_a) = previous.map(shares).unwrap_or((None, None));
    let (after_s, after_a) = shares(now);
    let crossed = |before: Option<f64>, after: Option<f64>| after.is_some_and(|a| a >= NEAR_LIMIT) && before.is_none_or(|b| b < NEAR_LIMIT);
    if crossed(before_s, after_s)
        && let Some(shown) = &now.storage_shown
    {
        let note = format!("the space uses {shown} of its storage quota");
        publish(space, ctx, EventType::Warning, "StorageNearQuota", &note, ACTION).await;
    }
    if crossed(before_a, after_a)
        && let Some(shown) = &now.accounts_shown
    {
        let note = format!("the space has {shown} accounts of its limit");
        publish(space, ctx, EventType::Warning, "AccountsNearLimit", &note, ACTION).await;
    }
}

/// `used/quota` without spaces, so `kubectl get spaces | awk` keeps its columns.
fn storage_shown(s: &StorageUsageStatus) -> String {
    let n = |v: i64| human(u64::try_from(v).unwrap_or_default()).replace(' ', "");
    format!("{}/{}", n(s.used_bytes), n(s.quota_bytes))
}

/// The status figures of an account count; `measuredAt` kept when nothing else changed.
pub fn account_figures(f: &AccountFacts, max_accounts: i32, previous: Option<&AccountUsageStatus>, now: &str) -> AccountUsageStatus {
    let mut a = AccountUsageStatus {
        accounts: f.accounts,
        max_accounts: i64::from(max_accounts),
        last_login: f.last_login.and_then(rfc3339_at),
        last_activity: f.last_activity.and_then(rfc3339_at),
        measured_at: now.to_string(),
    };
    if let Some(p) = previous {
        let mut same = a.clone();
        same.measured_at = p.measured_at.clone();
        if same == *p {
            a.measured_at = p.measured_at.clone();
        }
    }
    a
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
    fn the_columns_hold_no_space() {
        let s = StorageUsageStatus { used_bytes: 4677, quota_bytes: 40 << 30, measured_at: "t".into(), ..Default::default() };
        assert_eq!(storage_shown(&s), "4.6KiB/40.0GiB");
        let f = AccountFacts { accounts: 3, last_login: Some(1764950000), last_activity: None };
        let a = account_figures(&f, 50, None, "t1");
        assert_eq!((a.last_login.as_deref(), a.max_accounts), (Some("2025-12-05T15:53:20Z"), 50));
        assert_eq!(account_figures(&f, 50, Some(&a), "t2"), a, "the same figures keep their time");
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
