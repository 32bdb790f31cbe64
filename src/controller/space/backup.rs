//! The backup step: a space's backups under its class's `spec.backup`, on schedule (each space at
//! its own slot of the period, `render::backup::next_slot`) or on request (the annotation
//! `frama.space/backup-requested`).
//!
//! A backup is: the dump Job (the upgrade's snapshot script, as the space's role, into a key of
//! the space's bucket), then, once it succeeded, the operator moves the dump to the space's
//! bucket on the backup store, copies every object version that store has no copy of yet,
//! writes the manifest last, removes the dump from the space's bucket and applies retention
//! (the oldest manifests and dumps beyond `keep`, then the copies no kept manifest names).
//! A failure at any point is recorded (`status.backups.failure`, BackedUp False, an Event, a
//! metric): the dump left in the space's bucket is removed, and the next attempt comes at the
//! space's next slot or within `RETRY_AFTER_FAILURE`, whichever is sooner.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

use super::jobs::{self, JobState, job_state, occ_output};
use super::status::publish;
use super::store::SnapshotStore;
use crate::api::AssociationSpace;
use crate::api::backup::{BackupFailure, BackupPolicy, BackupRecord, BackupsStatus, RunningBackup};
use crate::api::labels::BACKUP_REQUEST_ANNOTATION;
use crate::api::storage_pool::{StoragePool, StoragePurpose};
use crate::controller::Context;
use crate::error::Result;
use crate::provision::s3::SignedClient;
use crate::provision::transfer;
use crate::provision::{ProvisionError, System};
use crate::render::backup as b;
use crate::render::resolve::ResolvedSpace;
use crate::render::upgrade::SnapshotReport;

const ACTION: &str = "Backup";

pub struct BackupInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    /// The Nextcloud the space runs: nothing is backed up before the install.
    pub record: Option<&'a crate::api::space::NextcloudStatus>,
    pub previous: Option<&'a BackupsStatus>,
    /// The space is down for an upgrade or a restore: no backup starts.
    pub busy: bool,
    pub store: Option<SnapshotStore<'a>>,
    /// The dump Job of the backup under way (built from `status.backups.running`).
    pub job: Option<Job>,
}

#[derive(Default)]
pub struct BackupOutcome {
    pub status: Option<BackupsStatus>,
    pub writes: usize,
    pub retry_in: Option<Duration>,
}

