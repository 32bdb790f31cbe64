//! Step "install": each space's Nextcloud is installed once, by the operator, in a Job, and the
//! version that Job reports is recorded (status, then the namespace). The web workload is built
//! only once that record exists (see `build`), so no request ever reaches Nextcloud's installer.
//!
//! Idempotent: a space with a record is never installed again, whatever happens to its pods; a
//! space without one is installed only when its database holds no finished installation (read as
//! the space's own role, `PgAdmin::installation`). A failed install keeps its Job (its logs) until
//! the retry, which waits longer after each attempt; nothing is deleted but that Job.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::jobs::{self, JobState, job_state, occ_image, occ_output};
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{
    ATTEMPT_ANNOTATION, CACHE_READY, DATABASE_READY, INSTALLED, NEXTCLOUD_IMAGE_ANNOTATION, NEXTCLOUD_VERSION_ANNOTATION, STORAGE_READY,
};
use crate::api::space::AppsStatus;
use crate::api::space::{AssociationSpaceStatus, NextcloudStatus};
use crate::controller::Context;
use crate::controller::caches::MetaCache;
use crate::error::Result;
use crate::provision::postgres::Installation;
use crate::render::credentials;
use crate::render::jobs::INSTALL_JOB;
use crate::render::nextcloud::enabled_apps;
use crate::render::nextcloud::{OccStatus, summarize};
use crate::render::objects::nextcloud_record;
use crate::render::resolve::ResolvedSpace;

const ACTION: &str = "Install";

fn installed(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(INSTALLED, status, reason, message)
}

/// Installed's reasons before the install begins: nothing of the space is written on its pools yet.
pub const PENDING: &str = "Pending";
pub const WAITING_FOR_BACKING: &str = "WaitingForBackingServices";

/// Whether an Installed condition with this reason says the install has not begun.
pub fn not_begun(reason: &str) -> bool {
    reason == PENDING || reason == WAITING_FOR_BACKING
}

/// The Nextcloud the space runs: the namespace's record wins over the status (a space restored
/// without its status is not installed again), the status serves until the namespace has it.
pub fn recorded(ctx: &Context, namespace: &str, status: &AssociationSpaceStatus) -> Option<NextcloudStatus> {
    on_namespace(ctx, namespace).or_else(|| status.nextcloud.clone())
}

/// The record as the namespace cache shows it.
fn on_namespace(ctx: &Context, namespace: &str) -> Option<NextcloudStatus> {
    nextcloud_record(&ctx.owned.namespaces.get_meta(None, namespace)?.annotations?)
}

fn install_job(ctx: &Context, ns: &str) -> Option<std::sync::Arc<Job>> {
    ctx.owned.jobs.get(&ObjectRef::new(INSTALL_JOB).within(ns))
}

fn attempt_of(job: &Job) -> u32 {
    job.annotations().get(ATTEMPT_ANNOTATION).and_then(|a| a.parse().ok()).unwrap_or(1)
}

/// The attempt the next install Job is: one more than a failed one still there.
pub fn next_attempt(ctx: &Context, ns: &str) -> u32 {
    match install_job(ctx, ns) {
        Some(job) if matches!(job_state(&job), JobState::Failed { .. }) => attempt_of(&job) + 1,
        Some(job) => attempt_of(&job),
        None => 1,
    }
}

/// How long after a failed attempt the next one starts: 30 s, 1 min, 2 min, ... at most 30 min.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(30u64.saturating_mul(1 << attempt.saturating_sub(1).min(6)).min(1800))
}

/// What the step needs besides the context.
pub struct InstallInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    /// DatabaseReady, CacheReady, StorageReady, ... from provisioning.
    pub backing: &'a [Condition],
    pub creds: &'a BTreeMap<String, Vec<u8>>,
    pub record: Option<&'a NextcloudStatus>,
    pub previous: &'a AssociationSpaceStatus,
    pub database_pool: Option<&'a str>,
}

