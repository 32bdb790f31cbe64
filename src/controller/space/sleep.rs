//! Step "sleep": an idle space of a class with `spec.sleep` goes to zero web pods, its requests
//! to the wake component; a wake request (the annotation the wake component sets) brings its web
//! back, within the pool's bound; while it sleeps, its background jobs run in a Job at least once
//! a day inside its maintenance window, and early for a calendar reminder.
//!
//! The state lives in `status.sleep` (Awake → Sleeping → Waking → Awake). `build` reads it: the
//! web at zero while Sleeping, the Ingress or HTTPRoute to the wake Service while Sleeping or
//! Waking (back to the space's Service once its pod is ready, so a route never points at a
//! Service without endpoints), the background Job of the next due run. A change of state, or of
//! the next run, runs the pipeline a second time (`converge_twice`) so the objects follow in the
//! same reconcile.
//!
//! Idle is read from the space's database as its own role, and only when the recorded figures say
//! the space may be idle: `oc_authtoken.last_activity` of browser sessions and app passwords
//! (see `api::sleep`). Request counts are never used: a monitor's request is not use.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::jobs::{self, JobState, job_state};
use super::provisioning::text;
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::conditions::{epoch_seconds, rfc3339_at};
use crate::api::labels::WAKE_REQUEST_ANNOTATION;
use crate::api::sleep::{BackgroundRuns, SleepPolicy, SleepState, SleepStatus};
use crate::controller::Context;
use crate::controller::workload::WorkloadObservation;
use crate::error::Error;
use crate::provision::postgres::ActivityFacts;
use crate::render::credentials;
use crate::render::nextcloud::{maintenance_window_start, stagger};
use crate::render::resolve::ResolvedSpace;

const ACTION: &str = "Sleep";
const DAY: i64 = 86_400;
/// A background run is planned no sooner than this after the last one (a space that falls
/// asleep just after its awake cron ran does not run again at once): the daily run then comes at
/// most 25 h after the last.
const MIN_GAP: i64 = 3600;
/// A space whose jobs have not run for this long (a missed window) runs them at once.
const OVERDUE: i64 = 2 * DAY;
/// After a failed background run, the next try.
const RETRY_AFTER_FAILURE: i64 = 3600;

/// What the decision is made from (pure).
#[derive(Clone, Debug, Default)]
pub struct Decide<'a> {
    pub space: &'a str,
    pub policy: Option<&'a SleepPolicy>,
    /// The operator has a wake component to send a sleeping space's requests to.
    pub wake_configured: bool,
    pub keep_awake: bool,
    pub suspended: bool,
    pub installed: bool,
    /// Why the space must be awake now (an upgrade, a restore), if it must.
    pub busy: Option<&'static str>,
    pub previous: Option<&'a SleepStatus>,
    /// The wake request on the space (Unix seconds).
    pub wake_request: Option<i64>,
    /// The last use as recorded (the usage step's `lastActivity`), when no fresh read was made.
    pub recorded_use: Option<i64>,
    /// A fresh read of the space's database, when one was made.
    pub facts: Option<&'a ActivityFacts>,
    /// Its web pod is ready.
    pub web_ready: bool,
    /// A wake slot of its pool is free (or already its own).
    pub slot: bool,
    pub now: i64,
}

/// The status's times: every one this step writes is a time it computed, within jiff's range.
pub fn rfc3339(seconds: i64) -> String {
    rfc3339_at(seconds).unwrap_or_default()
}

/// When the space entered its recorded sleep state (Unix seconds), if one is recorded.
fn entered(s: Option<&SleepStatus>) -> Option<i64> {
    s.and_then(|s| epoch_seconds(&s.since))
}

fn state_of(s: Option<&SleepStatus>) -> SleepState {
    s.and_then(|s| s.state).unwrap_or(SleepState::Awake)
}

/// Why the space stays (or becomes) awake whatever its use, if anything holds it so.
fn held_awake(d: &Decide<'_>) -> Option<(&'static str, &'static str)> {
    if d.policy.is_none() {
        Some(("PolicyOff", "the class has no sleep policy"))
    } else if !d.wake_configured {
        Some(("NoWakeComponent", "the operator runs without a wake component (--wake-service): a sleeping space could not be woken"))
    } else if d.keep_awake {
        Some(("KeptAwake", "spec.keepAwake is true"))
    } else if let Some(busy) = d.busy {
        Some((busy, "an upgrade or a restore needs the space's web"))
    } else {
        None
    }
}