pub async fn step(ctx: &Context, i: BackupInputs<'_>) -> Result<BackupOutcome> {
    let mut out = BackupOutcome { status: i.previous.cloned(), ..BackupOutcome::default() };
    let Some(policy) = i.resolved.class.backup.as_ref() else { return Ok(out) };
    let mut st = i.previous.cloned().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let ns = i.resolved.namespace.as_str();
    let Some(run) = st.running.clone() else {
        if st.next_at.is_none() {
            st.next_at = Some(b::next_slot(&i.resolved.name, policy.period(), now).to_string());
        }
        let next_at = st.next_at.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let request = i.space.annotations().get(BACKUP_REQUEST_ANNOTATION).map(String::as_str);
        if i.record.is_some()
            && !i.busy
            && let Some(due) = b::due(request, st.last_request.as_deref(), next_at, now)
        {
            let (trigger, request) = match due {
                b::Due::Requested(r) => ("Requested", Some(r)),
                b::Due::Scheduled => ("Scheduled", None),
            };
            let id = b::backup_id(now);
            info!(space = %i.resolved.name, backup = %id, trigger, "backup starts");
            let nextcloud = i.record.cloned();
            st.running = Some(RunningBackup { id, started_at: now.to_string(), trigger: trigger.into(), request, nextcloud });
            // The next pass builds its Job from the status.
            out.retry_in = Some(Duration::from_secs(1));
        }
        out.status = Some(st);
        return Ok(out);
    };
    let name = b::job_name(&run.id);
    let Some(job) = ctx.owned.jobs.get(&ObjectRef::new(&name).within(ns)) else {
        match i.job {
            Some(j) => out.writes += jobs::create(ctx, ns, j).await?,
            None => {
                let why = "the space has no database or bucket binding for its dump, or its DatabasePool's server major is not known yet";
                fail(ctx, i.space, &mut st, &run, "NoDumpJob", why, now).await;
            }
        }
        out.retry_in = Some(Duration::from_secs(3));
        out.status = Some(st);
        return Ok(out);
    };
    match job_state(&job) {
        JobState::Running => out.retry_in = Some(Duration::from_secs(3)),
        JobState::Failed { message, .. } => {
            let said = occ_output(ctx, ns, &job).await?.unwrap_or_default();
            let tail: String = said.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" / ");
            let why = format!("the dump Job {name} failed: {message} {}", tail.chars().take(300).collect::<String>());
            fail(ctx, i.space, &mut st, &run, "DumpFailed", &why, now).await;
            out.writes += jobs::delete(ctx, ns, &name).await?;
        }
        JobState::Succeeded => {
            let said = occ_output(ctx, ns, &job).await?.unwrap_or_default();
            let finished = match (SnapshotReport::parse(&said), &i.store) {
                (Some(report), Some(store)) => {
                    let dump = b::dump_key(&run.id);
                    let taken = Taken {
                        id: &run.id,
                        started_at: &run.started_at,
                        trigger: &run.trigger,
                        dump_key: &dump,
                        report,
                        nextcloud: run.nextcloud.clone().or_else(|| i.record.cloned()).unwrap_or_default(),
                    };
                    keep(ctx, policy, i.resolved, store, taken).await
                }
                (None, _) => Err(Finish::new("DumpFailed", format!("the dump Job {name} reported no dump"))),
                (_, None) => Err(Finish::new("NoBucket", "the space has no bucket binding".into())),
            };
            if let Some(store) = &i.store {
                // The dump counts against the space's quota: it never stays in its bucket.
                if let Err(e) = remove_dump(ctx, store, &run.id).await {
                    warn!(space = %i.resolved.name, error = %e, "the dump could not be removed from the space's bucket; next attempt removes it");
                }
            }
            match finished {
                Ok((record, kept_ids)) => {
                    let note = format!(
                        "backup {} kept in {} ({} bytes of database, {} objects of which {} copied now, {} s)",
                        record.id, record.location, record.database_bytes, record.objects, record.objects_copied, record.duration_seconds
                    );
                    ctx.metrics.backup_finished(true, record.duration_seconds, record.database_bytes);
                    publish(i.space, ctx, EventType::Normal, "BackedUp", &note, ACTION).await;
                    st = with_kept(Some(&st), record, &kept_ids, policy.keep());
                    if run.request.is_some() {
                        st.last_request = run.request.clone();
                    }
                    st.running = None;
                    st.next_at = Some(b::next_slot(&i.resolved.name, policy.period(), now).to_string());
                }
                Err(f) => fail(ctx, i.space, &mut st, &run, f.reason, &f.message, now).await,
            }
            out.writes += jobs::delete(ctx, ns, &name).await?;
        }
    }
    out.status = Some(st);
    Ok(out)
}

/// A failed attempt: recorded, announced, counted; the request it answered is answered (a new
/// value asks again), and the next try is at the next slot or within `RETRY_AFTER_FAILURE`.
async fn fail(
    ctx: &Context,
    space: &AssociationSpace,
    st: &mut BackupsStatus,
    run: &RunningBackup,
    reason: &str,
    why: &str,
    now: jiff::Timestamp,
) {
    warn!(space = %space.name_any(), backup = %run.id, reason, why, "backup failed");
    ctx.metrics.backup_finished(false, 0, 0);
    publish(space, ctx, EventType::Warning, "BackupFailed", &format!("backup {}: {why}", run.id), ACTION).await;
    st.failure = Some(BackupFailure { id: run.id.clone(), at: now.to_string(), reason: reason.into(), message: why.into() });
    if run.request.is_some() {
        st.last_request = run.request.clone();
    }
    st.running = None;
    let retry = now.checked_add(b::RETRY_AFTER_FAILURE).unwrap_or(now);
    let slot = st.next_at.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).filter(|t| *t > now).unwrap_or(retry);
    st.next_at = Some(slot.min(retry).to_string());
}

/// Why a backup could not be kept.
pub struct Finish {
    pub reason: &'static str,
    pub message: String,
}

impl Finish {
    fn new(reason: &'static str, message: String) -> Self {
        Finish { reason, message }
    }

    fn from_store(e: ProvisionError, what: &str) -> Self {
        let reason = match &e {
            ProvisionError::Unauthorized { .. } => "LocationRefused",
            ProvisionError::Unreachable { .. } => "LocationUnreachable",
            _ => "CopyFailed",
        };
        Finish { reason, message: format!("{what}: {e}") }
    }
}

async fn remove_dump(ctx: &Context, store: &SnapshotStore<'_>, id: &str) -> std::result::Result<(), ProvisionError> {
    store.client(ctx)?.delete_object(&store.bucket, &b::dump_key(id)).await.map(|_| ())
}

