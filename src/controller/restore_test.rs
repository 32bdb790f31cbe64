//! The restore tests: proof that backups restore. For each class whose backup policy has
//! `restoreTestHours`, every that many hours (or when the class's annotation
//! `frama.space/restore-test-requested` changes), one random space of the class with a backup is
//! cloned from its newest backup by a SpaceRestore of mode Clone (labelled
//! `frama.space/restore-test=<class>`, its clone deleted with its data afterwards). Once the
//! restore ended, the clone is checked against the backup's manifest: every table holds the
//! rows the dump held (the clone's database read as the clone's role), and the clone's bucket
//! holds every object of the manifest with its ETag. The verdict is written on the SpaceRestore
//! (`frama.space/restore-test-result`), announced as an Event and counted; the gauges are
//! computed from the verdicts kept on the cluster, so a restarted operator shows the same.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::Context;
use crate::api::labels::{FIELD_MANAGER, RESTORE_TEST_LABEL, RESTORE_TEST_REQUEST_ANNOTATION, RESTORE_TEST_RESULT_ANNOTATION};
use crate::api::restore::{RestoreMode, RestorePhase, SpaceRestore, SpaceRestoreSpec};
use crate::api::{AssociationSpace, SpaceClass};
use crate::render::backup as b;

/// How many restore tests of a class stay listed (their SpaceRestores), newest kept.
const KEEP: usize = 5;
const PASSED: &str = "passed";

