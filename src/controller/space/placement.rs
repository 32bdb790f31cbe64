//! Step "placement": the pools and backends of a space. Decided once and recorded on its
//! namespace (the annotations win over the status, so a GitOps restore never lands a space on an
//! empty database); a space re-created after a Retain deletion goes back to the pools that kept
//! its data. Also where the space's services are (its bindings), from the placement.

use std::collections::{BTreeMap, HashMap};

use kube::ResourceExt;
use kube::core::ObjectMeta;
use kube::core::{Selector, SelectorExt};

use crate::api::database_pool::DatabaseIsolation;
use crate::api::labels::{
    CACHE_DATABASE_ANNOTATION, CACHE_POOL_ANNOTATION, DATABASE_POOL_ANNOTATION, OFFICE_BACKEND_ANNOTATION, PREVIEW_BACKEND_ANNOTATION,
    STORAGE_POOL_ANNOTATION, TALK_BACKEND_ANNOTATION,
};
use crate::api::space::{AssociationSpace, Placement};
use crate::api::storage_pool::StorageProvider;
use crate::controller::caches::MetaCache;
use crate::controller::{Context, backends, pools};
use crate::error::{Error, Result};
use crate::gate::KUBERNETES;
use crate::placement::{self, Candidate, Placeable, PlacementError};
use crate::render::bindings::{
    Bindings, CacheBinding, DatabaseBinding, MailBinding, OfficeBinding, PreviewBinding, SignalingBinding, StorageBinding, TalkBinding,
};
use crate::render::resolve::ResolvedSpace;

/// What the placement step decided.
pub struct Placed {
    pub placement: Placement,
    /// Kinds that could not be placed (no pool, none ready, all full).
    pub errors: Vec<PlacementError>,
    /// What a deleted space of this name retained, as the ledger holds it: the placement came
    /// (in part) from there, and the entry is forgotten once the namespace records it.
    pub retained: Option<Placement>,
    /// The Nextcloud that space had installed on that data, when the ledger kept it.
    pub retained_record: Option<crate::api::space::NextcloudStatus>,
}

