//! Step "build": every object of a space, built by pure functions from the resolved spec, its
//! placement and its bindings, before the first write. The apply steps consume this value whole
//! (each destructures its part), so an object added here and forgotten there does not compile
//! clean. The credentials Secret is the one exception (see `credentials`): its content is what
//! the cluster already holds, read once the namespace exists.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;

use super::placement;
use crate::api::sleep::SleepState;
use crate::api::space::{NextcloudStatus, Placement};
use crate::render::bindings::{Bindings, office_commands};
use crate::render::jobs::{self, occ_job_name};
use crate::render::nextcloud::InstallPlan;
use crate::render::objects::{self, SecretAccess};
use crate::render::resolve::ResolvedSpace;
use crate::render::{exposure, names};

/// The purpose label of the office occ Jobs.
pub const OFFICE_PURPOSE: &str = "office";
/// The purpose label of the occ Jobs that apply the class's app list.
pub const APPS_PURPOSE: &str = "apps";

/// Every object of one space.
pub struct SpaceObjects {
    pub namespace: NamespaceObjects,
    pub workload: WorkloadObjects,
    pub exposure: ExposureObjects,
    /// The install Job of this attempt; `None` once installed, or without a database yet.
    pub install: Option<Job>,
    pub office: OfficeWiring,
    pub talk: TalkWiring,
    pub apps: AppsWiring,
    pub upgrade: UpgradeJobs,
    /// The background run of a sleeping space, for its next due time.
    pub background: Option<Job>,
    /// The dump Job of the backup under way.
    pub backup: Option<Job>,
    /// The database Job of the restore under way.
    pub restore: Option<Job>,
}

/// The Jobs of the upgrade under way (see `upgrade`): built for its phase, created by the step
/// when the phase reaches them.
#[derive(Default)]
pub struct UpgradeJobs {
    pub snapshot: Option<Job>,
    pub migrate: Option<Job>,
    pub restore: Option<Job>,
}

/// The space's namespace (recording its placement) and the operator's access to its Secrets.
pub struct NamespaceObjects {
    pub namespace: Namespace,
    /// `None` when the operator's own role already reaches every Secret (development).
    pub operator_access: Option<RoleBinding>,
}

/// Nextcloud itself: its configuration, its Deployment and the namespace's limits.
pub struct WorkloadObjects {
    pub config_map: ConfigMap,
    /// Only for an installed space: no web pod runs before the install succeeded.
    pub deployment: Option<Deployment>,
    pub resource_quota: ResourceQuota,
    pub limit_range: LimitRange,
}

/// How the space is reached, and what it may reach.
pub struct ExposureObjects {
    pub service: Service,
    pub ingress: Ingress,
    /// When the class publishes through a Gateway (then the Ingress is not applied).
    pub route: Option<crate::api::gateway::HTTPRoute>,
    /// The Service a sleeping space's requests go to (a class with a sleep policy).
    pub wake_service: Option<Service>,
    pub network_policy: NetworkPolicy,
}

/// The occ commands that wire the space's office suite, and the Job that runs them (only in an
/// installed space).
pub struct OfficeWiring {
    pub commands: Vec<String>,
    pub job_name: String,
    pub job: Option<Job>,
}

/// The occ commands that wire the space's Talk to its TURN server (or unwire it, for a class
/// without Talk), and the Job that runs them (only in an installed space).
pub struct TalkWiring {
    pub commands: Vec<String>,
    pub job_name: String,
    pub job: Option<Job>,
}

/// The class's app list, and the occ Job that brings the space to it (only when the list
/// differs from the one last applied, in an installed space).
pub struct AppsWiring {
    /// The class's apps, sorted.
    pub desired: Vec<String>,
    pub commands: Vec<String>,
    pub job_name: String,
    pub job: Option<Job>,
    /// Every app of the list enabled again, for a space whose Nextcloud lost some of them (an
    /// admin's click in the Apps page): named by the step for its round (`apps::repair_name`).
    pub repair: Option<Job>,
}