/// The last use the decision counts: the database's (fresh, else as recorded), and never before
/// the space last woke (a space woken by a request stays awake for the idle time).
fn last_use(d: &Decide<'_>, awake_since: i64) -> i64 {
    let used = d.facts.map(|f| f.last_use).unwrap_or(d.recorded_use);
    let recorded = d.previous.and_then(|p| p.last_use.as_deref()).and_then(epoch_seconds);
    used.into_iter().chain(recorded).fold(awake_since, i64::max)
}

/// Whether the recorded figures say the space may be idle: then its database is read.
pub fn may_be_idle(d: &Decide<'_>) -> bool {
    if !d.installed || d.suspended || state_of(d.previous) != SleepState::Awake || held_awake(d).is_some() {
        return false;
    }
    let Some(policy) = d.policy else { return false };
    let since = entered(d.previous).unwrap_or(d.now);
    d.now - last_use(d, since) >= i64::from(policy.idle_after_seconds)
}

fn status(state: SleepState, since: i64, reason: &str, message: String) -> SleepStatus {
    SleepStatus { state: Some(state), since: rfc3339(since), reason: reason.into(), message, ..SleepStatus::default() }
}

/// `status.sleep` as it is now: `None` for a space the question does not concern (no policy
/// and never asleep, suspended, not installed).
pub fn next(d: &Decide<'_>) -> Option<SleepStatus> {
    if d.suspended || !d.installed {
        return None;
    }
    let previous = d.previous;
    let since = entered(previous).unwrap_or(d.now);
    let held = held_awake(d);
    let keep = |reason: &str, message: String| -> SleepStatus {
        let mut s = previous.cloned().unwrap_or_default();
        s.state = Some(state_of(previous));
        s.since = rfc3339(since);
        s.reason = reason.into();
        s.message = message;
        s
    };
    match state_of(previous) {
        SleepState::Awake => {
            if let Some((reason, message)) = held {
                // No policy and never asleep: nothing to show.
                d.policy?;
                return Some(keep(reason, message.into()));
            }
            let policy = d.policy?;
            let used = last_use(d, since);
            let idle = d.now - used;
            let mut s = if d.facts.is_some() && idle >= i64::from(policy.idle_after_seconds) {
                let message = format!("not used since {} (the class sleeps after {} s idle)", rfc3339(used), policy.idle_after_seconds);
                let mut s = status(SleepState::Sleeping, d.now, "Idle", message);
                s.background = Some(plan(d.space, d.facts, None, d.now, d.now));
                s
            } else {
                // The message changes only with a new read, so a resync writes no status.
                let message = match used {
                    0 => format!("it sleeps after {} s idle", policy.idle_after_seconds),
                    t => format!("last used at {}; it sleeps after {} s idle", rfc3339(t), policy.idle_after_seconds),
                };
                keep("InUse", message)
            };
            s.last_use = Some(rfc3339(used)).filter(|_| used > 0);
            Some(s)
        }
        SleepState::Sleeping => {
            if let Some((reason, message)) = held {
                let mut s = status(SleepState::Waking, d.now, reason, message.into());
                s.last_use = previous.and_then(|p| p.last_use.clone());
                return Some(s);
            }
            // A request of an earlier sleep was answered by the wake that followed it.
            if let Some(at) = d.wake_request.filter(|r| *r >= since) {
                if d.slot {
                    let mut s = status(SleepState::Waking, d.now, "WakeRequested", format!("a request came at {}", rfc3339(at)));
                    s.wake_request = Some(rfc3339(at));
                    s.last_use = previous.and_then(|p| p.last_use.clone());
                    return Some(s);
                }
                let mut s =
                    keep("WakeQueued", "a request came; the pool's spaces waking at once are at the class's maxWakingPerPool".into());
                s.wake_request = Some(rfc3339(at));
                return Some(s);
            }
            let mut s = keep("Idle", previous.map(|p| p.message.clone()).unwrap_or_default());
            s.background = Some(plan(d.space, d.facts, previous.and_then(|p| p.background.as_ref()), since, d.now));
            Some(s)
        }
        SleepState::Waking => {
            if d.web_ready {
                let took = d.now - since;
                let mut s = status(SleepState::Awake, d.now, "Woken", format!("its web served again {took} s after the wake began"));
                s.last_use = previous.and_then(|p| p.last_use.clone());
                s.wake_request = previous.and_then(|p| p.wake_request.clone());
                return Some(s);
            }
            Some(keep(&previous.map(|p| p.reason.clone()).unwrap_or_default(), "its web pod is starting".into()))
        }
    }
}

