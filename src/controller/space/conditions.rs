//! Every condition and the phase of a space, computed from what the steps observed: one pure
//! function for a space being reconciled ([`compute`]) and one for a space being deleted
//! ([`deleting`]), so every rule is unit-tested and the steps only gather observations.

use super::edge::{Edge, RouteVerdict};
use crate::api::adoption::{AdoptionPolicy, AdoptionState, AdoptionStatus};
use crate::api::class::GatewayParent;
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions};
use crate::api::labels::{ADOPTED, BACKED_UP, TALK_READY};
use crate::api::labels::{
    APPS_READY, CACHE_READY, DATABASE_READY, INGRESS_READY, INSTALLED, OCC_FAILED, OFFICE_READY, PLACED, READY, STORAGE_READY, UP_TO_DATE,
    WORKLOAD_READY,
};
use crate::api::sleep::{SleepState, SleepStatus};
use crate::api::space::{AppsStatus, AssociationSpaceStatus, DeletionPolicy, NextcloudStatus, SpacePhase};
use crate::controller::workload::{WorkloadObservation, observe_deployment};
use crate::render::resolve::{ResolvedSpace, SpecError};
use k8s_openapi::api::apps::v1::Deployment;

/// The conditions the backing-services steps set (placement and provisioning).
pub fn is_backing(type_: &str) -> bool {
    [PLACED, DATABASE_READY, CACHE_READY, STORAGE_READY].contains(&type_)
}

/// A step of the reconcile that failed this time, and the condition it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    pub condition: &'static str,
    pub reason: String,
    pub message: String,
}

/// Everything the status depends on.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    /// Placed, DatabaseReady, CacheReady and StorageReady, from the backing-services step.
    pub backing: Vec<Condition>,
    pub deleting: bool,
    pub resolved: Result<&'a ResolvedSpace, &'a SpecError>,
    pub workload: WorkloadObservation,
    /// What publishes the space (its Ingress or its HTTPRoute).
    pub edge: Edge,
    pub failure: Option<StepFailure>,
    /// OfficeReady from the office step, when it ran.
    pub office: Option<Condition>,
    /// TalkReady from the talk step, when it ran (`Some(None)`: the space has no Talk wiring).
    pub talk: Option<Option<Condition>>,
    /// AppsReady from the apps step, when it ran.
    pub apps_condition: Option<Condition>,
    /// The apps in force, when a Job (or the install) just reported them.
    pub apps: Option<AppsStatus>,
    /// Installed from the install step, when it ran, and the Nextcloud the space runs.
    pub install: Option<Condition>,
    pub nextcloud: Option<NextcloudStatus>,
    /// UpToDate from the upgrade step, when it ran, and the upgrade it leaves.
    pub upgrade_condition: Option<Condition>,
    pub upgrade: Option<crate::api::space::UpgradeStatus>,
    /// What the space uses, from the usage step (or as it was).
    pub usage: Option<crate::api::space::SpaceUsage>,
    /// An adopted space's report (managed from this reconcile on).
    pub adoption: Option<AdoptionStatus>,
    /// Its backups, from the backup step (or as they were).
    pub backups: Option<crate::api::backup::BackupsStatus>,
    /// The restore it is going through, from the restore step (or as it was).
    pub restore: Option<crate::api::restore::SpaceRestoreState>,
    /// Its sleep, from the sleep step (or as it was).
    pub sleep: Option<SleepStatus>,
    pub previous: &'a AssociationSpaceStatus,
}

fn cond(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(type_, status, reason, message)
}

/// Changes exactly when [`workload_condition`] may change: the Deployment controller updates a
/// new Deployment's status about five times, and only two of those change what the space shows.
/// Whether the space is suspended is read from the Deployment's own replicas (zero when it is).
pub fn workload_fingerprint(d: &Deployment) -> u64 {
    let w = observe_deployment(d);
    let suspended = d.spec.as_ref().and_then(|s| s.replicas) == Some(0);
    let shown = if suspended { (w.replicas, 0, false) } else { (w.replicas.max(1), w.ready_replicas, w.pods_ready()) };
    crate::controller::apply::hash64(&(
        w.generation,
        d.metadata.deletion_timestamp.is_some(),
        w.observed_generation < w.generation,
        suspended,
        shown,
    ))
}

