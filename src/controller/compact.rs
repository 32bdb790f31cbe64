//! A cache of owned objects that keeps only what the operator reads back from them: the version
//! and generation its writes are compared with, whether the object is being deleted, the hash the
//! operator applied, and what a kind's content contributes (a ResourceQuota's digest, a
//! Deployment's rollout counts).
//!
//! kube's reflector store keeps a whole object per entry: measured with a heap profile
//! (`make bench HEAP_PROFILE=1`), 1.9 KB and 12 allocations per metadata-only object even after
//! pruning (about 13 KB per space for six kinds), and 3.9 KB per Deployment, whose struct is
//! mostly empty pod-template fields. An entry here is a few hundred bytes.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::core::ObjectMeta;
use kube::runtime::watcher;

use crate::api::labels::APPLIED_HASH_ANNOTATION;

#[derive(Clone, Debug, PartialEq)]
struct Entry<C> {
    resource_version: Option<Box<str>>,
    generation: Option<i64>,
    deletion: Option<Time>,
    applied_hash: Option<Box<str>>,
    content: C,
}

struct Objects<C> {
    current: HashMap<Box<str>, Entry<C>>,
    /// A relist being received; it replaces `current` when complete.
    relist: Option<HashMap<Box<str>, Entry<C>>>,
}

/// The compact cache of one kind, with `C` read from each object's content. Clones share it.
pub struct CompactStore<K, C = u64> {
    objects: Arc<RwLock<Objects<C>>>,
    ready: tokio::sync::watch::Receiver<bool>,
    _kind: PhantomData<fn() -> K>,
}

impl<K, C> Clone for CompactStore<K, C> {
    fn clone(&self) -> Self {
        Self { objects: self.objects.clone(), ready: self.ready.clone(), _kind: PhantomData }
    }
}

/// Fills a [`CompactStore`] from watch events.
pub struct CompactWriter<K, C = u64> {
    objects: Arc<RwLock<Objects<C>>>,
    ready: tokio::sync::watch::Sender<bool>,
    content: fn(&K) -> C,
}

/// A store and its writer; `content` reads what the operator needs of an object's content
/// (`no_content` when only the metadata counts).
pub fn store<K, C>(content: fn(&K) -> C) -> (CompactStore<K, C>, CompactWriter<K, C>) {
    let objects = Arc::new(RwLock::new(Objects { current: HashMap::new(), relist: None }));
    let (tx, rx) = tokio::sync::watch::channel(false);
    (CompactStore { objects: objects.clone(), ready: rx, _kind: PhantomData }, CompactWriter { objects, ready: tx, content })
}

pub fn no_content<K>(_: &K) -> u64 {
    0
}

fn key(namespace: Option<&str>, name: &str) -> Box<str> {
    match namespace {
        Some(ns) => format!("{ns}/{name}").into_boxed_str(),
        None => name.into(),
    }
}

fn key_of<K: Resource>(obj: &K) -> Box<str> {
    let meta = obj.meta();
    key(meta.namespace.as_deref(), meta.name.as_deref().unwrap_or_default())
}

impl<K: Resource, C> CompactWriter<K, C> {
    fn entry(&self, obj: &K) -> Entry<C> {
        let meta = obj.meta();
        Entry {
            resource_version: meta.resource_version.as_deref().map(Into::into),
            generation: meta.generation,
            deletion: meta.deletion_timestamp.clone(),
            applied_hash: meta.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH_ANNOTATION)).map(|h| h.as_str().into()),
            content: (self.content)(obj),
        }
    }

    pub fn apply(&self, event: &watcher::Event<K>) {
        let Ok(mut objects) = self.objects.write() else { return };
        match event {
            watcher::Event::Apply(obj) => {
                objects.current.insert(key_of(obj), self.entry(obj));
            }
            watcher::Event::Delete(obj) => {
                objects.current.remove(&key_of(obj));
            }
            watcher::Event::Init => objects.relist = Some(HashMap::new()),
            watcher::Event::InitApply(obj) => {
                let entry = self.entry(obj);
                objects.relist.get_or_insert_with(HashMap::new).insert(key_of(obj), entry);
            }
            watcher::Event::InitDone => {
                if let Some(mut relist) = objects.relist.take() {
                    relist.shrink_to_fit();
                    objects.current = relist;
                }
                drop(objects);
                self.ready.send_replace(true);
            }
        }
    }
}

