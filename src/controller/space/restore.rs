//! The restore step: a `SpaceRestore` of this space, in place, as a state machine in
//! `status.restore` (Stopping → RestoringFiles → RestoringDatabase → done; Failed), mirrored into
//! the SpaceRestore's own status.
//!
//! - **Refused before anything is touched**: a space upgrading or being adopted (not yet
//!   managed), never installed, or a backup its status does not keep.
//! - **Stopping**: `build` scales the web to zero while `status.restore` is set; the files are
//!   touched only once no pod of the namespace may still run (`upgrade::live_pods`).
//! - **RestoringFiles**: the operator makes the bucket the manifest's (`render::backup::
//!   restore_plan`: versions put back from the backup store's copies, objects the backup did not
//!   have removed; the operator's own prefix untouched) and puts the dump in the space's bucket
//!   for the Job. Repeatable: a pass cut short is finished by the next.
//! - **RestoringDatabase**: the upgrade's restore script streams the dump into one transaction
//!   that commits only with the recorded digest (`render::upgrade::restore_script`); then the
//!   dump object goes, the space's cache database is emptied (nothing cached after the backup is
//!   served), and the space's record becomes the backup's Nextcloud.
//! - **Failed** (the database Job failed): the database is as it was (the transaction rolled
//!   back), the bucket is the backup's; the space stays in maintenance until the SpaceRestore is
//!   deleted or a new one succeeds.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::info;

use super::jobs::{self, JobState, job_state, occ_output};
use super::status::publish;
use super::store::SnapshotStore;
use super::upgrade::{flush_cache, job, live_pods};
use crate::api::AssociationSpace;
use crate::api::adoption::AdoptionState;
use crate::api::conditions::{Condition, ConditionStatus, now_rfc3339};
use crate::api::labels::{CLONED_FROM_LABEL, RESTORE_FROM_ANNOTATION};
use crate::api::restore::{RestorePhase, SpaceRestore, SpaceRestoreState};
use crate::api::space::{AssociationSpaceStatus, NextcloudStatus};
use crate::controller::Context;
use crate::error::{Error, Result};
use crate::provision::ProvisionError;
use crate::provision::transfer;
use crate::render::backup as b;
use crate::render::resolve::ResolvedSpace;

const ACTION: &str = "Restore";
/// The SpaceRestore condition: True once restored, False with the reason when refused or failed.
pub const COMPLETE: &str = "Complete";

pub struct RestoreInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    pub previous: &'a AssociationSpaceStatus,
    /// `status.restore` as this pass found it (a second pass: as the first left it).
    pub state: Option<&'a SpaceRestoreState>,
    pub record: Option<&'a NextcloudStatus>,
    pub store: Option<SnapshotStore<'a>>,
    pub cache: Option<(&'a str, u32)>,
    /// The database Job of the restore under way (built from `status.restore`).
    pub job: Option<Job>,
}

#[derive(Default)]
pub struct RestoreOutcome {
    /// `status.restore` after this step.
    pub state: Option<SpaceRestoreState>,
    /// The space's record, when the restore ended and the backup's Nextcloud is the space's.
    pub record: Option<NextcloudStatus>,
    /// The space is in maintenance: the steps after this one wait.
    pub busy: bool,
    /// The phase changed: the objects of the new phase are built by a second pass.
    pub rebuild: bool,
    pub writes: usize,
    pub retry_in: Option<Duration>,
}

/// The restore this space is to go through next: the oldest SpaceRestore naming it that has
/// not ended.
fn pending(ctx: &Context, space: &str) -> Option<std::sync::Arc<SpaceRestore>> {
    let mut open: Vec<_> = ctx
        .restores
        .state()
        .into_iter()
        .filter(|r| r.spec.space == space && !r.status.as_ref().and_then(|s| s.phase).is_some_and(RestorePhase::is_final))
        // A clone's restore is the clone's once it is under way.
        .filter(|r| r.spec.clone_target().is_none() || r.status.as_ref().and_then(|s| s.phase).is_none_or(|p| p == RestorePhase::Pending))
        .collect();
    open.sort_by_key(|r| (r.creation_timestamp().map(|t| t.0), r.name_any()));
    open.into_iter().next()
}

fn restore_named(ctx: &Context, name: &str) -> Option<std::sync::Arc<SpaceRestore>> {
    ctx.restores.get(&kube::runtime::reflector::ObjectRef::new(name))
}

