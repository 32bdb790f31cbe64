//! Step "adoption": a space that takes over an existing Nextcloud. While observed, the operator
//! reads the database (as the admin: does it exist, whose is it; as the instance's role: what its
//! tables hold), the bucket (is it there, what it holds, does the instance's key read it) and
//! the identity Secret, writes nothing anywhere but this space's status, and reports what differs
//! from what it would manage. A space switched to `Manage` is observed once more and taken over
//! only on a clean report: no install, its identity, database password and S3 key kept (not
//! rotated: the old instance may still run during the cut-over, and a rotation would break it
//! with no way back), a fresh user on one of the operator's CachePools (the cache holds nothing
//! that must be kept).
//!
//! A database or bucket another space uses is refused before anything is read.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::tenant::{bucket_name, tenant_names};
use crate::api::AssociationSpace;
use crate::api::adoption::{Adoption, AdoptionDifference, AdoptionPolicy, AdoptionState, AdoptionStatus, ObservedInstance};
use crate::api::database_pool::DatabaseIsolation;
use crate::api::labels::{ADOPTION_PURPOSE, PURPOSE_LABEL, SPACE_LABEL};
use crate::api::space::NextcloudStatus;
use crate::controller::Context;
use crate::controller::pools::is_ready;
use crate::provision::BucketFacts;
use crate::provision::minio::Bucket;
use crate::provision::postgres::{DatabaseFacts, InstanceFacts};
use crate::render::credentials as keys;
use crate::render::resolve::ResolvedSpace;

/// The adoption Secret's keys (config.php's names) and where each goes in the space's Secret.
pub const SECRET_KEYS: [(&str, &str); 6] = [
    ("instanceid", keys::INSTANCE_ID),
    ("secret", keys::NEXTCLOUD_SECRET),
    ("passwordsalt", keys::PASSWORD_SALT),
    ("dbpassword", keys::DATABASE_PASSWORD),
    ("objectstore-key", keys::S3_ACCESS_KEY),
    ("objectstore-secret", keys::S3_SECRET_KEY),
];

/// The start of the message of a Secret not there (yet: GitOps applies in any order).
const SECRET_NOT_FOUND: &str = "the adoption Secret is not there";

/// The Nextcloud an adopted space runs from the start: the version its config.php records, in
/// the class's image (the report refuses a release other than the class's).
pub fn record(resolved: &ResolvedSpace) -> Option<NextcloudStatus> {
    let a = resolved.adoption.as_ref()?;
    Some(NextcloudStatus { version: a.version.clone(), version_string: release_of(&a.version), image: resolved.image.clone() })
}

fn release_of(version: &str) -> String {
    version.split('.').take(3).collect::<Vec<_>>().join(".")
}

/// The instance's identity and keys, from the adoption Secret, under the space Secret's names.
/// Only a Secret made for this space's adoption is read (labelled `frama.space/purpose:
/// adoption`, annotated `frama.space/space: <space>`): naming another Secret of the operator's
/// namespace (a pool's admin credentials) gets nothing.
pub fn adopted_credentials(ctx: &Context, space: &str, adoption: &Adoption) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let ns = &ctx.pools.namespace;
    let name = &adoption.secret_name;
    let secret = ctx.pools.operator_secret(name).ok_or_else(|| format!("{SECRET_NOT_FOUND}: {ns}/{name}"))?;
    let made_for = secret.labels().get(PURPOSE_LABEL).map(String::as_str) == Some(ADOPTION_PURPOSE)
        && secret.annotations().get(SPACE_LABEL).map(String::as_str) == Some(space);
    if !made_for {
        return Err(format!(
            "Secret {ns}/{name} is not labelled {PURPOSE_LABEL}={ADOPTION_PURPOSE} and annotated {SPACE_LABEL}={space}: it was not made for this space's adoption, nothing was read"
        ));
    }
    let data = secret.data.clone().unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (from, to) in SECRET_KEYS {
        match data.get(from).filter(|v| !v.0.is_empty()) {
            Some(v) => {
                out.insert(to.to_string(), v.0.clone());
            }
            None => missing.push(from),
        }
    }
    if !missing.is_empty() {
        return Err(format!("Secret {ns}/{name} lacks {}", missing.join(", ")));
    }
    Ok(out)
}

