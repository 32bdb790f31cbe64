//! The AssociationSpace reconcile, as a pipeline of named steps, one file each:
//!
//! resolve → adoption (an existing instance: read only until managed) → finalizer → placement → build (pure, every object) → namespace → credentials →
//! provisioning (database, cache, bucket) → usage (the bucket against its quota) → sleep (idle: zero web pods; woken on request) → apply (workload, exposure) → install → restore (a SpaceRestore) → upgrade → backup → apps → office →
//! status (computed by `conditions`, written by `status`); and on deletion, `release`.
//!
//! The driver below only calls the steps in order. A step that fails stops the ones after it;
//! the condition it belongs to says why, and the error decides the retry (transient: backoff;
//! permanent: wait for a change of the spec).

pub mod adoption;
pub mod apply;
pub mod apps;
pub mod backup;
pub mod build;
pub mod conditions;
pub mod credentials;
pub mod edge;
pub mod features;
pub mod finalizer;
pub mod install;
pub mod jobs;
pub mod namespace;
pub mod office;
pub mod placement;
pub mod provisioning;
pub mod release;
pub mod resolve;
pub mod restore;
pub mod sleep;
pub mod status;
pub mod store;
pub mod talk;
pub mod tenant;
pub mod triggers;
pub mod upgrade;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::{Instrument, debug, info, info_span, warn};

use self::conditions::{Observation, StepFailure};
use crate::api::AssociationSpace;
use crate::api::adoption::{AdoptionPolicy, AdoptionState};
use crate::api::conditions::{Condition, now_rfc3339};
use crate::api::labels::{APPS_READY, BACKED_UP, INGRESS_READY, INSTALLED, OFFICE_READY, PLACED, TALK_READY, UP_TO_DATE, WORKLOAD_READY};
use crate::api::space::UpgradeStatus;
use crate::api::space::{AppsStatus, NextcloudStatus, Placement};
use crate::controller::Context;
use crate::controller::workload::WorkloadObservation;
use crate::error::{Error, Result};
use crate::render::names;

pub async fn reconcile(space: Arc<AssociationSpace>, ctx: Arc<Context>) -> Result<Action> {
    let space = ctx.own_writes.newest(space);
    let metrics = ctx.metrics.clone();
    metrics.reconcile("space", reconcile_space(space, ctx)).await
}

async fn reconcile_space(space: Arc<AssociationSpace>, ctx: Arc<Context>) -> Result<Action> {
    let name = space.name_any();
    let span = info_span!("reconcile", space = %name, generation = space.metadata.generation.unwrap_or_default());
    async move {
        // A cold cache would read as missing objects, classes or pools: a space would render
        // without its bindings and roll its pods for nothing.
        if !ctx.wait_until_ready(Duration::from_secs(60)).await {
            return Err(Error::StillTerminating("the initial sync of the caches".into()));
        }
        let result = if space.metadata.deletion_timestamp.is_some() {
            release::finalize(&space, &ctx).await
        } else {
            converge_twice(&space, &ctx).await
        };
        if result.is_ok() {
            ctx.clear_failures(&name);
        }
        result
    }
    .instrument(span)
    .await
}

pub fn error_policy(space: Arc<AssociationSpace>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_permanent() {
        return Action::await_change();
    }
    let delay = ctx.retry_delay(&space.name_any());
    warn!(space = %space.name_any(), reason = error.reason(), error = %error, retry_in_ms = delay.as_millis() as u64, "transient failure, will retry");
    Action::requeue(delay)
}