/// The Clone restore that created this space, while it has not ended: named by the space's
/// annotation, and recording this very space's uid (an annotation anyone may write is not proof).
fn clone_of(ctx: &Context, space: &AssociationSpace) -> Option<std::sync::Arc<SpaceRestore>> {
    let r = restore_named(ctx, space.annotations().get(RESTORE_FROM_ANNOTATION)?)?;
    let created = space.uid().is_some() && space.uid() == r.status.as_ref().and_then(|s| s.clone_uid.clone());
    let ours = created && r.spec.clone_target() == Some(space.name_any().as_str());
    (ours && !r.status.as_ref().and_then(|s| s.phase).is_some_and(RestorePhase::is_final)).then_some(r)
}

/// The backup a clone is filled from, as its source's status keeps it.
fn clone_backup(ctx: &Context, r: &SpaceRestore) -> Option<crate::api::backup::BackupRecord> {
    let source = ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(&r.spec.space))?;
    let kept = source.status.as_ref()?.backups.as_ref()?.kept.clone();
    kept.iter().find(|k| Some(k.id.as_str()) == r.spec.backup.as_deref()).or(kept.first()).cloned()
}

/// The Nextcloud a clone runs: its backup's, so it is never installed over.
pub fn clone_record(ctx: &Context, space: &AssociationSpace) -> Option<NextcloudStatus> {
    clone_backup(ctx, &*clone_of(ctx, space)?).map(|b| b.nextcloud)
}

/// A space named as a clone whose restore has not recorded it yet (the restore's status is
/// written right after the space is created; the cache may show the space first): it waits,
/// without an install, until the restore says whether it is this space.
pub fn clone_unconfirmed(ctx: &Context, space: &AssociationSpace) -> bool {
    let Some(r) = space.annotations().get(RESTORE_FROM_ANNOTATION).and_then(|n| restore_named(ctx, n)) else { return false };
    r.spec.clone_target() == Some(space.name_any().as_str())
        && !r.status.as_ref().and_then(|s| s.phase).is_some_and(RestorePhase::is_final)
        && r.status.as_ref().and_then(|s| s.clone_uid.as_ref()).is_none()
}

/// The space a clone is filled from, while its restore has not ended.
pub fn clone_source(ctx: &Context, space: &AssociationSpace) -> Option<String> {
    clone_of(ctx, space).map(|r| r.spec.space.clone())
}

/// A clone whose data has not arrived (or never will: its restore failed): its web stays at zero
/// until its SpaceRestore succeeded, or is deleted.
pub fn clone_waiting(ctx: &Context, space: &AssociationSpace) -> bool {
    let Some(r) = space.annotations().get(RESTORE_FROM_ANNOTATION).and_then(|n| restore_named(ctx, n)) else { return false };
    let created = space.uid().is_some() && space.uid() == r.status.as_ref().and_then(|s| s.clone_uid.clone());
    created && r.status.as_ref().and_then(|s| s.phase) != Some(RestorePhase::Succeeded)
}