/// The next background run of a sleeping space: the daily one in its maintenance window (the
/// window `config.php` gives it, `maintenance_window_start`, where Nextcloud runs its
/// time-insensitive jobs too), at once when its jobs have not run for two days, and earlier for
/// a calendar reminder (cron.php sends the ones due: `CalDAV/Reminder/Backend.php`). A fresh read
/// of the database (`facts`) replaces what was recorded.
pub fn plan(space: &str, facts: Option<&ActivityFacts>, recorded: Option<&BackgroundRuns>, asleep_since: i64, now: i64) -> BackgroundRuns {
    let mut runs = recorded.cloned().unwrap_or_default();
    // Planned from a fresh read only (falling asleep, after a run): a plan recomputed at every
    // reconcile would move an overdue run's time, and its Job's name, each second.
    let Some(f) = facts else { return runs };
    runs.last_run = f.last_cron.map(rfc3339);
    if runs.job.is_some() {
        return runs;
    }
    let base = f.last_cron.unwrap_or(asleep_since);
    let daily = if now - base >= OVERDUE { now } else { next_window(space, base + MIN_GAP) };
    let (next, reason) = match f.next_reminder {
        Some(r) if r < daily => (r, "CalendarReminder"),
        _ => (daily, "MaintenanceWindow"),
    };
    runs.next_run = Some(rfc3339(next));
    runs.next_reason = reason.into();
    runs
}

/// The first moment at or after `after` inside the space's background slot: its maintenance
/// window's hour (UTC), at a minute its name fixes in the window's first three hours, so 10,000
/// spaces do not start at once.
pub fn next_window(space: &str, after: i64) -> i64 {
    let start = i64::try_from(maintenance_window_start(space)).unwrap_or(1) * 3600;
    let offset = i64::try_from(stagger(&format!("{space}/background"), 3 * 3600)).unwrap_or(0);
    let day = after.div_euclid(DAY) * DAY;
    let slot = day + start + offset;
    if slot >= after { slot } else { slot + DAY }
}

/// What the step reads besides the context.
pub struct SleepInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    pub previous: Option<&'a SleepStatus>,
    pub installed: bool,
    pub busy: Option<&'static str>,
    pub workload: &'a WorkloadObservation,
    pub database_pool: Option<&'a str>,
    pub creds: &'a BTreeMap<String, Vec<u8>>,
    pub recorded_use: Option<&'a str>,
    /// The background run built for the recorded next run.
    pub job: Option<Job>,
}

/// What the step leaves.
pub struct Slept {
    pub status: Option<SleepStatus>,
    /// The state or the next background run changed: the objects are built again.
    pub rebuild: bool,
    pub writes: usize,
    pub retry_in: Option<Duration>,
}

