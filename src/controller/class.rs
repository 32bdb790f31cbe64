//! SpaceClass status: how many spaces use each class, and whether the class is usable (two
//! classes marked default make every space without a class wait). Counts come from the spaces
//! cache, recomputed on class changes and on a short tick, never from counters that drift.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tracing::warn;

use super::Stop;
use super::fanout::Subscription;
use super::status::write_status;
use crate::gate::WriteGate;

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::reflector::ObjectRef;

use super::space::jobs::{JobState, job_state, termination};
use crate::api::class::{ClassImageStatus, SpaceClassStatus};
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::labels::FIELD_MANAGER;
use crate::api::{AssociationSpace, SpaceClass};
use crate::error::{Error, Result};
use crate::gate::KUBERNETES;
use crate::render::jobs::{image_inspection_job, image_inspection_name};
use crate::render::nextcloud::inspected_apps;

const RECOUNT: Duration = Duration::from_secs(15);

struct ClassContext {
    rollouts: Arc<super::rollouts::RolloutBook>,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// The releases last counted per class (to zero those no longer run).
    versions: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
    client: Client,
    gate: WriteGate,
    spaces: Store<AssociationSpace>,
    classes: Store<SpaceClass>,
    jobs: Store<Job>,
    namespace: String,
    pools: Arc<super::pools::PoolRegistry>,
}

/// What the class controller is given by the runtime.
pub struct ClassArgs {
    /// Where the class's rollout plan is published for its spaces.
    pub rollouts: Arc<super::rollouts::RolloutBook>,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub client: Client,
    pub gate: WriteGate,
    pub spaces: Store<AssociationSpace>,
    pub classes: Store<SpaceClass>,
    /// The runtime's one watch of the classes.
    pub events: Subscription<SpaceClass>,
    /// The operator's Jobs (the image inspections among them).
    pub jobs: Store<Job>,
    /// The operator's namespace, where the image inspections run.
    pub namespace: String,
    /// The pools and the operator's Secrets: whether a class's mail Secret may be used.
    pub pools: Arc<super::pools::PoolRegistry>,
    pub stop: Stop,
}

/// Where the inspection of the class's current image stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inspection {
    /// Its apps, read from the image.
    Done(ClassImageStatus),
    /// A Job is reading them.
    Running(String),
    /// The Job failed (the image cannot be pulled or has no Nextcloud): why.
    Failed(String),
}

/// The status of `class`, given every space, every class and its image's inspection. Pure.
pub fn compute(
    class: &SpaceClass,
    spaces: &[Arc<AssociationSpace>],
    classes: &[Arc<SpaceClass>],
    inspection: Option<&Inspection>,
    mail_refused: Option<&str>,
    now: &str,
) -> SpaceClassStatus {
    let name = class.name_any();
    let count = spaces
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter(|s| s.status.as_ref().and_then(|st| st.space_class.as_deref()) == Some(name.as_str()))
        .count() as i64;
    let mut defaults: Vec<String> = classes.iter().filter(|c| c.spec.default).map(|c| c.name_any()).collect();
    defaults.sort();
    let ready = if let Err(message) = crate::api::class::supported_version(&class.spec.nextcloud.version) {
        // Only a class stored before the API server's rule existed gets here.
        Condition::new("Ready", ConditionStatus::False, "UnsupportedNextcloudVersion", format!("{message}; its spaces are refused"))
    } else if class.spec.default && defaults.len() > 1 {
        Condition::new(
            "Ready",
            ConditionStatus::False,
            "DuplicateDefault",
            format!("several classes are marked default ({}): spaces that name no class wait until only one is", defaults.join(", ")),
        )
    } else if let Some(message) =
        crate::api::class::under_space_host(&class.spec.base_domain, classes.iter().map(|c| c.spec.base_domain.as_str()), |name, host| {
            spaces.iter().any(|s| s.name_any() == name && s.served_at(host))
        })
    {
        Condition::new("Ready", ConditionStatus::False, "BaseDomainUnderSpace", message)
    } else if let Some(Inspection::Done(image)) = inspection
        && let missing = crate::api::class::missing_apps(&class.spec, image)
        && !missing.is_empty()
    {
        let platform: Vec<&str> = missing.iter().map(String::as_str).filter(|a| crate::api::class::PLATFORM_APPS.contains(a)).collect();
        Condition::new(
            "Ready",
            ConditionStatus::False,
            "AppsNotInImage",
            format!(
                "{}: {} not in image {} (its apps: {}); no space enables them until the list or the image changes",
                if platform.is_empty() {
                    "spec.apps".to_string()
                } else {
                    format!("the platform's own {} (build the image from images/nextcloud) and spec.apps", platform.join(", "))
                },
                missing.join(", "),
                image.reference,
                image.apps.join(" ")
            ),
        )
    } else if let Some(Inspection::Failed(why)) = inspection {
        Condition::new("Ready", ConditionStatus::False, "ImageInspectionFailed", why.clone())
    } else if let Some(why) = mail_refused {
        Condition::new(
            "Ready",
            ConditionStatus::False,
            "MailSecretRefused",
            format!("spec.mail.credentialsSecretRef: {why}; its spaces send mail without authentication"),
        )
    } else {
        Condition::new("Ready", ConditionStatus::True, "Valid", format!("used by {count} space(s)"))
    };
    let previous = class.status.clone().unwrap_or_default();
    let image = match inspection {
        Some(Inspection::Done(image)) => Some(image.clone()),
        _ => previous.image.clone(),
    };
    SpaceClassStatus {
        spaces: count,
        image,
        rollout: previous.rollout.clone(),
        observed_generation: class.metadata.generation,
        conditions: merge_conditions(&previous.conditions, vec![ready], class.metadata.generation, now),
    }
}