/// The commands that move a space from the list applied last to the class's: every listed app
/// enabled (a no-op for those already on), the ones taken off disabled. Apps never listed are
/// never touched. Empty when nothing changed.
pub fn apps_commands(desired: &[String], applied: &[String]) -> Vec<String> {
    let same = desired.len() == applied.len() && desired.iter().all(|a| applied.contains(a));
    if same {
        return Vec::new();
    }
    let mut commands = Vec::new();
    if !desired.is_empty() {
        commands.push(format!("app:enable {}", desired.join(" ")));
    }
    for removed in applied.iter().filter(|a| !desired.contains(a)) {
        commands.push(format!("app:disable {removed}"));
    }
    commands
}

/// What the objects are built from besides the resolved spec.
pub struct BuildInputs<'a> {
    pub placement: &'a Placement,
    pub bindings: &'a Bindings,
    pub access: Option<&'a SecretAccess>,
    /// The Nextcloud the space runs, once installed.
    pub installed: Option<&'a NextcloudStatus>,
    /// The attempt an install Job would be (see `install::next_attempt`).
    pub install_attempt: u32,
    /// The class's app list as last applied to the space (`status.apps.requested`).
    pub applied_apps: &'a [String],
    /// The space's upgrade, when one is under way.
    pub upgrade: Option<&'a crate::api::space::UpgradeStatus>,
    /// The backup under way (`status.backups.running`), whose dump Job is built.
    pub backup: Option<&'a str>,
    /// The restore under way (`status.restore`): the web at zero, its database Job built.
    pub restore: Option<&'a crate::api::restore::SpaceRestoreState>,
    /// A clone whose data has not arrived yet: its web stays at zero.
    pub held: bool,
    /// Its sleep as last decided (`status.sleep`): asleep, its web at zero and its requests to
    /// the wake Service, and its background run built.
    pub sleep: Option<&'a crate::api::sleep::SleepStatus>,
    /// The wake component's Service (DNS name), when the operator was given one.
    pub wake_target: Option<&'a str>,
}