/// The backup store a class names, if it is one.
pub fn location(ctx: &Context, policy: &BackupPolicy) -> std::result::Result<std::sync::Arc<StoragePool>, String> {
    match ctx.pools.storage_pool(&policy.storage_pool) {
        Ok(p) if p.spec.purpose == StoragePurpose::Backups => Ok(p),
        Ok(_) => Err(format!("StoragePool {} is not of purpose Backups", policy.storage_pool)),
        Err(_) => Err(format!("StoragePool {} does not exist", policy.storage_pool)),
    }
}

/// The space's bucket on the backup store.
pub fn backup_bucket(location: &StoragePool, space: &str) -> String {
    format!("{}{space}", location.spec.bucket_prefix)
}

/// A dump taken in the space's bucket, to be kept as a backup.
pub struct Taken<'a> {
    pub id: &'a str,
    pub started_at: &'a str,
    /// `Scheduled`, `Requested` or `Upgrade` (an upgrade's snapshot).
    pub trigger: &'a str,
    /// Where the dump is in the space's bucket (the backup's dump key, or an upgrade's snapshot).
    pub dump_key: &'a str,
    pub report: SnapshotReport,
    pub nextcloud: crate::api::space::NextcloudStatus,
}

/// Copies the dump to the backup store, copies the new object versions, writes the manifest,
/// applies retention. The dump stays in the space's bucket (the caller removes it). Returns
/// the record and the ids of the backups kept.
pub async fn keep(
    ctx: &Context,
    policy: &BackupPolicy,
    space: &ResolvedSpace,
    store: &SnapshotStore<'_>,
    taken: Taken<'_>,
) -> std::result::Result<(BackupRecord, BTreeSet<String>), Finish> {
    let Taken { id, started_at, trigger, dump_key, report, nextcloud } = taken;
    let now = jiff::Timestamp::now();
    let BackupBucket { name: bucket, client: target } = open(ctx, policy, &space.name).await?;
    let source = store.client(ctx).map_err(|e| Finish::from_store(e, "the space's bucket"))?;
    let http = transfer::transfer_http().map_err(|e| Finish::from_store(e, "the transfer client"))?;
    transfer::copy(&http, (&source, &store.bucket, dump_key), (&target, &bucket, &b::database_key(id)))
        .await
        .map_err(|e| Finish::from_store(e, "moving the dump"))?
        .ok_or_else(|| Finish::new("DumpFailed", format!("the dump {dump_key} is not in the space's bucket")))?;
    let listing = source.list_objects(&store.bucket, "").await.map_err(|e| Finish::from_store(e, "listing the space's bucket"))?;
    let mut files = b::files_of(listing.into_iter().map(|o| b::ObjectEntry { key: o.key, etag: o.etag, size: o.size }).collect());
    let copies: BTreeSet<String> = target
        .list_objects(&bucket, b::FILES_PREFIX)
        .await
        .map_err(|e| Finish::from_store(e, "listing the backup bucket"))?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut copied = 0i64;
    let mut gone = BTreeSet::new();
    for f in b::to_copy(&files, &copies) {
        match transfer::copy(&http, (&source, &store.bucket, &f.key), (&target, &bucket, &f.copy_key())).await {
            Ok(Some(_)) => copied += 1,
            // Deleted since the listing: not part of this backup.
            Ok(None) => {
                gone.insert(f.key.clone());
            }
            Err(e) => return Err(Finish::from_store(e, "copying the space's objects")),
        }
    }
    files.retain(|f| !gone.contains(&f.key));
    let manifest = b::Manifest {
        id: id.to_string(),
        space: space.name.clone(),
        started_at: started_at.to_string(),
        version: nextcloud.version_string.clone(),
        database: b::DumpEntry { key: b::database_key(id), bytes: report.bytes, sha256: report.sha256.clone(), rows: report.rows.clone() },
        objects: files,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| Finish::new("CopyFailed", e.to_string()))?;
    transfer::write(&target, &bucket, &b::manifest_key(id), body).await.map_err(|e| Finish::from_store(e, "writing the manifest"))?;
    let kept = retention(&target, &bucket, policy.keep()).await.map_err(|e| Finish::from_store(e, "applying retention"))?;
    let started: jiff::Timestamp = started_at.parse().unwrap_or(now);
    let record = BackupRecord {
        id: id.to_string(),
        trigger: trigger.to_string(),
        started_at: started_at.to_string(),
        finished_at: now.to_string(),
        location: format!("{}/{bucket}", policy.storage_pool),
        nextcloud,
        database_bytes: report.bytes,
        database_sha256: report.sha256,
        objects: manifest.objects.len() as i64,
        object_bytes: manifest.objects.iter().map(|o| o.size as i64).sum(),
        objects_copied: copied,
        duration_seconds: now.duration_since(started).as_secs().max(0),
    };
    Ok((record, kept))
}