/// Creates the clone (a POST: a space of that name created meanwhile is never taken over).
/// Its uid, or `None` when the name is taken.
async fn create_clone(ctx: &Context, source: &AssociationSpace, r: &SpaceRestore, clone: &str) -> Result<Option<String>> {
    use crate::api::labels::FIELD_MANAGER;
    let mut spec = source.spec.clone();
    spec.adoption = None;
    spec.suspended = false;
    if r.labels().contains_key(crate::api::labels::RESTORE_TEST_LABEL) {
        // A restore test's scratch clone goes with its data once checked.
        spec.deletion_policy = crate::api::space::DeletionPolicy::Delete;
    }
    let title = format!("{} (restored {})", spec.display_name, r.spec.backup.as_deref().unwrap_or("latest"));
    spec.display_name = title.chars().take(100).collect();
    let mut object = AssociationSpace::new(clone, spec);
    object.metadata.annotations = Some([(RESTORE_FROM_ANNOTATION.to_string(), r.name_any())].into());
    object.metadata.labels = Some([(CLONED_FROM_LABEL.to_string(), source.name_any())].into());
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let api: kube::Api<AssociationSpace> = kube::Api::all(ctx.client.clone());
    let params = kube::api::PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..Default::default() };
    match api.create(&params, &object).await {
        Ok(created) => Ok(created.uid()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A clone's first pass: its restore starts (its web never ran).
async fn start_clone(
    ctx: &Context,
    i: &RestoreInputs<'_>,
    r: &SpaceRestore,
    now: jiff::Timestamp,
    mut out: RestoreOutcome,
) -> Result<RestoreOutcome> {
    let Some(record) = clone_backup(ctx, r) else {
        let why = format!("the backup of {} to clone is no longer kept", r.spec.space);
        report(ctx, r, RestorePhase::Refused, None, Some((ConditionStatus::False, "BackupNotFound", why))).await?;
        return Ok(out);
    };
    let state = begin(r, &record, Some(r.spec.space.clone()), now);
    let note = format!("{}: filled from backup {} of {}", state.name, state.backup, r.spec.space);
    publish(i.space, ctx, EventType::Normal, "RestoreStarted", &note, ACTION).await;
    report(ctx, r, RestorePhase::Stopping, Some(&state), None).await?;
    out.state = Some(state);
    out.busy = true;
    out.rebuild = true;
    Ok(out)
}

/// Why a restore may not start now: `Err(reason, message)` refuses it, `Ok(Some(message))` makes
/// it wait.
fn admit(i: &RestoreInputs<'_>, r: &SpaceRestore) -> std::result::Result<Option<String>, (&'static str, String)> {
    if let Some(u) = i.previous.upgrade.as_ref().filter(|u| u.phase.in_progress()) {
        return Err(("SpaceUpgrading", format!("the space is upgrading ({:?}); restore it once the upgrade ended", u.phase)));
    }
    if i.resolved.adoption.is_some() && i.previous.adoption.as_ref().is_none_or(|a| a.state != AdoptionState::Managed) {
        return Err(("SpaceBeingAdopted", "the space is being adopted: the operator does not manage its data yet".into()));
    }
    if i.record.is_none() {
        return Err(("NotInstalled", "the space has no Nextcloud installed: there is nothing to restore into".into()));
    }
    let backups = i.previous.backups.as_ref();
    let kept: Vec<&str> = backups.map(|b| b.kept.iter().map(|r| r.id.as_str()).collect()).unwrap_or_default();
    let wanted = r.spec.backup.as_deref().or(kept.first().copied());
    match wanted {
        None => return Err(("NoBackup", "the space has no backup".into())),
        Some(id) if !kept.contains(&id) => {
            return Err(("BackupNotFound", format!("backup {id} does not exist; the space keeps: {}", kept.join(", "))));
        }
        Some(_) => {}
    }
    if let Some(running) = backups.and_then(|b| b.running.as_ref()) {
        return Ok(Some(format!("waiting for backup {} of the space to end", running.id)));
    }
    Ok(None)
}

pub async fn step(ctx: &Context, i: RestoreInputs<'_>) -> Result<RestoreOutcome> {
    let mut out = RestoreOutcome { state: i.state.cloned(), ..RestoreOutcome::default() };
    let now = jiff::Timestamp::now();
    let Some(mut state) = i.state.cloned() else {
        // A clone waiting for its data: filled from its source's backup.
        if let Some(r) = clone_of(ctx, i.space) {
            return start_clone(ctx, &i, &r, now, out).await;
        }
        let Some(r) = pending(ctx, &i.resolved.name) else { return Ok(out) };
        if let Some(clone) = r.spec.clone_target()
            && let Some(existing) = ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(clone))
            && existing.uid().is_some()
            && existing.uid() == r.status.as_ref().and_then(|s| s.clone_uid.clone())
        {
            // Created already: the clone's own reconcile takes it from here.
            return Ok(out);
        }
        match admit(&i, &r).and_then(|wait| match (wait, r.spec.clone_target()) {
            (None, Some(clone)) if ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(clone)).is_some() => {
                Err(("CloneNameTaken", format!("a space named {clone} exists already: a clone never replaces a space")))
            }
            (wait, _) => Ok(wait),
        }) {
            Err((reason, message)) => {
                publish(i.space, ctx, EventType::Warning, "RestoreRefused", &format!("{}: {message}", r.name_any()), ACTION).await;
                report(ctx, &r, RestorePhase::Refused, None, Some((ConditionStatus::False, reason, message))).await?;
            }
            Ok(Some(wait)) => {
                report(ctx, &r, RestorePhase::Pending, None, Some((ConditionStatus::Unknown, "Pending", wait))).await?;
                out.retry_in = Some(Duration::from_secs(3));
            }
            Ok(None) => {
                let kept = i.previous.backups.as_ref().map(|b| b.kept.clone()).unwrap_or_default();
                let Some(record) = kept.iter().find(|k| Some(k.id.as_str()) == r.spec.backup.as_deref()).or(kept.first()) else {
                    return Ok(out);
                };
                if let Some(clone) = r.spec.clone_target() {
                    match create_clone(ctx, i.space, &r, clone).await? {
                        Some(uid) => {
                            let note = format!("{}: space {clone} created, to be filled from backup {}", r.name_any(), record.id);
                            publish(i.space, ctx, EventType::Normal, "CloneCreated", &note, ACTION).await;
                            let mut owned = (*r).clone();
                            owned.status.get_or_insert_default().clone_uid = Some(uid);
                            report(ctx, &owned, RestorePhase::Pending, None, Some((ConditionStatus::Unknown, "CloneCreated", note)))
                                .await?;
                        }
                        None => {
                            let why = format!("a space named {clone} was created meanwhile: a clone never replaces a space");
                            report(ctx, &r, RestorePhase::Refused, None, Some((ConditionStatus::False, "CloneNameTaken", why))).await?;
                        }
                    }
                    return Ok(out);
                }
                let state = begin(&r, record, None, now);
                let note = format!("{}: the space goes to maintenance and back to backup {}", state.name, state.backup);
                info!(space = %i.resolved.name, restore = %state.name, backup = %state.backup, "restore starts");
                publish(i.space, ctx, EventType::Normal, "RestoreStarted", &note, ACTION).await;
                report(ctx, &r, RestorePhase::Stopping, Some(&state), None).await?;
                out.state = Some(state);
                out.busy = true;
                out.rebuild = true;
            }
        }
        return Ok(out);
    };
    out.busy = true;
    let ns = i.resolved.namespace.as_str();
    let own = restore_named(ctx, &state.name);
    match state.phase {
        RestorePhase::Stopping => {
            if live_pods(ctx, ns).await? > 0 {
                out.retry_in = Some(Duration::from_secs(2));
                return Ok(out);
            }
            enter(&mut state, RestorePhase::RestoringFiles, now, &mut out);
        }
        RestorePhase::RestoringFiles => {
            let store = i.store.as_ref().ok_or_else(|| Error::Provision(missing("the space has no bucket binding")))?;
            let from = state.source.clone().unwrap_or_else(|| i.resolved.name.clone());
            let (restored, removed) = restore_files(ctx, i.resolved, store, &from, &state.backup).await?;
            state.objects_restored = Some(restored);
            state.objects_removed = Some(removed);
            enter(&mut state, RestorePhase::RestoringDatabase, now, &mut out);
        }
        RestorePhase::RestoringDatabase => {
            let name = b::restore_job_name(&state.backup);
            let Some(j) = job(ctx, ns, &name) else {
                if let Some(new) = i.job {
                    out.writes += jobs::create(ctx, ns, new).await?;
                }
                out.retry_in = Some(Duration::from_secs(3));
                out.state = Some(state);
                return Ok(out);
            };
            match job_state(&j) {
                JobState::Running => out.retry_in = Some(Duration::from_secs(3)),
                JobState::Succeeded => {
                    let said = occ_output(ctx, ns, &j).await?.unwrap_or_default();
                    if !crate::render::upgrade::restored(&said, &b::restore_dump_key(&state.backup)) {
                        return fail(ctx, &i, state, own.as_deref(), &format!("the Job {name} did not report the restore"), out).await;
                    }
                    if let Some(store) = &i.store {
                        store.client(ctx)?.delete_object(&store.bucket, &b::restore_dump_key(&state.backup)).await?;
                    }
                    out.writes += flush_cache(ctx, i.resolved, i.cache).await?;
                    out.writes += jobs::delete(ctx, ns, &name).await?;
                    let note = format!(
                        "{}: the space is back to backup {} (Nextcloud {})",
                        state.name, state.backup, state.nextcloud.version_string
                    );
                    publish(i.space, ctx, EventType::Normal, "Restored", &note, ACTION).await;
                    if let Some(r) = &own {
                        state.phase = RestorePhase::Succeeded;
                        report(ctx, r, RestorePhase::Succeeded, Some(&state), Some((ConditionStatus::True, "Restored", note))).await?;
                    }
                    out.record = Some(state.nextcloud.clone());
                    out.state = None;
                    out.busy = false;
                    out.rebuild = true;
                    return Ok(out);
                }
                JobState::Failed { message, .. } => {
                    let said = occ_output(ctx, ns, &j).await?.unwrap_or_default();
                    let tail: Vec<&str> = said.lines().rev().take(2).collect();
                    let why = format!(
                        "the database restore Job {name} failed ({message}): {}",
                        tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                    );
                    out.writes += jobs::delete(ctx, ns, &name).await?;
                    return fail(ctx, &i, state, own.as_deref(), &why, out).await;
                }
            }
        }
        RestorePhase::Failed => {
            // Released when its SpaceRestore is gone, or when another one waits.
            let next = pending(ctx, &i.resolved.name).filter(|r| r.name_any() != state.name);
            if own.is_none() || next.is_some() {
                out.state = None;
                out.busy = false;
                out.rebuild = true;
                return Ok(out);
            }
        }
        RestorePhase::Pending | RestorePhase::Refused | RestorePhase::Succeeded => {
            out.state = None;
            out.busy = false;
            out.rebuild = true;
            return Ok(out);
        }
    }
    if out.rebuild
        && let Some(r) = &own
    {
        report(ctx, r, state.phase, Some(&state), None).await?;
    }
    out.state = Some(state);
    Ok(out)
}

