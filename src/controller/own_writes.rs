//! The newest known version of each space. The controller hands a reconcile the space from its
//! cache, which may not yet hold the operator's own last write (the watch event is on its way):
//! a reconcile started then would compare against the old status, write it again and announce
//! the same Event twice. The answers of the operator's writes are kept until the cache shows
//! something newer than the version they replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::AssociationSpace;

struct Written {
    /// resourceVersions older than the last write: the cache showing one of them is behind.
    older: Vec<String>,
    last: Option<String>,
    /// The last write, until the cache shows it.
    object: Option<Arc<AssociationSpace>>,
}

pub struct OwnSpaceWrites {
    written: Mutex<HashMap<String, Written>>,
    /// The controller's cache of spaces, updated before the watch's events reach `caught_up`.
    cache: Store<AssociationSpace>,
}

impl OwnSpaceWrites {
    pub fn new(cache: Store<AssociationSpace>) -> Self {
        Self { written: Mutex::default(), cache }
    }

    /// Records the API server's answer to a write made from `base`.
    pub fn wrote(&self, base: &AssociationSpace, answer: AssociationSpace) {
        let Ok(mut written) = self.written.lock() else { return };
        let name = answer.name_any();
        let mut older = written.remove(&name).map(|w| w.older.into_iter().chain(w.last).collect()).unwrap_or_else(Vec::new);
        older.extend(base.resource_version());
        written.insert(name, Written { older, last: answer.resource_version(), object: Some(Arc::new(answer)) });
    }

    /// The newest version of the space a reconcile was handed: the cache's current one, or the
    /// operator's own last answer while the cache is behind it. The controller may have read
    /// `handed` from the cache well before the reconcile starts, so the cache is read again here,
    /// under the lock that `caught_up` takes after the cache was updated: either the last write is
    /// still kept, or the cache already shows it. At the start of a reconcile no write of the
    /// space is in flight, so a record the cache caught up with is dropped.
    pub fn newest(&self, handed: Arc<AssociationSpace>) -> Arc<AssociationSpace> {
        let Ok(mut written) = self.written.lock() else { return handed };
        let current = self.cache.get(&ObjectRef::from_obj(handed.as_ref())).unwrap_or(handed);
        let name = current.name_any();
        let Some(w) = written.get(&name) else { return current };
        let behind = current.resource_version().is_some_and(|rv| w.older.contains(&rv));
        match (&w.object, behind) {
            (Some(object), true) => object.clone(),
            _ => {
                written.remove(&name);
                current
            }
        }
    }

    /// The watch delivered `seen` (already in the cache): once it is not one of the versions the
    /// last write replaced, the cache is at least as new as that write, whose copy need not be
    /// kept until the next reconcile (at 10,000 spaces, a copy of every space until its resync).
    /// The versions stay: a reconcile still running may write again from the space it started
    /// with, and the version it replaces must still count as older.
    pub fn caught_up(&self, seen: &AssociationSpace) {
        let Ok(mut written) = self.written.lock() else { return };
        let Some(w) = written.get_mut(&seen.name_any()) else { return };
        if seen.resource_version().is_some_and(|rv| !w.older.contains(&rv)) {
            w.object = None;
        }
    }

    pub fn forget(&self, name: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(name);
        }
    }

    /// Copies of spaces kept.
    #[cfg(test)]
    fn copies(&self) -> usize {
        self.written.lock().map(|w| w.values().filter(|w| w.object.is_some()).count()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(rv: &str, note: &str) -> AssociationSpace {
        let mut s = crate::render::resolve::tests::space("a");
        s.metadata.resource_version = Some(rv.into());
        s.metadata.annotations = Some([("note".to_string(), note.to_string())].into_iter().collect());
        s
    }

    fn note(s: &AssociationSpace) -> String {
        s.annotations().get("note").cloned().unwrap_or_default()
    }

    /// A OwnSpaceWrites over an empty cache, and the cache's writer.
    fn latest() -> (OwnSpaceWrites, kube::runtime::reflector::store::Writer<AssociationSpace>) {
        let (cache, writer) = kube::runtime::reflector::store();
        (OwnSpaceWrites::new(cache), writer)
    }

    /// The watch delivers `s`: the cache is updated first, then `caught_up` runs.
    fn deliver(latest: &OwnSpaceWrites, writer: &mut kube::runtime::reflector::store::Writer<AssociationSpace>, s: AssociationSpace) {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(s.clone()));
        latest.caught_up(&s);
    }

    #[test]
    fn a_cache_behind_the_operator_s_writes_is_replaced_by_the_last_answer() {
        let (latest, _cache) = latest();
        latest.wrote(&space("1", "cached"), space("2", "finalizer"));
        latest.wrote(&space("1", "cached"), space("3", "status"));
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "status");
        assert_eq!(note(&latest.newest(Arc::new(space("2", "finalizer")))), "status", "the first echo only");
        assert_eq!(note(&latest.newest(Arc::new(space("3", "status")))), "status");
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "cached", "forgotten once caught up");
    }

    #[test]
    fn a_write_is_forgotten_when_the_watch_shows_it() {
        let (latest, mut cache) = latest();
        latest.wrote(&space("1", "cached"), space("2", "finalizer"));
        latest.wrote(&space("1", "cached"), space("3", "status"));
        deliver(&latest, &mut cache, space("2", "finalizer"));
        assert_eq!(latest.copies(), 1, "an older echo keeps the last write");
        deliver(&latest, &mut cache, space("3", "status"));
        assert_eq!(latest.copies(), 0);
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "status");
    }

    #[test]
    fn a_second_write_of_the_same_reconcile_after_the_cache_caught_up_with_the_first() {
        // Finalizer (2) written from version 1 and seen by the watch; the same reconcile then
        // writes the status (3), still from the version 1 it started with.
        let (latest, mut cache) = latest();
        deliver(&latest, &mut cache, space("1", "cached"));
        latest.wrote(&space("1", "cached"), space("2", "finalizer"));
        deliver(&latest, &mut cache, space("2", "finalizer"));
        latest.wrote(&space("1", "cached"), space("3", "status"));
        assert_eq!(note(&latest.newest(Arc::new(space("2", "finalizer")))), "status", "the cache shows 2, older than 3");
    }

    #[test]
    fn a_space_handed_over_before_the_watch_caught_up_is_read_again() {
        // The controller read version 1 from the cache for a reconcile; the operator's write (2)
        // reached the cache and was forgotten before that reconcile started.
        let (latest, mut cache) = latest();
        deliver(&latest, &mut cache, space("1", "cached"));
        latest.wrote(&space("1", "cached"), space("2", "status"));
        deliver(&latest, &mut cache, space("2", "status"));
        assert_eq!(latest.copies(), 0);
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "status");
    }

    #[test]
    fn someone_else_s_newer_write_wins() {
        let (latest, _cache) = latest();
        latest.wrote(&space("1", "cached"), space("2", "status"));
        assert_eq!(note(&latest.newest(Arc::new(space("4", "edited")))), "edited");
    }

    #[test]
    fn unknown_spaces_pass_through() {
        let (latest, _cache) = latest();
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "cached");
    }
}