/// What the step did.
pub struct Installed {
    pub condition: Condition,
    /// The record to write in the status (a new one when the install just succeeded).
    pub record: Option<NextcloudStatus>,
    /// The install succeeded now: a second pass builds the objects of the installed space.
    pub just_installed: bool,
    pub writes: usize,
    /// When to look again, sooner than the resync (a retry's backoff).
    pub retry_in: Option<Duration>,
    /// The apps the install enabled, as its report listed them.
    pub apps: Option<AppsStatus>,
}

pub async fn step(ctx: &Context, inputs: InstallInputs<'_>, job: Option<Job>) -> Result<Installed> {
    use ConditionStatus::*;
    let InstallInputs { space, resolved, backing, creds, record, previous, database_pool } = inputs;
    let ns = resolved.namespace.as_str();
    let mut out = Installed {
        condition: installed(Unknown, PENDING, ""),
        record: record.cloned(),
        just_installed: false,
        writes: 0,
        retry_in: None,
        apps: None,
    };
    let current = install_job(ctx, ns);

    if let Some(nc) = record {
        // The Job has done its work once the namespace holds the record.
        if current.is_some() && on_namespace(ctx, ns).as_ref() == Some(nc) {
            out.writes += jobs::delete(ctx, ns, INSTALL_JOB).await?;
        }
        let class = &resolved.class.nextcloud.version;
        let mut message = format!("Nextcloud {} ({}) from {}", nc.version_string, nc.version, nc.image);
        if *class != nc.version_string {
            message.push_str(&format!("; the class asks for {class}: the space keeps running {} until it is upgraded", nc.version_string));
        }
        out.condition = installed(True, "Installed", message);
        return Ok(out);
    }

    let waiting: Vec<&str> = [DATABASE_READY, CACHE_READY, STORAGE_READY]
        .into_iter()
        .filter(|t| !backing.iter().any(|c| c.type_ == *t && c.is_true()))
        .collect();
    if !waiting.is_empty() {
        out.condition = installed(False, WAITING_FOR_BACKING, format!("the install runs once {} are True", waiting.join(", ")));
        return Ok(out);
    }

    let was = previous.conditions.iter().find(|c| c.type_ == INSTALLED).map(|c| c.reason.clone()).unwrap_or_default();
    if let Some(existing) = current {
        let attempt = attempt_of(&existing);
        match job_state(&existing) {
            JobState::Running => {
                out.condition = installed(False, "Installing", format!("install Job {INSTALL_JOB} (attempt {attempt}) is running"));
            }
            JobState::Succeeded => {
                let output = occ_output(ctx, ns, &existing).await?.unwrap_or_default();
                match OccStatus::parse(&output) {
                    Some(s) if s.serving() => {
                        let image = occ_image(&existing).unwrap_or_else(|| resolved.image.clone());
                        let nc = NextcloudStatus { version: s.version.clone(), version_string: s.version_string.clone(), image };
                        let message =
                            format!("Nextcloud {} ({}) installed by Job {INSTALL_JOB} (attempt {attempt})", s.version_string, s.version);
                        publish(space, ctx, EventType::Normal, "Installed", &message, ACTION).await;
                        out.condition = installed(True, "Installed", message);
                        out.record = Some(nc);
                        out.just_installed = true;
                        let requested = resolved.apps();
                        // Only what the install really enabled counts as applied: the apps step
                        // runs a Job for the rest, and reports why one is missing.
                        out.apps = enabled_apps(&output).map(|enabled| AppsStatus {
                            requested: requested.into_iter().filter(|a| enabled.contains(a)).collect(),
                            enabled,
                        });
                    }
                    reported => {
                        // The Job's exit code says success, but Nextcloud does not say it serves:
                        // never recorded as installed; the next attempt shows whether it holds.
                        let said = match reported {
                            Some(s) => {
                                format!("installed {}, maintenance {}, upgrade needed {}", s.installed, s.maintenance, s.needs_db_upgrade)
                            }
                            None => "no occ status in its termination message".to_string(),
                        };
                        let why = format!("completed but reported {said}");
                        out = failed(ctx, Failure { space, ns, attempt, why: &why, at: None, was: &was, next: job }, out).await?;
                    }
                }
            }
            JobState::Failed { message, at } => {
                let output = occ_output(ctx, ns, &existing).await?.unwrap_or_default();
                let said = summarize(&output, 400);
                let why = if said.is_empty() { message } else { said };
                out = failed(ctx, Failure { space, ns, attempt, why: &why, at: Some(&at), was: &was, next: job }, out).await?;
            }
        }
        return Ok(out);
    }

    // No Job and no record: what does the database hold?
    let Some(pool) = database_pool else {
        out.condition = installed(False, WAITING_FOR_BACKING, "the space has no DatabasePool yet");
        return Ok(out);
    };
    let password = String::from_utf8_lossy(creds.get(credentials::DATABASE_PASSWORD).map(Vec::as_slice).unwrap_or_default()).into_owned();
    let found = ctx
        .pools
        .postgres(pool)
        .await?
        .installation(&super::tenant::tenant_names(&resolved.name, resolved.adoption.as_ref()), &password)
        .await?;
    if let Installation::Installed { installed_at } = found {
        let message = format!(
            "the database already holds a Nextcloud installation (core/installedat {installed_at}) that the operator has no record of; \
             it is never installed over: record its version on namespace {ns} (annotations {NEXTCLOUD_VERSION_ANNOTATION}, {NEXTCLOUD_IMAGE_ANNOTATION}) to take it over"
        );
        if was != "ExistingInstallation" {
            publish(space, ctx, EventType::Warning, "ExistingInstallation", &message, ACTION).await;
        }
        out.condition = installed(False, "ExistingInstallation", message);
        return Ok(out);
    }
    let Some(job) = job else {
        out.condition = installed(False, WAITING_FOR_BACKING, "the space has no database binding yet");
        return Ok(out);
    };
    let attempt = attempt_of(&job);
    out.writes += jobs::create(ctx, ns, job).await?;
    let resumed = if found == Installation::Partial { " (resuming an install that stopped midway)" } else { "" };
    let message = format!("install Job {INSTALL_JOB} (attempt {attempt}) created{resumed}");
    publish(space, ctx, EventType::Normal, "InstallStarted", &message, ACTION).await;
    out.condition = installed(False, "Installing", message);
    Ok(out)
}

