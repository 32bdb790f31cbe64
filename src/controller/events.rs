//! Kubernetes Events, for what a person should see in `kubectl describe`, sent through the write
//! gate like every other write (a replica that lost the lease announces nothing).

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::warn;

use crate::gate::{KUBERNETES, WriteGate};

/// Publishes an Event on `object`; a failure is logged, never fatal to the reconcile.
pub async fn publish<K: Resource<DynamicType = ()>>(
    recorder: &Recorder,
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
    let event = Event { type_, reason: reason.to_string(), note: Some(note.to_string()), action: action.into(), secondary: None };
    if let Err(e) = recorder.publish(&event, &object.object_ref(&())).await {
        warn!(error = %e, "could not publish event");
    }
}
