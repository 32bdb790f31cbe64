//! Every condition and the phase of a space, computed from what the steps observed: one pure
//! function for a space being reconciled ([`compute`]) and one for a space being deleted
//! ([`deleting`]), so every rule is unit-tested and the steps only gather observations.

use crate::api::adoption::{AdoptionPolicy, AdoptionState, AdoptionStatus};
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions};
use crate::api::labels::ADOPTED;
use crate::api::labels::{
    APPS_READY, CACHE_READY, DATABASE_READY, INGRESS_READY, INSTALLED, OCC_FAILED, OFFICE_READY, PLACED, READY, STORAGE_READY, UP_TO_DATE,
    WORKLOAD_READY,
};
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
    pub ingress_exists: bool,
    pub failure: Option<StepFailure>,
    /// OfficeReady from the office step, when it ran.
    pub office: Option<Condition>,
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

fn workload_condition(space: &ResolvedSpace, w: &WorkloadObservation, installed: bool) -> Condition {
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
    c.status == ConditionStatus::False && (![OFFICE_READY, APPS_READY].contains(&c.type_.as_str()) || c.reason == OCC_FAILED)
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
            conditions.push(workload_condition(space, &o.workload, o.nextcloud.is_some()));
            conditions.push(if o.ingress_exists {
                cond(INGRESS_READY, True, "Configured", format!("{} is routed to the Nextcloud Service", space.host))
            } else {
                cond(INGRESS_READY, False, "Creating", "the Ingress is being created")
            });
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
            let blocking = upgrading.clone().or_else(|| conditions.iter().find(|c| blocks_readiness(c)).cloned());
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
            } else if workload_ok && ingress_ok {
                (cond(READY, True, "SpaceReady", format!("{} serves its users", space.url())), SpacePhase::Ready)
            } else {
                (cond(READY, False, "Provisioning", "waiting for the workload"), SpacePhase::Provisioning)
            };
            conditions.insert(0, ready);
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
mod tests {
    use super::*;
    use crate::api::conditions::find;
    use crate::render::resolve::{resolve, tests as fixtures};

    const NOW: &str = "2026-11-21T10:00:00Z";

    fn resolved() -> ResolvedSpace {
        resolve(&fixtures::space("a"), &fixtures::class("c", true)).expect("resolves")
    }

    fn ready_workload() -> WorkloadObservation {
        WorkloadObservation {
            exists: true,
            desired_replicas: 1,
            generation: 1,
            observed_generation: 1,
            replicas: 1,
            ready_replicas: 1,
            updated_replicas: 1,
        }
    }

    /// Every change of WorkloadReady, for a running or a suspended space, changes the fingerprint
    /// that decides whether a Deployment event reconciles the space.
    #[test]
    fn the_workload_fingerprint_follows_every_change_of_the_condition() {
        use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
        for suspended in [false, true] {
            let mut space = resolved();
            space.suspended = suspended;
            let mut seen: Vec<(u64, (ConditionStatus, String, String))> = Vec::new();
            for (observed, replicas, ready, updated) in itertools_grid() {
                let d = Deployment {
                    metadata: kube::core::ObjectMeta { generation: Some(2), ..Default::default() },
                    spec: Some(DeploymentSpec { replicas: Some(if suspended { 0 } else { 1 }), ..Default::default() }),
                    status: Some(DeploymentStatus {
                        observed_generation: Some(observed),
                        replicas: Some(replicas),
                        ready_replicas: Some(ready),
                        updated_replicas: Some(updated),
                        ..Default::default()
                    }),
                };
                let c = workload_condition(&space, &observe_deployment(&d), true);
                let shown = (c.status, c.reason.clone(), c.message.clone());
                let f = workload_fingerprint(&d);
                for (other, other_shown) in &seen {
                    assert!(*other != f || *other_shown == shown, "{shown:?} and {other_shown:?} share a fingerprint");
                }
                seen.push((f, shown));
            }
            let distinct: std::collections::HashSet<_> = seen.iter().map(|(f, _)| f).collect();
            assert!(distinct.len() < seen.len(), "status-only churn shares fingerprints");
        }
    }

    fn itertools_grid() -> Vec<(i64, i32, i32, i32)> {
        let mut grid = Vec::new();
        for observed in [1, 2] {
            for replicas in 0..3 {
                for ready in 0..3 {
                    for updated in 0..3 {
                        grid.push((observed, replicas, ready, updated));
                    }
                }
            }
        }
        grid
    }

    fn backing_ok() -> Vec<Condition> {
        [PLACED, DATABASE_READY, CACHE_READY, STORAGE_READY].iter().map(|t| cond(t, ConditionStatus::True, "Provisioned", "")).collect()
    }