/// The inspection of the class's image: known already, or read from its Job (created when there
/// is none; the tick brings the class back until it ends).
async fn inspect(class: &SpaceClass, ctx: &ClassContext) -> Result<Inspection> {
    let reference = class.spec.nextcloud.reference();
    if let Some(image) = class.status.as_ref().and_then(|s| s.image.clone()).filter(|i| i.reference == reference) {
        return Ok(Inspection::Done(image));
    }
    let name = image_inspection_name(&reference);
    let Some(job) = ctx.jobs.get(&ObjectRef::new(&name).within(&ctx.namespace)) else {
        ctx.gate.allow(KUBERNETES)?;
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        match api
            .create(
                &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() },
                &image_inspection_job(&reference, &ctx.namespace),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(Inspection::Running(name));
    };
    Ok(match job_state(&job) {
        JobState::Running => Inspection::Running(name),
        state => {
            let said = termination(&ctx.client, &ctx.namespace, &job).await?;
            match (state, said) {
                (JobState::Succeeded, Some(out)) => Inspection::Done(ClassImageStatus {
                    reference,
                    apps: inspected_apps(&out.message),
                    digest: crate::api::class::image_digest(&out.image_id),
                }),
                (JobState::Failed { message, .. }, _) => {
                    Inspection::Failed(format!("the inspection of image {reference} (Job {}/{name}) failed: {message}", ctx.namespace))
                }
                _ => Inspection::Failed(format!("the inspection of image {reference} (Job {}/{name}) reported nothing", ctx.namespace)),
            }
        }
    })
}

/// Spaces and their DatabasePool: (pool, space).
type Slots = Vec<(String, String)>;

/// What one walk over the spaces tells a pass of the class: its members for the rollout plan,
/// the upgrade slots for the book, and the figures for the metrics.
pub struct Census<'a> {
    /// The class's spaces not being deleted, as the rollout plan sees them.
    pub members: Vec<crate::rollout::Member<'a>>,
    /// Spaces of any class whose status shows an upgrade under way (only until the book is seeded).
    under_way: Slots,
    /// The class's spaces whose status shows the end of an upgrade to the class's target.
    ended: Slots,
    /// Every space's name (slots of the others are freed).
    existing: std::collections::BTreeSet<String>,
    /// The class's spaces by the release they run.
    versions: std::collections::BTreeMap<String, i64>,
    /// The longest upgrade under way among the class's spaces, in seconds.
    longest: i64,
    /// Every DatabasePool that holds spaces.
    pools: std::collections::BTreeSet<String>,
}

