//! Kubernetes Events (events.k8s.io/v1), for what a person should see in `kubectl describe`, sent
//! through the write gate like every other write (a replica that lost the lease announces nothing).
//!
//! A repeat of the same Event (same object, type, reason, action and note) within six minutes
//! becomes a series (`x2 over 3m`); an Event whose note differs is an Event of its own. That is
//! how client-go's events/v1 recorder keys them (tools/events/event_broadcaster.go `getKey`, the
//! note in the key since kubernetes/kubernetes#112365). kube-runtime 5's `Recorder` leaves the
//! note out of its key, so a space moved to another TalkBackend showed
//! `TalkConfigured (x2 over 105s)` with the first backend's note: the newer Event was lost.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as KubeEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{EventType, Reporter};
use kube::{Client, Resource};
use tracing::warn;

use crate::gate::{KUBERNETES, WriteGate};

/// How long a published Event may still be continued as a series (kube-runtime's and client-go's
/// cache keep theirs six minutes too).
const SERIES_WINDOW_SECONDS: i64 = 360;

/// The operator's Events, with the series it continues.
pub struct EventRecorder {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<EventKey, Published>>,
}

/// What makes two Events one series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventKey {
    warning: bool,
    reason: String,
    action: String,
    note: String,
    /// The object's API version, kind, namespace, name and uid.
    regarding: [String; 5],
}

/// An Event the API server holds, as its series stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    name: String,
    namespace: String,
    count: i32,
    last: i64,
}

/// What to do with an Event: create it, or continue the series of one published recently.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Create,
    Continue(Published),
}

/// The next step of `key` at `now` (seconds): its series continues when the same Event was
/// published within the window.
pub fn step(recent: &HashMap<EventKey, Published>, key: &EventKey, now: i64) -> Step {
    match recent.get(key) {
        Some(p) if now - p.last < SERIES_WINDOW_SECONDS => Step::Continue(Published { count: p.count.max(1) + 1, last: now, ..p.clone() }),
        _ => Step::Create,
    }
}

fn key_of(type_: EventType, reason: &str, action: &str, note: &str, regarding: &ObjectReference) -> EventKey {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    EventKey {
        warning: type_ == EventType::Warning,
        reason: reason.to_string(),
        action: action.to_string(),
        note: note.to_string(),
        regarding: [
            text(&regarding.api_version),
            text(&regarding.kind),
            text(&regarding.namespace),
            text(&regarding.name),
            text(&regarding.uid),
        ],
    }
}

impl EventRecorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        EventRecorder { client, reporter, recent: Mutex::default() }
    }

    async fn record(
        &self,
        type_: EventType,
        reason: &str,
        note: &str,
        action: &str,
        regarding: ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = jiff::Timestamp::now();
        let key = key_of(type_, reason, action, note, &regarding);
        let next = {
            let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            recent.retain(|_, p| now.as_second() - p.last < SERIES_WINDOW_SECONDS);
            step(&recent, &key, now.as_second())
        };
        // Cluster-scoped objects (pools, classes, backends) have their Events in `default`.
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".to_string());
        let published = match next {
            Step::Continue(p) => {
                let series = EventSeries { count: p.count, last_observed_time: MicroTime(now) };
                let patch = serde_json::json!({ "series": series });
                Api::<KubeEvent>::namespaced(self.client.clone(), &p.namespace)
                    .patch(&p.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                p
            }
            Step::Create => {
                let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or(&self.reporter.controller), now.as_nanosecond());
                let event = KubeEvent {
                    metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..ObjectMeta::default() },
                    action: Some(action.to_string()),
                    reason: Some(reason.to_string()),
                    note: Some(note.to_string()),
                    type_: Some(if type_ == EventType::Warning { "Warning" } else { "Normal" }.to_string()),
                    event_time: Some(MicroTime(now)),
                    regarding: Some(regarding),
                    reporting_controller: Some(self.reporter.controller.clone()),
                    reporting_instance: Some(self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone())),
                    ..KubeEvent::default()
                };
                Api::<KubeEvent>::namespaced(self.client.clone(), &namespace).create(&PostParams::default(), &event).await?;
                Published { name, namespace, count: 1, last: now.as_second() }
            }
        };
        self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, published);
        Ok(())
    }
}

/// Publishes an Event on `object`; a failure is logged, never fatal to the reconcile.
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &EventRecorder,
    gate: &WriteGate,
    object: &K,
    type_: EventType,
    reason: &str,
    note: &str,
    action: &str,
) {
    if gate.allow(KUBERNETES).is_err() {
        return;
    }
    if let Err(e) = recorder.record(type_, reason, note, action, object.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reason: &str, note: &str) -> EventKey {
        let space = ObjectReference {
            api_version: Some("frama.space/v1alpha1".into()),
            kind: Some("AssociationSpace".into()),
            name: Some("jardins-partages".into()),
            uid: Some("0b5e".into()),
            ..ObjectReference::default()
        };
        key_of(EventType::Normal, reason, "Talk", note, &space)
    }

    #[test]
    fn the_same_event_again_continues_its_series_another_note_is_an_event_of_its_own() {
        let first = key("TalkConfigured", "TURN server turn.frama.space:3478 of TalkBackend turn-1");
        let moved = key("TalkConfigured", "TURN server turn2.frama.space:3478 of TalkBackend turn-2");
        let mut recent = HashMap::new();
        recent.insert(first.clone(), Published { name: "jardins-partages.1".into(), namespace: "default".into(), count: 1, last: 1000 });
        assert_eq!(
            step(&recent, &first, 1100),
            Step::Continue(Published { name: "jardins-partages.1".into(), namespace: "default".into(), count: 2, last: 1100 })
        );
        assert_eq!(step(&recent, &moved, 1100), Step::Create, "another note: its own Event, never the first one's count");
        assert_eq!(step(&recent, &first, 1000 + SERIES_WINDOW_SECONDS), Step::Create, "past the window: a new Event");
        let mut warning = first.clone();
        warning.warning = true;
        assert_eq!(step(&recent, &warning, 1100), Step::Create);
    }
}