    fn observe<'a>(space: &'a ResolvedSpace, previous: &'a AssociationSpaceStatus, workload: WorkloadObservation) -> Observation<'a> {
        Observation {
            generation: Some(1),
            backing: backing_ok(),
            deleting: false,
            resolved: Ok(space),
            workload,
            ingress_exists: true,
            failure: None,
            office: None,
            apps_condition: None,
            apps: None,
            install: Some(cond(INSTALLED, ConditionStatus::True, "Installed", "Nextcloud 33.0.7")),
            nextcloud: Some(NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() }),
            upgrade_condition: None,
            upgrade: None,
            usage: None,
            adoption: None,
            previous,
        }
    }

    #[test]
    fn a_bucket_over_its_quota_degrades_the_space_and_says_why() {
        let space = resolved();
        let ready = compute(&observe(&space, &AssociationSpaceStatus::default(), ready_workload()), NOW);
        assert_eq!(ready.phase, Some(SpacePhase::Ready));
        let storage = crate::api::space::StorageUsageStatus {
            used_bytes: 3 << 20,
            objects: 4,
            quota_bytes: 1 << 20,
            measured_at: NOW.into(),
            writes_refused: true,
            ..Default::default()
        };
        let usage = crate::api::space::SpaceUsage { storage: Some(storage), ..Default::default() };
        let o = Observation { usage: Some(usage.clone()), ..observe(&space, &ready, ready_workload()) };
        let s = compute(&o, NOW);
        let c = find(&s.conditions, STORAGE_READY).expect("StorageReady");
        assert_eq!((c.status, c.reason.as_str()), (ConditionStatus::False, "OverQuota"));
        assert!(c.message.contains("3.0 MiB of its 1.0 MiB"), "{}", c.message);
        assert_eq!(s.phase, Some(SpacePhase::Degraded));
        assert_eq!(s.usage, Some(usage.clone()));
        let mut back = usage;
        if let Some(st) = back.storage.as_mut() {
            st.writes_refused = false;
        }
        let s = compute(&Observation { usage: Some(back), ..observe(&space, &s, ready_workload()) }, NOW);
        assert_eq!(find(&s.conditions, STORAGE_READY).map(|c| c.status), Some(ConditionStatus::True));
        assert_eq!(s.phase, Some(SpacePhase::Ready));
    }

    #[test]
    fn a_space_being_installed_is_installing_and_runs_no_web_pod() {
        let space = resolved();
        let fresh = AssociationSpaceStatus::default();
        let o = Observation {
            install: Some(cond(INSTALLED, ConditionStatus::False, "Installing", "install Job nextcloud-install (attempt 1) is running")),
            nextcloud: None,
            workload: WorkloadObservation::default(),
            ..observe(&space, &fresh, WorkloadObservation::default())
        };
        let s = compute(&o, NOW);
        assert_eq!(s.phase, Some(SpacePhase::Installing));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("Installing"));
        assert_eq!(find(&s.conditions, WORKLOAD_READY).map(|c| c.reason.as_str()), Some("WaitingForInstall"));
        assert_eq!(s.nextcloud, None);
        // A failed install is not Ready either, and says so first.
        let o = Observation { install: Some(cond(INSTALLED, ConditionStatus::False, "InstallFailed", "boom")), ..o };
        let s = compute(&o, NOW);
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("InstallFailed"));
        // Installed: the record lands in the status.
        let s = compute(&observe(&space, &fresh, ready_workload()), NOW);
        assert_eq!(s.nextcloud.map(|n| n.version), Some("33.0.7.2".to_string()));
        assert_eq!(s.phase, Some(SpacePhase::Ready));
    }

    fn status_of(s: &AssociationSpaceStatus, t: &str) -> ConditionStatus {
        find(&s.conditions, t).map(|c| c.status).unwrap_or(ConditionStatus::Unknown)
    }

    #[test]
    fn ready_when_workload_and_ingress_are() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let s = compute(&observe(&space, &prev, ready_workload()), NOW);
        assert_eq!(s.phase, Some(SpacePhase::Ready));
        assert_eq!(status_of(&s, READY), ConditionStatus::True);
        assert_eq!(status_of(&s, DATABASE_READY), ConditionStatus::True);
        assert_eq!(s.url.as_deref(), Some("https://a.frama.space"), "https without a TLS issuer: a wildcard certificate in front");
        assert_eq!(s.observed_generation, Some(1));
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(1) && c.last_transition_time == NOW));
    }

    #[test]
    fn recomputing_the_same_state_is_identical() {
        let space = resolved();
        let first = compute(&observe(&space, &AssociationSpaceStatus::default(), ready_workload()), NOW);
        let second = compute(&observe(&space, &first, ready_workload()), "2026-11-21T11:00:00Z");
        assert_eq!(first, second, "no status write when nothing changed");
    }

    #[test]
    fn provisioning_then_degraded() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let mut w = ready_workload();
        w.ready_replicas = 0;
        let s = compute(&observe(&space, &prev, w.clone()), NOW);
        assert_eq!(s.phase, Some(SpacePhase::Provisioning));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("PodsNotReady"));
        let ready = compute(&observe(&space, &prev, ready_workload()), NOW);
        let degraded = compute(&observe(&space, &ready, w), NOW);
        assert_eq!(degraded.phase, Some(SpacePhase::Degraded));
    }

    #[test]
    fn suspended_space() {
        let mut space = resolved();
        space.suspended = true;
        let prev = AssociationSpaceStatus::default();
        let mut w = ready_workload();
        let s = compute(&observe(&space, &prev, w.clone()), NOW);
        assert_eq!(find(&s.conditions, WORKLOAD_READY).map(|c| c.reason.as_str()), Some("ScalingDown"));
        assert_eq!(s.phase, Some(SpacePhase::Suspended), "suspension shows at once, while pods stop");
        w.replicas = 0;
        w.ready_replicas = 0;
        let s = compute(&observe(&space, &prev, w), NOW);
        assert_eq!(s.phase, Some(SpacePhase::Suspended));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("Suspended"));
    }

    #[test]
    fn a_failure_before_provisioning_still_shows_in_its_condition() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let mut o = observe(&space, &prev, ready_workload());
        o.backing = Vec::new();
        o.failure = Some(StepFailure { condition: PLACED, reason: "RetainedDataHeld".into(), message: "held".into() });
        let s = compute(&o, NOW);
        assert_eq!(find(&s.conditions, PLACED).map(|c| c.reason.as_str()), Some("RetainedDataHeld"));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("RetainedDataHeld"));
    }

    #[test]
    fn step_failure_names_its_condition() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let mut o = observe(&space, &prev, ready_workload());
        o.failure = Some(StepFailure { condition: INGRESS_READY, reason: "Forbidden".into(), message: "no".into() });
        let s = compute(&o, NOW);
        assert_eq!(status_of(&s, INGRESS_READY), ConditionStatus::False);
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("Forbidden"));
    }

    #[test]
    fn a_space_down_for_its_upgrade_is_upgrading_and_one_waiting_for_its_turn_is_ready() {
        let space = resolved();
        let previous = AssociationSpaceStatus::default();
        let mut o = observe(&space, &previous, WorkloadObservation { desired_replicas: 0, ..ready_workload() });
        o.upgrade_condition = Some(cond(UP_TO_DATE, ConditionStatus::False, super::super::upgrade::UPGRADING, "33.0.7 → 34.0.1: snapshot"));
        let s = compute(&o, NOW);
        let ready = s.conditions.iter().find(|c| c.type_ == READY).expect("Ready");
        assert_eq!((s.phase, ready.reason.as_str()), (Some(SpacePhase::Upgrading), "Upgrading"), "not the workload's PodsNotReady");
        assert!(ready.message.starts_with("UpToDate: 33.0.7 → 34.0.1"), "{}", ready.message);
        let mut o = observe(&space, &previous, ready_workload());
        for reason in ["UpgradePending", "UpgradeHeld", "UpgradeFailed"] {
            o.upgrade_condition = Some(cond(UP_TO_DATE, ConditionStatus::False, reason, "runs 33.0.7"));
            let s = compute(&o, NOW);
            assert_eq!(s.phase, Some(SpacePhase::Ready), "{reason}: the space serves its users on the version it runs");
            assert!(s.conditions.iter().any(|c| c.type_ == UP_TO_DATE && c.reason == reason));
        }
    }

    #[test]
    fn an_observed_space_is_not_ready_and_says_what_stops_managing_it() {
        use crate::api::adoption::AdoptionDifference;
        let space = resolved();
        let differing = AdoptionStatus {
            state: AdoptionState::Differing,
            policy: AdoptionPolicy::Manage,
            observed_at: NOW.into(),
            differences: vec![AdoptionDifference { field: "instanceid".into(), observed: "x".into(), managed: "y".into(), blocking: true }],
            instance: None,
            message: "1 difference(s) must be mended before the space can be managed".into(),
        };
        let s = observing(&AssociationSpaceStatus::default(), &space, differing.clone(), Some(1), NOW);
        assert_eq!(s.phase, Some(SpacePhase::Observing));
        let ready = find(&s.conditions, READY).expect("Ready");
        assert_eq!((ready.status, ready.reason.as_str()), (ConditionStatus::False, "AdoptionNotClean"));
        let adopted = find(&s.conditions, ADOPTED).expect("Adopted");
        assert_eq!(adopted.reason, "Differing");
        assert!(adopted.message.contains("instanceid: x (y)"), "{}", adopted.message);
        assert_eq!(s.adoption, Some(differing.clone()));
        assert!(s.namespace.is_none() && s.url.is_none(), "nothing of the operator's exists for it yet");
        let managed = AdoptionStatus { state: AdoptionState::Managed, ..differing };
        let previous = AssociationSpaceStatus::default();
        let o = Observation { adoption: Some(managed), ..observe(&space, &previous, ready_workload()) };
        let s = compute(&o, NOW);
        assert_eq!(find(&s.conditions, ADOPTED).map(|c| (c.status, c.reason.as_str())), Some((ConditionStatus::True, "Managed")));
        assert_eq!(s.phase, Some(SpacePhase::Ready), "Adopted True does not hold the space back");
    }

    #[test]
    fn invalid_spec_keeps_other_conditions_and_waits() {
        let space = resolved();
        let ready = compute(&observe(&space, &AssociationSpaceStatus::default(), ready_workload()), NOW);
        let err = SpecError::QuotaAboveClassMaximum { quota: "60Gi".into(), max: "50Gi".into(), class: "c".into() };
        let o = Observation {
            generation: Some(2),
            backing: backing_ok(),
            deleting: false,
            resolved: Err(&err),
            workload: ready_workload(),
            upgrade_condition: None,
            upgrade: None,
            ingress_exists: true,
            failure: None,
            office: None,
            apps_condition: None,
            apps: None,
            install: None,
            nextcloud: None,
            usage: None,
            adoption: None,
            previous: &ready,
        };
        let s = compute(&o, NOW);
        assert_eq!(s.phase, Some(SpacePhase::Degraded));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some("QuotaAboveClassMaximum"));
        assert_eq!(status_of(&s, WORKLOAD_READY), ConditionStatus::True, "the running workload is untouched");
        let missing = SpecError::ClassNotFound("x".into());
        let fresh = AssociationSpaceStatus::default();
        let o = Observation { resolved: Err(&missing), previous: &fresh, ..o };
        assert_eq!(compute(&o, NOW).phase, Some(SpacePhase::Pending));
    }

    #[test]
    fn office_wiring_in_progress_keeps_the_space_ready_but_a_failed_occ_job_does_not() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let mut o = observe(&space, &prev, ready_workload());
        o.office = Some(cond(OFFICE_READY, ConditionStatus::False, "Configuring", "occ Job occ-office-1 is running"));
        let s = compute(&o, NOW);
        assert_eq!(s.phase, Some(SpacePhase::Ready));
        assert_eq!(find(&s.conditions, OFFICE_READY).map(|c| c.reason.as_str()), Some("Configuring"));
        o.office = Some(cond(OFFICE_READY, ConditionStatus::False, OCC_FAILED, "occ Job occ-office-1 failed"));
        let s = compute(&o, NOW);
        assert_eq!(s.phase, Some(SpacePhase::Provisioning));
        assert_eq!(find(&s.conditions, READY).map(|c| c.reason.as_str()), Some(OCC_FAILED));
    }

    #[test]
    fn office_condition_is_pending_until_the_step_runs_and_kept_after() {
        let space = resolved();
        let prev = AssociationSpaceStatus::default();
        let s = compute(&observe(&space, &prev, ready_workload()), NOW);
        assert_eq!(find(&s.conditions, OFFICE_READY).map(|c| (c.status, c.reason.as_str())), Some((ConditionStatus::Unknown, "Pending")));
        let mut o = observe(&space, &prev, ready_workload());
        o.office = Some(cond(OFFICE_READY, ConditionStatus::True, "Configured", "done"));
        let configured = compute(&o, NOW);
        let again = compute(&observe(&space, &configured, ready_workload()), NOW);
        assert_eq!(find(&again.conditions, OFFICE_READY).map(|c| c.reason.as_str()), Some("Configured"));
    }

    #[test]
    fn a_deleted_space_says_what_its_release_did_and_keeps_the_rest() {
        let space = resolved();
        let ready = compute(&observe(&space, &AssociationSpaceStatus::default(), ready_workload()), NOW);
        let done = deleting(&ready, Some(1), &Release::Done { policy: DeletionPolicy::Retain, namespace: "space-a" }, NOW);
        assert_eq!(done.phase, Some(SpacePhase::Deleting));
        let r = find(&done.conditions, READY).expect("Ready");
        assert_eq!((r.status, r.reason.as_str()), (ConditionStatus::False, "Deleting"));
        assert!(r.message.contains("Retain policy applied"), "{}", r.message);
        assert_eq!(status_of(&done, DATABASE_READY), ConditionStatus::True, "the other conditions stay");
        let failed = deleting(&ready, Some(1), &Release::Failed { reason: "PoolUnreachable", message: "postgres is down".into() }, NOW);
        let r = find(&failed.conditions, READY).expect("Ready");
        assert_eq!(r.reason, "PoolUnreachable");
        assert_eq!(r.message, "releasing the space's data: postgres is down");
    }
}