/// A step's error, with the condition it shows in.
type StepResult<T> = std::result::Result<T, (&'static str, Error)>;

trait ShowsIn<T> {
    fn shows_in(self, condition: &'static str) -> StepResult<T>;
}

impl<T> ShowsIn<T> for Result<T> {
    fn shows_in(self, condition: &'static str) -> StepResult<T> {
        self.map_err(|e| (condition, e))
    }
}

/// What the write steps of one reconcile did.
#[derive(Default)]
struct Progress {
    writes: usize,
    provisioned: Option<provisioning::Provisioned>,
    usage: Option<usage::Measured>,
    install: Option<install::Installed>,
    office: Option<Condition>,
    /// TalkReady from the talk step, when it ran (`Some(None)`: the space has no Talk).
    talk: Option<Option<Condition>>,
    /// The apps an office Job reported enabled, read in this reconcile.
    office_apps: Option<Vec<String>>,
    apps: Option<apps::AppsOutcome>,
    upgrade: Option<upgrade::UpgradeOutcome>,
    backup: Option<backup::BackupOutcome>,
    restore: Option<restore::RestoreOutcome>,
    sleep: Option<sleep::Slept>,
    /// What publishes the space, when the apply step ran.
    edge: Option<edge::Edge>,
}

/// What a pass that changed what the space runs hands to the second: the record (the install
/// succeeded, or an upgrade migrated or restored), the apps the install enabled, and the
/// upgrade's new phase.
struct Carried {
    record: Option<NextcloudStatus>,
    apps: Option<AppsStatus>,
    upgrade: Option<UpgradeStatus>,
    /// The adoption report the first pass took the space over with.
    adoption: Option<crate::api::adoption::AdoptionStatus>,
    /// `status.restore` as the first pass left it.
    restore: Option<crate::api::restore::SpaceRestoreState>,
    /// `status.backups` as the first pass left it (an upgrade's snapshot kept as a backup).
    backups: Option<crate::api::backup::BackupsStatus>,
    /// `status.sleep` as the first pass decided it.
    sleep: Option<crate::api::sleep::SleepStatus>,
}

/// What one pass of the pipeline ended with.
enum Pass {
    Done(Action),
    /// The install succeeded, or the upgrade moved to a phase that runs other objects: they are
    /// built by a second pass at once, which writes the status once for both.
    Rebuild(Box<Carried>),
}

async fn converge_twice(space: &AssociationSpace, ctx: &Context) -> Result<Action> {
    match Box::pin(converge(space, ctx, None)).await? {
        Pass::Done(action) => Ok(action),
        Pass::Rebuild(carried) => match Box::pin(converge(space, ctx, Some(*carried))).await? {
            Pass::Done(action) => Ok(action),
            // A second pass never asks for a third (see `converge`).
            Pass::Rebuild(_) => Ok(Action::requeue(Duration::from_secs(1))),
        },
    }
}

async fn converge(space: &AssociationSpace, ctx: &Context, carried: Option<Carried>) -> Result<Pass> {
    let previous = space.status.clone().unwrap_or_default();
    let generation = space.metadata.generation;
    let served_at =
        |name: &str, host: &str| ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(name)).is_some_and(|s| s.served_at(host));
    let backend_at =
        |host: &str| ctx.backends.offices.state().iter().find(|b| b.spec.host.eq_ignore_ascii_case(host)).map(|b| b.name_any());
    let resolved = match resolve::step(space, &ctx.classes.state(), served_at, backend_at) {
        Ok(r) => r,
        Err(e) => {
            // Nothing that runs is touched: an invalid spec or a missing class only shows in status.
            let o = Observation {
                generation,
                backing: Vec::new(),
                deleting: false,
                resolved: Err(&e),
                workload: WorkloadObservation::default(),
                edge: edge::Edge::Ingress { exists: false, route_kept: false },
                failure: None,
                office: None,
                talk: None,
                apps_condition: None,
                apps: None,
                install: None,
                nextcloud: previous.nextcloud.clone(),
                upgrade_condition: None,
                upgrade: previous.upgrade.clone(),
                usage: previous.usage.clone(),
                adoption: previous.adoption.clone(),
                backups: previous.backups.clone(),
                restore: previous.restore.clone(),
                sleep: previous.sleep.clone(),
                previous: &previous,
            };
            status::write(space, ctx, conditions::compute(&o, &now_rfc3339())).await?;
            return Err(e.into());
        }
    };
    let second_pass = carried.is_some();
    let carried_adoption = carried.as_ref().and_then(|c| c.adoption.clone());
    // An adopted instance is read, and nothing written but this status, until a clean report
    // meets `policy: Manage`; from then on it is run like any space, on its own data.
    let adoption = match &resolved.adoption {
        None => None,
        Some(_) if second_pass => carried_adoption.or_else(|| previous.adoption.clone().map(adoption::managed)),
        Some(_) if previous.adoption.as_ref().is_some_and(|a| a.state == AdoptionState::Managed) => previous.adoption.clone(),
        Some(a) => {
            let report = adoption::observe(ctx, space, &resolved, previous.adoption.as_ref()).await;
            if a.policy == AdoptionPolicy::Observe || !report.allows_manage() {
                let waiting = report.state == AdoptionState::Observing;
                status::write(space, ctx, conditions::observing(&previous, &resolved, report, generation, &now_rfc3339())).await?;
                let delay = if waiting { Duration::from_secs(30).min(ctx.resync_delay()) } else { ctx.resync_delay() };
                return Ok(Pass::Done(Action::requeue(delay)));
            }
            info!(space = %resolved.name, "the adoption report is clean and the policy is Manage: taking the space over");
            Some(adoption::managed(report))
        }
    };
    if restore::clone_unconfirmed(ctx, space) {
        debug!(space = %resolved.name, "a clone its restore has not recorded yet: waiting");
        return Ok(Pass::Done(Action::requeue(Duration::from_secs(2))));
    }
    finalizer::ensure(space, ctx).await?;
    let placed = placement::step(space, &resolved, ctx).await?;
    let bindings = placement::bindings(ctx, &resolved, &placed.placement);
    let ns = resolved.namespace.as_str();
    let (carried_record, carried_apps, carried_upgrade, prior_restore, prior_backups, prior_sleep) = match carried {
        Some(c) => (c.record, c.apps, c.upgrade, c.restore, c.backups, c.sleep),
        None => (None, None, None, previous.restore.clone(), previous.backups.clone(), previous.sleep.clone()),
    };
    let prior_upgrade = carried_upgrade.or_else(|| previous.upgrade.clone());
    // During and after an upgrade the status is the newer record (written with each phase, and
    // read through `own_writes`); the namespace's annotation follows it in this pass.
    let record = carried_record
        .or_else(|| match (prior_upgrade.is_some() || prior_restore.is_some(), &previous.nextcloud) {
            (true, Some(nc)) => Some(nc.clone()),
            _ => install::recorded(ctx, ns, &previous),
        })
        // A re-attached space runs the Nextcloud its retained data holds: no install over it.
        .or_else(|| placed.retained_record.clone().filter(|_| space.reattaches_retained()))
        // An adopted one runs the Nextcloud its config.php records.
        .or_else(|| adoption.as_ref().and_then(|_| adoption::record(&resolved)))
        // A clone, the Nextcloud of the backup it is filled from.
        .or_else(|| restore::clone_record(ctx, space));
    let applied_apps = carried_apps.clone().or_else(|| previous.apps.clone());
    let inputs = build::BuildInputs {
        placement: &placed.placement,
        bindings: &bindings,
        access: ctx.secret_access.as_ref(),
        installed: record.as_ref(),
        install_attempt: install::next_attempt(ctx, ns),
        applied_apps: applied_apps.as_ref().map(|a| a.requested.as_slice()).unwrap_or_default(),
        upgrade: prior_upgrade.as_ref(),
        backup: prior_backups.as_ref().and_then(|b| b.running.as_ref()).map(|r| r.id.as_str()),
        restore: prior_restore.as_ref(),
        held: restore::clone_waiting(ctx, space),
        sleep: prior_sleep.as_ref(),
        wake_target: ctx.config.wake_service.as_deref(),
    };
    let objects = build::space_objects(&resolved, inputs);
    let build::SpaceObjects {
        namespace: namespace_objects,
        workload,
        exposure,
        install: install_job,
        office: wiring,
        talk: talk_wiring,
        apps: app_wiring,
        upgrade: upgrade_jobs,
        backup: backup_job,
        restore: restore_job,
        background: background_job,
    } = objects;

    let mut progress = Progress::default();
    let outcome: StepResult<()> = async {
        if let Some(held) = placed.unclaimed_retained(space) {
            // Whoever may create spaces must not get a former tenant's data by reusing its name.
            return Err(Error::RetainedDataHeld { space: resolved.name.clone(), held }).shows_in(PLACED);
        }
        progress.writes += namespace::apply(ctx, namespace_objects).await.shows_in(WORKLOAD_READY)?;
        placement::settled(ctx, &resolved.name, ns).await;
        if placed.retained.is_some() {
            // The namespace now records the placement: the ledger entry has done its job.
            placement::record_retained(ctx, &resolved.name, None).await.shows_in(WORKLOAD_READY)?;
        }
        let identity = credentials::NewIdentity::for_space(record.is_some(), space.annotations());
        let source = restore::clone_source(ctx, space);
        let creds = credentials::ensure(&resolved, ctx, &placed, &bindings, identity, source.as_deref()).await.shows_in(WORKLOAD_READY)?;
        progress.writes += namespace::written(creds.applied);
        let refused = usage::writes_refused(previous.usage.as_ref());
        let provisioned = provisioning::step(ctx, &resolved, &placed, &creds.data, refused).await;
        progress.writes += provisioned.writes as usize;
        let backing = provisioned.conditions.clone();
        let storage_ready = backing.iter().any(|c| c.type_ == crate::api::labels::STORAGE_READY && c.is_true());
        progress.provisioned = Some(provisioned);
        let database_ready = backing.iter().any(|c| c.type_ == crate::api::labels::DATABASE_READY && c.is_true());
        let inputs = usage::UsageInputs {
            space,
            resolved: &resolved,
            placement: &placed.placement,
            creds: &creds.data,
            previous: previous.usage.as_ref(),
            storage_ready,
            accounts_readable: database_ready && record.is_some(),
        };
        let measured = usage::step(ctx, inputs).await;
        progress.writes += measured.writes as usize;
        progress.usage = Some(measured);
        let busy = match (&prior_upgrade, &prior_restore) {
            (_, Some(_)) => Some("Restoring"),
            (Some(u), _) if u.phase.in_progress() => Some("Upgrading"),
            _ => None,
        };
        let observed = web_observed(ctx, ns);
        let inputs = sleep::SleepInputs {
            space,
            resolved: &resolved,
            previous: prior_sleep.as_ref(),
            installed: record.is_some(),
            busy,
            workload: &observed,
            database_pool: placed.placement.database_pool.as_deref().filter(|_| database_ready),
            creds: &creds.data,
            recorded_use: previous.usage.as_ref().and_then(|u| u.accounts.as_ref()).and_then(|a| a.last_activity.as_deref()),
            job: background_job,
        };
        let slept = Box::pin(sleep::step(ctx, inputs)).await.shows_in(WORKLOAD_READY)?;
        progress.writes += slept.writes;
        let changed = slept.rebuild && !second_pass;
        progress.sleep = Some(slept);
        if changed {
            // Its web, its route and its background run follow in the second pass.
            return Ok(());
        }
        progress.writes += apply::workload(ctx, ns, workload).await.shows_in(WORKLOAD_READY)?;
        let exposed = apply::exposure(space, ctx, ns, exposure, resolved.class.ingress.gateway.as_ref()).await.shows_in(INGRESS_READY)?;
        progress.writes += exposed.writes;
        progress.edge = Some(exposed.edge);
        let inputs = install::InstallInputs {
            space,
            resolved: &resolved,
            backing: &backing,
            creds: &creds.data,
            record: record.as_ref(),
            previous: &previous,
            database_pool: placed.placement.database_pool.as_deref(),
        };
        // Boxed, like the office step: the reconcile's future stays small enough for a test thread's stack.
        let installed = Box::pin(install::step(ctx, inputs, install_job)).await.shows_in(INSTALLED)?;
        progress.writes += installed.writes;
        if installed.just_installed {
            progress.install = Some(installed);
            return Ok(());
        }
        progress.install = Some(installed);
        let inputs = restore::RestoreInputs {
            space,
            resolved: &resolved,
            previous: &previous,
            state: prior_restore.as_ref(),
            record: record.as_ref(),
            store: space_store(ctx, &resolved, &placed.placement, &creds.data),
            cache: placed.placement.cache_pool.as_deref().zip(placed.placement.cache_database),
            job: restore_job,
        };
        let restored = Box::pin(restore::step(ctx, inputs)).await.shows_in(WORKLOAD_READY)?;
        progress.writes += restored.writes;
        let in_maintenance = restored.busy || restored.rebuild;
        progress.restore = Some(restored);
        if in_maintenance {
            // Nothing runs against a space whose data is being replaced.
            return Ok(());
        }
        let observed = web_observed(ctx, ns);
        let inputs = upgrade::UpgradeInputs {
            space,
            resolved: &resolved,
            record: record.as_ref(),
            prior: prior_upgrade.as_ref(),
            recorded: previous.upgrade.as_ref(),
            database_pool: placed.placement.database_pool.as_deref(),
            cache: placed.placement.cache_pool.as_deref().zip(placed.placement.cache_database),
            snapshot_store: space_store(ctx, &resolved, &placed.placement, &creds.data),
            workload: &observed,
        };
        let upgraded = Box::pin(upgrade::step(ctx, inputs, upgrade_jobs)).await.shows_in(UP_TO_DATE)?;
        progress.writes += upgraded.writes;
        let busy = upgraded.busy;
        progress.upgrade = Some(upgraded);
        if busy {
            // No occ Job runs against a Nextcloud that is stopped, migrating or restored.
            return Ok(());
        }
        let inputs = backup::BackupInputs {
            space,
            resolved: &resolved,
            record: record.as_ref(),
            previous: prior_backups.as_ref(),
            busy,
            store: space_store(ctx, &resolved, &placed.placement, &creds.data),
            job: backup_job,
        };
        let backed = Box::pin(backup::step(ctx, inputs)).await.shows_in(BACKED_UP)?;
        progress.writes += backed.writes;
        progress.backup = Some(backed);
        let drift = placed.placement.database_pool.as_deref().map(|pool| apps::DriftCheck {
            pool,
            password: provisioning::text(&creds.data, crate::render::credentials::DATABASE_PASSWORD),
        });
        let applied = Box::pin(apps::step(ctx, space, &resolved, record.is_some(), applied_apps.as_ref(), app_wiring, drift))
            .await
            .shows_in(APPS_READY)?;
        progress.writes += applied.writes;
        progress.apps = Some(applied);
        let inputs =
            office::OfficeInputs { space, resolved: &resolved, bindings: &bindings, placement_errors: &placed.errors, previous: &previous };
        let wired = Box::pin(office::step(ctx, inputs, wiring)).await.shows_in(OFFICE_READY)?;
        progress.writes += wired.writes;
        progress.office = Some(wired.condition);
        progress.office_apps = wired.enabled;
        let inputs =
            talk::TalkInputs { space, resolved: &resolved, bindings: &bindings, placement_errors: &placed.errors, previous: &previous };
        let talked = Box::pin(talk::step(ctx, inputs, talk_wiring)).await.shows_in(TALK_READY)?;
        progress.writes += talked.writes;
        progress.talk = Some(talked.condition);
        Ok(())
    }
    .await;

    let failure =
        outcome.as_ref().err().map(|(condition, e)| StepFailure { condition, reason: e.reason().to_string(), message: e.to_string() });
    let edge = match progress.edge.take() {
        Some(edge) => edge,
        None => edge::observed(ctx, ns, resolved.class.ingress.gateway.as_ref()),
    };
    let (backing, provision_failure) = match progress.provisioned {
        Some(p) => (p.conditions, p.failure),
        None => (previous.conditions.iter().filter(|c| conditions::is_backing(&c.type_)).cloned().collect(), None),
    };
    let (usage, usage_failure) = match progress.usage {
        Some(m) => (m.usage, m.failure),
        None => (previous.usage.clone(), None),
    };
    let provision_failure = provision_failure.or(usage_failure);
    let mut backups_now = match &progress.backup {
        Some(b) => b.status.clone(),
        None => prior_backups.clone(),
    };
    if let Some((record, kept)) = progress.upgrade.as_ref().and_then(|u| u.backup.clone()) {
        let keep = resolved.class.backup.as_ref().map_or(1, |p| p.keep());
        backups_now = Some(backup::with_kept(backups_now.as_ref(), record, &kept, keep));
    }
    let restore_state = match &progress.restore {
        Some(r) => r.state.clone(),
        None => prior_restore.clone(),
    };
    let sleep_state = match &progress.sleep {
        Some(s) => s.status.clone(),
        None => prior_sleep.clone(),
    };
    if outcome.is_ok() && !second_pass && progress.sleep.as_ref().is_some_and(|s| s.rebuild) {
        debug!(space = %space.name_any(), writes = progress.writes, "the space's sleep changed; building the space for it");
        return Ok(Pass::Rebuild(Box::new(Carried {
            record: record.clone(),
            apps: carried_apps,
            upgrade: prior_upgrade,
            adoption: adoption.clone(),
            restore: restore_state,
            backups: backups_now,
            sleep: sleep_state,
        })));
    }
    if outcome.is_ok()
        && !second_pass
        && let Some(r) = &progress.restore
        && r.rebuild
    {
        debug!(space = %space.name_any(), writes = progress.writes, "the restore changed phase; building the space for it");
        return Ok(Pass::Rebuild(Box::new(Carried {
            record: r.record.clone().or_else(|| record.clone()),
            apps: carried_apps,
            upgrade: prior_upgrade,
            adoption: adoption.clone(),
            restore: restore_state,
            backups: backups_now,
            sleep: sleep_state.clone(),
        })));
    }
    if outcome.is_ok()
        && !second_pass
        && let Some(i) = &progress.install
        && i.just_installed
        && let Some(nc) = &i.record
    {
        debug!(space = %space.name_any(), writes = progress.writes, "installed; building the installed space");
        return Ok(Pass::Rebuild(Box::new(Carried {
            record: Some(nc.clone()),
            apps: i.apps.clone(),
            upgrade: None,
            adoption: adoption.clone(),
            restore: restore_state.clone(),
            backups: backups_now.clone(),
            sleep: sleep_state.clone(),
        })));
    }
    if outcome.is_ok()
        && !second_pass
        && let Some(u) = &progress.upgrade
        && u.rebuild
    {
        debug!(space = %space.name_any(), writes = progress.writes, "the upgrade changed phase; building the space for it");
        let record = u.record.clone().or_else(|| record.clone());
        return Ok(Pass::Rebuild(Box::new(Carried {
            record,
            apps: u.apps.clone().or(carried_apps),
            upgrade: u.status.clone(),
            adoption: adoption.clone(),
            restore: restore_state.clone(),
            backups: backups_now.clone(),
            sleep: sleep_state.clone(),
        })));
    }
    let (upgrade_condition, upgrade_status, upgrade_record, upgrade_soon, upgrade_apps) = match progress.upgrade {
        Some(u) => (u.condition, u.status, u.record, u.retry_in, u.apps),
        None => (None, prior_upgrade, None, None, None),
    };
    let backup_soon = progress.backup.as_ref().and_then(|b| b.retry_in).or(progress.restore.as_ref().and_then(|r| r.retry_in));
    let sleep_soon = progress.sleep.as_ref().and_then(|s| s.retry_in);
    let backup_soon = match (backup_soon, sleep_soon) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let upgrade_soon = match (upgrade_soon, backup_soon) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let (install, nextcloud, soon) = match progress.install {
        Some(i) => (Some(i.condition), upgrade_record.or(i.record), i.retry_in.or(upgrade_soon)),
        None => (None, record, None),
    };
    let o = Observation {
        install,
        nextcloud,
        generation,
        backing,
        deleting: false,
        resolved: Ok(&resolved),
        workload: web_observed(ctx, ns),
        edge,
        failure,
        office: progress.office,
        talk: progress.talk,
        apps_condition: progress.apps.as_ref().map(|a| a.condition.clone()),
        apps: with_office_apps(progress.apps.and_then(|a| a.status).or(upgrade_apps).or(carried_apps), progress.office_apps, &previous),
        upgrade_condition,
        upgrade: upgrade_status,
        usage,
        adoption,
        backups: backups_now,
        restore: restore_state,
        sleep: sleep_state,
        previous: &previous,
    };
    let mut computed = conditions::compute(&o, &now_rfc3339());
    computed.placement = Some(placed.placement).filter(|p| *p != Placement::default());
    let status_written = status::write(space, ctx, computed).await?;
    if progress.writes > 0 {
        info!(writes = progress.writes, "applied");
    }
    debug!(space = %space.name_any(), writes = progress.writes, status_written, "reconciled");
    match (outcome, provision_failure) {
        (Err((_, e)), _) | (Ok(()), Some(e)) => Err(e),
        (Ok(()), None) => Ok(Pass::Done(Action::requeue(soon.map_or_else(|| ctx.resync_delay(), |d| d.min(ctx.resync_delay()))))),
    }
}

/// The space's bucket and its own key, for the snapshot and backup steps.
/// The space's web Deployment as the cache shows it now (an empty observation before it exists).
fn web_observed(ctx: &Context, ns: &str) -> WorkloadObservation {
    ctx.owned.deployments.get_with_content(Some(ns), names::NEXTCLOUD).map(|(_, w)| w).unwrap_or_default()
}

fn space_store<'a>(
    ctx: &Context,
    resolved: &crate::render::resolve::ResolvedSpace,
    placement: &'a Placement,
    creds: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Option<upgrade::SnapshotStore<'a>> {
    let pool = placement.storage_pool.as_deref()?;
    let p = ctx.pools.storage_pool(pool).ok()?;
    Some(upgrade::SnapshotStore {
        pool,
        bucket: tenant::bucket_name(&p, &resolved.name, resolved.adoption.as_ref()),
        access_key: provisioning::text(creds, crate::render::credentials::S3_ACCESS_KEY),
        secret_key: provisioning::text(creds, crate::render::credentials::S3_SECRET_KEY),
    })
}

/// `status.apps` with what an office Job just reported enabled (its suite's app switched on or
/// off), when one did: the last report of Nextcloud wins.
fn with_office_apps(
    apps: Option<AppsStatus>,
    office: Option<Vec<String>>,
    previous: &crate::api::space::AssociationSpaceStatus,
) -> Option<AppsStatus> {
    let Some(enabled) = office else { return apps };
    let mut a = apps.or_else(|| previous.apps.clone()).unwrap_or_default();
    a.enabled = enabled;
    Some(a)
}

#[cfg(test)]
mod tests;
