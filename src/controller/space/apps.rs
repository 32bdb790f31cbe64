//! Step "apps": the class's validated apps in the space. The install enables the list; a change of
//! the list runs one occ Job per space (every listed app enabled, the ones taken off disabled),
//! whose report says which apps Nextcloud then has enabled. Never two apps Jobs at once for a
//! space; a failed Job stays failed until the list changes again (no retry loop).

use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::build::{APPS_PURPOSE as PURPOSE, AppsWiring};
use super::jobs::{self, JobState, job_state, occ_output};
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{APPS_READY, OCC_FAILED, OCC_LABEL};
use crate::api::space::AppsStatus;
use crate::controller::Context;
use crate::error::Result;
use crate::render::nextcloud::{OccStatus, enabled_apps, summarize};
use crate::render::resolve::ResolvedSpace;

/// The action of this step's Events.
const ACTION: &str = "ApplyApps";

fn apps(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(APPS_READY, status, reason, message)
}

/// What the step decided: AppsReady, the apps now in force when a Job just reported them, and
/// the API writes.
pub struct AppsOutcome {
    pub condition: Condition,
    pub status: Option<AppsStatus>,
    pub writes: usize,
}

/// "calendar, deck" or "none".
fn listed(apps: &[String]) -> String {
    if apps.is_empty() { "none".to_string() } else { apps.join(", ") }
}

/// How the step reads which apps the space's Nextcloud has enabled: its DatabasePool, and its
/// role's password (the space's own credentials, for its own database).
pub struct DriftCheck<'a> {
    pub pool: &'a str,
    pub password: String,
}

/// The repair Jobs' names: one per round of checks, so a later round never meets an earlier
/// round's finished Job under its name.
const REPAIR_PREFIX: &str = "occ-apps-repair-";

pub async fn step(
    ctx: &Context,
    space: &AssociationSpace,
    resolved: &ResolvedSpace,
    installed: bool,
    applied: Option<&AppsStatus>,
    wiring: AppsWiring,
    drift: Option<DriftCheck<'_>>,
) -> Result<AppsOutcome> {
    use ConditionStatus::*;
    let AppsWiring { desired, commands, job_name: name, job, repair: repair_job } = wiring;
    let keep = |condition| AppsOutcome { condition, status: None, writes: 0 };
    if !installed {
        return Ok(keep(apps(Unknown, "WaitingForInstall", format!("the install enables the class's apps ({})", listed(&desired)))));
    }
    if resolved.suspended {
        return Ok(keep(apps(Unknown, "Suspended", "the space is suspended; the class's apps are applied when it resumes")));
    }
    let Some(job) = job else {
        let enabled = applied.map(|a| a.enabled.len()).unwrap_or_default();
        let applied = apps(True, "Applied", format!("the class's apps are enabled ({}); {enabled} apps in force", listed(&desired)));
        return repair(ctx, space, resolved, &desired, drift, repair_job, applied).await;
    };
    // A list the class's image cannot satisfy is refused once, on the class, not by a failing Job
    // in each of its spaces.
    let missing = ctx.classes.get(&ObjectRef::new(&resolved.class_name)).map(|c| c.apps_not_in_image()).unwrap_or_default();
    if !missing.is_empty() {
        return Ok(keep(apps(
            False,
            "AppsNotInImage",
            format!("SpaceClass {}: {} not in its image; the apps in force stay as they are", resolved.class_name, missing.join(", ")),
        )));
    }
    let ns = resolved.namespace.as_str();
    let logs = format!("kubectl -n {ns} logs job/{name}");
    if let Some(current) = ctx.owned.jobs.get(&ObjectRef::new(&name).within(ns)) {
        // A finished Job is read once: its failure stays in the condition, which names the Job,
        // and no later reconcile lists its pods or announces it again.
        let recorded = space.status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == APPS_READY && c.reason == OCC_FAILED && c.message.contains(&format!("occ Job {name} ")))
                .cloned()
        });
        if job_state(&current) != JobState::Running
            && let Some(condition) = recorded
        {
            return Ok(keep(condition));
        }
        return Ok(match job_state(&current) {
            JobState::Running => keep(apps(False, "Applying", format!("occ Job {name} is running: {}", commands.join("; ")))),
            JobState::Succeeded => {
                let output = occ_output(ctx, ns, &current).await?.unwrap_or_default();
                match (OccStatus::parse(&output), enabled_apps(&output)) {
                    (Some(s), Some(enabled)) if s.serving() => {
                        let missing: Vec<&String> = desired.iter().filter(|a| !enabled.contains(a)).collect();
                        if missing.is_empty() {
                            let message =
                                format!("occ Job {name} enabled the class's apps ({}); {} apps in force", listed(&desired), enabled.len());
                            publish(space, ctx, EventType::Normal, "AppsApplied", &message, ACTION).await;
                            AppsOutcome {
                                condition: apps(True, "Applied", message),
                                status: Some(AppsStatus { requested: desired, enabled }),
                                writes: 0,
                            }
                        } else {
                            let names: Vec<&str> = missing.iter().map(|a| a.as_str()).collect();
                            let message =
                                format!("occ Job {name} completed but Nextcloud does not have {} enabled; {logs}", names.join(", "));
                            publish(space, ctx, EventType::Warning, "OccJobFailed", &message, ACTION).await;
                            keep(apps(False, OCC_FAILED, message))
                        }
                    }
                    _ => keep(apps(
                        False,
                        OCC_FAILED,
                        format!("occ Job {name} completed without a report of Nextcloud in normal mode; {logs}"),
                    )),
                }
            }
            JobState::Failed { message, .. } => {
                let said = summarize(&occ_output(ctx, ns, &current).await?.unwrap_or_default(), 300);
                let said = if said.is_empty() { message } else { said };
                let message = format!("occ Job {name} failed: {said}; {logs}");
                publish(space, ctx, EventType::Warning, "OccJobFailed", &message, ACTION).await;
                keep(apps(False, OCC_FAILED, message))
            }
        });
    }
    let earlier: Vec<_> = ctx
        .owned
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.namespace().as_deref() == Some(ns) && j.labels().get(OCC_LABEL).map(String::as_str) == Some(PURPOSE))
        .collect();
    if let Some(active) = earlier.iter().find(|j| job_state(j) == JobState::Running) {
        return Ok(keep(apps(False, "Applying", format!("waiting for occ Job {} to finish before running {name}", active.name_any()))));
    }
    let mut writes = 0;
    for old in &earlier {
        writes += jobs::delete(ctx, ns, &old.name_any()).await?;
    }
    writes += jobs::create(ctx, ns, job).await?;
    publish(space, ctx, EventType::Normal, "OccJobCreated", &format!("occ Job {name}: {}", commands.join("; ")), ACTION).await;
    Ok(AppsOutcome { condition: apps(False, "Applying", format!("occ Job {name} created: {}", commands.join("; "))), status: None, writes })
}

