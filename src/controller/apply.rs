//! Server-side apply that skips the write when nothing would change.
//!
//! A server-side apply of an unchanged object changes nothing in etcd, but it is still a write
//! request: at 10,000 spaces and ten objects each, a periodic resync would cost 100,000 PATCHes.
//! The applier remembers, per object, the hash of what it last applied and the version the API
//! server gave the result. When the cached live object still has that version and the desired
//! object still has that hash, nobody changed it and there is nothing to write. Any edit by
//! someone else (a new resourceVersion, or a new generation for kinds with a spec/status split),
//! a deletion, or an operator restart makes the next reconcile apply again, which repairs drift.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use kube::api::{Patch, PatchParams};
use kube::core::ObjectMeta;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::api::labels::{APPLIED_HASH_ANNOTATION, FIELD_MANAGER};
use crate::error::{Error, Result};
use crate::gate::{KUBERNETES, WriteGate};
use crate::render::config::hex;

/// How to tell that someone else changed an object since the operator applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSignal {
    /// Any write bumps the resourceVersion (objects without a status that churns).
    ResourceVersion,
    /// Only spec writes bump the generation; status updates (e.g. a Deployment rolling out) do not.
    Generation,
    /// A digest of the content the operator owns, computed by the caller, for kinds whose status
    /// churns without any generation (a ResourceQuota's usage changes with every pod).
    Content(u64),
}

/// What the operator last applied to one object, and what it saw of its own write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Record {
    /// Hash of the desired object's hash annotation.
    hash: u64,
    /// The object's version as its change signal reads it, right after the write.
    version: u64,
    /// The resourceVersion the API server gave the write: the watch event that carries it is the
    /// echo of the operator's own write, not news. The one before too: a reconcile may write
    /// a space twice (finalizer, then status) before the first echo arrives.
    written: u64,
    written_before: u64,
}

/// What `apply` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Written,
}

/// Records grouped by space namespace (a Namespace under its own name, an AssociationSpace under
/// its namespace's), so a deleted space is forgotten in one step. Keys and values are 64-bit
/// hashes: at 10,000 spaces the tracker holds ~120,000 records, ~40 bytes each.
#[derive(Default)]
pub struct ApplyTracker {
    records: Mutex<HashMap<u64, HashMap<u64, Record>>>,
    /// Asked before every apply.
    gate: WriteGate,
}

/// A 64-bit hash, for records and fingerprints that only need to tell values apart.
pub(crate) fn hash64<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

fn version(meta: &ObjectMeta, signal: ChangeSignal) -> Option<u64> {
    match signal {
        ChangeSignal::Generation => meta.generation.map(|g| hash64(&("g", g))),
        ChangeSignal::ResourceVersion => meta.resource_version.as_deref().map(|v| hash64(&("rv", v))),
        ChangeSignal::Content(digest) => Some(hash64(&("c", digest))),
    }
}

/// Where an object's record lives: the space namespace it belongs to.
fn bucket(kind: &str, namespace: Option<&str>, name: &str) -> u64 {
    match (kind, namespace) {
        (_, Some(ns)) => hash64(ns),
        ("AssociationSpace", None) => hash64(&crate::render::names::namespace(name)),
        (_, None) => hash64(name),
    }
}

fn slot(kind: &str, name: &str) -> u64 {
    hash64(&(kind, name))
}

/// Hash of the desired object; stamped on it as an annotation so people can see what was applied.
pub fn desired_hash<K: Serialize>(obj: &K) -> Result<String> {
    let bytes = serde_json::to_vec(obj).map_err(|source| Error::Encode { what: "desired object", source })?;
    Ok(hex(&Sha256::digest(&bytes)[..12]))
}

/// Identifies one object for the tracker.
pub struct ObjectKey<'a> {
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

impl<'a> ObjectKey<'a> {
    pub fn of(kind: &'a str, meta: &'a ObjectMeta) -> Self {
        ObjectKey { kind, namespace: meta.namespace.as_deref(), name: meta.name.as_deref().unwrap_or_default() }
    }

    fn bucket(&self) -> u64 {
        bucket(self.kind, self.namespace, self.name)
    }

    fn slot(&self) -> u64 {
        slot(self.kind, self.name)
    }
}

impl ApplyTracker {
    pub fn new(gate: WriteGate) -> Self {
        ApplyTracker { records: Mutex::default(), gate }
    }

    /// The write gate every apply asks, shared with the operator's other writes.
    pub fn gate(&self) -> &WriteGate {
        &self.gate
    }

    fn record(&self, key: &ObjectKey) -> Option<Record> {
        let records = self.records.lock().ok()?;
        records.get(&key.bucket()).and_then(|b| b.get(&key.slot())).copied()
    }