/// Another space that uses the database, its role or the bucket this one adopts: adopted by it,
/// or made by the operator for it (its derived names on its pools).
pub fn conflict(ctx: &Context, space: &str, adoption: &Adoption) -> Option<String> {
    let a = adoption;
    for other in ctx.spaces.state() {
        let name = other.name_any();
        if name == space {
            continue;
        }
        if let Some(o) = &other.spec.adoption {
            if o.database.pool == a.database.pool && (o.database.name == a.database.name || o.database.role == a.database.role) {
                return Some(format!(
                    "database {} (role {}) on DatabasePool {} is adopted by space {name}",
                    a.database.name, a.database.role, a.database.pool
                ));
            }
            if o.bucket.pool == a.bucket.pool && o.bucket.name == a.bucket.name {
                return Some(format!("bucket {} on StoragePool {} is adopted by space {name}", a.bucket.name, a.bucket.pool));
            }
            continue;
        }
        let placement = other.status.as_ref().and_then(|s| s.placement.clone()).unwrap_or_default();
        let derived = tenant_names(&name, None);
        if placement.database_pool.as_deref() == Some(a.database.pool.as_str())
            && (derived.database == a.database.name || derived.role == a.database.role)
        {
            return Some(format!(
                "database {} (role {}) on DatabasePool {} is space {name}'s",
                a.database.name, a.database.role, a.database.pool
            ));
        }
        if placement.storage_pool.as_deref() == Some(a.bucket.pool.as_str())
            && let Ok(pool) = ctx.pools.storage_pool(&a.bucket.pool)
            && bucket_name(&pool, &name, None) == a.bucket.name
        {
            return Some(format!("bucket {} on StoragePool {} is space {name}'s", a.bucket.name, a.bucket.pool));
        }
    }
    None
}

/// What observing found, before it is compared.
pub struct Facts {
    pub database: DatabaseFacts,
    /// `None`: the Secret's `dbpassword` does not log in as the role.
    pub instance: Option<InstanceFacts>,
    pub bucket: BucketFacts,
}

fn difference(field: &str, observed: impl Into<String>, managed: impl Into<String>, blocking: bool) -> AdoptionDifference {
    AdoptionDifference { field: field.into(), observed: observed.into(), managed: managed.into(), blocking }
}

