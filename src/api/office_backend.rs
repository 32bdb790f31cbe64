//! `OfficeBackend`: a Collabora Online or OnlyOffice server pool.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::{BackendPods, BackendScaling, BackendStatus};

/// A Collabora Online or OnlyOffice server pool that the operator deploys on office nodes and scales
/// with the spaces assigned to it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "OfficeBackend",
    plural = "officebackends",
    singular = "officebackend",
    shortname = "office",
    category = "framaspace",
    status = "BackendStatus",
    derive = "PartialEq",
    doc = "A Collabora Online or OnlyOffice server pool shared by Framaspace spaces.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.host"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desiredReplicas"),
    printcolumn(name = "Ready-Replicas", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct OfficeBackendSpec {
    /// Server software: `collabora` or `onlyoffice`. Immutable.
    #[serde(rename = "type")]
    pub type_: OfficeBackendType,
    /// Public host of the office server (its own Ingress).
    #[schemars(length(min = 3, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"))]
    pub host: String,
    /// Container image with tag; a pinned default per type when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
    /// Replicas from the number of spaces assigned.
    pub scaling: BackendScaling,
    /// Resources and node placement of the pods.
    #[serde(default)]
    pub pods: BackendPods,
}

/// Office server software.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OfficeBackendType {
    Collabora,
    Onlyoffice,
}
