//! Pieces shared by OfficeBackend and PreviewBackend: pools of servers the operator deploys and
//! scales with the number of spaces assigned to them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::{Condition, conditions_schema};

/// Replicas follow the number of spaces: `ceil(spaces / spacesPerReplica)`, within `[minReplicas, maxReplicas]`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("scaling.minReplicas must not exceed scaling.maxReplicas"))]
pub struct BackendScaling {
    /// Spaces one replica serves.
    #[schemars(range(min = 1, max = 100000))]
    pub spaces_per_replica: i32,
    /// Fewest replicas, even with no space assigned.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Most replicas, whatever the number of spaces.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
}

fn one() -> i32 {
    1
}

/// Pods of a backend: resources and nodes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendPods {
    /// Compute resources of the server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pods require; defaults to the backend's node pool label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

/// Observed state of a backend.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    /// Spaces assigned to the backend.
    #[serde(default)]
    pub assigned_spaces: i64,
    /// Replicas the assigned spaces call for.
    #[serde(default)]
    pub desired_replicas: i32,
    /// Replicas that are ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the server runs with the replicas it needs.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}
