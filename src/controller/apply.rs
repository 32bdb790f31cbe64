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
use std::sync::Mutex;

use kube::api::{Patch, PatchParams};
use kube::core::ObjectMeta;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::render::config::hex;
use crate::render::names::{APPLIED_HASH_ANNOTATION, FIELD_MANAGER};

/// How to tell that someone else changed an object since the operator applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSignal {
    /// Any write bumps the resourceVersion (objects without a status that churns).
    ResourceVersion,
    /// Only spec writes bump the generation; status updates (e.g. a Deployment rolling out) do not.
    Generation,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: String,
    namespace: Option<String>,
    name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    hash: String,
    version: String,
}

/// What `apply` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Written,
}

#[derive(Default)]
pub struct ApplyTracker {
    records: Mutex<HashMap<Key, Record>>,
}

fn version(meta: &ObjectMeta, signal: ChangeSignal) -> Option<String> {
    match signal {
        ChangeSignal::Generation => meta.generation.map(|g| format!("g{g}")),
        ChangeSignal::ResourceVersion => meta.resource_version.clone().map(|v| format!("rv{v}")),
    }
}

/// Hash of the desired object; stamped on it as an annotation so people can see what was applied.
pub fn desired_hash<K: Serialize>(obj: &K) -> Result<String> {
    let bytes = serde_json::to_vec(obj).map_err(|source| Error::Encode { what: "desired object", source })?;
    Ok(hex(&Sha256::digest(&bytes)[..12]))
}

impl ApplyTracker {
    fn key<K: Resource<DynamicType = ()>>(obj: &K) -> Key {
        Key { kind: K::kind(&()).to_string(), namespace: obj.meta().namespace.clone(), name: obj.meta().name.clone().unwrap_or_default() }
    }

    /// True when `live` is exactly what the operator last applied for `desired_hash`.
    fn is_current(&self, key: &Key, desired_hash: &str, live: Option<&ObjectMeta>, signal: ChangeSignal) -> bool {
        let Some(live) = live else { return false };
        if live.deletion_timestamp.is_some() {
            return false;
        }
        let live_hash = live.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION));
        let Ok(records) = self.records.lock() else {
            return false;
        };
        match (records.get(key), version(live, signal)) {
            (Some(r), Some(v)) => r.hash == desired_hash && live_hash.map(String::as_str) == Some(desired_hash) && r.version == v,
            _ => false,
        }
    }

    fn remember(&self, key: Key, hash: String, applied: &ObjectMeta, signal: ChangeSignal) {
        if let (Ok(mut records), Some(version)) = (self.records.lock(), version(applied, signal)) {
            records.insert(key, Record { hash, version });
        }
    }

    /// True when `live` carries the hash and version of the operator's last apply, whatever the
    /// desired state is now (for objects whose desired state is derived from their own content).
    pub fn untouched_since_applied<K: Resource<DynamicType = ()>>(&self, live: &ObjectMeta, signal: ChangeSignal) -> bool {
        let key = Key { kind: K::kind(&()).to_string(), namespace: live.namespace.clone(), name: live.name.clone().unwrap_or_default() };
        let Some(hash) = live.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION)) else {
            return false;
        };
        self.is_current(&key, hash, Some(live), signal)
    }

    /// Forgets every object of a space namespace, e.g. once the namespace is gone.
    pub fn forget_namespace(&self, namespace: &str) {
        if let Ok(mut records) = self.records.lock() {
            records.retain(|k, _| k.namespace.as_deref() != Some(namespace) && !(k.kind == "Namespace" && k.name == namespace));
        }
    }

    /// Applies `desired` with the operator's field manager unless `live` shows it is already in place.
    pub async fn apply<K>(&self, api: &Api<K>, mut desired: K, live: Option<&ObjectMeta>, signal: ChangeSignal) -> Result<Applied>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        let hash = desired_hash(&desired)?;
        let key = Self::key(&desired);
        if self.is_current(&key, &hash, live, signal) {
            return Ok(Applied::Unchanged);
        }
        desired.meta_mut().annotations.get_or_insert_with(Default::default).insert(APPLIED_HASH_ANNOTATION.into(), hash.clone());
        // force: the operator is the authority on the fields it sets; a manual edit of one of them is drift to repair.
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = api.patch(&key.name, &params, &Patch::Apply(&desired)).await;
        let applied = match result {
            Ok(obj) => obj,
            Err(kube::Error::Api(status)) if K::kind(&()) == "Secret" => {
                return Err(Error::SecretWrite { namespace: key.namespace.unwrap_or_default(), name: key.name, code: status.code });
            }
            Err(e) => return Err(e.into()),
        };
        self.remember(key, hash, applied.meta(), signal);
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

    fn key() -> Key {
        Key { kind: "Deployment".into(), namespace: Some("space-a".into()), name: "nextcloud".into() }
    }

    #[test]
    fn unknown_object_is_applied() {
        let t = ApplyTracker::default();
        assert!(
            !t.is_current(&key(), "h1", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion),
            "nothing remembered yet: apply once"
        );
        assert!(!t.is_current(&key(), "h1", None, ChangeSignal::ResourceVersion), "missing object");
    }

    #[test]
    fn remembered_object_is_skipped_until_it_changes() {
        let t = ApplyTracker::default();
        t.remember(key(), "h1".into(), &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        assert!(t.is_current(&key(), "h1", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion));
        assert!(!t.is_current(&key(), "h2", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion), "desired changed");
        assert!(!t.is_current(&key(), "h1", Some(&meta("6", 1, Some("h1"))), ChangeSignal::ResourceVersion), "edited by someone");
    }

    #[test]
    fn generation_signal_ignores_status_churn() {
        let t = ApplyTracker::default();
        t.remember(key(), "h1".into(), &meta("5", 1, Some("h1")), ChangeSignal::Generation);
        assert!(t.is_current(&key(), "h1", Some(&meta("9", 1, Some("h1"))), ChangeSignal::Generation), "status update only");
        assert!(!t.is_current(&key(), "h1", Some(&meta("10", 2, Some("h1"))), ChangeSignal::Generation), "spec edited");
    }

    #[test]
    fn terminating_object_is_never_current() {
        let t = ApplyTracker::default();
        t.remember(key(), "h1".into(), &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        let mut m = meta("5", 1, Some("h1"));
        m.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        assert!(!t.is_current(&key(), "h1", Some(&m), ChangeSignal::ResourceVersion));
    }

    #[test]
    fn forgetting_a_namespace_drops_its_records() {
        let t = ApplyTracker::default();
        t.remember(key(), "h1".into(), &meta("5", 1, Some("h1")), ChangeSignal::ResourceVersion);
        t.forget_namespace("space-a");
        assert!(!t.is_current(&key(), "h1", Some(&meta("5", 1, Some("h1"))), ChangeSignal::ResourceVersion));
    }
}