/// A restore's first phase: the space (or the clone) stops before anything is touched.
fn begin(r: &SpaceRestore, record: &crate::api::backup::BackupRecord, source: Option<String>, now: jiff::Timestamp) -> SpaceRestoreState {
    SpaceRestoreState {
        name: r.name_any(),
        source,
        backup: record.id.clone(),
        nextcloud: record.nextcloud.clone(),
        database_sha256: record.database_sha256.clone(),
        phase: RestorePhase::Stopping,
        since: now.to_string(),
        started_at: now.to_string(),
        objects_restored: None,
        objects_removed: None,
    }
}

fn enter(state: &mut SpaceRestoreState, phase: RestorePhase, now: jiff::Timestamp, out: &mut RestoreOutcome) {
    state.phase = phase;
    state.since = now.to_string();
    out.rebuild = true;
}

async fn fail(
    ctx: &Context,
    i: &RestoreInputs<'_>,
    mut state: SpaceRestoreState,
    own: Option<&SpaceRestore>,
    why: &str,
    mut out: RestoreOutcome,
) -> Result<RestoreOutcome> {
    publish(i.space, ctx, EventType::Warning, "RestoreFailed", &format!("{}: {why}", state.name), ACTION).await;
    state.phase = RestorePhase::Failed;
    state.since = now_rfc3339();
    if let Some(r) = own {
        report(ctx, r, RestorePhase::Failed, Some(&state), Some((ConditionStatus::False, "DatabaseRestoreFailed", why.to_string())))
            .await?;
    }
    out.state = Some(state);
    out.rebuild = true;
    Ok(out)
}