/// IngressReady: what publishes the space, and a move between Ingress and Gateway under way (the
/// old object serves until the new one is taken, so the condition stays True through it).
fn edge_condition(host: &str, edge: &Edge) -> Condition {
    use ConditionStatus::{False, True};
    let gateway_name = |g: &GatewayParent| format!("Gateway {}/{}", g.namespace, g.name);
    let said = |v: &RouteVerdict| match v {
        RouteVerdict::Refused { reason, message } => format!("it says {reason}: {message}"),
        _ => "no word from it yet".to_string(),
    };
    match edge {
        Edge::Ingress { exists: true, route_kept: false } => {
            cond(INGRESS_READY, True, "Configured", format!("{host} is routed to the Nextcloud Service"))
        }
        Edge::Ingress { route_kept: true, exists } => cond(
            INGRESS_READY,
            True,
            "MovingToIngress",
            format!(
                "{host} is still routed by its HTTPRoute until the Ingress {}; then the route is deleted",
                if *exists { "is given an address by its controller" } else { "is created" }
            ),
        ),
        Edge::Ingress { exists: false, route_kept: false } => cond(INGRESS_READY, False, "Creating", "the Ingress is being created"),
        Edge::Route { gateway, verdict: RouteVerdict::Accepted, .. } => {
            cond(INGRESS_READY, True, "Accepted", format!("{host} is routed by the HTTPRoute nextcloud through {}", gateway_name(gateway)))
        }
        Edge::Route { gateway, verdict: RouteVerdict::AcceptedEarlier, ingress_kept: false } => cond(
            INGRESS_READY,
            True,
            "Accepted",
            format!(
                "{host} is routed by the HTTPRoute nextcloud through {} (as it read an earlier version of the route)",
                gateway_name(gateway)
            ),
        ),
        Edge::Route { gateway, verdict, ingress_kept: true } => cond(
            INGRESS_READY,
            True,
            "MovingToGateway",
            format!("{host} is still routed by its Ingress until {} accepts the HTTPRoute ({})", gateway_name(gateway), said(verdict)),
        ),
        Edge::Route { gateway, verdict: RouteVerdict::Pending, ingress_kept: false } => {
            cond(INGRESS_READY, False, "WaitingForGateway", format!("{} has not accepted the HTTPRoute yet", gateway_name(gateway)))
        }
        Edge::Route { gateway, verdict: RouteVerdict::Refused { reason, message }, ingress_kept: false } => cond(
            INGRESS_READY,
            False,
            "RouteNotAccepted",
            format!("{} did not take the HTTPRoute: {reason}: {message}", gateway_name(gateway)),
        ),
        Edge::NoGatewayApi { gateway, ingress_kept } => {
            let why = format!(
                "the class names {}, but the cluster served no gateway.networking.k8s.io/v1 HTTPRoute when the operator started (install the Gateway API CRDs, then restart it)",
                gateway_name(gateway)
            );
            if *ingress_kept {
                cond(INGRESS_READY, True, "MovingToGateway", format!("{host} is still routed by its Ingress: {why}"))
            } else {
                cond(INGRESS_READY, False, "GatewayAPIMissing", why)
            }
        }
    }
}

