//! Which watch events are news for a space. Every object the operator writes comes back through
//! its watch; reconciling the space again for that echo would cost one reconcile per object
//! written (ten for a new space) and would do nothing. An event is news when it is a deletion, or
//! when it shows a state the operator did not write itself and that differs, in what the space
//! reads, from the last state seen (a Deployment's or a ResourceQuota's status churns with every
//! pod, and only part of it matters).

use std::collections::HashMap;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Resource;
use kube::runtime::watcher::{self, Event};

use super::apply::{ApplyTracker, ObjectKey, hash64};

/// What a watch event says happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Created or updated, or listed after a (re)start of the watch.
    Applied,
    Deleted,
}

/// The last fingerprint seen per object of one kind.
#[derive(Default)]
pub struct Seen {
    last: HashMap<u64, u64>,
}

impl Seen {
    /// Whether the event is news. The fingerprint is remembered even for the operator's own
    /// writes, so the status update that follows one is compared with what the operator wrote.
    pub fn is_news(&mut self, object: u64, change: Change, fingerprint: u64, echo: bool) -> bool {
        match change {
            Change::Deleted => {
                self.last.remove(&object);
                true
            }
            Change::Applied => {
                let before = self.last.insert(object, fingerprint);
                before != Some(fingerprint) && !echo
            }
        }
    }
}

/// Keeps the events of one owned kind that are news for their space. Without a fingerprint,
/// every change someone else made is news.
pub fn news<K, S>(
    events: S,
    tracker: Arc<ApplyTracker>,
    fingerprint: Option<fn(&K) -> u64>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    let kind = K::kind(&()).to_string();
    let mut seen = Seen::default();
    events.filter_map(move |event| {
        let (object, change) = match event {
            Err(e) => return futures::future::ready(Some(Err(e))),
            Ok(Event::Apply(o) | Event::InitApply(o)) => (o, Change::Applied),
            Ok(Event::Delete(o)) => (o, Change::Deleted),
            Ok(Event::Init | Event::InitDone) => return futures::future::ready(None),
        };
        let meta = object.meta();
        let key = ObjectKey::of(&kind, meta);
        let echo = change == Change::Applied && tracker.is_echo(&key, meta.resource_version.as_deref());
        let keep = match fingerprint {
            Some(f) => seen.is_news(hash64(&(&meta.namespace, &meta.name)), change, f(&object), echo),
            None => !echo,
        };
        futures::future::ready(keep.then_some(Ok(object)))
    })
}

/// What a space reads of its class: the spec (the generation counts its changes).
/// What a space reads of a class: its spec, and which apps its image carries (an inspection that
/// ends lets the apps steps go on); not the counts that change with every space.
pub fn class_fingerprint(class: &crate::api::SpaceClass) -> u64 {
    let image = class.status.as_ref().and_then(|s| s.image.as_ref()).map(|i| (i.reference.clone(), i.apps.clone()));
    hash64(&(class.metadata.generation, class.metadata.deletion_timestamp.is_some(), image))
}

/// What a space reads of a pool: its spec, its labels (class pool selectors), whether it is Ready
/// and whether it has room; not the counts that change with every space placed.
pub fn pool_fingerprint<K: super::pools::PoolKind>(pool: &K) -> u64 {
    let status = pool.pool_status();
    let room = status.map(|s| s.free_capacity > 0);
    let ready = super::pools::is_serving(status);
    let meta = pool.meta();
    hash64(&(meta.generation, meta.deletion_timestamp.is_some(), &meta.labels, ready, room))
}

/// What a space reads of a TalkBackend: its spec (host, port, signaling), labels, and whether it
/// is Ready (a space waiting for calls is placed on it then); not its counts.
pub fn talk_backend_fingerprint(b: &crate::api::TalkBackend) -> u64 {
    let ready = b.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).is_some_and(|c| c.is_true());
    hash64(&(b.metadata.generation, b.metadata.deletion_timestamp.is_some(), &b.metadata.labels, ready))
}

pub fn resource_quota_fingerprint(rq: &ResourceQuota) -> u64 {
    hash64(&(super::caches::resource_quota_digest(rq), rq.metadata.deletion_timestamp.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_not_news_but_are_remembered() {
        let mut seen = Seen::default();
        assert!(!seen.is_news(1, Change::Applied, 10, true), "the operator's own write");
        assert!(!seen.is_news(1, Change::Applied, 10, false), "a status update changing nothing the space reads");
        assert!(seen.is_news(1, Change::Applied, 11, false), "the rollout progressed");
        assert!(!seen.is_news(1, Change::Applied, 11, false), "a relist of the same state");
    }

    #[test]
    fn deletions_are_always_news() {
        let mut seen = Seen::default();
        assert!(!seen.is_news(1, Change::Applied, 10, true));
        assert!(seen.is_news(1, Change::Deleted, 10, false));
        assert!(seen.is_news(1, Change::Applied, 10, false), "re-created by someone else after the deletion");
    }

    #[test]
    fn first_sight_of_an_object_is_news() {
        let mut seen = Seen::default();
        assert!(seen.is_news(2, Change::Applied, 10, false));
    }

    #[test]
    fn pool_counts_are_not_news() {
        use crate::api::conditions::{Condition, ConditionStatus};
        use crate::api::pool::PoolStatus;
        let mut pool: crate::api::DatabasePool =
            serde_json::from_value(serde_json::json!({"apiVersion": "frama.space/v1alpha1", "kind": "DatabasePool",
                "metadata": {"name": "pg", "generation": 1},
                "spec": {"host": "h", "adminSecretRef": {"name": "s"}, "capacity": {"maxSpaces": 10}}}))
            .expect("a pool");
        let status = |assigned: i64, ready: ConditionStatus| PoolStatus {
            assigned_spaces: assigned,
            free_capacity: 10 - assigned,
            conditions: vec![Condition::new("Ready", ready, "R", "")],
            ..Default::default()
        };
        pool.status = Some(status(1, ConditionStatus::True));
        let one = pool_fingerprint(&pool);
        pool.status = Some(status(5, ConditionStatus::True));
        assert_eq!(one, pool_fingerprint(&pool), "one more space placed");
        pool.status = Some(status(10, ConditionStatus::True));
        assert_ne!(one, pool_fingerprint(&pool), "full");
        pool.status = Some(status(5, ConditionStatus::False));
        assert_ne!(one, pool_fingerprint(&pool), "no longer Ready");
    }
}
