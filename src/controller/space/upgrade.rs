//! Step "upgrade": a space whose recorded Nextcloud is not its class's version moves to it when
//! the class's rollout gives it its turn (`controller::rollouts`), through a state machine kept in
//! `status.upgrade`:
//!
//! Stopping (web at 0) → Snapshotting (`pg_dump` into its bucket) → Migrating (`occ upgrade` and
//! `db:add-missing-*` in the new image) → Verifying (the new version recorded, the web on it, ready
//! for `settleSeconds`) → Succeeded; on a failure before the new version served anyone,
//! Restoring (the snapshot replayed, the old version recorded again) → Failed.
//!
//! The web workload is at zero from Stopping to the end of Migrating or Restoring (`build`), so a
//! space is never served by two versions, nor by code that does not match its database. Each
//! phase's Job has a name fixed by the target (`render::upgrade`): a reconcile that dies anywhere
//! finds the same Jobs again, and a restarted operator neither snapshots twice nor migrates twice.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::build::UpgradeJobs;
use super::jobs::{self, JobState, job_state, occ_output};
use super::status::publish;
pub use super::store::SnapshotStore;
use crate::api::AssociationSpace;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::UP_TO_DATE;
use crate::api::space::NextcloudStatus;
use crate::api::space::{AppsStatus, UpgradePhase, UpgradeStatus};
use crate::controller::Context;
use crate::controller::rollouts::Turn;
use crate::controller::workload::WorkloadObservation;
use crate::error::Result;
use crate::render::nextcloud::{OccStatus, enabled_apps, summarize};
use crate::render::resolve::ResolvedSpace;
use crate::render::upgrade::{SnapshotReport, restore_job_name, restored, snapshot_job_name, upgrade_job_name};

const ACTION: &str = "Upgrade";
/// The reason of UpToDate while the space is down for its upgrade: it makes the space not Ready.
pub const UPGRADING: &str = "Upgrading";
/// The snapshot could not be restored: the space stays down, its database as the failed
/// upgrade left it.
pub const RESTORE_FAILED: &str = "RestoreFailed";

fn up_to_date(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(UP_TO_DATE, status, reason, message)
}

pub struct UpgradeInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    /// The Nextcloud the space runs (`None` before its install: the install brings the class's).
    pub record: Option<&'a NextcloudStatus>,
    /// The upgrade as the last pass left it.
    pub prior: Option<&'a UpgradeStatus>,
    /// The upgrade as the stored status records it.
    pub recorded: Option<&'a UpgradeStatus>,
    pub database_pool: Option<&'a str>,
    /// The space's CachePool and its database there: emptied after a migration and after a
    /// restore.
    pub cache: Option<(&'a str, u32)>,
    /// Where the snapshots are, removed once an upgrade ended.
    pub snapshot_store: Option<SnapshotStore<'a>>,
    pub workload: &'a WorkloadObservation,
}

#[derive(Default)]
pub struct UpgradeOutcome {
    pub condition: Option<Condition>,
    pub status: Option<UpgradeStatus>,
    /// The Nextcloud the space now runs, when the step changed it (migrated: the target;
    /// restored: the one before).
    pub record: Option<NextcloudStatus>,
    /// The phase changed: the objects are built again at once for the new phase.
    pub rebuild: bool,
    /// An upgrade is under way: the occ Jobs of the apps and office steps wait.
    pub busy: bool,
    /// The apps Nextcloud reported enabled after the migration.
    pub apps: Option<AppsStatus>,
    /// The snapshot kept as a backup (with the ids the store keeps after retention).
    pub backup: Option<(crate::api::backup::BackupRecord, std::collections::BTreeSet<String>)>,
    pub writes: usize,
    pub retry_in: Option<Duration>,
}

pub(super) fn job(ctx: &Context, ns: &str, name: &str) -> Option<std::sync::Arc<Job>> {
    ctx.owned.jobs.get(&ObjectRef::new(name).within(ns))
}