fn workload_condition(space: &ResolvedSpace, w: &WorkloadObservation, installed: bool, sleep: Option<SleepState>) -> Condition {
    use ConditionStatus::*;
    if !installed && !w.exists {
        return cond(WORKLOAD_READY, False, "WaitingForInstall", "no web pod runs before Nextcloud is installed");
    }
    // A Deployment being created, or created and not yet seen by its controller, has no pod
    // ready: one condition for all three, so a new space's status is written once on its way
    // (it would be three times for the same news). A change of an existing one is a roll-out.
    if w.generation <= 1 && w.observed_generation < w.generation.max(1) && !space.suspended {
        return cond(WORKLOAD_READY, False, "PodsNotReady", "0/1 Nextcloud pod(s) ready");
    }
    if w.observed_generation < w.generation {
        return cond(WORKLOAD_READY, False, "RollingOut", "the Nextcloud Deployment has not observed its latest change yet");
    }
    if space.suspended {
        return if w.replicas == 0 {
            cond(WORKLOAD_READY, True, "Suspended", "scaled to zero on request; data and configuration are kept")
        } else {
            cond(WORKLOAD_READY, False, "ScalingDown", format!("{} Nextcloud pod(s) still running", w.replicas))
        };
    }
    if sleep == Some(SleepState::Sleeping) && !space.suspended {
        return if w.replicas == 0 {
            cond(WORKLOAD_READY, True, "Sleeping", "no web pod while the space sleeps; its first request wakes it")
        } else {
            cond(WORKLOAD_READY, False, "FallingAsleep", format!("{} Nextcloud pod(s) still running", w.replicas))
        };
    }
    if sleep == Some(SleepState::Waking) && !w.pods_ready() {
        return cond(WORKLOAD_READY, False, "Waking", format!("{}/1 Nextcloud pod(s) ready: the space wakes", w.ready_replicas));
    }
    if w.pods_ready() {
        cond(WORKLOAD_READY, True, "Available", format!("{}/{} Nextcloud pod(s) ready", w.ready_replicas, w.replicas.max(1)))
    } else {
        cond(WORKLOAD_READY, False, "PodsNotReady", format!("{}/{} Nextcloud pod(s) ready", w.ready_replicas, w.replicas.max(1)))
    }
}

/// OfficeReady before the office step has run (an earlier step failed): what it was, or pending.
fn office_condition(space: &ResolvedSpace, previous: &AssociationSpaceStatus) -> Condition {
    match previous.conditions.iter().find(|c| c.type_ == OFFICE_READY) {
        Some(c) if previous.office == Some(space.office) => c.clone(),
        _ => cond(OFFICE_READY, ConditionStatus::Unknown, "Pending", format!("office suite {} is not wired yet", space.office.as_str())),
    }
}

/// Installed before the install step has run (an earlier step failed): what it was, or pending.
fn install_condition(previous: &AssociationSpaceStatus, recorded: bool) -> Condition {
    match previous.conditions.iter().find(|c| c.type_ == INSTALLED) {
        Some(c) => c.clone(),
        None if recorded => cond(INSTALLED, ConditionStatus::True, "Installed", "Nextcloud is installed"),
        None => {
            cond(INSTALLED, ConditionStatus::Unknown, "Pending", "Nextcloud is installed once the database, cache and bucket are ready")
        }
    }
}

/// Office wiring in progress or waiting for a backend leaves the space serving its files: only a
/// failed occ Job makes it not Ready.
/// AppsReady before the apps step has run (an earlier step failed): what it was, or pending.
fn apps_condition(previous: &AssociationSpaceStatus) -> Condition {
    match previous.conditions.iter().find(|c| c.type_ == APPS_READY) {
        Some(c) => c.clone(),
        None => cond(APPS_READY, ConditionStatus::Unknown, "Pending", "the class's apps are not applied yet"),
    }
}

/// A False condition keeps the space from Ready, except office and apps work in progress: the
/// space serves its files meanwhile. Their failed occ Jobs do block.
/// A class list its image cannot satisfy shows on the class, and does not make every space of
/// the class unready.
/// UpToDate blocks only while the space is down for its upgrade: a space waiting for its turn,
/// held, or rolled back serves its users on the version it runs.
fn blocks_readiness(c: &Condition) -> bool {
    if c.type_ == UP_TO_DATE {
        return c.status == ConditionStatus::False && is_upgrading(c);
    }
    // A space serves its users without its last backup (BackedUp shows it) and without calls
    // (TalkReady and the features show it), never Ready.
    if [BACKED_UP, TALK_READY].contains(&c.type_.as_str()) {
        return false;
    }
    c.status == ConditionStatus::False && (![OFFICE_READY, APPS_READY].contains(&c.type_.as_str()) || c.reason == OCC_FAILED)
}

