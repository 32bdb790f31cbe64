//! Status conditions shared by every kind, following the Kubernetes API conventions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The three states of a condition, as Kubernetes spells them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// One aspect of an object's state, in the shape `kubectl wait --for=condition=...` reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition, in CamelCase (e.g. `Ready`, `DatabaseReady`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition: True, False or Unknown.
    pub status: ConditionStatus,
    /// Machine-readable reason for the last transition, in CamelCase.
    pub reason: String,
    /// Human-readable explanation; never contains a secret value.
    #[serde(default)]
    pub message: String,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
}

impl Condition {
    pub fn new(type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.into(),
            observed_generation: None,
            last_transition_time: String::new(),
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// How Kubernetes prints a time: RFC 3339 in UTC with second precision.
const KUBERNETES_TIME: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Current time as Kubernetes prints it.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime(KUBERNETES_TIME).to_string()
}

/// A time in seconds since the epoch as Kubernetes prints it; `None` out of jiff's range.
pub fn rfc3339_at(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds).ok().map(|t| t.strftime(KUBERNETES_TIME).to_string())
}

/// Seconds since the epoch of a time a status or an annotation holds; `None` when it is not
/// RFC 3339.
pub fn epoch_seconds(t: &str) -> Option<i64> {
    t.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Merges freshly computed conditions into the previous ones. A condition whose status did not
/// change keeps its `lastTransitionTime`, so recomputing the same state produces an identical
/// status and no write.
pub fn merge_conditions(previous: &[Condition], fresh: Vec<Condition>, generation: Option<i64>, now: &str) -> Vec<Condition> {
    fresh
        .into_iter()
        .map(|mut c| {
            c.observed_generation = generation;
            c.last_transition_time = match previous.iter().find(|p| p.type_ == c.type_) {
                Some(p) if p.status == c.status && !p.last_transition_time.is_empty() => p.last_transition_time.clone(),
                _ => now.to_string(),
            };
            c
        })
        .collect()
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Schema attributes for a `conditions` list: a map keyed by `type`, so server-side apply and
/// strategic tools merge conditions by type instead of replacing the whole list.
pub fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_transition_time() {
        let mut old = Condition::new("Ready", ConditionStatus::True, "Available", "ok");
        old.last_transition_time = "2026-01-01T00:00:00Z".into();
        let merged = merge_conditions(
            &[old],
            vec![Condition::new("Ready", ConditionStatus::True, "Available", "still ok")],
            Some(3),
            "2026-02-02T00:00:00Z",
        );
        assert_eq!(merged[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert_eq!(merged[0].observed_generation, Some(3));
        assert_eq!(merged[0].message, "still ok");
    }

    #[test]
    fn changed_status_moves_transition_time() {
        let mut old = Condition::new("Ready", ConditionStatus::False, "Progressing", "");
        old.last_transition_time = "2026-01-01T00:00:00Z".into();
        let merged =
            merge_conditions(&[old], vec![Condition::new("Ready", ConditionStatus::True, "Available", "")], None, "2026-02-02T00:00:00Z");
        assert_eq!(merged[0].last_transition_time, "2026-02-02T00:00:00Z");
    }

    #[test]
    fn timestamp_has_second_precision() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}