/// The pods of the space's namespace that may still run a process against its database: the
/// web's, terminating ones included (`status.replicas` leaves them out), and every occ Job's (an
/// apps or office Job started before the upgrade, or the upgrade Job's own pods, which can
/// outlive a Job that its deadline failed). Terminal pods run nothing and are left out: an
/// evicted or shut-down pod stays `Failed` until the pod GC's threshold (12,500 pods by default,
/// Kubernetes `pkg/controller/podgc`). One LIST, only while stopping or before a restore.
pub(super) async fn live_pods(ctx: &Context, ns: &str) -> Result<usize> {
    use k8s_openapi::api::core::v1::Pod;
    let api: kube::Api<Pod> = kube::Api::namespaced(ctx.client.clone(), ns);
    let running = kube::api::ListParams::default().fields("status.phase!=Failed,status.phase!=Succeeded");
    Ok(api.list_metadata(&running).await?.items.len())
}

/// The apps the operator enables in the space (the platform's, the class's, its office suite's)
/// that were enabled before the upgrade and that the upgrade Job's report no longer lists (every
/// one of them when the report lists none), as nextcloud/docker's entrypoint compares
/// `app:list` before and after `occ upgrade`.
fn lost_apps(space: &AssociationSpace, resolved: &ResolvedSpace, said: &str) -> Vec<String> {
    let before = space.status.as_ref().and_then(|s| s.apps.as_ref()).map(|a| a.enabled.clone()).unwrap_or_default();
    let after = enabled_apps(said).unwrap_or_default();
    let mut managed = resolved.apps();
    managed.extend(resolved.office.app().map(String::from));
    managed.into_iter().filter(|a| before.contains(a) && !after.contains(a)).collect()
}

/// Removes an ended upgrade's snapshot from the space's bucket, with the space's own key: it
/// counts against the bucket's hard quota, which Nextcloud's quota does not see.
async fn remove_snapshot(ctx: &Context, store: Option<&SnapshotStore<'_>>, key: &str) -> Result<usize> {
    let Some(s) = store else { return Ok(0) };
    let b = crate::provision::minio::Bucket {
        bucket: &s.bucket,
        access_key: &s.access_key,
        secret_key: &s.secret_key,
        quota_bytes: 0,
        writable: true,
    };
    Ok(ctx.pools.s3(s.pool).await?.remove_object(&b, key).await? as usize)
}

/// Empties the space's cache database: the version that runs next must not read what the other
/// one cached (app config, routes, file metadata), nor a lock a killed process left.
pub(super) async fn flush_cache(ctx: &Context, resolved: &ResolvedSpace, cache: Option<(&str, u32)>) -> Result<usize> {
    let Some((pool, database)) = cache else { return Ok(0) };
    let names = super::tenant::tenant_names(&resolved.name, resolved.adoption.as_ref());
    Ok(ctx.pools.redis(pool).await?.flush_space(&names, database).await? as usize)
}

fn seconds_since(t: &str, now: jiff::Timestamp) -> u64 {
    t.parse::<jiff::Timestamp>().map(|t| now.duration_since(t).as_secs().max(0) as u64).unwrap_or(0)
}