pub fn space_objects(space: &ResolvedSpace, inputs: BuildInputs<'_>) -> SpaceObjects {
    let BuildInputs {
        placement,
        bindings,
        access,
        installed,
        install_attempt,
        applied_apps,
        upgrade,
        backup,
        restore,
        held,
        sleep,
        wake_target,
    } = inputs;
    let upgrade = upgrade.filter(|u| u.phase.in_progress());
    let state = sleep.and_then(|s| s.state);
    let asleep = state == Some(SleepState::Sleeping);
    let stopped = upgrade.is_some_and(|u| u.phase.stops_the_web()) || restore.is_some() || held || asleep;
    // Asleep or waking, the space's requests go to the wake component, which holds them until
    // its web serves; the route comes back to the space's own Service once it is awake.
    let wake_service = wake_target.filter(|_| space.class.sleep.is_some()).map(|t| exposure::wake_service(space, t));
    let backend = match state {
        Some(SleepState::Sleeping | SleepState::Waking) if wake_service.is_some() => names::WAKE_SERVICE,
        _ => names::NEXTCLOUD,
    };
    let background_due = sleep.filter(|_| asleep).and_then(|s| s.background.as_ref()).and_then(|b| b.next_run.as_deref());
    let background_due = background_due.and_then(crate::api::conditions::epoch_seconds);
    let files: BTreeMap<String, String> = crate::render::config::render(space, bindings, installed);
    let commands = office_commands(space.office, bindings.office.as_ref());
    let talk_commands = crate::render::talk::talk_commands(bindings.talk.as_ref().filter(|_| space.has_talk()));
    let desired = space.apps();
    let plan = InstallPlan { apps: desired.clone(), welcome: bindings.mail.is_some() };
    let app_commands = apps_commands(&desired, applied_apps);
    SpaceObjects {
        namespace: NamespaceObjects {
            namespace: objects::namespace(space, placement::annotations(placement), installed),
            operator_access: access.map(|a| objects::operator_access(space, a)),
        },
        install: match installed {
            None => jobs::install_job(space, bindings, &files, install_attempt, &plan),
            Some(_) => None,
        },
        workload: WorkloadObjects {
            deployment: installed.map(|nc| objects::deployment(space, bindings, &files, nc, stopped)),
            resource_quota: objects::resource_quota(space),
            limit_range: objects::limit_range(space),
            config_map: objects::config_map(space, files.clone()),
        },
        exposure: ExposureObjects {
            service: exposure::service(space),
            ingress: exposure::ingress(space, backend),
            route: crate::render::route::http_route(space, backend),
            wake_service,
            network_policy: exposure::network_policy(space, bindings),
        },
        apps: AppsWiring {
            job_name: occ_job_name(APPS_PURPOSE, &app_commands),
            job: installed
                .filter(|_| !app_commands.is_empty())
                .map(|nc| jobs::occ_job(space, bindings, &files, nc, APPS_PURPOSE, &app_commands)),
            repair: installed
                .filter(|_| !desired.is_empty())
                .map(|nc| jobs::occ_job(space, bindings, &files, nc, APPS_PURPOSE, &[format!("app:enable {}", desired.join(" "))])),
            commands: app_commands,
            desired,
        },
        office: OfficeWiring {
            job_name: occ_job_name(OFFICE_PURPOSE, &commands),
            job: installed.map(|nc| jobs::occ_job(space, bindings, &files, nc, OFFICE_PURPOSE, &commands)),
            commands,
        },
        talk: TalkWiring {
            job_name: jobs::talk_job_name(&talk_commands, bindings),
            job: installed.map(|nc| jobs::talk_job(space, bindings, &files, nc, &talk_commands)),
            commands: talk_commands,
        },
        upgrade: match upgrade {
            Some(u) => UpgradeJobs {
                snapshot: jobs::snapshot_job(space, bindings, u, false),
                migrate: Some(jobs::upgrade_job(space, bindings, &files, u)),
                restore: jobs::snapshot_job(space, bindings, u, true),
            },
            None => UpgradeJobs::default(),
        },
        background: installed.zip(background_due).map(|(nc, due)| jobs::background_job(space, bindings, &files, nc, due)),
        backup: backup.filter(|_| installed.is_some()).and_then(|id| jobs::backup_job(space, bindings, id)),
        restore: restore
            .filter(|r| r.phase == crate::api::restore::RestorePhase::RestoringDatabase)
            .and_then(|r| jobs::restore_backup_job(space, bindings, &r.backup, &r.database_sha256)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::resolve::{resolve, tests as fixtures};

    /// Inputs with nothing under way: what a test does not set.
    fn plain<'a>(placement: &'a Placement, bindings: &'a Bindings, installed: Option<&'a NextcloudStatus>) -> BuildInputs<'a> {
        BuildInputs {
            placement,
            bindings,
            access: None,
            installed,
            install_attempt: 1,
            applied_apps: &[],
            upgrade: None,
            backup: None,
            restore: None,
            held: false,
            sleep: None,
            wake_target: None,
        }
    }

    #[test]
    fn asleep_the_web_is_at_zero_its_host_goes_to_the_wake_service_and_its_background_run_is_built() {
        use crate::api::sleep::{BackgroundRuns, SleepPolicy, SleepStatus};
        let mut class = fixtures::class("c", true);
        class.spec.sleep = Some(SleepPolicy { idle_after_seconds: 3600, max_waking_per_pool: 5 });
        let space = resolve(&fixtures::space("a"), &class).expect("resolves");
        let nc = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        let (bindings, placement) = (Bindings::default(), Placement::default());
        let runs = BackgroundRuns { next_run: Some("2026-12-07T02:10:00Z".into()), ..BackgroundRuns::default() };
        let status = |state| SleepStatus { state: Some(state), background: Some(runs.clone()), ..SleepStatus::default() };
        let build = |sleep: Option<&SleepStatus>| {
            let inputs = BuildInputs {
                sleep,
                wake_target: Some("framaspace-wake.framaspace-system.svc.cluster.local"),
                ..plain(&placement, &bindings, Some(&nc))
            };
            space_objects(&space, inputs)
        };
        let replicas = |o: &SpaceObjects| o.workload.deployment.as_ref().and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas);
        let backend = |o: &SpaceObjects| {
            let rules = o.exposure.ingress.spec.as_ref().and_then(|s| s.rules.clone()).unwrap_or_default();
            rules[0].http.as_ref().and_then(|h| h.paths[0].backend.service.as_ref()).map(|s| s.name.clone())
        };
        let asleep = status(SleepState::Sleeping);
        let o = build(Some(&asleep));
        assert_eq!((replicas(&o), backend(&o).as_deref()), (Some(0), Some(names::WAKE_SERVICE)));
        let wake = o.exposure.wake_service.as_ref().and_then(|s| s.spec.as_ref()).expect("the wake Service");
        assert_eq!(
            (wake.type_.as_deref(), wake.external_name.as_deref()),
            (Some("ExternalName"), Some("framaspace-wake.framaspace-system.svc.cluster.local"))
        );
        let job = o.background.as_ref().expect("its background run");
        assert_eq!(job.metadata.name.as_deref(), Some("nextcloud-background-1796609400"));
        let waking = status(SleepState::Waking);
        let o = build(Some(&waking));
        assert_eq!((replicas(&o), backend(&o).as_deref()), (Some(1), Some(names::WAKE_SERVICE)), "held until its pod is ready");
        assert!(o.background.is_none(), "no background Job beside its web");
        let o = build(Some(&status(SleepState::Awake)));
        assert_eq!((replicas(&o), backend(&o).as_deref()), (Some(1), Some(names::NEXTCLOUD)));
        assert!(o.exposure.wake_service.is_some(), "kept while the class sleeps: a route may name it any time");
    }

    #[test]
    fn every_object_lives_in_the_space_namespace_and_carries_its_label() {
        let space = resolve(&fixtures::space("a"), &fixtures::class("c", true)).expect("resolves");
        let nc = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        let bindings = Bindings::default();
        let placement = Placement::default();
        let applied = vec!["framaspace_quota".to_string()];
        let inputs = |installed| BuildInputs { applied_apps: &applied, ..plain(&placement, &bindings, installed) };
        let fresh = space_objects(&space, inputs(None));
        assert!(fresh.workload.deployment.is_none() && fresh.office.job.is_none(), "nothing runs before the install");
        let o = space_objects(&space, inputs(Some(&nc)));
        assert!(o.namespace.operator_access.is_none());
        assert!(o.install.is_none());
        let deployment = o.workload.deployment.as_ref().expect("installed: a Deployment");
        let job = o.office.job.as_ref().expect("installed: the office Job");
        let metas = [
            &o.workload.config_map.metadata,
            &deployment.metadata,
            &o.workload.resource_quota.metadata,
            &o.workload.limit_range.metadata,
            &o.exposure.service.metadata,
            &o.exposure.ingress.metadata,
            &o.exposure.network_policy.metadata,
            &job.metadata,
        ];
        for m in metas {
            assert_eq!(m.namespace.as_deref(), Some("space-a"), "{:?}", m.name);
            let label = m.labels.as_ref().and_then(|l| l.get(crate::api::labels::SPACE_LABEL));
            assert_eq!(label.map(String::as_str), Some("a"), "{:?}", m.name);
        }
        assert_eq!(job.metadata.name.as_deref(), Some(o.office.job_name.as_str()));
        assert!(o.apps.job.is_none(), "a class without apps, the platform's applied: no apps Job");
    }

    #[test]
    fn an_upgrade_stops_the_web_and_builds_the_jobs_of_its_hop() {
        use crate::api::space::{UpgradePhase, UpgradeStatus};
        use crate::render::bindings::{DatabaseBinding, StorageBinding};
        let space = resolve(&fixtures::space("a"), &fixtures::class("c", true)).expect("resolves");
        let nc = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        let bindings = Bindings {
            database: Some(DatabaseBinding {
                host: "pg".into(),
                port: 5432,
                database: "space_a".into(),
                user: "space_a".into(),
                ssl_mode: crate::api::database_pool::SslMode::Require,
                server_major: Some(15),
                ca: None,
            }),
            storage: StorageBinding::from_endpoint("https://s3.example:9000", "garage", "space-a"),
            ..Bindings::default()
        };
        let placement = Placement::default();
        let mut u = UpgradeStatus { phase: UpgradePhase::Snapshotting, ..UpgradeStatus::started("34.0.1", "nc:34.0.1", &nc, "") };
        let on = |installed: &NextcloudStatus, u: &UpgradeStatus| {
            space_objects(&space, BuildInputs { upgrade: Some(u), ..plain(&placement, &bindings, Some(installed)) })
        };
        let build = |u: &UpgradeStatus| on(&nc, u);
        let replicas = |o: &SpaceObjects| o.workload.deployment.as_ref().and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas);
        let o = build(&u);
        assert_eq!(replicas(&o), Some(0), "no web pod while the database is snapshotted");
        let snapshot = o.upgrade.snapshot.as_ref().expect("a snapshot Job");
        assert_eq!(snapshot.metadata.name.as_deref(), Some("nextcloud-snapshot-34-0-1"));
        let c = &snapshot.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod").containers[0];
        let env = |n: &str| c.env.as_ref().and_then(|e| e.iter().find(|v| v.name == n).cloned());
        assert_eq!(
            env("FRAMASPACE_S3_URL").and_then(|e| e.value).as_deref(),
            Some("https://s3.example:9000/space-a/framaspace/snapshots/33-0-7-to-34-0-1.sql.gz")
        );
        assert_eq!(env("PGSSLMODE").and_then(|e| e.value).as_deref(), Some("require"));
        assert_eq!(c.image.as_deref(), Some("registry.frama.space/framaspace/snapshot:15"), "the client of the pool's server major");
        assert_eq!(env("FRAMASPACE_PG_MAJOR").and_then(|e| e.value).as_deref(), Some("15"));
        let volume = |j: &Job, n: &str| {
            j.spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.volumes.clone())
                .unwrap_or_default()
                .into_iter()
                .find(|v| v.name == n)
        };
        let restore = o.upgrade.restore.as_ref().expect("a restore Job");
        let limit = |j: &Job| volume(j, "work").and_then(|v| v.empty_dir).and_then(|d| d.size_limit).map(|q| q.0);
        assert_eq!(limit(restore).as_deref(), Some("1Mi"), "the restore streams: no room for the snapshot");
        assert_eq!(limit(snapshot).as_deref(), Some("2Gi"));
        // A verify-full pool with a private CA: every client of the pool trusts it.
        let mut tls = bindings.clone();
        if let Some(db) = tls.database.as_mut() {
            db.ssl_mode = crate::api::database_pool::SslMode::VerifyFull;
            db.ca = Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into());
        }
        let t = space_objects(&space, BuildInputs { upgrade: Some(&u), ..plain(&placement, &tls, Some(&nc)) });
        for job in [t.upgrade.snapshot.as_ref(), t.upgrade.restore.as_ref()].into_iter().flatten() {
            let c = &job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod").containers[0];
            let root = c.env.iter().flatten().find(|e| e.name == "PGSSLROOTCERT").and_then(|e| e.value.clone());
            assert_eq!(root.as_deref(), Some("/etc/framaspace/ca/postgres-ca.crt"));
            let ca = volume(job, "ca").and_then(|v| v.config_map).expect("the CA from the space's ConfigMap");
            assert_eq!(ca.items.unwrap_or_default()[0].key, "postgres-ca.crt");
        }
        let files = &t.workload.config_map.data.clone().unwrap_or_default();
        assert!(files.get("postgres-ca.crt").is_some_and(|c| c.contains("BEGIN CERTIFICATE")), "beside the fragments");
        assert!(
            files["database.config.php"].contains("'rootcert' => '/etc/framaspace/config/postgres-ca.crt'"),
            "{}",
            files["database.config.php"]
        );
        assert!(
            env("PGPASSWORD").and_then(|e| e.value_from).is_some() && env("PGPASSWORD").and_then(|e| e.value).is_none(),
            "from the Secret only"
        );
        let migrate = o.upgrade.migrate.as_ref().expect("an upgrade Job");
        let pod = migrate.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod");
        assert_eq!(pod.containers[0].image.as_deref(), Some("nc:34.0.1"), "the new code");
        let prepare = &pod.init_containers.as_ref().expect("prepare")[0];
        assert!(prepare.env.iter().flatten().any(|e| e.name == "FRAMASPACE_UPGRADE_FROM" && e.value.as_deref() == Some("33.0.7.2")));
        assert_eq!(
            migrate.spec.as_ref().and_then(|s| s.backoff_limit),
            Some(0),
            "a failed migration is restored, never retried on what it left"
        );
        u.phase = UpgradePhase::Verifying;
        let v = on(&NextcloudStatus { version: "34.0.1.0".into(), version_string: "34.0.1".into(), image: "nc:34.0.1".into() }, &u);
        assert_eq!(replicas(&v), Some(1), "verifying: the web on the new version");
        u.phase = UpgradePhase::Succeeded;
        let done = build(&u);
        assert!(done.upgrade.snapshot.is_none() && done.upgrade.migrate.is_none(), "no Job once it ended");
        assert_eq!(replicas(&done), Some(1));
    }

    #[test]
    fn an_app_list_change_enables_the_list_and_disables_what_left_it() {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert!(apps_commands(&s(&["calendar", "deck"]), &s(&["deck", "calendar"])).is_empty(), "the same set: nothing to run");
        assert_eq!(apps_commands(&s(&["calendar", "deck"]), &s(&["calendar"])), ["app:enable calendar deck"]);
        assert_eq!(apps_commands(&s(&["calendar"]), &s(&["calendar", "forms"])), ["app:enable calendar", "app:disable forms"]);
        assert_eq!(apps_commands(&[], &s(&["forms"])), ["app:disable forms"], "an emptied list disables what it held");
        assert!(apps_commands(&[], &[]).is_empty());
    }

    #[test]
    fn the_apps_job_exists_only_for_a_change_in_an_installed_space() {
        let mut class = fixtures::class("c", true);
        class.spec.apps = vec![crate::api::class::AppId("deck".into()), crate::api::class::AppId("calendar".into())];
        let space = resolve(&fixtures::space("a"), &class).expect("resolves");
        let nc = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        let (bindings, placement) = (Bindings::default(), Placement::default());
        let applied = vec!["calendar".to_string()];
        let build = |installed, applied_apps: &[String]| {
            space_objects(&space, BuildInputs { applied_apps, ..plain(&placement, &bindings, installed) })
        };
        assert!(build(None, &applied).apps.job.is_none(), "before the install, the install Job enables the list");
        let changed = build(Some(&nc), &applied);
        assert_eq!(
            changed.apps.desired,
            ["calendar", "deck", "framaspace_quota"],
            "the platform's app with the class's, sorted: the Job name does not depend on the class's order"
        );
        assert_eq!(changed.apps.commands, ["app:enable calendar deck framaspace_quota"]);
        let job = changed.apps.job.expect("one Job for the change");
        assert_eq!(job.metadata.name.as_deref(), Some(changed.apps.job_name.as_str()));
        let done = build(Some(&nc), &["deck".to_string(), "framaspace_quota".to_string(), "calendar".to_string()]);
        assert!(done.apps.job.is_none(), "applied already: no Job on a resync");
        let mut bare = fixtures::class("c", true);
        bare.spec.apps.clear();
        let before = resolve(&fixtures::space("a"), &bare).expect("resolves");
        let upgraded = space_objects(&before, plain(&placement, &bindings, Some(&nc)));
        assert_eq!(
            upgraded.apps.commands,
            ["app:enable framaspace_quota"],
            "a space installed before the platform's app: one Job enables it, and nothing else"
        );
    }
}