pub async fn step(ctx: &Context, inputs: SleepInputs<'_>) -> Result<Slept, Error> {
    let SleepInputs { space, resolved, previous, installed, busy, workload, database_pool, creds, recorded_use, job } = inputs;
    let now = jiff::Timestamp::now().as_second();
    let ns = resolved.namespace.as_str();
    let name = resolved.name.as_str();
    let policy = resolved.class.sleep.as_ref();
    let mut d = Decide {
        space: name,
        policy,
        wake_configured: ctx.config.wake_service.is_some(),
        keep_awake: space.spec.keep_awake,
        suspended: space.spec.suspended,
        installed,
        busy,
        previous,
        wake_request: space.annotations().get(WAKE_REQUEST_ANNOTATION).and_then(|v| epoch_seconds(v)),
        recorded_use: recorded_use.and_then(epoch_seconds),
        facts: None,
        web_ready: workload.available() && workload.desired_replicas > 0,
        slot: false,
        now,
    };
    let mut writes = 0;
    // A background run under way: its end is recorded, the Job deleted, the database read again.
    let running =
        previous.filter(|p| p.state == Some(SleepState::Sleeping)).and_then(|p| p.background.as_ref()).and_then(|b| b.job.clone());
    let mut finished: Option<bool> = None;
    if let Some(job_name) = &running {
        match jobs::current(ctx, ns, job_name).map(|j| job_state(&j)) {
            Some(JobState::Running) => {}
            Some(JobState::Succeeded) => finished = Some(true),
            Some(JobState::Failed { .. }) => finished = Some(false),
            // Not in the cache a minute after it was due: gone (deleted by someone), counted as
            // failed so the next run is planned. Sooner, the cache may not show it yet.
            None if previous
                .and_then(|p| p.background.as_ref())
                .and_then(|b| b.next_run.as_deref())
                .and_then(epoch_seconds)
                .is_none_or(|due| now - due > 60) =>
            {
                finished = Some(false)
            }
            None => {}
        }
    }
    let falling_asleep = may_be_idle(&d);
    let facts = if falling_asleep
        || finished.is_some()
        || (state_of(previous) == SleepState::Sleeping && previous.is_some_and(|p| p.background.is_none()))
    {
        Some(read(ctx, resolved, database_pool, creds).await?)
    } else {
        None
    };
    d.facts = facts.as_ref();
    if state_of(previous) == SleepState::Sleeping && d.wake_request.is_some_and(|r| entered(previous).is_some_and(|s| r >= s)) {
        d.slot = take_slot(ctx, name, database_pool, policy);
    }
    let mut next_status = next(&d);
    if let (Some(ok), Some(s)) = (finished, next_status.as_mut()) {
        ctx.metrics.background_run(ok);
        if let Some(job_name) = &running {
            writes += jobs::delete(ctx, ns, job_name).await?;
        }
        let mut runs = s.background.clone().unwrap_or_default();
        runs.job = None;
        if ok {
            publish(
                space,
                ctx,
                EventType::Normal,
                "BackgroundRun",
                "the sleeping space's background jobs ran (cron.php), its web still at zero",
                ACTION,
            )
            .await;
            runs = plan(name, d.facts, Some(&runs), entered(previous).unwrap_or(now), now);
        } else {
            publish(
                space,
                ctx,
                EventType::Warning,
                "BackgroundRunFailed",
                &format!("the background run {} failed; next try in an hour", running.clone().unwrap_or_default()),
                ACTION,
            )
            .await;
            runs.next_run = Some(rfc3339(now + RETRY_AFTER_FAILURE));
            runs.next_reason = "RetryAfterFailure".into();
        }
        if s.state == Some(SleepState::Sleeping) {
            s.background = Some(runs);
        }
    }
    // The run that is due starts: its Job was built for the recorded next run.
    if let Some(s) = next_status.as_mut().filter(|s| s.state == Some(SleepState::Sleeping))
        && let Some(runs) = s.background.as_mut()
        && runs.job.is_none()
        && runs.next_run.as_deref().and_then(epoch_seconds).is_some_and(|due| due <= now)
        && let Some(job) = job.filter(|j| {
            j.metadata.name.as_deref()
                == runs.next_run.as_deref().and_then(epoch_seconds).map(crate::render::jobs::background_job_name).as_deref()
        })
    {
        let job_name = job.name_any();
        writes += jobs::create(ctx, ns, job).await?;
        runs.job = Some(job_name);
    }
    let before = state_of(previous);
    let after = next_status.as_ref().and_then(|s| s.state).unwrap_or(SleepState::Awake);
    if before != after {
        announce(ctx, space, before, after, next_status.as_ref(), previous).await;
    }
    if after != SleepState::Waking {
        ctx.wakes.release(name);
    }
    let next_run = |s: Option<&SleepStatus>| s.and_then(|s| s.background.as_ref()).and_then(|b| b.next_run.clone());
    let rebuild = before != after || next_run(previous) != next_run(next_status.as_ref());
    let retry_in = retry_in(&d, next_status.as_ref(), now);
    Ok(Slept { status: next_status, rebuild, writes, retry_in })
}