pub async fn step(ctx: &Context, inputs: UpgradeInputs<'_>, jobs: UpgradeJobs) -> Result<UpgradeOutcome> {
    use ConditionStatus::*;
    let UpgradeInputs { space, resolved, record, prior, recorded, database_pool, cache, snapshot_store, workload } = inputs;
    let mut out = UpgradeOutcome { status: prior.cloned(), ..UpgradeOutcome::default() };
    let Some(record) = record else { return Ok(out) };
    let ns = resolved.namespace.as_str();
    let target = resolved.class.nextcloud.version.as_str();
    let now = jiff::Timestamp::now();
    if let Some(u) = prior.filter(|u| u.phase.in_progress()) {
        out.busy = true;
        let pool = database_pool.unwrap_or_default();
        let store = snapshot_store.as_ref();
        return advance(ctx, Advance { space, resolved, record, upgrade: u.clone(), pool, cache, workload, jobs, now, store }, out).await;
    }
    if prior.is_some_and(|p| !p.phase.in_progress()) && recorded.map(|r| r.phase) != prior.map(|p| p.phase) {
        // Ended in this reconcile: the next one, with the end recorded, deletes the Jobs.
        out.retry_in = Some(CLEANUP);
    }
    if let Some(u) = recorded.filter(|u| !u.phase.in_progress()) {
        // The Jobs of the last upgrade, once its end is recorded (a cut before that finds them
        // again); their last lines are in its message. While they are there, the end is not
        // cleaned up yet: the snapshot goes first (its removal is idempotent), then the Jobs.
        let names = [snapshot_job_name(&u.target), upgrade_job_name(&u.target), restore_job_name(&u.target)];
        if names.iter().any(|n| job(ctx, ns, n).is_some()) {
            if let Some(key) = u.snapshot.as_deref().filter(|_| !resolved.class.rollout.keep_snapshots) {
                out.writes += remove_snapshot(ctx, snapshot_store.as_ref(), key).await?;
            }
            for name in names {
                if job(ctx, ns, &name).is_some() {
                    out.writes += jobs::delete(ctx, ns, &name).await?;
                }
            }
        }
    }
    let (runs, class) = (&record.version_string, &resolved.class_name);
    let behind = crate::rollout::release(runs).zip(crate::rollout::release(target));
    // A new image of the release it runs (a rebuild: a PHP or Apache fix, a baked app's update)
    // is an upgrade too: `occ upgrade` migrates the apps whose code changed and otherwise says
    // "already latest" (`core/Command/Upgrade.php`, ERROR_UP_TO_DATE = 0), through the same steps.
    let reference = resolved.image.clone();
    let rebuild = runs == target && !crate::api::class::same_image(&record.image, &reference);
    let wanted = if rebuild { format!("{target} (image {reference}, runs {})", record.image) } else { target.to_string() };
    out.condition = Some(if runs == target && !rebuild {
        up_to_date(True, "UpToDate", format!("runs Nextcloud {runs} ({}), the version of class {class}", record.version))
    } else if behind.is_some_and(|(r, t)| r > t) {
        up_to_date(
            False,
            "AheadOfClass",
            format!("runs Nextcloud {runs}, newer than class {class}'s {target}: Nextcloud is never downgraded"),
        )
    } else if let Some(u) = prior
        .filter(|u| u.target == target && crate::api::class::same_image(&u.target_image, &reference) && u.phase == UpgradePhase::Failed)
    {
        up_to_date(False, "UpgradeFailed", format!("the upgrade to {wanted} failed; runs {runs}, its database as before: {}", u.message))
    } else if space.spec.hold_upgrade {
        up_to_date(False, "UpgradeHeld", format!("runs {runs}; spec.holdUpgrade keeps it from class {class}'s {target}"))
    } else if behind.is_some_and(|(r, t)| t.0 > r.0 + 1) {
        up_to_date(
            False,
            "UpgradePathBlocked",
            format!(
                "runs {runs}; class {class}'s {target} is more than one major ahead, which Nextcloud refuses: the class must move to {}.x first",
                behind.map(|(r, _)| r.0 + 1).unwrap_or_default()
            ),
        )
    } else {
        let Some(pool) = database_pool else {
            out.condition = Some(up_to_date(False, "UpgradePending", "the space has no DatabasePool yet"));
            return Ok(out);
        };
        match ctx.rollouts.turn(class, &space.name_any(), pool) {
            Turn::Wait(why) => up_to_date(False, "UpgradePending", format!("runs {runs}; class {class} asks for {wanted}: {why}")),
            Turn::Go => {
                let u = UpgradeStatus::started(target, &reference, record, &now.to_string());
                let message = format!("upgrading from {runs} to {wanted}: the web workload stops before the snapshot");
                publish(space, ctx, EventType::Normal, "UpgradeStarted", &message, ACTION).await;
                ctx.metrics.upgrade_event("started");
                out.status = Some(u);
                out.busy = true;
                out.rebuild = true;
                up_to_date(False, UPGRADING, message)
            }
        }
    });
    Ok(out)
}