/// Everything that differs between the instance and what the operator would manage (pure).
pub fn differences(resolved: &ResolvedSpace, a: &Adoption, instance_id: &str, facts: &Facts) -> Vec<AdoptionDifference> {
    let mut out = Vec::new();
    let class = &resolved.class.nextcloud.version;
    let release = release_of(&a.version);
    // The same rule as a class's version: a release the operator can run is 33.0.1 or later.
    let ours = crate::api::class::supported_version(class).ok();
    let theirs = crate::api::class::supported_version(&release).ok();
    if theirs.is_none() {
        out.push(difference(
            "version",
            a.version.clone(),
            format!(
                "below 33.0.1, whose cache keys fall outside a per-space ACL: upgrade it in place (occ upgrade) to {class} first, then observe it again"
            ),
            true,
        ));
    } else if theirs < ours {
        out.push(difference(
            "version",
            a.version.clone(),
            format!(
                "older than SpaceClass {} ({class}): upgrade it in place to {class} (occ upgrade), or adopt it under a class at {release}",
                resolved.class_name
            ),
            true,
        ));
    } else if theirs > ours {
        out.push(difference(
            "version",
            a.version.clone(),
            format!(
                "newer than SpaceClass {} ({class}): Nextcloud cannot be downgraded; adopt it under a class at {release}",
                resolved.class_name
            ),
            true,
        ));
    }
    if a.host != resolved.host {
        out.push(difference(
            "host",
            a.host.clone(),
            format!(
                "the operator serves {}: name the space after the host's first label, under a class whose baseDomain is the rest",
                resolved.host
            ),
            true,
        ));
    }
    if let Some(owner) = &facts.database.owner
        && *owner != a.database.role
    {
        out.push(difference(
            "database",
            format!("owned by {owner}"),
            format!("owned by {}: the instance's role must own its database", a.database.role),
            true,
        ));
    }
    if !facts.database.role_exists {
        out.push(difference("database", format!("role {} does not exist", a.database.role), "the instance's dbuser must exist", true));
    }
    let Some(instance) = &facts.instance else {
        out.push(difference(
            "dbpassword",
            format!("does not log in as {}", a.database.role),
            "the Secret's dbpassword must be the instance's",
            true,
        ));
        return out;
    };
    if !instance.installed {
        out.push(difference("database", "no finished Nextcloud install (core/installedat)", "an installed Nextcloud", true));
    }
    let store = format!("object::store:amazon::{}", a.bucket.name);
    if !instance.object_stores.contains(&store) {
        let seen = if instance.object_stores.is_empty() { "none".to_string() } else { instance.object_stores.join(", ") };
        out.push(difference(
            "bucket",
            format!("the database's primary object stores: {seen}"),
            format!("{store}: the database must be the one whose files the bucket holds"),
            true,
        ));
    } else if !instance.appdata_found {
        out.push(difference(
            "instanceid",
            format!("no appdata_{instance_id} in the bucket's storage"),
            "the Secret's instanceid must be the instance's",
            true,
        ));
    }
    if !facts.bucket.key_reads {
        out.push(difference("objectstore-key", "does not read the bucket", "the Secret's objectstore-key must be the instance's", true));
    }
    if facts.bucket.marked {
        out.push(difference("bucket", "carries the operator's mark", "a bucket the operator made for a space is never adopted", true));
    }
    let max = i64::from(resolved.max_accounts);
    if instance.accounts > max {
        out.push(difference(
            "accounts",
            instance.accounts.to_string(),
            format!("at most {max} (spec.maxAccounts): raise it within the class's limit, or remove accounts first"),
            true,
        ));
    }
    if facts.bucket.bytes > resolved.quota_bytes {
        out.push(difference(
            "quota",
            format!("{} bytes in the bucket", facts.bucket.bytes),
            format!("{} quota: raise spec.quota, or delete files first", resolved.quota),
            true,
        ));
    }
    // The office step enables the space's suite and disables the other (render::bindings::office_commands).
    let suite = resolved.office;
    let all_suites = [crate::api::space::OfficeSuite::Collabora, crate::api::space::OfficeSuite::Onlyoffice];
    let to_disable: Vec<&str> = all_suites
        .iter()
        .filter(|s| **s != suite)
        .filter_map(|s| s.app())
        .filter(|a| instance.enabled_apps.iter().any(|e| e == a))
        .collect();
    let to_enable = suite.app().filter(|a| !instance.enabled_apps.iter().any(|e| e == a));
    if to_enable.is_some() || !to_disable.is_empty() {
        let observed = match to_enable {
            Some(a) => format!("{a} not enabled"),
            None => format!("{} enabled", to_disable.join(", ")),
        };
        let mut managed = match suite.app() {
            Some(a) => format!("{} (spec.office): {a} enabled and wired to the class's office backend", suite.as_str()),
            None => "no office suite (spec.office none)".to_string(),
        };
        if !to_disable.is_empty() {
            managed.push_str(&format!("; {} disabled", to_disable.join(", ")));
        }
        out.push(difference("office", observed, managed, false));
    }
    let wanted = resolved.apps();
    let missing: Vec<&str> = wanted.iter().filter(|w| !instance.enabled_apps.contains(w)).map(String::as_str).collect();
    if !missing.is_empty() {
        out.push(difference(
            "apps",
            format!("{} not enabled", missing.join(", ")),
            "enabled by the operator once managed (the class's list)",
            false,
        ));
    }
    // The talk step replaces Talk's TURN, STUN and signaling servers (render::talk::talk_commands).
    if resolved.has_talk() {
        out.push(difference(
            "talk",
            "Talk's TURN, STUN and signaling servers as the instance has them",
            "replaced by those of the space's TalkBackend, its secrets given to the space (one occ Job)",
            false,
        ));
    }
    out
}

/// The report: refused, observing (a system not read yet) or read (clean or differing).
/// `observedAt` is kept when nothing else changed, so a resync that finds the same writes nothing.
pub fn report(
    policy: AdoptionPolicy,
    state: AdoptionState,
    found: Vec<AdoptionDifference>,
    instance: Option<ObservedInstance>,
    message: String,
    previous: Option<&AdoptionStatus>,
    now: &str,
) -> AdoptionStatus {
    let mut r = AdoptionStatus { state, policy, observed_at: now.to_string(), differences: found, instance, message };
    if let Some(p) = previous {
        let mut same = r.clone();
        same.observed_at = p.observed_at.clone();
        if same == *p {
            r.observed_at = p.observed_at.clone();
        }
    }
    r
}

/// The report of a space the operator now runs.
pub fn managed(mut report: AdoptionStatus) -> AdoptionStatus {
    report.state = AdoptionState::Managed;
    report.policy = AdoptionPolicy::Manage;
    report.message = "the operator runs the space on its adopted data".into();
    report
}

