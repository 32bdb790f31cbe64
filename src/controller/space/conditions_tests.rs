//! The rules of `conditions`, one by one.

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
            let c = workload_condition(&space, &observe_deployment(&d), true, None);
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
        talk: None,
        resolved: Ok(space),
        workload,
        edge: Edge::Ingress { exists: true, route_kept: false },
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
        backups: None,
        restore: None,
        sleep: None,
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
        talk: None,
        resolved: Err(&err),
        workload: ready_workload(),
        upgrade_condition: None,
        upgrade: None,
        edge: Edge::Ingress { exists: true, route_kept: false },
        failure: None,
        office: None,
        apps_condition: None,
        apps: None,
        install: None,
        nextcloud: None,
        usage: None,
        adoption: None,
        backups: None,
        restore: None,
        sleep: None,
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

#[test]
fn a_failed_backup_shows_in_backed_up_and_never_in_ready() {
    use crate::api::backup::{BackupFailure, BackupPolicy, BackupRecord, BackupsStatus};
    let mut class = fixtures::class("c", true);
    class.spec.backup = Some(BackupPolicy { storage_pool: "backups".into(), every_hours: 24, keep: 2, restore_test_hours: None });
    let space = resolve(&fixtures::space("a"), &class).expect("resolves");
    let plain = resolved();
    let ready = compute(&observe(&space, &AssociationSpaceStatus::default(), ready_workload()), NOW);
    let first = BackupsStatus { next_at: Some("2026-12-06T03:00:00Z".into()), ..BackupsStatus::default() };
    let s = compute(&Observation { backups: Some(first.clone()), ..observe(&space, &ready, ready_workload()) }, NOW);
    let c = find(&s.conditions, BACKED_UP).expect("BackedUp");
    assert_eq!((c.status, c.reason.as_str()), (ConditionStatus::Unknown, "NoBackupYet"));
    assert!(c.message.contains("2026-12-06T03:00:00Z"), "{}", c.message);
    let failed = BackupsStatus {
        failure: Some(BackupFailure { id: "x".into(), at: NOW.into(), reason: "LocationRefused".into(), message: "HTTP 403".into() }),
        ..first.clone()
    };
    let s = compute(&Observation { backups: Some(failed), ..observe(&space, &s, ready_workload()) }, NOW);
    let c = find(&s.conditions, BACKED_UP).expect("BackedUp");
    assert_eq!((c.status, c.reason.as_str()), (ConditionStatus::False, "LocationRefused"));
    assert_eq!(s.phase, Some(SpacePhase::Ready), "a space serves its users without its last backup");
    let record = BackupRecord { finished_at: NOW.into(), ..BackupRecord::fixture("20261205T030000Z") };
    let done = BackupsStatus { kept: vec![record], ..first };
    let s = compute(&Observation { backups: Some(done.clone()), ..observe(&space, &s, ready_workload()) }, NOW);
    assert_eq!(find(&s.conditions, BACKED_UP).map(|c| c.status), Some(ConditionStatus::True));
    assert_eq!(s.backups, Some(done.clone()));
    let s = compute(&Observation { backups: Some(done), ..observe(&plain, &s, ready_workload()) }, NOW);
    assert!(find(&s.conditions, BACKED_UP).is_none(), "no policy, no condition");
}

#[test]
fn a_move_between_ingress_and_gateway_keeps_the_space_ready_and_a_lone_route_waits_for_its_gateway() {
    let space = resolved();
    let prev = AssociationSpaceStatus::default();
    let gateway = GatewayParent { name: "public".into(), namespace: "edge".into(), section_name: None };
    let mut o = observe(&space, &prev, ready_workload());
    let reason_of = |o: &Observation| {
        let s = compute(o, NOW);
        let c = find(&s.conditions, INGRESS_READY).cloned().expect("IngressReady");
        (s.phase, c.status, c.reason)
    };
    o.edge = Edge::Route { gateway: gateway.clone(), verdict: RouteVerdict::Pending, ingress_kept: true };
    assert_eq!(reason_of(&o), (Some(SpacePhase::Ready), ConditionStatus::True, "MovingToGateway".to_string()), "the Ingress still serves");
    o.edge = Edge::Route { gateway: gateway.clone(), verdict: RouteVerdict::Accepted, ingress_kept: false };
    assert_eq!(reason_of(&o), (Some(SpacePhase::Ready), ConditionStatus::True, "Accepted".to_string()));
    o.edge = Edge::Route { gateway: gateway.clone(), verdict: RouteVerdict::Pending, ingress_kept: false };
    assert_eq!(reason_of(&o).1, ConditionStatus::False, "a new space's route not accepted yet: not reachable");
    assert_ne!(reason_of(&o).0, Some(SpacePhase::Ready));
    o.edge = Edge::Route {
        gateway: gateway.clone(),
        verdict: RouteVerdict::Refused { reason: "NotAllowedByListeners".into(), message: "namespace not allowed".into() },
        ingress_kept: false,
    };
    let s = compute(&o, NOW);
    let c = find(&s.conditions, INGRESS_READY).expect("IngressReady");
    assert_eq!(c.reason, "RouteNotAccepted");
    assert!(c.message.contains("edge/public") && c.message.contains("NotAllowedByListeners"), "{}", c.message);
    o.edge = Edge::Ingress { exists: true, route_kept: true };
    assert_eq!(reason_of(&o), (Some(SpacePhase::Ready), ConditionStatus::True, "MovingToIngress".to_string()), "the route still serves");
    o.edge = Edge::NoGatewayApi { gateway, ingress_kept: false };
    assert_eq!(reason_of(&o).2, "GatewayAPIMissing");
}