struct Advance<'a> {
    space: &'a AssociationSpace,
    resolved: &'a ResolvedSpace,
    record: &'a NextcloudStatus,
    upgrade: UpgradeStatus,
    pool: &'a str,
    cache: Option<(&'a str, u32)>,
    workload: &'a WorkloadObservation,
    jobs: UpgradeJobs,
    now: jiff::Timestamp,
    /// The space's bucket and key: where the snapshot is, and what copies it to the backups.
    store: Option<&'a SnapshotStore<'a>>,
}

/// The phase's Job once it has ended, with how. `None` while it runs, or when the cache does
/// not show it (just created, or lost: applied again under the same name).
pub(super) async fn ended(
    ctx: &Context,
    ns: &str,
    name: &str,
    job: Option<Job>,
    out: &mut UpgradeOutcome,
) -> Result<Option<(std::sync::Arc<Job>, JobState)>> {
    let Some(j) = self::job(ctx, ns, name) else {
        if let Some(job) = job {
            out.writes += jobs::create(ctx, ns, job).await?;
        }
        return Ok(None);
    };
    Ok(match job_state(&j) {
        JobState::Running => None,
        state => Some((j, state)),
    })
}

/// Moves `u` to `phase` now.
fn enter(u: &mut UpgradeStatus, phase: UpgradePhase, now: jiff::Timestamp, out: &mut UpgradeOutcome) {
    u.phase = phase;
    u.phase_since = now.to_string();
    out.rebuild = true;
}