impl<K, C: Clone> CompactStore<K, C> {
    fn entry(&self, namespace: Option<&str>, name: &str) -> Option<Entry<C>> {
        self.objects.read().ok()?.current.get(&key(namespace, name)).cloned()
    }

    /// The cached object's metadata, as far as it is kept: name, namespace, version, generation,
    /// deletion timestamp and the operator's applied-hash annotation.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<ObjectMeta> {
        self.entry(namespace, name).map(|e| meta_of(namespace, name, e))
    }

    /// The metadata and what was read from the content.
    pub fn get_with_content(&self, namespace: Option<&str>, name: &str) -> Option<(ObjectMeta, C)> {
        self.entry(namespace, name).map(|e| {
            let content = e.content.clone();
            (meta_of(namespace, name, e), content)
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.objects.read().map(|o| o.current.len()).unwrap_or_default()
    }

    /// Waits for the first complete list.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }
}

fn meta_of<C>(namespace: Option<&str>, name: &str, e: Entry<C>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        resource_version: e.resource_version.map(String::from),
        generation: e.generation,
        deletion_timestamp: e.deletion,
        annotations: e.applied_hash.map(|h| [(APPLIED_HASH_ANNOTATION.to_string(), String::from(h))].into_iter().collect()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(name: &str, rv: &str, hash: Option<&str>) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.metadata.namespace = Some("space-a".into());
        c.metadata.resource_version = Some(rv.into());
        c.metadata.labels = Some([("frama.space/space".to_string(), "a".to_string())].into_iter().collect());
        if let Some(h) = hash {
            c.metadata.annotations = Some([(APPLIED_HASH_ANNOTATION.to_string(), h.to_string())].into_iter().collect());
        }
        c
    }

    fn data_len(c: &ConfigMap) -> u64 {
        c.data.as_ref().map(|d| d.len() as u64).unwrap_or_default()
    }

    #[test]
    fn keeps_what_the_operator_compares_and_nothing_else() {
        let (store, writer) = store::<ConfigMap, u64>(no_content);
        writer.apply(&watcher::Event::Apply(cm("config", "7", Some("abc"))));
        let meta = store.get(Some("space-a"), "config").expect("cached");
        assert_eq!(meta.resource_version.as_deref(), Some("7"));
        assert_eq!(meta.name.as_deref(), Some("config"));
        assert_eq!(meta.namespace.as_deref(), Some("space-a"));
        assert_eq!(meta.annotations.unwrap_or_default().get(APPLIED_HASH_ANNOTATION).map(String::as_str), Some("abc"));
        assert_eq!(meta.labels, None);
        assert_eq!(store.get(Some("space-b"), "config"), None, "another namespace");
        writer.apply(&watcher::Event::Delete(cm("config", "8", None)));
        assert_eq!(store.get(Some("space-a"), "config"), None);
    }

    #[test]
    fn a_relist_replaces_the_cache_when_complete() {
        let (store, writer) = store::<ConfigMap, u64>(data_len);
        writer.apply(&watcher::Event::Apply(cm("gone", "1", None)));
        writer.apply(&watcher::Event::Init);
        let mut kept = cm("kept", "2", None);
        kept.data = Some([("a".to_string(), "b".to_string())].into_iter().collect());
        writer.apply(&watcher::Event::InitApply(kept));
        assert!(store.get(Some("space-a"), "gone").is_some(), "the old list serves until the new one is complete");
        writer.apply(&watcher::Event::InitDone);
        assert_eq!(store.get(Some("space-a"), "gone"), None);
        assert_eq!(store.get_with_content(Some("space-a"), "kept").map(|(_, c)| c), Some(1));
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn ready_after_the_first_list() {
        let (store, writer) = store::<ConfigMap, u64>(no_content);
        let waiting = tokio::spawn({
            let store = store.clone();
            async move { store.wait_until_ready().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("woken").expect("joined");
    }
}