    /// True when `live` is exactly what the operator last applied for `desired_hash`.
    fn is_current(&self, key: &ObjectKey, desired_hash: &str, live: Option<&ObjectMeta>, signal: ChangeSignal) -> bool {
        let Some(live) = live else { return false };
        if live.deletion_timestamp.is_some() {
            return false;
        }
        let live_hash = live.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
        match (self.record(key), version(live, signal)) {
            (Some(r), Some(v)) => r.hash == hash64(desired_hash) && live_hash.map(String::as_str) == Some(desired_hash) && r.version == v,
            // Not written by this process yet (it just started, or just became the leader): an
            // object stamped with the hash of what is desired now is taken as the operator's own
            // last write, and remembered at its current version, so an edit from now on is still
            // repaired. Rewriting every object of every space at each start would send 100,000
            // writes on a failover at 10,000 spaces, and keep the new leader's first minutes busy
            // with them.
            (None, Some(_)) if live_hash.map(String::as_str) == Some(desired_hash) => {
                self.remember(key, desired_hash, live, signal);
                true
            }
            _ => false,
        }
    }

    fn remember(&self, key: &ObjectKey, hash: &str, applied: &ObjectMeta, signal: ChangeSignal) {
        let (Ok(mut records), Some(version)) = (self.records.lock(), version(applied, signal)) else { return };
        let written = applied.resource_version.as_deref().map(hash64).unwrap_or_default();
        let slot = records.entry(key.bucket()).or_default().entry(key.slot()).or_insert(Record::default());
        *slot = Record { hash: hash64(hash), version, written, written_before: slot.written };
    }

    /// Notes a write made outside `apply` (a space's status or finalizer), so its watch event is
    /// known as the operator's own.
    pub fn note_write(&self, key: &ObjectKey, resource_version: Option<&str>) {
        let Ok(mut records) = self.records.lock() else { return };
        let written = resource_version.map(hash64).unwrap_or_default();
        let slot = records.entry(key.bucket()).or_default().entry(key.slot()).or_insert(Record::default());
        slot.written_before = slot.written;
        slot.written = written;
    }

    /// True when a watch event shows an object exactly as the operator's last write left it.
    pub fn is_echo(&self, key: &ObjectKey, resource_version: Option<&str>) -> bool {
        let Some(rv) = resource_version else { return false };
        let rv = hash64(rv);
        self.record(key).is_some_and(|r| (r.written != 0 && r.written == rv) || (r.written_before != 0 && r.written_before == rv))
    }