/// When the space's sleep needs a look again without any other trigger.
fn retry_in(d: &Decide<'_>, s: Option<&SleepStatus>, now: i64) -> Option<Duration> {
    let s = s?;
    let secs = |t: i64| Duration::from_secs(u64::try_from(t.max(1)).unwrap_or(1));
    match s.state? {
        SleepState::Awake => {
            let policy = d.policy?;
            let since = epoch_seconds(&s.since).unwrap_or(now);
            let used = last_use(d, since);
            Some(secs(used + i64::from(policy.idle_after_seconds) - now))
        }
        SleepState::Sleeping if s.reason == "WakeQueued" => Some(Duration::from_secs(2)),
        SleepState::Sleeping => {
            s.background.as_ref().and_then(|b| b.next_run.as_deref()).and_then(epoch_seconds).map(|due| secs(due - now))
        }
        SleepState::Waking => Some(Duration::from_secs(5)),
    }
}

/// A wake slot of the space's DatabasePool, counting the spaces the cache shows waking.
fn take_slot(ctx: &Context, name: &str, pool: Option<&str>, policy: Option<&SleepPolicy>) -> bool {
    let (Some(pool), Some(policy)) = (pool, policy) else { return true };
    let horizon = jiff::Timestamp::now().as_second() - i64::try_from(crate::controller::wake_slots::SLOT_TIMEOUT.as_secs()).unwrap_or(600);
    let waking = || -> Vec<String> {
        ctx.spaces
            .state()
            .iter()
            .filter(|s| {
                let st = s.status.as_ref();
                st.and_then(|st| st.sleep.as_ref())
                    .is_some_and(|z| z.state == Some(SleepState::Waking) && epoch_seconds(&z.since).is_some_and(|t| t >= horizon))
                    && st.and_then(|st| st.placement.as_ref()).and_then(|p| p.database_pool.as_deref()) == Some(pool)
            })
            .map(|s| s.name_any())
            .collect()
    };
    ctx.wakes.try_take(pool, name, policy.max_waking_per_pool, waking)
}

async fn read(
    ctx: &Context,
    resolved: &ResolvedSpace,
    pool: Option<&str>,
    creds: &BTreeMap<String, Vec<u8>>,
) -> Result<ActivityFacts, Error> {
    let Some(pool) = pool else { return Ok(ActivityFacts::default()) };
    let names = super::tenant::tenant_names(&resolved.name, resolved.adoption.as_ref());
    let password = text(creds, credentials::DATABASE_PASSWORD);
    let started = std::time::Instant::now();
    let read = async { Ok::<_, Error>(ctx.pools.postgres(pool).await?.activity_facts(&names, &password).await?) }.await;
    ctx.metrics.external_call("postgres", "read_activity", started.elapsed(), read.as_ref().err().map(|e| e.reason()));
    read
}

async fn announce(
    ctx: &Context,
    space: &AssociationSpace,
    before: SleepState,
    after: SleepState,
    now: Option<&SleepStatus>,
    previous: Option<&SleepStatus>,
) {
    let message = now.map(|s| s.message.clone()).unwrap_or_default();
    match (before, after) {
        (_, SleepState::Sleeping) => {
            ctx.metrics.sleep_transition("fell_asleep");
            publish(space, ctx, EventType::Normal, "FellAsleep", &format!("no web pod until a request comes: {message}"), ACTION).await;
        }
        (SleepState::Sleeping, SleepState::Waking) => {
            ctx.metrics.sleep_transition("wake_requested");
            publish(space, ctx, EventType::Normal, "Waking", &message, ACTION).await;
        }
        (SleepState::Waking, SleepState::Awake) => {
            ctx.metrics.sleep_transition("woke");
            if let Some(t) = entered(previous) {
                ctx.metrics.woke_after((jiff::Timestamp::now().as_second() - t).max(0) as f64);
            }
            publish(space, ctx, EventType::Normal, "Woke", &message, ACTION).await;
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "sleep_tests.rs"]
mod tests;