fn missing(what: &str) -> ProvisionError {
    ProvisionError::Failed { system: crate::provision::System::Minio, operation: "restore the files", message: what.to_string() }
}

/// Makes the space's bucket the manifest's and puts the dump beside it for the Job. Returns the
/// objects put back and removed.
async fn restore_files(ctx: &Context, space: &ResolvedSpace, store: &SnapshotStore<'_>, from: &str, id: &str) -> Result<(i64, i64)> {
    let policy = space.class.backup.as_ref().ok_or_else(|| Error::Provision(missing("the class has no backup policy any more")))?;
    let backups = super::backup::open(ctx, policy, from).await.map_err(|f| Error::Provision(missing(&f.message)))?;
    let live = store.client(ctx)?;
    let manifest = super::backup::read_manifest(&backups, id)
        .await?
        .ok_or_else(|| Error::Provision(missing(&format!("the manifest of backup {id} is missing or unreadable"))))?;
    let listing = live.list_objects(&store.bucket, "").await?;
    let now = b::files_of(listing.into_iter().map(|o| b::ObjectEntry { key: o.key, etag: o.etag, size: o.size }).collect());
    let (put, remove) = b::restore_plan(&manifest, &now);
    let http = transfer::transfer_http()?;
    let mut restored = 0;
    for o in &put {
        transfer::copy(&http, (&backups.client, &backups.name, &o.copy_key()), (&live, &store.bucket, &o.key))
            .await?
            .ok_or_else(|| Error::Provision(missing(&format!("the copy of {} is missing from the backup", o.key))))?;
        restored += 1;
    }
    let removed: BTreeSet<String> = remove.into_iter().collect();
    for key in &removed {
        live.delete_object(&store.bucket, key).await?;
    }
    super::backup::fetch_dump(ctx, &backups, store, id, &b::restore_dump_key(id)).await?;
    Ok((restored, removed.len() as i64))
}