/// A space's bucket on its class's backup store, and the operator's client for it.
pub struct BackupBucket {
    pub name: String,
    pub client: SignedClient,
}

/// The space's backup bucket, created and marked if missing (every reader and writer of backups
/// goes through here).
pub async fn open(ctx: &Context, policy: &BackupPolicy, space: &str) -> std::result::Result<BackupBucket, Finish> {
    let location = location(ctx, policy).map_err(|m| Finish::new("LocationInvalid", m))?;
    let admin = ctx.pools.s3(&policy.storage_pool).await.map_err(|e| Finish::new("LocationNotReady", e.to_string()))?;
    let name = backup_bucket(&location, space);
    let (_, client) = admin.backup_bucket(&name).await.map_err(|e| Finish::from_store(e, "the backup bucket"))?;
    Ok(BackupBucket { name, client })
}

/// A backup's manifest; `None` when it is missing or unreadable.
pub async fn read_manifest(backups: &BackupBucket, id: &str) -> std::result::Result<Option<b::Manifest>, ProvisionError> {
    let bytes = transfer::read(&backups.client, &backups.name, &b::manifest_key(id)).await?;
    Ok(bytes.and_then(|m| serde_json::from_slice(&m).ok()))
}

/// Puts a backup's dump back in the space's bucket at `to_key`, for a restore Job to stream
/// (the restore of a SpaceRestore, or an upgrade's rollback to its snapshot).
pub async fn fetch_dump(
    ctx: &Context,
    backups: &BackupBucket,
    store: &SnapshotStore<'_>,
    id: &str,
    to_key: &str,
) -> std::result::Result<(), ProvisionError> {
    let live = store.client(ctx)?;
    let http = transfer::transfer_http()?;
    transfer::copy(&http, (&backups.client, &backups.name, &b::database_key(id)), (&live, &store.bucket, to_key)).await?.ok_or_else(
        || ProvisionError::Failed {
            system: System::Minio,
            operation: "fetch a backup's dump",
            message: format!("the dump of backup {id} is missing"),
        },
    )?;
    Ok(())
}

/// `status.backups` with a backup kept by another step (an upgrade's snapshot).
pub fn with_kept(previous: Option<&BackupsStatus>, record: BackupRecord, kept: &BTreeSet<String>, keep: usize) -> BackupsStatus {
    let mut st = previous.cloned().unwrap_or_default();
    st.kept.retain(|r| kept.contains(&r.id));
    st.kept.insert(0, record);
    st.kept = b::retain(std::mem::take(&mut st.kept), keep).0;
    st.failure = None;
    st
}

/// The newest `keep` manifests stay; older ones go with their dumps, then every copy no kept
/// manifest names. The bucket is the truth, not the status: a status lost (a space re-created)
/// never makes a backup look old.
async fn retention(target: &SignedClient, bucket: &str, keep: usize) -> std::result::Result<BTreeSet<String>, ProvisionError> {
    let keys: Vec<String> = target.list_objects(bucket, "manifests/").await?.into_iter().map(|o| o.key).collect();
    let mut ids = b::manifest_ids(&keys);
    ids.reverse();
    let dropped = ids.split_off(keep.min(ids.len()));
    for id in &dropped {
        target.delete_object(bucket, &b::manifest_key(id)).await?;
        target.delete_object(bucket, &b::database_key(id)).await?;
    }
    let mut kept = Vec::new();
    for id in &ids {
        if let Some(bytes) = transfer::read(target, bucket, &b::manifest_key(id)).await?
            && let Ok(m) = serde_json::from_slice::<b::Manifest>(&bytes)
        {
            kept.push(m);
        } else {
            // A manifest unread keeps every copy: nothing is collected this time.
            return Ok(ids.into_iter().collect());
        }
    }
    let copies: BTreeSet<String> = target.list_objects(bucket, b::FILES_PREFIX).await?.into_iter().map(|o| o.key).collect();
    for key in b::unreferenced(&copies, &kept) {
        target.delete_object(bucket, &key).await?;
    }
    Ok(ids.into_iter().collect())
}
