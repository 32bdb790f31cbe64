//! The newest known version of each space. The controller hands a reconcile the space from its
//! cache, which may not yet hold the operator's own last write (the watch event is on its way):
//! a reconcile started then would compare against the old status, write it again and announce
//! the same Event twice. The answers of the operator's writes are kept until the cache shows
//! something newer than the version they replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;

use crate::api::AssociationSpace;

struct Written {
    /// resourceVersions older than `object`: the cache showing one of them is behind.
    older: Vec<String>,
    object: Arc<AssociationSpace>,
}

#[derive(Default)]
pub struct LatestSpaces {
    written: Mutex<HashMap<String, Written>>,
}

impl LatestSpaces {
    /// Records the API server's answer to a write made from `base`.
    pub fn wrote(&self, base: &AssociationSpace, answer: AssociationSpace) {
        let Ok(mut written) = self.written.lock() else { return };
        let name = answer.name_any();
        let mut older = written.remove(&name).map(|w| {
            let mut older = w.older;
            older.extend(w.object.resource_version());
            older
        });
        let older = older.get_or_insert_with(Vec::new);
        older.extend(base.resource_version());
        written.insert(name, Written { older: std::mem::take(older), object: Arc::new(answer) });
    }

    /// The newest version of `cached`: the operator's own last answer while the cache is behind it.
    pub fn newest(&self, cached: Arc<AssociationSpace>) -> Arc<AssociationSpace> {
        let Ok(mut written) = self.written.lock() else { return cached };
        let name = cached.name_any();
        let behind = match (written.get(&name), cached.resource_version()) {
            (Some(w), Some(rv)) => w.older.contains(&rv),
            (Some(_), None) => false,
            (None, _) => return cached,
        };
        if behind {
            return written.get(&name).map(|w| w.object.clone()).unwrap_or(cached);
        }
        // The cache caught up (or someone wrote since): it is the newest.
        written.remove(&name);
        cached
    }

    pub fn forget(&self, name: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.remove(name);
        }
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

    #[test]
    fn a_cache_behind_the_operator_s_writes_is_replaced_by_the_last_answer() {
        let latest = LatestSpaces::default();
        latest.wrote(&space("1", "cached"), space("2", "finalizer"));
        latest.wrote(&space("1", "cached"), space("3", "status"));
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "status");
        assert_eq!(note(&latest.newest(Arc::new(space("2", "finalizer")))), "status", "the first echo only");
        assert_eq!(note(&latest.newest(Arc::new(space("3", "status")))), "status");
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "cached", "forgotten once caught up");
    }

    #[test]
    fn someone_else_s_newer_write_wins() {
        let latest = LatestSpaces::default();
        latest.wrote(&space("1", "cached"), space("2", "status"));
        assert_eq!(note(&latest.newest(Arc::new(space("4", "edited")))), "edited");
    }

    #[test]
    fn unknown_spaces_pass_through() {
        let latest = LatestSpaces::default();
        assert_eq!(note(&latest.newest(Arc::new(space("1", "cached")))), "cached");
    }
}