/// The SpaceRestore's status: its phase, the backup, and its Complete condition.
async fn report(
    ctx: &Context,
    r: &SpaceRestore,
    phase: RestorePhase,
    state: Option<&SpaceRestoreState>,
    complete: Option<(ConditionStatus, &str, String)>,
) -> Result<()> {
    let previous = r.status.clone().unwrap_or_default();
    let mut s = previous.clone();
    s.phase = Some(phase);
    if let Some(st) = state {
        s.backup = Some(st.backup.clone());
        s.version = Some(st.nextcloud.version_string.clone());
        s.started_at = Some(st.started_at.clone());
        s.objects_restored = st.objects_restored;
        s.objects_removed = st.objects_removed;
    }
    let (status, reason, message) = complete.unwrap_or_else(|| (ConditionStatus::Unknown, "InProgress", format!("{phase:?}")));
    s.message = Some(message.clone());
    if phase.is_final() {
        s.finished_at = Some(now_rfc3339());
    }
    let fresh = vec![Condition::new(COMPLETE, status, reason, message)];
    s.conditions = crate::api::conditions::merge_conditions(&previous.conditions, fresh, r.metadata.generation, &now_rfc3339());
    crate::controller::status::write_status(&ctx.client, &ctx.gate, r, Some(&previous), &s).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup::{BackupRecord, BackupsStatus, RunningBackup};
    use crate::api::restore::SpaceRestoreSpec;
    use crate::render::resolve::{resolve, tests as fixtures};

    fn kept(id: &str) -> BackupRecord {
        BackupRecord::fixture(id)
    }

    #[test]
    fn a_restore_is_refused_with_its_reason_before_anything_is_touched() {
        let space = fixtures::space("asso");
        let resolved = resolve(&space, &fixtures::class("c", true)).expect("resolves");
        let record = NextcloudStatus::default();
        let restore = |backup: Option<&str>| {
            SpaceRestore::new(
                "r",
                SpaceRestoreSpec { space: "asso".into(), backup: backup.map(String::from), mode: None, clone_name: None },
            )
        };
        let verdict = |previous: &AssociationSpaceStatus, installed: bool, backup: Option<&str>| {
            let i = RestoreInputs {
                space: &space,
                resolved: &resolved,
                previous,
                state: None,
                record: installed.then_some(&record),
                store: None,
                cache: None,
                job: None,
            };
            admit(&i, &restore(backup)).map_err(|(reason, _)| reason)
        };
        let none = AssociationSpaceStatus::default();
        assert_eq!(verdict(&none, false, None), Err("NotInstalled"));
        assert_eq!(verdict(&none, true, None), Err("NoBackup"));
        let backed = AssociationSpaceStatus {
            backups: Some(BackupsStatus { kept: vec![kept("20261205T031500Z")], ..BackupsStatus::default() }),
            ..AssociationSpaceStatus::default()
        };
        assert_eq!(verdict(&backed, true, Some("20200101T000000Z")), Err("BackupNotFound"));
        assert_eq!(verdict(&backed, true, None), Ok(None), "the newest backup, when the spec names none");
        assert_eq!(verdict(&backed, true, Some("20261205T031500Z")), Ok(None));
        let upgrading = AssociationSpaceStatus {
            upgrade: Some(crate::api::space::UpgradeStatus::started("34.0.1", "nc:34.0.1", &record, "2026-12-05T00:00:00Z")),
            ..backed.clone()
        };
        assert_eq!(verdict(&upgrading, true, None), Err("SpaceUpgrading"));
        let mut busy = backed.clone();
        if let Some(b) = busy.backups.as_mut() {
            b.running = Some(RunningBackup {
                id: "x".into(),
                started_at: String::new(),
                trigger: "Requested".into(),
                request: None,
                nextcloud: None,
            });
        }
        assert!(matches!(verdict(&busy, true, None), Ok(Some(_))), "it waits for the backup under way");
    }
}