/// One walk over every space for a pass of `class`. Pure.
pub fn census<'a>(
    class: &SpaceClass,
    reference: &'a str,
    spaces: &'a [Arc<AssociationSpace>],
    seeded: bool,
    now: jiff::Timestamp,
) -> Census<'a> {
    static NO_LABELS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let name = class.name_any();
    let target = class.spec.nextcloud.version.as_str();
    let mut c = Census {
        members: Vec::new(),
        under_way: Vec::new(),
        ended: Vec::new(),
        existing: std::collections::BTreeSet::new(),
        versions: std::collections::BTreeMap::new(),
        longest: 0,
        pools: std::collections::BTreeSet::new(),
    };
    for s in spaces {
        let space = s.metadata.name.as_deref().unwrap_or_default();
        c.existing.insert(space.to_string());
        let Some(st) = s.status.as_ref() else { continue };
        let pool = st.placement.as_ref().and_then(|p| p.database_pool.as_deref());
        if let Some(p) = pool {
            c.pools.insert(p.to_string());
        }
        let upgrade = st.upgrade.as_ref();
        if !seeded
            && let (Some(u), Some(p)) = (upgrade, pool)
            && u.phase.in_progress()
        {
            c.under_way.push((p.to_string(), space.to_string()));
        }
        if st.space_class.as_deref() != Some(name.as_str()) {
            continue;
        }
        if let (Some(u), Some(p)) = (upgrade, pool)
            && !u.phase.in_progress()
            && u.target == target
        {
            c.ended.push((p.to_string(), space.to_string()));
        }
        if let Some(nc) = &st.nextcloud {
            *c.versions.entry(nc.version_string.clone()).or_default() += 1;
        }
        if let Some(u) = upgrade.filter(|u| u.phase.in_progress())
            && let Ok(started) = u.started_at.parse::<jiff::Timestamp>()
        {
            c.longest = c.longest.max(now.duration_since(started).as_secs());
        }
        if s.metadata.deletion_timestamp.is_none() {
            c.members.push(crate::rollout::Member {
                name: space,
                labels: s.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
                version: st.nextcloud.as_ref().map(|n| n.version_string.as_str()),
                upgrade,
                hold: s.spec.hold_upgrade,
                image: st.nextcloud.as_ref().map(|n| n.image.as_str()),
                reference: Some(reference),
            });
        }
    }
    c
}

/// The class's rollout and releases, and the upgrades per pool, as metrics.
fn observe(ctx: &ClassContext, class: &str, census: &Census<'_>, plan: &crate::rollout::Plan) {
    ctx.metrics.set_upgrade_longest(class, census.longest);
    let gone: Vec<String> = match ctx.versions.lock() {
        Ok(mut v) => {
            let before = v.insert(class.to_string(), census.versions.keys().cloned().collect()).unwrap_or_default();
            before.into_iter().filter(|r| !census.versions.contains_key(r)).collect()
        }
        Err(_) => Vec::new(),
    };
    ctx.metrics.set_versions(class, &census.versions, &gone);
    let r = &plan.status;
    for (state, n) in [("pending", r.pending), ("upgrading", r.upgrading), ("done", r.done), ("failed", r.failed), ("held", r.held)] {
        ctx.metrics.set_rollout(class, state, n);
    }
    ctx.metrics.set_rollout(class, "paused", i64::from(r.phase == Some(crate::api::rollout::RolloutPhase::Paused)));
    ctx.metrics.set_rollout(class, "wave", i64::from(r.wave));
    // Every DatabasePool that holds spaces, at 0 when none is upgrading there.
    let mut pools: std::collections::BTreeMap<String, usize> = census.pools.iter().map(|p| (p.clone(), 0)).collect();
    pools.extend(ctx.rollouts.upgrading());
    for (pool, n) in pools {
        ctx.metrics.set_upgrading(&pool, n);
    }
}

/// Why the class's image cannot take its spaces yet: an upgrade to it would disable an app the
/// class or the platform enables (`Updater::checkAppsRequirements` disables an enabled app the
/// new code lacks, and `occ upgrade` still exits 0), or its apps are not known yet.
fn unusable_image(class: &SpaceClass, inspection: &Inspection) -> Option<String> {
    let reference = class.spec.nextcloud.reference();
    match inspection {
        Inspection::Done(image) => {
            let missing = crate::api::class::missing_apps(&class.spec, image);
            (!missing.is_empty()).then(|| format!("image {reference} lacks {} (Ready=False AppsNotInImage)", missing.join(", ")))
        }
        Inspection::Running(_) => Some(format!("the apps of image {reference} are being read (inspection Job)")),
        Inspection::Failed(why) => Some(format!("image {reference} could not be inspected: {why}")),
    }
}