/// BackedUp: the last attempt failed (False, its reason), the last backup kept (True), or none
/// yet (Unknown, with the first slot). While a backup runs, the condition stays as it was.
fn backed_up_condition(b: Option<&crate::api::backup::BackupsStatus>, previous: &AssociationSpaceStatus) -> Option<Condition> {
    use ConditionStatus::*;
    let b = b?;
    let next = b.next_at.as_deref().map(|t| format!("; next at {t}")).unwrap_or_default();
    if b.running.is_some()
        && let Some(c) = previous.conditions.iter().find(|c| c.type_ == BACKED_UP)
    {
        return Some(c.clone());
    }
    Some(match (&b.failure, b.last()) {
        (Some(f), _) => cond(BACKED_UP, False, &f.reason, format!("backup {} failed: {}{next}", f.id, f.message)),
        (None, Some(r)) => cond(BACKED_UP, True, "BackedUp", format!("backup {} at {} ({} kept){next}", r.id, r.finished_at, b.kept.len())),
        (None, None) if b.running.is_some() => cond(BACKED_UP, Unknown, "BackingUp", "the first backup is being taken"),
        (None, None) => cond(BACKED_UP, Unknown, "NoBackupYet", format!("no backup taken yet{next}")),
    })
}

fn is_upgrading(c: &Condition) -> bool {
    c.type_ == UP_TO_DATE && [super::upgrade::UPGRADING, super::upgrade::RESTORE_FAILED].contains(&c.reason.as_str())
}

fn was_ready(previous: &AssociationSpaceStatus) -> bool {
    matches!(previous.phase, Some(SpacePhase::Ready) | Some(SpacePhase::Degraded))
}