    /// True when `live` carries the hash and version of the operator's last apply, whatever the
    /// desired state is now (for objects whose desired state is derived from their own content).
    pub fn untouched_since_applied<K: Resource<DynamicType = ()>>(&self, live: &ObjectMeta, signal: ChangeSignal) -> bool {
        let kind = K::kind(&());
        let key = ObjectKey::of(&kind, live);
        let Some(hash) = live.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION)) else {
            return false;
        };
        self.is_current(&key, hash, Some(live), signal)
    }

    /// Forgets every object of a space namespace, e.g. once the namespace is gone.
    pub fn forget_namespace(&self, namespace: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.remove(&hash64(namespace));
        }
    }

    /// Applies `desired` with the operator's field manager unless `live` shows it is already in place.
    pub async fn apply<K>(&self, api: &Api<K>, desired: K, live: Option<&ObjectMeta>, signal: ChangeSignal) -> Result<Applied>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        self.apply_with(api, desired, live, signal, |_| None).await
    }

    /// Like [`apply`](Self::apply) for [`ChangeSignal::Content`]: `digest` reads the owned content
    /// of the object the API server returns.
    pub async fn apply_content<K>(
        &self,
        api: &Api<K>,
        desired: K,
        live: Option<(&ObjectMeta, u64)>,
        digest: fn(&K) -> u64,
    ) -> Result<Applied>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        let (meta, signal) = match live {
            Some((meta, d)) => (Some(meta), ChangeSignal::Content(d)),
            None => (None, ChangeSignal::Content(0)),
        };
        self.apply_with(api, desired, meta, signal, |applied| Some(ChangeSignal::Content(digest(applied)))).await
    }

    async fn apply_with<K>(
        &self,
        api: &Api<K>,
        mut desired: K,
        live: Option<&ObjectMeta>,
        signal: ChangeSignal,
        signal_after: impl Fn(&K) -> Option<ChangeSignal>,
    ) -> Result<Applied>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        let hash = desired_hash(&desired)?;
        let kind = K::kind(&()).to_string();
        let name = desired.meta().name.clone().unwrap_or_default();
        let namespace = desired.meta().namespace.clone();
        let key = ObjectKey { kind: &kind, namespace: namespace.as_deref(), name: &name };
        if self.is_current(&key, &hash, live, signal) {
            return Ok(Applied::Unchanged);
        }
        self.gate.allow(KUBERNETES)?;
        desired.meta_mut().annotations.get_or_insert_with(Default::default).insert(APPLIED_HASH_ANNOTATION.into(), hash.clone());
        // force: the operator is the authority on the fields it sets; a manual edit of one of them is drift to repair.
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = match api.patch(&name, &params, &Patch::Apply(&desired)).await {
            Ok(obj) => obj,
            Err(kube::Error::Api(status)) if kind == "Secret" => {
                return Err(Error::SecretWrite { namespace: namespace.unwrap_or_default(), name, code: status.code });
            }
            Err(e) => return Err(e.into()),
        };
        self.remember(&key, &hash, applied.meta(), signal_after(&applied).unwrap_or(signal));
        Ok(Applied::Written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn meta(rv: &str, generation: i64, hash: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some("nextcloud".into()),
            namespace: Some("space-a".into()),
            resource_version: Some(rv.into()),
            generation: Some(generation),
            annotations: hash.map(|h| BTreeMap::from([(APPLIED_HASH_ANNOTATION.to_string(), h.to_string())])),
            ..ObjectMeta::default()
        }
    }

    fn key() -> ObjectKey<'static> {
        ObjectKey { kind: "Deployment", namespace: Some("space-a"), name: "nextcloud" }
    }

    #[test]
    fn unknown_object_is_applied_unless_stamped_with_what_is_desired() {
        let t = ApplyTracker::default();
        assert!(!t.is_current(&key(), "h1", Some(&meta("5", 1, None)), ChangeSignal::ResourceVersion), "never applied: apply");
        assert!(!t.is_current(&key(), "h2", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion), "applied, other content");
        assert!(!t.is_current(&key(), "h1", None, ChangeSignal::ResourceVersion), "missing object");
        // A process that starts (or a new leader) finds the object as the operator last wrote it.
        assert!(t.is_current(&key(), "h1", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion), "stamped: no rewrite");
        assert!(
            !t.is_current(&key(), "h1", Some(&meta("6", 1, Some("h1"))), ChangeSignal::ResourceVersion),
            "then remembered at that version: a later edit is repaired"
        );
    }

    #[test]
    fn remembered_object_is_skipped_until_it_changes() {
        let t = ApplyTracker::default();
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        assert!(t.is_current(&key(), "h1", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion));
        assert!(!t.is_current(&key(), "h2", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion), "desired changed");
        assert!(!t.is_current(&key(), "h1", Some(&meta("6", 1, Some("h1"))), ChangeSignal::ResourceVersion), "edited by someone");
    }

    #[test]
    fn generation_signal_ignores_status_churn() {
        let t = ApplyTracker::default();
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::Generation);
        assert!(t.is_current(&key(), "h1", Some(&meta("9", 1, Some("h1"))), ChangeSignal::Generation), "status update only");
        assert!(!t.is_current(&key(), "h1", Some(&meta("10", 2, Some("h1"))), ChangeSignal::Generation), "spec edited");
    }

    #[test]
    fn terminating_object_is_never_current() {
        let t = ApplyTracker::default();
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        let mut m = meta("5", 1, Some("h1"));
        m.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        assert!(!t.is_current(&key(), "h1", Some(&m), ChangeSignal::ResourceVersion));
    }

    #[test]
    fn forgetting_a_namespace_drops_its_records() {
        let t = ApplyTracker::default();
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        t.forget_namespace("space-a");
        assert!(t.record(&key()).is_none());
    }

    #[test]
    fn own_writes_are_echoes_until_someone_else_writes() {
        let t = ApplyTracker::default();
        assert!(!t.is_echo(&key(), Some("5")), "nothing written yet");
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::Generation);
        assert!(t.is_echo(&key(), Some("5")));
        assert!(!t.is_echo(&key(), Some("6")), "a later write is someone else's");
        let space = ObjectKey { kind: "AssociationSpace", namespace: None, name: "a" };
        t.note_write(&space, Some("9"));
        assert!(t.is_echo(&space, Some("9")));
        t.forget_namespace("space-a");
        assert!(!t.is_echo(&space, Some("9")), "a space is forgotten with its namespace");
        assert!(!t.is_echo(&key(), Some("5")));
    }

    #[test]
    fn content_signal_ignores_everything_but_the_digest() {
        let t = ApplyTracker::default();
        t.remember(&key(), "h1", &meta("5", 1, Some("h1")), ChangeSignal::Content(42));
        assert!(t.is_current(&key(), "h1", Some(&meta("77", 1, Some("h1"))), ChangeSignal::Content(42)), "status churn");
        assert!(!t.is_current(&key(), "h1", Some(&meta("78", 1, Some("h1"))), ChangeSignal::Content(43)), "content edited");
    }
}