/// Observes the adopted instance. Reads only; the report says what was found, or why not.
pub async fn observe(
    ctx: &Context,
    space: &AssociationSpace,
    resolved: &ResolvedSpace,
    previous: Option<&AdoptionStatus>,
) -> AdoptionStatus {
    let now = crate::api::conditions::now_rfc3339();
    let Some(a) = resolved.adoption.as_ref() else {
        return report(AdoptionPolicy::Observe, AdoptionState::Refused, Vec::new(), None, "no spec.adoption".into(), previous, &now);
    };
    let policy = a.policy;
    let done = |state, message: String| report(policy, state, Vec::new(), None, message, previous, &now);
    if let Some(c) = conflict(ctx, &space.name_any(), a) {
        return done(AdoptionState::Refused, format!("{c}: nothing was read"));
    }
    let creds = match adopted_credentials(ctx, &resolved.name, a) {
        Ok(c) => c,
        Err(m) if m.starts_with(SECRET_NOT_FOUND) => return done(AdoptionState::Observing, m),
        Err(m) => return done(AdoptionState::Refused, m),
    };
    let db_pool = match ctx.pools.database_pool(&a.database.pool) {
        Ok(p) => p,
        Err(_) => return done(AdoptionState::Observing, format!("DatabasePool {} not found", a.database.pool)),
    };
    if db_pool.spec.isolation != DatabaseIsolation::Database {
        return done(
            AdoptionState::Refused,
            format!(
                "DatabasePool {} gives each space a schema: an adopted instance has its own database, adopt it through a pool with isolation Database",
                a.database.pool
            ),
        );
    }
    let storage_pool = match ctx.pools.storage_pool(&a.bucket.pool) {
        Ok(p) => p,
        Err(_) => return done(AdoptionState::Observing, format!("StoragePool {} not found", a.bucket.pool)),
    };
    if !is_ready(db_pool.status.as_ref()) || !is_ready(storage_pool.status.as_ref()) {
        return done(
            AdoptionState::Observing,
            format!("waiting for DatabasePool {} and StoragePool {} to be Ready", a.database.pool, a.bucket.pool),
        );
    }
    let text = |k: &str| creds.get(k).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
    let names = tenant_names(&resolved.name, Some(a));
    let read = async {
        let pg = ctx.pools.postgres(&a.database.pool).await?;
        let database = pg.database_facts(&a.database.name, &a.database.role).await?;
        let (access, secret) = (text(keys::S3_ACCESS_KEY), text(keys::S3_SECRET_KEY));
        let b =
            Bucket { bucket: &a.bucket.name, access_key: &access, secret_key: &secret, quota_bytes: resolved.quota_bytes, writable: false };
        let bucket = ctx.pools.s3(&a.bucket.pool).await?.inspect(&b).await?;
        let instance = match (&database.owner, database.role_exists) {
            (Some(_), true) => pg.instance_facts(&names, &text(keys::DATABASE_PASSWORD), &a.bucket.name, &text(keys::INSTANCE_ID)).await?,
            _ => None,
        };
        Ok::<_, crate::error::Error>(Facts { database, instance, bucket })
    };
    let facts = match read.await {
        Ok(f) => f,
        Err(e) => return done(AdoptionState::Observing, format!("could not read the instance: {e}")),
    };
    if facts.database.owner.is_none() {
        return done(
            AdoptionState::Refused,
            format!("database {} does not exist on DatabasePool {}: the manifest points at nothing", a.database.name, a.database.pool),
        );
    }
    if !facts.bucket.exists {
        return done(
            AdoptionState::Refused,
            format!("bucket {} does not exist on StoragePool {}: the manifest points at nothing", a.bucket.name, a.bucket.pool),
        );
    }
    let found = differences(resolved, a, &text(keys::INSTANCE_ID), &facts);
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let instance = ObservedInstance {
        version: a.version.clone(),
        enabled_apps: facts.instance.as_ref().map(|i| i.enabled_apps.clone()).unwrap_or_default(),
        accounts: facts.instance.as_ref().map(|i| i.accounts).unwrap_or_default(),
        objects: as_i64(facts.bucket.objects),
        bytes: as_i64(facts.bucket.bytes),
    };
    let blocking = found.iter().filter(|d| d.blocking).count();
    let (state, message) = if blocking > 0 {
        (AdoptionState::Differing, format!("{blocking} difference(s) must be mended before the space can be managed"))
    } else {
        (AdoptionState::Clean, "nothing stops managing it; differences lists what managing changes".to_string())
    };
    report(policy, state, found, Some(instance), message, previous, &now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::adoption::{AdoptedBucket, AdoptedDatabase};
    use crate::render::resolve::{resolve, tests as fixtures};

    fn adoption() -> Adoption {
        Adoption {
            policy: AdoptionPolicy::Observe,
            database: AdoptedDatabase { pool: "pg".into(), name: "nc_asso".into(), role: "nc_asso".into() },
            bucket: AdoptedBucket { pool: "s3".into(), name: "nc-asso".into() },
            secret_name: "adopt-asso".into(),
            version: "33.0.7.2".into(),
            host: "asso.frama.space".into(),
        }
    }

    fn clean_facts(apps: &[&str]) -> Facts {
        Facts {
            database: DatabaseFacts { owner: Some("nc_asso".into()), role_exists: true },
            instance: Some(InstanceFacts {
                installed: true,
                object_stores: vec!["object::store:amazon::nc-asso".into()],
                appdata_found: true,
                enabled_apps: apps.iter().map(|s| s.to_string()).collect(),
                accounts: 3,
            }),
            bucket: BucketFacts { exists: true, bytes: 10, objects: 2, key_reads: true, marked: false },
        }
    }

    fn resolved() -> ResolvedSpace {
        let mut space = fixtures::space("asso");
        space.spec.adoption = Some(adoption());
        resolve(&space, &fixtures::class("c", true)).expect("resolves")
    }

    #[test]
    fn a_matching_instance_is_clean_and_the_apps_to_enable_are_listed() {
        let r = resolved();
        let d = differences(&r, &adoption(), "ocabc", &clean_facts(&["files"]));
        assert!(d.iter().all(|d| !d.blocking), "{d:?}");
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["office", "apps"], "{d:?}");
        assert!(d[0].managed.contains("collabora (spec.office): richdocuments enabled"), "{d:?}");
        assert!(d[1].observed.contains("framaspace_quota"), "{d:?}");
        let mut apps: Vec<String> = r.apps();
        apps.push("richdocuments".into());
        let all: Vec<&str> = apps.iter().map(String::as_str).collect();
        assert!(differences(&r, &adoption(), "ocabc", &clean_facts(&all)).is_empty());
        let mut other = all.clone();
        other.push("onlyoffice");
        let d = differences(&r, &adoption(), "ocabc", &clean_facts(&other));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].observed == "onlyoffice enabled" && d[0].managed.ends_with("; onlyoffice disabled"), "{d:?}");
    }

    #[test]
    fn what_would_lose_data_or_log_everyone_out_blocks() {
        let r = resolved();
        let mut f = clean_facts(&[]);
        if let Some(i) = f.instance.as_mut() {
            i.object_stores = vec!["object::store:amazon::other".into()];
        }
        let d = differences(&r, &adoption(), "ocabc", &f);
        assert!(d.iter().any(|d| d.field == "bucket" && d.blocking), "{d:?}");
        let mut f = clean_facts(&[]);
        if let Some(i) = f.instance.as_mut() {
            i.appdata_found = false;
        }
        assert!(differences(&r, &adoption(), "ocabc", &f).iter().any(|d| d.field == "instanceid" && d.blocking));
        let f = Facts { instance: None, ..clean_facts(&[]) };
        assert!(differences(&r, &adoption(), "ocabc", &f).iter().any(|d| d.field == "dbpassword" && d.blocking));
        let mut f = clean_facts(&[]);
        f.bucket.key_reads = false;
        assert!(differences(&r, &adoption(), "ocabc", &f).iter().any(|d| d.field == "objectstore-key" && d.blocking));
    }

    #[test]
    fn versions_other_than_the_class_release_block_with_the_path_to_take() {
        let r = resolved();
        for (version, says) in
            [("32.0.5.1", "below 33.0.1"), ("33.0.0.16", "below 33.0.1"), ("33.0.5.1", "older than"), ("34.0.0.1", "newer than")]
        {
            let a = Adoption { version: version.into(), ..adoption() };
            let d = differences(&r, &a, "ocabc", &clean_facts(&[]));
            let v = d.iter().find(|d| d.field == "version").expect("version differs");
            assert!(v.blocking && v.managed.contains(says), "{version}: {v:?}");
        }
        let a = Adoption { host: "asso.example.org".into(), ..adoption() };
        assert!(differences(&r, &a, "ocabc", &clean_facts(&[])).iter().any(|d| d.field == "host" && d.blocking));
    }

    #[test]
    fn a_report_found_again_keeps_its_time() {
        let first = report(AdoptionPolicy::Observe, AdoptionState::Clean, Vec::new(), None, "m".into(), None, "t1");
        let again = report(AdoptionPolicy::Observe, AdoptionState::Clean, Vec::new(), None, "m".into(), Some(&first), "t2");
        assert_eq!(again, first);
        let changed = report(AdoptionPolicy::Manage, AdoptionState::Clean, Vec::new(), None, "m".into(), Some(&first), "t2");
        assert_eq!(changed.observed_at, "t2");
        assert_eq!(record(&resolved()).map(|r| r.version_string), Some("33.0.7".to_string()));
    }
}