/// How often a class with a rollout under way is planned again: a wave starts within this
/// long of the last space of the one before.
const ROLLING: Duration = Duration::from_secs(3);

async fn reconcile(class: Arc<SpaceClass>, ctx: Arc<ClassContext>) -> Result<Action> {
    let inspection = inspect(&class, &ctx).await?;
    let spaces = ctx.spaces.state();
    let mail_refused =
        class.spec.mail.as_ref().and_then(|m| m.credentials_secret_ref.as_ref()).and_then(|r| ctx.pools.mail_secret(&r.name).err());
    let mut status = compute(&class, &spaces, &ctx.classes.state(), Some(&inspection), mail_refused.as_deref(), &now_rfc3339());
    let now = jiff::Timestamp::now();
    let reference = class.pinned_reference();
    let census = census(&class, &reference, &spaces, ctx.rollouts.ready(), now);
    ctx.rollouts.settle(&census.under_way, &census.ended, &census.existing);
    let mut plan = crate::rollout::plan(&class.spec.rollout, &class.spec.nextcloud.version, &census.members, now);
    if let Some(why) = unusable_image(&class, &inspection) {
        plan = crate::rollout::hold_for_image(plan, &why);
    }
    let active = plan.status.phase != Some(crate::api::rollout::RolloutPhase::Complete);
    status.rollout = Some(plan.status.clone());
    observe(&ctx, &class.name_any(), &census, &plan);
    ctx.rollouts.publish(&class.name_any(), plan);
    write_status(&ctx.client, &ctx.gate, class.as_ref(), class.status.as_ref(), &status).await?;
    Ok(if active { Action::requeue(ROLLING) } else { Action::await_change() })
}

fn error_policy(_: Arc<SpaceClass>, error: &Error, _: Arc<ClassContext>) -> Action {
    warn!(error = %error, "SpaceClass status update failed");
    Action::requeue(Duration::from_secs(10))
}