impl Placed {
    /// The retained data this space would take, unless a platform engineer re-attached it.
    pub fn unclaimed_retained(&self, space: &AssociationSpace) -> Option<String> {
        let retained = self.retained.as_ref()?;
        if space.reattaches_retained() {
            return None;
        }
        let held: Vec<String> = [
            retained.database_pool.as_ref().map(|p| format!("database on DatabasePool {p}")),
            retained.cache_pool.as_ref().map(|p| format!("cache on CachePool {p}")),
            retained.storage_pool.as_ref().map(|p| format!("bucket on StoragePool {p}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        Some(held.join(", "))
    }
}

/// The placement recorded for the space, completed with a choice for every kind still missing.
pub async fn step(space: &AssociationSpace, resolved: &ResolvedSpace, ctx: &Context) -> Result<Placed> {
    let ns_meta = ctx.owned.namespaces.get_meta(None, &resolved.namespace);
    let mut recorded = recorded(space, ns_meta.as_ref());
    if !install_started(ctx, space, resolved, ns_meta.as_ref()) {
        let selector = resolved.class.pool_selector.clone().and_then(|s| Selector::try_from(s).ok());
        let mut moved = leave_unusable_pools(ctx, &mut recorded, selector.as_ref());
        moved.extend(leave_held_cache_database(space, &mut recorded));
        if !moved.is_empty() {
            let note = format!("{}; nothing of the space was installed there: it is placed again", moved.join("; "));
            super::status::publish(space, ctx, kube::runtime::events::EventType::Warning, "PlacedAgain", &note, "Place").await;
        }
    }
    // An adopted space's data is where it is: its pools are the ones it names, never chosen.
    if let Some(a) = &resolved.adoption {
        recorded.database_pool = Some(a.database.pool.clone());
        recorded.storage_pool = Some(a.bucket.pool.clone());
    }
    let complete = recorded.database_pool.is_some()
        && recorded.cache_pool.is_some()
        && recorded.cache_database.is_some()
        && recorded.storage_pool.is_some();
    // A space that is not fully placed, or whose namespace is not there (its status may carry a
    // placement from a namespace of the same name being deleted), looks for data a former space
    // of its name retained.
    let ledger = if complete && ns_meta.is_some() { HashMap::new() } else { retained_ledger(ctx).await? };
    let entry = ledger.get(&resolved.name).cloned();
    let (retained, retained_record) = match entry {
        Some(e) => (Some(e.placement), e.nextcloud),
        None => (None, None),
    };
    // Databases a retained space keeps are not given to another: its keys are still there.
    let kept: Vec<(String, u32)> = ledger
        .iter()
        .filter(|(name, _)| **name != resolved.name)
        .filter_map(|(_, e)| Some((e.placement.cache_pool.clone()?, e.placement.cache_database?)))
        .collect();
    let (placement, errors) = place(ctx, resolved, recorded, retained.clone(), &kept).await;
    Ok(Placed { placement, errors, retained, retained_record })
}

/// Whether the space's install ever began: a Nextcloud recorded, an install Job, or an Installed
/// condition past waiting for its backing services. Before that, nothing of the space's own was
/// written on its pools (at most an empty role, database, user or bucket).
fn install_started(ctx: &Context, space: &AssociationSpace, resolved: &ResolvedSpace, ns: Option<&ObjectMeta>) -> bool {
    use crate::api::labels::{INSTALLED, NEXTCLOUD_VERSION_ANNOTATION};
    let status = space.status.as_ref();
    let waiting =
        status.and_then(|s| s.conditions.iter().find(|c| c.type_ == INSTALLED)).is_none_or(|c| super::install::not_begun(&c.reason));
    status.is_some_and(|s| s.nextcloud.is_some())
        || ns.and_then(|m| m.annotations.as_ref()).is_some_and(|a| a.contains_key(NEXTCLOUD_VERSION_ANNOTATION))
        || ctx
            .owned
            .jobs
            .get(&kube::runtime::reflector::ObjectRef::new(crate::render::jobs::INSTALL_JOB).within(&resolved.namespace))
            .is_some()
        || !waiting
}

/// Hostile pass 2, F8: a space not yet installed whose recorded pool is gone, or was checked and
/// is not Ready (it cannot provision), is placed again on a Ready pool the class allows, instead
/// of waiting on it for good; with no such pool it stays and says why. What was moved, for the
/// Event.
fn leave_unusable_pools(ctx: &Context, p: &mut Placement, selector: Option<&Selector>) -> Vec<String> {
    fn unusable<K: Placeable>(
        found: Result<std::sync::Arc<K>>,
        all: &[std::sync::Arc<K>],
        selector: Option<&Selector>,
    ) -> Option<&'static str> {
        let why = match found {
            Err(_) => "is gone",
            Ok(pool) if pool.is_checked() && !pool.is_placeable() => "is not Ready",
            Ok(_) => return None,
        };
        let elsewhere = all.iter().any(|o| o.is_placeable() && selector.is_none_or(|s| s.matches(o.labels())));
        elsewhere.then_some(why)
    }
    let mut moved = Vec::new();
    if let Some(pool) = p.database_pool.clone()
        && let Some(why) = unusable(ctx.pools.database_pool(&pool), &ctx.pools.databases.state(), selector)
    {
        moved.push(format!("DatabasePool {pool} {why}"));
        p.database_pool = None;
    }
    if let Some(pool) = p.cache_pool.clone()
        && let Some(why) = unusable(ctx.pools.cache_pool(&pool), &ctx.pools.caches.state(), selector)
    {
        moved.push(format!("CachePool {pool} {why}"));
        p.cache_pool = None;
        p.cache_database = None;
    }
    if let Some(pool) = p.storage_pool.clone()
        && let Some(why) = unusable(ctx.pools.storage_pool(&pool), &ctx.pools.storages.state(), selector)
    {
        moved.push(format!("StoragePool {pool} {why}"));
        p.storage_pool = None;
    }
    moved
}

/// A cache database another space's user holds (two choices made on either side of an operator
/// restart, before the watch showed the first) is chosen again for a space not yet installed:
/// its provisioning refused it with a Conflict and wrote nothing.
fn leave_held_cache_database(space: &AssociationSpace, p: &mut Placement) -> Option<String> {
    use crate::api::labels::CACHE_READY;
    let refused = space
        .status
        .as_ref()?
        .conditions
        .iter()
        .any(|c| c.type_ == CACHE_READY && c.reason == "Conflict" && c.message.contains(crate::provision::redis::DATABASE_HELD));
    let (pool, database) = (p.cache_pool.clone()?, p.cache_database?);
    refused.then(|| {
        p.cache_database = None;
        format!("database {database} of CachePool {pool} is another space's")
    })
}

/// The placement recorded for a space: the namespace's annotations win over the status, so a space
/// restored without its status (GitOps) keeps its pools and never lands on an empty database.
pub fn recorded(space: &AssociationSpace, namespace: Option<&ObjectMeta>) -> Placement {
    let from_status = space.status.as_ref().and_then(|s| s.placement.clone()).unwrap_or_default();
    let annotations = namespace.and_then(|m| m.annotations.clone()).unwrap_or_default();
    let get = |key: &str, fallback: &Option<String>| annotations.get(key).cloned().or_else(|| fallback.clone());
    Placement {
        database_pool: get(DATABASE_POOL_ANNOTATION, &from_status.database_pool),
        cache_pool: get(CACHE_POOL_ANNOTATION, &from_status.cache_pool),
        cache_database: annotations
            .get(CACHE_DATABASE_ANNOTATION)
            .and_then(|d| d.parse().ok())
            .or(from_status.cache_database)
            .filter(|d| *d > 0),
        storage_pool: get(STORAGE_POOL_ANNOTATION, &from_status.storage_pool),
        office_backend: get(OFFICE_BACKEND_ANNOTATION, &from_status.office_backend),
        preview_backend: get(PREVIEW_BACKEND_ANNOTATION, &from_status.preview_backend),
        talk_backend: get(TALK_BACKEND_ANNOTATION, &from_status.talk_backend),
    }
}

pub fn annotations(p: &Placement) -> BTreeMap<String, String> {
    [
        (DATABASE_POOL_ANNOTATION, &p.database_pool),
        (CACHE_POOL_ANNOTATION, &p.cache_pool),
        (CACHE_DATABASE_ANNOTATION, &p.cache_database.map(|d| d.to_string())),
        (STORAGE_POOL_ANNOTATION, &p.storage_pool),
        (OFFICE_BACKEND_ANNOTATION, &p.office_backend),
        (PREVIEW_BACKEND_ANNOTATION, &p.preview_backend),
        (TALK_BACKEND_ANNOTATION, &p.talk_backend),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
    .collect()
}

/// Office, preview and calls backends are optional for a space to serve its files: their
/// placement errors show in OfficeReady and TalkReady, not in Placed.
pub fn is_backend_error(e: &PlacementError) -> bool {
    matches!(e.kind(), "OfficeBackend" | "PreviewBackend" | "TalkBackend")
}

fn choose_one<K: Placeable>(
    ctx: &Context,
    pools: &[std::sync::Arc<K>],
    pending: &HashMap<String, Placement>,
    pick: fn(&Placement) -> &Option<String>,
    selector: &Option<Selector>,
) -> std::result::Result<String, PlacementError> {
    let allowed = |labels: &BTreeMap<String, String>| selector.as_ref().is_none_or(|s| s.matches(labels));
    // Counting assignments walks every namespace: not when nothing could be chosen anyway (a kind
    // with no object, e.g. no PreviewBackend, would cost that walk on every reconcile).
    if !pools.iter().any(|p| allowed(p.labels())) {
        return Err(PlacementError::NoPool { kind: K::KIND });
    }
    let mut assigned = pools::assignments(&ctx.owned.namespaces, K::ANNOTATION);
    for p in pending.values() {
        if let Some(name) = pick(p) {
            *assigned.entry(name.clone()).or_insert(0) += 1;
        }
    }
    let c: Vec<Candidate<'_>> = pools
        .iter()
        .map(|p| Candidate {
            name: p.meta().name.as_deref().unwrap_or_default(),
            labels: p.labels(),
            ready: p.is_placeable(),
            checked: p.is_checked(),
            max_spaces: p.max_spaces(),
        })
        .collect();
    placement::choose(K::KIND, &c, &assigned, allowed).map(str::to_string)
}

/// Completes the recorded placement with a choice for every kind still missing. Choices are made
/// under one lock and held as pending until the namespace records them, so concurrent reconciles
/// never overfill a pool.
pub async fn place(
    ctx: &Context,
    space: &ResolvedSpace,
    recorded: Placement,
    retained: Option<Placement>,
    retained_databases: &[(String, u32)],
) -> (Placement, Vec<PlacementError>) {
    let mut placement = recorded;
    // A space re-created after a Retain deletion goes back to the pools that kept its data.
    if let Some(r) = retained {
        placement.database_pool = placement.database_pool.or(r.database_pool.filter(|p| ctx.pools.database_pool(p).is_ok()));
        if placement.cache_pool.is_none() && r.cache_pool.as_ref().is_some_and(|p| ctx.pools.cache_pool(p).is_ok()) {
            placement.cache_pool = r.cache_pool.clone();
            placement.cache_database = placement.cache_database.or(r.cache_database);
        }
        placement.storage_pool = placement.storage_pool.or(r.storage_pool.filter(|p| ctx.pools.storage_pool(p).is_ok()));
    }
    let selector = space.class.pool_selector.clone().and_then(|s| Selector::try_from(s).ok());
    let mut errors = Vec::new();
    let mut pending = ctx.placing.lock().await;
    pending.remove(&space.name);
    if placement.database_pool.is_none() {
        match choose_one(ctx, &ctx.pools.databases.state(), &pending, |p| &p.database_pool, &selector) {
            Ok(n) => placement.database_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    if placement.cache_pool.is_none() {
        match choose_one(ctx, &ctx.pools.caches.state(), &pending, |p| &p.cache_pool, &selector) {
            Ok(n) => placement.cache_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    if let Some(pool) = placement.cache_pool.clone()
        && placement.cache_database.is_none()
    {
        match cache_database(ctx, &pool, &pending, retained_databases) {
            Ok(d) => placement.cache_database = Some(d),
            Err(e) => errors.push(e),
        }
    }
    if placement.storage_pool.is_none() {
        // A store for backups never holds a space's live files.
        let stores: Vec<_> =
            ctx.pools.storages.state().into_iter().filter(|p| p.spec.purpose == crate::api::storage_pool::StoragePurpose::Spaces).collect();
        match choose_one(ctx, &stores, &pending, |p| &p.storage_pool, &selector) {
            Ok(n) => placement.storage_pool = Some(n),
            Err(e) => errors.push(e),
        }
    }
    // Office and preview backends, unlike pools, follow the spec: a space that switches suites
    // moves to a backend of the other type, and `office: none` leaves its backend.
    let office = ctx.backends.offices.state();
    let fits = |name: &String| office.iter().any(|b| b.name_any() == *name && backends::serves(b, space.office));
    if placement.office_backend.as_ref().is_some_and(|b| !fits(b)) {
        placement.office_backend = None;
    }
    if placement.office_backend.is_none() && space.office != crate::api::space::OfficeSuite::None {
        let candidates: Vec<_> = office.iter().filter(|b| backends::serves(b, space.office)).cloned().collect();
        match choose_one(ctx, &candidates, &pending, |p| &p.office_backend, &selector) {
            Ok(n) => placement.office_backend = Some(n),
            Err(e) => errors.push(e),
        }
    }
    let previews = ctx.backends.previews.state();
    if placement.preview_backend.as_ref().is_some_and(|b| !previews.iter().any(|p| p.name_any() == *b)) {
        placement.preview_backend = None;
    }
    if placement.preview_backend.is_none() {
        match choose_one(ctx, &previews, &pending, |p| &p.preview_backend, &selector) {
            Ok(n) => placement.preview_backend = Some(n),
            Err(e) => errors.push(e),
        }
    }
    place_talk(ctx, space, &mut placement, &pending, &selector, &mut errors);
    pending.insert(space.name.clone(), placement.clone());
    (placement, errors)
}

/// The TalkBackend of a space whose class enables Talk: the one `spec.callsBackend` names (a
/// platform engineer moving the space), else the one it has while it exists, else the least
/// loaded Ready one. A class without Talk leaves its backend.
fn place_talk(
    ctx: &Context,
    space: &ResolvedSpace,
    placement: &mut Placement,
    pending: &HashMap<String, Placement>,
    selector: &Option<Selector>,
    errors: &mut Vec<PlacementError>,
) {
    if !space.has_talk() {
        placement.talk_backend = None;
        return;
    }
    if let Some(asked) = &space.calls_backend {
        match ctx.backends.talk(asked) {
            Some(_) => placement.talk_backend = Some(asked.clone()),
            None => {
                placement.talk_backend = None;
                errors.push(PlacementError::Missing { kind: "TalkBackend", name: asked.clone() });
            }
        }
        return;
    }
    if placement.talk_backend.as_ref().is_some_and(|b| ctx.backends.talk(b).is_none()) {
        placement.talk_backend = None;
    }
    if placement.talk_backend.is_none() {
        match choose_one(ctx, &ctx.backends.talks.state(), pending, |p| &p.talk_backend, selector) {
            Ok(n) => placement.talk_backend = Some(n),
            Err(e) => errors.push(e),
        }
    }
}

/// Where retained spaces' data stays after the space is deleted, so a space re-created under the
/// same name goes back to its database, cache user and bucket instead of empty new ones.
pub const RETAINED_LEDGER: &str = "framaspace-retained-placements";

fn ledger_api(ctx: &Context) -> kube::Api<k8s_openapi::api::core::v1::ConfigMap> {
    kube::Api::namespaced(ctx.client.clone(), &ctx.pools.namespace)
}

/// What the ledger keeps of a retained space: its placement, and the Nextcloud installed on that
/// data (the namespace that recorded it is gone with the space; without it a re-attached space
/// would find an installation it has no record of, hostile pass 2 D5). Entries written before
/// the record was kept read as a bare placement.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetainedEntry {
    #[serde(flatten)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextcloud: Option<crate::api::space::NextcloudStatus>,
}

/// The placements retained spaces had, by space name.
pub async fn retained_ledger(ctx: &Context) -> Result<HashMap<String, RetainedEntry>> {
    let cm = ledger_api(ctx).get_opt(RETAINED_LEDGER).await?;
    let data = cm.and_then(|c| c.data).unwrap_or_default();
    Ok(data.into_iter().filter_map(|(name, v)| Some((name, serde_json::from_str(&v).ok()?))).collect())
}

/// The lowest database of the pool's server that no space holds: not recorded on a namespace,
/// not chosen by a reconcile in flight, not kept by a retained space. Database 0 is never given
/// on a server; on a cluster it is the only one.
fn cache_database(
    ctx: &Context,
    pool: &str,
    pending: &HashMap<String, Placement>,
    retained: &[(String, u32)],
) -> std::result::Result<u32, PlacementError> {
    const KIND: &str = "CachePool";
    if ctx.pools.cache_pool(pool).is_ok_and(|p| p.spec.cluster.is_some()) {
        // A cluster has one database, every space's (Nextcloud's `RedisCluster` cannot select
        // another): its prefix isolates it.
        return Ok(0);
    }
    let databases = ctx.pools.cache_pool(pool).ok().and_then(|p| p.status.clone()).and_then(|s| s.databases);
    let Some(databases) = databases else {
        return Err(PlacementError::NoneReady { kind: KIND });
    };
    let mut taken: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    for ns in ctx.owned.namespaces.state() {
        let a = ns.annotations();
        if a.get(CACHE_POOL_ANNOTATION).is_some_and(|p| p == pool)
            && let Some(d) = a.get(CACHE_DATABASE_ANNOTATION).and_then(|d| d.parse().ok())
        {
            taken.insert(d);
        }
    }
    taken.extend(pending.values().filter(|p| p.cache_pool.as_deref() == Some(pool)).filter_map(|p| p.cache_database));
    taken.extend(retained.iter().filter(|(p, _)| p == pool).map(|(_, d)| *d));
    placement::free_database(databases, &taken).ok_or(PlacementError::NoCapacity { kind: KIND })
}

/// Records (Some) or forgets (None) a retained placement; a merge patch touches only this key.
pub async fn record_retained(ctx: &Context, space: &str, placement: Option<&RetainedEntry>) -> Result<()> {
    use kube::api::{Patch, PatchParams, PostParams};
    let api = ledger_api(ctx);
    let value = match placement {
        Some(p) => serde_json::Value::String(serde_json::to_string(p).map_err(|source| Error::Encode { what: "placement", source })?),
        None => serde_json::Value::Null,
    };
    let exists = api.get_opt(RETAINED_LEDGER).await?.is_some();
    if placement.is_none() && !exists {
        return Ok(());
    }
    if !exists {
        let cm = k8s_openapi::api::core::v1::ConfigMap {
            metadata: ObjectMeta {
                name: Some(RETAINED_LEDGER.into()),
                namespace: Some(ctx.pools.namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Default::default()
        };
        ctx.gate.allow(KUBERNETES)?;
        match api.create(&PostParams::default(), &cm).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    ctx.gate.allow(KUBERNETES)?;
    api.patch(RETAINED_LEDGER, &PatchParams::default(), &Patch::Merge(serde_json::json!({ "data": { space: value } }))).await?;
    Ok(())
}

/// Forgets the in-flight choice once the namespace cache shows it: the namespace was just
/// written, but another space's choice made before the watch delivers it must still see this
/// one (two spaces were given one cache database 110 ms apart).
pub async fn settled(ctx: &Context, space: &str, namespace: &str) {
    let mut pending = ctx.placing.lock().await;
    let Some(chosen) = pending.get(space) else { return };
    let shown = ctx.owned.namespaces.get_meta(None, namespace).is_some_and(|m| {
        let a = m.annotations.unwrap_or_default();
        annotations(chosen).iter().all(|(k, v)| a.get(k) == Some(v))
    });
    if shown {
        pending.remove(space);
    }
}

/// Forgets a deleted space's in-flight choice.
pub async fn forget(ctx: &Context, space: &str) {
    ctx.placing.lock().await.remove(space);
}

pub fn storage_provider(ctx: &Context, placement: &Placement) -> Option<StorageProvider> {
    placement.storage_pool.as_deref().and_then(|n| ctx.pools.storage_pool(n).ok()).map(|p| p.spec.provider)
}

/// Where the space's services are, from the placement and the pools' specs.
pub fn bindings(ctx: &Context, space: &ResolvedSpace, placement: &Placement) -> Bindings {
    let names = super::tenant::tenant_names(&space.name, space.adoption.as_ref());
    let database = placement.database_pool.as_deref().and_then(|n| ctx.pools.database_pool(n).ok()).map(|p| DatabaseBinding {
        host: p.spec.tenant_host.clone().unwrap_or_else(|| p.spec.host.clone()),
        port: p.spec.tenant_port.unwrap_or(p.spec.port),
        database: match p.spec.isolation {
            DatabaseIsolation::Database => names.database.clone(),
            DatabaseIsolation::Schema => p.spec.shared_database.clone(),
        },
        user: names.role.clone(),
        ssl_mode: p.spec.ssl_mode,
        server_major: p.status.as_ref().and_then(|s| s.server_major()),
        ca: ctx.pools.database_ca(&p),
    });
    let cache =
        placement.cache_pool.as_deref().and_then(|n| ctx.pools.cache_pool(n).ok()).zip(placement.cache_database).map(|(p, database)| {
            CacheBinding {
                host: p.spec.host.clone(),
                port: p.spec.port,
                tls: p.spec.tls,
                user: names.redis_user.clone(),
                prefix: names.redis_prefix.clone(),
                database,
                ca: ctx.pools.cache_ca(&p),
                cluster: p
                    .spec
                    .cluster
                    .as_ref()
                    .map(|c| crate::render::bindings::ClusterBinding { seeds: p.spec.seeds(), failover_mode: c.failover_mode }),
            }
        });
    let storage = placement.storage_pool.as_deref().and_then(|n| ctx.pools.storage_pool(n).ok()).and_then(|p| {
        StorageBinding::from_endpoint(
            &p.spec.endpoint,
            &p.spec.region,
            &super::tenant::bucket_name(&p, &space.name, space.adoption.as_ref()),
        )
    });
    let office = placement.office_backend.as_deref().and_then(|n| ctx.backends.office(n)).map(|b| OfficeBinding {
        suite: space.office,
        backend: b.name_any(),
        url: crate::render::backends::office_url(&b),
    });
    let preview = placement
        .preview_backend
        .as_deref()
        .filter(|n| ctx.backends.preview(n).is_some())
        .map(|n| PreviewBinding { backend: n.to_string(), url: crate::render::backends::preview_url(n, &ctx.pools.namespace) });
    // Bound only once the backend's Secret holds the TURN secret: the space's copy and the talk
    // Job's name follow it.
    let talk = placement.talk_backend.as_deref().and_then(|n| ctx.backends.talk(n)).and_then(|b| {
        let secret = crate::controller::talk_backend::turn_secret(ctx, &b)?;
        // Bound to the signaling server once its master secret exists (the space's own secret
        // is made from it); its fingerprint names the Job, so a new one rewires the space.
        let signaling = b.spec.signaling.as_ref().and_then(|s| {
            let master = crate::controller::talk_backend::signaling_master(ctx, &b)?;
            let own = crate::render::signaling::space_secret(&master, &space.uid);
            Some(SignalingBinding {
                url: crate::render::signaling::signaling_url(s),
                fingerprint: crate::render::talk::secret_fingerprint(own.as_bytes()),
            })
        });
        Some(TalkBinding {
            backend: b.name_any(),
            host: b.spec.turn.host.clone(),
            port: b.spec.turn.port,
            fingerprint: crate::render::talk::secret_fingerprint(&secret),
            signaling,
        })
    });
    let mail = space.class.mail.as_ref().map(|m| MailBinding {
        host: m.host.clone(),
        port: m.port,
        security: m.security,
        from: m.from.clone(),
        authenticated: m.credentials_secret_ref.is_some(),
    });
    Bindings { database, cache, storage, office, preview, talk, mail }
}

/// The class's SMTP credentials (username, password), copied into each space's own Secret; `None`
/// when the class has no credentials Secret, or not one made for mail (`PoolRegistry::mail_secret`,
/// said on the class's Ready condition): mail then goes without authentication.
pub fn mail_credentials(ctx: &Context, space: &ResolvedSpace) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = &space.class.mail.as_ref()?.credentials_secret_ref.as_ref()?.name;
    ctx.pools.mail_secret(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::AssociationSpaceStatus;
    use crate::render::resolve::tests as fixtures;

    #[test]
    fn namespace_annotations_win_over_status() {
        let mut space = fixtures::space("a");
        space.status = Some(AssociationSpaceStatus {
            placement: Some(Placement {
                database_pool: Some("from-status".into()),
                cache_pool: Some("redis-1".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let ns = ObjectMeta {
            annotations: Some(BTreeMap::from([(DATABASE_POOL_ANNOTATION.to_string(), "from-namespace".to_string())])),
            ..Default::default()
        };
        let p = recorded(&space, Some(&ns));
        assert_eq!(p.database_pool.as_deref(), Some("from-namespace"));
        assert_eq!(p.cache_pool.as_deref(), Some("redis-1"), "status fills what the namespace does not say");
        let restored = recorded(&fixtures::space("a"), Some(&ns));
        assert_eq!(restored.database_pool.as_deref(), Some("from-namespace"), "a restore without status keeps its pool");
    }

    #[test]
    fn annotations_round_trip() {
        let p = Placement { database_pool: Some("pg".into()), storage_pool: Some("s3".into()), ..Default::default() };
        let a = annotations(&p);
        assert_eq!(a.len(), 2);
        let ns = ObjectMeta { annotations: Some(a), ..Default::default() };
        assert_eq!(recorded(&fixtures::space("x"), Some(&ns)), p);
    }
}