pub async fn run(ctx: Arc<Context>, stop: super::Stop) {
    let ticks = async {
        loop {
            if ctx.wait_until_ready(Duration::from_secs(60)).await && ctx.gate.is_open() {
                for class in ctx.classes.state() {
                    if let Err(e) = tick(&ctx, &class).await {
                        warn!(class = %class.name_any(), error = %e, "restore test");
                    }
                }
                publish_gauges(&ctx);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    };
    tokio::select! {
        () = ticks => {}
        () = stop => {}
    }
}

/// The restore tests of a class, oldest first.
fn tests_of(ctx: &Context, class: &str) -> Vec<Arc<SpaceRestore>> {
    let mut tests: Vec<_> =
        ctx.restores.state().into_iter().filter(|r| r.labels().get(RESTORE_TEST_LABEL).map(String::as_str) == Some(class)).collect();
    tests.sort_by_key(|r| (r.creation_timestamp().map(|t| t.0), r.name_any()));
    tests
}

fn phase(r: &SpaceRestore) -> Option<RestorePhase> {
    r.status.as_ref().and_then(|s| s.phase)
}

async fn tick(ctx: &Context, class: &SpaceClass) -> crate::error::Result<()> {
    let name = class.name_any();
    let Some(hours) = class.spec.backup.as_ref().and_then(|p| p.restore_test_hours) else { return Ok(()) };
    let tests = tests_of(ctx, &name);
    for t in tests
        .iter()
        .filter(|t| phase(t).is_some_and(RestorePhase::is_final) && !t.annotations().contains_key(RESTORE_TEST_RESULT_ANNOTATION))
    {
        let verdict = match verify(ctx, t).await {
            Ok(summary) => {
                info!(class = %name, test = %t.name_any(), %summary, "restore test passed");
                publish(ctx, t, EventType::Normal, "RestoreTestPassed", &summary).await;
                ctx.metrics.restore_test_finished(true);
                PASSED.to_string()
            }
            Err(why) => {
                warn!(class = %name, test = %t.name_any(), %why, "restore test failed");
                publish(ctx, t, EventType::Warning, "RestoreTestFailed", &why).await;
                ctx.metrics.restore_test_finished(false);
                format!("failed: {why}")
            }
        };
        annotate(ctx, t, &verdict).await?;
        if let Some(clone) = t.spec.clone_name.as_deref() {
            delete_space(ctx, clone).await?;
        }
    }
    let last = tests.last();
    let requested = class.annotations().get(RESTORE_TEST_REQUEST_ANNOTATION);
    let answered = last.and_then(|t| t.annotations().get(RESTORE_TEST_REQUEST_ANNOTATION));
    let period = jiff::SignedDuration::from_hours(i64::from(hours));
    let since = last.and_then(|t| t.creation_timestamp()).map(|t| t.0).or_else(|| class.creation_timestamp().map(|t| t.0));
    let now = jiff::Timestamp::now();
    let due = (requested.is_some() && requested != answered) || since.is_none_or(|s| s.checked_add(period).is_ok_and(|d| d <= now));
    let busy = last
        .is_some_and(|t| !phase(t).is_some_and(RestorePhase::is_final) || !t.annotations().contains_key(RESTORE_TEST_RESULT_ANNOTATION));
    if due && !busy {
        start(ctx, class, requested.cloned()).await?;
    }
    for old in tests.iter().take(tests.len().saturating_sub(KEEP)) {
        if old.annotations().contains_key(RESTORE_TEST_RESULT_ANNOTATION) {
            ctx.gate.allow(crate::gate::KUBERNETES)?;
            let _ = Api::<SpaceRestore>::all(ctx.client.clone()).delete(&old.name_any(), &DeleteParams::default()).await;
        }
    }
    Ok(())
}

/// A random space of the class with a backup, not itself a clone, serving its users.
fn candidate(ctx: &Context, class: &str) -> Option<Arc<AssociationSpace>> {
    let spaces: Vec<_> = ctx
        .spaces
        .state()
        .into_iter()
        .filter(|s| s.status.as_ref().and_then(|st| st.space_class.as_deref()) == Some(class))
        .filter(|s| !s.annotations().contains_key(crate::api::labels::RESTORE_FROM_ANNOTATION))
        .filter(|s| s.status.as_ref().is_some_and(|st| st.phase == Some(crate::api::space::SpacePhase::Ready)))
        .filter(|s| s.status.as_ref().and_then(|st| st.backups.as_ref()).is_some_and(|b| !b.kept.is_empty()))
        .collect();
    if spaces.is_empty() {
        return None;
    }
    let pick = getrandom::u64().unwrap_or(0) as usize % spaces.len();
    spaces.into_iter().nth(pick)
}

async fn start(ctx: &Context, class: &SpaceClass, request: Option<String>) -> crate::error::Result<()> {
    let name = class.name_any();
    let Some(space) = candidate(ctx, &name) else { return Ok(()) };
    let mut suffix = [0u8; 5];
    crate::render::credentials::RandomSource::fill(&mut crate::render::credentials::OsRandom, &mut suffix)?;
    let clone = format!("rt-{}", crate::render::config::hex(&suffix));
    let spec = SpaceRestoreSpec { space: space.name_any(), backup: None, mode: Some(RestoreMode::Clone), clone_name: Some(clone.clone()) };
    let mut test = SpaceRestore::new(&format!("restore-test-{clone}"), spec);
    test.metadata.labels = Some([(RESTORE_TEST_LABEL.to_string(), name.clone())].into());
    if let Some(r) = request {
        test.metadata.annotations = Some([(RESTORE_TEST_REQUEST_ANNOTATION.to_string(), r)].into());
    }
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
    Api::<SpaceRestore>::all(ctx.client.clone()).create(&params, &test).await?;
    info!(class = %name, space = %space.name_any(), clone = %clone, "restore test starts");
    Ok(())
}

/// The clone against the backup's manifest. `Ok(summary)` or `Err(why)`.
async fn verify(ctx: &Context, t: &SpaceRestore) -> Result<String, String> {
    let status = t.status.clone().unwrap_or_default();
    if status.phase != Some(RestorePhase::Succeeded) {
        return Err(format!("the restore ended {:?}: {}", status.phase, status.message.unwrap_or_default()));
    }
    let clone = t.spec.clone_name.clone().ok_or("no clone named")?;
    let id = status.backup.ok_or("no backup recorded")?;
    let space = ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(&clone)).ok_or(format!("the clone {clone} is gone"))?;
    let placement = space.status.as_ref().and_then(|s| s.placement.clone()).unwrap_or_default();
    let class = ctx
        .classes
        .get(&kube::runtime::reflector::ObjectRef::new(space.status.as_ref().and_then(|s| s.space_class.as_deref()).unwrap_or_default()))
        .ok_or("the clone's class is gone")?;
    let policy = class.spec.backup.clone().ok_or("the class has no backup policy any more")?;
    let manifest = manifest(ctx, &policy, &t.spec.space, &id).await?;
    let creds = crate::controller::space::credentials::read(ctx, &crate::render::names::namespace(&clone))
        .await
        .map_err(|e| e.to_string())?
        .map(|s| crate::controller::space::credentials::secret_data(&s))
        .ok_or("the clone has no credentials")?;
    let text = |k: &str| creds.get(k).map(|v| String::from_utf8_lossy(v).to_string()).unwrap_or_default();
    // Rows: every table of the dump, as many rows as it held.
    let pool = placement.database_pool.ok_or("the clone has no DatabasePool")?;
    let tables: Vec<String> = manifest.database.rows.keys().cloned().collect();
    let counts = ctx
        .pools
        .postgres(&pool)
        .await
        .map_err(|e| e.to_string())?
        .row_counts(&crate::provision::TenantNames::new(&clone), &text(crate::render::credentials::DATABASE_PASSWORD), &tables)
        .await
        .map_err(|e| e.to_string())?;
    let wrong: Vec<String> = manifest
        .database
        .rows
        .iter()
        .filter(|(t, n)| counts.get(*t) != Some(n))
        .map(|(t, n)| format!("{t}: {} rows for {n}", counts.get(t).copied().unwrap_or(-1)))
        .take(5)
        .collect();
    if !wrong.is_empty() {
        return Err(format!("the clone's tables differ from the dump: {}", wrong.join(", ")));
    }
    // Objects: every object of the manifest, with its ETag.
    let storage = placement.storage_pool.ok_or("the clone has no StoragePool")?;
    let pool = ctx.pools.storage_pool(&storage).map_err(|e| e.to_string())?;
    let bucket = crate::controller::space::tenant::bucket_name(&pool, &clone, None);
    let client = crate::controller::space::store::client_for(
        ctx,
        &storage,
        &text(crate::render::credentials::S3_ACCESS_KEY),
        &text(crate::render::credentials::S3_SECRET_KEY),
    )
    .map_err(|e| e.to_string())?;
    let live: BTreeMap<String, String> =
        client.list_objects(&bucket, "").await.map_err(|e| e.to_string())?.into_iter().map(|o| (o.key, o.etag)).collect();
    let missing: Vec<&str> =
        manifest.objects.iter().filter(|o| live.get(&o.key) != Some(&o.etag)).map(|o| o.key.as_str()).take(5).collect();
    if !missing.is_empty() {
        return Err(format!("objects missing or different in the clone: {}", missing.join(", ")));
    }
    let rows: i64 = manifest.database.rows.values().sum();
    Ok(format!(
        "backup {id} of {} restored into {clone}: {} tables ({rows} rows) and {} objects as the backup holds them",
        t.spec.space,
        tables.len(),
        manifest.objects.len()
    ))
}

async fn manifest(ctx: &Context, policy: &crate::api::backup::BackupPolicy, space: &str, id: &str) -> Result<b::Manifest, String> {
    use crate::controller::space::backup;
    let backups = backup::open(ctx, policy, space).await.map_err(|f| f.message)?;
    backup::read_manifest(&backups, id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("the manifest of backup {id} is gone or unreadable"))
}

async fn annotate(ctx: &Context, t: &SpaceRestore, verdict: &str) -> crate::error::Result<()> {
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let patch = serde_json::json!({
        "apiVersion": "frama.space/v1alpha1",
        "kind": "SpaceRestore",
        "metadata": { "annotations": { RESTORE_TEST_RESULT_ANNOTATION: verdict } }
    });
    Api::<SpaceRestore>::all(ctx.client.clone()).patch(&t.name_any(), &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&patch)).await?;
    Ok(())
}