async fn advance(ctx: &Context, a: Advance<'_>, mut out: UpgradeOutcome) -> Result<UpgradeOutcome> {
    use ConditionStatus::*;
    let Advance { space, resolved, record, mut upgrade, pool, cache, workload, jobs, now, store } = a;
    let u = &mut upgrade;
    let ns = resolved.namespace.as_str();
    let (from, target) = (u.from.version_string.clone(), u.target.clone());
    let timeout = u64::try_from(resolved.class.rollout.step_timeout_seconds).unwrap_or(1800);
    let elapsed = seconds_since(&u.phase_since, now);
    let logs = |name: &str| format!("kubectl -n {ns} logs job/{name}");
    let condition = |reason: &str, message: String| up_to_date(False, reason, message);
    let cond = match u.phase {
        UpgradePhase::Stopping => {
            let scaled_down = !workload.exists
                || (workload.desired_replicas == 0 && workload.replicas == 0 && workload.observed_generation >= workload.generation);
            // The snapshot starts once no process of the space is left: no web pod, terminating
            // or not, and no occ Job of the old version still writing.
            let left = if scaled_down { live_pods(ctx, ns).await? } else { workload.replicas.max(1) as usize };
            if left == 0 {
                if let Some(job) = jobs.snapshot {
                    out.writes += jobs::create(ctx, ns, job).await?;
                    enter(u, UpgradePhase::Snapshotting, now, &mut out);
                    condition(
                        UPGRADING,
                        format!(
                            "{from} → {target}: the web workload is stopped; snapshot of the database (Job {})",
                            snapshot_job_name(&target)
                        ),
                    )
                } else {
                    let why = "the space has no database or bucket binding for its snapshot, or its DatabasePool's server major is not known yet (status.serverVersion)";
                    return give_up(ctx, space, pool, upgrade, why, now, out).await;
                }
            } else if elapsed > timeout {
                let why = format!("the web workload did not stop within {timeout}s");
                return give_up(ctx, space, pool, upgrade, &why, now, out).await;
            } else {
                // The pods' end is not watched: looked at again shortly.
                out.retry_in = Some(Duration::from_secs(2));
                condition(UPGRADING, format!("{from} → {target}: stopping the web workload and the occ Jobs ({left} pod(s) left)"))
            }
        }
        UpgradePhase::Snapshotting => {
            let name = snapshot_job_name(&target);
            match ended(ctx, ns, &name, jobs.snapshot, &mut out).await? {
                None => condition(UPGRADING, format!("{from} → {target}: snapshot of the database (Job {name})")),
                Some((j, JobState::Succeeded)) => {
                    let said = occ_output(ctx, ns, &j).await?.unwrap_or_default();
                    match SnapshotReport::parse(&said) {
                        Some(r) => {
                            u.snapshot = Some(r.snapshot.clone());
                            u.snapshot_bytes = Some(r.bytes);
                            u.snapshot_sha256 = Some(r.sha256.clone());
                            u.snapshot_seconds = Some(elapsed as i64);
                            ctx.metrics.snapshot_bytes(r.bytes);
                            // One mechanism for every copy of a space: with a backup policy the
                            // snapshot is kept as a backup, out of the users' bucket and quota.
                            if let (Some(policy), Some(st)) = (resolved.class.backup.as_ref(), store) {
                                let id = crate::render::backup::backup_id(now);
                                let taken = super::backup::Taken {
                                    id: &id,
                                    started_at: &u.phase_since,
                                    trigger: "Upgrade",
                                    dump_key: &r.snapshot,
                                    report: r.clone(),
                                    nextcloud: u.from.clone(),
                                };
                                match super::backup::keep(ctx, policy, resolved, st, taken).await {
                                    Ok(kept) => {
                                        u.snapshot_backup = Some(id);
                                        out.backup = Some(kept);
                                        out.writes += remove_snapshot(ctx, Some(st), &r.snapshot).await?;
                                    }
                                    Err(f) => {
                                        let note = format!(
                                            "the snapshot stays in the space's bucket: it could not be kept as a backup ({}: {})",
                                            f.reason, f.message
                                        );
                                        publish(space, ctx, EventType::Warning, "BackupFailed", &note, ACTION).await;
                                    }
                                }
                            }
                            let message = format!(
                                "snapshot {} ({} bytes) taken; upgrade Job {} on {}",
                                r.snapshot,
                                r.bytes,
                                upgrade_job_name(&target),
                                u.target_image
                            );
                            publish(space, ctx, EventType::Normal, "Snapshotted", &message, ACTION).await;
                            if let Some(job) = jobs.migrate {
                                out.writes += jobs::create(ctx, ns, job).await?;
                            }
                            enter(u, UpgradePhase::Migrating, now, &mut out);
                            condition(UPGRADING, format!("{from} → {target}: {message}"))
                        }
                        None => {
                            let why = format!("the snapshot Job {name} reported no snapshot: {}", summarize(&said, 300));
                            return give_up(ctx, space, pool, upgrade, &why, now, out).await;
                        }
                    }
                }
                Some((j, state)) => {
                    let said = summarize(&occ_output(ctx, ns, &j).await?.unwrap_or_default(), 400);
                    let message = match state {
                        JobState::Failed { message, .. } => message,
                        _ => String::new(),
                    };
                    let why = format!("the snapshot failed ({message}): {said}; {}", logs(&name));
                    return give_up(ctx, space, pool, upgrade, &why, now, out).await;
                }
            }
        }
        UpgradePhase::Migrating => {
            let name = upgrade_job_name(&target);
            match ended(ctx, ns, &name, jobs.migrate, &mut out).await? {
                None => condition(UPGRADING, format!("{from} → {target}: occ upgrade (Job {name})")),
                Some((j, state)) => {
                    let said = occ_output(ctx, ns, &j).await?.unwrap_or_default();
                    let reported = OccStatus::parse(&said);
                    let lost = lost_apps(space, resolved, &said);
                    match (state, reported) {
                        (JobState::Succeeded, Some(s)) if s.serving() && s.version_string == target && !lost.is_empty() => {
                            // `Updater::checkAppsRequirements` disabled them (absent from the new
                            // code, or not compatible with it) and `occ upgrade` still exited 0:
                            // the space would run without an app the platform or its class
                            // promises (its quota, its office suite).
                            let why = format!(
                                "occ upgrade disabled {} (Disabled incompatible app: absent from or incompatible with {}); {}",
                                lost.join(", "),
                                u.target_image,
                                logs(&name)
                            );
                            restore(ctx, space, ns, u, &why, now, &mut out).await?;
                            condition(UPGRADING, format!("{from} → {target} failed, restoring the snapshot: {why}"))
                        }
                        (JobState::Succeeded, Some(s)) if s.serving() && s.version_string == target => {
                            out.writes += flush_cache(ctx, resolved, cache).await?;
                            out.apps = enabled_apps(&said).map(|enabled| AppsStatus {
                                requested: space
                                    .status
                                    .as_ref()
                                    .and_then(|st| st.apps.as_ref())
                                    .map(|a| a.requested.clone())
                                    .unwrap_or_default(),
                                enabled,
                            });
                            let nc = NextcloudStatus {
                                version: s.version.clone(),
                                version_string: s.version_string.clone(),
                                image: u.target_image.clone(),
                            };
                            let message = format!(
                                "Nextcloud {} ({}) migrated by Job {name}; the web workload starts on {}",
                                s.version_string, s.version, nc.image
                            );
                            publish(space, ctx, EventType::Normal, "Migrated", &message, ACTION).await;
                            out.record = Some(nc);
                            enter(u, UpgradePhase::Verifying, now, &mut out);
                            condition(UPGRADING, format!("{from} → {target}: {message}"))
                        }
                        (state, reported) => {
                            let why = match (state, reported) {
                                (JobState::Succeeded, Some(s)) => format!(
                                    "the upgrade Job {name} ended but Nextcloud reports {} (installed {}, maintenance {}, upgrade needed {}), not {target}",
                                    s.version_string, s.installed, s.maintenance, s.needs_db_upgrade
                                ),
                                (JobState::Succeeded, None) => format!("the upgrade Job {name} ended without occ status"),
                                _ => format!("the upgrade Job {name} failed: {}", summarize(&said, 400)),
                            };
                            restore(ctx, space, ns, u, &why, now, &mut out).await?;
                            condition(UPGRADING, format!("{from} → {target} failed, restoring the snapshot: {why}"))
                        }
                    }
                }
            }
        }
        UpgradePhase::Verifying => {
            let settle = u64::try_from(resolved.class.rollout.settle_seconds).unwrap_or(0);
            let on_target = record.version_string == target;
            if on_target && resolved.suspended {
                // A suspended space serves nobody: the upgrade Job's own `occ status` (installed,
                // normal mode, no upgrade needed, at the target) is the whole proof there will be;
                // waiting for a web pod that never starts would fail it and pause the rollout.
                let message =
                    format!("upgraded from {from} to {target} while suspended: the upgrade Job's occ status reports {target} serving");
                return succeed(ctx, space, pool, upgrade, message, record, now, out).await;
            }
            if on_target && workload.desired_replicas > 0 && workload.available() {
                u.served_since.get_or_insert_with(|| now.to_string());
                let since = u.ready_since.get_or_insert_with(|| now.to_string()).clone();
                let served = seconds_since(&since, now);
                if served >= settle {
                    let message = format!("upgraded from {from} to {target}; ready for {served}s");
                    return succeed(ctx, space, pool, upgrade, message, record, now, out).await;
                }
                out.retry_in = Some(Duration::from_secs(settle - served).max(Duration::from_secs(1)));
                // Served: no more a reason to stop the apps and office steps.
                out.busy = false;
                condition(UPGRADING, format!("{from} → {target}: ready on {target} for {served}s of {settle}s"))
            } else if u.served_since.is_none() && elapsed > timeout {
                // Never ready, so never served: the snapshot is still the whole truth.
                let why = format!("Nextcloud {target} did not become ready within {timeout}s");
                out.record = Some(u.from.clone());
                restore(ctx, space, ns, u, &why, now, &mut out).await?;
                condition(UPGRADING, format!("{from} → {target} failed, restoring the snapshot: {why}"))
            } else if elapsed > timeout {
                // It served, so users may have written to the new version since: no rollback to
                // the snapshot, which would lose that. It stays on the target, failed, its slot
                // freed, for a person to look at.
                let since = u.served_since.clone().unwrap_or_default();
                let why = format!(
                    "Nextcloud {target} served from {since} but was not ready again within {timeout}s; kept on {target} (users may have written to it), not rolled back"
                );
                u.ready_since = None;
                return give_up(ctx, space, pool, upgrade, &why, now, out).await;
            } else {
                // Settling starts again from the next ready look.
                u.ready_since = None;
                out.retry_in = Some(Duration::from_secs(10));
                condition(UPGRADING, format!("{from} → {target}: waiting for the web workload on {target} to be ready"))
            }
        }
        UpgradePhase::Restoring => {
            let name = restore_job_name(&target);
            // Nothing of the failed version may run when the restore starts: a process still
            // writing, or a statement waiting on the restore's locks, would change the restored
            // database after its COMMIT.
            let left = if job(ctx, ns, &name).is_none() { live_pods(ctx, ns).await? } else { 0 };
            if left > 0 {
                out.retry_in = Some(Duration::from_secs(2));
                out.condition = Some(condition(
                    UPGRADING,
                    format!("{from} → {target} failed; the restore waits for {left} pod(s) of the space to end: {}", u.message),
                ));
                out.status = Some(upgrade);
                return Ok(out);
            }
            if let (None, Some(id), Some(policy), Some(st)) =
                (job(ctx, ns, &name), u.snapshot_backup.as_deref(), resolved.class.backup.as_ref(), store)
            {
                // The snapshot is a backup: its dump comes back to where the restore Job reads it.
                let backups =
                    super::backup::open(ctx, policy, &resolved.name).await.map_err(|f| crate::provision::ProvisionError::Failed {
                        system: crate::provision::System::Minio,
                        operation: "reach the backup store",
                        message: f.message,
                    })?;
                super::backup::fetch_dump(ctx, &backups, st, id, u.snapshot.as_deref().unwrap_or_default()).await?;
            }
            match ended(ctx, ns, &name, jobs.restore.clone(), &mut out).await? {
                None => condition(UPGRADING, format!("{from} → {target} failed, restoring the snapshot (Job {name}): {}", u.message)),
                Some((j, JobState::Succeeded))
                    if restored(&occ_output(ctx, ns, &j).await?.unwrap_or_default(), u.snapshot.as_deref().unwrap_or_default()) =>
                {
                    out.writes += flush_cache(ctx, resolved, cache).await?;
                    let message = format!(
                        "the upgrade to {target} failed and the snapshot {} was restored; back on {from}: {}",
                        u.snapshot.as_deref().unwrap_or_default(),
                        u.message
                    );
                    publish(space, ctx, EventType::Warning, "UpgradeRolledBack", &message, ACTION).await;
                    ctx.metrics.upgrade_event("rolled_back");
                    u.phase = UpgradePhase::Failed;
                    u.phase_since = now.to_string();
                    out.rebuild = true;
                    if record.version_string != u.from.version_string {
                        out.record = Some(u.from.clone());
                    }
                    ctx.rollouts.release(pool, &space.name_any());
                    out.busy = false;
                    out.retry_in = Some(CLEANUP);
                    out.condition = Some(up_to_date(False, "UpgradeFailed", message));
                    out.status = Some(upgrade);
                    return Ok(out);
                }
                Some((j, state)) => {
                    let said = summarize(&occ_output(ctx, ns, &j).await?.unwrap_or_default(), 300);
                    let at = match &state {
                        JobState::Failed { at, .. } => at.clone(),
                        _ => u.phase_since.clone(),
                    };
                    let message = format!(
                        "the restore of {} failed: {said}; {}; the space stays stopped",
                        u.snapshot.as_deref().unwrap_or_default(),
                        logs(&name)
                    );
                    if seconds_since(&at, now) >= 60 {
                        // Again from the same snapshot: the restore is one transaction.
                        out.writes += jobs::delete(ctx, ns, &name).await?;
                        if let Some(job) = jobs.restore {
                            out.writes += jobs::create(ctx, ns, job).await?;
                        }
                    } else {
                        out.retry_in = Some(Duration::from_secs(60));
                    }
                    // Once per failed attempt, not at every look while it waits to try again.
                    let told = space
                        .status
                        .as_ref()
                        .and_then(|st| st.conditions.iter().find(|c| c.type_ == UP_TO_DATE))
                        .is_some_and(|c| c.reason == RESTORE_FAILED);
                    if !told {
                        publish(space, ctx, EventType::Warning, RESTORE_FAILED, &message, ACTION).await;
                    }
                    condition(RESTORE_FAILED, message)
                }
            }
        }
        UpgradePhase::Succeeded | UpgradePhase::Failed => return finish(out, upgrade),
    };
    out.condition = Some(cond);
    out.status = Some(upgrade);
    Ok(out)
}