pub fn compute(o: &Observation<'_>, now: &str) -> AssociationSpaceStatus {
    use ConditionStatus::*;
    let mut status = o.previous.clone();
    status.observed_generation = o.generation;

    let (fresh, phase) = match o.resolved {
        Err(e) => {
            // Keep every other condition as it was: an invalid spec changes nothing that runs.
            let mut kept: Vec<Condition> = o.previous.conditions.iter().filter(|c| c.type_ != READY).cloned().collect();
            kept.push(cond(READY, False, e.reason(), e.to_string()));
            let phase = if o.deleting {
                SpacePhase::Deleting
            } else if !e.is_waiting() && was_ready(o.previous) {
                SpacePhase::Degraded
            } else {
                SpacePhase::Pending
            };
            (kept, phase)
        }
        Ok(space) => {
            status.url = Some(space.url());
            status.namespace = Some(space.namespace.clone());
            status.space_class = Some(space.class_name.clone());
            status.office = Some(space.office);
            status.quota = Some(space.quota.clone());
            status.max_accounts = Some(space.max_accounts);

            status.nextcloud = o.nextcloud.clone();
            status.upgrade = o.upgrade.clone();
            status.usage = o.usage.clone();
            if let Some(apps) = &o.apps {
                status.apps = Some(apps.clone());
            }
            let mut conditions = o.backing.clone();
            // A bucket over its quota is provisioned, but its uploads are refused.
            if let Some(s) = o.usage.as_ref().and_then(|u| u.storage.as_ref()).filter(|s| s.writes_refused)
                && let Some(c) = conditions.iter_mut().find(|c| c.type_ == STORAGE_READY && c.is_true())
            {
                *c = cond(STORAGE_READY, False, "OverQuota", super::usage::over_quota_message(s));
            }
            conditions.push(o.install.clone().unwrap_or_else(|| install_condition(o.previous, o.nextcloud.is_some())));
            conditions.push(o.apps_condition.clone().unwrap_or_else(|| apps_condition(o.previous)));
            conditions.push(o.office.clone().unwrap_or_else(|| office_condition(space, o.previous)));
            // Before the talk step ran (an earlier step failed), TalkReady stays as it was.
            let talk = match &o.talk {
                Some(now) => now.clone(),
                None => o.previous.conditions.iter().find(|c| c.type_ == TALK_READY).cloned(),
            };
            conditions.extend(talk);
            let sleep = o.sleep.as_ref().and_then(|z| z.state);
            status.sleep = o.sleep.clone();
            conditions.push(workload_condition(space, &o.workload, o.nextcloud.is_some(), sleep));
            conditions.push(edge_condition(&space.host, &o.edge));
            if let Some(c) = o.upgrade_condition.clone().or_else(|| o.previous.conditions.iter().find(|c| c.type_ == UP_TO_DATE).cloned())
                && o.nextcloud.is_some()
            {
                conditions.push(c);
            }
            if let Some(a) = &o.adoption {
                status.adoption = Some(a.clone());
                conditions.push(adopted_condition(a));
            }
            if let Some(f) = &o.failure {
                // A backing condition is missing when the pipeline stopped before provisioning.
                let failed = cond(f.condition, False, &f.reason, f.message.clone());
                match conditions.iter_mut().find(|c| c.type_ == f.condition) {
                    Some(c) => *c = failed,
                    None => conditions.insert(0, failed),
                }
            }
            // Down for its upgrade: that is the reason, whatever the workload shows meanwhile.
            let upgrading = conditions.iter().find(|c| is_upgrading(c) && c.status == False).cloned();
            // Asleep or waking, the web's state is the sleep's, said below.
            let dozing = matches!(sleep, Some(SleepState::Sleeping | SleepState::Waking));
            let blocking = upgrading
                .clone()
                .or_else(|| conditions.iter().find(|c| blocks_readiness(c) && !(dozing && c.type_ == WORKLOAD_READY)).cloned());
            let workload_ok = conditions.iter().any(|c| c.type_ == WORKLOAD_READY && c.is_true());
            let ingress_ok = conditions.iter().any(|c| c.type_ == INGRESS_READY && c.is_true());
            let (ready, phase) = if o.deleting {
                (cond(READY, False, "Deleting", "the space is being deleted"), SpacePhase::Deleting)
            } else if space.suspended {
                // Suspension is what was asked for, so it is the phase even while pods still stop;
                // WorkloadReady tells whether the scale-down is complete.
                let message = match &blocking {
                    Some(b) => format!("the space is suspended (spec.suspended is true); {}: {}", b.type_, b.message),
                    None => "the space is suspended: spec.suspended is true".to_string(),
                };
                (cond(READY, False, "Suspended", message), SpacePhase::Suspended)
            } else if let Some(r) = &o.restore {
                let message = format!("restore {} to backup {}: {:?} since {}", r.name, r.backup, r.phase, r.since);
                (cond(READY, False, "Restoring", message), SpacePhase::Restoring)
            } else if let Some(u) = upgrading {
                (cond(READY, False, &u.reason, format!("{}: {}", u.type_, u.message)), SpacePhase::Upgrading)
            } else if let Some(b) = blocking {
                let phase = if was_ready(o.previous) {
                    SpacePhase::Degraded
                } else if b.type_ == INSTALLED {
                    SpacePhase::Installing
                } else {
                    SpacePhase::Provisioning
                };
                (cond(READY, False, &b.reason, format!("{}: {}", b.type_, b.message)), phase)
            } else if let (Some(SleepState::Sleeping), Some(z), true) = (sleep, &o.sleep, ingress_ok) {
                (
                    cond(READY, True, "Sleeping", format!("asleep since {}: {}; its first request wakes it", z.since, z.message)),
                    SpacePhase::Sleeping,
                )
            } else if let (Some(SleepState::Waking), Some(z)) = (sleep, &o.sleep) {
                (cond(READY, False, "Waking", format!("waking since {} ({}): {}", z.since, z.reason, z.message)), SpacePhase::Waking)
            } else if workload_ok && ingress_ok {
                (cond(READY, True, "SpaceReady", format!("{} serves its users", space.url())), SpacePhase::Ready)
            } else {
                (cond(READY, False, "Provisioning", "waiting for the workload"), SpacePhase::Provisioning)
            };
            status.features = Some(super::features::of(status.apps.as_ref(), &conditions));
            conditions.insert(0, ready);
            status.restore = o.restore.clone();
            if space.class.backup.is_some() {
                status.backups = o.backups.clone();
                let failed_step = o.failure.as_ref().filter(|f| f.condition == BACKED_UP);
                if let Some(c) = failed_step.is_none().then(|| backed_up_condition(o.backups.as_ref(), o.previous)).flatten() {
                    conditions.push(c);
                }
            }
            (conditions, phase)
        }
    };
    status.phase = Some(phase);
    status.conditions = merge_conditions(&o.previous.conditions, fresh, o.generation, now);
    status
}