/// A failed attempt, and the Job of the next one (built with the next attempt number).
struct Failure<'a> {
    space: &'a AssociationSpace,
    ns: &'a str,
    attempt: u32,
    why: &'a str,
    /// When the Job failed (RFC 3339); now when unknown.
    at: Option<&'a str>,
    was: &'a str,
    next: Option<Job>,
}

/// Installed=False with what went wrong and where to look, an Event the first time, and the
/// retry once its delay has passed: the failed Job is replaced by the next attempt's.
async fn failed(ctx: &Context, f: Failure<'_>, mut out: Installed) -> Result<Installed> {
    let Failure { space, ns, attempt, why, at, was, next } = f;
    let delay = retry_delay(attempt);
    let elapsed = at
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| Duration::from_secs(jiff::Timestamp::now().duration_since(t).as_secs().max(0) as u64))
        .unwrap_or_default();
    let logs = format!("kubectl -n {ns} logs job/{INSTALL_JOB}");
    if elapsed >= delay
        && let Some(job) = next
    {
        out.writes += jobs::delete(ctx, ns, INSTALL_JOB).await?;
        let next_attempt = attempt_of(&job);
        out.writes += jobs::create(ctx, ns, job).await?;
        let message = format!("attempt {attempt} failed: {why}; install Job {INSTALL_JOB} (attempt {next_attempt}) created; {logs}");
        publish(space, ctx, EventType::Normal, "InstallStarted", &message, ACTION).await;
        out.condition = installed(ConditionStatus::False, "Installing", message);
        return Ok(out);
    }
    let remaining = delay.saturating_sub(elapsed);
    let message = format!("install Job {INSTALL_JOB} (attempt {attempt}) failed: {why}; {logs}; next attempt in {}s", remaining.as_secs());
    if was != "InstallFailed" {
        publish(space, ctx, EventType::Warning, "InstallFailed", &message, ACTION).await;
    }
    out.condition = installed(ConditionStatus::False, "InstallFailed", message);
    out.retry_in = Some(remaining.max(Duration::from_secs(1)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time() {
        let d: Vec<u64> = (1..=9).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(d, vec![30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
    }
}