/// The Jobs are deleted at the next reconcile, once the status records the end.
const CLEANUP: Duration = Duration::from_secs(2);

fn finish(mut out: UpgradeOutcome, u: UpgradeStatus) -> Result<UpgradeOutcome> {
    out.busy = u.phase.in_progress();
    if !out.busy {
        out.retry_in = Some(CLEANUP);
    }
    if out.condition.is_none() {
        out.condition =
            Some(up_to_date(ConditionStatus::False, "UpgradeFailed", format!("the upgrade to {} failed: {}", u.target, u.message)));
    }
    out.status = Some(u);
    Ok(out)
}

/// An upgrade that ends without a restore: before anything changed in the database (back on
/// the version it had), or after the new version served (kept on it); its slot given back.
async fn give_up(
    ctx: &Context,
    space: &AssociationSpace,
    pool: &str,
    mut u: UpgradeStatus,
    why: &str,
    now: jiff::Timestamp,
    mut out: UpgradeOutcome,
) -> Result<UpgradeOutcome> {
    u.message = why.to_string();
    enter(&mut u, UpgradePhase::Failed, now, &mut out);
    ctx.metrics.upgrade_event("failed");
    // Every other caller gives up before the migration touched the database.
    let message = if u.served_since.is_some() {
        format!("the upgrade to {} failed: {why}", u.target)
    } else {
        format!("the upgrade to {} failed, nothing was changed: {why}", u.target)
    };
    publish(space, ctx, EventType::Warning, "UpgradeFailed", &message, ACTION).await;
    ctx.rollouts.release(pool, &space.name_any());
    finish(out, u)
}