/// Whether the space's apps were read less than `--external-check-seconds` ago.
fn checked_recently(ctx: &Context, key: &str) -> bool {
    ctx.verified.lock().ok().and_then(|v| v.get(key).map(|(_, at)| at.elapsed() < ctx.config.external_check)).unwrap_or(false)
}

fn mark_checked(ctx: &Context, key: &str) {
    if let Ok(mut v) = ctx.verified.lock() {
        v.insert(key.to_string(), (0, std::time::Instant::now()));
    }
}

/// The association's admin can switch any app off in Nextcloud's Apps page (`AppManager::
/// disableApp` refuses only the always-enabled ones): the platform's quota app or a class app
/// then silently stops. Once per `--external-check-seconds` the step reads which apps are enabled
/// in the space's database, as its own role (one query, no Job), and when one of the list is
/// off, one occ Job enables the list again, with an Event and `framaspace_apps_reenabled_total`.
async fn repair(
    ctx: &Context,
    space: &AssociationSpace,
    resolved: &ResolvedSpace,
    desired: &[String],
    drift: Option<DriftCheck<'_>>,
    job: Option<k8s_openapi::api::batch::v1::Job>,
    applied: Condition,
) -> Result<AppsOutcome> {
    let keep = |condition| AppsOutcome { condition, status: None, writes: 0 };
    let (Some(check), Some(mut job)) = (drift, job) else { return Ok(keep(applied)) };
    let ns = resolved.namespace.as_str();
    // A repair Job is named for its round: one of this round or the last one may still run
    // (two lookups by name, not a walk over every Job at each reconcile).
    let round = jiff::Timestamp::now().as_second().max(0) as u64 / ctx.config.external_check.as_secs().max(1);
    let repair_name = |r: u64| format!("{REPAIR_PREFIX}{r}");
    let running = [round, round.saturating_sub(1)]
        .into_iter()
        .filter_map(|r| ctx.owned.jobs.get(&ObjectRef::new(&repair_name(r)).within(ns)))
        .find(|j| job_state(j) == JobState::Running);
    if let Some(running) = running {
        let message = format!("occ Job {} enables the class's apps again ({})", running.name_any(), listed(desired));
        return Ok(keep(apps(ConditionStatus::False, "Repairing", message)));
    }
    let key = format!("{}/apps", resolved.name);
    if checked_recently(ctx, &key) {
        return Ok(keep(applied));
    }
    let names = super::tenant::tenant_names(&resolved.name, resolved.adoption.as_ref());
    let enabled = ctx.pools.postgres(check.pool).await?.enabled_apps(&names, &check.password).await?;
    mark_checked(ctx, &key);
    let missing: Vec<&str> = desired.iter().map(String::as_str).filter(|a| !enabled.iter().any(|e| e == a)).collect();
    if missing.is_empty() {
        return Ok(keep(applied));
    }
    let name = repair_name(round);
    job.metadata.name = Some(name.clone());
    // The finished repairs of earlier rounds go (only now, when a new one is made).
    let repairs: Vec<_> = ctx
        .owned
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.namespace().as_deref() == Some(ns) && j.name_any().starts_with(REPAIR_PREFIX))
        .collect();
    let mut writes = 0;
    for old in &repairs {
        writes += jobs::delete(ctx, ns, &old.name_any()).await?;
    }
    writes += jobs::create(ctx, ns, job).await?;
    let message = format!(
        "{} found disabled in Nextcloud (its Apps page); occ Job {name} enables the class's apps again ({})",
        missing.join(", "),
        listed(desired)
    );
    publish(space, ctx, EventType::Warning, "AppsReenabled", &message, ACTION).await;
    ctx.metrics.apps_reenabled();
    Ok(AppsOutcome { condition: apps(ConditionStatus::False, "Repairing", message), status: None, writes })
}