/// The scratch clone goes with its data (it was created with `deletionPolicy: Delete`).
async fn delete_space(ctx: &Context, name: &str) -> crate::error::Result<()> {
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    match Api::<AssociationSpace>::all(ctx.client.clone()).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn publish(ctx: &Context, t: &SpaceRestore, type_: EventType, reason: &str, note: &str) {
    crate::controller::events::publish(&ctx.recorder, &ctx.gate, t, type_, reason, note, "RestoreTest").await;
}

/// Per class: whether its last checked test failed, and when one last passed.
fn publish_gauges(ctx: &Context) {
    let mut failing = 0;
    let mut last_pass: Option<i64> = None;
    for class in ctx.classes.state() {
        let verdicts: Vec<_> = tests_of(ctx, &class.name_any())
            .into_iter()
            .filter_map(|t| Some((t.creation_timestamp()?.0.as_second(), t.annotations().get(RESTORE_TEST_RESULT_ANNOTATION)?.clone())))
            .collect();
        if verdicts.last().is_some_and(|(_, v)| v != PASSED) {
            failing += 1;
        }
        if let Some((at, _)) = verdicts.iter().rev().find(|(_, v)| v == PASSED) {
            last_pass = Some(last_pass.map_or(*at, |l| l.max(*at)));
        }
    }
    ctx.metrics.set_restore_tests(failing, last_pass.unwrap_or(0));
}