/// A failure once the migration may have touched the database: the snapshot is restored, by a
/// Job the Restoring phase creates once no pod of the space is left.
async fn restore(
    ctx: &Context,
    space: &AssociationSpace,
    ns: &str,
    u: &mut UpgradeStatus,
    why: &str,
    now: jiff::Timestamp,
    out: &mut UpgradeOutcome,
) -> Result<()> {
    u.message = why.to_string();
    enter(u, UpgradePhase::Restoring, now, out);
    publish(
        space,
        ctx,
        EventType::Warning,
        "UpgradeFailed",
        &format!("{why}; restoring snapshot {} once the space's pods in {ns} are gone", u.snapshot.as_deref().unwrap_or_default()),
        ACTION,
    )
    .await;
    Ok(())
}

/// The upgrade verified: recorded as Succeeded, its slot given back.
#[allow(clippy::too_many_arguments)]
async fn succeed(
    ctx: &Context,
    space: &AssociationSpace,
    pool: &str,
    mut u: UpgradeStatus,
    message: String,
    record: &NextcloudStatus,
    now: jiff::Timestamp,
    mut out: UpgradeOutcome,
) -> Result<UpgradeOutcome> {
    u.phase = UpgradePhase::Succeeded;
    u.phase_since = now.to_string();
    u.message = message;
    publish(space, ctx, EventType::Normal, "Upgraded", &u.message, ACTION).await;
    ctx.metrics.upgrade_event("succeeded");
    ctx.metrics.upgrade_downtime(seconds_since(&u.started_at, now));
    ctx.rollouts.release(pool, &space.name_any());
    out.busy = false;
    out.retry_in = Some(CLEANUP);
    out.condition = Some(up_to_date(
        ConditionStatus::True,
        "UpToDate",
        format!("runs Nextcloud {} ({}), upgraded from {}", u.target, record.version, u.from.version_string),
    ));
    out.status = Some(u);
    Ok(out)
}