pub async fn run(args: ClassArgs) {
    let ClassArgs { rollouts, metrics, client, gate, spaces, classes, events, jobs, namespace, pools, stop } = args;
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(RECOUNT).await;
        Some(((), ()))
    });
    let ctx = Arc::new(ClassContext {
        rollouts,
        metrics,
        versions: std::sync::Mutex::default(),
        client,
        gate,
        spaces,
        classes: classes.clone(),
        jobs,
        namespace,
        pools,
    });
    Controller::for_stream(events.touched_objects(), classes)
        .reconcile_all_on(ticks)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::AssociationSpaceStatus;
    use crate::render::resolve::tests as fixtures;

    fn space_of(name: &str, class: &str) -> Arc<AssociationSpace> {
        let mut s = fixtures::space(name);
        s.status = Some(AssociationSpaceStatus { space_class: Some(class.into()), ..Default::default() });
        Arc::new(s)
    }

    #[test]
    fn one_walk_finds_members_slots_and_releases() {
        use crate::api::space::{NextcloudStatus, Placement, UpgradePhase, UpgradeStatus};
        let class = fixtures::class("standard", true);
        let target = class.spec.nextcloud.version.clone();
        let old = NextcloudStatus { version: "33.0.7.1".into(), version_string: "33.0.7".into(), image: "nextcloud:33.0.7".into() };
        let on = |name: &str, class: &str, phase: Option<UpgradePhase>, deleting: bool| {
            let mut s = fixtures::space(name);
            if deleting {
                s.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
            }
            let upgrade = phase.map(|p| UpgradeStatus { phase: p, ..UpgradeStatus::started(&target, "img", &old, "2026-12-02T00:00:00Z") });
            s.status = Some(AssociationSpaceStatus {
                space_class: Some(class.into()),
                nextcloud: Some(old.clone()),
                placement: Some(Placement { database_pool: Some("pg-1".into()), ..Default::default() }),
                upgrade,
                ..Default::default()
            });
            Arc::new(s)
        };
        let spaces = vec![
            on("a", "standard", Some(UpgradePhase::Migrating), false),
            on("b", "standard", Some(UpgradePhase::Succeeded), false),
            on("c", "standard", None, true),
            on("d", "premium", Some(UpgradePhase::Snapshotting), false),
            on("e", "premium", Some(UpgradePhase::Failed), false),
        ];
        let now: jiff::Timestamp = "2026-12-02T00:01:40Z".parse().unwrap();
        let reference = class.spec.nextcloud.reference();
        let c = census(&class, &reference, &spaces, false, now);
        let members: Vec<&str> = c.members.iter().map(|m| m.name).collect();
        assert_eq!(members, ["a", "b"], "the class's spaces, not those being deleted");
        let slot = |s: &str| ("pg-1".to_string(), s.to_string());
        assert_eq!(c.under_way, vec![slot("a"), slot("d")], "before the book is seeded, every class's upgrades under way");
        assert_eq!(c.ended, vec![slot("b")], "ended for this class's target only");
        assert_eq!(c.versions.get("33.0.7"), Some(&3), "the class's spaces by release, those being deleted included");
        assert_eq!(c.longest, 100);
        assert_eq!(c.existing.len(), 5);
        assert!(census(&class, &reference, &spaces, true, now).under_way.is_empty(), "once seeded, the steps keep their own slots");
    }

    #[test]
    fn counts_the_spaces_that_use_the_class() {
        let standard = fixtures::class("standard", true);
        let spaces = vec![space_of("a", "standard"), space_of("b", "standard"), space_of("c", "premium")];
        let classes = vec![Arc::new(standard.clone())];
        let status = compute(&standard, &spaces, &classes, None, None, "2026-11-21T00:00:00Z");
        assert_eq!(status.spaces, 2);
        assert_eq!(status.conditions[0].reason, "Valid");
    }

    #[test]
    fn two_default_classes_are_reported() {
        let a = fixtures::class("a", true);
        let classes = vec![Arc::new(a.clone()), Arc::new(fixtures::class("b", true))];
        let status = compute(&a, &[], &classes, None, None, "2026-11-21T00:00:00Z");
        assert_eq!(status.conditions[0].reason, "DuplicateDefault");
        assert!(status.conditions[0].message.contains("a, b"));
        let not_default = fixtures::class("c", false);
        assert_eq!(compute(&not_default, &[], &classes, None, None, "x").conditions[0].reason, "Valid");
    }

    #[test]
    fn a_mail_secret_not_made_for_mail_makes_the_class_say_so() {
        let class = fixtures::class("c", false);
        let why = "Secret framaspace-system/pg-1-admin is the admin Secret of DatabasePool pg-1: nothing of it is copied";
        let c = &compute(&class, &[], &[], None, Some(why), "x").conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("MailSecretRefused", ConditionStatus::False));
        assert!(c.message.starts_with("spec.mail.credentialsSecretRef: Secret framaspace-system/pg-1-admin"), "{}", c.message);
    }

    #[test]
    fn a_class_on_an_unsupported_nextcloud_is_not_ready() {
        let mut old = fixtures::class("old", false);
        old.spec.nextcloud.version = "31.0.9".into();
        let c = &compute(&old, &[], &[], None, None, "x").conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("UnsupportedNextcloudVersion", ConditionStatus::False));
        assert!(c.message.contains("spec.nextcloud.version 31.0.9"), "{}", c.message);
    }

    #[test]
    fn an_app_the_image_does_not_carry_is_refused_by_name() {
        let mut class = fixtures::class("c", false);
        class.spec.apps = vec![crate::api::class::AppId("calendar".into()), crate::api::class::AppId("twofactor_totp".into())];
        let image = ClassImageStatus {
            reference: class.spec.nextcloud.reference(),
            apps: vec!["files".into(), "framaspace_quota".into(), "twofactor_totp".into()],
            digest: None,
        };
        let status = compute(&class, &[], &[], Some(&Inspection::Done(image.clone())), None, "x");
        let c = &status.conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("AppsNotInImage", ConditionStatus::False));
        assert!(c.message.starts_with("spec.apps: calendar not in image"), "{}", c.message);
        assert_eq!(status.image.as_ref(), Some(&image), "what the image carries is shown");
        class.spec.apps.remove(0);
        assert_eq!(compute(&class, &[], &[], Some(&Inspection::Done(image)), None, "x").conditions[0].reason, "Valid");
        let running = compute(&class, &[], &[], Some(&Inspection::Running("j".into())), None, "x");
        assert_eq!(running.conditions[0].reason, "Valid", "an inspection under way holds nothing up");
        let failed = compute(&class, &[], &[], Some(&Inspection::Failed("no such image".into())), None, "x");
        assert_eq!(failed.conditions[0].reason, "ImageInspectionFailed");
    }

    #[test]
    fn a_class_whose_spaces_would_live_under_another_space_is_not_ready() {
        let standard = Arc::new(fixtures::class("standard", true));
        let mut under = fixtures::class("velo", false);
        under.spec.base_domain = "collectif-velo.frama.space".into();
        let classes = vec![standard.clone(), Arc::new(under.clone())];
        assert_eq!(
            compute(&under, &[], &classes, None, None, "x").conditions[0].reason,
            "Valid",
            "no space there: a sub-domain class is fine"
        );
        let mut velo = fixtures::space("collectif-velo");
        velo.status = Some(AssociationSpaceStatus { url: Some("https://collectif-velo.frama.space".into()), ..Default::default() });
        let spaces = vec![Arc::new(velo.clone())];
        let c = &compute(&under, &spaces, &classes, None, None, "x").conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("BaseDomainUnderSpace", ConditionStatus::False));
        assert!(c.message.contains("the host of space collectif-velo"), "{}", c.message);
        assert_eq!(
            compute(&standard, &spaces, &classes, None, None, "x").conditions[0].reason,
            "Valid",
            "the parent class is not at fault"
        );
        let served_at = |name: &str, host: &str| spaces.iter().any(|s| s.name_any() == name && s.served_at(host));
        let mut named = fixtures::space("a");
        named.spec.space_class_name = Some("velo".into());
        let refused =
            crate::controller::space::resolve::step(&named, &classes, served_at, |_: &str| None).map(|_| ()).map_err(|e| e.reason());
        assert_eq!(refused, Err("BaseDomainUnderSpace"), "and its spaces are refused");
        assert!(
            crate::controller::space::resolve::step(&velo, &classes, served_at, |_: &str| None).is_ok(),
            "the space that was there first keeps its host"
        );
        let fresh = fixtures::space("collectif-velo");
        let refused =
            crate::controller::space::resolve::step(&fresh, &classes, served_at, |_: &str| None).map(|_| ()).map_err(|e| e.reason());
        assert_eq!(refused, Err("HostAboveClassDomain"), "a new space may not take a host above a class's domain");
        let backends = |host: &str| host.eq_ignore_ascii_case("Collabora2.frama.space").then(|| "collabora-2".to_string());
        let shadow = fixtures::space("collabora2");
        let refused = crate::controller::space::resolve::step(&shadow, std::slice::from_ref(&standard), |_: &str, _: &str| false, backends);
        assert_eq!(
            refused.map(|_| ()).map_err(|e| e.to_string()),
            Err("the space's host collabora2.frama.space is OfficeBackend collabora-2's: choose another name".into())
        );
        let mut older = fixtures::space("collabora2");
        older.status = Some(AssociationSpaceStatus { url: Some("https://collabora2.frama.space".into()), ..Default::default() });
        assert!(
            crate::controller::space::resolve::step(&older, &[standard], |_: &str, _: &str| false, backends).is_ok(),
            "a space there first keeps its host"
        );
    }

    #[test]
    fn an_image_without_the_platform_app_is_refused_whatever_the_class_lists() {
        let class = fixtures::class("c", false);
        let official = ClassImageStatus { reference: class.spec.nextcloud.reference(), apps: vec!["files".into()], digest: None };
        let c = &compute(&class, &[], &[], Some(&Inspection::Done(official)), None, "x").conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("AppsNotInImage", ConditionStatus::False));
        assert!(c.message.starts_with("the platform's own framaspace_quota (build the image from images/nextcloud)"), "{}", c.message);
    }
}