/// The Adopted condition a report gives.
fn adopted_condition(a: &AdoptionStatus) -> Condition {
    use ConditionStatus::*;
    let listed = |blocking: bool| {
        a.differences
            .iter()
            .filter(|d| d.blocking == blocking)
            .map(|d| format!("{}: {} ({})", d.field, d.observed, d.managed))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match a.state {
        AdoptionState::Managed => {
            cond(ADOPTED, True, "Managed", "the operator runs the space on its adopted database and bucket; deleting the space keeps them")
        }
        AdoptionState::Clean => {
            let changes = listed(false);
            let message = if changes.is_empty() {
                "nothing differs from what the operator would manage".to_string()
            } else {
                format!("managing it changes: {changes}")
            };
            cond(ADOPTED, False, "Clean", message)
        }
        AdoptionState::Differing => cond(ADOPTED, False, "Differing", format!("{}: {}", a.message, listed(true))),
        AdoptionState::Refused => cond(ADOPTED, False, "Refused", a.message.clone()),
        AdoptionState::Observing => cond(ADOPTED, False, "Observing", a.message.clone()),
    }
}

/// The status of an adopted space the operator only reads: its report, Adopted, and Ready False
/// (the space is not served by the operator yet). Every other condition stays as it was.
pub fn observing(
    previous: &AssociationSpaceStatus,
    space: &ResolvedSpace,
    report: AdoptionStatus,
    generation: Option<i64>,
    now: &str,
) -> AssociationSpaceStatus {
    use ConditionStatus::*;
    let mut status = previous.clone();
    status.observed_generation = generation;
    status.space_class = Some(space.class_name.clone());
    status.quota = Some(space.quota.clone());
    status.max_accounts = Some(space.max_accounts);
    status.phase = Some(SpacePhase::Observing);
    let adopted = adopted_condition(&report);
    let ready = match (report.policy, report.state) {
        (AdoptionPolicy::Manage, _) => cond(
            READY,
            False,
            "AdoptionNotClean",
            format!(
                "spec.adoption.policy is Manage, but the report is {}: nothing is taken over ({})",
                report.state.as_str(),
                adopted.message
            ),
        ),
        (AdoptionPolicy::Observe, _) => {
            cond(READY, False, "Observing", "an existing instance the operator only reads (spec.adoption.policy: Observe)")
        }
    };
    status.adoption = Some(report);
    let mut fresh: Vec<Condition> = previous.conditions.iter().filter(|c| c.type_ != READY && c.type_ != ADOPTED).cloned().collect();
    fresh.insert(0, ready);
    fresh.push(adopted);
    status.conditions = merge_conditions(&previous.conditions, fresh, generation, now);
    status
}

/// What releasing a deleted space's data did.
pub enum Release<'a> {
    Done { policy: DeletionPolicy, namespace: &'a str },
    Failed { reason: &'a str, message: String },
}

/// The status of a space being deleted: phase Deleting, Ready False with what the release of its
/// data did, every other condition as it was.
pub fn deleting(previous: &AssociationSpaceStatus, generation: Option<i64>, release: &Release<'_>, now: &str) -> AssociationSpaceStatus {
    let mut status = previous.clone();
    status.phase = Some(SpacePhase::Deleting);
    let ready = match release {
        Release::Done { policy, namespace } => cond(
            READY,
            ConditionStatus::False,
            "Deleting",
            format!("{policy:?} policy applied; namespace {namespace} is deleted with the space"),
        ),
        Release::Failed { reason, message } => {
            cond(READY, ConditionStatus::False, reason, format!("releasing the space's data: {message}"))
        }
    };
    let mut fresh: Vec<_> = previous.conditions.iter().filter(|c| c.type_ != READY).cloned().collect();
    fresh.insert(0, ready);
    status.conditions = merge_conditions(&previous.conditions, fresh, generation, now);
    status
}

#[cfg(test)]
#[path = "conditions_tests.rs"]
mod tests;
